import type { IngestRuns } from '../api';
import { formatDuration, formatTime } from '../format';
import { Badge, runStatusTone } from './Badge';

interface RunsPanelProps {
  /** Shown while there is no data: loading, or why it could not load. */
  placeholder: string;
  runs: IngestRuns | null;
  now: number;
}

/** The most recent ingestion runs, newest first. */
export function RunsPanel({ placeholder, runs, now }: RunsPanelProps) {
  const list = runs?.runs ?? [];
  return (
    <section className="panel" aria-labelledby="runs-heading" data-testid="runs">
      <h2 id="runs-heading">Recent ingestion runs</h2>
      {runs === null ? (
        <p className="muted" data-testid="placeholder">{placeholder}</p>
      ) : list.length === 0 ? (
        <p className="muted" data-testid="runs-empty">
          No ingestion has run yet.
        </p>
      ) : (
        <table className="data-table runs-table" data-testid="runs-table">
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">Status</th>
              <th scope="col" className="num">
                Ok / failed
              </th>
              <th scope="col" className="num">
                Rows
              </th>
              <th scope="col" className="num">
                Took
              </th>
              <th scope="col">Trigger</th>
            </tr>
          </thead>
          <tbody>
            {list.map((r) => (
              <tr key={r.id} data-testid="run-row" data-run-id={r.id} data-status={r.status}>
                <th scope="row" title={r.started_at}>
                  {formatTime(r.started_at, now)}
                </th>
                <td className="c-status" data-label="Status">
                  <span>
                    <Badge tone={runStatusTone(r.status)} testId="run-status">
                      {r.status}
                    </Badge>
                    {r.error ? <span className="run-error">{r.error}</span> : null}
                  </span>
                </td>
                <td className="num" data-label="Symbols ok / failed">
                  <span>
                    {r.symbols_ok} / <span className={r.symbols_failed > 0 ? 'bad-text' : undefined}>{r.symbols_failed}</span>
                  </span>
                </td>
                <td className="num" data-label="Rows">
                  <span>{r.rows_written}</span>
                </td>
                <td className="num" data-label="Took">
                  <span>{formatDuration(r.started_at, r.finished_at)}</span>
                </td>
                <td data-label="Trigger">
                  <span>{r.trigger}</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
