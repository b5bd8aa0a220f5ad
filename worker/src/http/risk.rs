//! The risk API: its routes, request bodies and the one mapping of
//! [`RiskError`] to replies (docs/risk.md).
//!
//! - `GET /risk`: the stored trading state, the rules' view now, every
//!   limit with its use
//! - `POST /risk/state` `{"state": "halted"|"reducing"|"active", "reason",
//!   "clear"?: [cause]}`: the trader's halt and resume (audited)
//! - `GET /strategies`, `PUT /strategies` `{"strategy", "enabled", "reason"}`
//! - `GET /performance?from=YYYY-MM-DD&to=YYYY-MM-DD` (New York dates, both
//!   included; default the last 30 days)
//! - `GET /performance/shadow?from=&to=`: the shadow P&L of rejected and
//!   expired proposals decided in the range (same dates as `/performance`)
//! - `POST /risk/exits` `{"paused": bool, "reason"}`: the trader's pause of
//!   every automated exit (audited)

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sas_core::risk::HaltCause;
use serde::Deserialize;

use super::approvals::{checked_text, parse_json_body, Reply};
use super::error::{ApiError, Query};
use crate::risk::service::TargetState;
use crate::risk::{RiskError, MAX_PERFORMANCE_DAYS};

/// Default span of `GET /performance`, in days.
pub const DEFAULT_PERFORMANCE_DAYS: i64 = 30;

/// A route of the risk API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RiskRoute {
    Overview,
    SetState,
    Strategies,
    SetStrategy,
    Performance {
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    },
    Shadow {
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    },
    /// `POST /risk/exits`: the trader's pause of every automated exit.
    SetExits,
}

/// Whether `path` belongs to this API (all of it needs authentication).
pub fn is_protected_path(path: &str) -> bool {
    matches!(
        path.trim_end_matches('/'),
        "/risk"
            | "/risk/state"
            | "/risk/exits"
            | "/strategies"
            | "/performance"
            | "/performance/shadow"
    )
}

/// Matches this API's routes; `None` when the path is not one of them.
pub fn route(method: &str, path: &str, query: Option<&str>) -> Option<Result<RiskRoute, ApiError>> {
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

fn date(q: &mut Query, name: &'static str) -> Result<Option<NaiveDate>, ApiError> {
    match q.take(name) {
        None => Ok(None),
        Some(raw) => NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
            .map(Some)
            .map_err(|_| {
                ApiError::bad_request(format!(
                    "query parameter '{name}' must be a date YYYY-MM-DD"
                ))
            }),
    }
}

fn route_inner(method: &str, path: &str, query: &str) -> Result<RiskRoute, ApiError> {
    let want = |allowed: &str| ApiError::require_method(method, allowed, path);
    let mut q = Query::parse(query)?;
    let route = match (path, method) {
        ("/risk", _) => want("GET").map(|()| RiskRoute::Overview)?,
        ("/risk/state", _) => want("POST").map(|()| RiskRoute::SetState)?,
        ("/risk/exits", _) => want("POST").map(|()| RiskRoute::SetExits)?,
        ("/strategies", "GET") => RiskRoute::Strategies,
        ("/strategies", "PUT") => RiskRoute::SetStrategy,
        ("/strategies", _) => {
            return Err(ApiError::new(
                405,
                "method_not_allowed",
                "/strategies only accepts GET and PUT",
            ))
        }
        ("/performance", _) => {
            want("GET")?;
            RiskRoute::Performance {
                from: date(&mut q, "from")?,
                to: date(&mut q, "to")?,
            }
        }
        _ => {
            want("GET")?;
            RiskRoute::Shadow {
                from: date(&mut q, "from")?,
                to: date(&mut q, "to")?,
            }
        }
    };
    q.reject_unused()?;
    Ok(route)
}

/// `[from, to)` in Unix ms for New York dates `from..=to` (defaults: to =
/// today, from = 29 days before); refused when inverted or longer than
/// [`MAX_PERFORMANCE_DAYS`].
pub fn performance_range(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<(i64, i64), ApiError> {
    let to = to.unwrap_or_else(|| crate::risk::model::ny_date(now));
    let from = from.unwrap_or(to - Duration::days(DEFAULT_PERFORMANCE_DAYS - 1));
    if from > to {
        return Err(ApiError::bad_request("'from' must not be after 'to'"));
    }
    if (to - from).num_days() >= MAX_PERFORMANCE_DAYS {
        return Err(ApiError::bad_request(format!(
            "the range must be shorter than {MAX_PERFORMANCE_DAYS} days"
        )));
    }
    let start_of = |d: NaiveDate| {
        // Noon UTC is inside the New York date: its day start is that date's.
        d.and_hms_opt(12, 0, 0)
            .map(|n| crate::risk::model::ny_day_start(n.and_utc()).timestamp_millis())
            .ok_or_else(|| ApiError::bad_request("date out of range"))
    };
    let next = to
        .succ_opt()
        .ok_or_else(|| ApiError::bad_request("date out of range"))?;
    Ok((start_of(from)?, start_of(next)?))
}

/// Body of `POST /risk/state`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetStateBody {
    pub state: TargetState,
    pub reason: String,
    /// Automatic causes to clear now (raised again at the next evaluation
    /// while their condition holds).
    #[serde(default)]
    pub clear: Vec<HaltCause>,
}

/// Body of `PUT /strategies`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyBody {
    pub strategy: String,
    pub enabled: bool,
    pub reason: String,
}

/// Parses a state body (reason required).
pub fn parse_set_state(raw: &[u8]) -> Result<SetStateBody, ApiError> {
    let body: SetStateBody = parse_json_body(raw)?;
    let reason = checked_text(&body.reason, "reason", true)?.unwrap_or_default();
    if body.clear.len() > HaltCause::AUTOMATIC.len() {
        return Err(ApiError::bad_request("'clear' lists too many causes"));
    }
    Ok(SetStateBody { reason, ..body })
}

/// Parses a strategy body (reason required).
pub fn parse_strategy(raw: &[u8]) -> Result<StrategyBody, ApiError> {
    let body: StrategyBody = parse_json_body(raw)?;
    let reason = checked_text(&body.reason, "reason", true)?.unwrap_or_default();
    let strategy = checked_text(&body.strategy, "strategy", true)?.unwrap_or_default();
    Ok(StrategyBody {
        strategy,
        reason,
        ..body
    })
}

/// Body of `POST /risk/exits`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExitsBody {
    pub paused: bool,
    pub reason: String,
}

/// Parses an exits body (reason required).
pub fn parse_exits(raw: &[u8]) -> Result<ExitsBody, ApiError> {
    let body: ExitsBody = parse_json_body(raw)?;
    let reason = checked_text(&body.reason, "reason", true)?.unwrap_or_default();
    Ok(ExitsBody { reason, ..body })
}

/// A 200 (or `status`) JSON reply.
pub fn json<T: serde::Serialize>(status: u16, body: &T) -> Reply {
    match serde_json::to_string(body) {
        Ok(text) => Reply::Json(status, text),
        Err(e) => Reply::Internal(format!("serialize reply: {e}")),
    }
}

/// The one mapping of [`RiskError`] to a reply.
pub fn error_reply(e: &RiskError) -> Reply {
    match e {
        RiskError::Invalid(message) => Reply::Error(ApiError::new(400, "invalid", message.clone())),
        RiskError::Conflict => Reply::Error(ApiError::new(409, "state_changed", e.to_string())),
        RiskError::Store(_) | RiskError::StateMissing | RiskError::StateUnreadable(_) => {
            Reply::Internal(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn routes_parse_with_their_parameters() {
        assert_eq!(route("GET", "/risk", None), Some(Ok(RiskRoute::Overview)));
        assert_eq!(
            route("POST", "/risk/state/", None),
            Some(Ok(RiskRoute::SetState))
        );
        assert_eq!(
            route("PUT", "/strategies", None),
            Some(Ok(RiskRoute::SetStrategy))
        );
        assert_eq!(
            route("GET", "/performance", Some("from=2026-11-01&to=2026-11-30")),
            Some(Ok(RiskRoute::Performance {
                from: NaiveDate::from_ymd_opt(2026, 11, 1),
                to: NaiveDate::from_ymd_opt(2026, 11, 30),
            }))
        );
        assert_eq!(
            route("GET", "/performance/shadow", Some("from=2026-11-01")),
            Some(Ok(RiskRoute::Shadow {
                from: NaiveDate::from_ymd_opt(2026, 11, 1),
                to: None,
            }))
        );
        assert_eq!(
            route("POST", "/risk/exits", None),
            Some(Ok(RiskRoute::SetExits))
        );
        assert_eq!(route("GET", "/riskier", None), None);
        assert_eq!(route("GET", "/positions", None), None);
        let status =
            |m: &str, p: &str, q: Option<&str>| route(m, p, q).unwrap().unwrap_err().status;
        assert_eq!(status("POST", "/risk", None), 405);
        assert_eq!(status("GET", "/risk/state", None), 405);
        assert_eq!(status("DELETE", "/strategies", None), 405);
        assert_eq!(status("GET", "/performance", Some("from=11/01/2026")), 400);
        assert_eq!(status("GET", "/risk", Some("x=1")), 400);
        assert_eq!(status("GET", "/risk/exits", None), 405);
        assert_eq!(status("GET", "/performance/shadow", Some("to=x")), 400);
    }

    #[test]
    fn bodies_are_validated() {
        let e = parse_exits(br#"{"paused":true,"reason":" storm "}"#).unwrap();
        assert_eq!((e.paused, e.reason.as_str()), (true, "storm"));
        assert_eq!(
            parse_exits(br#"{"paused":true,"reason":""}"#)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_exits(br#"{"paused":"yes","reason":"x"}"#)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(parse_exits(b"{").unwrap_err().status, 400);
        let b = parse_set_state(br#"{"state":"halted","reason":" FOMC "}"#).unwrap();
        assert_eq!(b.state, TargetState::Halted);
        assert_eq!(b.reason, "FOMC");
        let b =
            parse_set_state(br#"{"state":"active","reason":"ok","clear":["daily_loss"]}"#).unwrap();
        assert_eq!(b.clear, vec![HaltCause::DailyLoss]);
        assert_eq!(
            parse_set_state(br#"{"state":"halted"}"#)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_set_state(br#"{"state":"paused","reason":"x"}"#)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_set_state(br#"{"state":"halted","reason":""}"#)
                .unwrap_err()
                .status,
            400
        );
        let s = parse_strategy(br#"{"strategy":"iron_condor","enabled":false,"reason":"vol"}"#)
            .unwrap();
        assert!(!s.enabled);
        assert_eq!(
            parse_strategy(br#"{"strategy":"iron_condor","enabled":false}"#)
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn the_performance_range_covers_new_york_days() {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 15, 0, 0).unwrap();
        let (from, to) = performance_range(
            NaiveDate::from_ymd_opt(2026, 12, 1),
            NaiveDate::from_ymd_opt(2026, 12, 1),
            now,
        )
        .unwrap();
        // 2026-12-01 00:00 EST = 05:00 UTC, to the next midnight.
        assert_eq!(
            from,
            Utc.with_ymd_and_hms(2026, 12, 1, 5, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(to - from, 86_400_000);
        let (from, to) = performance_range(None, None, now).unwrap();
        assert_eq!((to - from) / 86_400_000, DEFAULT_PERFORMANCE_DAYS);
        assert!(performance_range(
            NaiveDate::from_ymd_opt(2026, 12, 2),
            NaiveDate::from_ymd_opt(2026, 12, 1),
            now
        )
        .is_err());
    }

    #[test]
    fn errors_map_to_their_status() {
        let status = |e: RiskError| match error_reply(&e) {
            Reply::Error(a) => a.status,
            Reply::Internal(_) => 500,
            Reply::Json(s, _) => s,
        };
        assert_eq!(status(RiskError::Invalid("x".into())), 400);
        assert_eq!(status(RiskError::Conflict), 409);
        assert_eq!(status(RiskError::StateMissing), 500);
        assert_eq!(
            status(RiskError::Store(crate::store::StoreError("x".into()))),
            500
        );
    }
}
