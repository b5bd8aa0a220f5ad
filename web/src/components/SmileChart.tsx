// IV smile per expiry with uPlot (lazy chunk, shared with the other charts):
// x = strike, one line per expiry, the spot marked.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatPercent, formatPrice } from '../format';

export interface SmileSeries {
  label: string;
  /** IV by strike, aligned with `strikes` (null where the expiry has no usable quote). */
  values: Array<number | null>;
}

const COLOURS = ['--accent', '--up', '--down', '--warn-fg', '--muted', '--text'];

function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

export default function SmileChart({ strikes, series, spot, label }: { strikes: number[]; series: SmileSeries[]; spot: number | null; label: string }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = host.current;
    if (!el || strikes.length < 2) return;
    const text = cssVar('--text', '#1b1f24');
    const grid = cssVar('--border', '#dde1e6');
    const opts: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height: 240,
      legend: { show: false },
      cursor: { y: false },
      scales: { x: { time: false } },
      axes: [
        { stroke: text, grid: { stroke: grid }, values: (_u, vals) => vals.map((v) => formatPrice(v)) },
        { stroke: text, grid: { stroke: grid }, size: 56, values: (_u, vals) => vals.map((v) => formatPercent(v, 0)) },
      ],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: cssVar(COLOURS[i % COLOURS.length] ?? '--accent', '#2457c5'),
          width: 2,
          spanGaps: true,
          points: { show: false },
        })),
      ],
      hooks: {
        draw: [
          (u) => {
            if (spot === null) return;
            const x = u.valToPos(spot, 'x', true);
            const ctx = u.ctx;
            ctx.save();
            ctx.strokeStyle = text;
            ctx.setLineDash([4, 4]);
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
            ctx.restore();
          },
        ],
      },
    };
    const plot = new uPlot(opts, [strikes, ...series.map((s) => s.values)] as uPlot.AlignedData, el);
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(280, el.clientWidth), height: 240 }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [strikes, series, spot]);

  return (
    <figure className="time-chart-figure">
      <div ref={host} className="time-chart" role="img" aria-label={label} data-testid="smile-chart" />
      <figcaption className="chart-legend small">
        {series.map((s, i) => (
          <span key={s.label}>
            <span className="legend-line" style={{ borderColor: `var(${COLOURS[i % COLOURS.length] ?? '--accent'})` }} aria-hidden="true" />
            {s.label}
          </span>
        ))}
        {spot !== null ? <span>dashed: spot {formatPrice(spot)}</span> : null}
      </figcaption>
    </figure>
  );
}
