import { useId, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import type { MonitorRun, PositionView, Reconciliation } from '../api';
import { Badge, dataTypeTone, runStatusTone } from '../components/Badge';
import { HealthPanel } from '../components/HealthPanel';
import { formatAge, formatMoney, formatTime, humanize, secondsSince } from '../format';
import { attentionReasons, driftText, explainPositionError, formatPnl, nyDate, pnlClass } from '../positions';
import {
  isMissingRoute,
  useAcknowledgeDrift,
  useHealth,
  useKillSwitch,
  useLatestQuotes,
  useMonitorRuns,
  usePnl,
  usePositions,
  useProposals,
  useReconciliation,
  useRisk,
} from '../queries';
import { LimitsTable, modeTone, StateReasons } from '../components/RiskPanel';
import { useNow } from '../useNow';

/** The next quarter hour: the ingestion cron runs every 15 minutes (market hours only in production). */
function nextQuarterHour(now: number): number {
  const q = 15 * 60_000;
  return Math.floor(now / q) * q + q;
}

function DriftBanner({ recon, positions, now }: { recon: Reconciliation; positions: PositionView[]; now: number }) {
  const byKey = new Map(positions.map((p) => [p.key, p]));
  const ack = useAcknowledgeDrift();
  const [open, setOpen] = useState(false);
  const [note, setNote] = useState('');
  const noteId = useId();
  const drifts = recon.drifts ?? [];
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!recon.fingerprint || note.trim() === '') return;
    ack.mutate({ fingerprint: recon.fingerprint, note: note.trim() }, { onSuccess: () => setOpen(false) });
  };
  return (
    <section className="panel drift" aria-labelledby="drift-heading" data-testid="drift-banner" data-fingerprint={recon.fingerprint ?? ''}>
      <h2 id="drift-heading">Reconciliation drift: the broker's books differ from SAS's</h2>
      <p>
        Since {formatTime(recon.since, now)} (checked {formatTime(recon.checked_at, now)}). While it stands, <strong>new entries are refused</strong> and the exits
        of the positions involved are paused. Check the account at the broker; acknowledging says you have looked and lets trading go on.
      </p>
      <ul className="drift-list" data-testid="drift-list">
        {drifts.map((d, i) => (
          <li key={i} data-kind={d.kind}>
            {driftText(d)}
            {d.positions.length > 0 ? (
              <span className="small">
                {' '}
                · exits paused:{' '}
                {d.positions.map((key, j) => {
                  const p = byKey.get(key);
                  return (
                    <span key={key}>
                      {j > 0 ? ', ' : ''}
                      {p ? <Link to={`/positions/${p.id}`}>{`${p.symbol} ${humanize(p.strategy).toLowerCase()} (position ${p.id})`}</Link> : key}
                    </span>
                  );
                })}
              </span>
            ) : null}
          </li>
        ))}
      </ul>
      <div aria-live="polite">
        {ack.error ? (
          <p className="notice notice-bad" role="alert" data-testid="ack-refusal">
            {explainPositionError(ack.error).title}
          </p>
        ) : null}
      </div>
      {!open ? (
        <button type="button" className="danger" onClick={() => setOpen(true)} data-testid="ack-button">
          Acknowledge…
        </button>
      ) : (
        <form className="confirm" onSubmit={submit} data-testid="ack-form">
          <label htmlFor={noteId}>What you found (required, audited)</label>
          <input id={noteId} value={note} onChange={(e) => setNote(e.target.value)} required maxLength={300} />
          <div className="actions">
            <button type="submit" className="danger" disabled={ack.isPending || note.trim() === ''} aria-busy={ack.isPending} data-testid="ack-confirm-button">
              {ack.isPending ? 'Saving…' : 'Confirm: acknowledge this drift'}
            </button>
            <button type="button" onClick={() => setOpen(false)}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

function MonitorRunLine({ run, now }: { run: MonitorRun | null; now: number }) {
  if (!run) return <span className="muted">no run yet</span>;
  return (
    <span data-testid="monitor-run" data-status={run.status}>
      <Badge tone={runStatusTone(run.status)}>{run.status}</Badge> {formatAge(secondsSince(run.finished_at ?? run.started_at, now))} · {run.positions} positions,{' '}
      {run.marks_ok} marked{run.marks_rejected > 0 ? `, ${run.marks_rejected} refused` : ''}, {run.orders_placed} orders{run.ms !== null ? ` · ${run.ms} ms` : ''}
      {run.error ? <span className="run-error">{run.error}</span> : null}
    </span>
  );
}

/** The trader's first look: trading state, drift, P&L, what needs attention, system health. */
export function TodayPage() {
  const now = useNow();
  const ks = useKillSwitch();
  const recon = useReconciliation();
  const pnl = usePnl(7);
  const positions = usePositions(null);
  const pending = useProposals('pending');
  const risk = useRisk();
  // The trading data first (state, P&L, proposals, positions); health, market-data types and the last
  // monitor run once those answered (a local Worker serves requests one after another).
  const primaryDone = risk.isFetched && pnl.isFetched && pending.isFetched && positions.isFetched;
  const health = useHealth(primaryDone);
  const runs = useMonitorRuns(1, primaryDone);
  const quotes = useLatestQuotes(primaryDone);
  const noEngine = recon.error !== null && isMissingRoute(recon.error);

  const r = risk.data ?? null;
  const killOn = r?.kill_switch_on ?? ks.data?.on ?? false;
  const drift = recon.data?.standing ? recon.data : null;
  // The risk engine's fresh evaluation decides; a Worker without /risk falls back to the kill switch and the drift gate.
  const legacy = !ks.data ? null : killOn ? 'halted' : drift ? 'entries blocked' : 'active';
  const state = r ? r.now_mode : risk.error && isMissingRoute(risk.error) ? legacy : null;
  const reached = (r?.limits ?? []).filter((l) => l.reached === true);
  const today = nyDate(now);
  const t = pnl.data;
  const realizedToday = t?.by_day.find((d) => d.date === today)?.realized ?? 0;
  const closedToday = t?.by_day.find((d) => d.date === today)?.positions_closed ?? 0;
  const attention = (positions.data?.positions ?? [])
    .map((p) => ({ p, reasons: attentionReasons(p) }))
    .filter((x) => x.reasons.length > 0);
  const pendingCount = pending.data?.proposals.length ?? null;

  return (
    <>
      <section className="panel" aria-labelledby="state-heading" data-testid="trading-state" data-state={state ?? ''} data-mode={r?.now_mode}>
        <h2 id="state-heading">Trading state</h2>
        <ul className="badges" aria-label="Trading state">
          <li>
            <span className="badge-label">State</span>
            <Badge tone={r ? modeTone(r.now_mode) : state === 'active' ? 'ok' : state === null ? 'neutral' : 'bad'} testId="state-badge">
              {state ?? 'loading'}
            </Badge>
          </li>
          <li>
            <span className="badge-label">Kill switch</span>
            <Badge tone={killOn ? 'bad' : 'ok'} testId="today-kill-switch">
              {ks.data ? (killOn ? 'on' : 'off') : '—'}
            </Badge>
          </li>
          <li>
            <span className="badge-label">Books vs broker</span>
            <Badge tone={noEngine ? 'neutral' : drift ? 'bad' : 'ok'} testId="today-reconciliation">
              {noEngine ? 'n/a' : !recon.data ? '—' : drift ? 'drift' : recon.data.agrees ? 'agree' : 'drift acknowledged'}
            </Badge>
          </li>
          <li>
            <span className="badge-label">Pending proposals</span>
            <Link to="/proposals" data-testid="today-pending">
              {pendingCount === null ? '—' : pendingCount}
            </Link>
          </li>
        </ul>
        {r ? (
          <>
            <StateReasons risk={r} now={now} />
            {reached.length > 0 ? (
              <p className="notice notice-bad small" data-testid="limits-reached">
                Limit reached: {reached.map((l) => l.name.replace(/_/g, ' ')).join(', ')}.
              </p>
            ) : null}
            <details className="limits-details">
              <summary>Limits and their use ({r.limits.length})</summary>
              <LimitsTable limits={r.limits} />
            </details>
            <p className="small">
              <Link to="/control">Halt, reduce or resume on the Control page</Link>
            </p>
          </>
        ) : killOn ? (
          <p className="small">
            Halted by the kill switch{ks.data?.updated_by ? ` (${ks.data.updated_by}, ${formatTime(ks.data.updated_at, now)})` : ''}: no approvals or entry orders.{' '}
            <Link to="/control">Control</Link>
          </p>
        ) : null}
      </section>

      {drift ? <DriftBanner recon={drift} positions={positions.data?.positions ?? []} now={now} /> : null}

      <section className="panel" aria-labelledby="pnl-heading" data-testid="today-pnl">
        <h2 id="pnl-heading">P&L</h2>
        {noEngine ? (
          <p className="muted">This Worker has no positions API yet.</p>
        ) : !t ? (
          <p className="muted">Loading…</p>
        ) : (
          <dl className="facts facts-wide">
            <div>
              <dt>Realized today ({today})</dt>
              <dd data-testid="pnl-realized-today" className={pnlClass(realizedToday)}>
                {formatPnl(realizedToday)}
                {closedToday > 0 ? ` · ${closedToday} closed` : ''}
              </dd>
            </div>
            <div>
              <dt>Open P&L (mid)</dt>
              <dd data-testid="pnl-open-mid" className={pnlClass(t.unrealized_mid)}>
                {formatPnl(t.unrealized_mid)}
              </dd>
            </div>
            <div>
              <dt>Open P&L (natural)</dt>
              <dd className={pnlClass(t.unrealized_natural)}>{formatPnl(t.unrealized_natural)}</dd>
            </div>
            <div>
              <dt>Open positions</dt>
              <dd data-testid="pnl-open-positions">
                <Link to="/positions">{t.open_positions}</Link>
                {t.unmarked_positions > 0 ? ` (${t.unmarked_positions} unmarked, not counted)` : ''}
              </dd>
            </div>
            <div>
              <dt>Realized, all time</dt>
              <dd className={pnlClass(t.realized)}>{formatPnl(t.realized)}</dd>
            </div>
            <div>
              <dt>Commissions, all time</dt>
              <dd>{formatMoney(t.commissions)}</dd>
            </div>
          </dl>
        )}
      </section>

      <section className="panel" aria-labelledby="attention-heading" data-testid="attention">
        <h2 id="attention-heading">Needs attention</h2>
        {noEngine ? (
          <p className="muted">—</p>
        ) : !positions.isFetched ? (
          <p className="muted">Loading…</p>
        ) : attention.length === 0 ? (
          <p className="muted" data-testid="attention-none">
            Nothing: every open position is marked and its exits are running.
          </p>
        ) : (
          <ul className="audit-list">
            {attention.map(({ p, reasons }) => (
              <li key={p.id} data-testid="attention-item" data-position-id={p.id}>
                <Link to={`/positions/${p.id}`}>
                  {p.symbol} · {humanize(p.strategy)}
                </Link>{' '}
                <span className="small">{reasons.join(' · ')}</span>
              </li>
            ))}
          </ul>
        )}
      </section>

      <HealthPanel placeholder={health.isFetched ? 'Could not load.' : 'Loading…'} health={health.data ?? null} fetchedAt={health.dataUpdatedAt || null} now={now} />

      <section className="panel" aria-labelledby="data-types-heading" data-testid="today-data-types">
        <h2 id="data-types-heading">Market data by symbol</h2>
        {!quotes.data ? (
          <p className="muted">{quotes.isFetched ? 'Could not load.' : 'Loading…'}</p>
        ) : quotes.data.quotes.length === 0 ? (
          <p className="muted">No quote stored yet.</p>
        ) : (
          <ul className="badges" aria-label="Market data type per symbol">
            {Object.entries(
              quotes.data.quotes.reduce<Record<string, string[]>>((acc, q) => {
                (acc[q.data_type] ??= []).push(q.symbol);
                return acc;
              }, {}),
            ).map(([type, symbols]) => (
              <li key={type} data-testid="data-type-group" data-type={type}>
                <Badge tone={dataTypeTone(type)}>{type.replace(/_/g, ' ')}</Badge> <span className="small">{symbols.join(', ')}</span>
              </li>
            ))}
          </ul>
        )}
      </section>

      <section className="panel" aria-labelledby="runs-heading" data-testid="today-runs">
        <h2 id="runs-heading">Schedules</h2>
        <dl className="facts facts-wide">
          <div>
            <dt>Last position monitor run (every minute)</dt>
            <dd>{noEngine ? 'n/a' : runs.data ? <MonitorRunLine run={runs.data.runs[0] ?? null} now={now} /> : '—'}</dd>
          </div>
          <div>
            <dt>Next ingestion run (every 15 min)</dt>
            <dd data-testid="next-cron">{formatTime(new Date(nextQuarterHour(now)).toISOString(), now)} (market hours only in production)</dd>
          </div>
        </dl>
      </section>
    </>
  );
}
