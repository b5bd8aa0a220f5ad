// Pure helpers of the risk, strategy and performance pages (no React, unit-tested).

import { formatMoney, formatNumber, humanize } from './format.ts';
import type { Actor, LimitUse, TradingState } from './api.ts';

/** Plain words for a halt cause (core `HaltCause`). */
export function haltCauseText(cause: string): string {
  switch (cause) {
    case 'kill_switch':
      return 'Kill switch';
    case 'daily_loss':
      return 'Daily loss limit';
    case 'intraday_drawdown':
      return 'Intraday drawdown limit';
    case 'reconciliation_drift':
      return 'Reconciliation drift';
    case 'stale_data':
      return 'Stale data';
    case 'bridge_disconnected':
      return 'Bridge disconnected';
    case 'stop_out_streak':
      return 'Stop-out streak';
    default:
      return humanize(cause);
  }
}

/** Who: "the rules" or the trader's name. */
export function actorText(by: Actor | null | undefined): string {
  if (!by) return 'unknown';
  return by.kind === 'trader' ? by.name : 'the rules';
}

/** Plain words for a limit's name (`GET /risk` `limits[].name`). */
export function limitLabel(name: string): string {
  switch (name) {
    case 'daily_loss':
      return 'Daily loss';
    case 'intraday_drawdown':
      return 'Intraday drawdown';
    case 'reconciliation_drifts':
      return 'Reconciliation drifts';
    case 'stale_data':
      return 'Oldest trustworthy data';
    case 'bridge_unseen':
      return 'Bridge unseen for';
    case 'stop_outs_in_window':
      return 'Stop-outs in the window';
    case 'portfolio_heat':
      return 'Portfolio heat (worst case)';
    case 'open_positions':
      return 'Open positions';
    case 'positions_in_largest_cluster':
      return 'Positions in the largest correlation cluster';
    case 'net_delta':
      return 'Net delta';
    case 'net_vega':
      return 'Net vega';
    case 'net_theta':
      return 'Net theta';
    case 'max_loss_per_trade':
      return 'Max loss per trade';
    default:
      return humanize(name);
  }
}

/** A value in a limit's unit: "$3,000", "5 min", "2", "500 shares", "$500 / vol pt", "$200 / day". */
export function formatLimitValue(value: number | null | undefined, unit: string): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  switch (unit) {
    case 'usd':
      return formatMoney(value);
    case 'usd_per_vol_point':
      return `${formatMoney(value)} / vol pt`;
    case 'usd_per_day':
      return `${formatMoney(value)} / day`;
    case 'minutes':
      return `${formatNumber(value, value < 10 ? 1 : 0)} min`;
    case 'shares':
      return `${formatNumber(value, 0)} shares`;
    case 'count':
      return formatNumber(value, 0);
    default:
      return `${formatNumber(value, 2)} ${unit.replace(/_/g, ' ')}`;
  }
}

/**
 * How much of a limit is used, 0..1 for the meter (magnitudes: a net delta of
 * -300 uses 300 of 500); null when either side is unknown or the limit is 0.
 */
export function limitFraction(l: Pick<LimitUse, 'limit' | 'used'>): number | null {
  if (l.limit === null || l.used === null || !Number.isFinite(l.limit) || !Number.isFinite(l.used) || l.limit <= 0) return null;
  return Math.min(1, Math.max(0, Math.abs(l.used) / l.limit));
}

/** Tone of a limit row: reached is bad, ≥ 80 % is a warning, unknown is neutral. */
export function limitTone(l: LimitUse): 'ok' | 'warn' | 'bad' | 'neutral' {
  if (l.reached === true) return 'bad';
  const f = limitFraction(l);
  if (f === null) return 'neutral';
  return f >= 0.8 ? 'warn' : 'ok';
}

/** One line per reason the state is not plainly active (halts, reducing, exits paused, cooldowns). */
export interface StateReason {
  key: string;
  title: string;
  reason: string;
  by: string;
  at: string;
  until: string | null;
}

export function stateReasons(state: TradingState): StateReason[] {
  const out: StateReason[] = [];
  for (const h of state.halts) {
    out.push({ key: `halt:${h.cause}`, title: `Halted: ${haltCauseText(h.cause)}`, reason: h.stamp.reason, by: actorText(h.stamp.by), at: h.stamp.at, until: h.until });
  }
  if (state.reducing) {
    out.push({ key: 'reducing', title: 'Reducing only', reason: state.reducing.reason, by: actorText(state.reducing.by), at: state.reducing.at, until: null });
  }
  if (state.exits_paused) {
    out.push({ key: 'exits_paused', title: 'Exits paused', reason: state.exits_paused.reason, by: actorText(state.exits_paused.by), at: state.exits_paused.at, until: null });
  }
  for (const c of state.cooldowns) {
    out.push({ key: `cooldown:${c.symbol}`, title: `${c.symbol} in cooldown`, reason: c.stamp.reason, by: actorText(c.stamp.by), at: c.stamp.at, until: c.until });
  }
  return out;
}

/** The audit log's filters, every one applied by the Worker (`GET /audit`). */
export interface AuditFilter {
  /** A proposal's own entries. */
  proposal: string;
  /** A position's own entries and those whose details name it (its orders and fills). */
  position: string;
  /** One action ('' = all); the choices are the answer's `actions`. */
  action: string;
  /** Entries older than this entry id (the next page), or null for the newest. */
  before: number | null;
}

/** `GET /audit`'s path for a filter: blank filters are left out, ids trimmed. */
export function auditPath(filter: Partial<AuditFilter>, limit: number): string {
  const q = new URLSearchParams({ limit: String(limit) });
  const proposal = filter.proposal?.trim() ?? '';
  const position = filter.position?.trim() ?? '';
  if (proposal !== '') q.set('proposal', proposal);
  if (position !== '') q.set('position', position);
  if (filter.action) q.set('action', filter.action);
  if (filter.before !== null && filter.before !== undefined) q.set('before', String(filter.before));
  return `/audit?${q.toString()}`;
}

/** Micro-dollars (core `Money`) to dollars. */
export function fromMicros(value: number | null | undefined): number | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  return value / 1_000_000;
}

/** A ratio with two decimals ("1.42"), or "—". */
export function formatRatio(value: number | null | undefined): string {
  return formatNumber(value, 2);
}

/** Drawdown series (fraction below the running peak, ≤ 0) of an equity series; nulls stay null. */
export function drawdownSeries(values: Array<number | null>): Array<number | null> {
  let peak = -Infinity;
  return values.map((v) => {
    if (v === null || !Number.isFinite(v)) return null;
    peak = Math.max(peak, v);
    return peak > 0 ? v / peak - 1 : 0;
  });
}

/** Human label of an attribution dimension (`GET /performance` `attribution` keys). */
export function dimensionLabel(key: string): string {
  switch (key) {
    case 'strategy':
      return 'Strategy';
    case 'underlying':
      return 'Underlying';
    case 'dte_bucket':
      return 'Days to expiry at entry';
    case 'driving_factor':
      return 'Driving factor';
    default:
      return humanize(key);
  }
}
