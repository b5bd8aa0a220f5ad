//! The export workflows against a real SQLite database with the D1
//! migrations (see [`super::sqlite`]): pages in key order with settling,
//! proposals re-exported after a change, acks that only move forward to
//! exportable rows, the prune gate, and the archive part of `/health`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_executor::block_on;
use serde_json::{json, Value};

use super::model::{table, Param, SETTLE_MS};
use super::service::{ack, health, page, ExportError};
use super::sqlite::Sqlite;
use crate::chains::{PRUNE_CHAIN_SNAPSHOTS, PRUNE_METRICS_INTRADAY};
use crate::config::archive::ArchiveConfig;
use crate::store::{PRUNE_MARKET_DATA, PRUNE_RUNS};

/// 2026-12-01T12:00:00Z.
const NOW: i64 = 1_796_126_400_000;
const MIN: i64 = 60_000;
const DAY: i64 = 86_400_000;

fn quote(db: &Sqlite, symbol: &str, ts: i64) {
    db.exec(&format!(
        "INSERT INTO market_data VALUES ('{symbol}', {ts}, 1.5, 1.625, NULL, 10, 'live');"
    ));
}

/// Every row of `table` an archiver would pull at `now`, page by page.
fn drain(db: &Sqlite, name: &str, after: Option<String>, limit: u32, now: i64) -> Vec<Value> {
    let t = table(name).unwrap();
    let mut cursor = after;
    let mut out = Vec::new();
    loop {
        let p = block_on(page(db, t, cursor.as_deref(), limit, now)).unwrap();
        assert!(p.rows.len() <= limit as usize);
        match p.next_after {
            None => {
                assert!(p.rows.is_empty());
                return out;
            }
            Some(next) => {
                assert_eq!(
                    t.cursor_of(p.rows.last().unwrap()).unwrap().to_string(),
                    next
                );
                out.extend(p.rows.into_iter().map(Value::Object));
                cursor = Some(next);
            }
        }
    }
}

fn keys(rows: &[Value], cols: &[&str]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            cols.iter()
                .map(|c| match &r[*c] {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

#[test]
fn market_data_pages_hold_every_settled_row_once_in_key_order() {
    let db = Sqlite::migrated();
    let t0 = NOW - DAY;
    quote(&db, "SPY", t0);
    quote(&db, "AAPL", t0);
    quote(&db, "QQQ", t0 - 1000);
    quote(&db, "SPY", t0 + MIN);
    // Not settled yet at NOW.
    quote(&db, "IWM", NOW - 5 * MIN);
    let rows = drain(&db, "market_data", None, 2, NOW);
    assert_eq!(
        keys(&rows, &["ts", "symbol"]),
        [
            format!("{}|QQQ", t0 - 1000),
            format!("{t0}|AAPL"),
            format!("{t0}|SPY"),
            format!("{}|SPY", t0 + MIN),
        ]
    );
    // Exactly the D1 columns and SQLite values.
    assert_eq!(
        rows[1],
        json!({"symbol": "AAPL", "ts": t0, "bid": 1.5, "ask": 1.625, "last": null,
               "volume": 10, "data_type": "live"})
    );
    // Later: the settled row comes after the last cursor, nothing twice.
    let last = format!("{}|SPY", t0 + MIN);
    let later = drain(&db, "market_data", Some(last), 1000, NOW + SETTLE_MS);
    assert_eq!(
        keys(&later, &["ts", "symbol"]),
        [format!("{}|IWM", NOW - 5 * MIN)]
    );
}

#[test]
fn ingest_runs_are_exported_only_up_to_the_first_unsettled_run() {
    let db = Sqlite::migrated();
    let iso = |ms: i64| {
        chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    for started in [
        NOW - DAY,
        NOW - DAY + MIN,
        NOW - 10 * MIN,
        NOW - DAY + 2 * MIN,
    ] {
        db.exec(&format!(
            "INSERT INTO ingest_runs (trigger, started_at, finished_at, status) \
             VALUES ('cron', '{}', '{}', 'ok');",
            iso(started),
            iso(started + 1000)
        ));
    }
    // Run 3 may still be updated by its chain step: 4 waits behind it.
    let first = drain(&db, "ingest_runs", None, 1000, NOW);
    assert_eq!(keys(&first, &["id"]), ["1", "2"]);
    assert_eq!(first[0]["chain_failures"], Value::Null);
    let rest = drain(&db, "ingest_runs", Some("2".into()), 1000, NOW + SETTLE_MS);
    assert_eq!(keys(&rest, &["id"]), ["3", "4"]);
}

/// A proposal inserted with the Worker's own statement (INSERT_PROPOSAL sets
/// updated_at), its JSON parameter written inline.
fn insert_proposal(db: &Sqlite, key: &str) {
    let record = serde_json::json!({
        "idempotency_key": key, "symbol": "SPY", "strategy": "put_credit_spread",
        "trade_date": "2026-12-01", "created_at": 1, "expires_at": 9_999_999_999_999_i64,
        "rank": 1, "legs": "[]", "quote_snapshot": "{}", "analytics_snapshot": "{}",
        "score_breakdown": null, "score": null, "entry_mid": 1.25, "entry_natural": 1.2,
        "max_profit": null, "max_loss": 375, "breakevens": "[]", "probability_of_profit": 0.7,
        "expected_value": 12.5, "greeks": "{}", "exit_plan": "{}", "rationale": "why",
        "contracts": 1, "total_max_loss": 375, "limit_price": 1.25, "slippage_band": 0.05,
        "proposal_json": "{}",
    });
    let param = format!("'{}'", record.to_string().replace('\'', "''"));
    db.exec(&format!(
        "{};",
        crate::proposals::INSERT_PROPOSAL.replace("?1", &param)
    ));
}

#[test]
fn a_changed_proposal_is_exported_again_after_the_cursor() {
    let db = Sqlite::migrated();
    insert_proposal(&db, "k1");
    insert_proposal(&db, "k2");
    let first = drain(&db, "proposals", None, 1, NOW);
    assert_eq!(keys(&first, &["id", "status"]), ["1|pending", "2|pending"]);
    let u1 = first[0]["updated_at"].as_i64().unwrap();
    let u2 = first[1]["updated_at"].as_i64().unwrap();
    assert!(u1 > 0 && u2 > u1, "{u1} {u2}");
    let cursor = format!("{u2}|2");
    // A decision, by the Worker's own compare-and-set statement.
    let reject = crate::approvals::REJECT
        .replace("?1", "1")
        .replace("?2", "5")
        .replace("?3", "'api_token'")
        .replace("?4", "'no'");
    db.exec(&format!("{reject};"));
    let again = drain(&db, "proposals", Some(cursor.clone()), 1000, NOW);
    assert_eq!(keys(&again, &["id", "status"]), ["1|rejected"]);
    assert!(again[0]["updated_at"].as_i64().unwrap() > u2);
    // The update only touched proposal 1.
    assert_eq!(
        db.scalar("SELECT updated_at FROM proposals WHERE id = 2"),
        u2
    );
    // Nothing after the newest change.
    let cursor = format!("{}|1", again[0]["updated_at"]);
    assert!(drain(&db, "proposals", Some(cursor), 1000, NOW).is_empty());
}

#[test]
fn acks_only_move_forward_and_only_to_rows_an_export_could_have_handed_out() {
    let db = Sqlite::migrated();
    let md = table("market_data").unwrap();
    let t0 = NOW - DAY;
    quote(&db, "AAPL", t0);
    quote(&db, "SPY", t0);
    quote(&db, "SPY", NOW - MIN);
    let ack_at = |through: &str| block_on(ack(&db, md, through, NOW));
    assert!(matches!(
        ack_at(&format!("{t0}|MSFT")),
        Err(ExportError::UnknownCursor { .. })
    ));
    // Stored but not exportable yet.
    assert!(matches!(
        ack_at(&format!("{}|SPY", NOW - MIN)),
        Err(ExportError::UnknownCursor { .. })
    ));
    assert!(matches!(
        ack_at("yesterday|SPY"),
        Err(ExportError::BadCursor(_))
    ));
    assert_eq!(db.scalar("SELECT COUNT(*) FROM archive_acks"), 0);
    let newest = format!("{t0}|SPY");
    assert_eq!(ack_at(&newest).unwrap().acked_through, newest);
    // Older and repeated acks change nothing and answer the stored one.
    assert_eq!(ack_at(&format!("{t0}|AAPL")).unwrap().acked_through, newest);
    assert_eq!(ack_at(&newest).unwrap().acked_through, newest);
    let stored = db.select("SELECT through, k1, k2, k3 FROM archive_acks");
    assert_eq!(
        Value::Object(stored[0].clone()),
        json!({"through": newest, "k1": t0, "k2": "SPY", "k3": ""})
    );
}

/// Rows of `market_data` left, as `ts|symbol`.
fn quotes_left(db: &Sqlite) -> Vec<String> {
    let rows: Vec<Value> = db
        .select("SELECT ts, symbol FROM market_data ORDER BY ts, symbol")
        .into_iter()
        .map(Value::Object)
        .collect();
    keys(&rows, &["ts", "symbol"])
}

#[test]
fn with_an_archiver_market_data_pruning_deletes_only_acknowledged_rows() {
    let db = Sqlite::migrated();
    let keep = 10 * DAY;
    let old = NOW - 20 * DAY;
    for (sym, ts) in [
        ("AAPL", old),
        ("SPY", old),
        ("AAPL", old + MIN),
        ("SPY", NOW - DAY),
    ] {
        quote(&db, sym, ts);
    }
    let prune = |gate: i64| {
        db.exec_with(
            PRUNE_MARKET_DATA,
            &[Param::Int(NOW - keep), Param::Int(keep), Param::Int(gate)],
        )
    };
    // Archiver configured, nothing acknowledged: nothing goes.
    prune(1);
    assert_eq!(quotes_left(&db).len(), 4);
    // Acknowledged through (old, SPY): the two rows at or before it go; the
    // unarchived old row stays although it is past retention.
    block_on(ack(
        &db,
        table("market_data").unwrap(),
        &format!("{old}|SPY"),
        NOW,
    ))
    .unwrap();
    prune(1);
    assert_eq!(
        quotes_left(&db),
        [format!("{}|AAPL", old + MIN), format!("{}|SPY", NOW - DAY)]
    );
    // No archiver: today's retention.
    prune(0);
    assert_eq!(quotes_left(&db), [format!("{}|SPY", NOW - DAY)]);
}

#[test]
fn with_an_archiver_chain_and_metrics_pruning_deletes_only_acknowledged_rows() {
    let db = Sqlite::migrated();
    let old = NOW - 10 * DAY;
    for expiry in ["2026-12-18", "2027-01-15"] {
        db.exec(&format!(
            "INSERT INTO chain_snapshots VALUES ('SPY', {old}, '{expiry}', 30, 600.0, 0.2, NULL, '[]');"
        ));
    }
    for ts in [old, old + MIN] {
        db.exec(&format!(
            "INSERT INTO underlying_metrics_intraday (symbol, ts, spot, metrics_json, factors_json) \
             VALUES ('SPY', {ts}, 600.0, '{{}}', '{{}}');"
        ));
    }
    let prune = |sql: &str, gate: i64| {
        db.exec_with(
            sql,
            &[
                Param::Text("SPY".into()),
                Param::Int(NOW - 3 * DAY),
                Param::Int(gate),
            ],
        )
    };
    prune(PRUNE_CHAIN_SNAPSHOTS, 1);
    prune(PRUNE_METRICS_INTRADAY, 1);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM chain_snapshots"), 2);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM underlying_metrics_intraday"),
        2
    );
    block_on(ack(
        &db,
        table("chain_snapshots").unwrap(),
        &format!("{old}|SPY|2026-12-18"),
        NOW,
    ))
    .unwrap();
    block_on(ack(
        &db,
        table("underlying_metrics_intraday").unwrap(),
        &format!("{old}|SPY"),
        NOW,
    ))
    .unwrap();
    prune(PRUNE_CHAIN_SNAPSHOTS, 1);
    prune(PRUNE_METRICS_INTRADAY, 1);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM chain_snapshots WHERE expiry = '2027-01-15'"),
        1
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM chain_snapshots"), 1);
    assert_eq!(
        db.scalar("SELECT ts FROM underlying_metrics_intraday"),
        old + MIN
    );
    prune(PRUNE_CHAIN_SNAPSHOTS, 0);
    prune(PRUNE_METRICS_INTRADAY, 0);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM chain_snapshots"), 0);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM underlying_metrics_intraday"),
        0
    );
}

#[test]
fn with_an_archiver_run_records_are_pruned_only_once_acknowledged() {
    let db = Sqlite::migrated();
    db.exec(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10003) \
         INSERT INTO ingest_runs (trigger, started_at, finished_at, status) \
         SELECT 'cron', '2026-11-01T14:30:00Z', '2026-11-01T14:30:01Z', 'ok' FROM n;",
    );
    db.exec_with(PRUNE_RUNS, &[Param::Int(1)]);
    assert_eq!(db.scalar("SELECT MIN(id) FROM ingest_runs"), 1);
    block_on(ack(&db, table("ingest_runs").unwrap(), "2", NOW)).unwrap();
    db.exec_with(PRUNE_RUNS, &[Param::Int(1)]);
    assert_eq!(db.scalar("SELECT MIN(id) FROM ingest_runs"), 3);
    db.exec_with(PRUNE_RUNS, &[Param::Int(0)]);
    assert_eq!(db.scalar("SELECT MIN(id) FROM ingest_runs"), 4);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM ingest_runs"), 10_000);
}

#[test]
fn the_audit_log_and_proposals_export_without_settling() {
    let db = Sqlite::migrated();
    db.exec(&format!(
        "INSERT INTO audit_log (at, actor, action, entity, details) \
         VALUES ({NOW}, 'api_token', 'kill_switch_on', 'settings', '{{\"a\":1}}');"
    ));
    let rows = drain(&db, "audit_log", None, 10, NOW);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["details"], "{\"a\":1}");
    assert_eq!(rows[0]["entity_id"], Value::Null);
}

#[test]
fn health_says_retention_without_an_archiver_and_warns_past_the_cap() {
    let db = Sqlite::migrated();
    let none = block_on(health(&db, &ArchiveConfig::default()));
    assert!(!none.configured && none.ok);
    assert_eq!(none.pruning, "retention");
    assert!(none.warning.unwrap().contains("ARCHIVE_TOKEN unset"));
    assert!(none.tables.is_empty());

    db.exec(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) \
         INSERT INTO market_data SELECT 'SPY', {} + i, 1.0, 1.1, NULL, 1, 'live' FROM n;",
        NOW - DAY
    ));
    let archive = ArchiveConfig {
        token: Some("c".repeat(40)),
        hold_cap_rows: 1000,
    };
    let over = block_on(health(&db, &archive));
    assert!(over.configured && !over.ok);
    assert_eq!(over.pruning, "acknowledged_only");
    let md = &over.tables[0];
    assert_eq!(
        (md.table, md.unacknowledged_rows, md.over_cap),
        ("market_data", 1001, true)
    );
    assert!(over.warning.unwrap().contains("market_data"));
    block_on(ack(
        &db,
        table("market_data").unwrap(),
        &format!("{}|SPY", NOW - DAY + 1000),
        NOW,
    ))
    .unwrap();
    let fine = block_on(health(&db, &archive));
    assert!(fine.ok, "{fine:?}");
    assert_eq!(fine.tables[0].unacknowledged_rows, 0);
    assert_eq!(fine.tables[0].acked_at, Some(NOW));
    assert_eq!(fine.tables.len(), super::TABLES.len());
}

#[test]
fn every_exported_table_pages_on_the_migrated_schema() {
    let db = Sqlite::migrated();
    for t in super::TABLES {
        let p = block_on(page(&db, t, None, 10, NOW)).unwrap_or_else(|e| panic!("{}: {e}", t.name));
        assert!(p.rows.is_empty() && p.next_after.is_none(), "{}", t.name);
        // Every exported column exists (the query names them all).
        let cols = db.select(&format!(
            "SELECT group_concat(name, ',') AS c FROM pragma_table_info('{}')",
            t.name
        ));
        let have: Vec<&str> = cols[0]["c"].as_str().unwrap().split(',').collect();
        for c in t.columns {
            assert!(have.contains(c), "{}.{c}", t.name);
        }
    }
}

#[test]
fn a_fill_is_exported_again_when_its_commission_arrives() {
    let db = Sqlite::migrated();
    db.exec(
        "INSERT INTO positions (key, proposal_id, symbol, strategy, spec, exit_plan, entry_expires_at, created_at, updated_at) \
         VALUES ('k1', 1, 'SPY', 'put_credit_spread', '{}', '{}', 2, 1, 1); \
         INSERT INTO fills (exec_id, position_id, order_key, contract, quantity, price_micros, time, recorded_at) \
         VALUES ('e1', 1, 'k1', '{}', 1, 1250000, 5, 6), ('e2', 1, 'k1', '{}', -1, 250000, 5, 6);",
    );
    let first = drain(&db, "fills", None, 1000, NOW);
    assert_eq!(
        keys(&first, &["exec_id", "commission_micros"]),
        ["e1|null", "e2|null"]
    );
    let cursor = table("fills")
        .unwrap()
        .cursor_of(first[1].as_object().unwrap())
        .unwrap()
        .to_string();
    // The late commission (the position engine's SET_FILL_COMMISSION).
    db.exec("UPDATE fills SET commission_micros = 650000 WHERE exec_id = 'e1' AND commission_micros IS NULL;");
    let again = drain(&db, "fills", Some(cursor), 1000, NOW);
    assert_eq!(
        keys(&again, &["exec_id", "commission_micros"]),
        ["e1|650000"]
    );
}

#[test]
fn monitor_runs_are_exported_only_up_to_the_first_unsettled_run() {
    let db = Sqlite::migrated();
    for started in [NOW - DAY, NOW - 5 * MIN, NOW - DAY + MIN] {
        db.exec(&format!(
            "INSERT INTO monitor_runs (started_at, status) VALUES ({started}, 'ok');"
        ));
    }
    assert_eq!(
        keys(&drain(&db, "monitor_runs", None, 100, NOW), &["id"]),
        ["1"]
    );
    assert_eq!(
        keys(
            &drain(&db, "monitor_runs", Some("1".into()), 100, NOW + SETTLE_MS),
            &["id"]
        ),
        ["2", "3"]
    );
}
