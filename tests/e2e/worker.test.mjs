// End-to-end tests of the Phase-1 Worker: real broker bridge (simulated
// broker) + the Worker under `wrangler dev --local` with local D1.
// Run: scripts/test (or, after scripts/build: node --test tests/e2e/).

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { startStack } from '../lib/stack.mjs';

const WATCHLIST = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'META', 'TSLA', 'SPY', 'QQQ', 'IWM'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('ingest, API and failure handling', () => {
  let stack;
  before(async () => {
    stack = await startStack({ marketHoursMode: 'ignore' });
  });
  after(async () => {
    await stack?.stop();
  });

  test('health is ok before any ingest and leaks nothing', async () => {
    const res = await stack.api('/health', { auth: false });
    assert.equal(res.status, 200);
    assert.equal(res.json.status, 'ok', res.text);
    assert.equal(res.json.version, '0.1.0');
    assert.deepEqual(res.json.d1, { ok: true });
    assert.equal(res.json.bridge.ok, true);
    assert.equal(typeof res.json.bridge.latency_ms, 'number');
    assert.equal(res.json.last_ingest, null);
    assert.ok(!res.text.includes(stack.apiToken) && !res.text.includes(stack.bridgeToken));
    assert.ok(!res.text.includes('127.0.0.1'), 'no config dump');
  });

  test('authentication: missing or wrong token → 401, right token → 200', async () => {
    const expected = { error: 'unauthorized', message: 'missing or invalid credentials' };
    for (const [label, opts] of [
      ['missing', { auth: false }],
      ['wrong', { token: 'x'.repeat(64) }],
      ['prefix of the right one', { token: stack.apiToken.slice(0, 63) }],
      ['basic scheme', { auth: false, headers: { authorization: `Basic ${stack.apiToken}` } }],
    ]) {
      for (const p of ['/market/latest', '/ingest/runs', '/search/opportunities', '/broker/account']) {
        const res = await stack.api(p, opts);
        assert.equal(res.status, 401, `${label} ${p}`);
        assert.deepEqual(res.json, expected, `${label} ${p}`);
      }
    }
    const post = await stack.api('/ingest/market', { method: 'POST', auth: false });
    assert.equal(post.status, 401);
    // Parameters of protected routes are not even looked at without a token.
    const bad = await stack.api('/market/history?symbol=$$', { auth: false });
    assert.equal(bad.status, 401);
    const ok = await stack.api('/market/latest');
    assert.equal(ok.status, 200);
  });

  test('cron run stores one quote per watchlist symbol', async () => {
    const run = await stack.fireCron();
    assert.equal(run.status, 'ok', JSON.stringify(run));
    assert.equal(run.trigger, 'cron');
    assert.equal(run.symbols_ok, 10);
    assert.equal(run.symbols_failed, 0);
    // rows_written counts every D1 row the run wrote: the 10 quotes, plus
    // whatever later pipeline steps (option chains, metrics) add.
    assert.ok(run.rows_written >= 10, JSON.stringify(run));
    assert.equal(run.error, null);
    assert.ok(Date.parse(run.finished_at) >= Date.parse(run.started_at));

    const rows = await stack.d1('SELECT symbol, ts, bid, ask, last, volume, data_type FROM market_data ORDER BY symbol');
    assert.deepEqual(rows.map((r) => r.symbol), [...WATCHLIST].sort());
    for (const r of rows) {
      assert.ok(r.last > 0 && r.bid > 0 && r.bid <= r.ask, JSON.stringify(r));
      assert.equal(r.data_type, 'simulated');
      assert.ok(Number.isInteger(r.ts) && Math.abs(r.ts - Date.now()) < 10 * 60_000, JSON.stringify(r));
    }
    const runs = await stack.d1('SELECT id, trigger, status, symbols_ok, rows_written FROM ingest_runs');
    assert.deepEqual(runs, [{ id: run.id, trigger: 'cron', status: 'ok', symbols_ok: 10, rows_written: run.rows_written }]);

    const latest = await stack.api('/market/latest');
    assert.equal(latest.status, 200);
    assert.deepEqual(latest.json.quotes.map((q) => q.symbol), WATCHLIST, 'watchlist order');
    for (const q of latest.json.quotes) {
      const stored = rows.find((r) => r.symbol === q.symbol);
      assert.equal(q.last, stored.last);
      assert.equal(q.bid, stored.bid);
      assert.equal(q.volume, stored.volume);
      assert.equal(Date.parse(q.timestamp), stored.ts);
    }
    assert.equal(Date.parse(latest.json.as_of), Math.max(...rows.map((r) => r.ts)));

    const health = await stack.api('/health', { auth: false });
    assert.equal(health.json.last_ingest.status, 'ok');
    assert.ok(health.json.last_ingest.age_seconds >= 0 && health.json.last_ingest.age_seconds < 60);
  });

  test('manual ingests build history, runs list and a ranking with factors', async () => {
    for (let i = 0; i < 6; i += 1) {
      await sleep(1100); // distinct quote timestamps
      const res = await stack.api('/ingest/market', { method: 'POST' });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.trigger, 'manual');
      assert.equal(res.json.status, 'ok', res.text);
      assert.ok(res.json.rows_written >= 10, res.text);
    }
    const counts = await stack.d1('SELECT symbol, COUNT(*) AS n FROM market_data GROUP BY symbol');
    assert.equal(counts.length, 10);
    for (const c of counts) assert.equal(c.n, 7, JSON.stringify(c));

    const runs = await stack.api('/ingest/runs?limit=3');
    assert.equal(runs.json.runs.length, 3);
    const ids = runs.json.runs.map((r) => r.id);
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first');
    assert.deepEqual(Object.keys(runs.json.runs[0]).sort(),
      ['error', 'finished_at', 'id', 'rows_written', 'started_at', 'status', 'symbols_failed', 'symbols_ok', 'trigger']);

    const hist = await stack.api('/market/history?symbol=aapl&days=1');
    assert.equal(hist.status, 200);
    assert.equal(hist.json.symbol, 'AAPL');
    const stored = await stack.d1("SELECT ts, last FROM market_data WHERE symbol = 'AAPL' ORDER BY ts");
    assert.deepEqual(hist.json.points.map((p) => [Date.parse(p.t), p.last]), stored.map((r) => [r.ts, r.last]));

    const opp = await stack.api('/search/opportunities?limit=10');
    assert.equal(opp.status, 200, opp.text);
    const list = opp.json.opportunities;
    assert.equal(list.length, 10);
    assert.deepEqual(list.map((o) => o.rank), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual([...list.map((o) => o.symbol)].sort(), [...WATCHLIST].sort());
    for (let i = 1; i < list.length; i += 1) assert.ok(list[i - 1].score >= list[i].score, 'sorted by score');
    for (const o of list) {
      assert.ok(o.score >= 0 && o.score <= 100);
      assert.equal(o.observations, 7);
      const latestRow = await stack.d1(`SELECT last FROM market_data WHERE symbol = '${o.symbol}' ORDER BY ts DESC LIMIT 1`);
      assert.equal(o.last, latestRow[0].last);
      const names = o.factors.map((f) => f.name);
      assert.ok(names.includes('realized_vol') && names.includes('momentum'), names.join());
      let sum = 0;
      for (const f of o.factors) {
        assert.equal(typeof f.label, 'string');
        assert.equal(typeof f.weight, 'number');
        assert.ok(f.normalized === null || (f.normalized >= 0 && f.normalized <= 100));
        sum += f.contribution;
      }
      assert.ok(Math.abs(sum - o.score) < 1e-6, `contributions add up to the score for ${o.symbol}`);
    }
    const top3 = await stack.api('/search/opportunities?limit=3');
    assert.deepEqual(top3.json.opportunities.map((o) => o.symbol), list.slice(0, 3).map((o) => o.symbol));
  });

  test('bad input → 400 naming the problem; unknown route 404; wrong method 405', async () => {
    const cases = [
      ['/market/history', "'symbol' is required"],
      ['/market/history?symbol=$$', 'invalid symbol'],
      ['/market/history?symbol=AAPL&days=11', "'days' must be an integer in 1..=10"],
      ['/market/history?symbol=AAPL&days=0', "'days'"],
      ['/market/history?symbol=AAPL&days=x', "'days'"],
      ['/market/history?symbol=AAPL&symbol=SPY', 'more than once'],
      ['/ingest/runs?limit=0', "'limit'"],
      ['/ingest/runs?limit=99999999999999', "'limit'"],
      ['/search/opportunities?limit=-3', "'limit'"],
      ['/search/opportunities?bogus=1', "unknown query parameter 'bogus'"],
      ['/broker/quote', "'symbol' is required"],
      ['/broker/quote?symbol=%00%01', 'invalid symbol'],
      ['/broker/quote?symbol=WAYTOOLONGSYMBOL', 'invalid symbol'],
    ];
    for (const [p, needle] of cases) {
      const res = await stack.api(p);
      assert.equal(res.status, 400, `${p}: ${res.text}`);
      assert.equal(res.json.error, 'bad_request', p);
      assert.ok(res.json.message.includes(needle), `${p}: ${res.json.message}`);
    }
    const nf = await stack.api('/no/such/route');
    assert.equal(nf.status, 404);
    assert.equal(nf.json.error, 'not_found');
    const wm = await stack.api('/ingest/market');
    assert.equal(wm.status, 405);
    assert.equal(wm.json.error, 'method_not_allowed');
    const wm2 = await stack.api('/market/latest', { method: 'POST', body: '{}' });
    assert.equal(wm2.status, 405);
  });

  test('broker proxy: account, quote, unknown symbol', async () => {
    const account = await stack.api('/broker/account');
    assert.equal(account.status, 200, account.text);
    assert.equal(typeof account.json.net_liquidation, 'number');
    const quote = await stack.api('/broker/quote?symbol=msft');
    assert.equal(quote.status, 200, quote.text);
    assert.equal(quote.json.symbol, 'MSFT');
    assert.ok(quote.json.bid <= quote.json.ask);
    const unknown = await stack.api('/broker/quote?symbol=ZZZZ');
    assert.equal(unknown.status, 400, unknown.text);
    assert.equal(unknown.json.error, 'unknown_symbol');
  });

  test('bridge down during a cron → failed run, nothing written; back up → next run ok', async () => {
    const before = (await stack.d1('SELECT COUNT(*) AS n FROM market_data'))[0].n;
    await stack.stopBridge();

    const run = await stack.fireCron();
    assert.equal(run.status, 'failed', JSON.stringify(run));
    assert.equal(run.rows_written, 0);
    assert.equal(run.symbols_ok, 0);
    assert.equal(run.symbols_failed, 10);
    assert.match(run.error, /bridge unreachable/);
    assert.equal((await stack.d1('SELECT COUNT(*) AS n FROM market_data'))[0].n, before, 'no partial rows');
    const stored = await stack.d1(`SELECT status, error FROM ingest_runs WHERE id = ${run.id}`);
    assert.equal(stored[0].status, 'failed');
    assert.equal(stored[0].error, run.error);

    const account = await stack.api('/broker/account');
    assert.equal(account.status, 503);
    assert.equal(account.json.error, 'bridge_unavailable');
    const health = await stack.api('/health', { auth: false });
    assert.equal(health.json.status, 'degraded');
    assert.equal(health.json.bridge.ok, false);
    assert.equal(health.json.last_ingest.status, 'failed');
    // Stored data stays readable while the bridge is down.
    assert.equal((await stack.api('/market/latest')).json.quotes.length, 10);

    await stack.startBridge();
    const next = await stack.fireCron();
    assert.equal(next.status, 'ok', JSON.stringify(next));
    assert.ok(next.rows_written >= 10);
    assert.equal((await stack.d1('SELECT COUNT(*) AS n FROM market_data'))[0].n, before + 10);
    assert.equal((await stack.api('/health', { auth: false })).json.status, 'ok');
  });
});

describe('retention and partial runs', () => {
  let stack;
  before(async () => {
    stack = await startStack({ vars: { WATCHLIST: 'AAPL,ZZZZ,SPY', MARKET_DATA_RETENTION_DAYS: '3' } });
  });
  after(async () => {
    await stack?.stop();
  });

  test('an unknown watchlist symbol makes a partial run; the others are stored', async () => {
    const run = await stack.fireCron();
    assert.equal(run.status, 'partial', JSON.stringify(run));
    assert.equal(run.symbols_ok, 2);
    assert.equal(run.symbols_failed, 1);
    assert.match(run.error, /ZZZZ: unknown_symbol/);
    const rows = await stack.d1('SELECT symbol FROM market_data ORDER BY symbol');
    assert.deepEqual(rows.map((r) => r.symbol), ['AAPL', 'SPY']);
  });

  test('the cron prunes market data older than the retention period', async () => {
    const day = 86_400_000;
    const now = Date.now();
    await stack.d1(`INSERT INTO market_data (symbol, ts, bid, ask, last, volume, data_type) VALUES
      ('AAPL', ${now - 4 * day}, 1, 1.1, 1.05, 5, 'simulated'),
      ('SPY', ${now - 2 * day}, 1, 1.1, 1.05, 5, 'simulated')`);
    const run = await stack.fireCron();
    assert.equal(run.status, 'partial');
    const old = await stack.d1(`SELECT symbol, ts FROM market_data WHERE ts < ${now - day}`);
    assert.deepEqual(old, [{ symbol: 'SPY', ts: now - 2 * day }], 'the 4-day-old row is gone, the 2-day-old one stays');
  });
});

describe('slow and garbage bridges', () => {
  let stack;
  let server;
  let mode = 'hang';
  const hung = new Set();
  before(async () => {
    server = http.createServer((req, res) => {
      if (mode === 'hang') { hung.add(res); return; }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(mode === 'garbage' ? '{"quotes": [ this is not json' : '{"unexpected":true}');
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${server.address().port}`;
    stack = await startStack({ bridge: false, bridgeTimeoutMs: 500, vars: { BRIDGE_URL: url } });
  });
  after(async () => {
    await stack?.stop();
    for (const res of hung) res.destroy();
    server?.close();
  });

  test('a bridge that never answers → failed run after the timeout, 504 on the proxy', async () => {
    mode = 'hang';
    const t0 = Date.now();
    const run = await stack.fireCron();
    assert.equal(run.status, 'failed', JSON.stringify(run));
    assert.match(run.error, /did not answer within 500 ms/);
    assert.ok(Date.now() - t0 < 20_000);
    const account = await stack.api('/broker/account');
    assert.equal(account.status, 504, account.text);
    assert.equal(account.json.error, 'bridge_timeout');
    assert.equal((await stack.d1('SELECT COUNT(*) AS n FROM market_data'))[0].n, 0);
  });

  test('garbage from the bridge → failed run with the reason, 502 on the proxy', async () => {
    mode = 'garbage';
    const run = await stack.fireCron();
    assert.equal(run.status, 'failed');
    assert.match(run.error, /malformed quotes JSON/);
    const account = await stack.api('/broker/account');
    assert.equal(account.status, 502);
    assert.equal(account.json.error, 'bad_gateway');
    mode = 'wrong-shape';
    const run2 = await stack.fireCron();
    assert.equal(run2.status, 'failed');
    assert.match(run2.error, /malformed quotes JSON/);
    assert.equal((await stack.d1('SELECT COUNT(*) AS n FROM market_data'))[0].n, 0);
  });
});

describe('misconfiguration', () => {
  let stack;
  before(async () => {
    stack = await startStack({ vars: { API_TOKEN: 'too-short' } });
  });
  after(async () => {
    await stack?.stop();
  });

  test('health says so; protected routes answer 503 misconfigured without detail; cron records the failure', async () => {
    const health = await stack.api('/health', { auth: false });
    assert.equal(health.status, 200);
    assert.equal(health.json.status, 'degraded');
    assert.deepEqual(health.json.config, { ok: false });
    assert.ok(!health.text.includes('API_TOKEN'));
    const res = await stack.api('/market/latest', { token: 'too-short' });
    assert.equal(res.status, 503);
    assert.equal(res.json.error, 'misconfigured');
    assert.ok(!res.text.includes('API_TOKEN') && !res.text.includes('too-short'));
    const run = await stack.fireCron();
    assert.equal(run, null, 'runs are not readable while misconfigured');
    const rows = await stack.d1('SELECT status, error FROM ingest_runs');
    assert.deepEqual(rows, [{ status: 'failed', error: 'worker configuration is invalid' }]);
  });
});

describe('market hours enforcement', () => {
  let stack;
  before(async () => {
    stack = await startStack({ marketHoursMode: 'enforce' });
  });
  after(async () => {
    await stack?.stop();
  });

  test('outside NYSE hours the cron records a skipped run and writes no quotes', async () => {
    const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', {
      timeZone: 'America/New_York', weekday: 'short', hour: 'numeric', minute: 'numeric', hourCycle: 'h23',
    }).formatToParts(new Date()).map((p) => [p.type, p.value]));
    const minutes = Number(parts.hour) * 60 + Number(parts.minute);
    const surelyClosed = ['Sat', 'Sun'].includes(parts.weekday) || minutes < 9 * 60 + 29 || minutes > 16 * 60 + 1;
    const run = await stack.fireCron();
    if (surelyClosed) {
      assert.equal(run.status, 'skipped', JSON.stringify(run));
      assert.match(run.error, /^market closed \(.+\); next open \d{4}-\d\d-\d\dT/);
      assert.equal(run.rows_written, 0);
      assert.equal((await stack.d1('SELECT COUNT(*) AS n FROM market_data'))[0].n, 0);
    } else {
      // Inside regular hours on a weekday: ok, or skipped on an exchange holiday.
      assert.ok(['ok', 'skipped'].includes(run.status), JSON.stringify(run));
    }
  });
});
