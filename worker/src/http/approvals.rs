//! The proposals / audit / kill-switch API: its routes, request bodies,
//! and the one mapping of the approval workflows' outcomes and typed errors
//! to HTTP replies (status and JSON body, byte-compatible with
//! docs/worker-api.md).

use serde::Deserialize;

use super::error::{truncate, ApiError, Query};
use crate::approvals::service::{is_price_move, ApprovalError, Approved};
use crate::approvals::{BrokerCheckError, MAX_BODY_BYTES, MAX_REASON_CHARS};
use crate::audit::{AuditAction, AuditQuery, DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT};
use crate::proposals::{
    ProposalRow, ProposalStatus, ProposalView, DEFAULT_PROPOSALS_LIMIT, MAX_PROPOSALS_LIMIT,
};

/// A route of the proposals / audit / kill-switch API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalRoute {
    /// `GET /proposals?status=&limit=`.
    List {
        status: Option<ProposalStatus>,
        limit: u32,
    },
    /// `GET /proposals/{id}`.
    Get { id: i64 },
    /// `POST /proposals/{id}/approve`.
    Approve { id: i64 },
    /// `POST /proposals/{id}/reject`.
    Reject { id: i64 },
    /// `GET /audit?limit=&proposal=&position=&action=&before=`.
    Audit(AuditQuery),
    /// `GET /kill-switch`.
    KillSwitchGet,
    /// `POST /kill-switch`.
    KillSwitchSet,
}

/// Whether `path` belongs to this API (all of it needs authentication).
pub fn is_protected_path(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    path == "/proposals"
        || path.starts_with("/proposals/")
        || path == "/audit"
        || path == "/kill-switch"
}

fn not_found(path: &str) -> ApiError {
    ApiError::new(
        404,
        "not_found",
        format!("no route for {}", truncate(path, 64)),
    )
}

/// Parses a proposal id from a path segment (positive integer).
pub fn parse_id(raw: &str) -> Option<i64> {
    if raw.is_empty() || raw.len() > 15 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}

/// Matches this API's routes; `None` when the path is not one of them.
pub fn route(
    method: &str,
    path: &str,
    query: Option<&str>,
) -> Option<Result<ApprovalRoute, ApiError>> {
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

fn route_inner(method: &str, path: &str, query: &str) -> Result<ApprovalRoute, ApiError> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let want = |allowed: &str| {
        if method == allowed {
            Ok(())
        } else {
            Err(ApiError::method_not_allowed(path, allowed))
        }
    };
    let route = match segments.as_slice() {
        ["proposals"] => {
            want("GET")?;
            let mut q = Query::parse(query)?;
            let status = match q.take("status") {
                None => None,
                Some(s) => Some(ProposalStatus::parse(s.trim()).ok_or_else(|| {
                    ApiError::bad_request(
                        "query parameter 'status' must be pending, approved, rejected or expired",
                    )
                })?),
            };
            let limit = q.bounded("limit", DEFAULT_PROPOSALS_LIMIT, 1, MAX_PROPOSALS_LIMIT)?;
            q.reject_unused()?;
            return Ok(ApprovalRoute::List { status, limit });
        }
        ["proposals", id] => {
            let id = parse_id(id).ok_or_else(|| not_found(path))?;
            want("GET")?;
            ApprovalRoute::Get { id }
        }
        ["proposals", id, "approve"] => {
            let id = parse_id(id).ok_or_else(|| not_found(path))?;
            want("POST")?;
            ApprovalRoute::Approve { id }
        }
        ["proposals", id, "reject"] => {
            let id = parse_id(id).ok_or_else(|| not_found(path))?;
            want("POST")?;
            ApprovalRoute::Reject { id }
        }
        ["audit"] => {
            want("GET")?;
            let mut q = Query::parse(query)?;
            let limit = q.bounded("limit", DEFAULT_AUDIT_LIMIT, 1, MAX_AUDIT_LIMIT)?;
            let mut id_param = |name: &str, what: &str| -> Result<Option<i64>, ApiError> {
                match q.take(name) {
                    None => Ok(None),
                    Some(raw) => parse_id(raw.trim()).map(Some).ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "query parameter '{name}' must be {what} (a positive integer)"
                        ))
                    }),
                }
            };
            let proposal = id_param("proposal", "a proposal id")?;
            let position = id_param("position", "a position id")?;
            let before = id_param("before", "an audit entry id")?;
            let action = match q.take("action") {
                None => None,
                Some(raw) => Some(AuditAction::parse(raw.trim()).ok_or_else(|| {
                    ApiError::bad_request(
                        "query parameter 'action' must be one of the audit log's actions (GET /audit lists them as 'actions')",
                    )
                })?),
            };
            q.reject_unused()?;
            return Ok(ApprovalRoute::Audit(AuditQuery {
                limit,
                proposal,
                position,
                action,
                before,
            }));
        }
        ["kill-switch"] => match method {
            "GET" => ApprovalRoute::KillSwitchGet,
            "POST" => ApprovalRoute::KillSwitchSet,
            _ => return Err(ApiError::method_not_allowed(path, "GET or POST")),
        },
        _ => return Err(not_found(path)),
    };
    let q = Query::parse(query)?;
    q.reject_unused()?;
    Ok(route)
}

/// Body of `POST /proposals/{id}/approve`: a JSON object, `{}` or with a `note`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// A note stored with the decision.
    #[serde(default)]
    pub note: Option<String>,
}

/// Body of `POST /proposals/{id}/reject`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    /// Why (required, 1..=500 characters).
    pub reason: String,
}

/// Body of `POST /kill-switch`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillSwitchBody {
    /// `true` stops new proposals, approvals and orders.
    pub on: bool,
    /// Why (required, 1..=500 characters).
    pub reason: String,
}

pub(crate) fn parse_json_body<T: for<'de> Deserialize<'de>>(raw: &[u8]) -> Result<T, ApiError> {
    if raw.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            413,
            "payload_too_large",
            format!("request body is larger than {MAX_BODY_BYTES} bytes"),
        ));
    }
    let text =
        std::str::from_utf8(raw).map_err(|_| ApiError::bad_request("request body is not UTF-8"))?;
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|_| ApiError::bad_request("request body is not valid JSON"))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| {
        ApiError::bad_request(format!(
            "request body is not valid: {}",
            truncate(&e.to_string(), 120)
        ))
    })
}

pub(crate) fn checked_text(
    value: &str,
    field: &str,
    required: bool,
) -> Result<Option<String>, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        return if required {
            Err(ApiError::bad_request(format!(
                "'{field}' must not be empty"
            )))
        } else {
            Ok(None)
        };
    }
    if v.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::bad_request(format!(
            "'{field}' is longer than {MAX_REASON_CHARS} characters"
        )));
    }
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::bad_request(format!(
            "'{field}' contains control characters"
        )));
    }
    Ok(Some(v.to_owned()))
}

/// Parses an approve body: a JSON object with an optional `note`. An empty
/// body is refused (400): an approval is always an explicit JSON request.
pub fn parse_approve(raw: &[u8]) -> Result<ApproveBody, ApiError> {
    let body: ApproveBody = parse_json_body(raw)?;
    let note = match body.note {
        None => None,
        Some(n) => checked_text(&n, "note", false)?,
    };
    Ok(ApproveBody { note })
}

/// Parses a reject body: `{"reason": "..."}`.
pub fn parse_reject(raw: &[u8]) -> Result<RejectBody, ApiError> {
    let body: RejectBody = parse_json_body(raw)?;
    let reason = checked_text(&body.reason, "reason", true)?.unwrap_or_default();
    Ok(RejectBody { reason })
}

/// Parses a kill-switch body: `{"on": true|false, "reason": "..."}`.
pub fn parse_kill_switch(raw: &[u8]) -> Result<KillSwitchBody, ApiError> {
    let body: KillSwitchBody = parse_json_body(raw)?;
    let reason = checked_text(&body.reason, "reason", true)?.unwrap_or_default();
    Ok(KillSwitchBody {
        on: body.on,
        reason,
    })
}

/// The client's answer to a failed broker check: a fixed message (details
/// are in the log).
pub fn broker_check_refusal(e: &BrokerCheckError) -> ApiError {
    ApiError::new(
        503,
        "broker_check_failed",
        format!("approval refused: {}", e.public_reason()),
    )
}

/// A reply: a JSON body (serialized text) with its status, an API error, or
/// an internal error (logged with its context, answered as a bare 500).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Json(u16, String),
    Error(ApiError),
    Internal(String),
}

fn json<T: serde::Serialize>(status: u16, body: &T) -> Reply {
    match serde_json::to_string(body) {
        Ok(text) => Reply::Json(status, text),
        Err(e) => Reply::Internal(format!("serialize reply: {e}")),
    }
}

/// 409 with the proposal's current state.
fn conflict(code: &str, message: &str, row: &ProposalRow) -> serde_json::Value {
    serde_json::json!({
        "error": code,
        "message": message,
        "status": row.status,
        "proposal": ProposalView::from_row(row, false),
    })
}

/// The one mapping of [`ApprovalError`] to a reply.
pub fn error_reply(e: &ApprovalError) -> Reply {
    match e {
        ApprovalError::NotFound(id) => {
            Reply::Error(ApiError::new(404, "not_found", format!("no proposal {id}")))
        }
        ApprovalError::Conflict { code, message, row } => json(409, &conflict(code, message, row)),
        ApprovalError::BrokerCheck(b) => Reply::Error(broker_check_refusal(b)),
        ApprovalError::QuotesUnavailable(_) => Reply::Error(ApiError::new(
            503,
            "quotes_unavailable",
            "approval refused: fresh quotes could not be fetched from the bridge",
        )),
        ApprovalError::Refused(refusal) => {
            let (status, code) = if is_price_move(refusal) {
                (409, "price_moved")
            } else {
                (422, "no_longer_valid")
            };
            json(
                status,
                &serde_json::json!({
                    "error": code,
                    "message": format!("approval refused: {}", refusal.message),
                    "status": "pending",
                    "refusal": serde_json::to_value(refusal).unwrap_or_default(),
                }),
            )
        }
        ApprovalError::NoOrder(reason) => Reply::Error(ApiError::new(
            422,
            "no_longer_valid",
            format!("approval refused: {reason}"),
        )),
        ApprovalError::RiskRefused { verdict, row } => json(
            409,
            &serde_json::json!({
                "error": "risk_refused",
                "message": format!("approval refused by the risk checks: {}", verdict.refusals.join("; ")),
                "status": row.status,
                "risk": verdict,
                "proposal": ProposalView::from_row(row, false),
            }),
        ),
        ApprovalError::UnreadableProposal(_) | ApprovalError::Store { .. } => {
            Reply::Internal(e.to_string())
        }
    }
}

/// 200 with the proposal (list form).
pub fn proposal_reply(row: &ProposalRow, detail: bool) -> Reply {
    json(200, &ProposalView::from_row(row, detail))
}

/// 200 after an approval: the proposal, the re-priced numbers and, when the
/// order is not `submitted`, why.
pub fn approved_reply(a: &Approved) -> Reply {
    let mut body = serde_json::to_value(ProposalView::from_row(&a.row, false)).unwrap_or_default();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("repriced".into(), a.repriced.clone());
        if let Some(reason) = &a.order_error {
            obj.insert("order_error".into(), serde_json::json!(reason));
        }
    }
    json(200, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(method: &str, path: &str, q: Option<&str>) -> ApprovalRoute {
        route(method, path, q).unwrap().unwrap()
    }

    fn err(method: &str, path: &str, q: Option<&str>) -> ApiError {
        route(method, path, q).unwrap().unwrap_err()
    }

    #[test]
    fn routes_parse_ids_and_queries() {
        assert_eq!(
            ok("GET", "/proposals", None),
            ApprovalRoute::List {
                status: None,
                limit: 50
            }
        );
        assert_eq!(
            ok("GET", "/proposals/", Some("status=pending&limit=3")),
            ApprovalRoute::List {
                status: Some(ProposalStatus::Pending),
                limit: 3
            }
        );
        assert_eq!(
            ok("GET", "/proposals/12", None),
            ApprovalRoute::Get { id: 12 }
        );
        assert_eq!(
            ok("POST", "/proposals/12/approve", None),
            ApprovalRoute::Approve { id: 12 }
        );
        assert_eq!(
            ok("POST", "/proposals/7/reject/", None),
            ApprovalRoute::Reject { id: 7 }
        );
        assert_eq!(
            ok("GET", "/audit", Some("limit=5&proposal=3")),
            ApprovalRoute::Audit(AuditQuery {
                limit: 5,
                proposal: Some(3),
                position: None,
                action: None,
                before: None,
            })
        );
        assert_eq!(
            ok(
                "GET",
                "/audit",
                Some("position=4&action=exit_triggered&before=90")
            ),
            ApprovalRoute::Audit(AuditQuery {
                limit: DEFAULT_AUDIT_LIMIT,
                proposal: None,
                position: Some(4),
                action: Some(AuditAction::ExitTriggered),
                before: Some(90),
            })
        );
        assert_eq!(
            ok("POST", "/kill-switch", None),
            ApprovalRoute::KillSwitchSet
        );
        assert!(route("GET", "/market/latest", None).is_none());
        assert!(route("GET", "/proposalsx", None).is_none());
    }

    #[test]
    fn bad_routes_are_404_405_or_400() {
        for p in [
            "/proposals/abc",
            "/proposals/0",
            "/proposals/-1",
            "/proposals/1/cancel",
            "/proposals/1/approve/x",
            "/proposals/99999999999999999999",
        ] {
            assert_eq!(err("GET", p, None).status, 404, "{p}");
        }
        assert_eq!(err("GET", "/proposals/1/approve", None).status, 405);
        assert_eq!(err("POST", "/proposals/1", None).status, 405);
        assert_eq!(err("DELETE", "/kill-switch", None).status, 405);
        assert_eq!(err("POST", "/proposals", None).status, 405);
        for q in [
            "status=open",
            "limit=0",
            "limit=201",
            "x=1",
            "status=pending&status=approved",
        ] {
            assert_eq!(err("GET", "/proposals", Some(q)).status, 400, "{q}");
        }
        assert_eq!(err("GET", "/audit", Some("limit=501")).status, 400);
        for q in [
            "proposal=x",
            "position=0",
            "position=-2",
            "before=x",
            "action=nope",
            "action=",
            "kind=exit_triggered",
        ] {
            let e = err("GET", "/audit", Some(q));
            assert_eq!(e.status, 400, "{q}");
        }
        assert_eq!(err("GET", "/proposals/3", Some("x=1")).status, 400);
        assert!(is_protected_path("/proposals/3/approve"));
        assert!(is_protected_path("/audit/"));
        assert!(!is_protected_path("/health"));
    }

    #[test]
    fn bodies_are_validated() {
        assert_eq!(parse_approve(b"").unwrap_err().status, 400);
        assert_eq!(parse_approve(b"  ").unwrap_err().status, 400);
        assert_eq!(parse_approve(b" {} ").unwrap(), ApproveBody::default());
        assert_eq!(
            parse_approve(br#"{"note":" ok "}"#)
                .unwrap()
                .note
                .as_deref(),
            Some("ok")
        );
        for bad in [
            &b"{"[..],
            b"[]",
            br#"{"nope":1}"#,
            br#"{"note":3}"#,
            b"\xff",
        ] {
            assert_eq!(parse_approve(bad).unwrap_err().status, 400, "{bad:?}");
        }
        assert_eq!(
            parse_reject(br#"{"reason":"too wide"}"#).unwrap().reason,
            "too wide"
        );
        for bad in [
            &b""[..],
            b"{}",
            br#"{"reason":"  "}"#,
            br#"{"reason":1}"#,
            br#"{"reason":"a\u0007"}"#,
        ] {
            assert_eq!(parse_reject(bad).unwrap_err().status, 400, "{bad:?}");
        }
        let long = format!(r#"{{"reason":"{}"}}"#, "x".repeat(501));
        assert_eq!(parse_reject(long.as_bytes()).unwrap_err().status, 400);
        let huge = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(parse_reject(&huge).unwrap_err().status, 413);
        let k = parse_kill_switch(br#"{"on":true,"reason":"drill"}"#).unwrap();
        assert!(k.on);
        assert_eq!(
            parse_kill_switch(br#"{"on":"yes","reason":"x"}"#)
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn item15_approval_503_does_not_carry_bridge_text() {
        for e in [
            BrokerCheckError::Bridge(crate::bridge::BridgeFailure::Unreachable(
                "tcp connect error 10.0.0.7:8080".into(),
            )),
            BrokerCheckError::Status(500),
            BrokerCheckError::BadAnswer,
            BrokerCheckError::NotPaper,
        ] {
            let api = broker_check_refusal(&e);
            assert_eq!(api.status, 503);
            assert_eq!(api.code, "broker_check_failed");
            assert!(!api.message.contains("10.0.0.7"), "{}", api.message);
            assert!(!api.message.contains("500"), "{}", api.message);
        }
    }
}
