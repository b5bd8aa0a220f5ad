import { Link } from 'react-router';
import type { Proposal } from '../api';
import { formatNumber, formatPrice, formatTime, humanize } from '../format';

interface ProposalsPanelProps {
  proposals: Proposal[] | null;
  now: number;
}

/** Pending trade proposals. Renders nothing while there are none or the route does not exist yet. */
export function ProposalsPanel({ proposals, now }: ProposalsPanelProps) {
  if (!proposals || proposals.length === 0) return null;
  return (
    <section className="panel proposals" aria-labelledby="proposals-heading" data-testid="proposals">
      <h2 id="proposals-heading">Pending proposals</h2>
      <ul className="proposal-list">
        {proposals.map((p) => (
          <li key={p.id} className="proposal" data-testid="proposal" data-proposal-id={p.id}>
            <div className="opp-head">
              <h3 className="symbol">
                <Link to={`/proposals/${encodeURIComponent(p.id)}`}>{p.symbol}</Link>
              </h3>
              <span>{humanize(p.strategy)}</span>
              {p.score !== null ? <span className="score">{formatNumber(p.score, 1)}</span> : null}
            </div>
            <dl className="facts">
              <div>
                <dt>Entry (mid)</dt>
                <dd>{formatPrice(p.entry?.net_price_mid ?? null)}</dd>
              </div>
              <div>
                <dt>Max profit</dt>
                <dd>{formatPrice(p.max_profit)}</dd>
              </div>
              <div>
                <dt>Max loss</dt>
                <dd>{formatPrice(p.max_loss)}</dd>
              </div>
              <div>
                <dt>Expires</dt>
                <dd title={p.expires_at ?? undefined}>{formatTime(p.expires_at, now)}</dd>
              </div>
            </dl>
            <p className="rationale">{p.rationale}</p>
            <p className="muted small">Created {formatTime(p.created_at, now)}</p>
          </li>
        ))}
      </ul>
    </section>
  );
}
