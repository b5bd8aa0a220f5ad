//! Every IV-history workflow against the in-memory fakes of [`super::memory`]
//! (store and bridge), with the clock passed in; and the SQL of
//! [`super::model`] on real SQLite (the `sqlite3` shell) over every D1
//! migration, so the fake and the SQL agree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use futures_executor::block_on;
use sas_bridge_api::market::{IvBar, IvHistoryBody, IvSource};
use sas_core::analytics::iv_history::IvRankConfig;
use sas_core::market::{
    ChainExpiry, DataType, OptionChain, OptionQuote, OptionRight, SourceGreeks, Symbol,
};

use super::memory::{ok, FakeBridge, MemoryIvStore};
use super::model::{
    plan, CoverageRow, FetchKind, SeriesRow, APPEND_EVERY_MS, BACKOFF_BASE_MS, NO_OPTIONS_WAIT_MS,
};
use super::service::{cron_step, quality, rank, rank_from_rows, CronReport};
use super::IvHistoryError;
use crate::bridge::{BridgeAnswer, BridgeFailure};
use crate::config::iv_history::IvHistoryConfig;
use crate::config::Config;
use crate::store::LatestRow;

fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Monday 2026-11-23, 11:00 New York.
fn monday() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T16:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn watchlist(names: &[&str]) -> Vec<Symbol> {
    names.iter().map(|s| sym(s)).collect()
}

fn cfg(n: u32) -> IvHistoryConfig {
    IvHistoryConfig {
        backfill_per_run: n,
        ..IvHistoryConfig::default()
    }
}

/// Weekday IV closes of `symbol` from `first` through `last`, `iv(i)` for the i-th.
fn body(symbol: &str, first: &str, last: &str, iv: impl Fn(usize) -> f64) -> String {
    let mut bars = Vec::new();
    let mut d = date(first);
    while d <= date(last) {
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            bars.push(IvBar {
                date: d,
                iv: iv(bars.len()),
            });
        }
        d += Duration::days(1);
    }
    serde_json::to_string(&IvHistoryBody {
        symbol: sym(symbol),
        bars,
        source: IvSource::Ib,
    })
    .unwrap()
}

/// A year of closes through Friday 2026-11-20.
fn year(symbol: &str) -> String {
    body(symbol, "2025-11-24", "2026-11-20", |i| {
        0.20 + 0.001 * (i % 100) as f64
    })
}

fn run(
    store: &MemoryIvStore,
    bridge: &FakeBridge,
    list: &[Symbol],
    n: u32,
    now: DateTime<Utc>,
) -> CronReport {
    block_on(cron_step(store, bridge, list, &cfg(n), 5_000, now)).unwrap()
}

fn iv_requests(bridge: &FakeBridge) -> Vec<String> {
    bridge
        .asked
        .borrow()
        .iter()
        .filter(|p| p.starts_with("/history/iv"))
        .cloned()
        .collect()
}

#[test]
fn backfill_asks_never_more_than_n_symbols_per_run_and_covers_the_watchlist() {
    let list = watchlist(&["SPY", "QQQ", "AAPL", "MSFT", "IWM"]);
    let (store, bridge) = (MemoryIvStore::default(), FakeBridge::default());
    for s in &list {
        bridge.on(&format!("/history/iv?symbol={s}&"), ok(year(s.as_str())));
    }
    let mut now = monday();
    let mut per_run = Vec::new();
    for _ in 0..4 {
        let before = iv_requests(&bridge).len();
        let report = run(&store, &bridge, &list, 2, now);
        per_run.push(iv_requests(&bridge).len() - before);
        assert!(
            report.fetches.iter().all(|f| f.error.is_none()),
            "{report:?}"
        );
        now += Duration::minutes(15);
    }
    assert_eq!(per_run, vec![2, 2, 1, 0], "2 per run, then nothing to do");
    let asked = iv_requests(&bridge);
    assert_eq!(
        asked[0], "/history/iv?symbol=SPY&days=365",
        "watchlist order"
    );
    assert_eq!(asked[1], "/history/iv?symbol=QQQ&days=365");
    for s in &list {
        assert_eq!(store.state.borrow()[s.as_str()].status, "complete");
        assert_eq!(
            store.ib_of(s.as_str()).len(),
            260,
            "{s}: a year of weekdays"
        );
    }
}

#[test]
fn a_symbol_added_to_the_watchlist_is_backfilled_before_appends() {
    let (store, bridge) = (MemoryIvStore::default(), FakeBridge::default());
    bridge.on("/history/iv?symbol=SPY&", ok(year("SPY")));
    bridge.on("/history/iv?symbol=NVDA&", ok(year("NVDA")));
    run(&store, &bridge, &watchlist(&["SPY"]), 1, monday());
    // A week later SPY wants its append, NVDA (new) its year: NVDA first.
    let later = monday() + Duration::days(7);
    let report = run(&store, &bridge, &watchlist(&["SPY", "NVDA"]), 1, later);
    assert_eq!(report.fetches.len(), 1);
    assert_eq!(report.fetches[0].symbol, "NVDA");
    assert_eq!(report.fetches[0].kind, FetchKind::Backfill);
}

#[test]
fn a_bridge_failure_leaves_no_iv_row_and_waits_before_asking_again() {
    let list = watchlist(&["SPY", "QQQ"]);
    let (store, bridge) = (MemoryIvStore::default(), FakeBridge::default());
    // SPY: a body cut off mid-way; QQQ: no answer in time.
    let full = year("SPY");
    bridge.on(
        "/history/iv?symbol=SPY&",
        ok(full[..full.len() / 2].to_owned()),
    );
    bridge.on(
        "/history/iv?symbol=QQQ&",
        Err(BridgeFailure::Timeout { after_ms: 5_000 }),
    );
    let report = run(&store, &bridge, &list, 2, monday());
    assert!(store.iv.borrow().is_empty(), "nothing half-written");
    assert_eq!(report.fetches.len(), 2);
    assert!(report
        .fetches
        .iter()
        .all(|f| f.rows_written == 0 && f.error.is_some()));
    for s in ["SPY", "QQQ"] {
        let st = store.state.borrow()[s].clone();
        assert_eq!(st.status, "pending", "{s}");
        assert_eq!(st.attempts, 1);
        assert_eq!(
            st.next_attempt_at,
            monday().timestamp_millis() + BACKOFF_BASE_MS
        );
    }
    // Inside the backoff nothing is asked; after it, again (and it succeeds).
    let n = iv_requests(&bridge).len();
    run(&store, &bridge, &list, 2, monday() + Duration::minutes(10));
    assert_eq!(iv_requests(&bridge).len(), n, "waits for its turn");
    bridge.answers.borrow_mut().clear();
    bridge.on("/history/iv?symbol=SPY&", ok(year("SPY")));
    bridge.on("/history/iv?symbol=QQQ&", ok(year("QQQ")));
    run(&store, &bridge, &list, 2, monday() + Duration::minutes(15));
    assert_eq!(store.state.borrow()["SPY"].status, "complete");
    assert_eq!(store.state.borrow()["SPY"].attempts, 0);
    assert_eq!(store.ib_of("QQQ").len(), 260);
}

#[test]
fn a_failed_batch_writes_no_iv_row_and_leaves_the_symbol_pending() {
    let (store, bridge) = (MemoryIvStore::default(), FakeBridge::default());
    bridge.on("/history/iv?symbol=SPY&", ok(year("SPY")));
    store.fail_next_batch.set(true);
    let report = run(&store, &bridge, &watchlist(&["SPY"]), 2, monday());
    assert!(store.iv.borrow().is_empty());
    assert_eq!(report.fetches[0].rows_written, 0);
    assert!(report.fetches[0]
        .error
        .as_deref()
        .unwrap()
        .contains("injected"));
    assert_eq!(store.state.borrow()["SPY"].status, "pending");
}

#[test]
fn failures_in_a_row_double_the_wait() {
    let (store, bridge) = (MemoryIvStore::default(), FakeBridge::default());
    bridge.on(
        "/history/iv?symbol=SPY&",
        Ok(BridgeAnswer {
            status: 502,
            body: String::new(),
        }),
    );
    let list = watchlist(&["SPY"]);
    run(&store, &bridge, &list, 1, monday());
    let first = store.state.borrow()["SPY"].next_attempt_at;
    let at = DateTime::<Utc>::from_timestamp_millis(first).unwrap();
    run(&store, &bridge, &list, 1, at);
    let st = store.state.borrow()["SPY"].clone();
    assert_eq!(st.attempts, 2);
    assert_eq!(st.next_attempt_at - first, 2 * BACKOFF_BASE_MS);
    assert!(st.last_error.unwrap().contains("502"));
}

#[test]
fn a_pacing_refusal_defers_the_rest_of_the_run() {
    let list = watchlist(&["SPY", "QQQ", "AAPL"]);
    let (store, bridge) = (MemoryIvStore::default(), FakeBridge::default());
    bridge.on(
        "/history/iv?symbol=SPY&",
        Ok(BridgeAnswer {
            status: 429,
            body: r#"{"error":"pacing","message":"wait"}"#.into(),
        }),
    );
    bridge.on("/history/iv?symbol=QQQ&", ok(year("QQQ")));
    let report = run(&store, &bridge, &list, 3, monday());
    assert_eq!(iv_requests(&bridge).len(), 1, "never hammers after a 429");
    assert_eq!(report.deferred, vec!["QQQ".to_owned(), "AAPL".to_owned()]);
    let st = store.state.borrow()["SPY"].clone();
    assert_eq!(st.status, "pending");
    assert!(st.last_error.unwrap().starts_with("IV history pending"));
}

#[test]
fn a_symbol_without_options_is_stated_and_not_asked_for_a_week() {
    let (store, bridge) = (MemoryIvStore::default(), FakeBridge::default());
    bridge.on(
        "/history/iv?symbol=BRK.A&",
        Ok(BridgeAnswer {
            status: 404,
            body: r#"{"error":"no_options","message":"BRK.A lists no options"}"#.into(),
        }),
    );
    let list = watchlist(&["BRK.A"]);
    run(&store, &bridge, &list, 2, monday());
    let st = store.state.borrow()["BRK.A"].clone();
    assert_eq!(st.status, "no_options");
    assert_eq!(
        st.next_attempt_at,
        monday().timestamp_millis() + NO_OPTIONS_WAIT_MS
    );
    run(&store, &bridge, &list, 2, monday() + Duration::days(6));
    assert_eq!(iv_requests(&bridge).len(), 1);
    // Another 404 (unknown route, say) is a plain failure, not "no options".
    let err = super::model::parse_answer(
        &BridgeAnswer {
            status: 404,
            body: r#"{"error":"not_found","message":"x"}"#.into(),
        },
        &sym("SPY"),
    );
    assert_eq!(err, Err(IvHistoryError::BridgeStatus { status: 404 }));
}

#[test]
fn an_answer_for_another_symbol_or_with_bad_values_is_refused_or_cleaned() {
    let answer = BridgeAnswer {
        status: 200,
        body: year("QQQ"),
    };
    assert_eq!(
        super::model::parse_answer(&answer, &sym("SPY")),
        Err(IvHistoryError::OtherSymbol)
    );
    let bad = body("SPY", "2026-11-16", "2026-11-20", |i| {
        [0.2, 0.0, 7.0, f64::NAN, 0.25][i]
    });
    // NaN does not serialize as JSON: build it with null-free values only.
    let bad = bad.replace("null", "0.0");
    let fetched = super::model::parse_answer(
        &BridgeAnswer {
            status: 200,
            body: bad,
        },
        &sym("SPY"),
    )
    .unwrap();
    assert_eq!(
        fetched.bars.len(),
        2,
        "0 %, 700 % and the bad value are left out"
    );
    assert_eq!(fetched.ignored, 3);
}

#[test]
fn the_daily_append_asks_ten_days_and_rewrites_no_unchanged_close() {
    let (store, bridge) = (MemoryIvStore::default(), FakeBridge::default());
    // Backfilled on Friday 2026-11-20 with closes through Thursday.
    bridge.on(
        "/history/iv?symbol=SPY&days=365",
        ok(body("SPY", "2025-11-24", "2026-11-19", |_| 0.2)),
    );
    bridge.on(
        "/history/iv?symbol=SPY&days=10",
        ok(body("SPY", "2026-11-10", "2026-11-20", |_| 0.2)),
    );
    let list = watchlist(&["SPY"]);
    let friday = monday() - Duration::days(3);
    run(&store, &bridge, &list, 2, friday);
    // Friday: Thursday's close is the newest one can have.
    let r = run(&store, &bridge, &list, 2, friday + Duration::hours(7));
    assert!(r.fetches.is_empty(), "{r:?}");
    // Monday: Friday's close is missing -> one append of 10 days.
    let r = run(&store, &bridge, &list, 2, monday());
    assert_eq!(r.fetches.len(), 1);
    assert_eq!(r.fetches[0].kind, FetchKind::Append);
    assert_eq!(
        iv_requests(&bridge).last().unwrap(),
        "/history/iv?symbol=SPY&days=10"
    );
    assert_eq!(r.fetches[0].rows_written, 1, "only Friday is new");
    // Up to date now: nothing more, even hours later.
    let r = run(
        &store,
        &bridge,
        &list,
        2,
        monday() + Duration::milliseconds(APPEND_EVERY_MS),
    );
    assert!(r.fetches.is_empty());
}

#[test]
fn sas_own_iv_of_completed_days_is_kept_beside_ibs_once() {
    let (store, bridge) = (MemoryIvStore::default(), FakeBridge::default());
    bridge.on("/history/iv?symbol=SPY&", ok(year("SPY")));
    for (d, v) in [
        ("2026-11-19", 0.21),
        ("2026-11-20", 0.22),
        ("2026-11-23", 0.30),
    ] {
        store
            .own_daily
            .borrow_mut()
            .insert(("SPY".into(), d.into()), v);
    }
    let list = watchlist(&["SPY"]);
    let r = run(&store, &bridge, &list, 2, monday());
    assert_eq!(
        r.own_rows_written, 2,
        "today's value still changes: not copied"
    );
    let iv = store.iv.borrow();
    let fri = &iv[&("SPY".to_owned(), "2026-11-20".to_owned())];
    assert_eq!((fri.own_iv, fri.ib_iv.is_some()), (Some(0.22), true));
    assert!(!iv.contains_key(&("SPY".to_owned(), "2026-11-23".to_owned())));
    drop(iv);
    let r = run(&store, &bridge, &list, 2, monday() + Duration::minutes(15));
    assert_eq!(r.own_rows_written, 0, "copied once");
}

fn rows(points: &[(&str, Option<f64>, Option<f64>)]) -> Vec<SeriesRow> {
    points
        .iter()
        .map(|(d, ib, own)| SeriesRow {
            date: (*d).to_owned(),
            ib_iv: *ib,
            own_iv: *own,
        })
        .collect()
}

#[test]
fn rank_and_percentile_are_hand_computed_with_the_days_they_rest_on() {
    let r = rows(&[
        ("2026-11-17", Some(0.20), None),
        ("2026-11-18", Some(0.30), Some(0.32)),
        ("2026-11-19", Some(0.40), Some(0.41)),
    ]);
    let cfg = IvRankConfig {
        min_days: 4,
        ..IvRankConfig::default()
    };
    let rep = rank_from_rows(&r, date("2026-11-20"), Some(0.35), &cfg).unwrap();
    assert!(
        (rep.rank.iv_rank.unwrap() - 75.0).abs() < 1e-9,
        "(0.35-0.2)/(0.4-0.2)"
    );
    assert!(
        (rep.rank.iv_percentile.unwrap() - 200.0 / 3.0).abs() < 1e-9,
        "2 of 3 below"
    );
    assert_eq!(rep.rank.days, 4);
    assert_eq!(rep.rank.first_date, date("2026-11-17"));
    assert_eq!(
        (rep.ib_days, rep.own_days, rep.current_is_own),
        (3, 0, true)
    );
    assert!(!rep.rank.short_history);
    assert_eq!(rep.usable_rank(), rep.rank.iv_rank);
    let diff = rep.own_vs_ib.unwrap();
    assert_eq!(diff.days, 2);
    assert!(
        (diff.mean_diff - 0.015).abs() < 1e-9,
        "own reads 1.5 points higher"
    );
    // Without a current value the newest stored close is ranked.
    let rep = rank_from_rows(&r, date("2026-11-20"), None, &cfg).unwrap();
    assert_eq!((rep.rank.date, rep.rank.days), (date("2026-11-19"), 3));
    assert!(rep.rank.short_history, "3 < 4 days: shown, not usable");
    assert_eq!(rep.usable_rank(), None);
    assert!(!rep.current_is_own);
}

#[test]
fn rank_fills_ib_gaps_with_sas_own_and_says_so() {
    let r = rows(&[
        ("2026-11-16", None, Some(0.25)),
        ("2026-11-17", Some(0.20), None),
        ("2026-11-18", None, None),
        ("2026-11-19", Some(0.0), Some(0.30)),
    ]);
    let rep = rank_from_rows(&r, date("2026-11-20"), Some(0.22), &IvRankConfig::default()).unwrap();
    assert_eq!(rep.rank.days, 4, "3 earlier days that exist + today");
    assert_eq!(
        (rep.ib_days, rep.own_days),
        (1, 2),
        "IB's 0.0 is not plausible"
    );
    assert!(rep.rank.short_history);
    assert_eq!(
        rank_from_rows(&[], date("2026-11-20"), None, &IvRankConfig::default()),
        None
    );
}

#[test]
fn rank_from_day_one_rests_on_the_backfilled_year() {
    let (store, bridge) = (MemoryIvStore::default(), FakeBridge::default());
    bridge.on("/history/iv?symbol=SPY&", ok(year("SPY")));
    run(&store, &bridge, &watchlist(&["SPY"]), 2, monday());
    let rep = block_on(rank(
        &store,
        &sym("SPY"),
        date("2026-11-23"),
        Some(0.25),
        &IvRankConfig::default(),
    ))
    .unwrap()
    .unwrap();
    assert_eq!(
        rep.rank.days, 252,
        "the cap of vol::iv_rank: 251 earlier days + today"
    );
    assert_eq!(rep.ib_days, 251);
    assert!(rep.usable_rank().is_some());
    store.fail_reads.set(true);
    assert!(matches!(
        block_on(rank(
            &store,
            &sym("SPY"),
            date("2026-11-23"),
            None,
            &IvRankConfig::default()
        )),
        Err(IvHistoryError::Store(_))
    ));
}

fn config() -> Config {
    let vars: BTreeMap<&str, &str> = [
        ("API_TOKEN", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        ("BRIDGE_TOKEN", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
        ("ENVIRONMENT", "development"),
        ("WATCHLIST", "SPY,QQQ"),
    ]
    .into_iter()
    .collect();
    Config::from_lookup(|k| vars.get(k).map(|v| (*v).to_owned())).unwrap()
}

fn contract(strike: f64, right: OptionRight, bid: f64, ask: f64) -> OptionQuote {
    OptionQuote {
        strike,
        right,
        bid: Some(bid),
        ask: Some(ask),
        last: None,
        volume: Some(120),
        open_interest: Some(900),
        greeks: SourceGreeks::default(),
    }
}

fn chain(data_type: DataType) -> String {
    let expiry = |d: &str, dte: u32, scale: f64| ChainExpiry {
        expiry: date(d),
        dte,
        contracts: vec![
            contract(95.0, OptionRight::Put, 1.30 * scale, 1.40 * scale),
            contract(100.0, OptionRight::Put, 3.20 * scale, 3.30 * scale),
            contract(100.0, OptionRight::Call, 3.50 * scale, 3.60 * scale),
            contract(105.0, OptionRight::Call, 1.40 * scale, 1.50 * scale),
        ],
    };
    serde_json::to_string(&OptionChain {
        symbol: sym("SPY"),
        spot: 100.0,
        as_of: monday() - Duration::seconds(30),
        data_type,
        dividend_yield: Some(0.0),
        expiries: vec![expiry("2026-12-14", 21, 1.0), expiry("2027-01-18", 56, 1.6)],
    })
    .unwrap()
}

fn quote_row(data_type: &str) -> LatestRow {
    LatestRow {
        symbol: "SPY".into(),
        ts: monday().timestamp_millis() - 60_000,
        bid: Some(99.99),
        ask: Some(100.01),
        last: Some(100.0),
        volume: Some(1_000),
        data_type: data_type.into(),
    }
}

fn stored_quote(store: &MemoryIvStore, data_type: &str) {
    store.quotes.borrow_mut().push(quote_row(data_type));
}

fn live_quote() -> String {
    serde_json::to_string(&sas_core::market::Quote {
        symbol: sym("SPY"),
        bid: 99.99,
        ask: 100.01,
        last: 100.0,
        volume: 1_000,
        timestamp: monday() - Duration::seconds(5),
        data_type: DataType::Live,
    })
    .unwrap()
}

#[test]
fn quality_is_clear_for_live_clean_data_and_reports_the_iv_history() {
    let (store, bridge) = (MemoryIvStore::default(), FakeBridge::default());
    // An old stored quote: the bridge's quote of now is the one checked.
    store.quotes.borrow_mut().push(LatestRow {
        ts: monday().timestamp_millis() - 3_600_000,
        ..quote_row("live")
    });
    bridge.on("/quote?symbol=SPY", ok(live_quote()));
    bridge.on("/chain?symbol=SPY&", ok(chain(DataType::Live)));
    bridge.on("/history/iv?symbol=SPY&", ok(year("SPY")));
    run(&store, &bridge, &watchlist(&["SPY"]), 2, monday());
    let rep = block_on(quality(
        &store,
        &bridge,
        &config(),
        &cfg(2),
        &sym("SPY"),
        monday(),
    ))
    .unwrap();
    assert_eq!(rep.verdict, "clear", "{rep:#?}");
    assert!(rep.may_propose);
    assert_eq!(rep.quote.unwrap().source, "bridge");
    let chain = rep.chain.unwrap();
    assert_eq!((chain.input_contracts, chain.kept_contracts), (8, 8));
    assert_eq!(rep.iv_history.status, "complete");
    assert_eq!(rep.iv_history.ib_days, 260);
    assert_eq!(rep.iv_history.rank.unwrap().rank.days, 252);
    assert_eq!(rep.stored.state, "unknown", "no chain step has stored SPY");
    assert_eq!(rep.stored.note.as_deref(), Some("not yet checked"));
    assert_eq!((rep.stored.since_ms, rep.stored.held_secs), (None, None));
}

#[test]
fn quality_reports_the_stored_state_and_since_when_it_has_held() {
    use super::model::StoredQualityRow;
    let (store, bridge) = (MemoryIvStore::default(), FakeBridge::default());
    stored_quote(&store, "delayed");
    bridge.on("/chain?symbol=SPY&", ok(chain(DataType::Delayed)));
    let since = monday().timestamp_millis() - 3 * 3_600_000;
    store.quality.borrow_mut().insert(
        "SPY".into(),
        StoredQualityRow {
            state: "delayed".into(),
            since_ms: since,
            checked_ms: monday().timestamp_millis() - 60_000,
            reasons_json: r#"[{"kind":"not_live","data_type":"delayed"}]"#.into(),
            dropped_json: r#"{"wide_spread":2}"#.into(),
            input_contracts: 8,
            kept_contracts: 6,
        },
    );
    let rep = block_on(quality(
        &store,
        &bridge,
        &config(),
        &cfg(2),
        &sym("SPY"),
        monday(),
    ))
    .unwrap();
    let s = &rep.stored;
    assert_eq!(s.state, "delayed");
    assert_eq!(s.since_ms, Some(since));
    assert_eq!(s.held_secs, Some(3 * 3600), "held three hours");
    assert_eq!(s.since.as_deref(), Some("2026-11-23T13:00:00+00:00"));
    assert_eq!(s.reasons[0]["kind"], "not_live");
    assert_eq!(s.dropped.get("wide_spread"), Some(&2));
    assert_eq!((s.input_contracts, s.kept_contracts), (8, 6));
    assert_eq!(s.note, None);
    let body = serde_json::to_value(&rep).unwrap();
    assert_eq!(body["stored"]["state"], "delayed");
    assert_eq!(body["stored"]["since_ms"], since);

    store.fail_reads.set(true);
    assert!(matches!(
        block_on(quality(
            &store,
            &bridge,
            &config(),
            &cfg(2),
            &sym("SPY"),
            monday()
        )),
        Err(IvHistoryError::Store(_))
    ));
}

#[test]
fn quality_holds_delayed_data_and_says_why() {
    let (store, bridge) = (MemoryIvStore::default(), FakeBridge::default());
    stored_quote(&store, "delayed");
    bridge.on("/chain?symbol=SPY&", ok(chain(DataType::Delayed)));
    let rep = block_on(quality(
        &store,
        &bridge,
        &config(),
        &cfg(2),
        &sym("SPY"),
        monday(),
    ))
    .unwrap();
    assert_eq!(rep.verdict, "hold");
    assert!(!rep.may_propose);
    assert!(!rep.quote.unwrap().live_enough);
    let v = serde_json::to_value(rep.chain.unwrap().verdict).unwrap();
    assert_eq!(v["verdict"], "hold");
    assert_eq!(v["reasons"][0]["kind"], "not_live");
    assert_eq!(rep.iv_history.status, "pending", "never asked yet");
    assert_eq!(rep.iv_history.rank, None);
}

#[test]
fn quality_without_a_chain_is_unknown_and_an_unknown_symbol_is_refused() {
    let (store, bridge) = (MemoryIvStore::default(), FakeBridge::default());
    stored_quote(&store, "live");
    bridge.on(
        "/chain?symbol=SPY&",
        Err(BridgeFailure::Unreachable("refused".into())),
    );
    let rep = block_on(quality(
        &store,
        &bridge,
        &config(),
        &cfg(2),
        &sym("SPY"),
        monday(),
    ))
    .unwrap();
    assert_eq!(rep.verdict, "unknown");
    assert!(!rep.may_propose);
    assert_eq!(
        rep.quote.as_ref().unwrap().source,
        "stored",
        "the bridge gave none"
    );
    assert!(rep.chain_error.unwrap().contains("unreachable"));
    let stale = monday() + Duration::hours(1);
    let rep = block_on(quality(
        &store,
        &bridge,
        &config(),
        &cfg(2),
        &sym("SPY"),
        stale,
    ))
    .unwrap();
    assert_eq!(
        rep.verdict, "hold",
        "a stale quote holds even without a chain"
    );
    assert_eq!(rep.quote.unwrap().failed, Some("stale"));
    assert_eq!(
        block_on(quality(
            &store,
            &bridge,
            &config(),
            &cfg(2),
            &sym("TSLA"),
            monday()
        ))
        .unwrap_err(),
        IvHistoryError::UnknownSymbol("TSLA".into())
    );
}

#[test]
fn plan_orders_backfills_first_then_the_longest_waiting() {
    let list = watchlist(&["SPY", "QQQ", "IWM"]);
    let now = monday().timestamp_millis();
    let behind = CoverageRow {
        symbol: "SPY".into(),
        status: Some("complete".into()),
        backfilled_at: Some(now - 86_400_000),
        last_attempt_at: Some(now - 86_400_000),
        next_attempt_at: Some(now - 86_400_000),
        attempts: Some(0),
        ib_days: 250,
        last_ib_date: Some("2026-11-18".into()),
        ..CoverageRow::default()
    };
    let waiting = CoverageRow {
        symbol: "QQQ".into(),
        status: Some("pending".into()),
        last_attempt_at: Some(now - 60_000),
        next_attempt_at: Some(now + 60_000),
        ..CoverageRow::default()
    };
    let p = plan(&list, &[behind, waiting], date("2026-11-23"), now, 5);
    let got: Vec<(&str, FetchKind)> = p.iter().map(|p| (p.symbol.as_str(), p.kind)).collect();
    assert_eq!(
        got,
        vec![("IWM", FetchKind::Backfill), ("SPY", FetchKind::Append)]
    );
    assert!(
        plan(&list, &[], date("2026-11-23"), now, 0).is_empty(),
        "0 turns it off"
    );
}

/// The SQL of `model` on real SQLite over every D1 migration.
mod sql {
    use super::super::model::*;
    use super::date;
    use crate::test_sqlite::{quote as q, Sqlite as Db};

    /// `sql` with `?N` replaced by the literal `params[N-1]` (already quoted).
    fn inline(sql: &str, params: &[&str]) -> String {
        let literals: Vec<String> = params.iter().map(|p| p.to_string()).collect();
        crate::test_sqlite::inline(sql, &literals)
    }

    fn metrics_daily(db: &Db, symbol: &str, d: &str, iv: f64) {
        db.exec(&format!(
                "INSERT INTO underlying_metrics_daily (symbol, date, ts, spot, atm_iv_30d, metrics_json, factors_json) \
VALUES ('{symbol}', '{d}', 0, 100.0, {iv}, '{{}}', '{{}}');"
            ),
        );
    }

    #[test]
    fn the_sql_stores_appends_and_reads_as_the_fake_does() {
        let db = Db::migrated();
        let bars = bars_json(&[(date("2026-11-19"), 0.20), (date("2026-11-20"), 0.22)]);
        let upsert =
            |bars: &str, now: &str| inline(UPSERT_IB_BARS, &[&q("SPY"), &q(bars), &q("ib"), now]);
        assert_eq!(db.exec_changes(&upsert(&bars, "1")), 2);
        assert_eq!(
            db.exec_changes(&upsert(&bars, "2")),
            0,
            "an unchanged close is not rewritten"
        );
        let changed = bars_json(&[(date("2026-11-20"), 0.23)]);
        assert_eq!(db.exec_changes(&upsert(&changed, "3")), 1);
        db.exec_changes(&inline(UPSERT_STATE_SUCCESS, &[&q("SPY"), "1000", "1"]));
        db.exec_changes(&inline(UPSERT_STATE_SUCCESS, &[&q("SPY"), "2000", "0"]));
        db.exec_changes(&inline(
            UPSERT_STATE_FAILURE,
            &[
                &q("QQQ"),
                &q("pending"),
                "2000",
                "3000",
                "1",
                &q("IV history pending"),
            ],
        ));
        metrics_daily(&db, "SPY", "2026-11-18", 0.19);
        metrics_daily(&db, "SPY", "2026-11-20", 0.25);
        metrics_daily(&db, "SPY", "2026-11-23", 0.30);
        let own = inline(
            APPEND_OWN_IV,
            &[&q(r#"["SPY"]"#), &q("2026-11-13"), &q("2026-11-23"), "5"],
        );
        assert_eq!(db.exec_changes(&own), 2, "completed days only");
        assert_eq!(db.exec_changes(&own), 0, "copied once");

        let cov: Vec<CoverageRow> = db.select_as(&inline(
            SELECT_COVERAGE,
            &[&q(r#"["SPY","QQQ","IWM"]"#), &q("2025-11-23")],
        ));
        assert_eq!(cov.len(), 3);
        assert_eq!(cov[0].symbol, "SPY");
        assert_eq!(cov[0].status.as_deref(), Some("complete"));
        assert_eq!(
            cov[0].backfilled_at,
            Some(1000),
            "an append keeps the backfill time"
        );
        assert_eq!(cov[0].last_attempt_at, Some(2000));
        assert_eq!((cov[0].ib_days, cov[0].own_days), (2, 2));
        assert_eq!(cov[0].first_ib_date.as_deref(), Some("2026-11-19"));
        assert_eq!(cov[0].last_ib_date.as_deref(), Some("2026-11-20"));
        assert_eq!(cov[1].status.as_deref(), Some("pending"));
        assert_eq!(cov[1].next_attempt_at, Some(3000));
        assert_eq!(cov[2].status, None, "never asked");

        let series: Vec<SeriesRow> = db.select_as(&inline(
            SELECT_SERIES,
            &[&q("SPY"), &q("2025-11-23"), &q("2026-11-23")],
        ));
        let got: Vec<(&str, Option<f64>, Option<f64>)> = series
            .iter()
            .map(|r| (r.date.as_str(), r.ib_iv, r.own_iv))
            .collect();
        assert_eq!(
            got,
            vec![
                ("2026-11-18", None, Some(0.19)),
                ("2026-11-19", Some(0.20), None),
                ("2026-11-20", Some(0.23), Some(0.25)),
                ("2026-11-23", None, Some(0.30)),
            ]
        );
        let rank: Vec<crate::chains::IvHistoryRow> = db.select_as(&inline(
            SELECT_RANK_SERIES,
            &[&q(r#"["SPY"]"#), &q("2025-11-23"), &q("2026-11-23")],
        ));
        let got: Vec<(&str, Option<f64>)> = rank
            .iter()
            .map(|r| (r.date.as_str(), r.atm_iv_30d))
            .collect();
        assert_eq!(
            got,
            vec![
                ("2026-11-18", Some(0.19)),
                ("2026-11-19", Some(0.20)),
                ("2026-11-20", Some(0.23))
            ],
            "IB's close when stored, else SAS's own; today left out"
        );
    }

    /// The chain step's upsert (`chains::UPSERT_SYMBOL_QUALITY`) then this
    /// feature's read: `since_ms` stays at the first check of an unbroken
    /// run of one state and moves when the state changes.
    #[test]
    fn the_stored_state_reads_back_with_since_when_it_has_held() {
        let db = Db::migrated();
        let read = |symbol: &str| -> Vec<StoredQualityRow> {
            db.select_as(&inline(SELECT_STORED_QUALITY, &[&q(symbol)]))
        };
        assert!(read("SPY").is_empty(), "never checked: no row");
        let upsert = |state: &str, at: &str, reasons: &str, dropped: &str, kept: &str| {
            db.exec(&inline(
                crate::chains::UPSERT_SYMBOL_QUALITY,
                &[
                    &q("SPY"),
                    &q(state),
                    at,
                    &q(reasons),
                    &q(dropped),
                    "8",
                    kept,
                ],
            ));
        };
        upsert("live", "1000", "[]", "{}", "8");
        upsert("live", "2000", "[]", "{}", "8");
        let rows = read("SPY");
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].state.as_str(), rows[0].since_ms, rows[0].checked_ms),
            ("live", 1000, 2000)
        );
        upsert(
            "delayed",
            "3000",
            r#"[{"kind":"not_live"}]"#,
            r#"{"wide_spread":2}"#,
            "6",
        );
        upsert(
            "delayed",
            "4000",
            r#"[{"kind":"not_live"}]"#,
            r#"{"wide_spread":2}"#,
            "6",
        );
        let row = read("SPY").remove(0);
        assert_eq!(
            (row.state.as_str(), row.since_ms, row.checked_ms),
            ("delayed", 3000, 4000),
            "since: the first delayed check"
        );
        let view = stored_quality(Some(&row), 9000);
        assert_eq!(view.held_secs, Some(6));
        assert_eq!(view.reasons[0]["kind"], "not_live");
        assert_eq!(view.dropped.get("wide_spread"), Some(&2));
        assert_eq!((view.input_contracts, view.kept_contracts), (8, 6));
        upsert("live", "5000", "[]", "{}", "8");
        let row = read("SPY").remove(0);
        assert_eq!(
            (row.state.as_str(), row.since_ms),
            ("live", 5000),
            "back to live: since moves"
        );
        assert!(read("QQQ").is_empty());
    }
}
