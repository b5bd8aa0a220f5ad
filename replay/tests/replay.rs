//! The replay against a real private Postgres (the archiver's test helper,
//! included by path), filled with simulated chain snapshots through the
//! archiver's write path.
#![allow(clippy::unwrap_used, clippy::float_cmp)]

#[path = "../../archiver/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use common::PgServer;
use sas_archiver::store::Store;
use sas_core::market::Symbol;
use sas_core::performance::returns::equity_figures;
use sas_core::performance::trades::{attribution, trade_stats, Dimension};
use sas_replay::cli::{replay, RunArgs, RunPlan};
use sas_replay::config::ReplayConfig;
use sas_replay::pg::Archive;
use sas_replay::report::{to_json, Report};
use sas_replay::seed::{seed, SeedSpec};
use sas_replay::ReplayError;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn syms(list: &[&str]) -> Vec<Symbol> {
    list.iter().map(|s| Symbol::parse(s).unwrap()).collect()
}

const FROM: &str = "2026-09-01";
const TO: &str = "2026-10-09";
const SKIPPED_DAY: &str = "2026-09-16";
const SKIPPED_QQQ: &str = "2026-09-23";

async fn seeded() -> (PgServer, Archive) {
    let pg = PgServer::start();
    let store = Store::connect(&pg.url()).await.unwrap();
    store.migrate().await.unwrap();
    let spec = SeedSpec {
        symbols: syms(&["SPY", "QQQ", "IWM", "TLT"]),
        from: d(FROM),
        to: d(TO),
        interval_minutes: 120,
        seed: 11,
        skip_days: vec![d(SKIPPED_DAY)],
        skip_symbol_days: vec![(Symbol::parse("QQQ").unwrap(), d(SKIPPED_QQQ))],
    };
    let n = seed(&store, &spec).await.unwrap();
    assert_eq!(n.snapshots, 27 * 4 * 4 - 4, "{n:?}");
    let archive = Archive::connect(&pg.url()).await.unwrap();
    (pg, archive)
}

fn plan(url: &str, configs: Vec<ReplayConfig>, seed: u64) -> RunPlan {
    RunPlan {
        database_url: url.to_string(),
        from: d(FROM),
        to: d(TO),
        watchlist: syms(&["SPY", "QQQ", "IWM", "TLT"]),
        configs,
        seed,
    }
}

fn cfg(name: &str, penalty: f64, commission: f64) -> ReplayConfig {
    let mut c = ReplayConfig {
        name: name.into(),
        fill_penalty_per_leg: penalty,
        commission_per_contract: commission,
        ..ReplayConfig::default()
    };
    // Fewer trades a day than symbols, so the ranking decides.
    c.strategy.max_proposals_per_day = 2;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_over_a_seeded_archive() {
    let (pg, archive) = seeded().await;
    let penalty = 0.03;
    let commission = 0.65;
    let mut momentum = cfg("momentum_only", penalty, commission);
    momentum.score_weights = sas_core::score::ScoreWeights {
        realized_vol: 0.0,
        range: 0.0,
        iv_rank: 0.0,
        volume: 0.0,
        momentum: 1.0,
    };
    let configs = vec![cfg("default", penalty, commission), momentum];
    let p = plan(&pg.url(), configs.clone(), 42);

    // Determinism: same inputs and seed, byte-identical JSON.
    let a = replay(&archive, &p).await.unwrap();
    let b = replay(&archive, &p).await.unwrap();
    let (ja, jb) = (to_json(&a).unwrap(), to_json(&b).unwrap());
    assert_eq!(ja, jb);
    // Another baseline seed changes the baseline only.
    let c = replay(&archive, &plan(&pg.url(), configs, 43))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_string(&c.configs[0].scored).unwrap(),
        serde_json::to_string(&a.configs[0].scored).unwrap()
    );
    assert_ne!(
        serde_json::to_string(&c.configs[0].baseline.trades).unwrap(),
        serde_json::to_string(&a.configs[0].baseline.trades).unwrap()
    );

    gaps_are_reported(&a);
    scorer_and_baseline(&a);
    fills_at_mid_less_penalty(&a, penalty, commission);
    same_numbers_as_core(&a);
}

fn gaps_are_reported(r: &Report) {
    assert_eq!(r.gaps.missing_days, vec![d(SKIPPED_DAY)]);
    let text = sas_replay::report::table(r);
    assert!(
        text.contains(&format!(
            "MISSING sessions (not invented, left out): {SKIPPED_DAY}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("MISSING QQQ on: {SKIPPED_QQQ}")),
        "{text}"
    );
    assert!(
        text.contains("default scorer") && text.contains("momentum_only baseline"),
        "{text}"
    );
    let want: BTreeMap<String, Vec<NaiveDate>> =
        BTreeMap::from([("QQQ".to_string(), vec![d(SKIPPED_QQQ)])]);
    assert_eq!(r.gaps.missing_symbol_days, want);
    // 2026-09-01..10-09: 28 sessions (Labor Day 09-07 closed), one skipped.
    assert_eq!(r.sessions_with_data, 27);
    // 4 slots a session (every 2 h from 09:30), 4 symbols, less QQQ's day.
    assert_eq!(r.slots, 27 * 4);
    assert_eq!(r.snapshots, 27 * 4 * 4 - 4);
    // No slot of the skipped day was invented.
    for c in &r.configs {
        for run in [&c.scored, &c.baseline] {
            assert!(run
                .daily_equity
                .iter()
                .all(|(day, _)| *day != d(SKIPPED_DAY)));
            assert_eq!(run.daily_equity.len(), 27);
            for t in &run.trades {
                assert_ne!(t.trade.opened_at.date_naive(), d(SKIPPED_DAY));
            }
        }
    }
}

fn scorer_and_baseline(r: &Report) {
    assert_eq!(r.configs.len(), 2);
    for c in &r.configs {
        assert!(
            c.scored.overall.trades > 0,
            "{}: scorer closed nothing",
            c.name
        );
        assert!(
            c.baseline.overall.trades > 0,
            "{}: baseline closed nothing",
            c.name
        );
        // The baseline trades other underlyings/days than the scorer.
        let keys = |t: &sas_replay::report::RunReport| {
            t.trades
                .iter()
                .map(|t| t.trade.key.clone())
                .collect::<Vec<_>>()
        };
        assert_ne!(keys(&c.scored), keys(&c.baseline));
        // Baseline trades carry no score; scorer trades do.
        assert!(c
            .baseline
            .trades
            .iter()
            .all(|t| t.trade.driving_factor.is_none()));
        assert!(c
            .scored
            .trades
            .iter()
            .any(|t| t.trade.driving_factor.is_some()));
        let cmp = &c.scorer_vs_baseline;
        let want = c.scored.overall.expectancy.unwrap() - c.baseline.overall.expectancy.unwrap();
        assert!((cmp.expectancy_diff.unwrap() - want).abs() < 1e-9);
        assert!(cmp.verdict.starts_with(if want > 0.0 {
            "scorer ahead"
        } else {
            "scorer NOT ahead"
        }));
    }
    // Both baselines share the seed and ignore the weights (the only
    // difference between the two configurations): the same trades.
    assert_eq!(
        serde_json::to_string(&r.configs[0].baseline.trades).unwrap(),
        serde_json::to_string(&r.configs[1].baseline.trades).unwrap()
    );
    // Only momentum drives the momentum-only configuration's picks.
    let m = &r.configs[1].scored;
    assert!(m
        .trades
        .iter()
        .all(|t| matches!(t.trade.driving_factor.as_deref(), Some("momentum") | None)));
    assert!(m.trades.iter().any(|t| t.trade.driving_factor.is_some()));
    // Two configurations differ in what they traded.
    assert_ne!(
        serde_json::to_string(&r.configs[0].scored.trades).unwrap(),
        serde_json::to_string(&r.configs[1].scored.trades).unwrap()
    );
}

fn fills_at_mid_less_penalty(r: &Report, penalty: f64, commission: f64) {
    let mut checked = 0;
    for c in &r.configs {
        for run in [&c.scored, &c.baseline] {
            for t in &run.trades {
                let t = &t.trade;
                let legs = match t.strategy.as_str() {
                    "long_call" | "long_put" => 1.0,
                    "iron_condor" => 4.0,
                    _ => 2.0,
                };
                // Each leg gives up the penalty per share (× 100) at entry ...
                let entry_slip = (t.entry_fill_cost.unwrap() - t.entry_mid_cost.unwrap()).dollars();
                // ... and at exit, unless a sold leg's mid was under the
                // penalty (a price is never negative).
                let exit_slip = (t.exit_mark_value.unwrap() - t.exit_fill_value.unwrap()).dollars();
                assert!(entry_slip <= legs * penalty * 100.0 + 1e-6, "{t:?}");
                assert!(exit_slip <= legs * penalty * 100.0 + 1e-6, "{t:?}");
                if (entry_slip - legs * penalty * 100.0).abs() < 1e-6 {
                    checked += 1;
                }
                // Commissions: every contract, in and out.
                let contracts = legs * f64::from(t.units) * 2.0;
                assert!(
                    (t.commissions.dollars() - contracts * commission).abs() < 1e-6,
                    "{t:?}"
                );
                // Realized P&L = (exit value − entry cost) × sets − commissions.
                let sets = i64::from(t.units);
                let pnl = (t.exit_fill_value.unwrap() - t.entry_fill_cost.unwrap()) * sets
                    - t.commissions;
                assert!((pnl - t.pnl).micros().abs() <= sets, "{t:?}");
            }
        }
    }
    assert!(checked > 0);
}

fn same_numbers_as_core(r: &Report) {
    for c in &r.configs {
        for run in [&c.scored, &c.baseline] {
            let closed: Vec<_> = run.trades.iter().map(|t| t.trade.clone()).collect();
            assert_eq!(run.overall, trade_stats(&closed));
            assert_eq!(run.by_strategy, attribution(&closed, Dimension::Strategy));
            let total: i64 = run.by_dte_delta.values().map(|s| s.trades as i64).sum();
            assert_eq!(total, closed.len() as i64);
            // Equity: start + realized + open P&L at the last mark.
            let last = run.daily_equity.last().unwrap().1;
            let open: f64 = run
                .open_at_end
                .iter()
                .map(|o| o.realized + o.unrealized_mid.unwrap_or(0.0))
                .sum();
            let start = 100_000.0;
            let realized = run.overall.net_pnl.dollars();
            assert!(
                (last - (start + realized + open)).abs() < 1e-3,
                "{last} vs {realized} {open}"
            );
            // The figures equal core's on the daily equity series.
            let snaps: Vec<_> = run
                .daily_equity
                .iter()
                .map(|(day, e)| sas_core::performance::returns::EquitySnapshot {
                    at: day.and_hms_opt(20, 0, 0).unwrap().and_utc(),
                    net_liquidation: sas_core::money::Money::from_dollars(*e).unwrap(),
                })
                .collect();
            let f = equity_figures(&snaps);
            assert_eq!(f.days, run.equity.days);
            assert_eq!(f.sharpe, run.equity.sharpe);
            assert_eq!(f.total_return, run.equity.total_return);
        }
    }
}

#[tokio::test]
async fn bad_arguments_are_listed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "starting_equity = -5.0\nfill_penalty_per_leg = -1.0\n[score_weights]\nrealized_vol = -1.0\nrange = 0.0\niv_rank = 0.0\nvolume = 0.0\nmomentum = 0.0\n",
    )
    .unwrap();
    let args = RunArgs {
        database_url: Some("mysql://x".into()),
        from: "2026-13-01".into(),
        to: "2026-01-01".into(),
        watchlist: "SPY,spy!,SPY".into(),
        configs: vec![bad, dir.path().join("missing.toml")],
        seed: 1,
        json: None,
        chart: Some(dir.path().join("chart.png")),
        quiet: true,
    };
    let Err(ReplayError::InvalidArguments(errs)) = args.plan() else {
        panic!("accepted");
    };
    let all = errs.join("\n");
    for want in [
        "postgres://",
        "--from \"2026-13-01\"",
        "listed twice",
        "spy!",
        "starting_equity",
        "fill_penalty_per_leg",
        "score_weights",
        "missing.toml",
        "only .svg",
    ] {
        assert!(all.contains(want), "{want} not in:\n{all}");
    }
}

#[tokio::test]
async fn unreachable_postgres_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres:secret@127.0.0.1:{port}/sas");
    let Err(e) = Archive::connect(&url).await else {
        panic!("connected");
    };
    let msg = e.to_string();
    assert!(matches!(e, ReplayError::Unreachable { .. }));
    assert!(msg.contains("cannot reach Postgres"), "{msg}");
    assert!(!msg.contains("secret"), "{msg}");
}
