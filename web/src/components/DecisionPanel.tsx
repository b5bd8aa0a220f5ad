import { useId, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import type { ApiError, ApproveResult, Proposal } from '../api';
import { formatEntry, formatMoney, formatPrice } from '../format';
import { explainActionError, orderStateText } from '../messages';
import { useApprove, useReject } from '../queries';

function Refusal({ error }: { error: ApiError }) {
  const explained = explainActionError(error);
  return (
    <div className="notice notice-bad" role="alert" data-testid="action-refusal" data-kind={explained.kind}>
      <p className="strong">{explained.title}</p>
      {explained.details.map((line) => (
        <p key={line}>{line}</p>
      ))}
      {explained.kind === 'kill_switch_on' ? <Link to="/control">Open Control</Link> : null}
    </div>
  );
}

function Approved({ result }: { result: ApproveResult }) {
  const r = result.repriced;
  return (
    <div className="notice notice-ok" role="status" data-testid="approve-result" data-order-status={result.order?.status ?? ''}>
      <p className="strong">Approved. {orderStateText(result.order)}.</p>
      {r ? (
        <p>
          Re-priced at {formatEntry(r.net_price_mid)} mid; limit {formatPrice(r.limit_price)} for {r.contracts ?? '—'} contracts
          {typeof r.price_move === 'number' ? ` (moved ${formatPrice(r.price_move)})` : ''}.
        </p>
      ) : null}
      {result.order_error ? <p>Order: {result.order_error}</p> : null}
    </div>
  );
}

/** Approve (confirmed) and Reject (with a reason, confirmed) for a pending proposal. */
export function DecisionPanel({ proposal }: { proposal: Proposal }) {
  const approve = useApprove(proposal.id);
  const reject = useReject(proposal.id);
  const [mode, setMode] = useState<'idle' | 'confirm-approve' | 'reject'>('idle');
  const [reason, setReason] = useState('');
  const [note, setNote] = useState('');
  const reasonId = useId();
  const noteId = useId();
  const busy = approve.isPending || reject.isPending;

  const onReject = (e: FormEvent) => {
    e.preventDefault();
    if (reason.trim() === '') return;
    reject.mutate({ reason: reason.trim() });
  };

  if (approve.isSuccess) return <Approved result={approve.data} />;
  if (reject.isSuccess) {
    return (
      <div className="notice" role="status" data-testid="reject-result">
        Rejected: {reject.data.decision_reason ?? reason}
      </div>
    );
  }

  const status = proposal.status ?? 'pending';
  if (status !== 'pending') {
    return (
      <div className="notice" role="status" data-testid="decided-state" data-status={status}>
        <p className="strong">
          {status === 'approved' ? `Approved. ${orderStateText(proposal.order)}.` : status === 'rejected' ? 'Rejected.' : `This proposal is ${status}.`}
        </p>
        {proposal.decision_reason ? <p>{status === 'rejected' ? 'Reason' : 'Note'}: {proposal.decision_reason}</p> : null}
      </div>
    );
  }

  return (
    <section className="panel decision" aria-labelledby="decision-heading" data-testid="decision">
      <h2 id="decision-heading">Decision</h2>
      <div aria-live="polite">
        {approve.error ? <Refusal error={approve.error} /> : null}
        {reject.error ? <Refusal error={reject.error} /> : null}
      </div>
      {mode === 'idle' ? (
        <div className="actions">
          <button type="button" className="primary" onClick={() => { approve.reset(); reject.reset(); setMode('confirm-approve'); }} data-testid="approve-button">
            Approve…
          </button>
          <button type="button" onClick={() => { approve.reset(); reject.reset(); setMode('reject'); }} data-testid="reject-button">
            Reject…
          </button>
        </div>
      ) : null}
      {mode === 'confirm-approve' ? (
        <div className="confirm" data-testid="approve-confirm">
          <p>
            Send a limit order for <strong>{proposal.contracts ?? '—'}</strong> × {proposal.symbol} at about{' '}
            <strong>{formatEntry(proposal.entry?.net_price_mid)}</strong> (max loss {formatMoney(proposal.total_max_loss ?? proposal.max_loss)})?
            The Worker re-prices with fresh quotes first.
          </p>
          <label htmlFor={noteId}>Note (optional)</label>
          <input id={noteId} value={note} onChange={(e) => setNote(e.target.value)} maxLength={500} disabled={busy} />
          <div className="actions">
            <button
              type="button"
              className="primary"
              disabled={busy}
              aria-busy={approve.isPending}
              data-testid="approve-confirm-button"
              onClick={() => approve.mutate(note.trim() ? { note: note.trim() } : {})}
            >
              {approve.isPending ? 'Re-pricing…' : 'Confirm approval'}
            </button>
            <button type="button" disabled={busy} onClick={() => setMode('idle')}>
              Cancel
            </button>
          </div>
        </div>
      ) : null}
      {mode === 'reject' ? (
        <form className="confirm" onSubmit={onReject} data-testid="reject-form">
          <label htmlFor={reasonId}>Reason for rejecting (required)</label>
          <input id={reasonId} value={reason} onChange={(e) => setReason(e.target.value)} required maxLength={500} disabled={busy} />
          <div className="actions">
            <button type="submit" disabled={busy || reason.trim() === ''} aria-busy={reject.isPending} data-testid="reject-confirm-button">
              {reject.isPending ? 'Rejecting…' : 'Confirm rejection'}
            </button>
            <button type="button" disabled={busy} onClick={() => setMode('idle')}>
              Cancel
            </button>
          </div>
        </form>
      ) : null}
    </section>
  );
}
