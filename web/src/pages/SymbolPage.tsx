import { lazy, Suspense, useMemo } from 'react';
import { Link, useParams } from 'react-router';
import { formatNumber, formatPercent, formatPrice, formatTime } from '../format';
import { smileData } from '../market';
import { isMissingRoute, useSymbolChain, useSymbolMetrics } from '../queries';
import { useNow } from '../useNow';

// uPlot only loads with a chart: its own chunk keeps the initial JS small.
const SmileChart = lazy(() => import('../components/SmileChart'));
const TimeChart = lazy(() => import('../components/TimeChart'));

/** `#/market/{symbol}`: the newest chain snapshot (IV smile per expiry) and the metrics history (IV rank, ATM IV vs realized). */
export function SymbolPage() {
  const { symbol = '' } = useParams();
  const now = useNow();
  const chain = useSymbolChain(symbol);
  const metrics = useSymbolMetrics(symbol, 90);
  const smile = useMemo(() => (chain.data ? smileData(chain.data) : null), [chain.data]);
  const rows = metrics.data?.metrics ?? [];
  const latest = rows[rows.length - 1] ?? null;
  const history = useMemo(() => {
    const points = rows.filter((r) => r.date ?? r.t);
    return {
      xs: points.map((r) => Date.parse(`${r.date ?? ''}T21:00:00Z`) / 1000 || Date.parse(r.t ?? '') / 1000),
      series: [
        { label: 'ATM IV 30 d', colorVar: '--accent', values: points.map((r) => r.atm_iv_30d) },
        { label: 'Realized vol 20 d', colorVar: '--down', values: points.map((r) => r.rv_20), dashed: true },
      ],
    };
  }, [rows]);
  const noChain = chain.error !== null && isMissingRoute(chain.error);
  return (
    <>
      <section className="panel" aria-labelledby="symbol-heading" data-testid="symbol-page" data-symbol={symbol}>
        <div className="panel-head">
          <h2 id="symbol-heading">{symbol}</h2>
          <Link to="/market">All symbols</Link>
        </div>
        {metrics.error && isMissingRoute(metrics.error) ? (
          <p className="muted">No metrics for {symbol} (not on the watchlist, or this Worker has no metrics API).</p>
        ) : !latest ? (
          <p className="muted">{metrics.isFetched ? 'No metrics stored yet.' : 'Loading…'}</p>
        ) : (
          <dl className="stats-grid" data-testid="symbol-latest">
            <div>
              <dt>Spot</dt>
              <dd>{formatPrice(latest.spot)}</dd>
            </div>
            <div>
              <dt>ATM IV 30 d</dt>
              <dd data-testid="symbol-atm-iv">{formatPercent(latest.atm_iv_30d)}</dd>
            </div>
            <div>
              <dt>IV rank</dt>
              <dd data-testid="symbol-iv-rank">{formatNumber(latest.iv_rank, 0)}</dd>
            </div>
            <div>
              <dt>IV percentile</dt>
              <dd data-testid="symbol-iv-percentile">{formatNumber(latest.iv_percentile, 0)}</dd>
            </div>
            <div>
              <dt>Days of IV history</dt>
              <dd>{latest.iv_history_days ?? '—'}</dd>
            </div>
            <div>
              <dt>Realized vol 20 d</dt>
              <dd>{formatPercent(latest.rv_20)}</dd>
            </div>
            <div>
              <dt>IV − RV</dt>
              <dd>{formatPercent(latest.iv_rv_spread)}</dd>
            </div>
            <div>
              <dt>25Δ skew</dt>
              <dd>{formatPercent(latest.skew_25d)}</dd>
            </div>
          </dl>
        )}
      </section>
      <section className="panel" aria-labelledby="smile-heading" data-testid="symbol-chain">
        <h2 id="smile-heading">IV smile per expiry</h2>
        {noChain ? (
          <p className="muted">No chain snapshot stored yet.</p>
        ) : !chain.data || !smile ? (
          <p className="muted">Loading…</p>
        ) : (
          <>
            <p className="muted small">
              Snapshot {formatTime(chain.data.as_of, now)}, spot {formatPrice(chain.data.spot)}; out-of-the-money side at each strike (puts below the forward,
              calls above), first {smile.series.length} of {chain.data.expiries.length} expiries.
            </p>
            <Suspense fallback={<p className="muted">Loading chart…</p>}>
              <SmileChart
                strikes={smile.strikes}
                series={smile.series}
                spot={chain.data.spot}
                label={`Implied volatility by strike for ${symbol}, ${smile.series.map((s) => s.label).join(', ')}`}
              />
            </Suspense>
            <div className="table-scroll">
              <table className="data-table">
                <caption className="muted small">Expiries in the snapshot</caption>
                <thead>
                  <tr>
                    <th scope="col">Expiry</th>
                    <th scope="col" className="num">DTE</th>
                    <th scope="col" className="num">ATM IV</th>
                    <th scope="col" className="num">25Δ skew</th>
                    <th scope="col" className="num">Contracts</th>
                  </tr>
                </thead>
                <tbody>
                  {chain.data.expiries.map((e) => (
                    <tr key={e.expiry} data-testid="chain-expiry">
                      <th scope="row">{e.expiry}</th>
                      <td className="num" data-label="DTE">{e.dte}</td>
                      <td className="num" data-label="ATM IV">{formatPercent(e.atm_iv)}</td>
                      <td className="num" data-label="25Δ skew">{formatPercent(e.skew_25d)}</td>
                      <td className="num" data-label="Contracts">{e.contracts.length}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        )}
      </section>
      <section className="panel" aria-labelledby="metrics-heading" data-testid="symbol-metrics">
        <h2 id="metrics-heading">Metrics history (90 days, daily)</h2>
        {rows.length === 0 ? (
          <p className="muted">{metrics.isFetched ? 'No history yet.' : 'Loading…'}</p>
        ) : (
          <>
            <Suspense fallback={<p className="muted">Loading chart…</p>}>
              <TimeChart xs={history.xs} series={history.series} yFormat="percent" label={`ATM implied volatility and 20-day realized volatility of ${symbol} by day`} testId="metrics-chart" />
            </Suspense>
            <div className="table-scroll">
              <table className="data-table">
                <thead>
                  <tr>
                    <th scope="col">Day</th>
                    <th scope="col" className="num">Spot</th>
                    <th scope="col" className="num">ATM IV</th>
                    <th scope="col" className="num">IV rank</th>
                    <th scope="col" className="num">IV pct.</th>
                    <th scope="col" className="num">RV 20 d</th>
                  </tr>
                </thead>
                <tbody>
                  {[...rows].reverse().map((r) => (
                    <tr key={r.date ?? r.t} data-testid="metrics-row">
                      <th scope="row">{r.date ?? formatTime(r.t, now)}</th>
                      <td className="num" data-label="Spot">{formatPrice(r.spot)}</td>
                      <td className="num" data-label="ATM IV">{formatPercent(r.atm_iv_30d)}</td>
                      <td className="num" data-label="IV rank">{formatNumber(r.iv_rank, 0)}</td>
                      <td className="num" data-label="IV pct.">{formatNumber(r.iv_percentile, 0)}</td>
                      <td className="num" data-label="RV 20 d">{formatPercent(r.rv_20)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        )}
      </section>
    </>
  );
}
