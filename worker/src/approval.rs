//! The approval workflow (pure): routes of the proposals API, request-body
//! parsing, the conditional D1 updates that move a proposal out of
//! `pending` (each ONE statement whose `WHERE status = 'pending'` makes
//! concurrent decisions safe), the order sent to the bridge and the checks
//! that must pass before anything touches money.

use chrono::NaiveDate;
use sas_core::market::{OptionRight, Symbol};
use sas_core::strategy::{LegAction, Proposal, Repriced};
use serde::{Deserialize, Serialize};

use sas_access_jwt::AccessPolicy;

use crate::access::AccessSettings;
use crate::api::{truncate, ApiError, Query};
use crate::audit::{DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT};
use crate::proposals::{
    ProposalLimits, ProposalStatus, DEFAULT_PROPOSALS_LIMIT, MAX_PROPOSALS_LIMIT,
};

/// Largest accepted request body, bytes.
pub const MAX_BODY_BYTES: usize = 4 * 1024;
/// Longest decision reason / note, characters.
pub const MAX_REASON_CHARS: usize = 500;
/// A failed order is retried by the cron at most this many times in all.
pub const MAX_ORDER_ATTEMPTS: i64 = 8;
/// An order still `submitting` is left alone this long before the cron
/// retries it (the approving request may still be talking to the bridge), ms.
pub const ORDER_RETRY_MIN_AGE_MS: i64 = 60_000;

/// Whether trades may go to a live account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradingMode {
    /// Orders only to a paper account (checked on the bridge before each order).
    Paper,
    /// Live trading, only when `TRADING_MODE=live` is set explicitly.
    Live,
}

impl TradingMode {
    /// The configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            TradingMode::Paper => "paper",
            TradingMode::Live => "live",
        }
    }
}

pub use sas_bridge_api::is_paper_account;

/// Most proposals per trading day accepted in configuration.
pub const MAX_PROPOSALS_PER_DAY_LIMIT: u32 = 20;

/// Validated settings of the proposal and approval workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalConfig {
    /// `TRADING_MODE`: `paper` (default) or `live` (explicit only).
    pub trading_mode: TradingMode,
    /// `MAX_PROPOSALS_PER_DAY` (default 5), `MAX_OPEN_PER_SYMBOL` (default 1),
    /// `PROPOSAL_TTL_SECONDS` (optional, 30..=86400), `MIN_OPTION_VOLUME`
    /// (optional liquidity filter override, 0..=1000000).
    pub limits: ProposalLimits,
    /// `ACCESS_TEAM_DOMAIN` + `ACCESS_AUD` (both or neither), optional
    /// `ACCESS_JWKS_URL` (refused when `ENVIRONMENT=production`).
    pub access: Option<AccessSettings>,
    /// `ENVIRONMENT` is `production` or unset (local dev sets `development`).
    pub production: bool,
}

impl ApprovalConfig {
    /// Reads the settings through `get` (trimmed, blank = unset) and appends
    /// one message per problem to `errors`.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>, errors: &mut Vec<String>) -> Self {
        // Production rules unless a local setup opts out explicitly.
        let production = match get("ENVIRONMENT").as_deref() {
            Some("development") | Some("test") => false,
            None | Some("production") => true,
            Some(_) => {
                errors.push(
                    "ENVIRONMENT must be \"development\", \"test\" or \"production\"".to_owned(),
                );
                true
            }
        };
        let trading_mode = match get("TRADING_MODE").as_deref() {
            None | Some("paper") => TradingMode::Paper,
            Some("live") => TradingMode::Live,
            Some(_) => {
                errors.push("TRADING_MODE must be \"paper\" or \"live\"".to_owned());
                TradingMode::Paper
            }
        };
        let mut int = |name: &str, default: u32, lo: u32, hi: u32| match get(name) {
            None => Some(default),
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (lo..=hi).contains(&n) => Some(n),
                _ => {
                    errors.push(format!("{name} must be an integer in {lo}..={hi}"));
                    None
                }
            },
        };
        let max_per_day =
            int("MAX_PROPOSALS_PER_DAY", 5, 1, MAX_PROPOSALS_PER_DAY_LIMIT).unwrap_or(5);
        let max_open_per_symbol = int("MAX_OPEN_PER_SYMBOL", 1, 1, 5).unwrap_or(1);
        let ttl_seconds = match get("PROPOSAL_TTL_SECONDS") {
            None => None,
            Some(_) => int("PROPOSAL_TTL_SECONDS", 0, 30, 86_400),
        };
        let min_option_volume = match get("MIN_OPTION_VOLUME") {
            None => None,
            Some(_) => int("MIN_OPTION_VOLUME", 0, 0, 1_000_000).map(u64::from),
        };
        let access = match (get("ACCESS_TEAM_DOMAIN"), get("ACCESS_AUD")) {
            (None, None) => {
                if get("ACCESS_JWKS_URL").is_some() {
                    errors.push(
                        "ACCESS_JWKS_URL is set without ACCESS_TEAM_DOMAIN and ACCESS_AUD"
                            .to_owned(),
                    );
                }
                None
            }
            (Some(team), Some(aud)) => match AccessPolicy::new(&team, &aud) {
                Err(e) => {
                    errors.push(format!("ACCESS_TEAM_DOMAIN/ACCESS_AUD are invalid: {e}"));
                    None
                }
                Ok(policy) => {
                    let jwks_url = match get("ACCESS_JWKS_URL") {
                        None => Some(policy.certs_url()),
                        Some(_) if production => {
                            errors.push("ACCESS_JWKS_URL must not be set when ENVIRONMENT=production (keys come from the team's certs URL)".to_owned());
                            None
                        }
                        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                            Some(url)
                        }
                        Some(_) => {
                            errors.push("ACCESS_JWKS_URL must be an http(s) URL".to_owned());
                            None
                        }
                    };
                    jwks_url.map(|jwks_url| AccessSettings { policy, jwks_url })
                }
            },
            _ => {
                errors.push("ACCESS_TEAM_DOMAIN and ACCESS_AUD must be set together".to_owned());
                None
            }
        };
        Self {
            trading_mode,
            limits: ProposalLimits {
                max_per_day,
                max_open_per_symbol,
                ttl_seconds,
                min_option_volume,
            },
            access,
            production,
        }
    }
}

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
    /// `GET /audit?limit=&proposal=`.
    Audit { limit: u32, proposal: Option<i64> },
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

fn method_not_allowed(path: &str, allowed: &str) -> ApiError {
    ApiError::new(
        405,
        "method_not_allowed",
        format!("{} only accepts {allowed}", truncate(path, 64)),
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
            Err(method_not_allowed(path, allowed))
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
            let proposal = match q.take("proposal") {
                None => None,
                Some(raw) => Some(parse_id(raw.trim()).ok_or_else(|| {
                    ApiError::bad_request("query parameter 'proposal' must be a proposal id")
                })?),
            };
            q.reject_unused()?;
            return Ok(ApprovalRoute::Audit { limit, proposal });
        }
        ["kill-switch"] => match method {
            "GET" => ApprovalRoute::KillSwitchGet,
            "POST" => ApprovalRoute::KillSwitchSet,
            _ => return Err(method_not_allowed(path, "GET or POST")),
        },
        _ => return Err(not_found(path)),
    };
    let q = Query::parse(query)?;
    q.reject_unused()?;
    Ok(route)
}

/// Body of `POST /proposals/{id}/approve` (optional; `{}` or empty is fine).
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

fn parse_json_body<T: for<'de> Deserialize<'de>>(raw: &[u8]) -> Result<T, ApiError> {
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

fn checked_text(value: &str, field: &str, required: bool) -> Result<Option<String>, ApiError> {
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

/// Parses an approve body: empty, or a JSON object with an optional `note`.
pub fn parse_approve(raw: &[u8]) -> Result<ApproveBody, ApiError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(ApproveBody::default());
    }
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

// ---------------------------------------------------------------------------
// Conditional transitions
// ---------------------------------------------------------------------------

/// pending → approved, in ONE statement. Changes a row only when the
/// proposal is still pending, not expired at `?2` (now, Unix ms) and the kill
/// switch is explicitly off (a missing setting counts as on). Binds: `?1` id,
/// `?2` now, `?3` actor, `?4` note, `?5` limit price, `?6` contracts,
/// `?7` order request JSON. The order starts as `submitting`.
pub const APPROVE: &str = "UPDATE proposals SET status = 'approved', decided_at = ?2, \
decided_by = ?3, decision_reason = ?4, approved_limit_price = ?5, approved_contracts = ?6, \
order_request = ?7, order_status = 'submitting', order_updated_at = ?2 \
WHERE id = ?1 AND status = 'pending' AND expires_at > ?2 \
AND EXISTS (SELECT 1 FROM settings WHERE key = 'kill_switch' AND value = 'off')";

/// pending → rejected (`?1` id, `?2` now, `?3` actor, `?4` reason).
pub const REJECT: &str = "UPDATE proposals SET status = 'rejected', decided_at = ?2, \
decided_by = ?3, decision_reason = ?4 \
WHERE id = ?1 AND status = 'pending' AND expires_at > ?2";

/// pending → expired for one overdue proposal (`?1` id, `?2` now, `?3` actor).
pub const EXPIRE_ONE: &str = "UPDATE proposals SET status = 'expired', decided_at = ?2, \
decided_by = ?3, decision_reason = 'not decided before it expired' \
WHERE id = ?1 AND status = 'pending' AND expires_at <= ?2";

/// Audit rows for every overdue pending proposal at `?1` (now) by actor
/// `?2`; run in the same batch just BEFORE [`EXPIRE_OVERDUE`] (same
/// predicate, one transaction: exactly the rows expired get an audit row).
pub const AUDIT_OVERDUE: &str = "INSERT INTO audit_log \
(at, actor, action, entity, entity_id, from_state, to_state, details) \
SELECT ?1, ?2, 'proposal_expired', 'proposal', CAST(id AS TEXT), 'pending', 'expired', \
json_object('expires_at', expires_at, 'limit_price', limit_price, 'entry_mid', entry_mid) \
FROM proposals WHERE status = 'pending' AND expires_at <= ?1";

/// pending → expired for every overdue proposal at `?1` (now) by actor `?2`.
pub const EXPIRE_OVERDUE: &str = "UPDATE proposals SET status = 'expired', decided_at = ?1, \
decided_by = ?2, decision_reason = 'not decided before it expired' \
WHERE status = 'pending' AND expires_at <= ?1";

/// Records the bridge's answer for an approved proposal's order. Only an
/// order still `submitting` or `submit_failed` changes (a late failure never
/// overwrites a success). Binds: `?1` id, `?2` order status, `?3` order id,
/// `?4` broker status, `?5` now.
pub const RECORD_ORDER: &str = "UPDATE proposals SET order_status = ?2, \
order_id = COALESCE(?3, order_id), broker_order_status = COALESCE(?4, broker_order_status), \
order_attempts = order_attempts + 1, order_updated_at = ?5 \
WHERE id = ?1 AND status = 'approved' AND order_status IN ('submitting', 'submit_failed')";

/// Approved proposals whose order must be (re)sent: `submit_failed`, or
/// `submitting` for longer than `?2` ms before `?1` (now), fewer than `?3`
/// attempts.
pub const SELECT_ORDERS_TO_RETRY: &str = "SELECT id, idempotency_key, order_request, \
order_status, order_attempts FROM proposals WHERE status = 'approved' \
AND order_request IS NOT NULL AND order_attempts < ?3 \
AND (order_status = 'submit_failed' OR (order_status = 'submitting' AND order_updated_at <= ?1 - ?2))";

/// Row of [`SELECT_ORDERS_TO_RETRY`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RetryRow {
    pub id: i64,
    pub idempotency_key: String,
    pub order_request: String,
    pub order_status: String,
    pub order_attempts: i64,
}

/// Reads the kill switch.
pub const SELECT_KILL_SWITCH: &str =
    "SELECT value, updated_at, updated_by FROM settings WHERE key = 'kill_switch'";

/// Row of [`SELECT_KILL_SWITCH`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct KillSwitchRow {
    pub value: String,
    pub updated_at: i64,
    pub updated_by: String,
}

/// Whether the kill switch blocks new entries. Fails closed: anything but an
/// explicit `off` row (missing row, unknown value) counts as ON.
pub fn kill_switch_on(row: Option<&KillSwitchRow>) -> bool {
    row.is_none_or(|r| r.value != "off")
}

/// Sets the kill switch (`?1` 'on'|'off', `?2` now, `?3` actor).
pub const SET_KILL_SWITCH: &str = "INSERT INTO settings (key, value, updated_at, updated_by) \
VALUES ('kill_switch', ?1, ?2, ?3) \
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, \
updated_by = excluded.updated_by";

// ---------------------------------------------------------------------------
// The order
// ---------------------------------------------------------------------------

/// An option contract of an order leg (bridge `Instrument::Option`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderInstrument {
    #[serde(rename = "type")]
    pub kind: String,
    pub symbol: Symbol,
    pub expiry: NaiveDate,
    pub strike: f64,
    pub right: OptionRight,
}

/// One leg of the order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLegRequest {
    pub instrument: OrderInstrument,
    pub action: String,
    pub ratio: u32,
}

/// The `POST /orders` body (see docs/bridge-api.md and the bridge's
/// `OrderRequest`): limit price per combo unit, positive = debit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRequest {
    pub idempotency_key: String,
    pub legs: Vec<OrderLegRequest>,
    pub quantity: u32,
    pub limit_price: f64,
    pub tif: String,
}

/// Why no order can be built (approval refused, nothing changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBuildError(pub String);

/// A price rounded to whole cents.
pub fn to_cents(price: f64) -> f64 {
    (price * 100.0).round() / 100.0
}

/// The day limit order for an approved proposal at its re-priced numbers,
/// carrying the proposal's idempotency key unchanged.
pub fn order_request(p: &Proposal, r: &Repriced) -> Result<OrderRequest, OrderBuildError> {
    if !sas_bridge_api::is_valid_key(&p.idempotency_key) {
        return Err(OrderBuildError(
            "the proposal's idempotency key is not accepted by the bridge".into(),
        ));
    }
    if r.legs.is_empty() || r.legs.len() > 4 {
        return Err(OrderBuildError("an order has 1 to 4 legs".into()));
    }
    if r.contracts == 0 || r.contracts > p.sizing.contracts {
        return Err(OrderBuildError(
            "re-priced size is zero or larger than proposed".into(),
        ));
    }
    let limit_price = to_cents(r.limit_price);
    if !limit_price.is_finite() || limit_price.abs() > 100_000.0 {
        return Err(OrderBuildError("limit price is not a usable price".into()));
    }
    if r.legs.len() == 1 && limit_price <= 0.0 {
        return Err(OrderBuildError(
            "a single-leg order needs a positive limit price".into(),
        ));
    }
    let legs = r
        .legs
        .iter()
        .map(|l| OrderLegRequest {
            instrument: OrderInstrument {
                kind: "option".into(),
                symbol: p.symbol.clone(),
                expiry: l.expiry,
                strike: l.strike,
                right: l.right,
            },
            action: match l.action {
                LegAction::Buy => "buy".into(),
                LegAction::Sell => "sell".into(),
            },
            ratio: l.ratio.max(1),
        })
        .collect();
    Ok(OrderRequest {
        idempotency_key: p.idempotency_key.clone(),
        legs,
        quantity: r.contracts,
        limit_price,
        tif: "day".into(),
    })
}

/// What the bridge said to `POST /orders`.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderOutcome {
    /// Accepted (201) or the same key seen before (200, `duplicate`).
    Submitted {
        order_id: String,
        broker_status: String,
        duplicate: bool,
    },
    /// Not accepted; retried later with the same key and body.
    Failed { reason: String },
}

#[derive(Deserialize)]
struct PlaceOrderAnswer {
    order: PlacedOrder,
    #[serde(default)]
    duplicate: bool,
}

#[derive(Deserialize)]
struct PlacedOrder {
    id: String,
    idempotency_key: String,
    status: String,
}

/// Interprets the bridge's answer to `POST /orders` for `key`. An answer for
/// another key is a failure (never recorded as our order).
pub fn order_outcome(status: u16, body: &str, key: &str) -> OrderOutcome {
    if !(200..=299).contains(&status) {
        let code = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "unknown".into());
        return OrderOutcome::Failed {
            reason: format!("bridge answered HTTP {status} ({})", truncate(&code, 40)),
        };
    }
    match serde_json::from_str::<PlaceOrderAnswer>(body) {
        Ok(a) if a.order.idempotency_key == key => OrderOutcome::Submitted {
            order_id: truncate(&a.order.id, 64),
            broker_status: truncate(&a.order.status, 32),
            duplicate: a.duplicate,
        },
        Ok(_) => OrderOutcome::Failed {
            reason: "bridge answered with an order of another key".into(),
        },
        Err(_) => OrderOutcome::Failed {
            reason: "bridge answer is not an order".into(),
        },
    }
}

/// The chain window that covers every leg's expiry for re-pricing quotes:
/// `(min_dte, max_dte, strikes)`.
pub fn reprice_window(p: &Proposal, today: NaiveDate) -> (u32, u32, u32) {
    let dtes: Vec<u32> = p
        .legs
        .iter()
        .map(|l| u32::try_from((l.expiry - today).num_days().max(0)).unwrap_or(u32::MAX))
        .collect();
    let min = dtes.iter().copied().min().unwrap_or(0).saturating_sub(1);
    let max = dtes
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .saturating_add(1)
        .min(730);
    (min, max.max(min), 60)
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
            ApprovalRoute::Audit {
                limit: 5,
                proposal: Some(3)
            }
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
        assert_eq!(err("GET", "/audit", Some("proposal=x")).status, 400);
        assert_eq!(err("GET", "/proposals/3", Some("x=1")).status, 400);
        assert!(is_protected_path("/proposals/3/approve"));
        assert!(is_protected_path("/audit/"));
        assert!(!is_protected_path("/health"));
    }

    #[test]
    fn bodies_are_validated() {
        assert_eq!(parse_approve(b"").unwrap(), ApproveBody::default());
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
    fn transitions_are_single_conditional_updates() {
        for sql in [APPROVE, REJECT, EXPIRE_ONE] {
            assert!(sql.starts_with("UPDATE proposals SET status = "), "{sql}");
            assert!(
                sql.contains("WHERE id = ?1 AND status = 'pending'"),
                "{sql}"
            );
            assert_eq!(sql.matches(';').count(), 0);
        }
        // Approval and rejection need an unexpired proposal; expiry an overdue one.
        assert!(APPROVE.contains("expires_at > ?2") && REJECT.contains("expires_at > ?2"));
        assert!(EXPIRE_ONE.contains("expires_at <= ?2"));
        // The kill switch is checked inside the same statement and fails closed.
        assert!(APPROVE.contains("key = 'kill_switch' AND value = 'off'"));
        // Bulk expiry audits exactly the rows it expires.
        let pred = "status = 'pending' AND expires_at <= ?1";
        assert!(AUDIT_OVERDUE.ends_with(pred) && EXPIRE_OVERDUE.ends_with(pred));
        // A late failure can never overwrite a recorded success.
        assert!(RECORD_ORDER.contains("order_status IN ('submitting', 'submit_failed')"));
    }

    fn cfg(pairs: &[(&str, &str)]) -> (ApprovalConfig, Vec<String>) {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let get = move |k: &str| map.get(k).cloned();
        let mut errors = Vec::new();
        let c = ApprovalConfig::from_lookup(&get, &mut errors);
        (c, errors)
    }

    #[test]
    fn config_defaults_to_paper_and_lists_problems() {
        let (c, errors) = cfg(&[]);
        assert!(errors.is_empty());
        assert_eq!(c.trading_mode, TradingMode::Paper);
        assert_eq!(c.limits, ProposalLimits::default());
        assert_eq!(c.access, None);
        let (c, errors) = cfg(&[
            ("ENVIRONMENT", "development"),
            ("TRADING_MODE", "live"),
            ("ACCESS_TEAM_DOMAIN", "team.cloudflareaccess.com"),
            ("ACCESS_AUD", "aud1"),
            ("ACCESS_JWKS_URL", "http://127.0.0.1:9999/certs"),
            ("PROPOSAL_TTL_SECONDS", "45"),
            ("MIN_OPTION_VOLUME", "0"),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(c.trading_mode, TradingMode::Live);
        assert_eq!(c.limits.ttl_seconds, Some(45));
        assert_eq!(c.limits.min_option_volume, Some(0));
        assert_eq!(crate::proposals::strategy_config(&c.limits).min_volume, 0);
        let a = c.access.unwrap();
        assert_eq!(a.jwks_url, "http://127.0.0.1:9999/certs");
        assert_eq!(a.policy.issuer, "https://team.cloudflareaccess.com");
        let (_, errors) = cfg(&[
            ("TRADING_MODE", "real"),
            ("ACCESS_AUD", "aud1"),
            ("PROPOSAL_TTL_SECONDS", "5"),
            ("MAX_PROPOSALS_PER_DAY", "0"),
            ("MAX_OPEN_PER_SYMBOL", "x"),
            ("ENVIRONMENT", "staging"),
        ]);
        assert_eq!(errors.len(), 6, "{errors:?}");
        // The JWKS override is a test hook: refused in production.
        let (c, errors) = cfg(&[
            ("ENVIRONMENT", "production"),
            ("ACCESS_TEAM_DOMAIN", "team.cloudflareaccess.com"),
            ("ACCESS_AUD", "aud1"),
            ("ACCESS_JWKS_URL", "http://127.0.0.1:9999/certs"),
        ]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("ACCESS_JWKS_URL"));
        assert!(c.production);
        let (c, _) = cfg(&[
            ("ACCESS_TEAM_DOMAIN", "team.cloudflareaccess.com"),
            ("ACCESS_AUD", "aud1"),
        ]);
        assert_eq!(
            c.access.unwrap().jwks_url,
            "https://team.cloudflareaccess.com/cdn-cgi/access/certs"
        );
    }

    #[test]
    fn kill_switch_fails_closed() {
        let row = |v: &str| KillSwitchRow {
            value: v.into(),
            updated_at: 0,
            updated_by: "x".into(),
        };
        assert!(!kill_switch_on(Some(&row("off"))));
        assert!(kill_switch_on(Some(&row("on"))));
        assert!(kill_switch_on(Some(&row("OFF "))));
        assert!(kill_switch_on(None));
    }

    #[test]
    fn order_outcomes() {
        let body =
            r#"{"order":{"id":"17","idempotency_key":"k1","status":"submitted"},"duplicate":true}"#;
        assert_eq!(
            order_outcome(200, body, "k1"),
            OrderOutcome::Submitted {
                order_id: "17".into(),
                broker_status: "submitted".into(),
                duplicate: true
            }
        );
        assert!(matches!(
            order_outcome(200, body, "k2"),
            OrderOutcome::Failed { .. }
        ));
        assert!(matches!(
            order_outcome(201, "nope", "k1"),
            OrderOutcome::Failed { .. }
        ));
        match order_outcome(
            409,
            r#"{"error":"idempotency_conflict","message":"x"}"#,
            "k1",
        ) {
            OrderOutcome::Failed { reason } => {
                assert!(reason.contains("409") && reason.contains("idempotency_conflict"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_order_carries_the_key_and_the_repriced_numbers() {
        use sas_core::strategy::{reprice, FreshLegQuote, FreshQuotes};
        let p = crate::proposals::tests_support::one_proposal();
        let cfg = crate::proposals::strategy_config(&ProposalLimits::default());
        // Fresh quotes equal to the snapshot: accepted, same size.
        let fresh = FreshQuotes {
            spot: Some(p.pricing.spot),
            legs: p
                .legs
                .iter()
                .map(|l| FreshLegQuote {
                    expiry: l.expiry,
                    quote: sas_core::market::OptionQuote {
                        strike: l.strike,
                        right: l.right,
                        bid: Some(l.quote.bid),
                        ask: Some(l.quote.ask),
                        last: None,
                        volume: l.quote.volume,
                        open_interest: l.quote.open_interest,
                        greeks: Default::default(),
                    },
                })
                .collect(),
        };
        let r = reprice(&p, &fresh, &cfg).unwrap();
        let o = order_request(&p, &r).unwrap();
        assert_eq!(o.idempotency_key, p.idempotency_key);
        assert_eq!(o.quantity, p.sizing.contracts);
        assert_eq!(o.legs.len(), p.legs.len());
        assert_eq!(o.limit_price, to_cents(p.metrics.net_price_mid));
        let json: serde_json::Value = serde_json::to_value(&o).unwrap();
        assert_eq!(json["legs"][0]["instrument"]["type"], "option");
        assert_eq!(json["tif"], "day");
        // A key the bridge would refuse is refused here, before any state change.
        let mut bad = p.clone();
        bad.idempotency_key = "has space".into();
        assert!(order_request(&bad, &r).is_err());
        // A re-priced size above the proposal's is refused.
        let bigger = Repriced {
            contracts: p.sizing.contracts + 1,
            ..r.clone()
        };
        assert!(order_request(&p, &bigger).is_err());
        // The re-pricing window covers every leg's expiry.
        let (lo, hi, _) = reprice_window(&p, p.trade_date);
        for l in &p.legs {
            let dte = u32::try_from((l.expiry - p.trade_date).num_days()).unwrap();
            assert!(lo <= dte && dte <= hi);
        }
    }

    #[test]
    fn keys_and_cents() {
        assert!(sas_bridge_api::is_valid_key(
            "2026-11-17-AAPL-bull_put_credit_spread-00ff00ff00ff00ff"
        ));
        assert_eq!(to_cents(1.234_9), 1.23);
        assert_eq!(to_cents(-0.875), -0.88);
    }
}
