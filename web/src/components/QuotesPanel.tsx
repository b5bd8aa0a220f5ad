import { Link } from 'react-router';
import type { HistoryPoint, LatestQuotes } from '../api';
import { formatNumber, formatPrice, formatTime, formatVolume, spreadOf } from '../format';
import { Badge, dataTypeTone } from './Badge';
import { Sparkline } from './Sparkline';

interface QuotesPanelProps {
  /** Shown while there is no data: loading, or why it could not load. */
  placeholder: string;
  quotes: LatestQuotes | null;
  history: Record<string, HistoryPoint[]>;
  now: number;
}

/** Latest quote per symbol with spread, volume, data type and a 2-day sparkline. */
export function QuotesPanel({ placeholder, quotes, history, now }: QuotesPanelProps) {
  const rows = quotes?.quotes ?? [];
  const notLive = [...new Set(rows.map((q) => q.data_type).filter((t) => t !== 'live'))];

  return (
    <section className="panel" aria-labelledby="quotes-heading" data-testid="quotes">
      <div className="panel-head">
        <h2 id="quotes-heading">Latest quotes</h2>
        {quotes?.as_of ? (
          <span className="muted small" title={quotes.as_of}>
            as of {formatTime(quotes.as_of, now)}
          </span>
        ) : null}
      </div>
      {notLive.length > 0 ? (
        <p className="notice" data-testid="data-type-notice">
          Not live data: {notLive.map((t) => t.replace(/_/g, ' ')).join(', ')}. Prices may not match the market right now.
        </p>
      ) : null}
      {quotes === null ? (
        <p className="muted" data-testid="placeholder">{placeholder}</p>
      ) : rows.length === 0 ? (
        <p className="muted" data-testid="quotes-empty">
          No quotes yet. They appear after the first ingestion run.
        </p>
      ) : (
        <table className="data-table quotes-table" data-testid="quotes-table">
          <thead>
            <tr>
              <th scope="col">Symbol</th>
              <th scope="col" className="num">
                Last
              </th>
              <th scope="col" className="num">
                Bid / Ask
              </th>
              <th scope="col" className="num">
                Spread
              </th>
              <th scope="col" className="num">
                Volume
              </th>
              <th scope="col">2 days</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((q) => {
              const spread = spreadOf(q.bid, q.ask);
              return (
                <tr key={q.symbol} data-testid="quote-row" data-symbol={q.symbol}>
                  <th scope="row" className="symbol-cell">
                    <Link className="symbol" to={`/market/${encodeURIComponent(q.symbol)}`} data-testid="symbol-link">
                      {q.symbol}
                    </Link>
                    <Badge tone={dataTypeTone(q.data_type)} testId="data-type">
                      {q.data_type.replace(/_/g, ' ')}
                    </Badge>
                    <span className="muted small quote-time" title={q.timestamp}>
                      {formatTime(q.timestamp, now)}
                    </span>
                  </th>
                  <td className="num strong c-last" data-label="Last" data-testid="quote-last">
                    <span>{formatPrice(q.last)}</span>
                  </td>
                  <td className="num c-bidask" data-label="Bid / Ask">
                    <span>
                      {formatPrice(q.bid)} / {formatPrice(q.ask)}
                    </span>
                  </td>
                  <td className="num c-spread" data-label="Spread">
                    {spread ? (
                      <span>
                        {formatPrice(spread.absolute)} <span className="muted">({formatNumber(spread.bps, 1)} bp)</span>
                      </span>
                    ) : (
                      <span>—</span>
                    )}
                  </td>
                  <td className="num c-volume" data-label="Volume">
                    <span>{formatVolume(q.volume)}</span>
                  </td>
                  <td className="c-chart" data-label="2 days">
                    <Sparkline symbol={q.symbol} points={history[q.symbol]} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
