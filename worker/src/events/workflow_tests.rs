//! Every events workflow against the in-memory fakes of [`super::memory`]
//! (store and bridge), with the clock passed in; and the SQL of
//! [`super::model`] on real SQLite (the `sqlite3` shell) over every D1
//! migration, so the fake and the SQL agree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures_executor::block_on;
use sas_core::market::Symbol;
use sas_core::strategy::EventCalendar;

use super::memory::{MemoryEvents, ScriptedBridge};
use super::model::{refresh_plan, DividendRow, EventEntry, PutEventsBody};
use super::service::{calendars, change, cron_step, list};
use super::EventsError;
use crate::audit::AuditAction;
use crate::config::events::EventsConfig;

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

fn e(symbol: &str, d: &str) -> EventEntry {
    EventEntry {
        symbol: symbol.into(),
        date: d.into(),
        note: None,
    }
}

fn put(add: Vec<EventEntry>, remove: Vec<EventEntry>) -> PutEventsBody {
    PutEventsBody { add, remove }
}

fn invalid(r: Result<impl std::fmt::Debug, EventsError>) -> String {
    match r {
        Err(EventsError::Invalid(m)) => m,
        other => panic!("expected a 400, got {other:?}"),
    }
}

fn dividend(symbol: &str, ex: Option<&str>, next_attempt_at: i64) -> DividendRow {
    DividendRow {
        symbol: symbol.into(),
        checked_at: 0,
        next_attempt_at,
        fetched_at: Some(0),
        next_ex_date: ex.map(str::to_owned),
        next_amount: ex.map(|_| 0.5),
        past_12m: Some(2.0),
        next_12m: Some(2.0),
        source: Some("sim".into()),
        error: None,
    }
}

#[test]
fn earnings_are_added_and_removed_in_one_audited_batch() {
    let store = MemoryEvents::default();
    let mut note = e("AAPL", "2026-12-10");
    note.note = Some(" Q4 ".into());
    let body = put(
        vec![note, e("msft", "2026-11-23"), e("AAPL", "2026-12-10")],
        vec![],
    );
    let out = block_on(change(&store, &body, "api_token", monday())).unwrap();
    assert!(out.changed);
    assert_eq!(out.added.len(), 2, "the repeat is merged");
    assert_eq!(store.batches.get(), 1);
    let audit = store.audit.borrow();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, AuditAction::EventsChanged);
    assert_eq!(audit[0].actor, "api_token");
    assert_eq!(audit[0].entity, "events");
    assert_eq!(audit[0].details["added"].as_array().unwrap().len(), 2);
    assert_eq!(audit[0].details["added"][0]["note"], "Q4");
    drop(audit);
    // The list shows them, today's included, by date.
    let kinds: Vec<(String, &str, String)> = out
        .events
        .events
        .iter()
        .map(|v| (v.symbol.clone(), v.kind, v.date.clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("MSFT".into(), "earnings", "2026-11-23".into()),
            ("AAPL".into(), "earnings", "2026-12-10".into())
        ]
    );
    assert_eq!(out.events.events[1].added_by.as_deref(), Some("api_token"));
    // Adding the same again and removing an unknown date changes nothing:
    // no batch, no audit row.
    let again = put(vec![e("AAPL", "2026-12-10")], vec![e("AAPL", "2027-01-05")]);
    let out = block_on(change(&store, &again, "api_token", monday())).unwrap();
    assert!(!out.changed);
    assert!(out.added.is_empty() && out.removed.is_empty());
    assert_eq!(store.batches.get(), 1);
    assert_eq!(store.audit.borrow().len(), 1);
    // Removing a stored one is audited with exactly what went.
    let rm = put(
        vec![],
        vec![e("AAPL", "2026-12-10"), e("AAPL", "2027-01-05")],
    );
    let out = block_on(change(&store, &rm, "access:me@example.com", monday())).unwrap();
    assert!(out.changed);
    assert_eq!(out.removed.len(), 1);
    let audit = store.audit.borrow();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[1].details["removed"][0]["date"], "2026-12-10");
    assert_eq!(audit[1].details["added"], serde_json::json!([]));
    assert_eq!(store.earnings.borrow().len(), 1);
}

#[test]
fn a_failed_batch_changes_nothing_and_writes_no_audit_row() {
    let store = MemoryEvents::default();
    store.fail_next_batch.set(true);
    let r = block_on(change(
        &store,
        &put(vec![e("AAPL", "2026-12-10")], vec![]),
        "api_token",
        monday(),
    ));
    assert!(matches!(r, Err(EventsError::Store(_))));
    assert!(store.earnings.borrow().is_empty());
    assert!(store.audit.borrow().is_empty());
}

#[test]
fn malformed_changes_name_the_problem_and_write_nothing() {
    let store = MemoryEvents::default();
    let cases: Vec<(PutEventsBody, &str)> = vec![
        (put(vec![], vec![]), "nothing to change"),
        (put(vec![e("$$", "2026-12-10")], vec![]), "add[0].symbol"),
        (
            put(
                vec![e("AAPL", "2026-12-10"), e("AAPL", "12/10/2026")],
                vec![],
            ),
            "add[1].date must be a date YYYY-MM-DD",
        ),
        (
            put(vec![e("AAPL", "2026-02-30")], vec![]),
            "add[0].date must be a date",
        ),
        (
            put(vec![e("AAPL", "2026-11-20")], vec![]),
            "add[0].date 2026-11-20 is in the past",
        ),
        (
            put(vec![e("AAPL", "2029-01-01")], vec![]),
            "more than 730 days ahead",
        ),
        (
            put(vec![], vec![e("AAPL", "")]),
            "remove[0].date must be a date",
        ),
        (
            put(vec![e("AAPL", "2026-12-10")], vec![e("aapl", "2026-12-10")]),
            "AAPL 2026-12-10 is both added and removed",
        ),
        (
            put(
                (0..101)
                    .map(|i| e("AAPL", &format!("2027-01-{:02}", 1 + i % 28)))
                    .collect(),
                vec![],
            ),
            "at most 100 entries",
        ),
    ];
    for (body, needle) in cases {
        let m = invalid(block_on(change(&store, &body, "api_token", monday())));
        assert!(m.contains(needle), "{needle}: {m}");
    }
    let mut long = e("AAPL", "2026-12-10");
    long.note = Some("x".repeat(201));
    let m = invalid(block_on(change(
        &store,
        &put(vec![long], vec![]),
        "t",
        monday(),
    )));
    assert!(m.contains("add[0].note is longer than 200"), "{m}");
    let mut noted = e("AAPL", "2026-12-10");
    noted.note = Some("why".into());
    let m = invalid(block_on(change(
        &store,
        &put(vec![], vec![noted]),
        "t",
        monday(),
    )));
    assert!(m.contains("remove[0].note is only taken with add"), "{m}");
    // Removing a past date is allowed (clean-up).
    assert!(block_on(change(
        &store,
        &put(vec![], vec![e("AAPL", "2025-01-01")]),
        "t",
        monday()
    ))
    .is_ok());
    assert_eq!(store.batches.get(), 0);
    assert!(store.audit.borrow().is_empty());
}

#[test]
fn the_dividend_refresh_reads_a_few_due_symbols_a_run_and_each_at_most_daily() {
    let store = MemoryEvents::default();
    let bridge = ScriptedBridge::default();
    let watch: Vec<Symbol> = ["SPY", "QQQ", "TSLA", "IWM"]
        .iter()
        .map(|s| sym(s))
        .collect();
    let body = |s: &str, ex: Option<&str>| {
        serde_json::json!({
            "symbol": s, "past_12m": 2.0, "next_12m": 2.0,
            "next_ex_date": ex, "next_amount": ex.map(|_| 0.5), "source": "sim"
        })
    };
    bridge.answer("SPY", 200, body("SPY", Some("2026-12-18")));
    bridge.answer("QQQ", 200, body("QQQ", Some("2026-12-01")));
    bridge.answer("TSLA", 200, body("TSLA", None));
    bridge.answer("IWM", 200, body("IWM", Some("2026-12-15")));
    let cfg = EventsConfig {
        dividends_per_run: 3,
    };
    let r = block_on(cron_step(&store, &bridge, &watch, &cfg, 1000, monday())).unwrap();
    assert_eq!(r.fetches.len(), 3);
    assert!(r.fetches.iter().all(|f| f.error.is_none()), "{r:?}");
    assert_eq!(bridge.calls.borrow().len(), 3);
    // Next run: only the fourth is due.
    let later = monday() + Duration::minutes(15);
    let r = block_on(cron_step(&store, &bridge, &watch, &cfg, 1000, later)).unwrap();
    assert_eq!(r.fetches.len(), 1);
    assert_eq!(r.fetches[0].symbol, "IWM");
    // Within the day nothing more is read.
    let r = block_on(cron_step(
        &store,
        &bridge,
        &watch,
        &cfg,
        1000,
        monday() + Duration::hours(23),
    ))
    .unwrap();
    assert!(r.fetches.is_empty());
    assert_eq!(bridge.calls.borrow().len(), 4);
    // A day later the first three are due again.
    let r = block_on(cron_step(
        &store,
        &bridge,
        &watch,
        &cfg,
        1000,
        monday() + Duration::hours(24),
    ))
    .unwrap();
    assert_eq!(r.fetches.len(), 3);
    let rows = store.dividends.borrow();
    assert_eq!(rows["SPY"].next_ex_date.as_deref(), Some("2026-12-18"));
    assert_eq!(rows["SPY"].next_amount, Some(0.5));
    assert_eq!(rows["TSLA"].next_ex_date, None);
    assert_eq!(rows["TSLA"].source.as_deref(), Some("sim"));
    drop(rows);
    // Off: no read at all.
    let off = EventsConfig {
        dividends_per_run: 0,
    };
    let r = block_on(cron_step(
        &store,
        &bridge,
        &watch,
        &off,
        1000,
        monday() + Duration::days(9),
    ))
    .unwrap();
    assert!(r.fetches.is_empty());
    assert_eq!(bridge.calls.borrow().len(), 7);
}

#[test]
fn failures_keep_the_last_good_values_retry_in_an_hour_and_429_defers_the_rest() {
    let store = MemoryEvents::default();
    store
        .dividends
        .borrow_mut()
        .insert("SPY".into(), dividend("SPY", Some("2026-12-18"), 0));
    let bridge = ScriptedBridge::default();
    bridge.answer("SPY", 500, serde_json::json!({"error": "internal"}));
    bridge.answer("QQQ", 429, serde_json::json!({"error": "pacing"}));
    bridge.answer("IWM", 200, serde_json::json!({"symbol": "SPY"}));
    let watch: Vec<Symbol> = ["SPY", "QQQ", "IWM", "DIA"]
        .iter()
        .map(|s| sym(s))
        .collect();
    let cfg = EventsConfig {
        dividends_per_run: 4,
    };
    let r = block_on(cron_step(&store, &bridge, &watch, &cfg, 1000, monday())).unwrap();
    // Never-read symbols first (QQQ, IWM, DIA), the overdue SPY last; the
    // 429 of QQQ defers the rest.
    assert_eq!(r.fetches.len(), 1, "{r:?}");
    assert_eq!(r.fetches[0].symbol, "QQQ");
    assert!(r.fetches[0].error.as_deref().unwrap().contains("429"));
    assert_eq!(r.deferred, vec!["IWM", "DIA", "SPY"]);
    let qqq = store.dividends.borrow()["QQQ"].clone();
    assert_eq!(qqq.next_attempt_at, monday().timestamp_millis() + 3_600_000);
    // An hour later: a wrong body and a 500 are recorded, the good SPY
    // values stay.
    bridge.answer(
        "QQQ",
        200,
        serde_json::json!({
            "symbol": "QQQ", "past_12m": 1.0, "next_12m": 1.0,
            "next_ex_date": "2026-12-20", "next_amount": 0.25, "source": "ib"
        }),
    );
    let r = block_on(cron_step(
        &store,
        &bridge,
        &watch,
        &cfg,
        1000,
        monday() + Duration::hours(1),
    ))
    .unwrap();
    assert_eq!(r.fetches.len(), 4, "{r:?}");
    let rows = store.dividends.borrow();
    assert!(
        rows["IWM"]
            .error
            .as_deref()
            .unwrap()
            .contains("not the expected body")
            || rows["IWM"]
                .error
                .as_deref()
                .unwrap()
                .contains("another symbol")
    );
    assert!(rows["DIA"].error.as_deref().unwrap().contains("404"));
    assert!(rows["SPY"].error.as_deref().unwrap().contains("500"));
    assert_eq!(rows["SPY"].next_ex_date.as_deref(), Some("2026-12-18"));
    assert_eq!(rows["QQQ"].next_ex_date.as_deref(), Some("2026-12-20"));
    assert_eq!(rows["QQQ"].source.as_deref(), Some("ib"));
    assert_eq!(rows["QQQ"].error, None);
    drop(rows);
    // The bridge down: every due symbol fails alone, the step goes on.
    bridge.down.set(true);
    let r = block_on(cron_step(
        &store,
        &bridge,
        &watch,
        &cfg,
        1000,
        monday() + Duration::hours(3),
    ))
    .unwrap();
    assert_eq!(r.fetches.len(), 3);
    assert!(r.fetches.iter().all(|f| f.error.is_some()));
    // A store that cannot be read ends the step.
    store.fail_reads.set(true);
    assert!(matches!(
        block_on(cron_step(&store, &bridge, &watch, &cfg, 1000, monday())),
        Err(EventsError::Store(_))
    ));
}

#[test]
fn calendars_join_earnings_and_the_next_ex_dividend_from_today_on() {
    let store = MemoryEvents::default();
    block_on(change(
        &store,
        &put(
            vec![
                e("AAPL", "2026-12-10"),
                e("AAPL", "2026-11-30"),
                e("MSFT", "2027-01-20"),
            ],
            vec![],
        ),
        "api_token",
        monday(),
    ))
    .unwrap();
    {
        let mut d = store.dividends.borrow_mut();
        d.insert("AAPL".into(), dividend("AAPL", Some("2026-12-05"), 0));
        d.insert("SPY".into(), dividend("SPY", Some("2026-11-20"), 0)); // passed
        d.insert("TSLA".into(), dividend("TSLA", None, 0));
        d.insert("IWM".into(), dividend("IWM", Some("2026-12-15"), 0));
    }
    let symbols: Vec<Symbol> = ["AAPL", "SPY", "TSLA", "IWM"]
        .iter()
        .map(|s| sym(s))
        .collect();
    let cals = block_on(calendars(&store, &symbols, date("2026-11-23"))).unwrap();
    assert_eq!(
        cals,
        vec![
            (
                sym("AAPL"),
                EventCalendar::new(
                    vec![date("2026-11-30"), date("2026-12-10")],
                    vec![date("2026-12-05")]
                )
            ),
            (
                sym("IWM"),
                EventCalendar::new(vec![], vec![date("2026-12-15")])
            ),
        ]
    );
    // MSFT is not asked for; later dates drop the past ones.
    let cals = block_on(calendars(&store, &symbols, date("2026-12-06"))).unwrap();
    assert_eq!(
        cals[0].1,
        EventCalendar::new(vec![date("2026-12-10")], vec![])
    );
    // The list: upcoming events of both kinds by date, filtered by symbol.
    let v = block_on(list(&store, None, monday())).unwrap();
    let dates: Vec<(&str, &str)> = v.events.iter().map(|x| (x.date.as_str(), x.kind)).collect();
    assert_eq!(
        dates,
        vec![
            ("2026-11-30", "earnings"),
            ("2026-12-05", "ex_dividend"),
            ("2026-12-10", "earnings"),
            ("2026-12-15", "ex_dividend"),
            ("2027-01-20", "earnings"),
        ]
    );
    assert_eq!(v.events[1].amount, Some(0.5));
    assert_eq!(v.dividends.len(), 4);
    let v = block_on(list(&store, Some(&sym("IWM")), monday())).unwrap();
    assert_eq!(v.events.len(), 1);
    assert_eq!(v.dividends.len(), 1);
    store.fail_reads.set(true);
    assert!(matches!(
        block_on(calendars(&store, &symbols, date("2026-11-23"))),
        Err(EventsError::Store(_))
    ));
}

#[test]
fn the_refresh_plan_orders_never_read_then_most_overdue() {
    let now = monday();
    let ms = now.timestamp_millis();
    let rows = vec![
        dividend("SPY", None, ms - 10),
        dividend("QQQ", None, ms - 1000),
        dividend("IWM", None, ms + 1),
    ];
    let watch: Vec<Symbol> = ["SPY", "QQQ", "IWM", "DIA"]
        .iter()
        .map(|s| sym(s))
        .collect();
    let plan = refresh_plan(&watch, &rows, now, 10);
    assert_eq!(plan, vec![sym("DIA"), sym("QQQ"), sym("SPY")]);
    assert_eq!(refresh_plan(&watch, &rows, now, 1), vec![sym("DIA")]);
    assert!(refresh_plan(&watch, &rows, now, 0).is_empty());
}

mod sql {
    use super::super::model::*;
    use crate::audit::INSERT_AUDIT;
    use crate::test_sqlite::{quote as q, Sqlite as Db};

    fn inline(sql: &str, params: &[&str]) -> String {
        let literals: Vec<String> = params.iter().map(|p| p.to_string()).collect();
        crate::test_sqlite::inline(sql, &literals)
    }

    #[test]
    fn the_sql_stores_and_reads_as_the_fake_does() {
        let db = Db::migrated();
        let add = |s: &str, d: &str| {
            inline(
                INSERT_EARNINGS,
                &[&q(s), &q(d), &q("note"), "1000", &q("api_token")],
            )
        };
        assert_eq!(db.exec_changes(&add("AAPL", "2026-12-10")), 1);
        assert_eq!(
            db.exec_changes(&add("AAPL", "2026-12-10")),
            0,
            "a repeat keeps its row"
        );
        assert_eq!(db.exec_changes(&add("MSFT", "2026-11-01")), 1);
        let rows: Vec<EarningsRow> = db.select_as(&inline(SELECT_EARNINGS, &[&q("2026-11-23")]));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].symbol, "AAPL");
        assert_eq!(rows[0].added_by, "api_token");
        assert_eq!(
            db.exec_changes(&inline(DELETE_EARNINGS, &[&q("AAPL"), &q("2026-12-10")])),
            1
        );
        // A malformed date never gets in.
        assert!(db.run(&add("AAPL", "12/10/2026")).is_err());
        // The audit row binds the same eight parameters as everywhere.
        db.exec(&inline(
            INSERT_AUDIT,
            &[
                "1",
                &q("api_token"),
                &q("events_changed"),
                &q("events"),
                &q("earnings"),
                "NULL",
                "NULL",
                &q("{}"),
            ],
        ));
        assert_eq!(
            db.scalar("SELECT count(*) FROM audit_log WHERE action = 'events_changed'"),
            1
        );

        let ok = |s: &str, now: &str, ex: &str| {
            inline(
                UPSERT_DIVIDEND_SUCCESS,
                &[&q(s), now, "99", ex, "0.5", "2.0", "2.0", &q("sim")],
            )
        };
        db.exec(&ok("SPY", "10", &q("2026-12-18")));
        db.exec(&inline(
            UPSERT_DIVIDEND_FAILURE,
            &[&q("SPY"), "20", "30", &q("HTTP 500")],
        ));
        db.exec(&ok("TSLA", "10", "NULL"));
        db.exec(&inline(
            UPSERT_DIVIDEND_FAILURE,
            &[&q("QQQ"), "20", "30", &q("HTTP 429")],
        ));
        let rows: Vec<DividendRow> = db.select_as(SELECT_DIVIDENDS);
        assert_eq!(rows.len(), 3);
        let spy = rows.iter().find(|r| r.symbol == "SPY").unwrap();
        assert_eq!(
            spy.next_ex_date.as_deref(),
            Some("2026-12-18"),
            "the last good values stay"
        );
        assert_eq!(
            (spy.checked_at, spy.next_attempt_at, spy.fetched_at),
            (20, 30, Some(10))
        );
        assert_eq!(spy.error.as_deref(), Some("HTTP 500"));
        let qqq = rows.iter().find(|r| r.symbol == "QQQ").unwrap();
        assert_eq!((qqq.fetched_at, qqq.next_ex_date.as_deref()), (None, None));
        db.exec(&ok("SPY", "40", &q("2027-03-18")));
        let rows: Vec<DividendRow> = db.select_as(SELECT_DIVIDENDS);
        let spy = rows.iter().find(|r| r.symbol == "SPY").unwrap();
        assert_eq!(
            (spy.error.as_deref(), spy.next_ex_date.as_deref()),
            (None, Some("2027-03-18"))
        );
    }
}
