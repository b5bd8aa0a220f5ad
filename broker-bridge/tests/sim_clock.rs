//! The simulated clock: `--sim-start` and `POST /sim/clock`, in-process
//! through the router (`oneshot`) with a `ManualClock` as the wall clock.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::Path;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::Router;
use broker_bridge::clock::{Clock as _, ManualClock};
use broker_bridge::sim::SimBroker;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::{json, Value};

mod api_support;

use api_support::{
    app, assert_error, call, first_call, get_ok, post, request, send, session_start, sim_config,
    temp_dir, TOKEN,
};

/// The wall clock: Wednesday 2026-12-02 06:00 UTC, far from the simulated times.
fn wall() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 12, 2, 6, 0, 0).unwrap(),
    ))
}

/// `--sim-start`: Friday 2026-11-20 15:00 UTC, inside the simulated session.
fn sim_start() -> DateTime<Utc> {
    session_start()
}

fn started(clock: &Arc<ManualClock>) -> Router {
    app(SimBroker::new(sim_config(42, Some(sim_start())), clock.clone()).unwrap())
}

async fn set_clock(app: &Router, at: DateTime<Utc>) -> (StatusCode, Value) {
    post(app, "/sim/clock", &json!({ "at": at }).to_string()).await
}

fn ts(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

fn order(key: &str, symbol: &str, action: &str, qty: u32, limit: f64) -> String {
    json!({
        "idempotency_key": key,
        "legs": [{"instrument": {"type": "stock", "symbol": symbol}, "action": action}],
        "quantity": qty,
        "limit_price": limit,
        "tif": "gtc",
    })
    .to_string()
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[tokio::test]
async fn sim_start_sets_the_simulated_clock_which_runs_on_with_the_wall_clock() {
    let clock = wall();
    let app = started(&clock);
    let q = get_ok(&app, "/quote?symbol=SPY").await;
    assert_eq!(ts(&q["timestamp"]), sim_start(), "{q}");
    clock.advance(TimeDelta::seconds(90));
    let q = get_ok(&app, "/quote?symbol=SPY").await;
    assert_eq!(
        ts(&q["timestamp"]),
        sim_start() + TimeDelta::seconds(90),
        "{q}"
    );
    let acct = get_ok(&app, "/account").await;
    assert_eq!(ts(&acct["as_of"]), sim_start() + TimeDelta::seconds(90));
    // The market is the one a bridge started at that time would show.
    let reference = app_at_wall(sim_start() + TimeDelta::seconds(90));
    assert_eq!(q, get_ok(&reference, "/quote?symbol=SPY").await);
    // /health says the clock is not the wall clock.
    let (s, h, _) = send(&app, Method::GET, "/health", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        ts(&h["simulated_time"]),
        sim_start() + TimeDelta::seconds(90),
        "{h}"
    );
}

/// A bridge whose wall clock reads `t` (no offset), started 90 s before.
fn app_at_wall(t: DateTime<Utc>) -> Router {
    let clock = Arc::new(ManualClock::new(t - TimeDelta::seconds(90)));
    let broker = SimBroker::new(sim_config(42, None), clock.clone()).unwrap();
    clock.advance(TimeDelta::seconds(90));
    app(broker)
}

#[tokio::test]
async fn a_long_jump_rebuilds_the_market_at_the_new_time_with_the_controls_on_top() {
    let clock = wall();
    let bridge = started(&clock);
    // A test control that must survive the rebuild.
    let (s, c) = post(
        &bridge,
        "/sim/control",
        r#"{"symbol":"QQQ","spread_multiplier":3.0}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    // Monday 2026-11-23 15:30 UTC: a weekend later.
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 15, 30, 0).unwrap();
    let (s, body) = set_clock(&bridge, at).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"simulated_time": "2026-11-23T15:30:00Z", "rebuilt": true})
    );
    let q = get_ok(&bridge, "/quote?symbol=SPY").await;
    assert_eq!(ts(&q["timestamp"]), at, "{q}");
    let chain = get_ok(&bridge, "/chain?symbol=SPY&min_dte=0&max_dte=10&strikes=4").await;
    assert_eq!(ts(&chain["as_of"]), at, "{chain}");
    assert!(
        chain["expiries"][0]["expiry"].as_str().unwrap() >= "2026-11-23",
        "{chain}"
    );
    // The market stands where a bridge started at `at` has it ...
    let fresh = app(SimBroker::new(sim_config(42, Some(at)), wall()).unwrap());
    assert_eq!(q, get_ok(&fresh, "/quote?symbol=SPY").await);
    // ... with the spread control restored on top.
    let (_, c) = post(
        &fresh,
        "/sim/control",
        r#"{"symbol":"QQQ","spread_multiplier":3.0}"#,
    )
    .await;
    assert_eq!(get_ok(&bridge, "/quote?symbol=QQQ").await, c["quote"]);
    // It runs on with the wall clock from there.
    clock.advance(TimeDelta::seconds(30));
    let q = get_ok(&bridge, "/quote?symbol=SPY").await;
    assert_eq!(ts(&q["timestamp"]), at + TimeDelta::seconds(30));
}

#[tokio::test]
async fn the_clock_never_moves_back_and_the_current_second_is_a_no_op() {
    let clock = wall();
    let app = started(&clock);
    clock.advance(TimeDelta::milliseconds(10_500));
    let now = sim_start() + TimeDelta::milliseconds(10_500);
    let (s, b) = set_clock(&app, sim_start()).await;
    assert_error(s, &b, StatusCode::CONFLICT, "sim_clock_refused");
    assert_eq!(
        b["message"],
        "the simulated clock only moves forward: 2026-11-20T15:00:00Z is before the current \
         simulated time 2026-11-20T15:00:10Z"
    );
    // The current simulated second (as quotes show it) changes nothing.
    let shown = sim_start() + TimeDelta::seconds(10);
    for at in [shown, now] {
        let (s, b) = set_clock(&app, at).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(ts(&b["simulated_time"]), now, "{b}");
        assert_eq!(b["rebuilt"], false);
    }
    let q = get_ok(&app, "/quote?symbol=SPY").await;
    assert_eq!(ts(&q["timestamp"]), shown);
    // After a jump forward, the time before it is refused too.
    let at = now + TimeDelta::hours(5);
    assert_eq!(set_clock(&app, at).await.0, StatusCode::OK);
    let (s, b) = set_clock(&app, at - TimeDelta::seconds(1)).await;
    assert_error(s, &b, StatusCode::CONFLICT, "sim_clock_refused");
    let q = get_ok(&app, "/quote?symbol=SPY").await;
    assert_eq!(ts(&q["timestamp"]), at);
}

#[tokio::test]
async fn a_short_jump_steps_the_market_like_the_wall_clock_and_fills_a_working_order() {
    // Two bridges at the same simulated time: one jumps, the other's wall
    // clock runs the same 50 minutes. A resting limit at the best price the
    // path offers in that time (a buy at the lowest ask when it dips, else
    // a sell at the highest bid) must fill in both, at the same step and
    // price.
    let jumping_clock = wall();
    let jumping = started(&jumping_clock);
    let ticking_clock = Arc::new(ManualClock::new(sim_start()));
    let ticking = app(SimBroker::new(sim_config(42, None), ticking_clock.clone()).unwrap());
    // The path, read minute by minute from a third bridge.
    let probe_clock = Arc::new(ManualClock::new(sim_start()));
    let probe = app(SimBroker::new(sim_config(42, None), probe_clock.clone()).unwrap());
    let side = |q: &Value, f: &str| q[f].as_f64().unwrap();
    let first = get_ok(&probe, "/quote?symbol=TSLA").await;
    let (mut low_ask, mut high_bid) = (f64::MAX, f64::MIN);
    for _ in 0..50 {
        probe_clock.advance(TimeDelta::minutes(1));
        let q = get_ok(&probe, "/quote?symbol=TSLA").await;
        low_ask = low_ask.min(side(&q, "ask"));
        high_bid = high_bid.max(side(&q, "bid"));
    }
    let (action, limit) = if cents(low_ask) < side(&first, "ask") {
        ("buy", cents(low_ask))
    } else {
        ("sell", cents(high_bid))
    };
    assert!(
        limit < side(&first, "ask") || limit > side(&first, "bid"),
        "{first} {low_ask} {high_bid}"
    );
    let body = order("tsla-limit", "TSLA", action, 3, limit);
    for app in [&jumping, &ticking] {
        let (s, placed) = post(app, "/orders", &body).await;
        assert_eq!(s, StatusCode::CREATED, "{placed}");
        assert_eq!(placed["order"]["status"], "submitted", "{placed}");
    }
    let at = sim_start() + TimeDelta::minutes(50);
    let (s, b) = set_clock(&jumping, at).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["rebuilt"], false, "{b}");
    ticking_clock.advance(TimeDelta::minutes(50));
    let jumped = get_ok(&jumping, "/executions").await;
    let ticked = get_ok(&ticking, "/executions").await;
    assert_eq!(
        jumped["executions"].as_array().unwrap().len(),
        1,
        "{jumped}"
    );
    assert_eq!(jumped, ticked);
    let fill_time = ts(&jumped["executions"][0]["time"]);
    assert!(fill_time > sim_start() && fill_time <= at, "{jumped}");
    let price = jumped["executions"][0]["price"].as_f64().unwrap();
    assert!(
        if action == "buy" {
            price <= limit
        } else {
            price >= limit
        },
        "{action} at {price}, limit {limit}"
    );
    assert_eq!(
        get_ok(&jumping, "/orders/by-key/tsla-limit").await["status"],
        "filled"
    );
    assert_eq!(
        get_ok(&jumping, "/quote?symbol=TSLA").await,
        get_ok(&ticking, "/quote?symbol=TSLA").await
    );
}

#[tokio::test]
async fn a_short_jump_expires_day_orders_at_the_close() {
    let clock = wall();
    let app = started(&clock);
    let bid = get_ok(&app, "/quote?symbol=AAPL").await["bid"]
        .as_f64()
        .unwrap();
    let far = json!({
        "idempotency_key": "aapl-day",
        "legs": [{"instrument": {"type": "stock", "symbol": "AAPL"}, "action": "buy"}],
        "quantity": 1, "limit_price": cents(bid * 0.5), "tif": "day",
    })
    .to_string();
    assert_eq!(post(&app, "/orders", &far).await.0, StatusCode::CREATED);
    // 20:30 UTC, then 21:30 UTC: the second jump crosses the 21:00 close.
    let at = Utc.with_ymd_and_hms(2026, 11, 20, 20, 30, 0).unwrap();
    let (s, b) = set_clock(&app, at).await;
    // 5.5 hours with a working order: a rebuild is refused.
    assert_error(s, &b, StatusCode::CONFLICT, "sim_clock_refused");
    // In hour steps it goes through.
    let mut t = sim_start();
    while t < at + TimeDelta::hours(1) {
        t += TimeDelta::hours(1);
        let (s, b) = set_clock(&app, t).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["rebuilt"], false);
    }
    let o = get_ok(&app, "/orders/by-key/aapl-day").await;
    assert_eq!(o["status"], "expired", "{o}");
    assert_eq!(
        ts(&o["updated_at"]),
        Utc.with_ymd_and_hms(2026, 11, 20, 21, 0, 0).unwrap()
    );
}

#[tokio::test]
async fn a_long_jump_is_refused_while_orders_work_or_options_are_held() {
    let clock = wall();
    let app = started(&clock);
    let at = sim_start() + TimeDelta::days(3);
    // A working order.
    let bid = get_ok(&app, "/quote?symbol=AAPL").await["bid"]
        .as_f64()
        .unwrap();
    let (s, placed) = post(
        &app,
        "/orders",
        &order("aapl-low", "AAPL", "buy", 1, cents(bid * 0.5)),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{placed}");
    let id = placed["order"]["id"].as_str().unwrap().to_string();
    let before = get_ok(&app, "/quote?symbol=SPY").await;
    let (s, b) = set_clock(&app, at).await;
    assert_error(s, &b, StatusCode::CONFLICT, "sim_clock_refused");
    let msg = b["message"].as_str().unwrap();
    assert!(
        msg.contains("a clock jump needs flat option books"),
        "{msg}"
    );
    assert!(msg.contains(&format!("working orders {id}")), "{msg}");
    // Nothing changed.
    assert_eq!(get_ok(&app, "/quote?symbol=SPY").await, before);
    assert_eq!(
        get_ok(&app, &format!("/orders/{id}")).await["status"],
        "submitted"
    );
    let (s, _) = post(&app, &format!("/orders/{id}/cancel"), "").await;
    assert_eq!(s, StatusCode::OK);

    // An option position.
    let chain = get_ok(&app, "/chain?symbol=SPY&min_dte=20&max_dte=40&strikes=4").await;
    let expiry = chain["expiries"][0]["expiry"].as_str().unwrap().to_string();
    let call = first_call(&chain["expiries"][0]["contracts"]);
    let buy = |action: &str, key: &str, limit: f64| {
        json!({
            "idempotency_key": key,
            "legs": [{"instrument": {"type": "option", "symbol": "SPY", "expiry": expiry, "strike": call["strike"], "right": "C"}, "action": action}],
            "quantity": 1, "limit_price": limit,
        })
        .to_string()
    };
    let (s, placed) = post(
        &app,
        "/orders",
        &buy("buy", "spy-call", call["ask"].as_f64().unwrap()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{placed}");
    assert_eq!(placed["order"]["status"], "filled", "{placed}");
    let (s, b) = set_clock(&app, at).await;
    assert_error(s, &b, StatusCode::CONFLICT, "sim_clock_refused");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("option positions SPY"),
        "{b}"
    );
    // A short jump is fine (the market steps there).
    let (s, b) = set_clock(&app, sim_start() + TimeDelta::minutes(30)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Closed, with a stock holding kept: the jump goes through.
    let now = get_ok(&app, "/chain?symbol=SPY&min_dte=20&max_dte=40&strikes=40").await;
    let bid = now["expiries"][0]["contracts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["strike"] == call["strike"] && c["right"] == "C")
        .unwrap()["bid"]
        .as_f64()
        .unwrap();
    let (s, sold) = post(&app, "/orders", &buy("sell", "spy-call-close", bid)).await;
    assert_eq!(sold["order"]["status"], "filled", "{s} {sold}");
    let ask = get_ok(&app, "/quote?symbol=AAPL").await["ask"]
        .as_f64()
        .unwrap();
    let (_, stock) = post(&app, "/orders", &order("aapl-hold", "AAPL", "buy", 5, ask)).await;
    assert_eq!(stock["order"]["status"], "filled", "{stock}");
    let (s, b) = set_clock(&app, at).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["rebuilt"], true);
    let pos = get_ok(&app, "/positions").await;
    assert_eq!(pos["positions"].as_array().unwrap().len(), 1, "{pos}");
    assert_eq!(pos["positions"][0]["instrument"]["symbol"], "AAPL");
    assert_eq!(pos["positions"][0]["quantity"], 5.0);
}

#[tokio::test]
async fn the_offset_survives_a_restart_with_the_state_file() {
    let dir = temp_dir("sim-clock", "restart");
    let file = dir.join("sim.json");
    let clock = wall();
    let open = |start: Option<DateTime<Utc>>, clock: &Arc<ManualClock>, file: &Path| {
        app(SimBroker::open(sim_config(42, start), clock.clone(), file.to_path_buf()).unwrap())
    };
    let first = open(Some(sim_start()), &clock, &file);
    let at = sim_start() + TimeDelta::days(1);
    assert_eq!(set_clock(&first, at).await.0, StatusCode::OK);
    let saved: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(ts(&saved["market_start"]), at, "{saved}");
    drop(first);
    // Down for 2 minutes of wall time; restarted with another --sim-start,
    // which the existing file overrides.
    clock.advance(TimeDelta::minutes(2));
    let second = open(Some(sim_start()), &clock, &file);
    let q = get_ok(&second, "/quote?symbol=SPY").await;
    assert_eq!(ts(&q["timestamp"]), at + TimeDelta::minutes(2), "{q}");
    // Without --sim-start as well.
    drop(second);
    let third = open(None, &clock, &file);
    assert_eq!(
        ts(&get_ok(&third, "/quote?symbol=SPY").await["timestamp"]),
        at + TimeDelta::minutes(2)
    );
    drop(third);

    // A file from before the clock (no clock_offset_ms) runs on wall time.
    let old = dir.join("old.json");
    let mut body: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    body.as_object_mut()
        .unwrap()
        .remove("clock_offset_ms")
        .unwrap();
    body["market_start"] = json!(clock.now() - TimeDelta::seconds(5));
    body["market_step"] = json!(0);
    std::fs::write(&old, body.to_string()).unwrap();
    let legacy = open(None, &clock, &old);
    assert_eq!(
        ts(&get_ok(&legacy, "/quote?symbol=SPY").await["timestamp"]),
        clock.now()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn malformed_clock_requests_get_json_4xx() {
    let app = started(&wall());
    let cases: [(&str, StatusCode, &str); 8] = [
        ("", StatusCode::BAD_REQUEST, "invalid_body"),
        ("{}", StatusCode::BAD_REQUEST, "invalid_body"),
        (
            r#"{"at":"tomorrow"}"#,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            r#"{"at":1764000000}"#,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            r#"{"at":"2026-11-21"}"#,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            r#"{"at":"2026-11-23T15:30:00Z","rebuild":true}"#,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (r#"[1,2"#, StatusCode::BAD_REQUEST, "invalid_body"),
        (
            r#"{"at":"2150-01-01T00:00:00Z"}"#,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (body, want, code) in cases {
        let (s, b) = post(&app, "/sim/clock", body).await;
        assert_error(s, &b, want, code);
    }
    let (s, b, _) = call(
        &app,
        request(
            Method::POST,
            "/sim/clock",
            Some(TOKEN),
            None,
            Some(r#"{"at":"2026-11-23T15:30:00Z"}"#),
        ),
    )
    .await;
    assert_error(
        s,
        &b,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let (s, b, _) = send(
        &app,
        Method::POST,
        "/sim/clock",
        None,
        Some(r#"{"at":"2026-11-23T15:30:00Z"}"#),
    )
    .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, b, _) = send(&app, Method::GET, "/sim/clock", Some(TOKEN), None).await;
    assert_error(s, &b, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    // None of it moved the clock; an offset-carrying RFC 3339 time works.
    let q = get_ok(&app, "/quote?symbol=SPY").await;
    assert_eq!(ts(&q["timestamp"]), sim_start());
    let (s, b) = post(&app, "/sim/clock", r#"{"at":"2026-11-20T10:30:00-05:00"}"#).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["simulated_time"], "2026-11-20T15:30:00Z");
}
