// End-to-end test of the risk API at the edge: the trading state evaluated
// by the monitor cron, the trader's halt (mirrored to the kill switch:
// approvals refuse) and resume, strategy switches (a disabled strategy
// generates nothing at the next cron), and /performance.
// Run after scripts/build: node --test tests/e2e/risk.test.mjs

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startStack } from '../lib/stack.mjs';

describe('risk: trading state, strategy switches, performance', () => {
  let stack;
  const send = (method, p, body) => stack.api(p, { method, body: JSON.stringify(body ?? {}) });

  before(async () => {
    stack = await startStack({
      marketHoursMode: 'ignore',
      bridgeArgs: ['--sim-cash', '1000000'],
      vars: { MIN_OPTION_VOLUME: '0' },
    });
  });
  after(async () => { await stack?.stop(); });

  test('the monitor evaluates the state; /risk lists every limit with its use', async () => {
    await stack.fireCron();
    await stack.fireMonitor();
    const r = await stack.api('/risk');
    assert.equal(r.status, 200, r.text);
    assert.ok(['active', 'reducing', 'halted'].includes(r.json.now_mode), r.text);
    // With a bridge, fresh marks and the books agreeing, nothing halts.
    assert.equal(r.json.now_mode, 'active', r.text);
    assert.ok(Array.isArray(r.json.limits) && r.json.limits.length >= 5, r.text);
    assert.equal((await stack.api('/risk', { auth: false })).status, 401);
  });

  test('a disabled strategy generates nothing at the next cron; switches are audited', async () => {
    const list = await stack.api('/strategies');
    assert.equal(list.status, 200, list.text);
    const all = list.json.strategies;
    assert.ok(all.length >= 5, list.text);
    // Reject what the first cron proposed: the daily limit leaves room.
    const before = (await stack.api('/proposals?status=pending')).json.proposals;
    for (const p of before) {
      await send('POST', `/proposals/${p.id}/reject`, { reason: 'e2e: make room' });
    }
    for (const s of all) {
      const off = await send('PUT', '/strategies', { strategy: s.strategy, enabled: false, reason: 'e2e: off' });
      assert.equal(off.status, 200, off.text);
    }
    assert.ok((await stack.api('/strategies')).json.strategies.every((s) => !s.enabled));
    for (let i = 0; i < 3; i += 1) await stack.fireCron();
    const pending = (await stack.api('/proposals?status=pending')).json.proposals;
    assert.equal(pending.length, 0, `disabled strategies proposed: ${JSON.stringify(pending.map((p) => p.strategy))}`);
    const bad = await send('PUT', '/strategies', { strategy: 'no_such_strategy', enabled: true, reason: 'x' });
    assert.equal(bad.status, 400, bad.text);
    const actions = (await stack.api('/audit?limit=200')).json.entries.map((e) => e.action);
    assert.ok(actions.includes('strategy_switched'), actions.join(','));
  });

  test("the trader's halt turns the kill switch on and only the trader resumes", async () => {
    const halt = await send('POST', '/risk/state', { state: 'halted', reason: 'e2e halt' });
    assert.equal(halt.status, 200, halt.text);
    const ks = await stack.api('/kill-switch');
    assert.equal(ks.json.on, true, ks.text);
    await stack.fireMonitor();
    assert.equal((await stack.api('/risk')).json.now_mode, 'halted');
    const resume = await send('POST', '/risk/state', { state: 'active', reason: 'e2e resume' });
    assert.equal(resume.status, 200, resume.text);
    assert.equal((await send('POST', '/risk/state', { state: 'halted', reason: '' })).status, 400);
  });

  test('/performance answers for a range; bad dates are a 400', async () => {
    const p = await stack.api('/performance');
    assert.equal(p.status, 200, p.text);
    assert.equal((await stack.api('/performance?from=yesterday')).status, 400);
  });
});
