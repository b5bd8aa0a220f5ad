//! The positions API: its routes, request bodies and the one mapping of
//! [`PositionsError`] to replies (docs/worker-api.md).
//!
//! - `GET /positions?status=pending|open|closed|void&limit=`
//! - `GET /positions/{id}`, `POST /positions/{id}/close` `{"note"?}`,
//!   `POST /positions/{id}/exits` `{"paused": bool, "reason"}`
//! - `GET /orders?limit=`, `GET /pnl?days=`, `GET /monitor/runs?limit=`
//! - `GET /reconciliation`, `POST /reconciliation/ack` `{"fingerprint", "note"}`

use serde::Deserialize;

use super::approvals::{checked_text, parse_id, parse_json_body, Reply};
use super::error::{truncate, ApiError, Query};
use crate::positions::{
    PositionState, PositionsError, DEFAULT_ORDERS_LIMIT, DEFAULT_PNL_DAYS, DEFAULT_POSITIONS_LIMIT,
    MAX_ORDERS_LIMIT, MAX_PNL_DAYS, MAX_POSITIONS_LIMIT,
};

/// Most monitor runs `/monitor/runs` returns.
pub const MAX_RUNS_LIMIT: u32 = 500;

/// A route of the positions API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PositionRoute {
    List {
        status: Option<PositionState>,
        limit: u32,
    },
    Get {
        id: i64,
    },
    Close {
        id: i64,
    },
    Exits {
        id: i64,
    },
    Orders {
        limit: u32,
    },
    Pnl {
        days: u32,
    },
    Runs {
        limit: u32,
    },
    Reconciliation,
    AckReconciliation,
}

/// Whether `path` belongs to this API (all of it needs authentication).
pub fn is_protected_path(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    path == "/positions"
        || path.starts_with("/positions/")
        || matches!(
            path,
            "/orders" | "/pnl" | "/monitor/runs" | "/reconciliation" | "/reconciliation/ack"
        )
}

fn not_found(path: &str) -> ApiError {
    ApiError::new(
        404,
        "not_found",
        format!("no route for {}", truncate(path, 64)),
    )
}

/// Matches this API's routes; `None` when the path is not one of them.
pub fn route(
    method: &str,
    path: &str,
    query: Option<&str>,
) -> Option<Result<PositionRoute, ApiError>> {
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    if !is_protected_path(trimmed) {
        return None;
    }
    Some(route_inner(method, trimmed, query.unwrap_or("")))
}

fn route_inner(method: &str, path: &str, query: &str) -> Result<PositionRoute, ApiError> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let want = |allowed: &str| ApiError::require_method(method, allowed, path);
    let mut q = Query::parse(query)?;
    let route = match segments.as_slice() {
        ["positions"] => {
            want("GET")?;
            let status = match q.take("status") {
                None => None,
                Some(s) => Some(PositionState::parse(s.trim()).ok_or_else(|| {
                    ApiError::bad_request(
                        "query parameter 'status' must be pending, open, closed or void",
                    )
                })?),
            };
            let limit = q.bounded("limit", DEFAULT_POSITIONS_LIMIT, 1, MAX_POSITIONS_LIMIT)?;
            PositionRoute::List { status, limit }
        }
        ["positions", id] => {
            let id = parse_id(id).ok_or_else(|| not_found(path))?;
            want("GET")?;
            PositionRoute::Get { id }
        }
        ["positions", id, "close"] => {
            let id = parse_id(id).ok_or_else(|| not_found(path))?;
            want("POST")?;
            PositionRoute::Close { id }
        }
        ["positions", id, "exits"] => {
            let id = parse_id(id).ok_or_else(|| not_found(path))?;
            want("POST")?;
            PositionRoute::Exits { id }
        }
        ["orders"] => {
            want("GET")?;
            PositionRoute::Orders {
                limit: q.bounded("limit", DEFAULT_ORDERS_LIMIT, 1, MAX_ORDERS_LIMIT)?,
            }
        }
        ["pnl"] => {
            want("GET")?;
            PositionRoute::Pnl {
                days: q.bounded("days", DEFAULT_PNL_DAYS, 1, MAX_PNL_DAYS)?,
            }
        }
        ["monitor", "runs"] => {
            want("GET")?;
            PositionRoute::Runs {
                limit: q.bounded("limit", 50, 1, MAX_RUNS_LIMIT)?,
            }
        }
        ["reconciliation"] => {
            want("GET")?;
            PositionRoute::Reconciliation
        }
        ["reconciliation", "ack"] => {
            want("POST")?;
            PositionRoute::AckReconciliation
        }
        _ => return Err(not_found(path)),
    };
    q.reject_unused()?;
    Ok(route)
}

/// Body of `POST /positions/{id}/close`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    #[serde(default)]
    pub note: Option<String>,
}

/// Body of `POST /positions/{id}/exits`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExitsBody {
    pub paused: bool,
    pub reason: String,
}

/// Body of `POST /reconciliation/ack`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    /// The fingerprint shown by `GET /reconciliation` (what was looked at).
    pub fingerprint: String,
    pub note: String,
}

/// Parses a close body.
pub fn parse_close(raw: &[u8]) -> Result<CloseBody, ApiError> {
    let body: CloseBody = parse_json_body(raw)?;
    let note = match body.note {
        None => None,
        Some(n) => checked_text(&n, "note", false)?,
    };
    Ok(CloseBody { note })
}

/// Parses an exits body.
pub fn parse_exits(raw: &[u8]) -> Result<ExitsBody, ApiError> {
    let body: ExitsBody = parse_json_body(raw)?;
    let reason = checked_text(&body.reason, "reason", true)?.unwrap_or_default();
    Ok(ExitsBody {
        paused: body.paused,
        reason,
    })
}

/// Parses an acknowledgement body.
pub fn parse_ack(raw: &[u8]) -> Result<AckBody, ApiError> {
    let body: AckBody = parse_json_body(raw)?;
    let fingerprint = body.fingerprint.trim().to_owned();
    if fingerprint.is_empty()
        || fingerprint.len() > 32
        || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(ApiError::bad_request(
            "'fingerprint' must be the hex fingerprint shown by GET /reconciliation",
        ));
    }
    let note = checked_text(&body.note, "note", true)?.unwrap_or_default();
    Ok(AckBody { fingerprint, note })
}

/// A 200 (or `status`) JSON reply.
pub fn json<T: serde::Serialize>(status: u16, body: &T) -> Reply {
    match serde_json::to_string(body) {
        Ok(text) => Reply::Json(status, text),
        Err(e) => Reply::Internal(format!("serialize reply: {e}")),
    }
}

/// The one mapping of [`PositionsError`] to a reply.
pub fn error_reply(e: &PositionsError) -> Reply {
    match e {
        PositionsError::NotFound(id) => {
            Reply::Error(ApiError::new(404, "not_found", format!("no position {id}")))
        }
        PositionsError::Conflict {
            code,
            message,
            position,
        } => json(
            409,
            &serde_json::json!({ "error": code, "message": message, "position": position }),
        ),
        PositionsError::ReconciliationConflict { message, state } => json(
            409,
            &serde_json::json!({ "error": "reconciliation_changed", "message": message,
                "reconciliation": state }),
        ),
        PositionsError::Store(_) => Reply::Internal(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_with_their_parameters() {
        assert_eq!(
            route("GET", "/positions", Some("status=open&limit=5")),
            Some(Ok(PositionRoute::List {
                status: Some(PositionState::Open),
                limit: 5
            }))
        );
        assert_eq!(
            route("POST", "/positions/7/close", None),
            Some(Ok(PositionRoute::Close { id: 7 }))
        );
        assert_eq!(route("GET", "/orders/x", None), None);
        assert_eq!(route("GET", "/proposals", None), None);
        let e = route("GET", "/positions", Some("status=bogus"))
            .unwrap()
            .unwrap_err();
        assert_eq!(e.status, 400);
        let e = route("GET", "/positions/7/close", None)
            .unwrap()
            .unwrap_err();
        assert_eq!(e.status, 405);
        let e = route("GET", "/positions/abc", None).unwrap().unwrap_err();
        assert_eq!(e.status, 404);
        let e = route("GET", "/pnl", Some("days=0")).unwrap().unwrap_err();
        assert_eq!(e.status, 400);
    }

    #[test]
    fn bodies_are_validated() {
        assert!(parse_close(b"{}").is_ok());
        assert_eq!(parse_close(b"{\"x\":1}").unwrap_err().status, 400);
        assert_eq!(parse_close(b"[]").unwrap_err().status, 400);
        assert!(
            parse_exits(br#"{"paused":true,"reason":"earnings"}"#)
                .unwrap()
                .paused
        );
        assert_eq!(parse_exits(br#"{"paused":true}"#).unwrap_err().status, 400);
        assert!(parse_ack(br#"{"fingerprint":"00ff","note":"ok"}"#).is_ok());
        assert_eq!(
            parse_ack(br#"{"fingerprint":"zz","note":"ok"}"#)
                .unwrap_err()
                .status,
            400
        );
    }
}
