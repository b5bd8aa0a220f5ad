import { useId, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { Badge } from '../components/Badge';
import { RunsPanel } from '../components/RunsPanel';
import { formatTime, humanize } from '../format';
import { explainActionError } from '../messages';
import type { TradingMode } from '../api';
import { LimitsTable, modeTone, StateReasons } from '../components/RiskPanel';
import { haltCauseText } from '../risk';
import { isMissingRoute, useAudit, useKillSwitch, useRisk, useRuns, useSetAllExitsPaused, useSetKillSwitch, useSetStrategy, useSetTradingState, useStrategies } from '../queries';
import { useNow } from '../useNow';

function KillSwitchPanel({ now }: { now: number }) {
  const ks = useKillSwitch();
  const setKs = useSetKillSwitch();
  const [confirming, setConfirming] = useState(false);
  const [reason, setReason] = useState('');
  const reasonId = useId();
  const on = ks.data?.on;
  const next = !on;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (reason.trim() === '') return;
    setKs.mutate(
      { on: next, reason: reason.trim() },
      {
        onSuccess: () => {
          setConfirming(false);
          setReason('');
        },
      },
    );
  };
  return (
    <section className="panel" aria-labelledby="ks-heading" data-testid="kill-switch" data-on={on === undefined ? '' : String(on)}>
      <h2 id="ks-heading">Kill switch</h2>
      {ks.data ? (
        <p>
          <Badge tone={on ? 'bad' : 'ok'} testId="kill-switch-state">
            {on ? 'ON: no approvals, no orders' : 'off: trading allowed'}
          </Badge>{' '}
          <span className="muted small">
            since {formatTime(ks.data.updated_at, now)}
            {ks.data.updated_by ? ` by ${ks.data.updated_by}` : ''}
          </span>
        </p>
      ) : (
        <p className="muted">Loading…</p>
      )}
      {setKs.error ? (
        <p className="notice notice-bad" role="alert">
          {explainActionError(setKs.error).title}
        </p>
      ) : null}
      {ks.data && !confirming ? (
        <button type="button" className={on ? 'primary' : 'danger'} onClick={() => setConfirming(true)} data-testid="kill-switch-toggle">
          {on ? 'Turn kill switch off…' : 'Turn kill switch on…'}
        </button>
      ) : null}
      {confirming ? (
        <form className="confirm" onSubmit={submit} data-testid="kill-switch-confirm">
          <p className="strong">
            {next ? 'Stop all approvals and orders (working orders are not cancelled by this switch)?' : 'Allow approvals and orders again?'}
          </p>
          <label htmlFor={reasonId}>Reason (required, audited)</label>
          <input id={reasonId} value={reason} onChange={(e) => setReason(e.target.value)} required maxLength={300} />
          <div className="actions">
            <button type="submit" className={next ? 'danger' : 'primary'} disabled={setKs.isPending || reason.trim() === ''} data-testid="kill-switch-confirm-button" aria-busy={setKs.isPending}>
              {setKs.isPending ? 'Saving…' : next ? 'Confirm: turn on' : 'Confirm: turn off'}
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        </form>
      ) : null}
    </section>
  );
}

const MODE_ACTIONS: Array<{ mode: TradingMode; label: string; question: string; tone: 'danger' | 'primary' | '' }> = [
  { mode: 'halted', label: 'Halt…', question: 'Halt trading? No new entries; the kill switch turns on in the same step (exits keep running).', tone: 'danger' },
  { mode: 'reducing', label: 'Reduce only…', question: 'Allow only trades that lower exposure?', tone: '' },
  { mode: 'active', label: 'Resume…', question: 'Resume trading? This clears your halt (the kill switch) and reduce-only; a limit still broken halts again at the next evaluation.', tone: 'primary' },
];

/** The trading state from `GET /risk` with the trader's halt / reduce / resume (`POST /risk/state`, confirmed). */
function TradingStatePanel({ now }: { now: number }) {
  const risk = useRisk();
  const setState = useSetTradingState();
  const [target, setTarget] = useState<TradingMode | null>(null);
  const [reason, setReason] = useState('');
  const [clear, setClear] = useState<string[]>([]);
  const reasonId = useId();
  const r = risk.data;
  if (risk.error && isMissingRoute(risk.error)) {
    return (
      <section className="panel" aria-labelledby="risk-heading">
        <h2 id="risk-heading">Trading state</h2>
        <p className="muted">This Worker has no risk engine API yet: the kill switch below is the control.</p>
      </section>
    );
  }
  const automatic = (r?.now.halts ?? []).filter((h) => h.cause !== 'kill_switch').map((h) => h.cause);
  const action = MODE_ACTIONS.find((a) => a.mode === target) ?? null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!target || reason.trim() === '') return;
    setState.mutate(
      { state: target, reason: reason.trim(), ...(target === 'active' && clear.length > 0 ? { clear } : {}) },
      {
        onSuccess: () => {
          setTarget(null);
          setReason('');
          setClear([]);
        },
      },
    );
  };
  return (
    <section className="panel" aria-labelledby="risk-heading" data-testid="risk-state" data-mode={r?.now_mode ?? ''}>
      <h2 id="risk-heading">Trading state</h2>
      {!r ? (
        <p className="muted">{risk.isFetched ? 'Could not load.' : 'Loading…'}</p>
      ) : (
        <>
          <p>
            <Badge tone={modeTone(r.now_mode)} testId="risk-mode">
              {r.now_mode}
            </Badge>{' '}
            <span className="muted small">
              stored {r.stored.mode} · version {r.stored.version} · by {r.stored.updated_by}, {formatTime(new Date(r.stored.updated_at).toISOString(), now)}
            </span>
          </p>
          <StateReasons risk={r} now={now} />
          {setState.error ? (
            <p className="notice notice-bad" role="alert" data-testid="risk-state-error">
              {explainActionError(setState.error).title}
            </p>
          ) : null}
          {setState.data && !target ? (
            <p className="small" role="status" data-testid="risk-state-result">
              {setState.data.changes.length === 0 ? 'Nothing changed.' : `Now ${setState.data.state.mode}: ${setState.data.changes.length} change(s) audited.`}
            </p>
          ) : null}
          {!target ? (
            <div className="actions">
              {MODE_ACTIONS.filter((a) =>
                // Offer what would change something: halt unless the trader's halt stands, reduce unless reducing, resume unless plainly active.
                a.mode === 'halted' ? !r.kill_switch_on : a.mode === 'reducing' ? r.now.reducing === null : r.now_mode !== 'active' || r.kill_switch_on,
              ).map((a) => (
                <button key={a.mode} type="button" className={a.tone} onClick={() => setTarget(a.mode)} data-testid={`risk-${a.mode}`}>
                  {a.label}
                </button>
              ))}
            </div>
          ) : (
            <form className="confirm" onSubmit={submit} data-testid="risk-confirm" data-target={target}>
              <p className="strong">{action?.question}</p>
              {target === 'active' && automatic.length > 0 ? (
                <fieldset className="clear-causes">
                  <legend className="small">Also clear now (raised again at the next evaluation while its condition holds)</legend>
                  {automatic.map((cause) => (
                    <label key={cause} className="check">
                      <input
                        type="checkbox"
                        checked={clear.includes(cause)}
                        onChange={(e) => setClear(e.target.checked ? [...clear, cause] : clear.filter((c) => c !== cause))}
                      />{' '}
                      {haltCauseText(cause)}
                    </label>
                  ))}
                </fieldset>
              ) : null}
              <label htmlFor={reasonId}>Reason (required, audited)</label>
              <input id={reasonId} value={reason} onChange={(e) => setReason(e.target.value)} required maxLength={300} data-testid="risk-reason-input" />
              <div className="actions">
                <button
                  type="submit"
                  className={action?.tone === 'danger' ? 'danger' : 'primary'}
                  disabled={setState.isPending || reason.trim() === ''}
                  data-testid="risk-confirm-button"
                  aria-busy={setState.isPending}
                >
                  {setState.isPending ? 'Saving…' : `Confirm: ${target === 'halted' ? 'halt' : target === 'reducing' ? 'reduce only' : 'resume'}`}
                </button>
                <button type="button" onClick={() => setTarget(null)}>
                  Cancel
                </button>
              </div>
            </form>
          )}
          <ExitsSwitch paused={r.now.exits_paused !== null} />
          <LimitsTable limits={r.limits} />
        </>
      )}
    </section>
  );
}

/** The trader's pause of every automated exit (`POST /risk/exits`, reason required, confirmed). */
function ExitsSwitch({ paused }: { paused: boolean }) {
  const set = useSetAllExitsPaused();
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const reasonId = useId();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (reason.trim() === '') return;
    set.mutate({ paused: !paused, reason: reason.trim() }, { onSuccess: () => { setOpen(false); setReason(''); } });
  };
  return (
    <div className="exits-switch" data-testid="exits-switch" data-paused={String(paused)}>
      <p className="small">
        Automated exits: <strong>{paused ? 'paused for every position' : 'running'}</strong> (your own Close now still works; the trading mode is separate).
      </p>
      {set.error ? (
        <p className="notice notice-bad" role="alert">
          {explainActionError(set.error).title}
        </p>
      ) : null}
      {!open ? (
        <button type="button" onClick={() => setOpen(true)} data-testid="exits-toggle">
          {paused ? 'Resume all exits…' : 'Pause all exits…'}
        </button>
      ) : (
        <form className="confirm" onSubmit={submit}>
          <p className="strong">{paused ? 'Let the exit rules close positions again?' : 'Stop every automated exit (take profit, stop loss, time exit) until you resume?'}</p>
          <label htmlFor={reasonId}>Reason for the exits (required, audited)</label>
          <input id={reasonId} value={reason} onChange={(e) => setReason(e.target.value)} required maxLength={300} />
          <div className="actions">
            <button type="submit" className={paused ? 'primary' : 'danger'} disabled={set.isPending || reason.trim() === ''} aria-busy={set.isPending} data-testid="exits-confirm-button">
              {set.isPending ? 'Saving…' : paused ? 'Confirm: resume exits' : 'Confirm: pause exits'}
            </button>
            <button type="button" onClick={() => setOpen(false)}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </div>
  );
}

/** Strategy switches (`GET`/`PUT /strategies`): a disabled strategy proposes nothing; its open positions are still managed. */
function StrategiesPanel({ now }: { now: number }) {
  const strategies = useStrategies();
  const setStrategy = useSetStrategy();
  const [editing, setEditing] = useState<string | null>(null);
  const [reason, setReason] = useState('');
  const reasonId = useId();
  if (strategies.error && isMissingRoute(strategies.error)) return null;
  const list = strategies.data?.strategies ?? [];
  const current = list.find((s) => s.strategy === editing) ?? null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!current || reason.trim() === '') return;
    setStrategy.mutate(
      { strategy: current.strategy, enabled: !current.enabled, reason: reason.trim() },
      {
        onSuccess: () => {
          setEditing(null);
          setReason('');
        },
      },
    );
  };
  return (
    <section className="panel" aria-labelledby="strategies-heading" data-testid="strategies">
      <h2 id="strategies-heading">Strategies</h2>
      <p className="muted small">A disabled strategy proposes nothing; its open positions keep their marks and exits.</p>
      {setStrategy.error ? (
        <p className="notice notice-bad" role="alert">
          {explainActionError(setStrategy.error).title}
        </p>
      ) : null}
      {list.length === 0 ? (
        <p className="muted">{strategies.isFetched ? 'Could not load.' : 'Loading…'}</p>
      ) : (
        <ul className="strategy-list">
          {list.map((s) => (
            <li key={s.strategy} data-testid="strategy" data-strategy={s.strategy} data-enabled={String(s.enabled)}>
              <span className="strategy-name">{humanize(s.strategy)}</span>{' '}
              <Badge tone={s.enabled ? 'ok' : 'warn'}>{s.enabled ? 'enabled' : 'disabled'}</Badge>
              {s.reason ? (
                <span className="muted small">
                  {' '}
                  {s.reason} ({s.updated_by ?? '?'}, {s.updated_at !== null ? formatTime(new Date(s.updated_at).toISOString(), now) : '—'})
                </span>
              ) : null}{' '}
              {editing !== s.strategy ? (
                <button type="button" className="link-button small" onClick={() => { setEditing(s.strategy); setReason(''); }} data-testid="strategy-toggle" aria-label={`${s.enabled ? 'Disable' : 'Enable'} ${humanize(s.strategy).toLowerCase()}`}>
                  {s.enabled ? 'Disable…' : 'Enable…'}
                </button>
              ) : null}
              {editing === s.strategy ? (
                <form className="confirm" onSubmit={submit} data-testid="strategy-confirm">
                  <label htmlFor={reasonId}>Reason to {s.enabled ? 'disable' : 'enable'} {humanize(s.strategy).toLowerCase()} (required, audited)</label>
                  <input id={reasonId} value={reason} onChange={(e) => setReason(e.target.value)} required maxLength={300} />
                  <div className="actions">
                    <button type="submit" className={s.enabled ? 'danger' : 'primary'} disabled={setStrategy.isPending || reason.trim() === ''} aria-busy={setStrategy.isPending} data-testid="strategy-confirm-button">
                      {setStrategy.isPending ? 'Saving…' : s.enabled ? 'Confirm: disable' : 'Confirm: enable'}
                    </button>
                    <button type="button" onClick={() => setEditing(null)}>
                      Cancel
                    </button>
                  </div>
                </form>
              ) : null}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function detailsText(details: Record<string, unknown> | null): string {
  if (!details) return '';
  return Object.entries(details)
    .filter(([, v]) => v !== null && typeof v !== 'object')
    .map(([k, v]) => `${k.replace(/_/g, ' ')}: ${typeof v === 'number' ? Math.round(v * 10_000) / 10_000 : String(v)}`)
    .join(' · ');
}

function AuditPanel({ now }: { now: number }) {
  const [proposal, setProposal] = useState('');
  const [position, setPosition] = useState('');
  const [action, setAction] = useState('');
  const [applied, setApplied] = useState({ proposal: '', position: '' });
  // Older pages: the `before` cursors walked so far (the last is in force).
  const [pages, setPages] = useState<number[]>([]);
  const proposalId = useId();
  const positionId = useId();
  const actionId = useId();
  const before = pages.at(-1) ?? null;
  // Every filter is applied by the Worker (`GET /audit?proposal=&position=&action=&before=`).
  const audit = useAudit({ ...applied, action, before }, 200);
  const entries = audit.data?.entries ?? [];
  const actions = audit.data?.actions ?? (action ? [action] : []);
  const nextBefore = audit.data?.next_before ?? null;
  return (
    <section className="panel" aria-labelledby="audit-heading" data-testid="audit">
      <h2 id="audit-heading">Audit log</h2>
      <form
        className="filter-grid"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied({ proposal, position });
          setPages([]);
        }}
      >
        <label htmlFor={proposalId}>Proposal id</label>
        <input id={proposalId} value={proposal} onChange={(e) => setProposal(e.target.value)} inputMode="numeric" placeholder="all" data-testid="audit-filter" />
        <label htmlFor={positionId}>Position id</label>
        <input id={positionId} value={position} onChange={(e) => setPosition(e.target.value)} inputMode="numeric" placeholder="all" data-testid="audit-filter-position" />
        <label htmlFor={actionId}>Kind</label>
        <select
          id={actionId}
          value={action}
          onChange={(e) => {
            setAction(e.target.value);
            setPages([]);
          }}
          data-testid="audit-filter-kind"
        >
          <option value="">all</option>
          {actions.map((a) => (
            <option key={a} value={a}>
              {humanize(a)}
            </option>
          ))}
        </select>
        <button type="submit">Filter</button>
      </form>
      {entries.length === 0 ? (
        <p className="muted">{audit.isFetched ? (audit.error ? 'Could not load.' : 'No entries.') : 'Loading…'}</p>
      ) : (
        <ul className="audit-list">
          {entries.map((e) => (
            <li key={e.id} data-testid="audit-entry" data-action={e.action} data-entity={e.entity} data-entity-id={e.entity_id ?? undefined}>
              <span className="muted small">{formatTime(e.at, now)}</span> <strong>{humanize(e.action)}</strong>{' '}
              {e.entity === 'proposal' && e.entity_id !== null ? (
                <Link to={`/proposals/${encodeURIComponent(e.entity_id)}`}>proposal {e.entity_id}</Link>
              ) : e.entity === 'position' && e.entity_id !== null ? (
                <Link to={`/positions/${encodeURIComponent(e.entity_id)}`}>position {e.entity_id}</Link>
              ) : (
                <span>
                  {e.entity} {e.entity_id}
                </span>
              )}
              {e.from_state || e.to_state ? (
                <span className="small">
                  {' '}
                  {e.from_state ?? '∅'} → {e.to_state ?? '∅'}
                </span>
              ) : null}
              <span className="muted small"> · {e.actor}</span>
              <div className="small audit-details">{detailsText(e.details)}</div>
            </li>
          ))}
        </ul>
      )}
      {nextBefore !== null || pages.length > 0 ? (
        <div className="actions">
          {pages.length > 0 ? (
            <button type="button" onClick={() => setPages([])} data-testid="audit-newest">
              Newest
            </button>
          ) : null}
          {nextBefore !== null ? (
            <button type="button" onClick={() => setPages([...pages, nextBefore])} data-testid="audit-older">
              Older entries
            </button>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}

/** Trading state and limits, kill switch, strategy switches, audit log (proposal / position / kind), ingestion runs. */
export function ControlPage() {
  const now = useNow();
  const runs = useRuns(20);
  return (
    <>
      <TradingStatePanel now={now} />
      <KillSwitchPanel now={now} />
      <StrategiesPanel now={now} />
      <AuditPanel now={now} />
      <RunsPanel placeholder={runs.isFetched ? 'Could not load.' : 'Loading…'} runs={runs.data ?? null} now={now} />
    </>
  );
}
