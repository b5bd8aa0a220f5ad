//! Issue 8, bridge side, over HTTP with the simulated broker (in-process,
//! `oneshot`): the halt, strict order legs, bounded metric labels, orders by
//! idempotency key, and the paced chain selections.
#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use serde_json::json;

mod api_support;

use api_support::{get, post, send, session_clock, sim_app, TOKEN};

fn resting_order(key: &str) -> String {
    json!({
        "idempotency_key": key,
        "legs": [{"instrument": {"type": "stock", "symbol": "AAPL"}, "action": "buy"}],
        "quantity": 1,
        "limit_price": 1.00,
        "tif": "gtc"
    })
    .to_string()
}

#[tokio::test]
async fn halt_blocks_direct_post_orders() {
    let app = sim_app(&session_clock());
    let (s, body) = get(&app, "/halt").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"halted": false, "reason": null, "since": null})
    );

    let (s, body) = post(
        &app,
        "/halt",
        r#"{"halted":true,"reason":"kill switch on"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["halted"], true);
    assert_eq!(body["reason"], "kill switch on");
    assert!(body["since"].is_string(), "{body}");

    let (s, body) = post(&app, "/orders", &resting_order("halted-1")).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "trading_halted", "{body}");
    let (s, body) = get(&app, "/orders/by-key/halted-1").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing was placed: {body}");
    assert_eq!(body["error"], "order_not_found");
    // Reads still work while halted.
    let (s, _) = get(&app, "/account").await;
    assert_eq!(s, StatusCode::OK);

    // Unauthenticated or non-JSON changes are refused.
    let (s, _, _) = send(
        &app,
        Method::POST,
        "/halt",
        None,
        Some(r#"{"halted":false,"reason":"x"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let (s, body) = post(&app, "/halt", r#"{"halted":false,"reason":"resumed"}"#).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["halted"], false);
    let (s, body) = post(&app, "/orders", &resting_order("halted-1")).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn halt_keeps_cancels_working() {
    let app = sim_app(&session_clock());
    let (s, placed) = post(&app, "/orders", &resting_order("exit-1")).await;
    assert_eq!(s, StatusCode::CREATED, "{placed}");
    let id = placed["order"]["id"].as_str().unwrap().to_string();
    let (s, _) = post(&app, "/halt", r#"{"halted":true,"reason":"stop"}"#).await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = post(&app, &format!("/orders/{id}/cancel"), "{}").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "cancelled");
}

#[tokio::test]
async fn unknown_fields_inside_order_legs_are_refused() {
    let app = sim_app(&session_clock());
    let in_leg = json!({
        "idempotency_key": "strict-1",
        "legs": [{"instrument": {"type": "stock", "symbol": "AAPL"}, "action": "buy", "stop": 1}],
        "quantity": 1,
        "limit_price": 1.00
    });
    let (s, body) = post(&app, "/orders", &in_leg.to_string()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "unknown leg field: {body}");
    assert_eq!(body["error"], "invalid_body");
    let in_instrument = json!({
        "idempotency_key": "strict-2",
        "legs": [{"instrument": {"type": "stock", "symbol": "AAPL", "exchange": "ARCA"}, "action": "buy"}],
        "quantity": 1,
        "limit_price": 1.00
    });
    let (s, body) = post(&app, "/orders", &in_instrument.to_string()).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "unknown instrument field: {body}"
    );
    assert_eq!(body["error"], "invalid_body");
}

#[tokio::test]
async fn metric_labels_stay_bounded_for_made_up_methods_and_paths() {
    let app = sim_app(&session_clock());
    for i in 0..20 {
        let method = Method::from_bytes(format!("MADEUP{i}").as_bytes()).unwrap();
        let _ = send(&app, method.clone(), "/quotes", None, None).await;
        let _ = send(
            &app,
            method,
            &format!("/no/such/path/{i}"),
            Some(TOKEN),
            None,
        )
        .await;
    }
    let (s, text) = get(&app, "/metrics").await;
    assert_eq!(s, StatusCode::OK);
    let text = text.as_str().unwrap().to_string();
    assert!(!text.contains("MADEUP"), "raw method in a label:\n{text}");
    assert!(!text.contains("/no/such"), "raw path in a label:\n{text}");
    assert!(text.contains(r#"method="other""#), "{text}");
}

#[tokio::test]
async fn order_by_key_answers_the_order_or_404() {
    let app = sim_app(&session_clock());
    let (s, placed) = post(&app, "/orders", &resting_order("by-key-1")).await;
    assert_eq!(s, StatusCode::CREATED, "{placed}");
    let (s, body) = get(&app, "/orders/by-key/by-key-1").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body, placed["order"]);
    let (s, body) = get(&app, "/orders/by-key/never-sent").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "order_not_found");
    let (s, body) = get(&app, "/orders/by-key/bad%20key").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn chain_selections_by_expiries_and_contracts_fit_the_pacing() {
    let app = sim_app(&session_clock());
    let (s, listing) = get(&app, "/chain/expiries?symbol=SPY").await;
    assert_eq!(s, StatusCode::OK, "{listing}");
    assert_eq!(listing["symbol"], "SPY");
    let expiries: Vec<String> = listing["expiries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    assert!(expiries.len() > 3, "{listing}");
    assert!(
        expiries.windows(2).all(|w| w[0] < w[1]),
        "sorted: {listing}"
    );

    let wanted = format!("{},{}", expiries[1], expiries[3]);
    let (s, chain) = get(
        &app,
        &format!("/chain?symbol=SPY&expiries={wanted}&strikes=4"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{chain}");
    let got: Vec<&str> = chain["expiries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["expiry"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec![expiries[1].as_str(), expiries[3].as_str()]);
    for e in chain["expiries"].as_array().unwrap() {
        assert_eq!(
            e["contracts"].as_array().unwrap().len(),
            8,
            "4 strikes x C/P"
        );
    }

    let k = chain["expiries"][0]["contracts"][0]["strike"]
        .as_f64()
        .unwrap();
    let contracts = format!("{e}:{k}:P,{e}:{k}:C", e = expiries[1]);
    let (s, chain) = get(&app, &format!("/chain?symbol=SPY&contracts={contracts}")).await;
    assert_eq!(s, StatusCode::OK, "{chain}");
    assert!(chain["spot"].as_f64().unwrap() > 0.0);
    assert_eq!(chain["expiries"].as_array().unwrap().len(), 1, "{chain}");
    let c = chain["expiries"][0]["contracts"].as_array().unwrap();
    assert_eq!(c.len(), 2, "{chain}");

    // More than 8 of either is refused before anything is asked.
    let nine: Vec<String> = (0..9).map(|i| format!("2027-01-{:02}", i + 1)).collect();
    let (s, body) = get(
        &app,
        &format!("/chain?symbol=SPY&expiries={}", nine.join(",")),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let nine: Vec<String> = (0..9)
        .map(|i| format!("{}:{}:P", expiries[1], 500 + i))
        .collect();
    let (s, body) = get(
        &app,
        &format!("/chain?symbol=SPY&contracts={}", nine.join(",")),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    // The two selections exclude each other and the DTE window.
    let (s, body) = get(
        &app,
        &format!("/chain?symbol=SPY&expiries={}&min_dte=1", expiries[1]),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    // The DTE window form is unchanged.
    let (s, body) = get(&app, "/chain?symbol=SPY&min_dte=7&max_dte=30&strikes=2").await;
    assert_eq!(s, StatusCode::OK, "{body}");
}
