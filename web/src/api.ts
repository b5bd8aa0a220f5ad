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

export interface Proposal {
  id: string;
  symbol: string;
  strategy: string;
  created_at: string;
  expires_at: string | null;
  rationale: string;
  entry: { net_price_mid: number | null } | null;
  max_profit: number | null;
  max_loss: number | null;
  score: number | null;
}

export interface Proposals {
  proposals: Proposal[];
}

/** A failed API call: HTTP status plus the `{"error","message"}` body when there was one. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly path: string;

  constructor(status: number, code: string, message: string, path: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.path = path;
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
  try {
    const body: unknown = await response.json();
    if (body && typeof body === 'object') {
      const record = body as Record<string, unknown>;
      if (typeof record.error === 'string') code = record.error;
      if (typeof record.message === 'string') message = record.message;
    }
  } catch {
    // Not JSON: keep the status text.
  }
  return new ApiError(response.status, code, message, path);
}

/** GETs `path` and parses JSON. Sends the bearer token when one is known. */
export async function getJson<T>(path: string, token: string | null, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch(`${apiBase()}${path}`, {
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
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
