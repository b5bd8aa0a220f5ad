// End-to-end (issue 14): on the first cron after a fresh start, IV rank is
// known for every watchlist symbol (the IV history backfill runs before the
// chain step), the data-quality gate finds every simulated symbol live
// (symbol_quality, /health's data_quality, /symbols/SPY/quality's stored
// state and since when), and every proposal's rationale
// cites the IV rank it used with the days it rests on. The simulated MONTH
// (credit spreads and iron condors as well as debit trades) is driven
// natively through the same gate, analytics and strategy engine
// (sim-market/tests/month.rs; docs/sim-market.md): 21 sessions through
// wrangler would take far longer than CI allows.
// Run: SAS_BRIDGE_BIN=target/release/broker-bridge node_modules/.bin/node --test tests/e2e/month.test.mjs

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startStack } from '../lib/stack.mjs';

const WATCHLIST = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'META', 'TSLA', 'SPY', 'QQQ', 'IWM'];

describe('first cron after a fresh start: IV rank, the gate, the rationale', () => {
  let stack;

  before(async () => {
    // Every symbol's year of IV history in the first run (10 distinct
    // contracts break no pacing rule).
    stack = await startStack({ marketHoursMode: 'ignore', vars: { IV_BACKFILL_PER_RUN: '10' } });
  });
  after(async () => {
    await stack?.stop();
  });

  test('IV rank is known for every watchlist symbol on the first cron', async () => {
    const run = await stack.fireCron();
    assert.equal(run.status, 'ok', JSON.stringify(run));
    const rows = await stack.d1(
      `SELECT symbol, iv_rank, iv_history_days FROM underlying_metrics_intraday
        WHERE ts = (SELECT MAX(ts) FROM underlying_metrics_intraday m WHERE m.symbol = underlying_metrics_intraday.symbol)
        ORDER BY symbol`,
    );
    assert.deepEqual(rows.map((r) => r.symbol), [...WATCHLIST].sort());
    for (const r of rows) {
      assert.ok(r.iv_rank !== null && r.iv_rank >= 0 && r.iv_rank <= 100, JSON.stringify(r));
      assert.ok(r.iv_history_days >= 200, `rests on a year of IB/sim closes: ${JSON.stringify(r)}`);
    }
    console.log(`first cron IV ranks: ${rows.map((r) => `${r.symbol}=${r.iv_rank.toFixed(0)}(${r.iv_history_days}d)`).join(' ')}`);

    // The gate's verdicts: every simulated symbol live, since this run.
    const quality = await stack.d1('SELECT symbol, state, since_ms, checked_ms, reasons_json FROM symbol_quality ORDER BY symbol');
    assert.deepEqual(quality.map((q) => q.symbol), [...WATCHLIST].sort());
    for (const q of quality) {
      assert.equal(q.state, 'live', JSON.stringify(q));
      assert.equal(q.since_ms, q.checked_ms);
      assert.equal(q.reasons_json, '[]');
    }
    const health = await stack.api('/health', { auth: false });
    assert.equal(health.status, 200);
    const dq = health.json.data_quality;
    assert.deepEqual(
      { live: dq.live, delayed: dq.delayed, failing: dq.failing, unknown: dq.unknown },
      { live: 10, delayed: 0, failing: 0, unknown: 0 },
      health.text,
    );
    for (const s of WATCHLIST) assert.ok(!health.text.includes(`"${s}"`), 'no symbol names on the public /health');

    // One symbol's stored state on /symbols/{s}/quality: live, since this run.
    const spy = quality.find((q) => q.symbol === 'SPY');
    const report = await stack.api('/symbols/SPY/quality');
    assert.equal(report.status, 200, report.text);
    const stored = report.json.stored;
    assert.equal(stored.state, 'live', report.text);
    assert.equal(stored.since_ms, spy.since_ms);
    assert.equal(Date.parse(stored.since), spy.since_ms);
    assert.equal(stored.checked_ms, spy.checked_ms);
    assert.deepEqual(stored.reasons, []);
    assert.ok(stored.held_secs >= 0 && stored.kept_contracts > 0, report.text);
    assert.equal(stored.note, null);
    console.log(`SPY stored quality: ${stored.state} since ${stored.since} (${stored.kept_contracts}/${stored.input_contracts} contracts kept)`);

    // Proposals of this run cite the IV rank they used and its days.
    const proposals = await stack.api('/proposals?limit=50');
    assert.equal(proposals.status, 200, proposals.text);
    const list = proposals.json.proposals ?? [];
    for (const p of list) {
      assert.match(p.rationale, /IV rank \d+ \(over \d+ days\)/, p.rationale);
    }
    console.log(`first cron proposals: ${list.map((p) => p.strategy).join(', ') || 'none'}`);
  });
});
