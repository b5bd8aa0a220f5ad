// What the trader reads when an action is refused. Pure: mapped from the
// Worker's error code and body, unit-tested in test/messages.test.ts.

import { formatMoney, formatPercent, formatPrice } from './format.ts';

/** The parts of an API failure the mapping needs (structurally an `ApiError`). */
export interface ErrorLike {
  status: number;
  code: string;
  message: string;
  body?: Record<string, unknown> | null;
}

export interface Explained {
  /** Stable kind for styling and tests: price_moved, kill_switch_on, invalid_state, … */
  kind: string;
  title: string;
  /** Further lines, e.g. the fresh numbers of a refused re-pricing. */
  details: string[];
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function rec(value: unknown): Record<string, unknown> | null {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/** The fresh numbers a refusal carries, as display lines. */
export function refusalLines(refusal: unknown): string[] {
  const r = rec(refusal);
  if (!r) return [];
  const lines: string[] = [];
  const reason = rec(r.reason);
  const proposed = num(reason?.proposed);
  const fresh = num(reason?.fresh);
  const band = num(reason?.band);
  if (proposed !== null && fresh !== null) {
    lines.push(
      `Net price moved from ${formatPrice(proposed)} to ${formatPrice(fresh)}` +
        (band !== null ? ` (allowed band ±${formatPrice(band)}).` : '.'),
    );
  }
  const n = rec(r.new_numbers);
  if (n) {
    const parts: string[] = [];
    const mid = num(n.net_price_mid);
    const natural = num(n.net_price_natural);
    if (mid !== null) parts.push(`entry ${formatPrice(mid)} mid`);
    if (natural !== null) parts.push(`${formatPrice(natural)} natural`);
    const maxProfit = num(n.max_profit);
    const maxLoss = num(n.max_loss);
    if (maxProfit !== null) parts.push(`max profit ${formatMoney(maxProfit)}`);
    if (maxLoss !== null) parts.push(`max loss ${formatMoney(maxLoss)}`);
    const pop = num(n.probability_of_profit);
    if (pop !== null) parts.push(`PoP ${formatPercent(pop)}`);
    const ev = num(n.expected_value);
    if (ev !== null) parts.push(`EV ${formatMoney(ev)}`);
    if (Array.isArray(n.breakevens) && n.breakevens.length > 0) {
      parts.push(`breakeven ${n.breakevens.map((b) => formatPrice(num(b))).join(' / ')}`);
    }
    if (parts.length > 0) lines.push(`Fresh numbers: ${parts.join(', ')}.`);
  }
  return lines;
}

function fmtCheckValue(v: unknown): string {
  return typeof v === 'number' && Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: 2 }) : '—';
}

/**
 * The pre-trade verdict of a 409 `risk_refused` (`risk`: `{approved, contracts,
 * mode, checks: [{check, limit, used, verdict: {verdict, reason?}}], refusals}`):
 * every refused check with its use of the limit and the reason, then the passed ones.
 */
export function riskCheckLines(risk: unknown): string[] {
  const r = rec(risk);
  if (!r || !Array.isArray(r.checks)) return [];
  const lines: string[] = [];
  const passed: string[] = [];
  for (const raw of r.checks) {
    const c = rec(raw);
    if (!c) continue;
    const name = String(c.check ?? '?').replace(/_/g, ' ');
    const v = rec(c.verdict);
    const use = `${fmtCheckValue(c.used)} of ${fmtCheckValue(c.limit)}`;
    if (v?.verdict === 'refuse') lines.push(`Refused by ${name} (${use}): ${String(v.reason ?? '')}`);
    else passed.push(`${name} ${use}`);
  }
  if (typeof r.contracts === 'number') lines.push(`Checked at ${r.contracts} contract${r.contracts === 1 ? '' : 's'}.`);
  if (passed.length > 0) lines.push(`Passed: ${passed.join('; ')}.`);
  return lines;
}

/** Explains a refused approval or rejection in the trader's words, never generically. */
export function explainActionError(error: ErrorLike): Explained {
  const body = error.body ?? null;
  const state = typeof body?.status === 'string' ? body.status : null;
  switch (error.code) {
    case 'price_moved':
      return {
        kind: 'price_moved',
        title: 'Not approved: the price moved beyond the band. The proposal is still pending.',
        details: refusalLines(body?.refusal),
      };
    case 'no_longer_valid': {
      const r = rec(body?.refusal);
      const why = typeof r?.message === 'string' ? r.message : error.message.replace(/^approval refused: /, '');
      return {
        kind: 'no_longer_valid',
        title: `Not approved: the re-priced trade no longer passes its checks (${why}).`,
        details: refusalLines(body?.refusal),
      };
    }
    case 'risk_refused':
      return {
        kind: 'risk_refused',
        title: 'Not approved: the risk checks refused this trade on the book as it is now. The proposal is still pending; nothing was sent.',
        details: riskCheckLines(body?.risk),
      };
    case 'reconciliation_drift':
      return {
        kind: 'reconciliation_drift',
        title: 'Not approved: the broker’s books differ from SAS’s (a reconciliation drift stands). Check and acknowledge it on the Today page.',
        details: [],
      };
    case 'kill_switch_on':
      return {
        kind: 'kill_switch_on',
        title: 'Not approved: the kill switch is on. Nothing was sent. Turn it off on the Control page to trade.',
        details: [],
      };
    case 'invalid_state':
      return {
        kind: 'invalid_state',
        title:
          state === 'expired'
            ? 'This proposal has expired: it can no longer be approved.'
            : `This proposal is already ${state ?? 'decided'}: nothing changed.`,
        details: [],
      };
    case 'order_window_closed':
      return {
        kind: 'order_window_closed',
        title: 'Not approved: the order window is closed (orders go out only during the trading day, before the cut-off).',
        details: [],
      };
    case 'broker_check_failed':
      return { kind: 'broker_check_failed', title: 'Not approved: the broker account could not be checked. Try again shortly.', details: [] };
    case 'quotes_unavailable':
      return { kind: 'quotes_unavailable', title: 'Not approved: fresh quotes for re-pricing could not be fetched. Try again shortly.', details: [] };
    case 'unauthorized':
      return { kind: 'unauthorized', title: 'Not signed in: the API token is missing or wrong.', details: [] };
    case 'origin_not_allowed':
      return { kind: 'origin_not_allowed', title: 'Refused: this page’s origin may not change state on the Worker.', details: [] };
    case 'network_error':
      return { kind: 'network_error', title: 'The Worker could not be reached: nothing is known to have changed. Reload to check.', details: [] };
    default:
      return { kind: error.code, title: `${error.message} (${error.code}, HTTP ${error.status})`, details: [] };
  }
}

/** One line describing an approved proposal's order state. */
export function orderStateText(
  order: { status: string | null; broker_status?: string | null; error?: string | null } | null | undefined,
): string {
  if (!order) return 'No order yet';
  const labels: Record<string, string> = {
    submitting: 'Order being sent',
    submitted: 'Order submitted',
    submit_failed: 'Order not placed yet (will retry)',
    unknown: 'Order state unknown (checking with the broker)',
    rejected: 'Order rejected',
    abandoned: 'Order abandoned',
  };
  // No order state recorded yet (the Worker's `status` is nullable).
  let text = order.status === null ? 'Order state not recorded yet' : (labels[order.status] ?? `Order ${order.status}`);
  if (order.broker_status) text += ` · broker: ${order.broker_status.replace(/_/g, ' ')}`;
  if (order.error) text += ` · ${order.error}`;
  return text;
}
