//! The archiver against a REAL private Postgres and an in-test export server.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Instant;

use chrono::{TimeZone, Utc};
use common::*;

const DAY_MS: i64 = 86_400_000;

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn ms(y: i32, m: u32, d: u32) -> i64 {
    Utc.with_ymd_and_hms(y, m, d, 15, 0, 0)
        .unwrap()
        .timestamp_millis()
}

/// Some rows in every table.
fn fill(fake: &FakeExport, market_rows: i64) {
    let t0 = ms(2026, 11, 2);
    fake.push(
        "market_data",
        (0..market_rows)
            .map(|i| market_row(["SPY", "QQQ", "IWM"][(i % 3) as usize], t0 + i * 1000)),
    );
    fake.push(
        "chain_snapshots",
        (0..4).map(|i| chain_row("SPY", t0 + i * 900_000, "2026-12-31")),
    );
    fake.push("ingest_runs", (1..=5).map(ingest_row));
    fake.push("audit_log", (1..=30).map(|i| audit_row(i, t0 + i)));
    fake.push(
        "proposals",
        vec![
            proposal_row(1, t0, "pending"),
            proposal_row(1, t0 + DAY_MS, "approved"),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_then_rerun_archives_nothing_twice() {
    let pg = PgServer::start();
    let fake = FakeExport::start().await;
    fill(&fake, 2500);
    let a = archiver(&pg, &fake, 1000).await;
    let pool = a.store.pool().clone();

    let first = a.run_once(now()).await;
    assert!(first.ok(), "{first:?}");
    assert_eq!(first.outcome("market_data").unwrap().inserted, 2500);
    let expected = [
        ("market_data", 2500),
        ("chain_snapshots", 4),
        ("ingest_runs", 5),
        ("audit_log", 30),
        ("proposals", 2), // both versions of proposal 1
    ];
    for (t, n) in expected {
        assert_eq!(count(&pool, t).await, n, "{t}");
    }
    // JSON text with a tab survived COPY escaping.
    let note: String = sqlx::query_scalar("SELECT details->>'note' FROM audit_log WHERE id = 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(note, "tab\there");

    // Same watermark: nothing new fetched, nothing inserted.
    let second = a.run_once(now()).await;
    assert!(second.ok(), "{second:?}");
    assert!(
        second
            .tables
            .iter()
            .all(|t| t.received == 0 && t.inserted == 0),
        "{second:?}"
    );

    // Watermarks lost: everything is fetched again and still nothing is
    // inserted twice (duplicates are impossible by key).
    sqlx::query("DELETE FROM archive_watermarks")
        .execute(&pool)
        .await
        .unwrap();
    let third = a.run_once(now()).await;
    assert!(third.ok(), "{third:?}");
    assert_eq!(third.outcome("market_data").unwrap().received, 2500);
    assert!(third.tables.iter().all(|t| t.inserted == 0), "{third:?}");
    for (t, n) in expected {
        assert_eq!(count(&pool, t).await, n, "{t}");
    }
    assert_eq!(
        fake.acked("market_data"),
        fake.cursor_at("market_data", 2500)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_copy_and_commit_leaves_no_rows_and_no_ack() {
    let pg = PgServer::start();
    let fake = FakeExport::start().await;
    fill(&fake, 10);
    let a = archiver(&pg, &fake, 1000).await;
    let pool = a.store.pool().clone();
    // The watermark upsert comes after COPY and INSERT in the page's
    // transaction: failing it aborts the transaction before commit.
    sqlx::raw_sql(
        "CREATE FUNCTION crash() RETURNS trigger LANGUAGE plpgsql AS \
         $$BEGIN RAISE EXCEPTION 'simulated crash before commit'; END$$; \
         CREATE TRIGGER crash BEFORE INSERT OR UPDATE ON archive_watermarks \
         FOR EACH ROW WHEN (NEW.table_name = 'audit_log') EXECUTE FUNCTION crash();",
    )
    .execute(&pool)
    .await
    .unwrap();

    let r = a.run_once(now()).await;
    let err = r.outcome("audit_log").unwrap().error.clone().unwrap();
    assert!(err.contains("simulated crash"), "{err}");
    assert_eq!(
        count(&pool, "audit_log").await,
        0,
        "rows of an uncommitted page"
    );
    assert_eq!(fake.acked("audit_log"), None, "ack of an uncommitted page");
    assert!(!fake
        .events()
        .iter()
        .any(|e| matches!(e, Event::Ack { table, .. } if table == "audit_log")));
    assert_eq!(count(&pool, "market_data").await, 10, "other tables go on");

    sqlx::query("DROP TRIGGER crash ON archive_watermarks")
        .execute(&pool)
        .await
        .unwrap();
    let r = a.run_once(now()).await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(count(&pool, "audit_log").await, 30);
    assert_eq!(fake.acked("audit_log"), fake.cursor_at("audit_log", 30));
    let status = a.store.status(now()).await.unwrap();
    let audit = status.iter().find(|s| s.table == "audit_log").unwrap();
    assert_eq!(
        audit.last_error, None,
        "error cleared by the successful run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparsable_page_stops_that_table_without_ack_while_others_complete() {
    let pg = PgServer::start();
    let fake = FakeExport::start().await;
    fill(&fake, 150);
    // Row 120 (second page of 100) has a text price.
    {
        let mut s = fake.state.lock().unwrap();
        s.rows.get_mut("market_data").unwrap()[120]["bid"] = serde_json::json!("1.25");
    }
    let a = archiver(&pg, &fake, 100).await;
    let pool = a.store.pool().clone();

    let r = a.run_once(now()).await;
    let md = r.outcome("market_data").unwrap();
    let err = md.error.clone().unwrap();
    assert!(
        err.contains("market_data row 20") && err.contains("\"bid\""),
        "{err}"
    );
    assert_eq!(md.pages, 1, "the good first page is archived");
    assert_eq!(count(&pool, "market_data").await, 100);
    assert_eq!(
        fake.acked("market_data"),
        fake.cursor_at("market_data", 100),
        "no ack past the bad page"
    );
    for t in ["chain_snapshots", "ingest_runs", "audit_log", "proposals"] {
        assert!(r.outcome(t).unwrap().error.is_none(), "{t}: {r:?}");
    }
    assert_eq!(count(&pool, "audit_log").await, 30);
    let status = a.store.status(now()).await.unwrap();
    let s = status.iter().find(|s| s.table == "market_data").unwrap();
    assert_eq!(s.watermark, fake.cursor_at("market_data", 100));
    assert!(
        s.last_error.as_deref().unwrap().contains("unparsable"),
        "{s:?}"
    );

    // Still stopped on the next run (no skipping past the bad page).
    let r = a.run_once(now()).await;
    assert!(r.outcome("market_data").unwrap().error.is_some());
    assert_eq!(
        fake.acked("market_data"),
        fake.cursor_at("market_data", 100)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_5xx_backs_off_and_sends_no_ack() {
    let pg = PgServer::start();
    let fake = FakeExport::start().await;
    fill(&fake, 10);
    fake.state
        .lock()
        .unwrap()
        .fail_5xx
        .insert("market_data".into());
    let a = archiver(&pg, &fake, 1000).await;
    let pool = a.store.pool().clone();

    let started = Instant::now();
    let r = a.run_once(now()).await;
    let elapsed = started.elapsed();
    let err = r.outcome("market_data").unwrap().error.clone().unwrap();
    assert!(err.contains("503"), "{err}");
    let events = fake.events();
    let gets = events
        .iter()
        .filter(|e| matches!(e, Event::Get { table, .. } if table == "market_data"))
        .count();
    assert_eq!(gets, 3, "3 attempts: {events:?}");
    // fast_backoff: 50 ms then 100 ms between the attempts.
    assert!(elapsed.as_millis() >= 150, "no backoff: {elapsed:?}");
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::Ack { table, .. } if table == "market_data")));
    assert_eq!(count(&pool, "market_data").await, 0);
    assert_eq!(count(&pool, "audit_log").await, 30, "other tables go on");

    fake.state.lock().unwrap().fail_5xx.clear();
    let r = a.run_once(now()).await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(count(&pool, "market_data").await, 10);
    assert_eq!(fake.acked("market_data"), fake.cursor_at("market_data", 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_is_sent_only_after_commit() {
    let pg = PgServer::start();
    let fake = FakeExport::start().await;
    fill(&fake, 2500);
    let a = archiver(&pg, &fake, 1000).await;
    // The fake reads the watermark on its own connection at each ack.
    fake.state.lock().unwrap().check_pool = Some(a.store.pool().clone());

    let r = a.run_once(now()).await;
    assert!(r.ok(), "{r:?}");
    let md: Vec<Event> = fake
        .events()
        .into_iter()
        .filter(|e| match e {
            Event::Get { table, .. } | Event::Ack { table, .. } | Event::Failed { table, .. } => {
                table == "market_data"
            }
        })
        .collect();
    let at = |n: usize| fake.cursor_at("market_data", n).unwrap();
    let get = |after: Option<String>| Event::Get {
        table: "market_data".into(),
        after,
    };
    let ack = |through: String| Event::Ack {
        table: "market_data".into(),
        through,
        committed: Some(true),
    };
    assert_eq!(
        md,
        vec![
            get(None),
            ack(at(1000)),
            get(Some(at(1000))),
            ack(at(2000)),
            get(Some(at(2000))),
            ack(at(2500)),
            // The table is done at an empty page.
            get(Some(at(2500))),
        ]
    );
    assert!(
        fake.events().iter().all(|e| !matches!(
            e,
            Event::Ack {
                committed: Some(false),
                ..
            }
        )),
        "an ack arrived before its commit: {:?}",
        fake.events()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_are_created_ahead_and_old_ones_dropped_by_retention() {
    let pg = PgServer::start();
    let fake = FakeExport::start().await;
    fake.push(
        "market_data",
        vec![
            market_row("SPY", ms(2024, 6, 15)),  // 30 months old: dropped
            market_row("SPY", ms(2024, 12, 15)), // 24 months: kept
            market_row("SPY", ms(2026, 11, 15)),
        ],
    );
    fake.push(
        "chain_snapshots",
        vec![chain_row("SPY", ms(2024, 5, 3), "2024-06-21")],
    );
    let a = archiver(&pg, &fake, 1000).await;
    let pool = a.store.pool().clone();

    let r = a.run_once(now()).await;
    assert!(r.ok(), "{r:?}");
    let mut dropped = r.dropped_partitions.clone();
    dropped.sort();
    assert_eq!(
        dropped,
        vec!["chain_snapshots_p202405", "market_data_p202406"]
    );
    for t in [
        "market_data",
        "chain_snapshots",
        "underlying_metrics_intraday",
    ] {
        let names: Vec<String> = a
            .store
            .partitions(t)
            .await
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        for m in ["202612", "202701", "202702", "202703"] {
            assert!(names.contains(&format!("{t}_p{m}")), "{t}: {names:?}");
        }
    }
    let kept: Vec<(String, i64)> = sqlx::query_as(
        "SELECT symbol, (extract(epoch FROM ts) * 1000)::bigint FROM market_data ORDER BY ts",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        kept,
        vec![
            ("SPY".to_string(), ms(2024, 12, 15)),
            ("SPY".to_string(), ms(2026, 11, 15)),
        ]
    );
    assert_eq!(count(&pool, "chain_snapshots").await, 0);

    // Months later: December 2024 leaves the window too.
    let later = Utc.with_ymd_and_hms(2027, 1, 10, 0, 0, 0).unwrap();
    let dropped = a.maintain_partitions(later).await.unwrap();
    assert!(
        dropped.contains(&"market_data_p202412".to_string()),
        "{dropped:?}"
    );
    assert_eq!(count(&pool, "market_data").await, 1);
    assert!(a
        .store
        .partitions("market_data")
        .await
        .unwrap()
        .iter()
        .any(|(n, _)| n == "market_data_p202704"));
}
