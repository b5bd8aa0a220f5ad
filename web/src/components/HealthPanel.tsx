import type { Health } from '../api';
import { formatAge } from '../format';
import { Badge, type Tone } from './Badge';

/** Ingestion runs every 15 minutes; older than this means runs were missed. */
const STALE_AFTER_SECONDS = 35 * 60;

interface HealthPanelProps {
  /** Shown while there is no data: loading, or why it could not load. */
  placeholder: string;
  health: Health | null;
  fetchedAt: number | null;
  now: number;
}

function ingestTone(status: string, ageSeconds: number | null): Tone {
  if (status === 'failed') return 'bad';
  if (ageSeconds !== null && ageSeconds > STALE_AFTER_SECONDS) return 'warn';
  if (status === 'ok') return 'ok';
  return 'warn';
}

/** Badges for overall status, D1, bridge and the age of the last ingestion. */
export function HealthPanel({ placeholder, health, fetchedAt, now }: HealthPanelProps) {
  if (!health) {
    return (
      <section className="panel" aria-labelledby="health-heading" data-testid="health">
        <h2 id="health-heading">System health</h2>
        <p className="muted" data-testid="placeholder">{placeholder}</p>
      </section>
    );
  }
  const ingest = health.last_ingest;
  const elapsed = fetchedAt === null ? 0 : Math.max(0, (now - fetchedAt) / 1000);
  const ingestAge = ingest && ingest.age_seconds !== null ? ingest.age_seconds + elapsed : null;
  const latency = health.bridge.latency_ms;

  return (
    <section className="panel" aria-labelledby="health-heading" data-testid="health">
      <h2 id="health-heading">System health</h2>
      <ul className="badges" aria-label="Health checks">
        <li>
          <span className="badge-label">Overall</span>
          <Badge tone={health.status === 'ok' ? 'ok' : 'bad'} testId="health-overall">
            {health.status}
          </Badge>
        </li>
        {health.config ? (
          <li>
            <span className="badge-label">Config</span>
            <Badge tone={health.config.ok ? 'ok' : 'bad'} testId="health-config">
              {health.config.ok ? 'ok' : 'invalid'}
            </Badge>
          </li>
        ) : null}
        <li>
          <span className="badge-label">D1</span>
          <Badge tone={health.d1.ok ? 'ok' : 'bad'} testId="health-d1" title={health.d1.error ?? undefined}>
            {health.d1.ok ? 'ok' : `down${health.d1.error ? ` · ${health.d1.error}` : ''}`}
          </Badge>
        </li>
        <li>
          <span className="badge-label">Bridge</span>
          <Badge tone={health.bridge.ok ? 'ok' : 'bad'} testId="health-bridge" title={health.bridge.error ?? undefined}>
            {health.bridge.ok ? 'ok' : `down${health.bridge.error ? ` · ${health.bridge.error}` : ''}`}
            {health.bridge.ok && latency !== null && latency !== undefined ? ` · ${Math.round(latency)} ms` : ''}
          </Badge>
        </li>
        <li>
          <span className="badge-label">Last ingestion</span>
          {ingest ? (
            <Badge
              tone={ingestTone(ingest.status, ingestAge)}
              testId="health-last-ingest"
              title={ingest.finished_at ?? undefined}
            >
              {ingest.status} · {formatAge(ingestAge)}
            </Badge>
          ) : (
            <Badge tone="warn" testId="health-last-ingest">
              never
            </Badge>
          )}
        </li>
      </ul>
      <p className="muted small">Worker v{health.version}</p>
    </section>
  );
}
