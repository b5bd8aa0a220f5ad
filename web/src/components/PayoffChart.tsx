// Payoff at expiry and today with uPlot (loaded lazily: it is only needed on a proposal's page).
import { useEffect, useMemo, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { PayoffPoint } from '../api';
import { formatMoney, formatPrice } from '../format';
import { payoffToday, type PayoffLeg } from '../payoff';

interface PayoffChartProps {
  curve: PayoffPoint[];
  spot: number | null;
  breakevens: number[];
  /** The legs: the P&L today at the same points (`payoffToday`) is drawn dashed when it can be. */
  legs?: PayoffLeg[] | null | undefined;
}

function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

export default function PayoffChart({ curve, spot, breakevens, legs }: PayoffChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const today = useMemo(() => (legs ? payoffToday(legs, curve) : null), [legs, curve]);
  useEffect(() => {
    const el = host.current;
    if (!el || curve.length < 2) return;
    const xs = curve.map((p) => p.underlying);
    const ys = curve.map((p) => p.pnl);
    const text = cssVar('--text', '#1b1f24');
    const grid = cssVar('--border', '#dde1e6');
    const line = cssVar('--accent', '#2457c5');
    const up = cssVar('--up', '#1a7f37');
    const down = cssVar('--down', '#c4332d');
    const markers: Array<{ x: number; color: string; label: string }> = [
      ...breakevens.map((b) => ({ x: b, color: text, label: 'BE' })),
      ...(spot !== null ? [{ x: spot, color: up, label: 'spot' }] : []),
    ];
    const opts: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height: 220,
      legend: { show: false },
      cursor: { y: false },
      scales: { x: { time: false } },
      axes: [
        { stroke: text, grid: { stroke: grid }, values: (_u, vals) => vals.map((v) => formatPrice(v)) },
        { stroke: text, grid: { stroke: grid }, size: 60, values: (_u, vals) => vals.map((v) => formatMoney(v)) },
      ],
      series: [
        {},
        { stroke: line, width: 2, fill: 'rgba(120,140,200,0.12)' },
        ...(today ? [{ stroke: cssVar('--warn-fg', '#7a5200'), width: 2, dash: [6, 4] }] : []),
      ],
      hooks: {
        draw: [
          (u) => {
            const ctx = u.ctx;
            ctx.save();
            const zero = u.valToPos(0, 'y', true);
            ctx.strokeStyle = down;
            ctx.setLineDash([4, 4]);
            ctx.beginPath();
            ctx.moveTo(u.bbox.left, zero);
            ctx.lineTo(u.bbox.left + u.bbox.width, zero);
            ctx.stroke();
            ctx.setLineDash([]);
            ctx.font = `${Math.round(11 * devicePixelRatio)}px system-ui, sans-serif`;
            for (const m of markers) {
              const x = u.valToPos(m.x, 'x', true);
              ctx.strokeStyle = m.color;
              ctx.fillStyle = m.color;
              ctx.beginPath();
              ctx.moveTo(x, u.bbox.top);
              ctx.lineTo(x, u.bbox.top + u.bbox.height);
              ctx.stroke();
              ctx.fillText(m.label, x + 3, u.bbox.top + 12 * devicePixelRatio);
            }
            ctx.restore();
          },
        ],
      },
    };
    const plot = new uPlot(opts, (today ? [xs, ys, today] : [xs, ys]) as uPlot.AlignedData, el);
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(280, el.clientWidth), height: 220 }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [curve, spot, breakevens, today]);

  const lo = Math.min(...curve.map((p) => p.pnl));
  const hi = Math.max(...curve.map((p) => p.pnl));
  const label =
    `Payoff at expiry from ${formatPrice(curve[0]?.underlying)} to ${formatPrice(curve[curve.length - 1]?.underlying)}: ` +
    `P&L between ${formatMoney(lo)} and ${formatMoney(hi)}` +
    (spot !== null ? `, spot ${formatPrice(spot)}` : '') +
    (breakevens.length ? `, breakeven ${breakevens.map((b) => formatPrice(b)).join(' / ')}` : '');
  const spotIndex = spot === null ? -1 : curve.reduce((best, p, i) => (Math.abs(p.underlying - spot) < Math.abs((curve[best]?.underlying ?? Infinity) - spot) ? i : best), 0);
  const todayAtSpot = today && spotIndex >= 0 ? (today[spotIndex] ?? null) : null;
  const fullLabel = today ? `${label}; dashed: P&L today (Black-Scholes at each leg's IV)${todayAtSpot !== null ? `, ${formatMoney(todayAtSpot)} near the spot` : ''}` : label;
  return (
    <figure className="time-chart-figure">
      <div ref={host} className="payoff-chart" role="img" aria-label={fullLabel} data-testid="payoff-chart" data-today={today ? 'true' : 'false'} />
      <figcaption className="chart-legend small">
        <span>
          <span className="legend-line" style={{ borderColor: 'var(--accent)' }} aria-hidden="true" />
          at expiry
        </span>
        {today ? (
          <span>
            <span className="legend-line legend-dashed" style={{ borderColor: 'var(--warn-fg)' }} aria-hidden="true" />
            today (Black-Scholes at each leg's IV, rate 0)
          </span>
        ) : (
          <span>today: not drawn (legs of different expiries, or a leg without IV)</span>
        )}
      </figcaption>
    </figure>
  );
}
