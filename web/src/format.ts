// Display helpers. All pure, so they are easy to test.

/** "just now", "45 s ago", "12 min ago", "3 h 5 min ago", "2 d ago". */
export function formatAge(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) {
    const rest = minutes % 60;
    return rest === 0 ? `${hours} h ago` : `${hours} h ${rest} min ago`;
  }
  return `${Math.floor(hours / 24)} d ago`;
}

/** Seconds between an ISO time and `now`; null when the time does not parse. */
export function secondsSince(iso: string | null | undefined, now: number): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : (now - t) / 1000;
}

/** A price with 2 decimals (4 below 1). */
export function formatPrice(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const digits = Math.abs(value) < 1 ? 4 : 2;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A number with a fixed count of decimals, or "—". */
export function formatNumber(value: number | null | undefined, decimals = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** Volume in compact form: 950, 12.3K, 4.1M. */
export function formatVolume(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US', { notation: 'compact', maximumFractionDigits: 1 });
}

/** Spread in price units and basis points of the mid; null when bid/ask are unusable. */
export function spreadOf(bid: number | null, ask: number | null): { absolute: number; bps: number } | null {
  if (bid === null || ask === null || !Number.isFinite(bid) || !Number.isFinite(ask)) return null;
  if (bid <= 0 || ask <= 0 || ask < bid) return null;
  const mid = (bid + ask) / 2;
  return { absolute: ask - bid, bps: ((ask - bid) / mid) * 10_000 };
}

/** Local time "14:05" (today) or "Nov 20 14:05". */
export function formatTime(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return '—';
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return '—';
  const time = t.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
  const sameDay = new Date(now).toDateString() === t.toDateString();
  if (sameDay) return time;
  const day = t.toLocaleDateString('en-US', { month: 'short', day: 'numeric' });
  return `${day} ${time}`;
}

/** Duration between two ISO times: "850 ms", "4.2 s", "2 min 3 s". */
export function formatDuration(startIso: string, endIso: string | null): string {
  if (!endIso) return '—';
  const ms = Date.parse(endIso) - Date.parse(startIso);
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const totalSeconds = Math.round(ms / 1000);
  return `${Math.floor(totalSeconds / 60)} min ${totalSeconds % 60} s`;
}

/** "bull_put_spread" → "Bull put spread". */
export function humanize(snake: string): string {
  const text = snake.replace(/_/g, ' ').trim();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Dollars: "$1,578", "-$243", two decimals under $100. */
export function formatMoney(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const abs = Math.abs(value);
  const digits = abs < 100 ? 2 : 0;
  const text = abs.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return `${value < 0 ? '-' : ''}$${text}`;
}

/** A fraction as a percentage: 0.529 → "52.9%". */
export function formatPercent(value: number | null | undefined, decimals = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return `${(value * 100).toFixed(decimals)}%`;
}

/** A leg in trader shorthand: "Buy 1 × 275 P 2027-01-08". */
export function legLabel(leg: { action: string; ratio: number; strike: number; right: string; expiry: string }): string {
  const action = leg.action.charAt(0).toUpperCase() + leg.action.slice(1);
  return `${action} ${leg.ratio} × ${formatPrice(leg.strike)} ${leg.right} ${leg.expiry}`;
}

/** Entry per share as the trader says it: "4.85 debit" / "1.20 credit" (positive = debit). */
export function formatEntry(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return `${formatPrice(Math.abs(value))} ${value >= 0 ? 'debit' : 'credit'}`;
}
