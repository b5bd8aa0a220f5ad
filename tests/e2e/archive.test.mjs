// End-to-end test of the Postgres archive (issue 13) against the REAL
// Worker (wrangler dev --local, local D1), the real sas-archiver binary and
// a private Postgres (scripts/lib/postgres.sh): the export's auth rule,
// /health's archive part, archiving with verify, pruning that deletes only
// acknowledged rows (also while the archiver is away), and SIGKILLs of the
// archiver at random instants while the Worker keeps writing rows.
//
// Needs the export wired into the Worker (docs/archive.md "Worker wiring"):
// until then every test is skipped with that reason.
// Run after scripts/build: node --test tests/e2e/archive.test.mjs

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { ROOT, randomToken, startStack } from '../lib/stack.mjs';

const DAY = 86_400_000;

function archiverBinary() {
  if (process.env.SAS_ARCHIVER_BIN) return process.env.SAS_ARCHIVER_BIN;
  const targets = [process.env.CARGO_TARGET_DIR, path.join(ROOT, 'target')].filter(Boolean);
  for (const t of targets) {
    for (const profile of ['release', 'debug']) {
      const p = path.join(t, profile, 'sas-archiver');
      if (existsSync(p)) return p;
    }
  }
  throw new Error('sas-archiver not found: scripts/build (or cargo build --release -p sas-archiver)');
}

const ARCHIVE_TOKEN = randomToken();
let stack;
let pgDir;
let databaseUrl;
let wired = false;
const NOW = Date.now();
// Old rows: past the 1-day retention, settled.
const OLD = NOW - 5 * DAY;

function pg(args) {
  const script = `source scripts/lib/tools.sh; source scripts/lib/postgres.sh; ${args}`;
  return execFileSync('bash', ['-c', script], { cwd: ROOT, encoding: 'utf8' });
}

function archiver(args, { wait = true } = {}) {
  const env = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    WORKER_URL: stack.workerUrl,
    ARCHIVE_TOKEN,
    ARCHIVE_PAGE_LIMIT: '25',
    RUST_LOG: 'warn',
  };
  if (!wait) return spawn(archiverBinary(), args, { env, stdio: 'ignore' });
  return new Promise((resolve) => {
    const child = spawn(archiverBinary(), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

function psql(sql) {
  const bin = pg('sas_pg_bin').trim();
  return execFileSync(path.join(bin, 'psql'), [databaseUrl, '-tAc', sql], { encoding: 'utf8' }).trim();
}

const count = async (table, where = '1') =>
  (await stack.d1(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`))[0].n;

/** `n` quotes, AAPL and QQQ each second from `from` (one outside write). */
async function insertQuotes(from, n) {
  await stack.d1(
    `WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < ${n - 1}) ` +
    `INSERT INTO market_data SELECT CASE i % 2 WHEN 0 THEN 'AAPL' ELSE 'QQQ' END, ${from} + (i / 2) * 1000, ` +
    `1.25, 1.5, NULL, i, 'simulated' FROM k`,
  );
}

async function insertAudit(from, n) {
  await stack.d1(
    `WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < ${n - 1}) ` +
    `INSERT INTO audit_log (at, actor, action, entity, details) ` +
    `SELECT ${from} + i, 'e2e', 'note', 'test', json_object('i', i, 'tab', 'a' || char(9) || 'b') FROM k`,
  );
}

const exited = (child) =>
  new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.on('exit', r)));

before(async () => {
  stack = await startStack({
    vars: {
      ARCHIVE_TOKEN,
      MARKET_DATA_RETENTION_DAYS: '1',
      CHAIN_RETENTION_DAYS: '1',
      ARCHIVE_HOLD_CAP_ROWS: '1000',
    },
  });
  wired = (await stack.api('/export/market_data', { token: ARCHIVE_TOKEN })).status !== 404;
  if (!wired) return;
  pgDir = mkdtempSync(path.join(os.tmpdir(), 'sas-archive-pg-'));
  chmodSync(pgDir, 0o755);
  databaseUrl = pg(`sas_pg_up ${pgDir}/pg >/dev/null; echo "$SAS_PG_URL"`).trim();
});

after(async () => {
  if (pgDir) {
    pg(`sas_pg_down ${pgDir}/pg`);
    rmSync(pgDir, { recursive: true, force: true });
  }
  await stack?.stop();
});

const NOT_WIRED = 'the export is not wired into the Worker yet (docs/archive.md "Worker wiring")';

test('export auth: ARCHIVE_TOKEN reads and acks, API_TOKEN only reads, and opens nothing else', async (t) => {
  if (!wired) return t.skip(NOT_WIRED);
  await insertQuotes(OLD, 2);
  const archive = { token: ARCHIVE_TOKEN };
  assert.equal((await stack.api('/export/market_data', { auth: false })).status, 401);
  const page = await stack.api('/export/market_data?limit=1', archive);
  assert.equal(page.status, 200, page.text);
  assert.equal(page.json.table, 'market_data');
  assert.deepEqual(page.json.rows, [
    { symbol: 'AAPL', ts: OLD, bid: 1.25, ask: 1.5, last: null, volume: 0, data_type: 'simulated' },
  ]);
  assert.equal(page.json.next_after, `${OLD}|AAPL`);
  assert.equal((await stack.api('/export/market_data')).status, 200, 'the API token reads');
  const ack = { method: 'POST', body: JSON.stringify({ through: `${OLD}|AAPL` }) };
  assert.equal((await stack.api('/export/market_data/ack', ack)).status, 403, 'the API token never acks');
  assert.equal((await stack.api('/market/latest', archive)).status, 401, 'ARCHIVE_TOKEN opens nothing else');
  assert.equal((await stack.api('/proposals', archive)).status, 401);
  assert.equal((await stack.api('/export/settings', archive)).status, 404);
  assert.equal((await stack.api('/export/market_data?after=nope', archive)).status, 400);
  const unknown = await stack.api('/export/market_data/ack', {
    ...archive, method: 'POST', body: JSON.stringify({ through: `${OLD}|MSFT` }),
  });
  assert.equal(unknown.status, 409, unknown.text);
  assert.equal(await count('archive_acks'), 0);
});

test('archiving, /health, and pruning that deletes only acknowledged rows', async (t) => {
  if (!wired) return t.skip(NOT_WIRED);
  await insertQuotes(OLD + 10_000, 300);
  await insertAudit(OLD, 40);
  const health = (await stack.api('/health', { auth: false })).json;
  assert.equal(health.archive.configured, true);
  assert.equal(health.archive.pruning, 'acknowledged_only');
  const md = health.archive.tables.find((x) => x.table === 'market_data');
  assert.equal(md.unacknowledged_rows, 302);

  // The archiver is away: crons that store quotes prune nothing unarchived
  // (the second one would delete them all without the ack gate: its newest
  // stored quote is from now, the old rows are 5 days old).
  await stack.fireCron();
  await stack.fireCron();
  assert.equal(await count('market_data', `ts < ${NOW - DAY}`), 302);

  const run = await archiver(['run-once']);
  assert.equal(run.code, 0, run.err);
  assert.equal(Number(psql('SELECT count(*) FROM market_data')), 302);
  // (the cron's proposal step writes audit rows too)
  assert.equal(Number(psql('SELECT count(*) FROM audit_log')), await count('audit_log'));
  assert.equal(psql("SELECT details->>'tab' FROM audit_log WHERE actor = 'e2e' ORDER BY id LIMIT 1"), 'a\tb');
  const acks = await stack.d1("SELECT through FROM archive_acks WHERE table_name = 'market_data'");
  assert.equal(acks[0].through, `${OLD + 10_000 + 149_000}|QQQ`);
  const verify = await archiver(['verify']);
  assert.equal(verify.code, 0, verify.out + verify.err);

  // One more old row, after the ack: unarchived, so it stays.
  await insertQuotes(OLD + 200_000, 1);
  await stack.fireCron();
  assert.equal(await count('market_data', `ts < ${NOW - DAY}`), 1, 'only the unarchived old row is left');
  assert.equal(await count('market_data', `ts = ${OLD + 200_000}`), 1);
  assert.equal((await stack.api('/health', { auth: false })).json.archive.ok, true);
});

test('SIGKILL at random instants while rows keep arriving: nothing lost, nothing twice', async (t) => {
  if (!wired) return t.skip(NOT_WIRED);
  // Quotes to archive are written before the runs (an outside write to the
  // local D1 file while the Worker writes can fail with SQLITE_BUSY); the
  // rows that keep arriving during the runs are written by the Worker
  // itself: kill-switch changes (audit rows) and the crons.
  const first = OLD + 1_000_000;
  const quotes = 4000;
  await insertQuotes(first, quotes);
  let killed = 0;
  let toggles = 0;
  for (let i = 0; i < 20; i++) {
    const child = archiver(['run-once'], { wait: false });
    const deadline = Date.now() + 100 + Math.floor(Math.random() * 1500);
    while (Date.now() < deadline && child.exitCode === null) {
      const r = await stack.api('/kill-switch', {
        method: 'POST', body: JSON.stringify({ on: toggles % 2 === 0, reason: `e2e archive ${toggles}` }),
      });
      assert.equal(r.status, 200, r.text);
      toggles++;
    }
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      killed++;
    }
    await exited(child);
    if (i % 5 === 4) await stack.fireCron(); // prunes what was acknowledged
  }
  const last = await archiver(['run-once']);
  assert.equal(last.code, 0, last.err);
  const archived = Number(psql(
    `SELECT count(*) FROM market_data WHERE ts >= to_timestamp(${first / 1000}) ` +
    `AND ts < to_timestamp(${(first + quotes * 500) / 1000})`,
  ));
  assert.equal(archived, quotes, 'every quote archived once');
  const verify = await archiver(['verify']);
  assert.equal(verify.code, 0, verify.out);
  const report = JSON.parse(verify.out);
  const audit = report.find((x) => x.table === 'audit_log');
  assert.ok(audit.worker_rows >= toggles, JSON.stringify(audit));
  assert.equal(Number(psql('SELECT count(*) FROM audit_log')), await count('audit_log'), 'the whole audit log, once');
  assert.ok(killed >= 15, `only ${killed} of 20 runs were killed mid-way`);
  console.log(`killed ${killed} of 20 runs; ${toggles} kill-switch changes meanwhile; ${quotes} quotes archived once; ` +
    report.filter((x) => x.worker_rows > 0).map((x) => `${x.table} ${x.worker_rows}=${x.archive_rows} ${x.archive_checksum}`).join('; '));
});
