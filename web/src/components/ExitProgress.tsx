import type { ExitProgress as Progress } from '../api';
import { formatPercent } from '../format';
import { clampFraction, formatPnl } from '../positions';

function Bar({ label, fraction, tone, text, testId }: { label: string; fraction: number | null; tone: 'up' | 'down'; text: string; testId: string }) {
  const shown = clampFraction(fraction);
  return (
    <div className="progress-row" data-testid={testId} data-fraction={shown ?? ''}>
      <span className="progress-label">{label}</span>
      <span className="progress-track" aria-hidden="true">
        <span className={`progress-fill progress-${tone}`} style={{ width: `${Math.round((shown ?? 0) * 100)}%` }} />
      </span>
      <span className="progress-text small">{text}</span>
    </div>
  );
}

/** Where a position stands against its take profit, stop loss and time exit. */
export function ExitProgressBars({ progress, compact = false }: { progress: Progress; compact?: boolean }) {
  const p = progress;
  const perUnit = p.pnl_per_unit;
  const tp = clampFraction(p.toward_take_profit);
  const sl = clampFraction(p.toward_stop_loss);
  const days = p.days_to_time_exit;
  return (
    <div className="exit-progress" data-testid="exit-progress">
      <Bar
        label="Take profit"
        fraction={tp}
        tone="up"
        testId="progress-take-profit"
        text={`${formatPnl(perUnit)} of ${formatPnl(p.take_profit_pnl)}${tp !== null ? ` (${formatPercent(tp, 0)})` : ''}${compact ? '' : ' per unit'}`}
      />
      <Bar
        label="Stop loss"
        fraction={sl}
        tone="down"
        testId="progress-stop-loss"
        text={`${formatPnl(perUnit)} of ${formatPnl(p.stop_loss_pnl)}${sl !== null ? ` (${formatPercent(sl, 0)})` : ''}${p.stop_breaches > 0 ? ` · ${p.stop_breaches}/${p.stop_confirmations} marks beyond` : ''}`}
      />
      <div className="progress-row" data-testid="progress-time-exit">
        <span className="progress-label">Time exit</span>
        <span className="progress-text small progress-wide">
          {p.time_exit_date} · {days > 0 ? `in ${days} day${days === 1 ? '' : 's'}` : days === 0 ? 'today' : `${-days} day${days === -1 ? '' : 's'} past`}
        </span>
      </div>
      {perUnit === null ? <p className="muted small">No trustworthy mark yet: progress unknown.</p> : null}
    </div>
  );
}
