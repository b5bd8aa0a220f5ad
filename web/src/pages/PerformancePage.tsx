import { lazy, Suspense, useMemo, useState } from 'react';
import { formatMoney, formatTime } from '../format';
import { formatPnl, maxDrawdown, pnlClass } from '../positions';
import { isMissingRoute, usePnl } from '../queries';
import { useNow } from '../useNow';

// uPlot only loads with a chart: its own chunk keeps the initial JS small.
const TimeChart = lazy(() => import('../components/TimeChart'));

const PERIODS = [7, 30, 90] as const;

/**
 * The equity curve and realized P&L by day from `GET /pnl`. The statistics,
 * attribution and shadow P&L need issue 11's performance API (not there yet).
 */
export function PerformancePage() {
  const [days, setDays] = useState<number>(30);
  const pnl = usePnl(days);
  const now = useNow();
  const t = pnl.data;
  const chart = useMemo(() => {
    const points = (t?.equity ?? []).filter((e) => e.net_liquidation !== null);
    const xs = points.map((e) => Date.parse(e.at) / 1000);
    const values = points.map((e) => e.net_liquidation);
    return { xs, series: [{ label: 'Net liquidation', colorVar: '--accent', values }], points };
  }, [t]);
  if (pnl.error && isMissingRoute(pnl.error)) {
    return (
      <section className="panel">
        <h2>Performance</h2>
        <p>This Worker has no P&L API yet.</p>
      </section>
    );
  }
  const first = chart.points[0]?.net_liquidation ?? null;
  const last = chart.points[chart.points.length - 1]?.net_liquidation ?? null;
  const drawdown = maxDrawdown(chart.series[0]?.values ?? []);
  const realizedInPeriod = (t?.by_day ?? []).reduce((s, d) => s + d.realized, 0);
  return (
    <>
      <section className="panel" aria-labelledby="equity-heading" data-testid="equity">
        <div className="panel-head">
          <h2 id="equity-heading">Equity curve</h2>
          <div className="segmented" role="group" aria-label="Period">
            {PERIODS.map((p) => (
              <button key={p} type="button" aria-pressed={days === p} className={days === p ? 'primary' : 'link-button'} onClick={() => setDays(p)}>
                {p} days
              </button>
            ))}
          </div>
        </div>
        {!t ? (
          <p className="muted">Loading…</p>
        ) : chart.points.length === 0 ? (
          <p className="muted" data-testid="equity-empty">
            No equity snapshots in the last {days} days (the monitor records one per run while it tracks positions).
          </p>
        ) : (
          <>
            <Suspense fallback={<p className="muted">Loading chart…</p>}>
              <TimeChart
                xs={chart.xs}
                series={chart.series}
                label={`Account net liquidation over ${chart.points.length} snapshots from ${formatTime(chart.points[0]?.at, now)} to ${formatTime(chart.points[chart.points.length - 1]?.at, now)}: ${formatMoney(first)} to ${formatMoney(last)}`}
                testId="equity-chart"
              />
            </Suspense>
            <dl className="facts facts-wide">
              <div>
                <dt>Change over the period</dt>
                <dd className={pnlClass(first !== null && last !== null ? last - first : null)}>{first !== null && last !== null ? formatPnl(last - first) : '—'}</dd>
              </div>
              <div>
                <dt>Largest drawdown</dt>
                <dd data-testid="max-drawdown">{formatMoney(drawdown === 0 ? 0 : -drawdown)}</dd>
              </div>
              <div>
                <dt>Realized in the period</dt>
                <dd className={pnlClass(realizedInPeriod)}>{formatPnl(realizedInPeriod)}</dd>
              </div>
              <div>
                <dt>Open P&L now (mid)</dt>
                <dd className={pnlClass(t.unrealized_mid)}>{formatPnl(t.unrealized_mid)}</dd>
              </div>
            </dl>
          </>
        )}
      </section>
      <section className="panel" aria-labelledby="by-day-heading" data-testid="realized-by-day">
        <h2 id="by-day-heading">Realized by day</h2>
        {!t || t.by_day.length === 0 ? (
          <p className="muted">{t ? `No position closed in the last ${days} days.` : 'Loading…'}</p>
        ) : (
          <table className="data-table">
            <thead>
              <tr>
                <th scope="col">Day (New York)</th>
                <th scope="col" className="num">Realized</th>
                <th scope="col" className="num">Positions closed</th>
              </tr>
            </thead>
            <tbody>
              {[...t.by_day].reverse().map((d) => (
                <tr key={d.date} data-testid="pnl-day">
                  <th scope="row">{d.date}</th>
                  <td className="num" data-label="Realized">
                    <span className={pnlClass(d.realized)}>{formatPnl(d.realized)}</span>
                  </td>
                  <td className="num" data-label="Positions closed">
                    <span>{d.positions_closed}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section className="panel" aria-labelledby="missing-heading" data-testid="performance-missing">
        <h2 id="missing-heading">Not here yet</h2>
        <p>
          The statistics table (win rate, expectancy, Sharpe, …), attribution by strategy, underlying and factor, and the shadow P&L of rejected proposals
          need the risk and performance engine's API (issue 11), which the Worker does not serve yet. The drawdown above is computed in the browser from the
          equity snapshots.
        </p>
      </section>
    </>
  );
}
