// Payoff at expiry with uPlot (loaded lazily: it is only needed on a proposal's page).
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { PayoffPoint } from '../api';
import { formatMoney, formatPrice } from '../format';

interface PayoffChartProps {
  curve: PayoffPoint[];
  spot: number | null;
  breakevens: number[];
}

function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

export default function PayoffChart({ curve, spot, breakevens }: PayoffChartProps) {
  const host = useRef<HTMLDivElement>(null);
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
      series: [{}, { stroke: line, width: 2, fill: 'rgba(120,140,200,0.12)' }],
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
    const plot = new uPlot(opts, [xs, ys], el);
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(280, el.clientWidth), height: 220 }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [curve, spot, breakevens]);

  const lo = Math.min(...curve.map((p) => p.pnl));
  const hi = Math.max(...curve.map((p) => p.pnl));
  const label =
    `Payoff at expiry from ${formatPrice(curve[0]?.underlying)} to ${formatPrice(curve[curve.length - 1]?.underlying)}: ` +
    `P&L between ${formatMoney(lo)} and ${formatMoney(hi)}` +
    (spot !== null ? `, spot ${formatPrice(spot)}` : '') +
    (breakevens.length ? `, breakeven ${breakevens.map((b) => formatPrice(b)).join(' / ')}` : '');
  return <div ref={host} className="payoff-chart" role="img" aria-label={label} data-testid="payoff-chart" />;
}
