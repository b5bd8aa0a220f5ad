// End-to-end test of alerts: a local webhook receiver (the generic JSON
// webhook channel) gets exactly the expected messages for a scripted day —
// new proposals, an approval and its submission, a fill, a take-profit exit,
// a bridge outage (one alert, then one "resolved"), a halt — with the first
// delivery refused and retried, and no duplicates after a Worker restart;
// the bridge's /metrics counts the orders by state and the fills, and the
// watch raises nothing that did not happen (sim: no reset window, no
// delayed data, no rejected or stuck order).
// Run after scripts/build: node --test tests/e2e/alerts.test.mjs

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { startStack } from '../lib/stack.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startReceiver() {
  const state = { received: [], failNext: 1 };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (state.failNext > 0) {
        state.failNext -= 1;
        state.refused = (state.refused ?? 0) + 1;
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"error":"receiver down"}');
        return;
      }
      let body = null;
      try { body = JSON.parse(text); } catch { /* recorded as null */ }
      state.received.push({ headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    state,
    url: `http://127.0.0.1:${server.address().port}/hook`,
    stop: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}

describe('alerts reach the trader once each, through a refused first delivery and a restart', () => {
  let stack;
  let receiver;
  const kinds = () => receiver.state.received.map((m) => `${m.body.kind}${m.body.resolved ? ':resolved' : ''}`);
  const keys = () => receiver.state.received.map((m) => m.body.key);
  // In production the position monitor runs every minute and keeps the risk
  // engine's inputs fresh (equity, reconciliation, bridge seen); the tests
  // fire it right before each approval, as the cron would have.
  const post = async (p, body) => {
    if (/\/approve$/.test(p)) await stack.fireMonitor();
    return stack.api(p, { method: 'POST', body: JSON.stringify(body ?? {}) });
  };
  const bridgeFetch = async (p, body) => {
    const res = await fetch(`${stack.bridgeUrl}${p}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${stack.bridgeToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return res.json();
  };
  /** Fires the monitor until `pred()` holds (deliveries are retried with a 1 s backoff). */
  const until = async (what, pred, { tries = 15 } = {}) => {
    for (let i = 0; i < tries; i += 1) {
      if (pred()) return;
      await stack.fireMonitor();
      await sleep(400);
    }
    assert.fail(`${what}: received ${JSON.stringify(kinds())}`);
  };

  before(async () => {
    receiver = await startReceiver();
    stack = await startStack({
      marketHoursMode: 'ignore',
      bridgeArgs: ['--sim-cash', '1000000'],
      vars: {
        MIN_OPTION_VOLUME: '0',
        ALERT_WEBHOOK_URL: receiver.url,
        ALERT_RETRY_BASE_SECS: '1',
        // Everything on (approvals and submissions default to silent).
        ALERT_EVENTS: 'all=on',
      },
    });
  });
  after(async () => {
    await stack?.stop();
    await receiver?.stop();
  });

  test('a scripted day', async () => {
    // New proposals: one message for the batch; the first delivery is refused.
    for (let i = 0; i < 3; i += 1) await stack.fireCron();
    await until('proposals alert', () => kinds().includes('proposals'));
    assert.equal(receiver.state.refused, 1, 'the first delivery was refused and retried');
    assert.equal(kinds().filter((k) => k === 'proposals').length, 1);

    // Approval, submission, fill.
    const pending = (await stack.api('/proposals?status=pending')).json.proposals;
    const p = pending[0];
    const ok = await post(`/proposals/${p.id}/approve`, {});
    assert.equal(ok.status, 200, ok.text);
    await until('approval, submission and fill', () => ['approval', 'submission', 'fill'].every((k) => kinds().includes(k)));

    // Take profit after a driven move.
    const dir = p.strategy.startsWith('bear') ? -1 : 1;
    const positions = (await stack.api('/positions')).json.positions;
    const pos = positions.find((x) => x.key === p.idempotency_key);
    for (let i = 0; i < 25; i += 1) {
      const d = (await stack.api(`/positions/${pos.id}`)).json;
      if (d.position.exit_reason) break;
      await bridgeFetch('/sim/control', { symbol: p.symbol, move_pct: dir });
      await stack.fireMonitor();
    }
    await until('exit', () => kinds().includes('exit'), { tries: 40 });
    const exit = receiver.state.received.find((m) => m.body.kind === 'exit');
    assert.match(exit.body.body, /take_profit/);

    // The bridge's /metrics: orders by state, fills, reconnects (the entry
    // and the closing order filled; the sim broker never reconnects), read
    // before the bridge restarts below (its counters are per process).
    const bm = await fetch(`${stack.bridgeUrl}/metrics`, { headers: { authorization: `Bearer ${stack.bridgeToken}` } });
    const bridgeMetrics = await bm.text();
    const sample = (re) => Number((bridgeMetrics.match(re) ?? [])[1]);
    assert.ok(sample(/^bridge_fills_total (\d+)$/m) >= 2, bridgeMetrics);
    assert.ok(sample(/^bridge_orders\{state="filled"\} (\d+)$/m) >= 2, bridgeMetrics);
    assert.equal(sample(/^bridge_broker_reconnects_total (\d+)$/m), 0);

    // Bridge outage: one alert, still one after more failing runs, then one "resolved".
    await stack.stopBridge();
    await stack.fireMonitor();
    await stack.fireMonitor();
    await until('bridge alert', () => kinds().includes('bridge_disconnected'));
    await stack.fireMonitor();
    await stack.startBridge();
    await until('bridge resolved', () => kinds().includes('bridge_disconnected:resolved'));
    assert.equal(kinds().filter((k) => k === 'bridge_disconnected').length, 1);

    // A halt (the kill switch).
    const halt = await post('/kill-switch', { on: true, reason: 'scripted halt' });
    assert.equal(halt.status, 200, halt.text);
    await until('halt alert', () => kinds().includes('risk_halt'));

    // A Worker restart re-sends nothing; the same conditions are not re-alerted.
    const before = receiver.state.received.length;
    await stack.restartWorker();
    for (let i = 0; i < 3; i += 1) {
      await stack.fireMonitor();
      await stack.fireCron();
    }
    await sleep(1500);
    await stack.fireMonitor();
    assert.equal(receiver.state.received.length, before, `after restart: ${JSON.stringify(kinds().slice(before))}`);
    assert.equal(new Set(keys()).size, keys().length, `duplicate keys: ${JSON.stringify(keys())}`);

    // Exactly the expected kinds, each once (fills: one per order).
    const counts = {};
    for (const k of kinds()) counts[k] = (counts[k] ?? 0) + 1;
    for (const k of ['proposals', 'approval', 'submission', 'exit', 'bridge_disconnected', 'bridge_disconnected:resolved', 'risk_halt']) {
      assert.equal(counts[k], 1, `${k}: ${JSON.stringify(counts)}`);
    }
    assert.equal(counts.fill, 2, `entry and closing fills: ${JSON.stringify(counts)}`);
    // The listing shows the deliveries; secrets never appear in it or in /health.
    const list = await stack.api('/alerts?limit=50');
    assert.equal(list.status, 200);
    assert.ok(!list.text.includes(receiver.url), 'the webhook URL (a secret) is not in /alerts');
    // Operator metrics: Prometheus text, behind auth.
    assert.equal((await stack.api('/metrics', { auth: false })).status, 401);
    const metrics = await stack.api('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    assert.match(metrics.text, /^sas_alert_deliveries\{state="delivered"\} \d+$/m);
    assert.match(metrics.text, /^sas_monitor_runs\{status="ok"\} \d+$/m);
    assert.match(metrics.text, /^sas_bridge_up 1$/m);
    const health = await stack.api('/health', { auth: false });
    assert.ok(!health.text.includes('/hook'), 'the webhook URL is not in /health');
    // The sim bridge has no IB reset window (so no reset-window or re-login alert).
    const bh = await (await fetch(`${stack.bridgeUrl}/health`)).json();
    assert.equal(bh.reset_window_et, undefined);
    assert.ok(!kinds().some((k) => ['ib_reset_window', 'relogin_due', 'ib_degraded', 'data_delayed', 'order_rejected', 'order_stuck'].includes(k)), JSON.stringify(kinds()));
  });
});
