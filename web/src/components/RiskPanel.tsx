import type { LimitUse, RiskOverview, TradingMode } from '../api';
import { formatTime } from '../format';
import { formatLimitValue, limitFraction, limitLabel, limitTone, stateReasons } from '../risk';
import { Badge, type Tone } from './Badge';

export function modeTone(mode: TradingMode | null | undefined): Tone {
  return mode === 'active' ? 'ok' : mode === 'reducing' ? 'warn' : mode === 'halted' ? 'bad' : 'neutral';
}

/** Why the state is what it is: every halt, reducing, paused exits and cooldown with who/why/when. */
export function StateReasons({ risk, now }: { risk: RiskOverview; now: number }) {
  const reasons = stateReasons(risk.now);
  const storedDiffers = risk.stored.mode !== risk.now_mode;
  return (
    <>
      {reasons.length === 0 ? (
        <p className="small" data-testid="risk-reasons-none">
          No halt, no reduce-only, no cooldown: new trades may pass the pre-trade checks.
        </p>
      ) : (
        <ul className="risk-reasons" data-testid="risk-reasons">
          {reasons.map((r) => (
            <li key={r.key} data-key={r.key} data-testid="risk-reason">
              <strong>{r.title}</strong>: {r.reason}{' '}
              <span className="muted small">
                ({r.by}, {formatTime(r.at, now)}
                {r.until ? `; until ${formatTime(r.until, now)}` : ''})
              </span>
            </li>
          ))}
        </ul>
      )}
      {storedDiffers ? (
        <p className="muted small" data-testid="risk-stored-differs">
          Stored state: {risk.stored.mode} (the approvals' guard reads it); the next monitor run stores {risk.now_mode}.
        </p>
      ) : null}
    </>
  );
}

function LimitRow({ l }: { l: LimitUse }) {
  const fraction = limitFraction(l);
  const tone = limitTone(l);
  return (
    <tr data-testid="risk-limit" data-name={l.name} data-reached={l.reached === null ? '' : String(l.reached)}>
      <th scope="row">{limitLabel(l.name)}</th>
      <td className="num" data-label="Used">
        {formatLimitValue(l.used, l.unit)}
      </td>
      <td className="num" data-label="Limit">
        {formatLimitValue(l.limit, l.unit)}
      </td>
      <td data-label="Use">
        {fraction === null ? (
          <Badge tone="neutral">{l.used === null ? 'unknown' : 'n/a'}</Badge>
        ) : (
          <span className="limit-use">
            <span className="progress-track" aria-hidden="true">
              <span className={`progress-fill limit-${tone}`} style={{ width: `${Math.round(fraction * 100)}%` }} />
            </span>
            <span className="small">{l.reached ? 'reached' : `${Math.round(fraction * 100)}%`}</span>
          </span>
        )}
      </td>
    </tr>
  );
}

/** Every limit with its current use (`GET /risk` `limits`). */
export function LimitsTable({ limits }: { limits: LimitUse[] }) {
  return (
    <table className="data-table limits-table" data-testid="risk-limits">
      <caption className="muted small">Limits and their use now (a trade is checked against them again at approval).</caption>
      <thead>
        <tr>
          <th scope="col">Limit</th>
          <th scope="col" className="num">Used</th>
          <th scope="col" className="num">Limit</th>
          <th scope="col">Use</th>
        </tr>
      </thead>
      <tbody>
        {limits.map((l) => (
          <LimitRow key={l.name} l={l} />
        ))}
      </tbody>
    </table>
  );
}
