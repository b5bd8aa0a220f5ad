//! The bridge's answers to order calls, classified: `POST /orders`
//! ([`SendResult`]) and `GET /orders/by-key/{key}` ([`LookupResult`]). Pure;
//! shared by the approval workflows and the position monitor (a leaf: it
//! depends on the bridge contract only).

use sas_bridge_api::orders::{Order, PlaceOrderOutcome};
use sas_bridge_api::{ErrorBody, ErrorCode};

use crate::bridge::BridgeFailure;
use crate::config::truncate;

/// The bridge's answer to `POST /orders` (or the lack of one), classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    /// 201 new, or 200 the same key and body seen before (`duplicate`).
    Placed {
        order_id: String,
        broker_status: String,
        duplicate: bool,
    },
    /// 409 `idempotency_key_conflict`: an order under the key exists. Look it
    /// up by key and record it.
    KeyExists,
    /// 422 `order_rejected`, 400, 403, 413: refused, final.
    Rejected { reason: String },
    /// Definitely not placed (409 `trading_halted` / `order_window_closed`,
    /// 401).
    NotPlaced { reason: String },
    /// Maybe placed (timeout, 5xx including 503 `broker_disconnected` and 504:
    /// the bridge's placement runs on without the request, see
    /// docs/bridge-api.md; 429; unreadable answer): ask by key.
    Unknown { reason: String },
}

impl SendResult {
    /// The reason stored with the state (never the bridge's message text).
    pub fn reason(&self) -> Option<&str> {
        match self {
            SendResult::Placed { .. } => None,
            SendResult::KeyExists => Some("an order under this key exists at the bridge"),
            SendResult::Rejected { reason }
            | SendResult::NotPlaced { reason }
            | SendResult::Unknown { reason } => Some(reason),
        }
    }
}

/// The `error` code of a bridge error body (`{"error":code,"message":...}`),
/// bounded; only the code is ever kept, never the message.
fn error_code(body: &str) -> Option<ErrorCode> {
    serde_json::from_str::<ErrorBody>(body)
        .ok()
        .map(|b| b.error)
}

/// Classifies the bridge's answer (`status`, `body`) to `POST /orders` for
/// `key`. An answer about another key is `Unknown` (never recorded as ours).
pub fn classify_order_answer(status: u16, body: &str, key: &str) -> SendResult {
    let code = error_code(body);
    let why = |what: &str| {
        format!(
            "bridge answered HTTP {status} ({}): {what}",
            code.map_or("no error code", ErrorCode::as_str)
        )
    };
    match (status, code) {
        (200 | 201, _) => match serde_json::from_str::<PlaceOrderOutcome>(body) {
            Ok(a) if a.order.idempotency_key == key => SendResult::Placed {
                order_id: truncate(&a.order.id, 64),
                broker_status: a.order.status.as_str().to_owned(),
                duplicate: a.duplicate,
            },
            Ok(_) => SendResult::Unknown {
                reason: "bridge answered with an order of another key".into(),
            },
            Err(_) => SendResult::Unknown {
                reason: format!("bridge answered HTTP {status} without a readable order"),
            },
        },
        (409, Some(ErrorCode::IdempotencyKeyConflict)) => SendResult::KeyExists,
        (409, Some(ErrorCode::TradingHalted | ErrorCode::OrderWindowClosed)) => {
            SendResult::NotPlaced {
                reason: why("not placed"),
            }
        }
        (401, _) => SendResult::NotPlaced {
            reason: why("refused before placing"),
        },
        (400 | 403 | 413 | 415 | 422, _) => SendResult::Rejected {
            reason: why("order refused"),
        },
        _ => SendResult::Unknown {
            reason: why("outcome unknown"),
        },
    }
}

/// Classifies a call to `POST /orders` that got no answer: always `Unknown`.
/// A timeout may have placed the order; so may a "network error", because
/// the Workers runtime reports a refused connection and one reset after the
/// bridge read the request the same way (`BridgeFailure::Unreachable`), and
/// the bridge places an order it has read whatever happens to the request.
/// Unknown costs one lookup by key on the next run; a wrong "not placed"
/// could lose track of a working order.
pub fn classify_send_failure(failure: &BridgeFailure) -> SendResult {
    match failure {
        BridgeFailure::Timeout { after_ms } => SendResult::Unknown {
            reason: format!("bridge did not answer within {after_ms} ms"),
        },
        BridgeFailure::Unreachable(_) => SendResult::Unknown {
            reason: "bridge unreachable or the connection broke".into(),
        },
    }
}

/// The bridge's answer to `GET /orders/by-key/{key}`, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupResult {
    /// The broker has an order under the key.
    Found {
        order_id: String,
        broker_status: String,
    },
    /// 404 `order_not_found`: the bridge asked the broker; there is none.
    NotFound,
    /// Could not ask (5xx, timeout, another 404, unreadable): proves nothing.
    Unavailable { reason: String },
}

/// Classifies the answer (`status`, `body`) to `GET /orders/by-key/{key}`.
pub fn classify_lookup(status: u16, body: &str, key: &str) -> LookupResult {
    match status {
        200 => match serde_json::from_str::<Order>(body) {
            Ok(o) if o.idempotency_key == key => LookupResult::Found {
                order_id: truncate(&o.id, 64),
                broker_status: o.status.as_str().to_owned(),
            },
            Ok(_) => LookupResult::Unavailable {
                reason: "bridge answered with an order of another key".into(),
            },
            Err(_) => LookupResult::Unavailable {
                reason: "bridge answer is not an order".into(),
            },
        },
        404 if error_code(body) == Some(ErrorCode::OrderNotFound) => LookupResult::NotFound,
        _ => LookupResult::Unavailable {
            reason: format!(
                "order lookup answered HTTP {status} ({})",
                error_code(body).map_or("no error code", ErrorCode::as_str)
            ),
        },
    }
}

/// A lookup that could not be made (timeout, unreachable).
pub fn lookup_failure(failure: &BridgeFailure) -> LookupResult {
    LookupResult::Unavailable {
        reason: match failure {
            BridgeFailure::Timeout { after_ms } => {
                format!("order lookup got no answer within {after_ms} ms")
            }
            BridgeFailure::Unreachable(_) => "bridge unreachable".into(),
        },
    }
}
