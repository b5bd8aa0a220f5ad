import type { HistoryPoint } from '../api';
import { formatPrice } from '../format';

const WIDTH = 120;
const HEIGHT = 32;
const PAD = 2;

/** The price used for a history point: last trade, else the bid/ask mid. */
function priceOf(point: HistoryPoint): number | null {
  if (point.last !== null && Number.isFinite(point.last)) return point.last;
  if (point.bid !== null && point.ask !== null && Number.isFinite(point.bid) && Number.isFinite(point.ask)) {
    return (point.bid + point.ask) / 2;
  }
  return null;
}

interface SparklineProps {
  symbol: string;
  points: HistoryPoint[] | undefined;
}

/** A small inline-SVG line of the last two days' prices, with min/max labels. */
export function Sparkline({ symbol, points }: SparklineProps) {
  const values = (points ?? [])
    .map((p) => ({ t: Date.parse(p.t), v: priceOf(p) }))
    .filter((p): p is { t: number; v: number } => p.v !== null && !Number.isNaN(p.t))
    .sort((a, b) => a.t - b.t);

  if (values.length < 2) {
    return (
      <span className="spark-empty" data-testid="sparkline-empty">
        {points === undefined ? '…' : 'no history'}
      </span>
    );
  }

  let min = Infinity;
  let max = -Infinity;
  for (const { v } of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const first = values[0]!;
  const last = values[values.length - 1]!;
  const t0 = first.t;
  const tSpan = last.t - t0 || 1;
  const vSpan = max - min || 1;
  const x = (t: number) => PAD + ((t - t0) / tSpan) * (WIDTH - 2 * PAD);
  const y = (v: number) => HEIGHT - PAD - ((v - min) / vSpan) * (HEIGHT - 2 * PAD);
  const path = values.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join('');
  const trend = last.v >= first.v ? 'up' : 'down';
  const label = `${symbol}, ${values.length} prices over 2 days: from ${formatPrice(first.v)} to ${formatPrice(
    last.v,
  )}, low ${formatPrice(min)}, high ${formatPrice(max)}`;

  return (
    <span className="spark" data-testid="sparkline">
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        width={WIDTH}
        height={HEIGHT}
        role="img"
        aria-label={label}
        className={`spark-svg spark-${trend}`}
      >
        <path d={path} fill="none" strokeWidth="1.5" strokeLinejoin="round" strokeLinecap="round" />
        <circle cx={x(last.t)} cy={y(last.v)} r="2" />
      </svg>
      <span className="spark-range" aria-hidden="true">
        <span>{formatPrice(max)}</span>
        <span>{formatPrice(min)}</span>
      </span>
    </span>
  );
}
