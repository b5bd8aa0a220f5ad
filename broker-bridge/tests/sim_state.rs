//! `--sim-state`: the simulated broker's books survive a restart. Every test
//! runs a bridge built from the state file next to a reference bridge that
//! never restarts (same seed, same clock, same requests): after the restart
//! both must answer every route identically.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::Path;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::Router;
use broker_bridge::clock::ManualClock;
use broker_bridge::sim::SimBroker;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};

mod api_support;

use api_support::{
    app, get_ok, post, session_clock, session_start, sim_app, sim_config, temp_dir, TOKEN,
};

/// A bridge with its books in `file`.
fn persisted(file: &Path, clock: &Arc<ManualClock>) -> Router {
    app(SimBroker::open(sim_config(42, None), clock.clone(), file.to_path_buf()).unwrap())
}

/// The reference bridge: books in memory only, never restarted.
fn reference(clock: &Arc<ManualClock>) -> Router {
    sim_app(clock)
}

/// Sends the same POST to both bridges; they must answer the same.
async fn post_both(a: &Router, b: &Router, uri: &str, body: &str) -> (StatusCode, Value) {
    let first = post(a, uri, body).await;
    let second = post(b, uri, body).await;
    assert_eq!(first, second, "{uri} {body}");
    first
}

/// Everything a restart must keep, as the routes answer it.
async fn books(app: &Router) -> Value {
    json!({
        "open_orders": get_ok(app, "/orders").await,
        "order_1": get_ok(app, "/orders/1").await,
        "order_2": get_ok(app, "/orders/by-key/exit-spy").await,
        "executions": get_ok(app, "/executions").await,
        "positions": get_ok(app, "/positions").await,
        "account": get_ok(app, "/account").await,
        "spy": get_ok(app, "/quote?symbol=SPY").await,
        "aapl": get_ok(app, "/quote?symbol=AAPL").await,
        "spy_chain": get_ok(app, "/chain?symbol=SPY&min_dte=20&max_dte=40&strikes=2").await,
    })
}

fn stock_order(key: &str, symbol: &str, action: &str, qty: u32, limit: f64, tif: &str) -> String {
    json!({
        "idempotency_key": key,
        "legs": [{"instrument": {"type": "stock", "symbol": symbol}, "action": action}],
        "quantity": qty,
        "limit_price": limit,
        "tif": tif,
    })
    .to_string()
}

fn round_cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[tokio::test]
async fn a_restart_with_the_state_file_keeps_orders_fills_positions_account_and_controls() {
    let dir = temp_dir("sim-state", "restart");
    let file = dir.join("sim.json");
    let clock = session_clock();
    let reference = reference(&clock);
    let first = persisted(&file, &clock);
    assert!(file.exists(), "the file is written at start");

    // One order that fills at once.
    let ask = get_ok(&first, "/quote?symbol=AAPL").await["ask"]
        .as_f64()
        .unwrap();
    let aapl = stock_order("buy-aapl", "AAPL", "buy", 10, round_cents(ask + 1.0), "gtc");
    let (s, placed) = post_both(&first, &reference, "/orders", &aapl).await;
    assert_eq!(s, StatusCode::CREATED, "{placed}");
    assert_eq!(placed["order"]["id"], "1");
    assert_eq!(placed["order"]["status"], "filled", "{placed}");

    // One that rests: marketable, but nothing fills in mode `none`.
    clock.advance(TimeDelta::seconds(10));
    post_both(&first, &reference, "/sim/control", r#"{"fill":"none"}"#).await;
    let spy_ask = get_ok(&first, "/quote?symbol=SPY").await["ask"]
        .as_f64()
        .unwrap();
    let spy_limit = round_cents(spy_ask * 1.01);
    let exit = stock_order("exit-spy", "SPY", "buy", 5, spy_limit, "gtc");
    let (s, placed) = post_both(&first, &reference, "/orders", &exit).await;
    assert_eq!(s, StatusCode::CREATED, "{placed}");
    assert_eq!(placed["order"]["id"], "2");
    assert_eq!(placed["order"]["status"], "submitted", "{placed}");

    // Test controls: a move and wider spreads.
    clock.advance(TimeDelta::seconds(10));
    let (s, moved) = post_both(
        &first,
        &reference,
        "/sim/control",
        r#"{"symbol":"SPY","move_pct":-3.0,"spread_multiplier":3.0}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{moved}");
    assert_eq!(moved["fill"], "none");
    let moved_bid = moved["quote"]["bid"].as_f64().unwrap();
    assert!(moved_bid < spy_ask * 0.98, "{moved}");

    clock.advance(TimeDelta::seconds(10));
    let before = books(&first).await;
    assert_eq!(before, books(&reference).await);
    drop(first);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("sim.json")]);

    // Same file, seed and clock: the same books, the same market.
    let second = persisted(&file, &clock);
    let after = books(&second).await;
    assert_eq!(after, before);
    let open = after["open_orders"]["orders"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{after}");
    assert_eq!(open[0]["id"], "2");
    assert_eq!(open[0]["idempotency_key"], "exit-spy");
    assert_eq!(open[0]["status"], "submitted");
    let execs = after["executions"]["executions"].as_array().unwrap();
    assert_eq!(execs.len(), 1, "{after}");
    assert_eq!(execs[0]["exec_id"], "sim-exec-1");
    assert_eq!(execs[0]["order_id"], "1");
    assert_eq!(execs[0]["commission"], 1.0);
    assert_eq!(execs[0]["idempotency_key"], "buy-aapl");
    assert_eq!(after["positions"]["positions"][0]["quantity"], 10.0);
    assert!(after["spy"]["bid"].as_f64().unwrap() < spy_ask * 0.98);

    // A key already used answers the existing order; nothing new is placed.
    for (body, id) in [(&exit, "2"), (&aapl, "1")] {
        let (s, dup) = post(&second, "/orders", body).await;
        assert_eq!(s, StatusCode::OK, "{dup}");
        assert_eq!(dup["duplicate"], true);
        assert_eq!(dup["order"]["id"], id);
    }
    assert_eq!(get_ok(&second, "/orders").await, before["open_orders"]);
    let (s, conflict) = post(
        &second,
        "/orders",
        &stock_order("exit-spy", "SPY", "buy", 6, spy_limit, "gtc"),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{conflict}");

    // The fill mode `none` and the controls still apply, later too.
    clock.advance(TimeDelta::seconds(30));
    let resting = get_ok(&second, "/orders/2").await;
    assert_eq!(resting["status"], "submitted", "{resting}");
    assert_eq!(
        get_ok(&second, "/quote?symbol=SPY").await,
        get_ok(&reference, "/quote?symbol=SPY").await
    );

    // The working order keeps working: it fills once the mode allows.
    let (_, full) = post_both(&second, &reference, "/sim/control", r#"{"fill":"full"}"#).await;
    assert_eq!(full["fill"], "full");
    let filled = get_ok(&second, "/orders/2").await;
    assert_eq!(filled["status"], "filled", "{filled}");
    assert_eq!(filled, get_ok(&reference, "/orders/2").await);
    let fills = get_ok(&second, "/executions?key=exit-spy").await;
    assert_eq!(fills["executions"][0]["exec_id"], "sim-exec-2", "{fills}");

    // New ids continue after the restored counters.
    clock.advance(TimeDelta::seconds(5));
    let ask = get_ok(&second, "/quote?symbol=AAPL").await["ask"]
        .as_f64()
        .unwrap();
    let more = stock_order(
        "buy-aapl-2",
        "AAPL",
        "buy",
        2,
        round_cents(ask + 1.0),
        "day",
    );
    let (s, placed) = post_both(&second, &reference, "/orders", &more).await;
    assert_eq!(s, StatusCode::CREATED, "{placed}");
    assert_eq!(placed["order"]["id"], "3");

    // An hour later both bridges still agree on everything; so does a
    // third start from the file, which now holds the fills made after the
    // first restart.
    clock.advance(TimeDelta::hours(1));
    let later = books(&second).await;
    assert_eq!(later, books(&reference).await);
    assert_eq!(
        later["executions"]["executions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["exec_id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["sim-exec-1", "sim-exec-2", "sim-exec-3"]
    );
    drop(second);
    let third = persisted(&file, &clock);
    assert_eq!(books(&third).await, later);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn working_orders_fill_while_the_bridge_is_down_at_the_step_they_became_marketable() {
    let dir = temp_dir("sim-state", "downtime");
    let file = dir.join("sim.json");
    let clock = session_clock();
    let reference = reference(&clock);
    let first = persisted(&file, &clock);
    let bid = get_ok(&first, "/quote?symbol=TSLA").await["bid"]
        .as_f64()
        .unwrap();
    let limit = round_cents(bid * 1.001);
    let body = stock_order("tsla-idle", "TSLA", "sell", 3, limit, "gtc");
    let (_, placed) = post_both(&first, &reference, "/orders", &body).await;
    assert_eq!(placed["order"]["status"], "submitted", "{placed}");
    drop(first);

    // Five hours down, then a new bridge from the file.
    clock.advance(TimeDelta::hours(5));
    let second = persisted(&file, &clock);
    let ex = get_ok(&second, "/executions").await;
    let fill = &ex["executions"][0];
    assert_eq!(fill["quantity"], 3, "{ex}");
    assert!(fill["price"].as_f64().unwrap() >= limit, "{fill}");
    let at: DateTime<Utc> = serde_json::from_value(fill["time"].clone()).unwrap();
    assert!(
        at > session_start() && at < session_start() + TimeDelta::hours(5),
        "filled at {at}, not at a step during the downtime"
    );
    // Exactly as a bridge that never went down.
    assert_eq!(ex, get_ok(&reference, "/executions").await);
    assert_eq!(
        get_ok(&second, "/positions").await,
        get_ok(&reference, "/positions").await
    );
    // The catch-up itself was written: a restart right now agrees.
    drop(second);
    let third = persisted(&file, &clock);
    assert_eq!(get_ok(&third, "/executions").await, ex);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_cancel_survives_a_restart() {
    let dir = temp_dir("sim-state", "cancel");
    let file = dir.join("sim.json");
    let clock = session_clock();
    let first = persisted(&file, &clock);
    let bid = get_ok(&first, "/quote?symbol=AAPL").await["bid"]
        .as_f64()
        .unwrap();
    let body = stock_order("low", "AAPL", "buy", 1, round_cents(bid * 0.8), "gtc");
    let (s, _) = post(&first, "/orders", &body).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, cancelled) = post(&first, "/orders/1/cancel", "").await;
    assert_eq!(s, StatusCode::OK, "{cancelled}");
    drop(first);
    let second = persisted(&file, &clock);
    assert_eq!(get_ok(&second, "/orders").await, json!({"orders": []}));
    assert_eq!(get_ok(&second, "/orders/1").await, cancelled);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_corrupt_state_file_refuses_to_start_and_is_left_as_it_is() {
    let dir = temp_dir("sim-state", "corrupt");
    let file = dir.join("sim.json");
    std::fs::write(&file, b"{\"version\":1,\"seed\":").unwrap();
    let Err(err) = SimBroker::open(sim_config(42, None), session_clock(), file.clone()) else {
        panic!("a corrupt state file must not start");
    };
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "sim state file {} cannot be parsed",
            file.display()
        )),
        "{msg}"
    );
    assert!(msg.contains("does not replace it"), "{msg}");
    assert_eq!(std::fs::read(&file).unwrap(), b"{\"version\":1,\"seed\":");

    // The binary stops with the same message before it listens.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_broker-bridge"))
        .args(["--broker", "sim", "--listen", "127.0.0.1:0"])
        .env("BRIDGE_TOKEN", TOKEN)
        .env("SIM_STATE_FILE", &file)
        .env_remove("BRIDGE_SEED")
        .env_remove("BRIDGE_WATCHLIST")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot be parsed"), "{stderr}");
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert_eq!(std::fs::read(&file).unwrap(), b"{\"version\":1,\"seed\":");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_state_file_from_another_seed_refuses_to_start() {
    let dir = temp_dir("sim-state", "seed");
    let file = dir.join("sim.json");
    drop(persisted(&file, &session_clock()));
    let written = std::fs::read(&file).unwrap();
    let Err(err) = SimBroker::open(sim_config(7, None), session_clock(), file.clone()) else {
        panic!("another seed must not start");
    };
    let msg = err.to_string();
    assert!(
        msg.contains("written with --seed 42, the bridge runs with --seed 7"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), written, "left as it is");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unwritable_state_file_refuses_to_start() {
    let file = temp_dir("sim-state", "unwritable")
        .join("missing")
        .join("sim.json");
    let Err(err) = SimBroker::open(sim_config(42, None), session_clock(), file.clone()) else {
        panic!("a state file that cannot be written must not start");
    };
    assert!(err.to_string().contains("cannot be written"), "{err}");
}
