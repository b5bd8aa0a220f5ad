import type { Factor, Opportunities } from '../api';
import { Link } from 'react-router';
import { formatNumber, formatPercent, formatPrice, formatTime, humanize } from '../format';

interface OpportunitiesPanelProps {
  /** Shown while there is no data: loading, or why it could not load. */
  placeholder: string;
  opportunities: Opportunities | null;
  now: number;
}

const FACTOR_COLOURS = 8;

/** Short column names for the factors the core scorer knows; others are humanized. */
const FACTOR_NAMES: Record<string, string> = {
  realized_vol: 'Realized vol',
  range: 'Range',
  iv_rank: 'IV rank',
  volume: 'Volume',
  momentum: 'Momentum',
};

function factorName(name: string): string {
  return FACTOR_NAMES[name] ?? humanize(name);
}

function clampPercent(value: number): number {
  return Math.min(100, Math.max(0, value));
}

function ScoreBar({ score, factors }: { score: number; factors: Factor[] }) {
  const segments = factors
    .map((f, i) => ({ f, i }))
    .filter(({ f }) => f.contribution !== null && f.contribution > 0);
  return (
    <div
      className="score-bar"
      role="meter"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Number(score.toFixed(1))}
      aria-label="Score"
      data-testid="score-bar"
    >
      {segments.length > 0 ? (
        segments.map(({ f, i }) => (
          <span
            key={f.name}
            className={`seg factor-c${i % FACTOR_COLOURS}`}
            style={{ width: `${clampPercent(f.contribution ?? 0)}%` }}
            title={`${factorName(f.name)}: ${formatNumber(f.contribution, 1)} points`}
          />
        ))
      ) : (
        <span className="seg factor-c0" style={{ width: `${clampPercent(score)}%` }} />
      )}
    </div>
  );
}

/** Ranked opportunities; each shows its score built up from factor contributions. */
export function OpportunitiesPanel({ placeholder, opportunities, now }: OpportunitiesPanelProps) {
  const list = opportunities?.opportunities ?? [];
  return (
    <section className="panel" aria-labelledby="opps-heading" data-testid="opportunities">
      <div className="panel-head">
        <h2 id="opps-heading">Ranked opportunities</h2>
        {opportunities?.as_of ? (
          <span className="muted small" title={opportunities.as_of}>
            as of {formatTime(opportunities.as_of, now)}
          </span>
        ) : null}
      </div>
      {opportunities === null ? (
        <p className="muted" data-testid="placeholder">{placeholder}</p>
      ) : list.length === 0 ? (
        <p className="muted" data-testid="opportunities-empty">
          Nothing ranked yet: ranking needs a few ingested observations per symbol.
        </p>
      ) : (
        <ol className="opps" data-testid="opportunity-list">
          {list.map((o) => (
            <li key={o.symbol} className="opp" data-testid="opportunity" data-symbol={o.symbol} data-rank={o.rank}>
              <div className="opp-head">
                <span className="rank" aria-label={`Rank ${o.rank}`}>
                  #{o.rank}
                </span>
                <h3 className="symbol">{o.symbol}</h3>
                <span className="opp-last muted">{formatPrice(o.last)}</span>
                <span className="score" data-testid="opportunity-score">
                  {formatNumber(o.score, 1)}
                </span>
              </div>
              <ScoreBar score={o.score} factors={o.factors} />
              <table className="factors" data-testid="factor-table">
                <caption className="visually-hidden">
                  Score factors for {o.symbol} ({o.observations} observations)
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Factor</th>
                    <th scope="col" className="num" title="Normalized 0–100">
                      Norm.
                    </th>
                    <th scope="col" className="num col-weight">
                      Weight
                    </th>
                    <th scope="col" className="num">
                      Points
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {o.factors.map((f, i) => (
                    <tr key={f.name} data-testid="factor-row" data-factor={f.name} className={f.normalized === null ? 'missing' : undefined}>
                      <th scope="row">
                        <span className="factor-name">
                          <span className={`swatch factor-c${i % FACTOR_COLOURS}`} aria-hidden="true" />
                          {factorName(f.name)}
                        </span>
                        <span className="factor-label" data-testid="factor-label">
                          {f.label}
                        </span>
                      </th>
                      <td className="num" data-testid="factor-normalized">
                        {formatNumber(f.normalized, 0)}
                      </td>
                      <td className="num col-weight">{formatNumber(f.weight, 1)}</td>
                      <td className="num" data-testid="factor-contribution">
                        {f.normalized === null ? '—' : formatNumber(f.contribution, 1)}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <p className="small" data-testid="opportunity-iv">
                ATM IV 30 d {formatPercent(o.atm_iv_30d)} · IV rank {formatNumber(o.iv_rank, 0)} · IV percentile {formatNumber(o.iv_percentile, 0)}
                {o.iv_history_days !== null && o.iv_history_days !== undefined ? ` (${o.iv_history_days} days of IV history)` : ''} ·{' '}
                <Link to={`/market/${encodeURIComponent(o.symbol)}`}>{o.symbol} chain and metrics</Link>
              </p>
              <p className="muted small">
                {o.observations} observations
                {o.coverage !== undefined ? ` · ${Math.round(o.coverage * 100)}% of the weight measured` : ''}
              </p>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
