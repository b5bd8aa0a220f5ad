import { lazy, Suspense, useId, useMemo, useState, type FormEvent } from 'react';
import { Link, useParams } from 'react-router';
import type { ApiError, PositionDetail, PositionMark, PositionView } from '../api';
import { Badge } from '../components/Badge';
import { ExitProgressBars } from '../components/ExitProgress';
import { formatMoney, formatNumber, formatPercent, formatPrice, formatTime, humanize } from '../format';
import { contractLabel, decisionText, explainPositionError, exitReasonText, formatPnl, isWorkingOrder, pnlClass, refusedMarkReason } from '../positions';
import { useClosePosition, usePosition, useSetExitsPaused, type CloseResult } from '../queries';
import { useNow } from '../useNow';
import { positionTone } from './PositionsPage';

// uPlot only loads with a chart: its own chunk keeps the initial JS small.
const TimeChart = lazy(() => import('../components/TimeChart'));

function Fact({ label, value, testId, className }: { label: string; value: string; testId?: string; className?: string | undefined }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd data-testid={testId} className={className}>
        {value}
      </dd>
    </div>
  );
}

function Refused({ error }: { error: ApiError }) {
  const e = explainPositionError(error);
  return (
    <div className="notice notice-bad" role="alert" data-testid="position-refusal" data-kind={e.kind} data-state={e.state ?? ''}>
      <p className="strong">{e.title}</p>
      {e.state ? <p>Current state: {e.state}.</p> : null}
    </div>
  );
}

function ClosePanel({ position }: { position: PositionView }) {
  const close = useClosePosition(String(position.id));
  const [confirming, setConfirming] = useState(false);
  const [note, setNote] = useState('');
  const noteId = useId();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    close.mutate(note.trim() === '' ? {} : { note: note.trim() });
  };
  const result: CloseResult | undefined = close.data;
  const canClose = position.status === 'open';
  return (
    <div data-testid="close-panel">
      <div aria-live="polite">
        {result ? (
          <div className="notice notice-ok" role="status" data-testid="close-result" data-status={result.position.status}>
            <p className="strong">Closing…</p>
            <p>{result.message.replace(/^closing: /, 'The ')}.</p>
          </div>
        ) : null}
        {close.error ? <Refused error={close.error} /> : null}
      </div>
      {canClose && !confirming && !result ? (
        <button type="button" className="danger" onClick={() => setConfirming(true)} data-testid="close-button">
          Close now…
        </button>
      ) : null}
      {confirming && !result ? (
        <form className="confirm" onSubmit={submit} data-testid="close-confirm">
          <p className="strong">
            Close all {position.open_units} open units of {position.symbol} {humanize(position.strategy).toLowerCase()}? The monitor sends a
            closing order on its next run, starting at mid and walking toward natural.
          </p>
          {position.exits_paused ? <p className="notice">Exits are paused: the closing order waits until you resume them.</p> : null}
          <label htmlFor={noteId}>Note (optional, audited)</label>
          <input id={noteId} value={note} onChange={(e) => setNote(e.target.value)} maxLength={300} />
          <div className="actions">
            <button type="submit" className="danger" disabled={close.isPending} aria-busy={close.isPending} data-testid="close-confirm-button">
              {close.isPending ? 'Closing…' : 'Confirm: close now'}
            </button>
            <button type="button" onClick={() => setConfirming(false)} disabled={close.isPending}>
              Cancel
            </button>
          </div>
        </form>
      ) : null}
    </div>
  );
}

function ExitsPanel({ position }: { position: PositionView }) {
  const set = useSetExitsPaused(String(position.id));
  const [editing, setEditing] = useState(false);
  const [reason, setReason] = useState('');
  const reasonId = useId();
  const next = !position.exits_paused;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (reason.trim() === '') return;
    set.mutate(
      { paused: next, reason: reason.trim() },
      {
        onSuccess: () => {
          setEditing(false);
          setReason('');
        },
      },
    );
  };
  if (position.status !== 'open' && position.status !== 'closing') return null;
  return (
    <div data-testid="exits-panel" data-paused={position.exits_paused}>
      <p>
        Automated exits:{' '}
        <Badge tone={position.exits_paused ? 'warn' : 'ok'} testId="exits-state">
          {position.exits_paused ? 'paused' : 'running'}
        </Badge>
      </p>
      <div aria-live="polite">{set.error ? <Refused error={set.error} /> : null}</div>
      {!editing ? (
        <button type="button" onClick={() => setEditing(true)} data-testid="exits-toggle">
          {position.exits_paused ? 'Resume exits…' : 'Pause exits…'}
        </button>
      ) : (
        <form className="confirm" onSubmit={submit} data-testid="exits-confirm">
          <p className="strong">
            {next
              ? 'Pause the automated exits? Take profit, stop loss and time exit stop acting on this position until you resume them.'
              : 'Resume the automated exits?'}
          </p>
          <label htmlFor={reasonId}>Reason (required, audited)</label>
          <input id={reasonId} value={reason} onChange={(e) => setReason(e.target.value)} required maxLength={300} />
          <div className="actions">
            <button type="submit" className="primary" disabled={set.isPending || reason.trim() === ''} aria-busy={set.isPending} data-testid="exits-confirm-button">
              {set.isPending ? 'Saving…' : next ? 'Confirm: pause exits' : 'Confirm: resume exits'}
            </button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </div>
  );
}

function MarkChart({ marks }: { marks: PositionMark[] }) {
  const data = useMemo(() => {
    const ordered = [...marks].reverse();
    const xs = ordered.map((m) => Date.parse(m.at) / 1000);
    const mid = ordered.map((m) => (m.ok ? m.unrealized_mid : null));
    const natural = ordered.map((m) => (m.ok ? m.unrealized_natural : null));
    return {
      xs,
      series: [
        { label: 'Unrealized at mid', colorVar: '--accent', values: mid },
        { label: 'Unrealized at natural', colorVar: '--f1', values: natural, dashed: true },
      ],
      ok: ordered.filter((m) => m.ok),
    };
  }, [marks]);
  if (data.ok.length === 0) return <p className="muted">No trustworthy mark yet.</p>;
  const mids = data.ok.map((m) => m.unrealized_mid ?? 0);
  const last = data.ok[data.ok.length - 1];
  const label =
    `Unrealized P&L over ${data.ok.length} marks from ${formatTime(data.ok[0]?.at)} to ${formatTime(last?.at)}: ` +
    `between ${formatMoney(Math.min(...mids))} and ${formatMoney(Math.max(...mids))} at mid, now ${formatMoney(last?.unrealized_mid)}` +
    (marks.length > data.ok.length ? `; ${marks.length - data.ok.length} refused marks left out` : '');
  return (
    <Suspense fallback={<p className="muted">Loading chart…</p>}>
      <TimeChart xs={data.xs} series={data.series} label={label} testId="mark-chart" zeroLine />
    </Suspense>
  );
}

function Tables({ d, now }: { d: PositionDetail; now: number }) {
  return (
    <>
      <section className="panel" aria-labelledby="legs-heading">
        <h2 id="legs-heading">Legs</h2>
        {d.legs.length === 0 ? (
          <p className="muted">No legs filled yet.</p>
        ) : (
          <table className="data-table" data-testid="position-legs">
            <thead>
              <tr>
                <th scope="col">Contract</th>
                <th scope="col" className="num">Quantity</th>
                <th scope="col" className="num">Avg price</th>
                <th scope="col" className="num">Commissions</th>
              </tr>
            </thead>
            <tbody>
              {d.legs.map((l) => (
                <tr key={l.description} data-testid="position-leg">
                  <th scope="row">{contractLabel(l.contract)}</th>
                  <td className="num" data-label="Quantity">
                    <span>
                      {l.quantity > 0 ? 'long' : l.quantity < 0 ? 'short' : 'flat'} {Math.abs(l.quantity)}
                    </span>
                  </td>
                  <td className="num" data-label="Avg price">
                    <span>{formatPrice(l.average_price)}</span>
                  </td>
                  <td className="num" data-label="Commissions">
                    <span>{formatMoney(l.commissions)}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section className="panel" aria-labelledby="orders-heading">
        <h2 id="orders-heading">Orders</h2>
        {d.orders.length === 0 ? (
          <p className="muted">No orders.</p>
        ) : (
          <table className="data-table" data-testid="position-orders">
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
              {d.orders.map((o) => (
                <tr key={o.id} data-testid="position-order" data-purpose={o.purpose} data-order-status={o.status}>
                  <th scope="row">
                    {o.purpose === 'exit' ? `Exit · ${exitReasonText(o.exit_reason)}` : 'Entry'}
                    {o.attempt !== null ? ` #${o.attempt + 1}` : ''}
                  </th>
                  <td data-label="Status">
                    <span>
                      <Badge tone={isWorkingOrder(o.status) ? 'info' : o.status === 'filled' ? 'ok' : 'neutral'}>{o.status.replace(/_/g, ' ')}</Badge>
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
        )}
      </section>

      <section className="panel" aria-labelledby="fills-heading">
        <h2 id="fills-heading">Fills</h2>
        {d.fills.length === 0 ? (
          <p className="muted">No fills yet.</p>
        ) : (
          <table className="data-table" data-testid="position-fills">
            <thead>
              <tr>
                <th scope="col">Contract</th>
                <th scope="col" className="num">Quantity</th>
                <th scope="col" className="num">Price</th>
                <th scope="col" className="num">Commission</th>
                <th scope="col">Time</th>
              </tr>
            </thead>
            <tbody>
              {d.fills.map((f) => (
                <tr key={f.exec_id} data-testid="position-fill">
                  <th scope="row">{contractLabel(f.contract)}</th>
                  <td className="num" data-label="Quantity">
                    <span>
                      {f.quantity > 0 ? 'bought' : 'sold'} {Math.abs(f.quantity)}
                    </span>
                  </td>
                  <td className="num" data-label="Price">
                    <span>{formatPrice(f.price)}</span>
                  </td>
                  <td className="num" data-label="Commission">
                    <span>{f.commission === null ? 'pending' : formatMoney(f.commission)}</span>
                  </td>
                  <td data-label="Time">
                    <span>{formatTime(f.time, now)}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section className="panel" aria-labelledby="marks-heading">
        <h2 id="marks-heading">Recent marks</h2>
        {d.marks.length === 0 ? (
          <p className="muted">Not marked yet.</p>
        ) : (
          <ul className="audit-list" data-testid="mark-list">
            {d.marks.slice(0, 10).map((m) => (
              <li key={m.at} data-ok={m.ok}>
                <span className="muted small">{formatTime(m.at, now)}</span>{' '}
                {m.ok ? (
                  <span className={pnlClass(m.unrealized_mid)}>{formatPnl(m.unrealized_mid)}</span>
                ) : (
                  <span className="bad-text">refused</span>
                )}{' '}
                <span className="small">{decisionText(m.decision, d.progress?.stop_confirmations)}</span>
              </li>
            ))}
          </ul>
        )}
      </section>
    </>
  );
}

/** One position: state, actions, exit plan progress, mark chart, legs, orders, fills. */
export function PositionDetailPage() {
  const { id = '' } = useParams();
  const query = usePosition(id);
  const now = useNow();
  const d = query.data;
  if (!d) {
    return (
      <section className="panel">
        <h2>Position {id}</h2>
        <p className="muted">{query.error ? `Could not load: ${query.error.message}` : 'Loading…'}</p>
        <Link to="/positions">All positions</Link>
      </section>
    );
  }
  const p = d.position;
  const m = p.mark;
  const refused = refusedMarkReason(m);
  const plan = d.exit_plan;
  const g = m?.greeks ?? null;
  const working = d.orders.filter((o) => isWorkingOrder(o.status));
  return (
    <>
      <section className="panel" aria-labelledby="position-heading" data-testid="position-detail" data-position-id={p.id} data-status={p.status}>
        <p className="small">
          <Link to="/positions">← All positions</Link>
        </p>
        <div className="opp-head">
          <h2 id="position-heading">
            {p.symbol} · {humanize(p.strategy)}
          </h2>
          <Badge tone={positionTone(p.status)} testId="position-status">
            {p.status}
          </Badge>
        </div>
        <p className="muted small">
          Opened {formatTime(p.opened_at, now)}
          {p.closed_at ? ` · closed ${formatTime(p.closed_at, now)}` : ''} · from <Link to={`/proposals/${p.proposal_id}`}>proposal {p.proposal_id}</Link>
          {m ? ` · marked ${formatTime(m.at, now)}` : ''}
        </p>
        <div aria-live="polite">
          {refused ? (
            <p className="notice notice-bad" data-testid="mark-refused">
              The newest mark was refused: {refused}. It is not in the P&L and no exit acts on it.
            </p>
          ) : null}
          {d.paused_by_drift ? (
            <p className="notice notice-bad" data-testid="paused-by-drift">
              Exits paused by a reconciliation drift: the broker's books differ from SAS's. Acknowledge it on the <Link to="/">Today</Link> page.
            </p>
          ) : null}
          {p.status === 'closing' ? (
            <p className="notice" data-testid="closing-note">
              Closing ({exitReasonText(p.exit_reason)}){working.length > 0 ? ': closing order working' : ': the closing order goes out on the next monitor run'}
              {p.exits_paused ? ', but exits are paused: it waits until you resume them' : ''}.
            </p>
          ) : null}
        </div>
        <dl className="facts facts-wide">
          <Fact label="Unrealized (mid)" value={m?.ok ? formatPnl(m.unrealized_mid) : '—'} testId="detail-unrealized-mid" className={pnlClass(m?.ok ? m.unrealized_mid : null)} />
          <Fact label="Unrealized (natural)" value={m?.ok ? formatPnl(m.unrealized_natural) : '—'} className={pnlClass(m?.ok ? m.unrealized_natural : null)} />
          <Fact label="Realized" value={formatPnl(p.realized)} testId="detail-realized" className={pnlClass(p.realized)} />
          <Fact label="Commissions" value={`${formatMoney(p.commissions)}${p.commissions_pending > 0 ? ` (+${p.commissions_pending} pending)` : ''}`} />
          <Fact label="Units open" value={`${p.open_units} of ${p.planned_units}${p.entry_filled_units < p.planned_units ? ` (${p.entry_filled_units} filled)` : ''}`} />
          <Fact label="Value (mid / natural)" value={m?.ok ? `${formatMoney(m.value_mid)} / ${formatMoney(m.value_natural)}` : '—'} />
          <Fact label="P&L per unit" value={m?.ok ? formatPnl(m.pnl_per_unit) : '—'} />
          <Fact label="DTE" value={m?.dte !== null && m?.dte !== undefined ? String(m.dte) : '—'} />
          <Fact label="Delta / gamma" value={g ? `${formatNumber(g.delta, 1)} / ${formatNumber(g.gamma, 3)}` : '—'} />
          <Fact label="Theta / vega" value={g ? `${formatNumber(g.theta, 1)} / ${formatNumber(g.vega, 1)}` : '—'} />
        </dl>
      </section>

      {p.status === 'open' || p.status === 'closing' || p.status === 'pending' ? (
        <section className="panel decision" aria-labelledby="actions-heading" data-testid="position-actions">
          <h2 id="actions-heading">Actions</h2>
          <ClosePanel position={p} />
          <ExitsPanel position={p} />
        </section>
      ) : null}

      <section className="panel" aria-labelledby="exit-heading">
        <h2 id="exit-heading">Exit plan</h2>
        {plan ? (
          <dl className="facts" data-testid="position-exit-plan">
            <Fact label="Take profit" value={plan.take_profit ? `${formatMoney(plan.take_profit.pnl)} / unit (mark ${formatPrice(plan.take_profit.mark_value)})` : '—'} />
            <Fact
              label="Stop loss"
              value={plan.stop_loss ? `${formatMoney(plan.stop_loss.pnl)} / unit (mark ${formatPrice(plan.stop_loss.mark_value)})${plan.stop_capped_at_max_loss ? ', capped at max loss' : ''}` : '—'}
            />
            <Fact label="Time exit" value={plan.time_exit_date ? `${plan.time_exit_date}${plan.time_exit_dte !== null && plan.time_exit_dte !== undefined ? ` (${plan.time_exit_dte} DTE)` : ''}` : '—'} />
            {plan.trailing_stop_fraction ? <Fact label="Trailing stop" value={formatPercent(plan.trailing_stop_fraction, 0)} /> : null}
          </dl>
        ) : (
          <p className="muted">No exit plan: nothing closes this position automatically.</p>
        )}
        {d.progress && (p.status === 'open' || p.status === 'closing') ? <ExitProgressBars progress={d.progress} /> : null}
        {m ? <p className="small muted" data-testid="last-decision">Last mark: {decisionText(m.decision, d.progress?.stop_confirmations)}</p> : null}
      </section>

      <section className="panel" aria-labelledby="chart-heading">
        <h2 id="chart-heading">Unrealized P&L over time</h2>
        <MarkChart marks={d.marks} />
        <p className="muted small">Whole position in dollars at each monitor mark (newest {d.marks.length}); refused marks are gaps.</p>
      </section>

      <Tables d={d} now={now} />
    </>
  );
}
