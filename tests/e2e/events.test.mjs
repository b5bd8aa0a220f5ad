// End-to-end test of events (issue 14): the real Worker under wrangler dev
// (local D1) and the real bridge on the simulated market.
//
// * the first cron reads every watchlist symbol's next ex-dividend date from
//   the bridge (GET /events/dividends) and GET /events lists them;
// * PUT /events is authenticated, JSON-only, origin-checked, validates its
//   body (400 naming the problem) and is audited;
// * an earnings date entered inside the nearest expiry any strategy could
//   use blocks every proposal (the cron logs why); once removed, the next
//   cron proposes trades, and each of them spans that date (so the date is
//   what held them back) but no stored ex-dividend date.
//
// Run after scripts/build-worker and the bridge release build:
//   node --test tests/e2e/events.test.mjs

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { startStack } from '../lib/stack.mjs';

const WATCHLIST = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'META', 'TSLA', 'SPY', 'QQQ', 'IWM'];
// Symbols the simulated market gives no dividend (zero yield).
const NON_PAYERS = ['AMZN', 'TSLA'];

/** Today's New York date, YYYY-MM-DD. */
function nyToday() {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'America/New_York' }).format(new Date());
}

function addDays(ymd, n) {
  const d = new Date(`${ymd}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

describe('events: dividends from the bridge, earnings by hand, no trade spans one', () => {
  let stack;
  const put = (body, opts = {}) => stack.api('/events', {
    method: 'PUT',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...opts,
  });
  const logLines = (event) => readFileSync(stack.logs.wrangler, 'utf8').split('\n')
    .filter((l) => l.includes(`"event":"${event}"`))
    .map((l) => { try { return JSON.parse(l.slice(l.indexOf('{'))); } catch { return null; } })
    .filter(Boolean);

  before(async () => {
    stack = await startStack({
      marketHoursMode: 'ignore',
      vars: {
        WATCHLIST: WATCHLIST.join(','),
        // Read every symbol's dividends, and its IV history, on the first cron.
        EVENTS_DIVIDENDS_PER_RUN: '20',
        IV_BACKFILL_PER_RUN: '10',
        // The simulated market reports zero option volume outside its
        // session (this test may run at night): relax only that filter.
        MIN_OPTION_VOLUME: '0',
      },
    });
  });
  after(async () => {
    await stack?.stop();
  });

  const today = nyToday();
  // Every strategy's nearest usable expiry is at least 21 days out
  // (calendar fronts; verticals and condors 30): an earnings date 20 days
  // out lies inside every trade the engine could build today.
  const earnings = addDays(today, 20);

  test('PUT /events: auth, content type, origin, and malformed bodies are refused as JSON 4xx', async () => {
    const body = JSON.stringify({ add: [{ symbol: 'AAPL', date: earnings }] });
    let r = await stack.api('/events', { method: 'PUT', auth: false, body });
    assert.equal(r.status, 401, r.text);
    r = await stack.api('/events', { auth: false });
    assert.equal(r.status, 401, r.text);
    r = await stack.api('/events', { method: 'PUT', raw: true, body, headers: { 'content-type': 'text/plain' } });
    assert.equal(r.status, 415, r.text);
    r = await put(body, { headers: { origin: 'https://evil.example' } });
    assert.equal(r.status, 403, r.text);
    r = await stack.api('/events', { method: 'POST', body });
    assert.equal(r.status, 405, r.text);
    const bad = [
      ['{', 'not valid JSON'],
      ['{}', 'nothing to change'],
      [{ add: [{ symbol: 'AAPL' }] }, 'date'],
      [{ add: [{ symbol: 'AAPL', date: '12/10/2026' }] }, 'add[0].date must be a date YYYY-MM-DD'],
      [{ add: [{ symbol: '$$', date: earnings }] }, 'add[0].symbol'],
      [{ add: [{ symbol: 'AAPL', date: addDays(today, -3) }] }, 'is in the past'],
      [{ add: [{ symbol: 'AAPL', date: earnings, kind: 'dividend' }] }, 'kind'],
      [{ add: [{ symbol: 'AAPL', date: earnings }], remove: [{ symbol: 'AAPL', date: earnings }] }, 'both added and removed'],
    ];
    for (const [b, needle] of bad) {
      r = await put(b);
      assert.equal(r.status, 400, `${JSON.stringify(b)}: ${r.text}`);
      assert.equal(r.json?.error, 'bad_request', r.text);
      assert.ok(r.json.message.includes(needle), `${needle}: ${r.json.message}`);
    }
    r = await stack.api('/events?symbol=$$');
    assert.equal(r.status, 400, r.text);
    // Nothing was written.
    r = await stack.api('/events');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.events, []);
    const audit = await stack.d1("SELECT count(*) AS n FROM audit_log WHERE action = 'events_changed'");
    assert.equal(audit[0].n, 0);
  });

  test('an earnings date inside the near expiry blocks every proposal; removed, the proposals span it', async () => {
    // Earnings for every watchlist symbol, 20 days out (one request, audited).
    let r = await put({ add: WATCHLIST.map((symbol) => ({ symbol, date: earnings, note: 'e2e' })) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.changed, true);
    assert.equal(r.json.added.length, WATCHLIST.length);
    // The same again changes nothing (and is not audited twice).
    r = await put({ add: [{ symbol: 'AAPL', date: earnings }] });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.changed, false);
    let audit = await stack.d1("SELECT actor, details FROM audit_log WHERE action = 'events_changed'");
    assert.equal(audit.length, 1);
    assert.equal(audit[0].actor, 'api_token');
    assert.equal(JSON.parse(audit[0].details).added.length, WATCHLIST.length);

    const t0 = Date.now();
    const run = await stack.fireCron();
    const cronMs = Date.now() - t0;
    assert.ok(run, 'a run record');
    // A symbol the regime logic finds no edge on is skipped for that
    // reason before any expiry is tried: give generation up to two more
    // runs to reach one whose trades the earnings block.
    const blocked = () => logLines('proposals_cron').flatMap((l) => l.detail?.skipped ?? [])
      .filter((s) => s.symbol && s.reason.includes(`earnings on ${earnings}`));
    for (let i = 0; i < 2 && blocked().length === 0; i += 1) await stack.fireCron();

    // The cron read every symbol's dividends from the bridge.
    r = await stack.api('/events');
    assert.equal(r.status, 200, r.text);
    const { events, dividends } = r.json;
    assert.equal(dividends.length, WATCHLIST.length, JSON.stringify(dividends));
    for (const d of dividends) {
      assert.equal(d.error, null, JSON.stringify(d));
      assert.equal(d.source, 'sim');
      if (NON_PAYERS.includes(d.symbol)) {
        assert.equal(d.next_ex_date, null, JSON.stringify(d));
      } else {
        assert.ok(d.next_ex_date >= today && d.next_amount > 0, JSON.stringify(d));
      }
    }
    const exDiv = events.filter((e) => e.kind === 'ex_dividend');
    const earn = events.filter((e) => e.kind === 'earnings');
    assert.equal(earn.length, WATCHLIST.length);
    assert.ok(earn.every((e) => e.date === earnings && e.source === 'manual' && e.note === 'e2e'));
    assert.equal(exDiv.length, WATCHLIST.length - NON_PAYERS.length);
    // The bridge answers the same as what was stored.
    const spyDiv = exDiv.find((e) => e.symbol === 'SPY');
    const fromBridge = await fetch(`${stack.bridgeUrl}/events/dividends?symbol=SPY`, {
      headers: { authorization: `Bearer ${stack.bridgeToken}` },
    }).then((x) => x.json());
    assert.equal(fromBridge.next_ex_date, spyDiv.date);
    assert.equal(fromBridge.next_amount, spyDiv.amount);

    // No proposal: each considered symbol was held back by its earnings.
    r = await stack.api('/proposals');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.proposals.length, 0, JSON.stringify(r.json.proposals.map((p) => p.symbol)));
    const summaries = logLines('proposals_cron').map((l) => l.detail);
    assert.ok(summaries.length > 0 && summaries.every((d) => d.created === 0), JSON.stringify(summaries));
    const byEarnings = blocked();
    assert.ok(byEarnings.length > 0, JSON.stringify(summaries.map((d) => d.skipped)));
    console.log(`first cron with earnings everywhere: ${cronMs} ms; ${summaries.length} run(s), ` +
      `skipped by earnings: ${JSON.stringify(byEarnings)}`);

    // Remove them all (audited), and generate again.
    r = await put({ remove: WATCHLIST.map((symbol) => ({ symbol, date: earnings })) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.removed.length, WATCHLIST.length);
    assert.equal(r.json.events.events.filter((e) => e.kind === 'earnings').length, 0);
    audit = await stack.d1("SELECT details FROM audit_log WHERE action = 'events_changed' ORDER BY id");
    assert.equal(audit.length, 2);
    assert.equal(JSON.parse(audit[1].details).removed.length, WATCHLIST.length);

    for (let i = 0; i < 3; i += 1) {
      await stack.fireCron();
      r = await stack.api('/proposals');
      if (r.json.proposals.length > 0) break;
    }
    const proposals = r.json.proposals;
    assert.ok(proposals.length > 0,
      `no proposal once the earnings were removed:\n${JSON.stringify(logLines('proposals_cron').at(-1))}`);
    for (const p of proposals) {
      const last = p.legs.map((l) => l.expiry).sort().at(-1);
      // Every trade made now spans the removed date: it is what held them.
      assert.ok(last >= earnings, `${p.symbol} ${p.strategy} ends ${last}`);
      // And none spans a known ex-dividend date of its symbol.
      const div = exDiv.find((e) => e.symbol === p.symbol);
      assert.ok(!div || div.date > last, `${p.symbol} ${p.strategy} ends ${last}, ex-dividend ${div?.date}`);
    }
    // A symbol held back by its ex-dividend date is held by the one stored.
    const exSkips = logLines('proposals_cron').flatMap((l) => l.detail?.skipped ?? [])
      .filter((x) => x.symbol && x.reason.includes('ex-dividend date on'));
    for (const x of exSkips) {
      const div = exDiv.find((e) => e.symbol === x.symbol);
      assert.ok(div && x.reason.includes(`ex-dividend date on ${div.date}`), JSON.stringify(x));
    }
    console.log(`skipped by an ex-dividend date: ${JSON.stringify(exSkips)}`);
    // The second cron read no dividend again (at most daily).
    const reads = logLines('events_dividends').map((l) => l.report?.fetches?.length ?? 0);
    assert.deepEqual(reads, [WATCHLIST.length], JSON.stringify(reads));
    console.log(`after removal: ${proposals.length} proposals: ` +
      proposals.map((p) => `${p.symbol} ${p.strategy} to ${p.legs.map((l) => l.expiry).sort().at(-1)}`).join('; '));
    console.log(`ex-dividend dates: ${exDiv.map((e) => `${e.symbol} ${e.date} $${e.amount}`).join(', ')}`);
  });
});
