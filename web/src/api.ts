// Typed client for the SAS Worker JSON API.
//
// The API base URL is the page's own origin unless `VITE_API_BASE` was set at
// build time. Tokens travel only in the `Authorization` header, never in a URL.

/** Overall health as answered by `GET /health` (no authentication). */
export interface Health {
  status: 'ok' | 'degraded' | string;
  version: string;
  /** Whether the Worker's configuration is valid (details only in its logs). */
  config?: { ok: boolean };
  d1: { ok: boolean; error?: string | null };
  bridge: { ok: boolean; latency_ms?: number | null; error?: string | null };
  last_ingest: {
    status: string;
    finished_at: string | null;
    age_seconds: number | null;
  } | null;
}

/** One latest quote from `GET /market/latest`. */
export interface Quote {
  symbol: string;
  bid: number | null;
  ask: number | null;
  last: number | null;
  volume: number | null;
  timestamp: string;
  data_type: string;
}

export interface LatestQuotes {
  as_of: string | null;
  quotes: Quote[];
}

/** One point of `GET /market/history`. */
export interface HistoryPoint {
  t: string;
  last: number | null;
  bid: number | null;
  ask: number | null;
  volume: number | null;
}

export interface History {
  symbol: string;
  points: HistoryPoint[];
}

/** One factor's part in an opportunity's score. `raw`/`normalized` are null when the factor is missing. */
export interface Factor {
  /** Machine name: realized_vol, range, iv_rank, volume, momentum, ... */
  name: string;
  /** Description of the measurement with its value, or why it is missing. */
  label: string;
  raw: number | null;
  normalized: number | null;
  weight: number;
  contribution: number | null;
}

export interface Opportunity {
  rank: number;
  symbol: string;
  score: number;
  /** Share of the total factor weight that could be measured (0-1). */
  coverage?: number;
  last: number | null;
  observations: number;
  factors: Factor[];
}

export interface Opportunities {
  as_of: string | null;
  opportunities: Opportunity[];
}

export interface IngestRun {
  id: number;
  trigger: string;
  started_at: string;
  finished_at: string | null;
  status: 'ok' | 'partial' | 'failed' | 'skipped' | string;
  symbols_ok: number;
  symbols_failed: number;
  rows_written: number;
  error: string | null;
}

export interface IngestRuns {
  runs: IngestRun[];
}

export interface OptionQuote {
  bid: number | null;
  ask: number | null;
  mid: number | null;
  iv?: number | null;
  delta?: number | null;
  open_interest?: number | null;
  volume?: number | null;
}

export interface Leg {
  action: 'buy' | 'sell' | string;
  right: 'C' | 'P' | string;
  strike: number;
  expiry: string;
  dte?: number;
  ratio: number;
  quote?: OptionQuote | null;
}

export interface Greeks {
  delta: number | null;
  gamma: number | null;
  theta_per_day: number | null;
  vega_per_point: number | null;
}

export interface ExitPlan {
  take_profit?: { mark_value: number | null; pnl: number | null } | null;
  stop_loss?: { mark_value: number | null; pnl: number | null } | null;
  stop_capped_at_max_loss?: boolean;
  time_exit_date?: string | null;
  time_exit_dte?: number | null;
  trailing_stop_fraction?: number | null;
}

export interface OrderView {
  status: string;
  id: string | null;
  broker_status: string | null;
  attempts?: number;
  limit_price: number | null;
  contracts: number | null;
  updated_at: string | null;
  error: string | null;
}

export interface Proposal {
  id: string;
  symbol: string;
  strategy: string;
  /** pending | approved | rejected | expired (older Workers omit it: pending). */
  status?: string;
  created_at: string;
  expires_at: string | null;
  rationale: string;
  entry: {
    net_price_mid: number | null;
    net_price_natural?: number | null;
    limit_price?: number | null;
    slippage_band?: number | null;
  } | null;
  max_profit: number | null;
  max_loss: number | null;
  breakevens?: number[];
  probability_of_profit?: number | null;
  expected_value?: number | null;
  greeks?: Greeks | null;
  contracts?: number | null;
  total_max_loss?: number | null;
  score: number | null;
  score_breakdown?: { coverage?: number; score?: number; factors: Factor[] } | null;
  legs?: Leg[];
  exit_plan?: ExitPlan | null;
  decided_at?: string | null;
  decided_by?: string | null;
  decision_reason?: string | null;
  order?: OrderView | null;
}

export interface PayoffPoint {
  underlying: number;
  pnl: number;
}

export interface ProposalDetail extends Proposal {
  quote_snapshot?: { spot?: number | null; chain_as_of?: string | null; data_type?: string | null } | null;
  analytics_snapshot?: {
    regime?: { rule?: string; stance?: string; direction?: string; reasons?: Array<Record<string, unknown>> };
  } | null;
  payoff_curve?: PayoffPoint[];
}

/** 200 answer of `POST /proposals/{id}/approve`. */
export interface ApproveResult extends Proposal {
  repriced?: { contracts?: number; limit_price?: number; net_price_mid?: number; price_move?: number } | null;
  order_error?: string | null;
}

/** Fresh numbers of a refused re-pricing (409 price_moved / 422 no_longer_valid). */
export interface Refusal {
  reason?: { code: string; proposed?: number; fresh?: number; band?: number } & Record<string, unknown>;
  message?: string;
  new_numbers?: {
    net_price_mid?: number;
    net_price_natural?: number;
    max_profit?: number | null;
    max_loss?: number;
    breakevens?: number[];
    probability_of_profit?: number;
    expected_value?: number;
  } | null;
}

export interface KillSwitch {
  on: boolean;
  updated_at: string | null;
  updated_by: string | null;
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  entity: string;
  entity_id: string;
  from_state: string | null;
  to_state: string | null;
  details: Record<string, unknown> | null;
}

export interface Proposals {
  proposals: Proposal[];
}

/** A failed API call: HTTP status plus the `{"error","message"}` body when there was one. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly path: string;
  /** The whole JSON error body (409s carry `status`, `proposal`, `refusal`). */
  readonly body: Record<string, unknown> | null;

  constructor(status: number, code: string, message: string, path: string, body: Record<string, unknown> | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.path = path;
    this.body = body;
  }
}

/** Base URL for API calls: build-time `VITE_API_BASE`, or the page's origin. */
export function apiBase(): string {
  const configured: unknown = import.meta.env.VITE_API_BASE;
  if (typeof configured === 'string' && configured.trim() !== '') {
    return configured.trim().replace(/\/+$/, '');
  }
  return '';
}

/** Turns a non-2xx response into an `ApiError`, using the JSON error body when present. */
async function errorFromResponse(response: Response, path: string): Promise<ApiError> {
  let code = `http_${response.status}`;
  let message = response.statusText || `HTTP ${response.status}`;
  let record: Record<string, unknown> | null = null;
  try {
    const body: unknown = await response.json();
    if (body && typeof body === 'object') {
      record = body as Record<string, unknown>;
      if (typeof record.error === 'string') code = record.error;
      if (typeof record.message === 'string') message = record.message;
    }
  } catch {
    // Not JSON: keep the status text.
  }
  return new ApiError(response.status, code, message, path, record);
}

/** GETs `path` and parses JSON. Sends the bearer token when one is known. */
export async function getJson<T>(path: string, token: string | null, signal?: AbortSignal): Promise<T> {
  return requestJson<T>('GET', path, token, undefined, signal);
}

/** POSTs a JSON body (the Worker's state-change gate wants `application/json`). */
export async function postJson<T>(path: string, token: string | null, body: unknown): Promise<T> {
  return requestJson<T>('POST', path, token, body);
}

async function requestJson<T>(
  method: 'GET' | 'POST',
  path: string,
  token: string | null,
  body: unknown,
  signal?: AbortSignal,
): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (method === 'POST') headers['Content-Type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(`${apiBase()}${path}`, {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      ...(method === 'POST' ? { body: JSON.stringify(body ?? {}) } : {}),
      ...(signal ? { signal } : {}),
    });
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === 'AbortError') throw cause;
    throw new ApiError(
      0,
      'network_error',
      'The API could not be reached (if your Cloudflare Access session expired, reload the page).',
      path,
    );
  }
  if (!response.ok) throw await errorFromResponse(response, path);
  const contentType = response.headers.get('content-type') ?? '';
  if (!contentType.includes('json')) {
    // e.g. a static-assets fallback page answering for a route the Worker lacks.
    throw new ApiError(response.status, 'not_json', 'The API answered with something that is not JSON.', path);
  }
  try {
    return (await response.json()) as T;
  } catch {
    throw new ApiError(response.status, 'invalid_json', 'The API answered with something that is not JSON.', path);
  }
}

// ---- Position engine (GET /positions, /positions/{id}, /orders, /pnl, /reconciliation, /monitor/runs) ----

/** A contract as the position engine keys it (strike in micro-dollars). */
export interface ContractId {
  symbol: string;
  type: 'option' | 'stock' | string;
  right?: 'C' | 'P' | string;
  expiry?: string;
  strike?: number;
}

/**
 * What the exit rules decided on a mark (`decision` tag): hold, confirming
 * (a stop beyond its level, not yet confirmed), exit, closing, paused, or
 * rejected (the mark was refused; `reason.code` says why).
 */
export interface MarkDecision {
  decision: 'hold' | 'confirming' | 'exit' | 'closing' | 'paused' | 'rejected' | string;
  reason?: string | ({ code: string; contract?: ContractId } & Record<string, unknown>) | null;
  breaches?: number;
  also?: string[];
  by?: string;
  mark_rejected?: ({ code: string; contract?: ContractId } & Record<string, unknown>) | null;
}

export interface PositionMark {
  at: string;
  /** false: the mark was refused (reason in `decision`) and is not in any sum. */
  ok: boolean;
  value_mid: number | null;
  value_natural: number | null;
  unrealized_mid: number | null;
  unrealized_natural: number | null;
  realized?: number | null;
  pnl_per_unit: number | null;
  decision: MarkDecision | null;
  greeks: { delta?: number; gamma?: number; theta?: number; vega?: number } | null;
  dte: number | null;
}

export interface PositionView {
  id: number;
  key: string;
  proposal_id: number;
  symbol: string;
  strategy: string;
  /** pending, open, closing, closed, void. */
  status: string;
  exit_reason: string | null;
  exit_requested_by: string | null;
  exits_paused: boolean;
  planned_units: number;
  entry_filled_units: number;
  open_units: number;
  realized: number;
  commissions: number;
  commissions_pending: number;
  mark: PositionMark | null;
  opened_at: string | null;
  closed_at: string | null;
  updated_at: string;
}

export interface PositionLeg {
  contract: ContractId;
  description: string;
  ratio: number;
  quantity: number;
  average_price: number;
  commissions: number;
}

export interface PositionFill {
  exec_id: string;
  order_key: string;
  contract: ContractId;
  quantity: number;
  price: number;
  commission: number | null;
  time: string;
}

export interface PositionOrder {
  id: number;
  key: string;
  position_id: number;
  /** entry | exit */
  purpose: string;
  attempt: number | null;
  exit_reason: string | null;
  quantity: number;
  filled: number;
  status: string;
  /** Per share of one unit: positive debit, negative credit. */
  limit: number;
  broker_order_id: string | null;
  broker_status: string | null;
  error: string | null;
  created_at: string;
  updated_at: string;
}

export interface ExitProgress {
  pnl_per_unit: number | null;
  take_profit_pnl: number;
  stop_loss_pnl: number;
  toward_take_profit: number | null;
  toward_stop_loss: number | null;
  time_exit_date: string;
  days_to_time_exit: number;
  trailing_stop_fraction: number | null;
  peak_pnl_per_unit: number | null;
  stop_breaches: number;
  stop_confirmations: number;
}

export interface PositionDetail {
  position: PositionView;
  legs: PositionLeg[];
  exit_plan: ExitPlan | null;
  progress: ExitProgress | null;
  paused_by_drift: boolean;
  orders: PositionOrder[];
  fills: PositionFill[];
  /** Newest first. */
  marks: PositionMark[];
}

export interface EquityPoint {
  at: string;
  net_liquidation: number | null;
  realized: number;
  unrealized_mid: number;
  open_positions: number;
  unmarked_positions: number;
}

export interface Pnl {
  realized: number;
  unrealized_mid: number;
  unrealized_natural: number;
  total_mid: number;
  commissions: number;
  open_positions: number;
  unmarked_positions: number;
  by_day: Array<{ date: string; realized: number; positions_closed: number }>;
  equity: EquityPoint[];
}

export interface Drift {
  contract: ContractId;
  kind: 'missing_leg' | 'extra_leg' | 'wrong_size' | 'stock_position' | string;
  ours: number;
  broker: number;
  positions: string[];
}

export interface Reconciliation {
  checked_at: string | null;
  agrees: boolean;
  /** A confirmed, unacknowledged drift: entries stop, affected exits pause. */
  standing: boolean;
  fingerprint: string | null;
  since: string | null;
  drifts: Drift[] | null;
  acknowledged_fingerprint: string | null;
  acknowledged_at: string | null;
  acknowledged_by: string | null;
}

export interface MonitorRun {
  id: number;
  started_at: string;
  finished_at: string | null;
  status: string;
  positions: number;
  marks_ok: number;
  marks_rejected: number;
  orders_placed: number;
  cancels: number;
  rows_written: number;
  error: string | null;
  ms: number | null;
}
