// End-to-end test of proposals and the approval workflow: real broker bridge
// (simulated broker, paper account) + the Worker under `wrangler dev --local`
// with local D1 + a local Cloudflare Access JWKS (tests/lib/jwks.mjs).
// Run after scripts/build: node --test tests/e2e/proposals.test.mjs

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { startJwks, newKey } from '../lib/jwks.mjs';
import { startStack } from '../lib/stack.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TEAM = 'sas-test.cloudflareaccess.com';
const AUD = 'sas-test-aud-0123456789';
// Proposals live this long: short enough to watch one expire in the test.
const TTL_SECONDS = 600;
// POST /orders timeout of the Worker; the proxy below can hold the bridge's
// answer longer than this (the bridge places the order all the same).
const ORDER_TIMEOUT_MS = 1500;

// A pass-through proxy between the Worker and the bridge that can hold the
// answer to POST /orders for `delayOrdersMs` after the bridge answered, and
// run `beforeForward(method, url)` before forwarding a request.
async function startBridgeProxy() {
  const state = { target: null, delayOrdersMs: 0, beforeForward: null };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      res.on('error', () => {});
      const body = Buffer.concat(chunks);
      const delay = req.method === 'POST' && req.url === '/orders' ? state.delayOrdersMs : 0;
      const headers = {};
      for (const h of ['authorization', 'content-type', 'accept']) {
        if (req.headers[h]) headers[h] = req.headers[h];
      }
      try {
        if (state.beforeForward) await state.beforeForward(req.method, req.url);
        const r = await fetch(`${state.target}${req.url}`, {
          method: req.method, headers, body: body.length ? body : undefined,
        });
        const out = Buffer.from(await r.arrayBuffer());
        if (delay) await sleep(delay);
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
        res.end(out);
      } catch {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end('{"error":"proxy"}');
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    state,
    url: `http://127.0.0.1:${server.address().port}`,
    stop: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}

describe('proposals, approval workflow, audit log and Access auth', () => {
  let stack;
  let access;
  let proxy;
  let pending = [];
  const bridgeGet = async (p) => {
    const res = await fetch(`${stack.bridgeUrl}${p}`, {
      headers: { authorization: `Bearer ${stack.bridgeToken}` },
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, json: await res.json().catch(() => null) };
  };
  // As a browser behind Access sends it: the token, and the page's Origin
  // (the Worker's own) on state changes.
  const jwt = (token) => ({ auth: false, headers: { 'cf-access-jwt-assertion': token, origin: stack.workerUrl } });
  // In production the position monitor runs every minute and keeps the risk
  // engine's inputs fresh (equity, reconciliation, bridge seen); the tests
  // fire it right before each approval, as the cron would have.
  const post = async (p, body, opts = {}) => {
    if (/\/approve$/.test(p) && opts.monitor !== false) await stack.fireMonitor();
    return stack.api(p, {
      method: 'POST',
      body: body === undefined ? '{}' : typeof body === 'string' ? body : JSON.stringify(body),
      ...opts,
      headers: { 'content-type': 'application/json', ...(opts.headers ?? {}) },
    });
  };

  // A pending copy of proposal `srcId` under a new key (wide slippage band, so
  // market drift during the test does not refuse it); returns its id.
  const cloneProposal = async (srcId, key) => {
    await stack.d1(`INSERT INTO proposals (idempotency_key, symbol, strategy, status, trade_date,
      created_at, expires_at, rank, legs, quote_snapshot, analytics_snapshot, score_breakdown, score,
      entry_mid, entry_natural, max_profit, max_loss, breakevens, probability_of_profit,
      expected_value, greeks, exit_plan, rationale, contracts, total_max_loss, limit_price,
      slippage_band, proposal_json)
      SELECT '${key}', symbol, strategy, 'pending', trade_date, created_at, ${Date.now() + 600_000},
      rank, legs, quote_snapshot, analytics_snapshot, score_breakdown, score, entry_mid,
      entry_natural, max_profit, max_loss, breakevens, probability_of_profit, expected_value,
      greeks, exit_plan, rationale, contracts, total_max_loss, limit_price, 100,
      json_set(proposal_json, '$.idempotency_key', '${key}', '$.slippage_band', 100)
      FROM proposals WHERE id = ${Number(srcId)}`);
    const [row] = await stack.d1(`SELECT id FROM proposals WHERE idempotency_key = '${key}'`);
    return String(row.id);
  };
  const byKey = (key) => bridgeGet(`/orders/by-key/${encodeURIComponent(key)}`);
  const auditOf = async (id) => (await stack.api(`/audit?proposal=${id}`)).json.entries;

  before(async () => {
    access = await startJwks({ teamDomain: TEAM, aud: AUD });
    proxy = await startBridgeProxy();
    stack = await startStack({
      marketHoursMode: 'ignore',
      vars: {
        // Every Worker call to the bridge goes through the proxy.
        BRIDGE_URL: proxy.url,
        BRIDGE_ORDER_TIMEOUT_MS: String(ORDER_TIMEOUT_MS),
        ACCESS_TEAM_DOMAIN: TEAM,
        ACCESS_AUD: AUD,
        ACCESS_JWKS_URL: access.url,
        PROPOSAL_TTL_SECONDS: String(TTL_SECONDS),
        TRADING_MODE: 'paper',
        // The simulated market reports zero option volume outside its
        // session (this test may run at night or on a weekend): relax only
        // the volume filter; open interest and bid-ask width still apply.
        MIN_OPTION_VOLUME: '0',
        // This suite approves several proposals on simulated underlyings that
        // move together: the risk engine's correlation-cluster cap (its own
        // tests: tests/e2e/risk.test.mjs, worker risk tests) would refuse the
        // second; here it is the approval workflow under test.
        RISK_MAX_POSITIONS_PER_CLUSTER: '10',
      },
    });
    proxy.state.target = stack.bridgeUrl;
  });
  after(async () => {
    await stack?.stop();
    await proxy?.stop();
    await access?.stop();
  });

  test('a day of cron runs yields 3-5 explained proposals, no duplicates', async () => {
    for (let i = 0; i < 4; i += 1) {
      const run = await stack.fireCron();
      assert.ok(run, 'a run record after each cron');
      await sleep(300);
    }
    const res = await stack.api('/proposals?status=pending');
    assert.equal(res.status, 200, res.text);
    pending = res.json.proposals;
    assert.ok(pending.length >= 3 && pending.length <= 5,
      `expected 3-5 proposals, got ${pending.length}:\n${stack.logTail('wrangler', 30)}`);
    const symbols = new Set(pending.map((p) => p.symbol));
    assert.equal(symbols.size, pending.length, 'at most one proposal per symbol');
    assert.equal(new Set(pending.map((p) => p.idempotency_key)).size, pending.length);
    for (const p of pending) {
      assert.equal(typeof p.id, 'string');
      assert.equal(p.status, 'pending');
      assert.ok(p.rationale.length > 40, p.rationale);
      assert.equal(typeof p.entry.net_price_mid, 'number');
      assert.ok(p.max_loss > 0);
      assert.ok(p.contracts >= 1);
      assert.ok(Array.isArray(p.legs) && p.legs.length >= 1);
      const ttl = Date.parse(p.expires_at) - Date.parse(p.created_at);
      assert.ok(ttl > 0 && ttl <= TTL_SECONDS * 1000, `ttl ${ttl}`);
      assert.ok(p.idempotency_key.length <= 64 && /^[A-Za-z0-9_.:-]+$/.test(p.idempotency_key));
    }
    // More cron runs do not duplicate anything (UNIQUE key + daily limits).
    await stack.fireCron();
    const again = await stack.api('/proposals');
    assert.equal(again.json.proposals.length, pending.length);
    // The detail view carries the snapshots and the payoff curve.
    const detail = await stack.api(`/proposals/${pending[0].id}`);
    assert.equal(detail.status, 200);
    assert.ok(detail.json.payoff_curve.length > 10);
    assert.ok(detail.json.quote_snapshot.legs.length >= 1);
    assert.ok(detail.json.analytics_snapshot.regime);
    const ms = readFileSync(stack.logs.wrangler, 'utf8').split('\n')
      .filter((l) => l.includes('"event":"proposals_cron"'))
      .map((l) => { try { return JSON.parse(l).detail; } catch { return null; } })
      .filter((d) => d && typeof d.ms === 'number')
      .map((d) => ({ ms: d.ms, considered: d.considered, created: d.created }));
    console.log(`proposals cron step ms (per run): ${JSON.stringify(ms)}`);
    for (const p of pending) console.log(`proposal ${p.id} ${p.symbol} ${p.strategy} x${p.contracts}: ${p.rationale}`);
  });

  test('two concurrent approvals: exactly one 200 and one 409; the paper order carries the key', async () => {
    const p = pending[0];
    const [a, b] = await Promise.all([
      post(`/proposals/${p.id}/approve`, { note: 'looks good' }),
      post(`/proposals/${p.id}/approve`, {}),
    ]);
    const statuses = [a.status, b.status].sort();
    assert.deepEqual(statuses, [200, 409], `${a.text}\n${b.text}`);
    const ok = a.status === 200 ? a : b;
    const conflict = a.status === 200 ? b : a;
    assert.equal(ok.json.status, 'approved');
    assert.equal(conflict.json.status, 'approved', conflict.text);
    assert.equal(conflict.json.error, 'invalid_state');
    assert.equal(ok.json.order.status, 'submitted', ok.text);
    const orderId = ok.json.order.id;
    assert.ok(orderId);
    const order = await bridgeGet(`/orders/${encodeURIComponent(orderId)}`);
    assert.equal(order.status, 200);
    assert.equal(order.json.idempotency_key, p.idempotency_key);
    assert.equal(order.json.quantity, ok.json.order.contracts);
    assert.equal(order.json.legs.length, p.legs.length);
    // A third approval is still 409 with the current state.
    const third = await post(`/proposals/${p.id}/approve`);
    assert.equal(third.status, 409);
    assert.equal(third.json.status, 'approved');
  });

  test('item 4: a failed order is looked up by key before any resend; the broker has it: recorded, not sent again', async () => {
    const p = pending[0];
    const first = await stack.api(`/proposals/${p.id}`);
    const orderId = first.json.order.id;
    // Simulate a failure recorded after the bridge had in fact placed the order.
    await stack.d1(`UPDATE proposals SET order_status = 'submit_failed' WHERE id = ${Number(p.id)}`);
    await stack.fireCron();
    const after = await stack.api(`/proposals/${p.id}`);
    assert.equal(after.json.order.status, 'submitted', after.text);
    assert.equal(after.json.order.id, orderId, 'the order found by key');
    assert.equal(after.json.order.attempts, 1, 'no second POST /orders');
    const entries = await auditOf(p.id);
    const submitted = entries.filter((e) => e.action === 'order_submitted');
    assert.equal(submitted.length, 2);
    assert.equal(submitted[0].details.resolved_by, 'lookup', 'newest first: resolved by key');
    assert.equal(submitted[0].details.order_state_from, 'submit_failed');
    assert.equal(submitted[0].actor, 'system:cron');
    assert.equal(entries.filter((e) => e.action === 'order_retry').length, 0);
  });

  test('item 5: a timed-out order is unknown, then resolved by key on the next cron run', async () => {
    const key = `e2e-timeout-${Date.now()}`;
    const id = await cloneProposal(pending[0].id, key);
    proxy.state.delayOrdersMs = ORDER_TIMEOUT_MS + 2500;
    let res;
    try {
      res = await post(`/proposals/${id}/approve`);
    } finally {
      proxy.state.delayOrdersMs = 0;
    }
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.status, 'approved');
    assert.equal(res.json.order.status, 'unknown', res.text);
    // The bridge placed it all the same.
    let found;
    for (let i = 0; i < 40; i += 1) {
      found = await byKey(key);
      if (found.status === 200) break;
      await sleep(250);
    }
    assert.equal(found.status, 200, JSON.stringify(found.json));
    await stack.fireCron();
    const after = await stack.api(`/proposals/${id}`);
    assert.equal(after.json.order.status, 'submitted', after.text);
    assert.equal(after.json.order.id, found.json.id);
    assert.equal(after.json.order.attempts, 1, 'sent once');
    const entries = await auditOf(id);
    assert.equal(entries.filter((e) => e.action === 'order_unknown').length, 1);
    const [resolved] = entries.filter((e) => e.action === 'order_submitted');
    assert.equal(resolved.details.resolved_by, 'lookup');
    assert.equal(resolved.details.order_state_from, 'unknown');
    assert.equal(entries.filter((e) => e.action === 'order_retry').length, 0);
  });

  test('item 4: a failed order outside its window (approved on an earlier trading date) is abandoned, never sent', async () => {
    const key = `e2e-stale-${Date.now()}`;
    const id = await cloneProposal(pending[0].id, key);
    const yesterday = Date.now() - 86_400_000;
    await stack.d1(`UPDATE proposals SET status = 'approved', decided_at = ${yesterday},
      decided_by = 'api_token', order_status = 'submit_failed', order_attempts = 1,
      order_updated_at = ${yesterday},
      order_request = json_set((SELECT order_request FROM proposals WHERE id = ${Number(pending[0].id)}),
        '$.idempotency_key', '${key}')
      WHERE id = ${Number(id)}`);
    await stack.fireCron();
    const after = await stack.api(`/proposals/${id}`);
    assert.equal(after.json.order.status, 'abandoned', after.text);
    assert.match(after.json.order.error, /trading date/);
    assert.equal((await byKey(key)).status, 404, 'nothing was sent');
    const entries = await auditOf(id);
    const [abandoned] = entries.filter((e) => e.action === 'order_abandoned');
    assert.ok(abandoned, JSON.stringify(entries));
    assert.equal(abandoned.details.order_state_from, 'submit_failed');
    // Final: later runs leave it alone.
    await stack.fireCron();
    assert.equal((await stack.api(`/proposals/${id}`)).json.order.status, 'abandoned');
  });

  test('item 4: inside its window, a never-placed order is re-priced and sent once', async () => {
    const key = `e2e-resend-${Date.now()}`;
    const id = await cloneProposal(pending[0].id, key);
    const now = Date.now() - 120_000;
    await stack.d1(`UPDATE proposals SET status = 'approved', decided_at = ${now},
      decided_by = 'api_token', order_status = 'submit_failed', order_attempts = 1,
      order_updated_at = ${now},
      order_request = json_set((SELECT order_request FROM proposals WHERE id = ${Number(pending[0].id)}),
        '$.idempotency_key', '${key}')
      WHERE id = ${Number(id)}`);
    assert.equal((await byKey(key)).status, 404);
    await stack.fireCron();
    const after = await stack.api(`/proposals/${id}`);
    assert.equal(after.json.order.status, 'submitted', after.text);
    assert.equal(after.json.order.attempts, 2);
    const entries = await auditOf(id);
    const [retry] = entries.filter((e) => e.action === 'order_retry');
    assert.ok(retry, 'the resend was re-priced and claimed');
    assert.equal(typeof retry.details.fresh_mid, 'number');
    const order = await byKey(key);
    assert.equal(order.status, 200);
    assert.equal(order.json.id, after.json.order.id);
    // Another run does not send it again.
    await stack.fireCron();
    assert.equal((await stack.api(`/proposals/${id}`)).json.order.attempts, 2);
  });

  test('item 6: the kill switch turned on between the approval and the send stops the order', async () => {
    const key = `e2e-kill-${Date.now()}`;
    const id = await cloneProposal(pending[0].id, key);
    // The approval reads GET /account twice: before the approving UPDATE
    // and right before the send. Turn the switch on (through the API, as the
    // trader would) while the second one is on its way: after the approval
    // checked the switch, before the order is sent.
    // The monitor (risk inputs) runs first, outside the counted calls.
    await stack.fireMonitor();
    let accountCalls = 0;
    proxy.state.beforeForward = async (method, url) => {
      if (method === 'GET' && url === '/account') {
        accountCalls += 1;
        if (accountCalls === 2) {
          const on = await post('/kill-switch', { on: true, reason: 'e2e: stop between approval and send' });
          assert.equal(on.status, 200, on.text);
        }
      }
    };
    let res;
    try {
      res = await post(`/proposals/${id}/approve`, undefined, { monitor: false });
    } finally {
      proxy.state.beforeForward = null;
      const off = await post('/kill-switch', { on: false, reason: 'e2e: done' });
      assert.equal(off.status, 200, off.text);
    }
    assert.equal(accountCalls, 2, 'the switch was turned on between approval and send');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.status, 'approved');
    assert.equal(res.json.order.status, 'abandoned', res.text);
    assert.equal(res.json.order.attempts, 0);
    assert.equal((await byKey(key)).status, 404, 'nothing reached the bridge');
    const entries = await auditOf(id);
    assert.equal(entries.filter((e) => e.action === 'order_abandoned').length, 1);
  });

  test('Access JWT: valid accepted; wrong aud/iss, expired, bad signature refused', async () => {
    const good = await stack.api('/proposals?limit=1', jwt(access.mint()));
    assert.equal(good.status, 200, good.text);
    const now = Math.floor(Date.now() / 1000);
    const impostor = newKey();
    const cases = {
      'wrong audience': access.mint({ aud: ['someone-else'] }),
      'wrong issuer': access.mint({ iss: 'https://evil.cloudflareaccess.com' }),
      expired: access.mint({ iat: now - 7200, nbf: now - 7200, exp: now - 3600 }),
      'bad signature': access.mint({}, { key: impostor, kid: JSON.parse(Buffer.from(access.mint().split('.')[0], 'base64url')).kid }),
      'unsigned (alg none)': `${Buffer.from('{"alg":"none","kid":"x"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: access.issuer, aud: [AUD], exp: now + 600 })).toString('base64url')}.`,
      garbage: 'not.a.token',
    };
    for (const [label, token] of Object.entries(cases)) {
      const res = await stack.api('/proposals', jwt(token));
      assert.equal(res.status, 401, label);
      assert.deepEqual(res.json, { error: 'unauthorized', message: 'missing or invalid credentials' });
    }
    assert.equal((await stack.api('/audit', { auth: false })).status, 401);
    assert.equal((await post(`/proposals/${pending[1].id}/reject`, { reason: 'x' }, { auth: false })).status, 401);
  });

  test('reject with a reason (as the Access user); a rejected proposal cannot be approved', async () => {
    const p = pending[1];
    const token = access.mint({ email: 'trader@example.com' });
    const res = await post(`/proposals/${p.id}/reject`, { reason: 'earnings next week' }, jwt(token));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.status, 'rejected');
    assert.equal(res.json.decision_reason, 'earnings next week');
    assert.equal(res.json.decided_by, 'access:trader@example.com');
    const again = await post(`/proposals/${p.id}/reject`, { reason: 'twice' });
    assert.equal(again.status, 409);
    assert.equal(again.json.status, 'rejected');
    const approve = await post(`/proposals/${p.id}/approve`);
    assert.equal(approve.status, 409);
    assert.equal(approve.json.status, 'rejected');
  });

  test('bad input: unknown id 404, malformed bodies 400, bad queries 400', async () => {
    assert.equal((await post('/proposals/999999/approve')).status, 404);
    assert.equal((await post('/proposals/999999/reject', { reason: 'x' })).status, 404);
    assert.equal((await stack.api('/proposals/999999')).status, 404);
    assert.equal((await stack.api('/proposals/abc')).status, 404);
    const p = pending[2];
    for (const body of ['{', '[]', '{"reason":""}', '{"reason":3}', '{}', '{"reason":"x","extra":1}']) {
      const res = await post(`/proposals/${p.id}/reject`, body);
      assert.equal(res.status, 400, body);
      assert.equal(res.json.error, 'bad_request');
    }
    for (const body of ['{', '[1]', '{"nope":true}']) {
      assert.equal((await post(`/proposals/${p.id}/approve`, body)).status, 400, body);
    }
    assert.equal((await stack.api('/proposals?status=open')).status, 400);
    assert.equal((await stack.api('/audit?limit=0')).status, 400);
    assert.equal((await stack.api(`/proposals/${p.id}/approve`)).status, 405);
    // Nothing was half-written by the refused requests.
    const still = await stack.api(`/proposals/${p.id}`);
    assert.equal(still.json.status, 'pending');
  });

  test('approval re-prices: a net price beyond the slippage band is refused with the new numbers', async () => {
    const p = pending[2];
    // Make the stored proposal look as if it had been priced far from
    // today's market (its net mid 5.00 per share away from the quotes).
    const moved = p.entry.net_price_mid + 5;
    await stack.d1(`UPDATE proposals SET proposal_json = json_set(proposal_json, '$.metrics.net_price_mid', ${moved}) WHERE id = ${Number(p.id)}`);
    const res = await post(`/proposals/${p.id}/approve`);
    assert.equal(res.status, 409, res.text);
    assert.equal(res.json.error, 'price_moved');
    assert.equal(res.json.status, 'pending');
    assert.equal(res.json.refusal.reason.code, 'price_moved_beyond_band');
    assert.equal(typeof res.json.refusal.new_numbers.net_price_mid, 'number');
    assert.ok(Math.abs(res.json.refusal.reason.proposed - moved) < 1e-9);
    const after = await stack.api(`/proposals/${p.id}`);
    assert.equal(after.json.status, 'pending', 'a refused approval changes nothing');
    const audit = await stack.api(`/audit?proposal=${p.id}`);
    const refused = audit.json.entries.filter((e) => e.action === 'approval_refused');
    assert.equal(refused.length, 1);
    assert.equal(refused[0].from_state, 'pending');
    assert.equal(refused[0].to_state, 'pending');
  });

  test('kill switch refuses approvals and is audited', async () => {
    const p = pending[2];
    const on = await post('/kill-switch', { on: true, reason: 'drill' });
    assert.equal(on.status, 200, on.text);
    assert.equal(on.json.on, true);
    // item 6 (bridge half): mirrored to the bridge, which refuses orders now.
    const halt = await bridgeGet('/halt');
    assert.equal(halt.status, 200, JSON.stringify(halt.json));
    assert.equal(halt.json.halted, true);
    const refused = await post(`/proposals/${p.id}/approve`);
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.json.error, 'kill_switch_on');
    assert.equal(refused.json.status, 'pending');
    const off = await post('/kill-switch', { on: false, reason: 'drill over' });
    assert.equal(off.json.on, false);
    assert.equal((await bridgeGet('/halt')).json.halted, false);
    assert.equal((await stack.api(`/proposals/${p.id}`)).json.status, 'pending');
  });

  test('an undecided proposal expires; approving it then is 409 expired', async () => {
    const p = pending[2];
    // The test controls time for this one proposal instead of waiting out the
    // TTL: its expiry is moved into the past in D1, then the cron runs.
    assert.ok(Date.parse(p.expires_at) > Date.now(), 'still pending before');
    await stack.d1(`UPDATE proposals SET expires_at = ${Date.now() - 1000} WHERE id = ${p.id}`);
    await stack.fireCron();
    const res = await stack.api(`/proposals/${p.id}`);
    assert.equal(res.json.status, 'expired');
    assert.equal(res.json.decided_by, 'system:cron');
    const approve = await post(`/proposals/${p.id}/approve`);
    assert.equal(approve.status, 409);
    assert.equal(approve.json.status, 'expired');
  });

  test('Access key rotation: one JWKS refresh on an unknown kid', async () => {
    // A token of the key the JWKS serves now: accepted before the rotation.
    const old = access.mint();
    assert.equal((await stack.api('/proposals?limit=1', jwt(old))).status, 200, 'the old key was in the JWKS');
    // At most one refresh per 5 s: let the last fetch age first.
    await sleep(5500);
    const before = access.fetches();
    const key = access.rotate();
    const res = await stack.api('/proposals?limit=1', jwt(access.mint({}, { key })));
    assert.equal(res.status, 200, res.text);
    assert.equal(access.fetches(), before + 1);
    // Tokens of the retired key (in the JWKS before, removed by the rotation)
    // are refused now, though still unexpired and validly signed.
    assert.equal((await stack.api('/proposals?limit=1', jwt(old))).status, 401);
  });

  test('the audit log tells the whole story and is append-only', async () => {
    const res = await stack.api('/audit?limit=500');
    assert.equal(res.status, 200);
    const entries = res.json.entries;
    const of = (id, action) => entries.filter((e) => e.entity_id === id && e.action === action);
    for (const p of pending) assert.equal(of(p.id, 'proposal_created').length, 1, `created ${p.id}`);
    const [approved] = of(pending[0].id, 'proposal_approved');
    assert.equal(of(pending[0].id, 'proposal_approved').length, 1, 'exactly one approval');
    assert.equal(approved.from_state, 'pending');
    assert.equal(approved.to_state, 'approved');
    assert.equal(approved.actor, 'api_token');
    assert.equal(typeof approved.details.fresh_mid, 'number');
    assert.equal(typeof approved.details.limit_price, 'number');
    assert.equal(approved.details.idempotency_key, pending[0].idempotency_key);
    assert.ok(approved.details.legs.every((l) => typeof l.bid === 'number' && typeof l.ask === 'number'));
    assert.equal(of(pending[0].id, 'order_submitted').length, 2, 'first submission + found by key');
    const [rejected] = of(pending[1].id, 'proposal_rejected');
    assert.equal(rejected.actor, 'access:trader@example.com');
    assert.equal(rejected.details.reason, 'earnings next week');
    const [expired] = of(pending[2].id, 'proposal_expired');
    assert.equal(expired.to_state, 'expired');
    // item 6's on/off around a send, and the kill-switch drill.
    assert.equal(entries.filter((e) => e.action === 'kill_switch_changed').length, 4);
    const byProposal = await stack.api(`/audit?proposal=${pending[0].id}`);
    assert.ok(byProposal.json.entries.every((e) => e.entity_id === pending[0].id));
    await assert.rejects(stack.d1("UPDATE audit_log SET actor = 'someone else'"), /append-only/);
    await assert.rejects(stack.d1('DELETE FROM audit_log'), /append-only/);
  });
});
