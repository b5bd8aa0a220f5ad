//! The approval workflows' outcomes and typed errors as HTTP replies (status
//! and JSON body, byte-compatible with docs/worker-api.md).

use super::service::{is_price_move, ApprovalError, Approved};
use super::{broker_check_refusal, kill_switch_on, KillSwitchRow};
use crate::audit;
use crate::error::ApiError;
use crate::proposals::{ProposalRow, ProposalView};

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

/// The kill switch as `GET /kill-switch` shows it.
pub fn kill_switch_view(row: Option<&KillSwitchRow>) -> serde_json::Value {
    serde_json::json!({
        "on": kill_switch_on(row),
        "updated_at": row.map(|r| audit::iso_ms(r.updated_at)),
        "updated_by": row.map(|r| r.updated_by.clone()),
    })
}
