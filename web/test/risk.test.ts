import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TradingState } from '../src/api.ts';
import {
  actorText,
  drawdownSeries,
  auditPath,
  formatLimitValue,
  fromMicros,
  haltCauseText,
  limitFraction,
  limitTone,
  stateReasons,
} from '../src/risk.ts';

test('limits: use as a fraction of the limit by magnitude, unknown when either side is', () => {
  assert.equal(limitFraction({ limit: 500, used: -300 }), 0.6);
  assert.equal(limitFraction({ limit: 5, used: 7 }), 1);
  assert.equal(limitFraction({ limit: null, used: 1 }), null);
  assert.equal(limitFraction({ limit: 2000, used: null }), null);
  assert.equal(limitFraction({ limit: 0, used: 0 }), null);
  assert.equal(limitTone({ name: 'x', unit: 'usd', limit: 100, used: 100, reached: true }), 'bad');
  assert.equal(limitTone({ name: 'x', unit: 'usd', limit: 100, used: 85, reached: false }), 'warn');
  assert.equal(limitTone({ name: 'x', unit: 'usd', limit: 100, used: 10, reached: false }), 'ok');
  assert.equal(limitTone({ name: 'x', unit: 'usd', limit: 100, used: null, reached: null }), 'neutral');
});

test('limit values in their unit', () => {
  assert.equal(formatLimitValue(3000, 'usd'), '$3,000');
  assert.equal(formatLimitValue(500, 'usd_per_vol_point'), '$500 / vol pt');
  assert.equal(formatLimitValue(200, 'usd_per_day'), '$200 / day');
  assert.equal(formatLimitValue(2.5, 'minutes'), '2.5 min');
  assert.equal(formatLimitValue(5, 'count'), '5');
  assert.equal(formatLimitValue(null, 'usd'), '—');
});

test('state reasons: every halt, reducing, paused exits and cooldown with who and when', () => {
  const state: TradingState = {
    halts: [
      { cause: 'kill_switch', stamp: { by: { kind: 'trader', name: 'ana' }, reason: 'FOMC', at: '2026-12-01T14:00:00Z' }, session: '2026-12-01', until: null, sticky: false },
      { cause: 'daily_loss', stamp: { by: { kind: 'rule' }, reason: 'lost 3.2%', at: '2026-12-01T15:00:00Z' }, session: '2026-12-01', until: null, sticky: true },
    ],
    reducing: { by: { kind: 'trader', name: 'ana' }, reason: 'vol', at: '2026-12-01T13:00:00Z' },
    exits_paused: null,
    cooldowns: [{ symbol: 'SPY', stamp: { by: { kind: 'rule' }, reason: '2 stops', at: '2026-12-01T16:00:00Z' }, until: '2026-12-01T18:00:00Z' }],
    session: '2026-12-01',
    high_water_mark: 100_000_000_000,
    stops_reset_at: null,
    stops_reset_by_symbol: {},
  };
  const reasons = stateReasons(state);
  assert.deepEqual(
    reasons.map((r) => [r.key, r.title, r.by, r.until]),
    [
      ['halt:kill_switch', 'Halted: Kill switch', 'ana', null],
      ['halt:daily_loss', 'Halted: Daily loss limit', 'the rules', null],
      ['reducing', 'Reducing only', 'ana', null],
      ['cooldown:SPY', 'SPY in cooldown', 'the rules', '2026-12-01T18:00:00Z'],
    ],
  );
  assert.equal(haltCauseText('something_new'), 'Something new');
  assert.equal(actorText(null), 'unknown');
});

test('audit filters become the Worker\'s query: blank ones left out, ids trimmed, a page cursor', () => {
  assert.equal(auditPath({}, 200), '/audit?limit=200');
  assert.equal(auditPath({ proposal: ' 7 ', position: '', action: '' }, 50), '/audit?limit=50&proposal=7');
  assert.equal(
    auditPath({ proposal: '', position: '3', action: 'exit_triggered', before: 120 }, 200),
    '/audit?limit=200&position=3&action=exit_triggered&before=120',
  );
  assert.equal(auditPath({ position: ' ', before: null }, 10), '/audit?limit=10');
});

test('drawdown series below the running peak; money from micro-dollars', () => {
  assert.deepEqual(drawdownSeries([100, 110, null, 99, 121]), [0, 0, null, 99 / 110 - 1, 0]);
  assert.equal(fromMicros(1_500_000), 1.5);
  assert.equal(fromMicros(null), null);
});

test('smile: the out-of-the-money side per strike on one strike axis', async () => {
  const { smileData } = await import('../src/market.ts');
  const chain = {
    symbol: 'SPY',
    as_of: '2026-12-01T15:00:00Z',
    spot: 100,
    expiries: [
      {
        expiry: '2026-12-11', dte: 9, forward: 100.5, atm_iv: 0.2, skew_25d: null,
        contracts: [
          { right: 'C', strike: 95, iv: 0.3 }, { right: 'P', strike: 95, iv: 0.25 },
          { right: 'C', strike: 105, iv: 0.18 }, { right: 'P', strike: 105, iv: 0.4 },
        ],
      },
      { expiry: '2027-01-08', dte: 37, forward: null, atm_iv: 0.2, skew_25d: null, contracts: [{ right: 'C', strike: 100, iv: 0.21 }, { right: 'P', strike: 90, iv: null }] },
    ],
  };
  const s = smileData(chain);
  assert.deepEqual(s.strikes, [90, 95, 100, 105]);
  assert.deepEqual(s.series[0]?.values, [null, 0.25, null, 0.18]);
  assert.deepEqual(s.series[1]?.values, [null, null, 0.21, null]);
  assert.equal(s.series[1]?.label, '2027-01-08 (37 d)');
});

test('payoff today: Black-Scholes against known values, and the expiry curve at zero days', async () => {
  const { bsValue, normCdf, payoffToday } = await import('../src/payoff.ts');
  assert.ok(Math.abs(normCdf(0) - 0.5) < 1e-9);
  assert.ok(Math.abs(normCdf(1.96) - 0.9750021) < 1e-6);
  // S=100, K=100, T=1, sigma=0.2, r=0: call = put = 7.9656 (standard table value).
  assert.ok(Math.abs(bsValue(100, 100, 1, 0.2, 'C') - 7.9656) < 1e-3);
  assert.ok(Math.abs(bsValue(100, 100, 1, 0.2, 'P') - 7.9656) < 1e-3);
  assert.equal(bsValue(110, 100, 0, 0.2, 'C'), 10);
  // A 100/110 call spread bought for 4.00: expiry curve -400 .. +600.
  const legs = [
    { action: 'buy', right: 'C', strike: 100, expiry: '2027-01-08', ratio: 1, dte: 30, quote: { iv: 0.25 } },
    { action: 'sell', right: 'C', strike: 110, expiry: '2027-01-08', ratio: 1, dte: 30, quote: { iv: 0.25 } },
  ];
  const curve = [90, 100, 105, 110, 120].map((s) => ({ underlying: s, pnl: 100 * (Math.max(0, s - 100) - Math.max(0, s - 110)) - 400 }));
  const today = payoffToday(legs, curve)!;
  assert.equal(today.length, 5);
  // Before expiry the spread is worth less than its maximum deep in the money and more than zero far out of it.
  assert.ok(today[0]! > -400 && today[0]! < -300, String(today[0]));
  assert.ok(today[4]! < 600 && today[4]! > 400, String(today[4]));
  // At zero days it equals the expiry curve.
  const atExpiry = payoffToday(legs.map((l) => ({ ...l, dte: 0 })), curve)!;
  atExpiry.forEach((v, i) => assert.ok(Math.abs(v! - curve[i]!.pnl) < 1e-9));
  // A calendar (two expiries) or a leg without IV: no curve rather than a wrong one.
  assert.equal(payoffToday([legs[0]!, { ...legs[1]!, expiry: '2027-02-05' }], curve), null);
  assert.equal(payoffToday([legs[0]!, { ...legs[1]!, quote: null }], curve), null);
});
