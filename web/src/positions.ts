// What the position pages say about positions, marks, exits and drifts.
// Pure (structural types only), unit-tested in test/positions.test.ts.

import { formatAge, formatMoney, formatPrice } from './format.ts';

/** The parts of a contract the labels need (strike in micro-dollars, as the engine keys it). */
export interface ContractLike {
  symbol: string;
  type: string;
  right?: string;
  expiry?: string;
  strike?: number;
}

export interface DecisionLike {
  decision: string;
  reason?: unknown;
  breaches?: number;
  also?: string[];
  by?: string;
  mark_rejected?: unknown;
}

export interface MarkLike {
  ok: boolean;
  decision: DecisionLike | null;
}

export interface PositionLike {
  status: string;
  exit_reason: string | null;
  exits_paused: boolean;
  open_units: number;
  mark: MarkLike | null;
}

/** "AAPL 2027-01-08 275 C" for an option, "AAPL stock" for shares. */
export function contractLabel(c: ContractLike | null | undefined): string {
  if (!c) return 'a contract';
  if (c.type !== 'option') return `${c.symbol} ${c.type}`;
  const strike = typeof c.strike === 'number' ? formatStrike(c.strike / 1_000_000) : '?';
  return `${c.symbol} ${c.expiry ?? ''} ${strike} ${c.right ?? ''}`.replace(/\s+/g, ' ').trim();
}

function formatStrike(strike: number): string {
  return Number.isInteger(strike) ? String(strike) : String(Math.round(strike * 1000) / 1000);
}

const EXIT_REASONS: Record<string, string> = {
  take_profit: 'take profit',
  stop_loss: 'stop loss',
  trailing_stop: 'trailing stop',
  time_exit: 'time exit',
  expiry_day: 'expiry day',
  manual: 'manual close',
};

/** "take_profit" → "take profit"; "manual" → "manual close". */
export function exitReasonText(reason: string | null | undefined): string {
  if (!reason) return '—';
  return EXIT_REASONS[reason] ?? reason.replace(/_/g, ' ');
}

function rec(value: unknown): Record<string, unknown> | null {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** Why a mark was refused, in plain words ("the quote for AAPL … is 12 min old"). */
export function markRefusalText(reason: unknown): string {
  const r = rec(reason);
  if (!r) return 'the mark was refused';
  const c = contractLabel(rec(r.contract) as ContractLike | null);
  switch (r.code) {
    case 'not_open':
      return 'the position has no open legs to mark';
    case 'missing_quote':
      return `no quote for ${c}`;
    case 'no_market':
      return `no usable bid/ask for ${c}`;
    case 'crossed':
      return `crossed market on ${c} (bid ${formatPrice(num(r.bid))} above ask ${formatPrice(num(r.ask))})`;
    case 'no_bid':
      return `no bid for ${c}, a leg that would be sold to close`;
    case 'stale': {
      const age = num(r.age_secs);
      return `the quote for ${c} is stale (${age === null ? 'age unknown' : formatAge(age).replace(' ago', ' old')})`;
    }
    case 'from_future':
      return `the quote for ${c} is timestamped ${num(r.ahead_secs) ?? '?'} s in the future`;
    case 'wide_spread':
      return `the spread on ${c} is too wide (${formatPrice(num(r.spread))} on a ${formatPrice(num(r.mid))} mid)`;
    default:
      return `the mark was refused (${typeof r.code === 'string' ? r.code.replace(/_/g, ' ') : 'unknown reason'})`;
  }
}

/** One line for what the exit rules decided on a mark. */
export function decisionText(decision: DecisionLike | null | undefined, confirmations?: number): string {
  if (!decision) return 'No decision recorded';
  const reason = typeof decision.reason === 'string' ? decision.reason : null;
  switch (decision.decision) {
    case 'hold':
      return 'Holding: no exit rule met';
    case 'confirming': {
      const of = confirmations ? ` of ${confirmations}` : '';
      return `${exitReasonText(reason)} level crossed: confirming (mark ${decision.breaches ?? '?'}${of})`.replace(/^./, (ch) => ch.toUpperCase());
    }
    case 'exit':
      return `Exit: ${exitReasonText(reason)}`;
    case 'closing':
      return `Closing: ${exitReasonText(reason)}`;
    case 'paused': {
      const why =
        decision.by === 'reconciliation_drift' ? 'a reconciliation drift stands' : decision.by === 'trader' || !decision.by ? 'paused by you' : decision.by.replace(/_/g, ' ');
      const refused = decision.mark_rejected ? `; ${markRefusalText(decision.mark_rejected)}` : '';
      return `Exits paused (${why})${refused}`;
    }
    case 'no_exit_plan':
      return 'No exit plan: nothing closes it automatically';
    case 'rejected':
      return `Mark refused: ${markRefusalText(decision.reason)}`;
    default:
      return decision.decision.replace(/_/g, ' ');
  }
}

/** The refusal reason of a refused mark, or null when the mark is trustworthy. */
export function refusedMarkReason(mark: MarkLike | null | undefined): string | null {
  if (!mark || mark.ok) return null;
  const d = mark.decision;
  if (d?.decision === 'rejected') return markRefusalText(d.reason);
  if (d?.mark_rejected) return markRefusalText(d.mark_rejected);
  return 'the mark was refused';
}

/** Why an open or closing position wants the trader's eye; empty when none. */
export function attentionReasons(p: PositionLike): string[] {
  if (p.status !== 'open' && p.status !== 'closing') return [];
  const reasons: string[] = [];
  if (p.status === 'closing') reasons.push(`closing (${exitReasonText(p.exit_reason)})`);
  if (p.exits_paused) reasons.push('exits paused');
  if (p.mark?.decision?.decision === 'paused' && p.mark.decision.by === 'reconciliation_drift') reasons.push('exits paused by a drift');
  const refused = refusedMarkReason(p.mark);
  if (refused) reasons.push(`mark refused: ${refused}`);
  else if (!p.mark && p.open_units > 0) reasons.push('not marked yet');
  if (p.mark?.decision?.decision === 'confirming') reasons.push('stop level crossed, confirming');
  return reasons;
}

/** Order statuses that are still working at the broker. */
export const WORKING_ORDER_STATUSES = new Set(['submitting', 'submitted', 'working', 'partially_filled', 'cancel_pending', 'unknown']);

export function isWorkingOrder(status: string): boolean {
  return WORKING_ORDER_STATUSES.has(status);
}

/** A progress fraction clamped to 0..1 for a bar (null stays null). */
export function clampFraction(value: number | null | undefined): number | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  return Math.min(1, Math.max(0, value));
}

/** One line describing a drift between SAS's books and the broker's. */
export function driftText(d: { contract: ContractLike; kind: string; ours: number; broker: number }): string {
  const c = contractLabel(d.contract);
  switch (d.kind) {
    case 'missing_leg':
      return `${c}: SAS holds ${d.ours}, the broker none`;
    case 'extra_leg':
      return `${c}: the broker holds ${d.broker}, SAS none`;
    case 'wrong_size':
      return `${c}: SAS holds ${d.ours}, the broker ${d.broker}`;
    case 'stock_position':
      return `${c}: the broker holds ${d.broker} share${Math.abs(d.broker) === 1 ? '' : 's'} SAS does not know (assignment, exercise or a manual trade)`;
    default:
      return `${c}: ${d.kind.replace(/_/g, ' ')} (SAS ${d.ours}, broker ${d.broker})`;
  }
}

/** "+$12.40" / "-$8.00": P&L with an explicit sign. */
export function formatPnl(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const text = formatMoney(value);
  return value > 0 ? `+${text}` : text;
}

/** Tone class for a P&L number. */
export function pnlClass(value: number | null | undefined): string | undefined {
  if (value === null || value === undefined || !Number.isFinite(value) || Math.abs(value) < 0.005) return undefined;
  return value > 0 ? 'pnl-up' : 'pnl-down';
}

/** The New York calendar date of `now` (the engine's trading day), "YYYY-MM-DD". */
export function nyDate(now: number): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'America/New_York', year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(now));
}

/** The parts of an API failure the mapping needs (structurally an `ApiError`). */
export interface CloseErrorLike {
  status: number;
  code: string;
  message: string;
  body?: Record<string, unknown> | null;
}

/**
 * Explains a refused close, exits change or acknowledgement in place, with the
 * state the Worker returned (never a generic error).
 */
export function explainPositionError(error: CloseErrorLike): { kind: string; title: string; state: string | null } {
  const position = rec(error.body?.position);
  const status = typeof position?.status === 'string' ? position.status : null;
  const reason = typeof position?.exit_reason === 'string' ? position.exit_reason : null;
  switch (error.code) {
    case 'already_closing':
      return {
        kind: 'already_closing',
        title: `Already closing (${exitReasonText(reason)}): the closing order is handled by the monitor. Nothing changed.`,
        state: status,
      };
    case 'not_open':
      return {
        kind: 'not_open',
        title: status === 'closed' ? 'This position is already closed. Nothing changed.' : `This position is ${status ?? 'not open'}: it cannot be closed now. Nothing changed.`,
        state: status,
      };
    case 'reconciliation_changed': {
      const r = rec(error.body?.reconciliation);
      return {
        kind: 'reconciliation_changed',
        title: `Not acknowledged: ${error.message}. The banner now shows the current state.`,
        state: r ? (r.standing === true ? 'standing' : 'clear') : null,
      };
    }
    case 'not_found':
      return { kind: 'not_found', title: 'No such position.', state: null };
    case 'bad_request':
      return { kind: 'bad_request', title: `Refused: ${error.message}`, state: null };
    case 'network_error':
      return { kind: 'network_error', title: 'The Worker could not be reached: nothing is known to have changed. Reload to check.', state: null };
    default:
      return { kind: error.code, title: `${error.message} (${error.code}, HTTP ${error.status})`, state: status };
  }
}

/** Largest peak-to-trough fall of a series (0 when it never falls). */
export function maxDrawdown(values: Array<number | null>): number {
  let peak = -Infinity;
  let worst = 0;
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) continue;
    peak = Math.max(peak, v);
    worst = Math.max(worst, peak - v);
  }
  return worst;
}
