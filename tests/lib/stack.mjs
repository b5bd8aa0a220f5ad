// Test harness: starts a real local SAS stack — the broker bridge (simulated
// broker) and the Worker under `wrangler dev --local` with its own local D1 —
// on free loopback ports, and tears it down again.
//
//   import { startStack } from '../lib/stack.mjs';
//   const stack = await startStack({ marketHoursMode: 'ignore' });
//   try { await stack.fireCron(); ... } finally { await stack.stop(); }
//
// Prerequisite: `scripts/build` (worker/build/index.js, web/dist, the bridge
// release binary). Each stack gets a temp dir with the D1 state
// (`--persist-to`, migrations applied), a vars file (secrets never appear on a
// command line) and the process logs. Processes run in their own process
// groups and are killed as groups, also when the test process exits early.

import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const WRANGLER = path.join(ROOT, 'node_modules', '.bin', 'wrangler');
const NODE_BIN_DIR = path.join(ROOT, 'node_modules', '.bin');
/** The cron expression configured in wrangler.toml. */
export const CRON = '*/15 * * * *';
/** The position monitor's cron (wrangler.toml). */
export const MONITOR_CRON = '* * * * *';

const liveGroups = new Set();
process.on('exit', () => {
  for (const pid of liveGroups) {
    try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => process.exit(130));
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A random token of 64 hex characters. */
export function randomToken() {
  return randomBytes(32).toString('hex');
}

/** Path of the broker-bridge binary (release preferred). */
export function bridgeBinary() {
  if (process.env.SAS_BRIDGE_BIN) return process.env.SAS_BRIDGE_BIN;
  const targets = [process.env.CARGO_TARGET_DIR, path.join(ROOT, 'target')].filter(Boolean);
  for (const t of targets) {
    for (const profile of ['release', 'debug']) {
      const p = path.join(t, profile, 'broker-bridge');
      if (existsSync(p)) return p;
    }
  }
  throw new Error('broker-bridge binary not found: run scripts/build (or set SAS_BRIDGE_BIN)');
}

function toolEnv(extra = {}) {
  return {
    ...process.env,
    PATH: `${NODE_BIN_DIR}:${process.env.PATH}`,
    WRANGLER_SEND_METRICS: 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    CI: '1',
    // The Worker was built by scripts/build; wrangler's [build] step is a no-op here.
    SAS_SKIP_WORKER_BUILD: '1',
    NO_COLOR: '1',
    FORCE_COLOR: '0',
    ...extra,
  };
}

function startGroup(cmd, args, { env, logFile, cwd = ROOT }) {
  const fd = openSync(logFile, 'a');
  const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  liveGroups.add(child.pid);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    liveGroups.delete(child.pid);
    resolve({ code, signal });
  }));
  child.exitedPromise = exited;
  return child;
}

async function killGroup(child, graceMs = 3000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) {
    liveGroups.delete(child?.pid);
    // The leader may be gone while workerd children linger: kill the group anyway.
    if (child) { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }
    return;
  }
  try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
  const timer = new Promise((r) => setTimeout(r, graceMs, 'timeout'));
  if ((await Promise.race([child.exitedPromise, timer])) === 'timeout') {
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    await child.exitedPromise;
  }
  // Children outliving the leader (workerd) share the group.
  try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
  liveGroups.delete(child.pid);
}

function tail(file, lines = 40) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function waitFor(what, probe, { timeoutMs, child, logFile }) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`${what} exited early (code ${child.exitCode}, signal ${child.signalCode}):\n${tail(logFile)}`);
    }
    try {
      if (await probe()) return;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms (${lastError?.message ?? 'no answer'}):\n${tail(logFile)}`);
}

async function httpOk(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.status === 200;
}

async function runWrangler(args, { env, timeoutMs = 60_000 }) {
  try {
    const { stdout } = await execFileAsync(WRANGLER, args, {
      cwd: ROOT, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (e) {
    throw new Error(`wrangler ${args.slice(0, 3).join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/**
 * Starts the stack.
 * @param {object} [opts]
 * @param {'ignore'|'enforce'} [opts.marketHoursMode='ignore'] MARKET_HOURS_MODE of the Worker.
 * @param {boolean} [opts.bridge=true] start the simulated broker bridge.
 * @param {number} [opts.bridgeTimeoutMs=3000] BRIDGE_TIMEOUT_MS of the Worker.
 * @param {Record<string,string>} [opts.vars] extra/overriding Worker vars (applied last).
 * @param {string[]} [opts.bridgeArgs] extra bridge CLI flags (e.g. ['--seed','7']).
 * @param {Record<string,string>} [opts.bridgeEnv] extra bridge environment.
 * @param {string} [opts.apiToken] / [opts.bridgeToken] fixed tokens (random by default).
 * @param {boolean} [opts.keep] keep the temp dir (also env SAS_KEEP_STACK=1).
 */
export async function startStack(opts = {}) {
  const {
    marketHoursMode = 'ignore',
    bridge = true,
    bridgeTimeoutMs = 3000,
    vars = {},
    bridgeArgs = [],
    bridgeEnv = {},
    apiToken = randomToken(),
    bridgeToken = randomToken(),
    keep = process.env.SAS_KEEP_STACK === '1',
  } = opts;

  if (!existsSync(path.join(ROOT, 'worker', 'build', 'index.js'))) {
    throw new Error('worker/build/index.js is missing: run scripts/build first');
  }
  mkdirSync(path.join(ROOT, 'web', 'dist'), { recursive: true });

  const dir = mkdtempSync(path.join(os.tmpdir(), 'sas-stack-'));
  const persistDir = path.join(dir, 'd1');
  const bridgeLog = path.join(dir, 'bridge.log');
  const wranglerLog = path.join(dir, 'wrangler.log');
  const bridgePort = await freePort();
  let workerPort = await freePort();
  let inspectorPort = await freePort();
  const bridgeUrl = `http://127.0.0.1:${bridgePort}`;
  let workerUrl = `http://127.0.0.1:${workerPort}`;
  const env = toolEnv({ XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME ?? path.join(dir, 'config') });

  const workerVars = {
    // Local stacks opt out of the production rules (JWKS override, http bridge on loopback).
    ENVIRONMENT: 'development',
    API_TOKEN: apiToken,
    BRIDGE_TOKEN: bridgeToken,
    BRIDGE_URL: bridgeUrl,
    MARKET_HOURS_MODE: marketHoursMode,
    BRIDGE_TIMEOUT_MS: String(bridgeTimeoutMs),
    ...vars,
  };
  const varsFile = path.join(dir, 'worker.env');
  writeFileSync(
    varsFile,
    Object.entries(workerVars).map(([k, v]) => `${k}=${JSON.stringify(String(v))}`).join('\n') + '\n',
    { mode: 0o600 },
  );

  let bridgeProc = null;
  let wranglerProc = null;
  let stopped = false;

  const startBridge = async () => {
    if (bridgeProc && bridgeProc.exitCode === null && bridgeProc.signalCode === null) return;
    bridgeProc = startGroup(
      bridgeBinary(),
      ['--broker', 'sim', '--listen', `127.0.0.1:${bridgePort}`, ...bridgeArgs],
      { env: { ...process.env, BRIDGE_TOKEN: bridgeToken, ...bridgeEnv }, logFile: bridgeLog },
    );
    await waitFor('broker-bridge', () => httpOk(`${bridgeUrl}/health`), {
      timeoutMs: 20_000, child: bridgeProc, logFile: bridgeLog,
    });
  };
  const stopBridge = async () => {
    await killGroup(bridgeProc);
    bridgeProc = null;
  };

  const d1 = async (sql) => {
    // The Worker may hold the local database's write lock for a moment
    // (SQLITE_BUSY): retry a few times before failing the test.
    let out;
    for (let attempt = 1; ; attempt += 1) {
      try {
        out = await runWrangler(
          ['d1', 'execute', 'DB', '--local', '--persist-to', persistDir, '--json', '--command', sql],
          { env },
        );
        break;
      } catch (e) {
        if (attempt >= 5 || !/SQLITE_BUSY|database is locked/.test(e.message)) throw e;
        await new Promise((r) => setTimeout(r, 300 * attempt));
      }
    }
    const parsed = JSON.parse(out.slice(out.indexOf('[')));
    const last = parsed[parsed.length - 1];
    if (!last?.success) throw new Error(`d1 query failed: ${out}`);
    return last.results;
  };

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await killGroup(wranglerProc);
    await killGroup(bridgeProc);
    if (!keep) rmSync(dir, { recursive: true, force: true });
  };

  const startWorker = async () => {
    // A port handed out by freePort() can be taken by another process before
    // wrangler binds it: retry with fresh ports when that happens.
    for (let attempt = 1; ; attempt += 1) {
      const logStart = tail(wranglerLog, 100000).length;
      wranglerProc = startGroup(WRANGLER, [
        'dev', '--local', '--test-scheduled',
        '--ip', '127.0.0.1', '--port', String(workerPort),
        '--inspector-port', String(inspectorPort),
        '--persist-to', persistDir,
        '--env-file', varsFile,
        '--show-interactive-dev-session=false',
        '--log-level', 'log',
      ], { env, logFile: wranglerLog });
      try {
        await waitFor('wrangler dev', async () => {
          // Only trust /health once THIS wrangler says it is ready on our port.
          const log = tail(wranglerLog, 100000).slice(logStart);
          if (!log.includes(`Ready on http://127.0.0.1:${workerPort}`)) return false;
          const res = await fetch(`${workerUrl}/health`, { signal: AbortSignal.timeout(5000) });
          const body = await res.json();
          return res.status === 200 && typeof body.status === 'string';
        }, { timeoutMs: 90_000, child: wranglerProc, logFile: wranglerLog });
        return;
      } catch (e) {
        await killGroup(wranglerProc);
        if (attempt >= 3 || !/already in use/i.test(e.message)) throw e;
        workerPort = await freePort();
        inspectorPort = await freePort();
        workerUrl = `http://127.0.0.1:${workerPort}`;
      }
    }
  };

  try {
    await runWrangler(['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persistDir], { env });
    const tables = (await d1("SELECT name FROM sqlite_master WHERE type = 'table'")).map((r) => r.name);
    for (const t of ['market_data', 'ingest_runs']) {
      if (!tables.includes(t)) throw new Error(`migrations did not create ${t} (tables: ${tables.join(', ')})`);
    }
    if (bridge) await startBridge();
    await startWorker();
  } catch (e) {
    await stop();
    throw e;
  }

  /**
   * fetch() against the Worker with the API token (unless `auth: false`).
   * State changes (not GET/HEAD) are sent as the Worker requires them: with
   * `content-type: application/json` and a JSON body (`{}` when none is
   * given); `raw: true` sends exactly `headers` and `body` instead.
   */
  const api = async (pathAndQuery, { method = 'GET', auth = true, token = apiToken, headers = {}, body, raw = false } = {}) => {
    const stateChange = !['GET', 'HEAD'].includes(method.toUpperCase());
    const jsonDefaults = !raw && stateChange;
    const res = await fetch(`${workerUrl}${pathAndQuery}`, {
      method,
      headers: {
        ...(jsonDefaults ? { 'content-type': 'application/json' } : {}),
        ...(auth ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: jsonDefaults && body === undefined ? '{}' : body,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, headers: res.headers, json, text };
  };

  /**
   * Fires the cron once; resolves with the newest run record. With `time`
   * (a Date or ms since the epoch) the event carries that scheduled time
   * (Miniflare's `/cdn-cgi/local/scheduled?…&time=`; the Worker goes by it
   * only under CRON_CLOCK=scheduled), otherwise through /__scheduled.
   */
  const fireCron = async ({ time } = {}) => {
    const url = time === undefined
      ? `${workerUrl}/__scheduled?cron=${encodeURIComponent(CRON)}`
      : `${workerUrl}/cdn-cgi/local/scheduled?cron=${encodeURIComponent(CRON)}&time=${Number(time)}`;
    const res = await fetch(url, {
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`/__scheduled answered ${res.status}: ${text}`);
    const runs = await api('/ingest/runs?limit=1');
    return runs.json?.runs?.[0] ?? null;
  };

  /** Fires the position monitor once; resolves with its run record. */
  const fireMonitor = async () => {
    const res = await fetch(`${workerUrl}/__scheduled?cron=${encodeURIComponent(MONITOR_CRON)}`, {
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`/__scheduled answered ${res.status}: ${text}`);
    const runs = await api('/monitor/runs?limit=1');
    return runs.json?.runs?.[0] ?? null;
  };

  return {
    workerUrl,
    bridgeUrl,
    apiToken,
    bridgeToken,
    persistDir,
    dir,
    logs: { bridge: bridgeLog, wrangler: wranglerLog },
    logTail: (which = 'wrangler', lines = 60) => tail(which === 'bridge' ? bridgeLog : wranglerLog, lines),
    api,
    d1,
    fireCron,
    fireMonitor,
    /** Stops and starts wrangler dev on the same local D1 (a Worker restart). */
    restartWorker: async () => {
      await killGroup(wranglerProc);
      await startWorker();
      return workerUrl;
    },
    startBridge,
    stopBridge,
    stop,
  };
}
