import { Link } from 'react-router';
import type { PositionOrder, PositionView } from '../api';
import { Badge, type Tone } from '../components/Badge';
import { ExitProgressBars } from '../components/ExitProgress';
import { formatMoney, formatPrice, formatTime, humanize } from '../format';
import { decisionText, exitReasonText, formatPnl, isWorkingOrder, pnlClass, refusedMarkReason } from '../positions';
import { isMissingRoute, useOrders, usePnl, usePosition, usePositions } from '../queries';
import { useNow } from '../useNow';

export function positionTone(status: string): Tone {
  switch (status) {
    case 'open':
      return 'ok';
    case 'closing':
      return 'warn';
    case 'pending':
      return 'info';
    case 'void':
      return 'bad';
    default:
      return 'neutral';
  }
}

export function NoPositionsApi() {
  return (
    <section className="panel">
      <h2>Positions</h2>
      <p>This Worker has no positions API yet.</p>
    </section>
  );
}

/** Progress toward the exits: the detail query (shared cache with the detail page). */
function CardProgress({ id }: { id: number }) {
  const detail = usePosition(String(id));
  const progress = detail.data?.progress;
  if (!progress) return null;
  return <ExitProgressBars progress={progress} compact />;
}

function OpenCard({ p, now }: { p: PositionView; now: number }) {
  const m = p.mark;
  const refused = refusedMarkReason(m);
  return (
    <li className="proposal position-card" data-testid="position-item" data-position-id={p.id} data-status={p.status}>
      <div className="opp-head">
        <h3 className="symbol">
          <Link to={`/positions/${p.id}`} data-testid="position-link">
            {p.symbol} · {humanize(p.strategy)}
          </Link>
        </h3>
        <Badge tone={positionTone(p.status)} testId="position-status">
          {p.status}
        </Badge>
        <span className={`score ${pnlClass(m?.ok ? m.unrealized_mid : null) ?? ''}`} data-testid="position-unrealized">
          <span className="visually-hidden">Unrealized at mid: </span>
          {m?.ok ? formatPnl(m.unrealized_mid) : '—'}
        </span>
      </div>
      <dl className="facts">
        <div>
          <dt>Units open</dt>
          <dd>
            {p.open_units}
            {p.planned_units !== p.open_units ? ` of ${p.planned_units}` : ''}
          </dd>
        </div>
        <div>
          <dt>Marked</dt>
          <dd data-testid="position-mark-time">{m ? formatTime(m.at, now) : 'not yet'}</dd>
        </div>
        <div>
          <dt>Unrealized (natural)</dt>
          <dd className={pnlClass(m?.ok ? m.unrealized_natural : null)}>{m?.ok ? formatPnl(m.unrealized_natural) : '—'}</dd>
        </div>
        <div>
          <dt>Realized so far</dt>
          <dd className={pnlClass(p.realized)}>{formatPnl(p.realized)}</dd>
        </div>
      </dl>
      {refused ? (
        <p className="notice notice-bad" data-testid="mark-refused">
          Mark refused: {refused}. Not in the P&L; no exit acts on it.
        </p>
      ) : null}
      {p.status === 'closing' ? (
        <p className="notice" data-testid="closing-note">
          Closing: {exitReasonText(p.exit_reason)}
          {p.exits_paused ? ' (exits paused: the closing order waits until you resume them)' : ''}.
        </p>
      ) : p.exits_paused ? (
        <p className="notice">Exits paused: nothing closes this position automatically.</p>
      ) : null}
      {m && !refused && p.status !== 'closing' ? <p className="small muted">{decisionText(m.decision)}</p> : null}
      {/* A closing position's exit has fired: its progress is on the detail page. */}
      {p.status === 'open' ? <CardProgress id={p.id} /> : null}
    </li>
  );
}

function ClosedRow({ p, now }: { p: PositionView; now: number }) {
  return (
    <tr data-testid="closed-position" data-position-id={p.id} data-status={p.status}>
      <th scope="row">
        <Link to={`/positions/${p.id}`}>
          {p.symbol} · {humanize(p.strategy)}
        </Link>
      </th>
      <td data-label="Outcome">
        <span>{p.status === 'void' ? 'void (never filled)' : exitReasonText(p.exit_reason)}</span>
      </td>
      <td className="num" data-label="Realized">
        <span className={pnlClass(p.realized)}>{formatPnl(p.realized)}</span>
      </td>
      <td className="num" data-label="Commissions">
        <span>{formatMoney(p.commissions)}</span>
      </td>
      <td data-label="Closed">
        <span>{formatTime(p.closed_at ?? p.updated_at, now)}</span>
      </td>
    </tr>
  );
}

export function WorkingOrders({ orders, positions, now }: { orders: PositionOrder[]; positions: PositionView[]; now: number }) {
  const byId = new Map(positions.map((p) => [p.id, p]));
  if (orders.length === 0) return <p className="muted" data-testid="no-working-orders">No working orders.</p>;
  return (
    <table className="data-table" data-testid="working-orders">
      <thead>
        <tr>
          <th scope="col">Order</th>
          <th scope="col">Status</th>
          <th scope="col" className="num">Filled</th>
          <th scope="col" className="num">Limit</th>
          <th scope="col">Updated</th>
        </tr>
      </thead>
      <tbody>
        {orders.map((o) => (
          <tr key={o.id} data-testid="working-order" data-order-status={o.status}>
            <th scope="row">
              <Link to={`/positions/${o.position_id}`}>
                {o.purpose === 'exit' ? `Exit (${exitReasonText(o.exit_reason)})` : 'Entry'} ·{' '}
                {byId.get(o.position_id)?.symbol ?? 'position'} {byId.get(o.position_id) ? humanize(byId.get(o.position_id)?.strategy ?? '').toLowerCase() : o.position_id}
              </Link>
            </th>
            <td data-label="Status">
              <span>
                {o.status.replace(/_/g, ' ')}
                {o.broker_status && o.broker_status !== o.status ? ` · broker ${o.broker_status.replace(/_/g, ' ')}` : ''}
                {o.error ? <span className="run-error">{o.error}</span> : null}
              </span>
            </td>
            <td className="num" data-label="Filled">
              <span>
                {o.filled} / {o.quantity}
              </span>
            </td>
            <td className="num" data-label="Limit">
              <span>
                {formatPrice(Math.abs(o.limit))} {o.limit >= 0 ? 'debit' : 'credit'}
              </span>
            </td>
            <td data-label="Updated">
              <span>{formatTime(o.updated_at, now)}</span>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Open (and closing, pending) positions with live marks and progress, working orders, closed positions. */
export function PositionsPage() {
  const current = usePositions(null);
  const closed = usePositions('closed', 50);
  const orders = useOrders(100);
  const pnl = usePnl(1);
  const now = useNow();
  if (current.error && isMissingRoute(current.error)) return <NoPositionsApi />;
  const all = current.data?.positions ?? [];
  const live = all.filter((p) => p.status === 'open' || p.status === 'closing' || p.status === 'pending');
  const done = [...(closed.data?.positions ?? []), ...all.filter((p) => p.status === 'void')];
  const working = (orders.data?.orders ?? []).filter((o) => isWorkingOrder(o.status));
  const t = pnl.data;
  return (
    <>
      <section className="panel" aria-labelledby="open-heading" data-testid="open-positions">
        <div className="panel-head">
          <h2 id="open-heading">Open positions</h2>
          {t ? (
            <p className="small" data-testid="open-pnl-summary">
              Open P&L <strong className={pnlClass(t.unrealized_mid)}>{formatPnl(t.unrealized_mid)}</strong> mid ·{' '}
              <span className={pnlClass(t.unrealized_natural)}>{formatPnl(t.unrealized_natural)}</span> natural
              {t.unmarked_positions > 0 ? ` · ${t.unmarked_positions} without a trustworthy mark (not counted)` : ''}
            </p>
          ) : null}
        </div>
        {!current.isFetched ? (
          <p className="muted">Loading…</p>
        ) : live.length === 0 ? (
          <p className="muted" data-testid="no-open-positions">
            No open positions. Approve a proposal to open one.
          </p>
        ) : (
          <ul className="proposal-list position-list">
            {live.map((p) => (
              <OpenCard key={p.id} p={p} now={now} />
            ))}
          </ul>
        )}
      </section>
      <section className="panel" aria-labelledby="orders-heading" data-testid="orders">
        <h2 id="orders-heading">Working orders</h2>
        {orders.isFetched ? <WorkingOrders orders={working} positions={all} now={now} /> : <p className="muted">Loading…</p>}
      </section>
      <section className="panel" aria-labelledby="closed-heading" data-testid="closed-positions">
        <h2 id="closed-heading">Closed</h2>
        {done.length === 0 ? (
          <p className="muted">{closed.isFetched ? 'No closed positions yet.' : 'Loading…'}</p>
        ) : (
          <table className="data-table">
            <thead>
              <tr>
                <th scope="col">Position</th>
                <th scope="col">Outcome</th>
                <th scope="col" className="num">Realized</th>
                <th scope="col" className="num">Commissions</th>
                <th scope="col">Closed</th>
              </tr>
            </thead>
            <tbody>
              {done.map((p) => (
                <ClosedRow key={p.id} p={p} now={now} />
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
