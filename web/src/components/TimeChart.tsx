// Time series with uPlot (loaded lazily, in the same chunk family as the payoff
// chart): a position's unrealized P&L over its marks, the equity curve.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatMoney, formatPercent } from '../format';

export interface TimeSeries {
  label: string;
  /** CSS custom property holding the line colour (e.g. --accent). */
  colorVar: string;
  values: Array<number | null>;
  dashed?: boolean;
}

interface TimeChartProps {
  /** Unix seconds, ascending. */
  xs: number[];
  series: TimeSeries[];
  /** Accessible description of what the chart shows. */
  label: string;
  testId: string;
  height?: number;
  /** Dashed line at zero (P&L charts). */
  zeroLine?: boolean;
  /** Y axis values: dollars (default) or fractions shown as percentages (drawdown). */
  yFormat?: 'money' | 'percent';
}

function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

export default function TimeChart({ xs, series, label, testId, height = 220, zeroLine = false, yFormat = 'money' }: TimeChartProps) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = host.current;
    if (!el || xs.length < 1) return;
    const text = cssVar('--text', '#1b1f24');
    const grid = cssVar('--border', '#dde1e6');
    const down = cssVar('--down', '#c4332d');
    const opts: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height,
      legend: { show: false },
      cursor: { y: false },
      scales: { x: { time: true } },
      axes: [
        { stroke: text, grid: { stroke: grid } },
        { stroke: text, grid: { stroke: grid }, size: 64, values: (_u, vals) => vals.map((v) => (yFormat === 'percent' ? formatPercent(v, 1) : formatMoney(v))) },
      ],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: cssVar(s.colorVar, '#2457c5'),
          width: 2,
          points: { show: xs.length < 3 },
          spanGaps: false,
          ...(s.dashed ? { dash: [6, 4] } : {}),
        })),
      ],
      hooks: zeroLine
        ? {
            draw: [
              (u) => {
                const [lo, hi] = [u.scales.y?.min ?? 0, u.scales.y?.max ?? 0];
                if (lo > 0 || hi < 0) return;
                const ctx = u.ctx;
                const zero = u.valToPos(0, 'y', true);
                ctx.save();
                ctx.strokeStyle = down;
                ctx.setLineDash([4, 4]);
                ctx.beginPath();
                ctx.moveTo(u.bbox.left, zero);
                ctx.lineTo(u.bbox.left + u.bbox.width, zero);
                ctx.stroke();
                ctx.restore();
              },
            ],
          }
        : {},
    };
    const plot = new uPlot(opts, [xs, ...series.map((s) => s.values)] as uPlot.AlignedData, el);
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(280, el.clientWidth), height }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [xs, series, height, zeroLine, yFormat]);

  return (
    <figure className="time-chart-figure">
      <div ref={host} className="time-chart" role="img" aria-label={label} data-testid={testId} />
      {series.length > 1 ? (
        <figcaption className="chart-legend small">
          {series.map((s) => (
            <span key={s.label}>
              <span className={`legend-line${s.dashed ? ' legend-dashed' : ''}`} style={{ borderColor: `var(${s.colorVar})` }} aria-hidden="true" />
              {s.label}
            </span>
          ))}
        </figcaption>
      ) : null}
    </figure>
  );
}
