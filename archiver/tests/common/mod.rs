//! Test helpers: a private Postgres server (initdb into a temp dir, pg_ctl on
//! a free loopback port, stopped and removed on drop) and a tiny HTTP server
//! implementing the export contract (docs/archive.md) over in-memory rows.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use sqlx::PgPool;

use sas_archiver::export::{Backoff, ExportClient};
use sas_archiver::run::Archiver;
use sas_archiver::store::Store;
use sas_archiver::tables;

pub const TOKEN: &str = "test-archive-token-0123456789";

/// The directory holding initdb / pg_ctl: `PG_BIN`, else the newest
/// /usr/lib/postgresql/*/bin, else `pg_config --bindir` (Homebrew on macOS).
pub fn pg_bin() -> PathBuf {
    if let Ok(p) = std::env::var("PG_BIN") {
        return PathBuf::from(p);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return bin;
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if p.join("initdb").exists() {
            return p;
        }
    }
    panic!(
        "no PostgreSQL server binaries: install postgresql (scripts/lib/tools.sh) or set PG_BIN"
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a Postgres binary, as the `postgres` user when we are root.
fn pg_command(bin: &Path, args: &[&str]) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin).args(args);
        c
    } else {
        let mut c = Command::new(bin);
        c.args(args);
        c
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl PgServer {
    fn pg_ctl_start(&self) -> std::process::Output {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("log");
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port
        );
        pg_command(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &opts,
                "-w",
                "-t",
                "30",
                "start",
            ],
        )
        .output()
        .unwrap()
    }

    /// Stops the server (fast shutdown); [`PgServer::restart`] brings it
    /// back on the same port with the same data.
    pub fn stop(&self) {
        let data = self.dir.path().join("data");
        let out = pg_command(
            &self.bin.join("pg_ctl"),
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        )
        .output()
        .unwrap();
        assert!(out.status.success(), "pg_ctl stop: {out:?}");
    }

    pub fn restart(&self) {
        let out = self.pg_ctl_start();
        assert!(out.status.success(), "pg_ctl start: {out:?}");
    }

    pub fn start() -> Self {
        let bin = pg_bin();
        let dir = tempfile::Builder::new()
            .prefix("sas-archiver-pg-")
            .tempdir()
            .unwrap();
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown of the data dir to postgres failed");
        }
        let data = dir.path().join("data");
        let data_s = data.to_str().unwrap().to_string();
        let out = pg_command(
            &bin.join("initdb"),
            &[
                "-D",
                &data_s,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut server = Self { dir, bin, port: 0 };
        for _ in 0..5 {
            server.port = free_port();
            if server.pg_ctl_start().status.success() {
                return server;
            }
        }
        let dir = &server.dir;
        panic!(
            "pg_ctl start failed: {}",
            std::fs::read_to_string(dir.path().join("log")).unwrap_or_default()
        );
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = pg_command(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )
        .output();
    }
}

/// What the fake export server saw, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Get {
        table: String,
        after: Option<String>,
    },
    /// `committed`: the watermark in Postgres (read on another connection)
    /// already equals `through` when the ack arrives.
    Ack {
        table: String,
        through: String,
        committed: Option<bool>,
    },
    Failed {
        table: String,
        status: u16,
    },
}

#[derive(Default)]
pub struct FakeState {
    /// Rows per table in export-key order; cursors are the contract's
    /// (`tables::Key::cursor`).
    pub rows: BTreeMap<String, Vec<Value>>,
    pub acked: HashMap<String, String>,
    pub events: Vec<Event>,
    /// Tables answering 503 to every GET.
    pub fail_5xx: HashSet<String>,
    /// Read the watermark at ack time on this pool.
    pub check_pool: Option<PgPool>,
}

#[derive(Clone)]
pub struct FakeExport {
    pub state: Arc<Mutex<FakeState>>,
    pub url: String,
}

impl FakeExport {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let app = Router::new()
            .route("/export/{table}", get(page))
            .route("/export/{table}/ack", post(ack))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { state, url }
    }

    /// Adds rows to `table`, kept in export-key order as the Worker serves
    /// them (whatever order they are pushed in).
    pub fn push(&self, table: &str, rows: impl IntoIterator<Item = Value>) {
        let spec = tables::by_name(table).expect("an exported table");
        let mut state = self.state.lock().unwrap();
        let all = state.rows.entry(table.to_string()).or_default();
        all.extend(rows);
        all.sort_by(|a, b| {
            spec.key_of(a)
                .partial_cmp(&spec.key_of(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    }

    /// The cursor of the `n`-th row (1-based) of `table`, as the Worker
    /// hands it out.
    pub fn cursor_at(&self, table: &str, n: usize) -> Option<String> {
        let s = self.state.lock().unwrap();
        let spec = tables::by_name(table).unwrap();
        s.rows
            .get(table)
            .and_then(|rows| rows.get(n - 1))
            .map(|r| spec.key_of(r).unwrap().cursor())
    }

    /// Deletes the acknowledged rows of `table`, as the Worker's pruning
    /// does (retention ignored: everything acknowledged goes).
    pub fn prune_acked(&self, table: &str) -> usize {
        let mut s = self.state.lock().unwrap();
        let spec = tables::by_name(table).unwrap();
        let Some(acked) = s.acked.get(table).and_then(|a| spec.parse_cursor(a)) else {
            return 0;
        };
        let rows = s.rows.entry(table.to_string()).or_default();
        let before = rows.len();
        rows.retain(|r| spec.key_of(r).is_some_and(|k| k > acked));
        before - rows.len()
    }

    pub fn events(&self) -> Vec<Event> {
        self.state.lock().unwrap().events.clone()
    }

    pub fn acked(&self, table: &str) -> Option<String> {
        self.state.lock().unwrap().acked.get(table).cloned()
    }

    pub fn client(&self, backoff: Backoff) -> ExportClient {
        ExportClient::new(&self.url, TOKEN, Duration::from_secs(5), backoff).unwrap()
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

async fn page(
    State(state): State<Arc<Mutex<FakeState>>>,
    UrlPath(table): UrlPath<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut s = state.lock().unwrap();
    let after = q.get("after").cloned();
    s.events.push(Event::Get {
        table: table.clone(),
        after: after.clone(),
    });
    if s.fail_5xx.contains(&table) {
        s.events.push(Event::Failed {
            table: table.clone(),
            status: 503,
        });
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let Some(spec) = tables::by_name(&table) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let after_key = match after.as_deref().map(|a| spec.parse_cursor(a)) {
        None => None,
        Some(Some(k)) => Some(k),
        Some(None) => return StatusCode::BAD_REQUEST.into_response(),
    };
    let limit: usize = q
        .get("limit")
        .map_or(1000, |l| l.parse().unwrap())
        .min(5000);
    // Rows are kept in export-key order: the page starts after the cursor.
    let rows: Vec<Value> = s
        .rows
        .get(&table)
        .map(|all| {
            let start = match &after_key {
                None => 0,
                Some(k) => all.partition_point(|r| spec.key_of(r).as_ref() <= Some(k)),
            };
            all.iter().skip(start).take(limit).cloned().collect()
        })
        .unwrap_or_default();
    let next = rows
        .last()
        .map(|r| spec.key_of(r).expect("a row with its key").cursor());
    Json(json!({"table": table, "rows": rows, "next_after": next})).into_response()
}

async fn ack(
    State(state): State<Arc<Mutex<FakeState>>>,
    UrlPath(table): UrlPath<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let through = body["through"].as_str().unwrap().to_string();
    let pool = state.lock().unwrap().check_pool.clone();
    let committed = match pool {
        Some(pool) => {
            let c: Option<String> =
                sqlx::query_scalar("SELECT cursor FROM archive_watermarks WHERE table_name = $1")
                    .bind(&table)
                    .fetch_optional(&pool)
                    .await
                    .unwrap();
            Some(c.as_deref() == Some(through.as_str()))
        }
        None => None,
    };
    let mut s = state.lock().unwrap();
    s.events.push(Event::Ack {
        table: table.clone(),
        through: through.clone(),
        committed,
    });
    s.acked.insert(table.clone(), through.clone());
    Json(json!({"table": table, "acked_through": through})).into_response()
}

pub fn fast_backoff() -> Backoff {
    Backoff {
        attempts: 3,
        base: Duration::from_millis(50),
        max: Duration::from_millis(200),
    }
}

/// A migrated store and an archiver pointed at the fake export.
pub async fn archiver(pg: &PgServer, fake: &FakeExport, page_limit: usize) -> Archiver {
    let store = Store::connect(&pg.url()).await.unwrap();
    store.migrate().await.unwrap();
    Archiver {
        store,
        export: fake.client(fast_backoff()),
        page_limit,
        retention_months: 24,
        pg_backoff: fast_backoff(),
    }
}

pub fn market_row(symbol: &str, ts: i64) -> Value {
    json!({"symbol": symbol, "ts": ts, "bid": 1.25, "ask": 1.5, "last": null, "volume": 10, "data_type": "live"})
}

pub fn audit_row(id: i64, at: i64) -> Value {
    json!({"id": id, "at": at, "actor": "trader", "action": "approve", "entity": "proposal",
           "entity_id": id.to_string(), "from_state": "pending", "to_state": "approved",
           "details": "{\"note\":\"tab\\there\"}"})
}

pub fn ingest_row(id: i64) -> Value {
    json!({"id": id, "trigger": "cron", "started_at": "2026-11-30T14:30:00Z",
           "finished_at": "2026-11-30T14:30:05.120Z", "status": "ok", "symbols_ok": 10,
           "symbols_failed": 0, "rows_written": 10, "error": null, "chain_symbols_ok": 10,
           "chain_symbols_failed": 0, "chain_failures": null, "rows_by_table": "{\"chain_snapshots\":40}",
           "contract_skips": "{}", "duration_ms": 5120})
}

pub fn chain_row(symbol: &str, ts: i64, expiry: &str) -> Value {
    json!({"symbol": symbol, "ts": ts, "expiry": expiry, "dte": 30, "forward": 600.5,
           "atm_iv": 0.18, "skew_25d": null, "contracts_json": "[[600,\"C\",1.0,1.2]]"})
}

pub fn proposal_row(id: i64, updated_at: i64, status: &str) -> Value {
    json!({"id": id, "updated_at": updated_at, "idempotency_key": format!("k{id}"), "symbol": "SPY",
           "strategy": "put_credit_spread", "status": status, "trade_date": "2026-11-30",
           "created_at": 1_764_500_000_000_i64, "order_status": null, "legs": "[]", "score": 0.7})
}

pub async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}
