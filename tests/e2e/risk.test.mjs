// End-to-end test of the risk API at the edge: the trading state evaluated
// by the monitor cron, the trader's halt (mirrored to the kill switch:
// approvals refuse) and resume, strategy switches (a disabled strategy
// generates nothing at the next cron), /performance, the shadow P&L of
// rejected proposals, the trader's pause of every exit, and on the simulated
// market: a correlated second trade refused by the cluster cap, then a
// driven loss that trips the daily-loss halt (entries refused with the
// reason) while the exit of the open position still runs.
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
      vars: {
        MIN_OPTION_VOLUME: '0',
        PROPOSAL_TTL_SECONDS: '3600',
        // Rejected proposals count toward the day's: leave room for the
        // later tests' proposals. Four underlyings keep each cron short.
        MAX_PROPOSALS_PER_DAY: '20',
        WATCHLIST: 'SPY,QQQ,AAPL,MSFT',
        TRADING_MODE: 'paper',
        // A low daily-loss limit (0.01 % of 1,000,000 = $100) that a driven
        // move trips; nothing moves the account before that test.
        RISK_DAILY_LOSS_PCT: '0.01',
      },
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

  test('a correlated second trade is refused; a driven loss halts entries and the exit still runs', async () => {
    const bridge = async (p, body) => {
      const res = await fetch(`${stack.bridgeUrl}${p}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${stack.bridgeToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
      return { status: res.status, json: await res.json().catch(() => null) };
    };
    // The trades need the risk engine's inputs fresh, as the minute
    // monitor keeps them in production.
    const approve = async (p) => {
      await stack.fireMonitor();
      return stack.api(`/proposals/${p.id}/approve`, { method: 'POST', body: '{}' });
    };
    // Right after the first cron: its proposals are pending (a later cron
    // on the same chains makes the same proposals, same keys).
    let pending = (await stack.api('/proposals?status=pending')).json.proposals;
    for (let i = 0; i < 3 && new Set(pending.map((p) => p.symbol)).size < 2; i += 1) {
      await stack.fireCron();
      pending = (await stack.api('/proposals?status=pending')).json.proposals;
    }
    const symbols = [...new Set(pending.map((p) => p.symbol))];
    assert.ok(symbols.length >= 2, `need proposals on two underlyings: ${symbols}`);
    // SPY then QQQ when both are proposed, else any two underlyings.
    const first = symbols.includes('SPY') && symbols.includes('QQQ') ? 'SPY' : symbols[0];
    const second = first === 'SPY' && symbols.includes('QQQ') ? 'QQQ' : symbols.find((s) => s !== first);
    const p1 = pending.find((p) => p.symbol === first);
    const p2 = pending.find((p) => p.symbol === second);

    const a1 = await approve(p1);
    assert.equal(a1.status, 200, a1.text);
    // The simulated underlyings walk independently: give the second the
    // first one's daily history (correlation 1) so they form one cluster.
    await stack.d1(`UPDATE daily_bars SET bars_json = (SELECT bars_json FROM daily_bars WHERE symbol = '${first}'),
      first_date = (SELECT first_date FROM daily_bars WHERE symbol = '${first}'),
      last_date = (SELECT last_date FROM daily_bars WHERE symbol = '${first}'),
      bar_count = (SELECT bar_count FROM daily_bars WHERE symbol = '${first}') WHERE symbol = '${second}'`);
    const a2 = await approve(p2);
    assert.equal(a2.status, 409, a2.text);
    assert.equal(a2.json.error, 'risk_refused', a2.text);
    const cluster = a2.json.risk.checks.find((c) => c.check === 'correlation_cluster');
    assert.ok(cluster && cluster.verdict !== 'pass', a2.text);
    assert.ok(a2.json.risk.refusals.some((r) => r.startsWith('correlation_cluster')), a2.text);

    // The first trade fills and is an open position.
    let position = null;
    for (let i = 0; i < 10 && !position; i += 1) {
      await stack.fireMonitor();
      position = (await stack.api('/positions?status=open')).json.positions
        .find((x) => x.key === p1.idempotency_key) ?? null;
      if (!position) await new Promise((r) => setTimeout(r, 1000));
    }
    assert.ok(position, `the approved trade never opened: ${stack.logTail('wrangler', 30)}`);

    // The trader pauses every automated exit: the monitor keeps marking and
    // evaluating, and sends nothing of its own.
    const pause = await stack.api('/risk/exits', { method: 'POST',
      body: JSON.stringify({ paused: true, reason: 'e2e: watch the loss' }) });
    assert.equal(pause.status, 200, pause.text);

    // Drive a loss: move the underlying against the trade's delta.
    // Small steps until the day's loss passes the limit: the legs keep a
    // quotable market, so the position stays marked and can be closed.
    const delta = Number(p1.greeks?.delta ?? 0);
    const step = delta >= 0 ? -3 : 3;
    let risk = null;
    for (let i = 0; i < 6 && risk?.stored?.mode !== 'halted'; i += 1) {
      const moved = await bridge('/sim/control', { symbol: first, move_pct: step });
      assert.equal(moved.status, 200, JSON.stringify(moved.json));
      await stack.fireMonitor();
      risk = (await stack.api('/risk')).json;
    }
    assert.equal(risk.stored.mode, 'halted', JSON.stringify(risk.stored));
    assert.ok(risk.stored.state.halts.some((h) => h.cause === 'daily_loss'), JSON.stringify(risk.stored.state.halts));
    const loss = risk.limits.find((l) => l.name === 'daily_loss');
    assert.equal(loss.reached, true, JSON.stringify(loss));
    const paused = await stack.api(`/positions/${position.id}`);
    assert.equal(paused.json.position.status, 'open', 'paused: no automated exit');
    const newest = [...paused.json.marks].sort((x, y) => (x.at < y.at ? 1 : -1))[0];
    assert.equal(newest.decision.decision, 'paused', JSON.stringify(newest));
    assert.equal(newest.decision.by, 'all_exits_paused', JSON.stringify(newest));

    // Entries are refused with the reason.
    const third = (await stack.api('/proposals?status=pending')).json.proposals.find((p) => p.id !== p1.id);
    assert.ok(third, 'a pending proposal to approve');
    const a3 = await approve(third);
    assert.equal(a3.status, 409, a3.text);
    assert.ok(/daily/i.test(a3.text), a3.text);

    // An exit still runs while halted (and the trader's own close while
    // automated exits are paused): the closing order reaches the bridge.
    const close = await stack.api(`/positions/${position.id}/close`, { method: 'POST', body: '{}' });
    assert.equal(close.status, 202, close.text);
    // The closing order is placed at the bridge (it fills when the market
    // takes it; placing it is what the halt must not stop).
    let d = null;
    let exits = [];
    for (let i = 0; i < 6 && exits.length === 0; i += 1) {
      await stack.fireMonitor();
      d = (await stack.api(`/positions/${position.id}`)).json;
      exits = d.orders.filter((o) => o.purpose === 'exit');
    }
    assert.ok(exits.length >= 1, `no closing order while halted: ${JSON.stringify(d.orders)}\n${stack.logTail('wrangler', 20)}`);
    assert.ok(['closing', 'closed'].includes(d.position.status), JSON.stringify(d.position));
    const atBridge = await bridge(`/orders/by-key/${encodeURIComponent(exits[0].key)}`);
    assert.equal(atBridge.status, 200, JSON.stringify(atBridge.json));
    assert.equal((await stack.api('/risk')).json.stored.mode, 'halted');
    const resume = await stack.api('/risk/exits', { method: 'POST',
      body: JSON.stringify({ paused: false, reason: 'e2e: done' }) });
    assert.equal(resume.status, 200, resume.text);
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

  test('a rejected proposal gets a shadow P&L from the chains stored after it', async () => {
    // The proposals rejected above are followed by the 15-minute cron, which
    // stores a new chain snapshot of every symbol before the shadow step.
    await stack.fireCron();
    await stack.fireCron();
    const r = await stack.api('/performance/shadow');
    assert.equal(r.status, 200, r.text);
    const rejected = r.json.trades.filter((t) => t.decision === 'rejected');
    assert.ok(rejected.length >= 1, r.text);
    const marked = rejected.filter((t) => typeof t.pnl_mid === 'number');
    assert.ok(marked.length >= 1, `no shadow trade was marked: ${r.text}\n${stack.logTail('wrangler', 30)}`);
    for (const t of marked) {
      assert.ok(['following', 'closed'].includes(t.status), JSON.stringify(t));
      assert.ok(t.mark_at >= t.decided_at, JSON.stringify(t));
      assert.equal(typeof t.pnl_natural, 'number');
      assert.ok(t.pnl_natural <= t.pnl_mid + 1e-9, 'natural never above mid');
      assert.equal(typeof t.entry_mid, 'number');
      assert.ok(t.marks_used >= 1);
    }
    assert.equal(r.json.total.trades, r.json.trades.length);
    assert.ok(r.json.total.with_pnl >= marked.length);
    const sum = marked.reduce((a, t) => a + t.pnl_mid, 0);
    assert.ok(Math.abs(r.json.total.rejected_pnl_mid - sum) < 0.01, r.text);
    assert.equal((await stack.api('/performance/shadow?from=x')).status, 400);
  });

  test("the trader's pause of every exit is audited and shown in /risk", async () => {
    const send = (body) => stack.api('/risk/exits', { method: 'POST', body: JSON.stringify(body) });
    // From running exits (whatever an earlier test left).
    assert.equal((await send({ paused: false, reason: 'e2e: start' })).status, 200);
    const on = await send({ paused: true, reason: 'e2e: hands off' });
    assert.equal(on.status, 200, on.text);
    const risk = (await stack.api('/risk')).json;
    assert.equal(risk.exits_paused?.reason, 'e2e: hands off', JSON.stringify(risk.exits_paused));
    assert.equal((await send({ paused: true, reason: '' })).status, 400);
    assert.equal((await send({ paused: 'yes', reason: 'x' })).status, 400);
    const off = await send({ paused: false, reason: 'e2e: resume' });
    assert.equal(off.status, 200, off.text);
    assert.equal((await stack.api('/risk')).json.exits_paused, null);
    const audit = (await stack.api('/audit?limit=50')).json.entries;
    assert.ok(audit.filter((e) => e.action === 'risk_state_changed'
      && JSON.stringify(e.details).includes('exits')).length >= 2, JSON.stringify(audit.slice(0, 5)));
  });

});
