import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkedAt, checkUse, checkVerdict, storedCheckTitle } from '../src/storedChecks.ts';

test('stored checks: the approval, a refused resend and an unreadable report are labelled apart', () => {
  assert.equal(storedCheckTitle({ approved: true, unreadable: false }), 'Checks passed at approval');
  assert.equal(storedCheckTitle({ approved: false, unreadable: false }), 'Checks refused before a resend');
  assert.equal(storedCheckTitle({ approved: true, unreadable: true }), 'Stored report unreadable');
});

test('stored checks: use of the limit and the verdict in words', () => {
  assert.equal(checkUse({ used: 412, limit: 500 }), '412 of 500');
  assert.equal(checkUse({ used: 1234.567, limit: null }), '1,234.57 of —');
  assert.equal(checkVerdict({ verdict: 'pass', reason: null }), 'pass');
  assert.equal(checkVerdict({ verdict: 'refuse', reason: 'no net liquidation' }), 'refused: no net liquidation');
  assert.equal(checkedAt(1_800_000_000_000), '2027-01-15T08:00:00.000Z');
});
