import { useId, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { Badge } from '../components/Badge';
import { RunsPanel } from '../components/RunsPanel';
import { formatTime, humanize } from '../format';
import { explainActionError } from '../messages';
import { useAudit, useKillSwitch, useRuns, useSetKillSwitch } from '../queries';
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

function detailsText(details: Record<string, unknown> | null): string {
  if (!details) return '';
  return Object.entries(details)
    .filter(([, v]) => v !== null && typeof v !== 'object')
    .map(([k, v]) => `${k.replace(/_/g, ' ')}: ${typeof v === 'number' ? Math.round(v * 10_000) / 10_000 : String(v)}`)
    .join(' · ');
}

function AuditPanel({ now }: { now: number }) {
  const [filter, setFilter] = useState('');
  const [applied, setApplied] = useState('');
  const inputId = useId();
  const audit = useAudit(applied);
  const entries = audit.data?.entries ?? [];
  return (
    <section className="panel" aria-labelledby="audit-heading" data-testid="audit">
      <h2 id="audit-heading">Audit log</h2>
      <form
        className="token-row filter-row"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(filter);
        }}
      >
        <label htmlFor={inputId}>Proposal id</label>
        <input id={inputId} value={filter} onChange={(e) => setFilter(e.target.value)} inputMode="numeric" placeholder="all" data-testid="audit-filter" />
        <button type="submit">Filter</button>
      </form>
      {entries.length === 0 ? (
        <p className="muted">{audit.isFetched ? 'No entries.' : 'Loading…'}</p>
      ) : (
        <ul className="audit-list">
          {entries.map((e) => (
            <li key={e.id} data-testid="audit-entry" data-action={e.action} data-entity-id={e.entity_id ?? undefined}>
              <span className="muted small">{formatTime(e.at, now)}</span> <strong>{humanize(e.action)}</strong>{' '}
              {e.entity === 'proposal' && e.entity_id !== null ? (
                <Link to={`/proposals/${encodeURIComponent(e.entity_id)}`}>proposal {e.entity_id}</Link>
              ) : (
                <span>{e.entity_id}</span>
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
    </section>
  );
}

/** Kill switch, audit log with a proposal filter, ingestion runs. */
export function ControlPage() {
  const now = useNow();
  const runs = useRuns(20);
  return (
    <>
      <KillSwitchPanel now={now} />
      <AuditPanel now={now} />
      <RunsPanel placeholder={runs.isFetched ? 'Could not load.' : 'Loading…'} runs={runs.data ?? null} now={now} />
    </>
  );
}
