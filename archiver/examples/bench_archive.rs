//! Archival throughput into Postgres for market-data rows (target >= 50,000
//! rows/s). Starts a private Postgres (like the tests) and the in-test export
//! server, then measures:
//!   1. end to end: HTTP export pages (5000 rows) → parse → COPY → INSERT
//!      … ON CONFLICT → watermark → commit → ack;
//!   2. the Postgres write path alone (pre-parsed pages).
//!
//!     cargo run --release -p sas-archiver --example bench_archive [rows]
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::*;
use sas_archiver::tables;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: i64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300_000);
    let pg = PgServer::start();
    let fake = FakeExport::start().await;
    let t0 = 1_764_600_000_000_i64; // 2025-12-01
    let symbols = [
        "SPY", "QQQ", "IWM", "DIA", "TLT", "GLD", "XLF", "XLE", "EEM", "SMH",
    ];
    fake.push(
        "market_data",
        (0..n).map(|i| market_row(symbols[(i % 10) as usize], t0 + (i / 10) * 1000)),
    );
    let a = archiver(&pg, &fake, 5000).await;
    let now = chrono::Utc::now();

    let started = Instant::now();
    let r = a.run_once(now).await;
    let secs = started.elapsed().as_secs_f64();
    let md = r.outcome("market_data").unwrap();
    assert!(r.ok(), "{r:?}");
    assert_eq!(md.inserted as i64, n);
    println!(
        "end to end (HTTP + parse + COPY + INSERT ON CONFLICT + commit + ack): {n} rows in {secs:.2} s = {:.0} rows/s",
        n as f64 / secs
    );

    // The Postgres write path alone, into a fresh range of keys.
    let rows: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            market_row(
                symbols[(i % 10) as usize],
                t0 + 86_400_000 * 40 + (i / 10) * 1000,
            )
        })
        .collect();
    let pages: Vec<tables::CopyPage> = rows
        .chunks(5000)
        .map(|c| tables::to_copy(&tables::MARKET_DATA, c).unwrap())
        .collect();
    let started = Instant::now();
    let mut inserted = 0;
    for (i, p) in pages.iter().enumerate() {
        inserted += a
            .store
            .write_page(&tables::MARKET_DATA, p, &format!("bench{i}"))
            .await
            .unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(inserted as i64, n);
    println!(
        "postgres write path only (COPY + INSERT ON CONFLICT + watermark, 5000-row transactions): {n} rows in {secs:.2} s = {:.0} rows/s",
        n as f64 / secs
    );
    println!("(private Postgres with fsync=off as in the tests; production fsync adds one flush per 5000-row commit)");
}
