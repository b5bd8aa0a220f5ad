// End-to-end tests of the Worker's request gate and its security settings
// (issue 8, items 9, 10, 12, 13, 15): the Worker under `wrangler dev --local`
// with local D1, a local Cloudflare Access JWKS (tests/lib/jwks.mjs) and a
// small capturing HTTP server standing in as BRIDGE_URL (it records every
// request's headers and answers like the bridge).
// Run after scripts/build: node --test tests/e2e/security.test.mjs

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import { newKey, signJwt, startJwks } from '../lib/jwks.mjs';
import { freePort, randomToken, startStack } from '../lib/stack.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TEAM = 'sas-sec.cloudflareaccess.com';
const AUD = 'sas-sec-aud-0123456789';
const CLIENT_ID = 'e2e-client-0123.access';
const DAY = 86_400_000;

/** A stand-in bridge: records requests, answers /health, /account, /quotes. */
async function startCapture() {
  const state = { requests: [], quotes: 'ok' };
  const server = http.createServer((req, res) => {
    state.requests.push({ method: req.method, url: req.url, headers: req.headers });
    const json = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/health') return json(200, { status: 'ok' });
    if (req.url === '/account') return json(200, { account_id: 'DU0000001', net_liquidation: 100000 });
    if (req.url.startsWith('/quotes')) {
      if (state.quotes !== 'ok') return json(503, { error: 'unavailable', message: 'injected' });
      const ts = new Date().toISOString();
      return json(200, {
        quotes: [{ symbol: 'SPY', bid: 599.9, ask: 600.1, last: 600, volume: 1000, timestamp: ts, data_type: 'simulated' }],
        errors: [],
      });
    }
    return json(404, { error: 'not_found', message: 'no such route' });
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

/** Sends a raw HTTP/1.1 request head and `bodyPrefix`; resolves with the status and the whole answer. */
function rawRequest(url, head, bodyPrefix, timeoutMs) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => {
      socket.write(head + bodyPrefix);
    });
    let data = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer within ${timeoutMs} ms`)); }, timeoutMs);
    // The whole answer: head and a body of its Content-Length.
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      const m = data.match(/^HTTP\/1\.1 (\d{3})/);
      const split = data.indexOf('\r\n\r\n');
      const length = Number(data.match(/\r\ncontent-length: *(\d+)/i)?.[1] ?? 0);
      if (m && split >= 0 && data.length - split - 4 >= length) {
        clearTimeout(timer);
        socket.destroy();
        resolve({ status: Number(m[1]), text: data });
      }
    });
    socket.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

describe('request gate, JWKS cache, bridge service token, pruning', () => {
  let stack;
  let access;
  let capture;
  const clientSecret = randomToken();
  const jwt = (token, headers = {}) => ({ auth: false, headers: { 'cf-access-jwt-assertion': token, ...headers } });

  before(async () => {
    access = await startJwks({ teamDomain: TEAM, aud: AUD });
    capture = await startCapture();
    stack = await startStack({
      bridge: false,
      vars: {
        BRIDGE_URL: capture.url,
        BRIDGE_ACCESS_CLIENT_ID: CLIENT_ID,
        BRIDGE_ACCESS_CLIENT_SECRET: clientSecret,
        ACCESS_TEAM_DOMAIN: TEAM,
        ACCESS_AUD: AUD,
        ACCESS_JWKS_URL: access.url,
        ALLOWED_ORIGINS: 'https://dash.example.com',
        WATCHLIST: 'SPY',
        MARKET_DATA_RETENTION_DAYS: '1',
      },
    });
  });
  after(async () => {
    await stack?.stop();
    await access?.stop();
    await capture?.close();
  });

  test('JWKS fetch forced by anonymous requests: bad tokens never fetch, concurrent requests share one fetch, failures are cached', async () => {
    const now = Math.floor(Date.now() / 1000);
    const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const claims = { iss: access.issuer, aud: [AUD], exp: now + 600 };
    const malformed = [
      'garbage',
      'not.a.token',
      `${b64({ alg: 'none', kid: 'x' })}.${b64(claims)}.`,
      `${b64({ alg: 'RS256' })}.${b64(claims)}.${Buffer.alloc(256, 1).toString('base64url')}`,
      `${b64({ alg: 'RS256', kid: 'k' })}.${b64(claims)}.${Buffer.alloc(8, 1).toString('base64url')}`,
      `${b64({ alg: 'HS256', kid: 'k' })}.${b64(claims)}.${Buffer.alloc(32, 1).toString('base64url')}`,
    ];
    const flood = await Promise.all(
      Array.from({ length: 30 }, (_, i) => stack.api('/proposals?limit=1', jwt(malformed[i % malformed.length]))),
    );
    assert.deepEqual([...new Set(flood.map((r) => r.status))], [401]);
    assert.equal(access.fetches(), 0, 'a malformed token must not cost a JWKS fetch');

    // Ten concurrent good tokens on an empty cache: one shared fetch.
    const good = await Promise.all(Array.from({ length: 10 }, () => stack.api('/proposals?limit=1', jwt(access.mint()))));
    assert.deepEqual(good.map((r) => r.status), Array(10).fill(200), good.map((r) => r.text).join('\n'));
    assert.equal(access.fetches(), 1, 'concurrent requests share one in-flight fetch');

    // Unknown kids once the refresh interval passed, while the JWKS fails:
    // one refresh, then the failure is remembered (no fetch per request).
    await sleep(5500);
    access.setFailing(true);
    const forged = () => signJwt(newKey(), { ...claims, email: 'x@example.com' });
    const burst = await Promise.all(Array.from({ length: 10 }, () => stack.api('/proposals?limit=1', jwt(forged()))));
    for (let i = 0; i < 10; i += 1) burst.push(await stack.api('/proposals?limit=1', jwt(forged())));
    assert.deepEqual([...new Set(burst.map((r) => r.status))], [401]);
    assert.equal(access.fetches(), 2, 'one refresh for the whole flood, failure cached');
    // Known keys still verify from the cache meanwhile.
    assert.equal((await stack.api('/proposals?limit=1', jwt(access.mint()))).status, 200);
    access.setFailing(false);
  });

  test('cross-site requests: JSON content type and an allowed Origin on every state change; empty body is no approval', async () => {
    const kill = (opts) => stack.api('/kill-switch', { method: 'POST', ...opts });
    const body = JSON.stringify({ on: true, reason: 'cross-site' });
    // A form / text/plain "simple request" can no longer build a kill-switch body.
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx']) {
      const res = await kill({ raw: true, body, headers: { 'content-type': contentType } });
      assert.equal(res.status, 415, `${contentType}: ${res.text}`);
      assert.equal(res.json.error, 'unsupported_media_type');
      assert.ok(res.json.message.includes('application/json'), res.json.message);
    }
    const noType = await kill({ raw: true, body });
    assert.equal(noType.status, 415, noType.text);
    // Another site's Origin is refused, bearer token or not.
    const evil = await kill({ body, headers: { origin: 'https://evil.example' } });
    assert.equal(evil.status, 403, evil.text);
    assert.equal(evil.json.error, 'origin_not_allowed');
    const token = access.mint();
    const evilCookie = await kill({ body, ...jwt(token, { 'content-type': 'application/json', origin: 'https://evil.example' }) });
    assert.equal(evilCookie.status, 403, evilCookie.text);
    // No Origin: only for bearer-token clients, never on an Access token alone.
    const noOrigin = await kill({ body, ...jwt(token, { 'content-type': 'application/json' }) });
    assert.equal(noOrigin.status, 403, noOrigin.text);
    assert.equal(noOrigin.json.error, 'origin_not_allowed');
    assert.equal((await stack.api('/kill-switch')).json.on, false, 'nothing refused changed state');
    // The Worker's own origin (Access user) and an ALLOWED_ORIGINS entry pass.
    const own = await kill({ body, ...jwt(token, { 'content-type': 'application/json; charset=utf-8', origin: stack.workerUrl }) });
    assert.equal(own.status, 200, own.text);
    assert.equal((await stack.api('/kill-switch')).json.on, true);
    const listed = await kill({ body: JSON.stringify({ on: false, reason: 'done' }), headers: { origin: 'https://dash.example.com' } });
    assert.equal(listed.status, 200, listed.text);
    assert.equal((await stack.api('/kill-switch')).json.on, false);
    // An empty body is not an implicit approval; state changes take JSON.
    for (const p of ['/proposals/1/approve', '/ingest/market']) {
      const empty = await stack.api(p, { method: 'POST', body: '' });
      assert.equal(empty.status, 400, `${p}: ${empty.text}`);
      assert.equal(empty.json.error, 'bad_request');
    }
    assert.equal((await stack.api('/ingest/market', { method: 'POST', body: '{"x":1}' })).status, 400);
    assert.equal((await stack.api('/ingest/market', { method: 'POST', body: '{}' })).status, 200);
    // Reads are not gated.
    assert.equal((await stack.api('/kill-switch', { headers: { origin: 'https://evil.example' } })).status, 200);
  });

  test('payload too large: 413 payload_too_large for a large declared length and for a long body without one', async () => {
    // (Under `wrangler dev` the local proxy buffers a whole request body
    // before the Worker sees it, so "refused before reading" is checked
    // natively: gate::tests::payload_too_large_is_refused_before_reading.)
    const { host } = new URL(stack.workerUrl);
    const big = ' '.repeat(100_000);
    const head = [
      'POST /kill-switch HTTP/1.1',
      `Host: ${host}`,
      `Authorization: Bearer ${stack.apiToken}`,
      'Content-Type: application/json',
      `Content-Length: ${big.length}`,
      'Connection: close',
      '', '',
    ].join('\r\n');
    const res = await rawRequest(stack.workerUrl, head, big, 20_000);
    assert.equal(res.status, 413, res.text);
    assert.ok(res.text.includes('payload_too_large'), res.text);
    const chunked = await fetch(`${stack.workerUrl}/kill-switch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiToken}`, 'content-type': 'application/json' },
      body: new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(' '.repeat(5000))); c.close(); } }),
      duplex: 'half',
    }).then(async (r) => ({ status: r.status, text: await r.text() }), (e) => ({ status: 0, text: String(e) }));
    assert.equal(chunked.status, 413, chunked.text);
    assert.equal((await stack.api('/kill-switch')).json.on, false);
  });

  test('bridge Access service token: CF-Access-Client-Id/-Secret reach the bridge, the secret is never logged', async () => {
    capture.state.requests.length = 0;
    const account = await stack.api('/broker/account');
    assert.equal(account.status, 200, account.text);
    const health = await stack.api('/health', { auth: false });
    assert.equal(health.json.bridge.ok, true, health.text);
    const seen = capture.state.requests.filter((r) => r.url === '/account' || r.url === '/health');
    assert.ok(seen.length >= 2, JSON.stringify(capture.state.requests.map((r) => r.url)));
    for (const r of seen) {
      assert.equal(r.headers['cf-access-client-id'], CLIENT_ID, r.url);
      assert.equal(r.headers['cf-access-client-secret'], clientSecret, r.url);
    }
    assert.ok(!readFileSync(stack.logs.wrangler, 'utf8').includes(clientSecret), 'secret in the Worker log');
    assert.ok(!account.text.includes(clientSecret) && !health.text.includes(clientSecret));
  });

  test('symbol path segments are strict: /symbols/SPY&x=1/metrics is a 400, not SPY', async () => {
    for (const p of ['/symbols/SPY&x=1/metrics', '/symbols/SPY%26x%3D1/chain', '/symbols/SPY=/metrics']) {
      const res = await stack.api(p);
      assert.equal(res.status, 400, `${p}: ${res.text}`);
      assert.equal(res.json.error, 'bad_request', p);
    }
  });

  test('market-data pruning only on runs that ingested, never below the newest N days that exist', async () => {
    const now = Date.now();
    await stack.d1('DELETE FROM market_data');
    await stack.d1(`INSERT INTO market_data (symbol, ts, bid, ask, last, volume, data_type) VALUES
      ('SPY', ${now - 3 * DAY}, 1, 1.1, 1.05, 10, 'simulated'),
      ('SPY', ${now - 5 * DAY}, 1, 1.1, 1.05, 10, 'simulated')`);
    const rows = async () => (await stack.d1('SELECT ts FROM market_data ORDER BY ts')).map((r) => r.ts);
    // A run that ingests nothing (bridge failing) prunes nothing, even with
    // a 1-day retention and only older data.
    capture.state.quotes = 'down';
    const failed = await stack.api('/ingest/market', { method: 'POST' });
    assert.equal(failed.status, 200, failed.text);
    assert.equal(failed.json.status, 'failed');
    assert.deepEqual(await rows(), [now - 5 * DAY, now - 3 * DAY], 'history survives a run that wrote nothing');
    // A run that ingests after a long gap keeps the newest day that existed
    // (now-3d) and drops what is older than that day (now-5d).
    capture.state.quotes = 'ok';
    const ok = await stack.api('/ingest/market', { method: 'POST' });
    // (The stand-in has no option chains: the chain step makes it partial.)
    assert.ok(['ok', 'partial'].includes(ok.json.status), ok.text);
    const after = await rows();
    assert.equal(after.length, 2, JSON.stringify(after));
    assert.equal(after[0], now - 3 * DAY);
    assert.ok(after[1] > now - DAY);
    // With fresh data stored, the normal retention applies again.
    await sleep(1100);
    await stack.api('/ingest/market', { method: 'POST' });
    assert.ok((await rows()).every((ts) => ts > now - DAY), 'older than the retention is pruned once newer data exists');
  });
});
