// The payoff "today": each leg valued with Black-Scholes at its own implied
// volatility and days to expiry (rate 0, no dividends), next to the Worker's
// payoff at expiry. Pure, unit-tested.

/** Standard normal CDF (Abramowitz-Stegun 7.1.26 erf, |error| < 1.5e-7). */
export function normCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** Black-Scholes value of one option per share; intrinsic at or past expiry or without volatility. */
export function bsValue(spot: number, strike: number, years: number, vol: number, right: string): number {
  const call = right === 'C';
  if (!(years > 0) || !(vol > 0) || !(spot > 0) || !(strike > 0)) return Math.max(0, call ? spot - strike : strike - spot);
  const sd = vol * Math.sqrt(years);
  const d1 = (Math.log(spot / strike) + 0.5 * sd * sd) / sd;
  const d2 = d1 - sd;
  return call ? spot * normCdf(d1) - strike * normCdf(d2) : strike * normCdf(-d2) - spot * normCdf(-d1);
}

export interface PayoffLeg {
  action: string;
  right: string;
  strike: number;
  expiry: string;
  ratio: number;
  dte?: number | undefined;
  quote?: { iv?: number | null | undefined } | null | undefined;
}

/**
 * P&L per contract set today at each point of the expiry curve, or null when it
 * cannot be drawn honestly: legs with different expiries (the expiry curve then
 * is not plain intrinsic value), a leg without IV or days to expiry, or no curve.
 * The trade's cost is read off the expiry curve (intrinsic value − P&L at its
 * first point), so both curves share the Worker's entry price.
 */
export function payoffToday(legs: PayoffLeg[], curve: Array<{ underlying: number; pnl: number }>): Array<number | null> | null {
  if (legs.length === 0 || curve.length < 2) return null;
  if (new Set(legs.map((l) => l.expiry)).size !== 1) return null;
  if (legs.some((l) => l.dte === undefined || !(typeof l.quote?.iv === 'number' && l.quote.iv > 0))) return null;
  const sign = (l: PayoffLeg) => (l.action === 'sell' ? -1 : 1);
  const value = (s: number, atExpiry: boolean) =>
    100 * legs.reduce((sum, l) => sum + sign(l) * l.ratio * bsValue(s, l.strike, atExpiry ? 0 : (l.dte ?? 0) / 365, l.quote?.iv ?? 0, l.right), 0);
  const first = curve[0]!;
  const cost = value(first.underlying, true) - first.pnl;
  return curve.map((p) => value(p.underlying, false) - cost);
}
