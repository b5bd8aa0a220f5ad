import { lazy, Suspense, useMemo, useState } from 'react';
import { ApiError, type Performance, type TradeStats } from '../api';
import { Link } from 'react-router';
import { formatMoney, formatNumber, formatPercent, formatTime, humanize } from '../format';
import { formatPnl, maxDrawdown, nyDate, pnlClass } from '../positions';
import { isMissingRoute, usePerformance, usePnl, useShadow } from '../queries';
import { dimensionLabel, drawdownSeries, formatRatio, fromMicros } from '../risk';
import { useNow } from '../useNow';

// uPlot only loads with a chart: its own chunk keeps the initial JS small.
const TimeChart = lazy(() => import('../components/TimeChart'));

const PERIODS = [7, 30, 90] as const;

function Stat({ label, value, testId, className }: { label: string; value: string; testId: string; className?: string | undefined }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd data-testid={testId} className={className}>
        {value}
      </dd>
    </div>
  );
}

/** The statistics table of `GET /performance` (conventions in docs/performance.md). */
function StatsPanel({ perf, days }: { perf: Performance | undefined; days: number }) {
  const e = perf?.equity;
  const t = perf?.trades;
  const dd = e?.max_drawdown ?? null;
  const net = fromMicros(t?.net_pnl);
  return (
    <section className="panel" aria-labelledby="stats-heading" data-testid="performance-stats">
      <h2 id="stats-heading">Statistics ({days} days)</h2>
      {!perf || !e || !t ? (
        <p className="muted">Loading…</p>
      ) : (
        <>
          <dl className="stats-grid">
            <Stat label="Sharpe (annualized)" value={formatRatio(e.sharpe)} testId="stat-sharpe" />
            <Stat label="Sortino (annualized)" value={formatRatio(e.sortino)} testId="stat-sortino" />
            <Stat
              label="Max drawdown"
              value={dd ? `${formatPercent(dd.depth)} · ${dd.duration_days} d${dd.recovered ? '' : ' (not recovered)'}` : '—'}
              testId="stat-max-drawdown"
            />
            <Stat label="Calmar" value={formatRatio(e.calmar)} testId="stat-calmar" />
            <Stat label="Total return" value={formatPercent(e.total_return, 2)} testId="stat-total-return" />
            <Stat label="Trades (wins / losses)" value={`${t.trades} (${t.wins} / ${t.losses})`} testId="stat-trades" />
            <Stat label="Win rate" value={formatPercent(t.win_rate)} testId="stat-win-rate" />
            <Stat label="Profit factor" value={formatRatio(t.profit_factor)} testId="stat-profit-factor" />
            <Stat label="Expectancy per trade" value={formatPnl(t.expectancy)} testId="stat-expectancy" className={pnlClass(t.expectancy)} />
            <Stat label="Average win" value={formatMoney(t.average_win)} testId="stat-average-win" />
            <Stat label="Average loss" value={t.average_loss === null ? '—' : formatMoney(-t.average_loss)} testId="stat-average-loss" />
            <Stat label="Net P&L (after commissions)" value={formatPnl(net)} testId="stat-net-pnl" className={pnlClass(net)} />
            <Stat label="Average holding time" value={t.average_holding_hours === null ? '—' : `${formatNumber(t.average_holding_hours, 1)} h`} testId="stat-holding" />
            <Stat
              label="Entry slippage"
              value={t.entry_slippage_trades === 0 ? '—' : `${formatMoney(fromMicros(t.entry_slippage))} over ${t.entry_slippage_trades}`}
              testId="stat-entry-slippage"
            />
            <Stat
              label="Exit slippage"
              value={t.exit_slippage_trades === 0 ? '—' : `${formatMoney(fromMicros(t.exit_slippage))} over ${t.exit_slippage_trades}`}
              testId="stat-exit-slippage"
            />
            <Stat label="Commissions (share of gross)" value={`${formatMoney(fromMicros(t.commissions))} (${formatPercent(t.commissions_share)})`} testId="stat-commissions" />
          </dl>
          <p className="muted small">
            {e.days} trading day{e.days === 1 ? '' : 's'} of equity; {perf.conventions}.{perf.truncated ? ' More trades closed in the range than one answer reads: the trade figures cover the newest.' : ''}
            {perf.unreadable.length > 0 ? ` Positions left out (unreadable): ${perf.unreadable.join(', ')}.` : ''} A dash: not enough data for the figure.
          </p>
        </>
      )}
    </section>
  );
}

function AttributionTable({ dimension, groups }: { dimension: string; groups: Record<string, TradeStats> }) {
  const rows = Object.entries(groups).sort((a, b) => (b[1].net_pnl ?? 0) - (a[1].net_pnl ?? 0));
  return (
    <div className="table-scroll" data-testid="attribution" data-dimension={dimension}>
      <table className="data-table">
        <caption className="muted small">By {dimensionLabel(dimension).toLowerCase()}</caption>
        <thead>
          <tr>
            <th scope="col">{dimensionLabel(dimension)}</th>
            <th scope="col" className="num">Trades</th>
            <th scope="col" className="num">Win rate</th>
            <th scope="col" className="num">Net P&L</th>
            <th scope="col" className="num">Expectancy</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(([group, st]) => (
            <tr key={group} data-testid="attribution-row" data-group={group}>
              <th scope="row">{group.replace(/_/g, ' ')}</th>
              <td className="num" data-label="Trades">{st.trades}</td>
              <td className="num" data-label="Win rate">{formatPercent(st.win_rate)}</td>
              <td className="num" data-label="Net P&L">
                <span className={pnlClass(fromMicros(st.net_pnl))}>{formatPnl(fromMicros(st.net_pnl))}</span>
              </td>
              <td className="num" data-label="Expectancy">{formatPnl(st.expectancy)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function AttributionPanel({ perf }: { perf: Performance | undefined }) {
  const dims = ['strategy', 'underlying', 'dte_bucket', 'driving_factor'];
  const any = perf ? dims.some((d) => Object.keys(perf.attribution[d] ?? {}).length > 0) : false;
  return (
    <section className="panel" aria-labelledby="attribution-heading" data-testid="performance-attribution">
      <h2 id="attribution-heading">Attribution</h2>
      {!perf ? (
        <p className="muted">Loading…</p>
      ) : !any ? (
        <p className="muted" data-testid="attribution-empty">No closed trade in the period.</p>
      ) : (
        dims.filter((d) => Object.keys(perf.attribution[d] ?? {}).length > 0).map((d) => <AttributionTable key={d} dimension={d} groups={perf.attribution[d] ?? {}} />)
      )}
    </section>
  );
}

/** Shadow P&L of rejected and expired proposals (`GET /performance/shadow`; an older Worker answers 501). */
function ShadowPanel({ from, to, now }: { from: string; to: string; now: number }) {
  const shadow = useShadow(from, to);
  const notYet = shadow.error instanceof ApiError && (shadow.error.status === 501 || isMissingRoute(shadow.error));
  const d = shadow.data;
  return (
    <section className="panel" aria-labelledby="shadow-heading" data-testid="performance-shadow" data-available={notYet ? 'false' : d ? 'true' : ''}>
      <h2 id="shadow-heading">Shadow P&L of rejected proposals</h2>
      {notYet ? (
        <p className="muted" data-testid="shadow-not-available">
          Not available yet: this Worker does not compute the shadow P&L of rejected and expired proposals.
        </p>
      ) : shadow.error ? (
        <p className="muted">Could not load ({shadow.error.message}).</p>
      ) : !d ? (
        <p className="muted">Loading…</p>
      ) : (
        <>
          <p className="small">
            What the proposals not taken would have made, filled at their legs' mid when decided and closed by the real exit rules (open ones at their
            current mark), before commissions: positive means passing them up cost that much.
          </p>
          <dl className="stats-grid" data-testid="shadow-totals">
            <Stat label="Followed (closed / following)" value={`${d.total.trades} (${d.total.closed} / ${d.total.following})`} testId="shadow-trades" />
            <Stat label="P&L at mid" value={formatPnl(d.total.pnl_mid)} testId="shadow-pnl-mid" className={pnlClass(d.total.pnl_mid)} />
            <Stat label="P&L at natural" value={formatPnl(d.total.pnl_natural)} testId="shadow-pnl-natural" className={pnlClass(d.total.pnl_natural)} />
            <Stat label="Rejected / expired (mid)" value={`${formatPnl(d.total.rejected_pnl_mid)} / ${formatPnl(d.total.expired_pnl_mid)}`} testId="shadow-split" />
          </dl>
          {d.trades.length === 0 ? (
            <p className="muted" data-testid="shadow-empty">No rejected or expired proposal in the period.</p>
          ) : (
            <div className="table-scroll">
              <table className="data-table">
                <thead>
                  <tr>
                    <th scope="col">Proposal</th>
                    <th scope="col">Decided</th>
                    <th scope="col">State</th>
                    <th scope="col" className="num">P&L mid</th>
                    <th scope="col" className="num">P&L natural</th>
                  </tr>
                </thead>
                <tbody>
                  {[...d.trades].reverse().map((t) => (
                    <tr key={t.proposal_id} data-testid="shadow-row" data-proposal-id={t.proposal_id} data-status={t.status}>
                      <th scope="row">
                        <Link to={`/proposals/${t.proposal_id}`}>
                          {t.symbol} {humanize(t.strategy).toLowerCase()}
                        </Link>
                      </th>
                      <td data-label="Decided">
                        {t.decision} {formatTime(new Date(t.decided_at).toISOString(), now)}
                      </td>
                      <td data-label="State">
                        {t.status}
                        {t.exit_reason ? ` (${t.exit_reason.replace(/_/g, ' ')})` : ''}
                        {t.invalid_reason ? ` (${t.invalid_reason})` : ''}
                      </td>
                      <td className="num" data-label="P&L mid">
                        <span className={pnlClass(t.pnl_mid)}>{formatPnl(t.pnl_mid)}</span>
                      </td>
                      <td className="num" data-label="P&L natural">
                        <span className={pnlClass(t.pnl_natural)}>{formatPnl(t.pnl_natural)}</span>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {d.truncated ? <p className="muted small">More than one answer holds: the oldest are shown.</p> : null}
        </>
      )}
    </section>
  );
}

/**
 * The statistics table, attribution and equity figures from `GET /performance`;
 * the equity curve, drawdown chart and realized P&L by day from `GET /pnl`; the
 * shadow P&L from `GET /performance/shadow` (501 until built).
 */
export function PerformancePage() {
  const [days, setDays] = useState<number>(30);
  const pnl = usePnl(days);
  const now = useNow();
  const today = nyDate(now);
  const from = nyDate(now - (days - 1) * 86_400_000);
  const perf = usePerformance(from, today);
  const perfMissing = perf.error !== null && isMissingRoute(perf.error);
  const t = pnl.data;
  const chart = useMemo(() => {
    const points = (t?.equity ?? []).filter((e) => e.net_liquidation !== null);
    const xs = points.map((e) => Date.parse(e.at) / 1000);
    const values = points.map((e) => e.net_liquidation);
    return {
      xs,
      series: [{ label: 'Net liquidation', colorVar: '--accent', values }],
      drawdown: [{ label: 'Drawdown from the running peak', colorVar: '--down', values: drawdownSeries(values) }],
      points,
    };
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
      {chart.points.length > 0 ? (
        <section className="panel" aria-labelledby="drawdown-heading" data-testid="drawdown">
          <h2 id="drawdown-heading">Drawdown</h2>
          <Suspense fallback={<p className="muted">Loading chart…</p>}>
            <TimeChart
              xs={chart.xs}
              series={chart.drawdown}
              yFormat="percent"
              label={`Drawdown of net liquidation below its running peak over the last ${days} days; deepest ${formatMoney(drawdown === 0 ? 0 : -drawdown)}`}
              testId="drawdown-chart"
            />
          </Suspense>
        </section>
      ) : null}
      {perfMissing ? null : <StatsPanel perf={perf.data} days={days} />}
      {perfMissing ? null : <AttributionPanel perf={perf.data} />}
      <ShadowPanel from={from} to={today} now={now} />
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
      {perfMissing ? (
        <section className="panel" aria-labelledby="missing-heading" data-testid="performance-missing">
          <h2 id="missing-heading">Not here yet</h2>
          <p>This Worker has no performance API: the statistics table and attribution need `GET /performance`.</p>
        </section>
      ) : null}
    </>
  );
}
