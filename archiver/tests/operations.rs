//! Operating the archiver against a REAL private Postgres and the in-test
//! export server: `verify`, `status` (lag, last success, last error),
//! `/metrics` on loopback, Postgres down and back, and the binary's JSON
//! logs.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use common::*;
use sas_archiver::metrics::{self, Metrics};
use sas_archiver::tables;
use sas_archiver::verify::{self, Range};
use serde_json::Value;

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn t0() -> i64 {
    Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0)
        .unwrap()
        .timestamp_millis()
}

fn fill(fake: &FakeExport) {
    let t0 = t0();
    fake.push(
        "market_data",
        (0..300).map(|i| market_row(["AAPL", "SPY"][(i % 2) as usize], t0 + (i / 2) * 60_000)),
    );
    fake.push(
        "chain_snapshots",
        (0..6).map(|i| chain_row("SPY", t0 + i * 900_000, "2026-12-31")),
    );
    fake.push("ingest_runs", (1..=5).map(ingest_row));
    fake.push("audit_log", (1..=30).map(|i| audit_row(i, t0 + i)));
    fake.push(
        "proposals",
        vec![
            proposal_row(1, t0, "pending"),
            proposal_row(2, t0 + 1, "pending"),
            proposal_row(1, t0 + 5, "approved"),
        ],
    );
}

async fn verify_all(a: &sas_archiver::run::Archiver, range: Range) -> Vec<verify::TableVerify> {
    verify::verify(&a.store, &a.export, tables::ALL, range, 100).await
}

fn by_table<'a>(v: &'a [verify::TableVerify], t: &str) -> &'a verify::TableVerify {
    v.iter().find(|x| x.table == t).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_agrees_then_names_the_rows_that_differ() {
    let pg = PgServer::start();
    let fake = FakeExport::start().await;
    fill(&fake);
    let a = archiver(&pg, &fake, 100).await;
    let pool = a.store.pool().clone();
    assert!(a.run_once(now()).await.ok());
    // Rows that arrive after the run are not archived yet: outside the span.
    fake.push("market_data", vec![market_row("SPY", t0() + 86_400_000)]);

    let v = verify_all(&a, Range::default()).await;
    for t in &v {
        assert!(t.ok && t.error.is_none(), "{t:?}");
        assert_eq!(t.worker_rows, t.archive_rows, "{t:?}");
        assert_eq!(t.worker_checksum, t.archive_checksum, "{t:?}");
    }
    assert_eq!(by_table(&v, "market_data").worker_rows, 300);
    assert_eq!(by_table(&v, "proposals").worker_rows, 3);

    // The Worker pruned what the archive acknowledged: still in agreement
    // over what both hold (nothing of the Worker is left to compare).
    assert_eq!(fake.prune_acked("audit_log"), 30);
    let audit = verify::verify_table(
        &a.store,
        &a.export,
        &tables::AUDIT_LOG,
        Range::default(),
        100,
    )
    .await
    .unwrap();
    assert!(
        audit.ok && audit.worker_rows == 0 && audit.archive_rows == 0,
        "{audit:?}"
    );

    // A range on each table's time column.
    let from = t0() + 30 * 60_000;
    let range = Range {
        from_ms: Some(from),
        to_ms: Some(from + 10 * 60_000),
    };
    let md = verify::verify_table(&a.store, &a.export, &tables::MARKET_DATA, range, 100)
        .await
        .unwrap();
    assert!(md.ok, "{md:?}");
    assert_eq!(md.worker_rows, 20);

    // The archive damaged three ways.
    sqlx::raw_sql(&format!(
        "UPDATE market_data SET bid = 9.5 WHERE symbol = 'SPY' AND ts = to_timestamp({}); \
         DELETE FROM chain_snapshots WHERE ts = to_timestamp({}); \
         INSERT INTO ingest_runs (id, trigger, started_at, status, symbols_ok, symbols_failed, rows_written) \
         VALUES (3000, 'cron', now(), 'ok', 0, 0, 0); \
         UPDATE archive_watermarks SET cursor = '3000' WHERE table_name = 'ingest_runs';",
        (t0() + 60_000) as f64 / 1000.0,
        (t0() + 900_000) as f64 / 1000.0,
    ))
    .execute(&pool)
    .await
    .unwrap();
    let v = verify_all(&a, Range::default()).await;
    let md = by_table(&v, "market_data");
    assert!(!md.ok);
    assert_eq!(md.differing, vec![format!("{}|SPY", t0() + 60_000)]);
    assert_ne!(md.worker_checksum, md.archive_checksum);
    let chains = by_table(&v, "chain_snapshots");
    assert_eq!(
        chains.missing_in_archive,
        vec![format!("{}|SPY|2026-12-31", t0() + 900_000)]
    );
    assert_eq!((chains.worker_rows, chains.archive_rows), (6, 5));
    let runs = by_table(&v, "ingest_runs");
    assert_eq!(runs.extra_in_archive, vec!["3000".to_string()]);
    assert!(by_table(&v, "proposals").ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_lag_last_success_and_the_last_error_per_table() {
    let pg = PgServer::start();
    let fake = FakeExport::start().await;
    fill(&fake);
    fake.state
        .lock()
        .unwrap()
        .fail_5xx
        .insert("chain_snapshots".into());
    let a = archiver(&pg, &fake, 100).await;
    let r = a.run_once(now()).await;
    assert!(!r.ok());
    let status = a.store.status(now()).await.unwrap();
    let md = status.iter().find(|s| s.table == "market_data").unwrap();
    let newest = t0() + 149 * 60_000;
    assert_eq!(md.newest_row_at.unwrap().timestamp_millis(), newest);
    assert_eq!(
        md.lag_seconds,
        Some((now().timestamp_millis() - newest) / 1000)
    );
    assert!(md.last_success_at.is_some() && md.last_error.is_none());
    assert_eq!(md.errors_total, 0);
    let chains = status
        .iter()
        .find(|s| s.table == "chain_snapshots")
        .unwrap();
    assert!(
        chains.last_error.as_deref().unwrap().contains("503"),
        "{chains:?}"
    );
    assert_eq!((chains.errors_total, chains.last_success_at), (1, None));
    assert_eq!((chains.newest_row_at, chains.lag_seconds), (None, None));

    fake.state.lock().unwrap().fail_5xx.clear();
    assert!(a.run_once(now()).await.ok());
    let status = a.store.status(now()).await.unwrap();
    let chains = status
        .iter()
        .find(|s| s.table == "chain_snapshots")
        .unwrap();
    assert!(chains.last_error.is_none() && chains.last_success_at.is_some());
    assert_eq!(
        chains.errors_total, 1,
        "failures are counted, not forgotten"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_loopback_with_rows_lag_and_errors() {
    let pg = PgServer::start();
    let fake = FakeExport::start().await;
    fill(&fake);
    fake.state
        .lock()
        .unwrap()
        .fail_5xx
        .insert("audit_log".into());
    let a = archiver(&pg, &fake, 100).await;
    let m = Arc::new(Metrics::default());
    assert!(matches!(
        metrics::serve("0.0.0.0:0".parse().unwrap(), m.clone()).await,
        Err(metrics::MetricsError::NotLoopback(_))
    ));
    let addr = metrics::serve("127.0.0.1:0".parse().unwrap(), m.clone())
        .await
        .unwrap();
    let r = a.run_once(now()).await;
    m.record_run(r.ok(), Utc::now());
    m.set_status(Some(a.store.status(Utc::now()).await.unwrap()));

    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "sas_archiver_rows_archived_total{table=\"market_data\"} 300",
        "sas_archiver_rows_archived_total{table=\"audit_log\"} 0",
        "sas_archiver_table_failing{table=\"audit_log\"} 1",
        "sas_archiver_table_failing{table=\"market_data\"} 0",
        "sas_archiver_table_errors_total{table=\"audit_log\"} 1",
        "sas_archiver_runs_total{outcome=\"failed\"} 1",
        "sas_archiver_status_ok 1",
        "# TYPE sas_archiver_lag_seconds gauge",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    let lag: i64 = text
        .lines()
        .find_map(|l| l.strip_prefix("sas_archiver_lag_seconds{table=\"market_data\"} "))
        .unwrap()
        .parse()
        .unwrap();
    let newest = (t0() + 149 * 60_000) / 1000;
    assert!(
        (lag - (Utc::now().timestamp() - newest)).abs() <= 5,
        "{lag}"
    );
    assert!(!text.contains("sas_archiver_lag_seconds{table=\"audit_log\"}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_acks_nothing_and_the_next_run_catches_up() {
    let pg = PgServer::start();
    let fake = FakeExport::start().await;
    fill(&fake);
    let a = archiver(&pg, &fake, 100).await;
    pg.stop();
    let r = a.run_once(now()).await;
    for t in &r.tables {
        let e = t.error.as_deref().unwrap_or_default();
        assert!(e.contains("postgres"), "{}: {e}", t.table);
    }
    assert!(r.maintenance_error.is_some());
    assert!(
        !fake.events().iter().any(|e| matches!(e, Event::Ack { .. })),
        "an ack while Postgres was down"
    );
    pg.restart();
    let r = a.run_once(now()).await;
    assert!(r.ok(), "{r:?}");
    let pool = a.store.pool().clone();
    assert_eq!(count(&pool, "market_data").await, 300);
    assert_eq!(
        fake.acked("market_data"),
        fake.cursor_at("market_data", 300)
    );
}

#[test]
fn daemon_backoff_doubles_from_30s_up_to_the_interval() {
    let hour = std::time::Duration::from_secs(3600);
    let d: Vec<u64> = (1..=9)
        .map(|n| sas_archiver::run::daemon_backoff(n, hour).as_secs())
        .collect();
    assert_eq!(d, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_logs_json_lines_and_never_prints_the_token() {
    let pg = PgServer::start();
    let fake = FakeExport::start().await;
    fill(&fake);
    let url = pg.url();
    let run = |args: &[&str]| {
        let url = url.clone();
        let worker = fake.url.clone();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        async move {
            tokio::task::spawn_blocking(move || {
                Command::new(env!("CARGO_BIN_EXE_sas-archiver"))
                    .args(&args)
                    .env("DATABASE_URL", url)
                    .env("WORKER_URL", worker)
                    .env("ARCHIVE_TOKEN", TOKEN)
                    .env("RUST_LOG", "info")
                    .output()
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };
    for args in [
        &["run-once"][..],
        &["status"],
        &["verify", "--from", "2026-11-01"],
    ] {
        let out = run(args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(!stderr.contains(TOKEN) && !String::from_utf8_lossy(&out.stdout).contains(TOKEN));
        let lines: Vec<&str> = stderr.lines().collect();
        assert!(!lines.is_empty(), "{args:?}: no log");
        for l in lines {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert!(v["level"].is_string() && v["timestamp"].is_string(), "{l}");
        }
        if args[0] == "status" {
            let s: Value = serde_json::from_slice(&out.stdout).unwrap();
            let md = s
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["table"] == "market_data")
                .unwrap();
            assert_eq!(md["archived_rows"], 300);
            assert!(md["lag_seconds"].is_i64(), "{md}");
        }
        if args[0] == "verify" {
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert!(v.as_array().unwrap().iter().all(|t| t["ok"] == true), "{v}");
        }
    }
    let bad = run(&["verify", "--table", "settings"]).await;
    assert_eq!(bad.status.code(), Some(2));
}

/// The position engine's tables as the Worker exports them (D1 rows).
fn fill_positions(fake: &FakeExport) {
    let t0 = t0();
    let position = |updated_at: i64, status: &str| {
        serde_json::json!({"id": 1, "key": "k1", "proposal_id": 7, "symbol": "SPY",
            "strategy": "put_credit_spread", "spec": "{\"legs\":[]}", "exit_plan": "{}",
            "status": status, "exit_reason": null, "exit_requested_at": null,
            "exit_requested_by": null, "exits_paused": 0, "exit_state": "{}", "summary": null,
            "realized_micros": 0, "entry_expires_at": t0 + 3_600_000, "opened_at": null,
            "closed_at": null, "created_at": t0, "updated_at": updated_at})
    };
    fake.push(
        "positions",
        vec![position(t0, "pending"), position(t0 + 60_000, "open")],
    );
    fake.push(
        "orders",
        vec![
            serde_json::json!({"id": 1, "key": "k1", "position_id": 1, "purpose": "entry",
            "attempt": null, "exit_reason": null, "quantity": 2, "filled": 2, "status": "filled",
            "limit_micros": -1_250_000, "request": null, "broker_order_id": "77",
            "broker_status": "Filled", "last_seq": 3, "error": null, "created_at": t0,
            "updated_at": t0 + 60_000}),
        ],
    );
    let fill = |changed_at: i64, commission: Option<i64>| {
        serde_json::json!({"id": 1, "exec_id": "e1", "position_id": 1, "order_key": "k1",
            "contract": "{}", "quantity": 2, "price_micros": 1_250_000,
            "commission_micros": commission, "time": t0 + 30_000, "recorded_at": t0 + 31_000,
            "changed_at": changed_at})
    };
    fake.push(
        "fills",
        vec![fill(t0 + 31_000, None), fill(t0 + 90_000, Some(1_300_000))],
    );
    fake.push(
        "marks",
        (0..5).map(|i| {
            serde_json::json!({"position_id": 1, "at": t0 + 120_000 + i * 60_000,
            "ok": 1, "value_mid_micros": 1_000_000, "value_natural_micros": 900_000,
            "unrealized_mid_micros": 250_000, "unrealized_natural_micros": 150_000,
            "realized_micros": 0, "pnl_per_unit_micros": 125_000, "decision": "{\"hold\":true}",
            "greeks": null, "dte": 30})
        }),
    );
    fake.push(
        "equity_snapshots",
        (0..3).map(|i| {
            serde_json::json!({"at": t0 + i * 60_000, "net_liquidation": 100_000.5,
            "realized_micros": 0, "unrealized_mid_micros": 250_000, "open_positions": 1,
            "unmarked_positions": 0})
        }),
    );
    fake.push(
        "monitor_runs",
        (1..=4).map(|id| {
            serde_json::json!({"id": id, "started_at": t0 + id * 60_000,
            "finished_at": t0 + id * 60_000 + 900, "status": "ok", "positions": 1, "marks_ok": 1,
            "marks_rejected": 0, "orders_placed": 0, "cancels": 0, "rows_written": 3,
            "error": null})
        }),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_position_engine_tables_are_archived_with_every_version_and_verify() {
    let pg = PgServer::start();
    let fake = FakeExport::start().await;
    fill_positions(&fake);
    let a = archiver(&pg, &fake, 100).await;
    let pool = a.store.pool().clone();
    let r = a.run_once(now()).await;
    assert!(r.ok(), "{r:?}");
    for (t, n) in [
        ("positions", 2),
        ("orders", 1),
        ("fills", 2),
        ("marks", 5),
        ("equity_snapshots", 3),
        ("monitor_runs", 4),
    ] {
        assert_eq!(count(&pool, t).await, n, "{t}");
    }
    // The newest version of the fill carries the late commission.
    let commission: i64 = sqlx::query_scalar(
        "SELECT (row->>'commission_micros')::bigint FROM fills ORDER BY changed_at DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(commission, 1_300_000);
    let v = verify_all(&a, Range::default()).await;
    for t in &v {
        assert!(t.ok && t.error.is_none(), "{t:?}");
    }
    assert_eq!(by_table(&v, "marks").worker_rows, 5);
    // A second run archives nothing twice.
    let again = a.run_once(now()).await;
    assert!(again.tables.iter().all(|t| t.inserted == 0), "{again:?}");
}
