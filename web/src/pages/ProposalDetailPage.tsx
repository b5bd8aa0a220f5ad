import { lazy, Suspense } from 'react';
import { Link, useParams } from 'react-router';
import { Badge } from '../components/Badge';
import { DecisionPanel } from '../components/DecisionPanel';
import { formatEntry, formatMoney, formatNumber, formatPercent, formatPrice, formatTime, humanize } from '../format';
import { LimitsTable } from '../components/RiskPanel';
import { riskCheckLines } from '../messages';
import { isMissingRoute, useAudit, useProposal, useRisk } from '../queries';
import { useNow } from '../useNow';
import { statusTone } from './ProposalsPage';
import type { StoredRiskCheck } from '../api';
import { checkedAt, checkUse, checkVerdict, storedCheckTitle } from '../storedChecks';

// uPlot is only needed here: its own chunk keeps the initial JS small.
const PayoffChart = lazy(() => import('../components/PayoffChart'));

function Fact({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd data-testid={testId}>{value}</dd>
    </div>
  );
}

export function ProposalDetailPage() {
  const { id = '' } = useParams();
  const query = useProposal(id);
  const now = useNow();
  const p = query.data;
  if (!p) {
    return (
      <section className="panel">
        <h2>Proposal {id}</h2>
        <p className="muted">{query.error ? `Could not load: ${query.error.message}` : 'Loading…'}</p>
        <Link to="/proposals">All proposals</Link>
      </section>
    );
  }
  const status = p.status ?? 'pending';
  const spot = p.quote_snapshot?.spot ?? null;
  const breakevens = p.breakevens ?? [];
  const factors = p.score_breakdown?.factors ?? [];
  const exit = p.exit_plan;
  return (
    <>
      <section className="panel" aria-labelledby="proposal-heading" data-testid="proposal-detail" data-proposal-id={p.id} data-status={status}>
        <p className="small">
          <Link to="/proposals">← All proposals</Link>
        </p>
        <div className="opp-head">
          <h2 id="proposal-heading">
            {p.symbol} · {humanize(p.strategy)}
          </h2>
          <Badge tone={statusTone(status)} testId="proposal-status">
            {status}
          </Badge>
        </div>
        <p className="muted small">
          Created {formatTime(p.created_at, now)} · expires {formatTime(p.expires_at, now)}
          {spot !== null ? ` · spot ${formatPrice(spot)}` : ''}
          {p.quote_snapshot?.data_type ? ` · ${p.quote_snapshot.data_type.replace(/_/g, ' ')} data` : ''}
        </p>
        <dl className="facts">
          <Fact label="Entry (mid)" value={formatEntry(p.entry?.net_price_mid)} testId="entry-mid" />
          <Fact label="Entry (natural)" value={formatEntry(p.entry?.net_price_natural)} />
          <Fact label="Contracts" value={String(p.contracts ?? '—')} />
          <Fact label="Max profit / contract" value={formatMoney(p.max_profit)} />
          <Fact label="Max loss / contract" value={formatMoney(p.max_loss)} />
          <Fact label="Total max loss" value={formatMoney(p.total_max_loss)} />
          <Fact label="Breakevens" value={breakevens.length ? breakevens.map((b) => formatPrice(b)).join(' / ') : '—'} />
          <Fact label="PoP" value={formatPercent(p.probability_of_profit)} />
          <Fact label="EV / contract" value={formatMoney(p.expected_value)} />
        </dl>
      </section>

      <DecisionPanel proposal={p} />

      <section className="panel" aria-labelledby="legs-heading">
        <h2 id="legs-heading">Legs</h2>
        <div className="table-scroll">
          <table className="data-table" data-testid="legs-table">
            <thead>
              <tr>
                <th scope="col">Side</th>
                <th scope="col" className="num">Qty</th>
                <th scope="col" className="num">Strike</th>
                <th scope="col">Right</th>
                <th scope="col">Expiry</th>
                <th scope="col" className="num">Bid</th>
                <th scope="col" className="num">Ask</th>
                <th scope="col" className="num">Mid</th>
              </tr>
            </thead>
            <tbody>
              {(p.legs ?? []).map((leg, i) => (
                <tr key={i} data-testid="leg-row">
                  <th scope="row">{leg.action}</th>
                  <td className="num" data-label="Qty">{leg.ratio * (p.contracts ?? 1)}</td>
                  <td className="num" data-label="Strike">{formatPrice(leg.strike)}</td>
                  <td data-label="Right">{leg.right === 'P' ? 'put' : leg.right === 'C' ? 'call' : leg.right}</td>
                  <td data-label="Expiry">{leg.expiry}</td>
                  <td className="num" data-label="Bid">{formatPrice(leg.quote?.bid)}</td>
                  <td className="num" data-label="Ask">{formatPrice(leg.quote?.ask)}</td>
                  <td className="num" data-label="Mid">{formatPrice(leg.quote?.mid)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>

      <section className="panel" aria-labelledby="payoff-heading">
        <h2 id="payoff-heading">Payoff at expiry and today</h2>
        {p.payoff_curve && p.payoff_curve.length > 1 ? (
          <Suspense fallback={<p className="muted">Loading chart…</p>}>
            <PayoffChart curve={p.payoff_curve} spot={spot} breakevens={breakevens} legs={p.legs} />
          </Suspense>
        ) : (
          <p className="muted">No payoff curve.</p>
        )}
        <p className="muted small">P&L per contract set ($) against the underlying: solid at expiry (the Worker's curve), dashed today; vertical lines: spot and breakevens.</p>
      </section>

      <section className="panel" aria-labelledby="greeks-heading">
        <h2 id="greeks-heading">Position greeks</h2>
        <dl className="facts">
          <Fact label="Delta" value={formatNumber(p.greeks?.delta, 2)} />
          <Fact label="Gamma" value={formatNumber(p.greeks?.gamma, 3)} />
          <Fact label="Theta / day" value={formatNumber(p.greeks?.theta_per_day, 2)} />
          <Fact label="Vega / point" value={formatNumber(p.greeks?.vega_per_point, 2)} />
        </dl>
      </section>

      <section className="panel" aria-labelledby="score-heading">
        <h2 id="score-heading">Score {formatNumber(p.score, 0)} / 100</h2>
        <div className="table-scroll">
          <table className="factors" data-testid="score-factors">
            <thead>
              <tr>
                <th scope="col">Factor</th>
                <th scope="col" className="num">Value</th>
                <th scope="col" className="num">Weight</th>
                <th scope="col" className="num">Points</th>
              </tr>
            </thead>
            <tbody>
              {factors.map((f) => (
                <tr key={f.name} className={f.normalized === null ? 'missing' : undefined}>
                  <th scope="row">
                    <span className="factor-name">{humanize(f.name)}</span>
                    <span className="factor-label">{f.label}</span>
                  </th>
                  <td className="num">{formatNumber(f.normalized, 0)}</td>
                  <td className="num">{formatNumber(f.weight, 1)}</td>
                  <td className="num">{f.normalized === null ? '—' : formatNumber(f.contribution, 1)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>

      <section className="panel" aria-labelledby="rationale-heading">
        <h2 id="rationale-heading">Rationale</h2>
        <p className="rationale" data-testid="rationale">
          {p.rationale}
        </p>
      </section>

      <section className="panel" aria-labelledby="exit-heading">
        <h2 id="exit-heading">Exit plan</h2>
        <dl className="facts" data-testid="exit-plan">
          <Fact label="Take profit" value={exit?.take_profit ? `${formatMoney(exit.take_profit.pnl)} (mark ${formatPrice(exit.take_profit.mark_value)})` : '—'} />
          <Fact
            label="Stop loss"
            value={exit?.stop_loss ? `${formatMoney(exit.stop_loss.pnl)} (mark ${formatPrice(exit.stop_loss.mark_value)})${exit.stop_capped_at_max_loss ? ', capped at max loss' : ''}` : '—'}
          />
          <Fact label="Time exit" value={exit?.time_exit_date ? `${exit.time_exit_date} (${exit.time_exit_dte ?? '—'} DTE)` : '—'} />
          {exit?.trailing_stop_fraction ? <Fact label="Trailing stop" value={formatPercent(exit.trailing_stop_fraction, 0)} /> : null}
        </dl>
      </section>

      <RiskChecks id={p.id} pending={status === 'pending'} stored={p.risk_checks ?? []} />
    </>
  );
}

/**
 * The risk section. A pending proposal: the limits the approval's pre-trade checks
 * apply, with their use on the book now (`GET /risk`). A decided one: the checks
 * stored with its approval (and a refused resend), each limit with its use then,
 * its verdict, when and by whom (`risk_checks` of `GET /proposals/{id}`).
 * Refused approval attempts come from the audit log either way.
 */
function RiskChecks({ id, pending, stored }: { id: string; pending: boolean; stored: StoredRiskCheck[] }) {
  const risk = useRisk();
  const now = useNow();
  // Refused attempts keep their verdict in the audit log (`approval_refused`, `details.risk`).
  const audit = useAudit({ proposal: id, action: 'approval_refused' }, 50);
  const refused = (audit.data?.entries ?? []).filter((e) => e.details && e.details.risk);
  const riskMissing = risk.error !== null && risk.error !== undefined && isMissingRoute(risk.error);
  if (riskMissing && stored.length === 0) return null;
  return (
    <section className="panel" aria-labelledby="risk-checks-heading" data-testid="proposal-risk">
      <h2 id="risk-checks-heading">Risk checks</h2>
      <p className="small">
        {pending
          ? 'Approving re-prices the trade and checks it against every limit below on the book as it is then; a refusal lists each check with its use of the limit.'
          : stored.length > 0
            ? 'The checks below are the ones stored with the decision: each limit with its use at that time.'
            : 'No pre-trade checks are stored with this proposal (only an approval stores them).'}{' '}
        {riskMissing ? null : (
          <>
            Trading state now: <strong data-testid="proposal-risk-mode">{risk.data?.now_mode ?? '…'}</strong>.
          </>
        )}
      </p>
      {stored.map((c, i) => (
        <div key={`${c.at}-${i}`} data-testid="stored-risk-check" data-approved={String(c.approved)} data-unreadable={String(c.unreadable)}>
          <h3 className="small">
            {storedCheckTitle(c)} · <span data-testid="stored-risk-check-when">{formatTime(checkedAt(c.at), now)}</span> ·{' '}
            <span data-testid="stored-risk-check-actor">{c.actor}</span>
            {c.contracts !== null ? ` · ${c.contracts} contract${c.contracts === 1 ? '' : 's'}` : ''}
          </h3>
          {c.unreadable ? (
            <p className="muted small">The stored report could not be read.</p>
          ) : (
            <div className="table-scroll">
              <table className="data-table" data-testid="stored-risk-check-table">
                <caption className="muted small">Each limit with its use at {c.approved ? 'approval' : 'the resend'} and the verdict.</caption>
                <thead>
                  <tr>
                    <th scope="col">Check</th>
                    <th scope="col" className="num">Use of limit</th>
                    <th scope="col">Verdict</th>
                  </tr>
                </thead>
                <tbody>
                  {c.checks.map((line) => (
                    <tr key={line.name} data-testid="stored-check-row" data-check={line.name} data-verdict={line.verdict}>
                      <th scope="row">{humanize(line.name)}</th>
                      <td className="num" data-label="Use of limit">{checkUse(line)}</td>
                      <td data-label="Verdict">{checkVerdict(line)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      ))}
      {refused.length > 0 ? (
        <div data-testid="risk-attempts">
          <h3 className="small">Refused approval attempts</h3>
          <ul className="audit-list">
            {refused.map((e) => (
              <li key={e.id} data-testid="risk-attempt">
                <span className="muted small">
                  {formatTime(e.at, now)} · {e.actor}
                </span>
                {riskCheckLines(e.details?.risk).map((line) => (
                  <div key={line} className="small">
                    {line}
                  </div>
                ))}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {pending && !riskMissing ? (
        <>
          <h3 className="small">Limit use now</h3>
          {risk.data ? <LimitsTable limits={risk.data.limits} /> : <p className="muted">Loading…</p>}
        </>
      ) : null}
    </section>
  );
}
