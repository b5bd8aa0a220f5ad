import { Link } from 'react-router';
import type { Proposal } from '../api';
import { Badge, type Tone } from '../components/Badge';
import { formatEntry, formatMoney, formatNumber, formatPercent, formatTime, humanize } from '../format';
import { orderStateText } from '../messages';
import { isMissingRoute, useProposals } from '../queries';
import { useNow } from '../useNow';

export function statusTone(status: string | undefined): Tone {
  switch (status ?? 'pending') {
    case 'pending':
      return 'info';
    case 'approved':
      return 'ok';
    case 'rejected':
      return 'bad';
    default:
      return 'neutral';
  }
}

function ProposalCard({ p, now }: { p: Proposal; now: number }) {
  const status = p.status ?? 'pending';
  return (
    <li className="proposal" data-testid="proposal-item" data-proposal-id={p.id} data-status={status}>
      <div className="opp-head">
        <h3 className="symbol">
          <Link to={`/proposals/${encodeURIComponent(p.id)}`} data-testid="proposal-link">
            {p.symbol} · {humanize(p.strategy)}
          </Link>
        </h3>
        <Badge tone={statusTone(status)}>{status}</Badge>
        {p.score !== null ? <span className="score" aria-label={`score ${formatNumber(p.score, 0)} of 100`}>{formatNumber(p.score, 0)}</span> : null}
      </div>
      <dl className="facts">
        <div>
          <dt>Entry (mid)</dt>
          <dd>{formatEntry(p.entry?.net_price_mid)}</dd>
        </div>
        <div>
          <dt>Max profit</dt>
          <dd>{formatMoney(p.max_profit)}</dd>
        </div>
        <div>
          <dt>Max loss</dt>
          <dd>{formatMoney(p.max_loss)}</dd>
        </div>
        <div>
          <dt>PoP</dt>
          <dd>{formatPercent(p.probability_of_profit)}</dd>
        </div>
        <div>
          <dt>Contracts</dt>
          <dd>{p.contracts ?? '—'}</dd>
        </div>
        <div>
          <dt>{status === 'pending' ? 'Expires' : 'Decided'}</dt>
          <dd>{formatTime(status === 'pending' ? p.expires_at : (p.decided_at ?? p.expires_at), now)}</dd>
        </div>
      </dl>
      {status === 'approved' ? (
        <p className="small" data-testid="order-state">
          {orderStateText(p.order)}
        </p>
      ) : null}
      {status === 'rejected' && p.decision_reason ? <p className="small">Reason: {p.decision_reason}</p> : null}
    </li>
  );
}

/** Pending proposals first, then the decided ones with their outcome and order state. */
export function ProposalsPage() {
  const all = useProposals(null);
  const now = useNow();
  if (all.error && isMissingRoute(all.error)) {
    return (
      <section className="panel">
        <h2>Proposals</h2>
        <p>This Worker has no proposals API yet.</p>
      </section>
    );
  }
  const proposals = all.data?.proposals ?? [];
  const pending = proposals.filter((p) => (p.status ?? 'pending') === 'pending');
  const decided = proposals.filter((p) => (p.status ?? 'pending') !== 'pending');
  return (
    <>
      <section className="panel" aria-labelledby="pending-heading" data-testid="pending-proposals">
        <h2 id="pending-heading">Pending proposals</h2>
        {!all.isFetched ? (
          <p className="muted">Loading…</p>
        ) : pending.length === 0 ? (
          <p className="muted" data-testid="no-pending">Nothing to decide right now.</p>
        ) : (
          <ul className="proposal-list">
            {pending.map((p) => (
              <ProposalCard key={p.id} p={p} now={now} />
            ))}
          </ul>
        )}
      </section>
      <section className="panel" aria-labelledby="history-heading" data-testid="decided-proposals">
        <h2 id="history-heading">History</h2>
        {decided.length === 0 ? (
          <p className="muted">No decided proposals yet.</p>
        ) : (
          <ul className="proposal-list">
            {decided.map((p) => (
              <ProposalCard key={p.id} p={p} now={now} />
            ))}
          </ul>
        )}
      </section>
    </>
  );
}
