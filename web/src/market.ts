// Pure helpers of the symbol page (chain snapshot and metrics history).

/** One contract of `GET /symbols/{s}/chain` (the fields the page reads). */
export interface ChainContract {
  right: string;
  strike: number;
  iv: number | null;
  mid?: number | null;
  delta?: number | null;
  volume?: number | null;
  open_interest?: number | null;
}

export interface ChainExpiry {
  expiry: string;
  dte: number;
  forward: number | null;
  atm_iv: number | null;
  skew_25d: number | null;
  contracts: ChainContract[];
}

/** `GET /symbols/{s}/chain`: the newest stored snapshot. */
export interface ChainSnapshot {
  symbol: string;
  as_of: string;
  spot: number | null;
  expiries: ChainExpiry[];
}

/** One row of `GET /symbols/{s}/metrics` (the fields the page reads). */
export interface MetricsRow {
  date?: string;
  t?: string;
  spot: number | null;
  atm_iv_30d: number | null;
  iv_rank: number | null;
  iv_percentile: number | null;
  iv_history_days: number | null;
  rv_20: number | null;
  iv_rv_spread: number | null;
  skew_25d: number | null;
  term_slope: number | null;
}

export interface SymbolMetrics {
  symbol: string;
  interval: string;
  metrics: MetricsRow[];
}

/**
 * The smile of each expiry on one strike axis: the out-of-the-money side's IV
 * at each strike (puts below the forward, calls at or above it; the other
 * right when that side has none), null where the expiry has no IV there.
 */
export function smileData(chain: ChainSnapshot, maxExpiries = 4): { strikes: number[]; series: Array<{ label: string; values: Array<number | null> }> } {
  const expiries = chain.expiries.slice(0, maxExpiries);
  const strikes = [...new Set(expiries.flatMap((e) => e.contracts.map((c) => c.strike)))].sort((a, b) => a - b);
  const series = expiries.map((e) => {
    const pivot = e.forward ?? chain.spot ?? 0;
    const byStrike = new Map<number, { C?: number; P?: number }>();
    for (const c of e.contracts) {
      if (c.iv === null || !Number.isFinite(c.iv) || c.iv <= 0) continue;
      const slot = byStrike.get(c.strike) ?? {};
      if (c.right === 'C') slot.C = c.iv;
      else if (c.right === 'P') slot.P = c.iv;
      byStrike.set(c.strike, slot);
    }
    const values = strikes.map((k) => {
      const slot = byStrike.get(k);
      if (!slot) return null;
      const otm = k < pivot ? slot.P : slot.C;
      return otm ?? (k < pivot ? slot.C : slot.P) ?? null;
    });
    return { label: `${e.expiry} (${e.dte} d)`, values };
  });
  return { strikes, series };
}
