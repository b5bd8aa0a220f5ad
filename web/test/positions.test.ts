import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  attentionReasons,
  clampFraction,
  contractLabel,
  decisionText,
  driftText,
  explainPositionError,
  formatPnl,
  markRefusalText,
  maxDrawdown,
  refusedMarkReason,
} from '../src/positions.ts';

const CALL = { symbol: 'AAPL', type: 'option', right: 'C', expiry: '2027-01-08', strike: 275_000_000 };

test('contracts, P&L and fractions read like a trader says them', () => {
  assert.equal(contractLabel(CALL), 'AAPL 2027-01-08 275 C');
  assert.equal(contractLabel({ symbol: 'AAPL', type: 'stock' }), 'AAPL stock');
  assert.equal(contractLabel({ ...CALL, strike: 262_500_000 }), 'AAPL 2027-01-08 262.5 C');
  assert.equal(formatPnl(44), '+$44.00');
  assert.equal(formatPnl(-1386), '-$1,386');
  assert.equal(formatPnl(0), '$0.00');
  assert.equal(clampFraction(1.7), 1);
  assert.equal(clampFraction(-0.2), 0);
  assert.equal(clampFraction(null), null);
  assert.equal(maxDrawdown([100, 120, 90, 130, 125, null]), 30);
  assert.equal(maxDrawdown([1, 2, 3]), 0);
});

test('a refused mark says why in plain words', () => {
  assert.equal(markRefusalText({ code: 'stale', contract: CALL, age_secs: 720 }), 'the quote for AAPL 2027-01-08 275 C is stale (12 min old)');
  assert.equal(markRefusalText({ code: 'no_bid', contract: CALL }), 'no bid for AAPL 2027-01-08 275 C, a leg that would be sold to close');
  assert.match(markRefusalText({ code: 'wide_spread', contract: CALL, spread: 2.5, mid: 4 }), /spread on AAPL .* too wide \(2\.50 on a 4\.00 mid\)/);
  assert.match(markRefusalText({ code: 'crossed', contract: CALL, bid: 5, ask: 4.5 }), /bid 5\.00 above ask 4\.50/);
  assert.equal(markRefusalText({ code: 'something_new' }), 'the mark was refused (something new)');
  const mark = { ok: false, decision: { decision: 'rejected', reason: { code: 'missing_quote', contract: CALL } } };
  assert.equal(refusedMarkReason(mark), 'no quote for AAPL 2027-01-08 275 C');
  assert.equal(refusedMarkReason({ ok: true, decision: { decision: 'hold' } }), null);
  assert.equal(decisionText(mark.decision), 'Mark refused: no quote for AAPL 2027-01-08 275 C');
});

test('decisions of the exit rules', () => {
  assert.equal(decisionText({ decision: 'hold' }), 'Holding: no exit rule met');
  assert.equal(decisionText({ decision: 'confirming', reason: 'stop_loss', breaches: 1 }, 2), 'Stop loss level crossed: confirming (mark 1 of 2)');
  assert.equal(decisionText({ decision: 'exit', reason: 'take_profit', also: [] }), 'Exit: take profit');
  assert.equal(decisionText({ decision: 'closing', reason: 'manual' }), 'Closing: manual close');
  assert.equal(decisionText({ decision: 'paused', by: 'reconciliation_drift', mark_rejected: null }), 'Exits paused (a reconciliation drift stands)');
  assert.equal(decisionText({ decision: 'paused', by: 'trader', mark_rejected: { code: 'not_open' } }), 'Exits paused (paused by you); the position has no open legs to mark');
});

test('positions needing attention', () => {
  const base = { status: 'open', exit_reason: null, exits_paused: false, open_units: 2, mark: { ok: true, decision: { decision: 'hold' } } };
  assert.deepEqual(attentionReasons(base), []);
  assert.deepEqual(attentionReasons({ ...base, status: 'closed' }), []);
  assert.deepEqual(attentionReasons({ ...base, status: 'closing', exit_reason: 'stop_loss' }), ['closing (stop loss)']);
  assert.deepEqual(attentionReasons({ ...base, exits_paused: true }), ['exits paused']);
  assert.deepEqual(attentionReasons({ ...base, mark: null }), ['not marked yet']);
  assert.deepEqual(attentionReasons({ ...base, mark: { ok: false, decision: { decision: 'rejected', reason: { code: 'no_market', contract: CALL } } } }), [
    'mark refused: no usable bid/ask for AAPL 2027-01-08 275 C',
  ]);
});

test('drifts and refused actions are explained with the returned state', () => {
  assert.equal(
    driftText({ contract: { symbol: 'AAPL', type: 'stock' }, kind: 'stock_position', ours: 0, broker: 1 }),
    'AAPL stock: the broker holds 1 share SAS does not know (assignment, exercise or a manual trade)',
  );
  assert.equal(driftText({ contract: CALL, kind: 'wrong_size', ours: 4, broker: 3 }), 'AAPL 2027-01-08 275 C: SAS holds 4, the broker 3');
  const closing = explainPositionError({
    status: 409,
    code: 'already_closing',
    message: 'position 1 is open (closing: manual): it cannot be closed now',
    body: { error: 'already_closing', position: { status: 'closing', exit_reason: 'take_profit' } },
  });
  assert.equal(closing.kind, 'already_closing');
  assert.equal(closing.state, 'closing');
  assert.match(closing.title, /Already closing \(take profit\)/);
  const closed = explainPositionError({ status: 409, code: 'not_open', message: 'x', body: { position: { status: 'closed', exit_reason: 'manual' } } });
  assert.equal(closed.title, 'This position is already closed. Nothing changed.');
  const stale = explainPositionError({ status: 409, code: 'reconciliation_changed', message: 'that drift is already acknowledged', body: { reconciliation: { standing: false } } });
  assert.equal(stale.state, 'clear');
});
