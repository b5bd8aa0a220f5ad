import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatEntry, formatMoney, formatPercent, legLabel } from '../src/format.ts';
import { explainActionError, orderStateText, refusalLines } from '../src/messages.ts';

test('money, percent, entry and leg formats', () => {
  assert.equal(formatMoney(1578.0000001), '$1,578');
  assert.equal(formatMoney(-42.75), '-$42.75');
  assert.equal(formatMoney(null), '—');
  assert.equal(formatPercent(0.5291), '52.9%');
  assert.equal(formatEntry(4.87), '4.87 debit');
  assert.equal(formatEntry(-1.2), '1.20 credit');
  assert.equal(legLabel({ action: 'sell', ratio: 1, strike: 265, right: 'P', expiry: '2027-01-08' }), 'Sell 1 × 265.00 P 2027-01-08');
});

test('price_moved shows the fresh numbers of the refusal', () => {
  const e = explainActionError({
    status: 409,
    code: 'price_moved',
    message: 'approval refused: net price moved from 4.85 to 5.60, beyond the 0.49 band',
    body: {
      status: 'pending',
      refusal: {
        reason: { code: 'price_moved_beyond_band', proposed: 4.85, fresh: 5.6, band: 0.49 },
        message: 'net price moved',
        new_numbers: { net_price_mid: 5.6, net_price_natural: 6.0, max_profit: 440, max_loss: 560, probability_of_profit: 0.48, expected_value: -3, breakevens: [269.4] },
      },
    },
  });
  assert.equal(e.kind, 'price_moved');
  assert.match(e.title, /price moved/);
  assert.match(e.details.join('\n'), /from 4\.85 to 5\.60 \(allowed band ±0\.4900\)/);
  assert.match(e.details.join('\n'), /entry 5\.60 mid, 6\.00 natural, max profit \$440, max loss \$560, PoP 48\.0%, EV -\$3\.00, breakeven 269\.40/);
});

test('every approval refusal has its own message, never a generic one', () => {
  assert.match(explainActionError({ status: 409, code: 'kill_switch_on', message: 'x', body: { status: 'pending' } }).title, /kill switch is on/);
  assert.match(explainActionError({ status: 409, code: 'invalid_state', message: 'x', body: { status: 'approved' } }).title, /already approved/);
  assert.match(explainActionError({ status: 409, code: 'invalid_state', message: 'x', body: { status: 'expired' } }).title, /expired/);
  assert.match(explainActionError({ status: 409, code: 'order_window_closed', message: 'x' }).title, /order window is closed/);
  assert.match(
    explainActionError({ status: 422, code: 'no_longer_valid', message: 'approval refused: credit 0.10 too small', body: { refusal: { message: 'credit 0.10 too small for 5.00 wide' } } }).title,
    /credit 0\.10 too small for 5\.00 wide/,
  );
  assert.match(explainActionError({ status: 503, code: 'quotes_unavailable', message: 'x' }).title, /fresh quotes/);
  assert.match(explainActionError({ status: 0, code: 'network_error', message: 'x' }).title, /could not be reached/);
  assert.equal(explainActionError({ status: 500, code: 'internal', message: 'boom' }).title, 'boom (internal, HTTP 500)');
  assert.deepEqual(refusalLines(null), []);
});

test('order state text', () => {
  assert.equal(orderStateText(null), 'No order yet');
  assert.equal(orderStateText({ status: 'submitted', broker_status: 'pending_submit', error: null }), 'Order submitted · broker: pending submit');
  assert.equal(orderStateText({ status: 'abandoned', error: 'kill switch on' }), 'Order abandoned · kill switch on');
});

test('a risk refusal lists the refused check with its use of the limit, then the passed ones', async () => {
  const { explainActionError } = await import('../src/messages.ts');
  const e = explainActionError({
    status: 409,
    code: 'risk_refused',
    message: 'approval refused by the risk checks: max_loss_per_trade: too big',
    body: {
      error: 'risk_refused',
      risk: {
        approved: false,
        contracts: 8,
        mode: 'active',
        checks: [
          { check: 'max_loss_per_trade', inputs: [], limit: 1999.92, used: 2000, verdict: { verdict: 'refuse', reason: '2000.00 > 1999.92' } },
          { check: 'open_positions', inputs: [], limit: 5, used: 2, verdict: { verdict: 'pass' } },
        ],
        refusals: ['max_loss_per_trade: 2000.00 > 1999.92'],
      },
    },
  });
  assert.equal(e.kind, 'risk_refused');
  assert.match(e.title, /risk checks refused/);
  assert.deepEqual(e.details, [
    'Refused by max loss per trade (2,000 of 1,999.92): 2000.00 > 1999.92',
    'Checked at 8 contracts.',
    'Passed: open positions 2 of 5.',
  ]);
});
