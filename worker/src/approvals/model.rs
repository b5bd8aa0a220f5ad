//! The approval workflow's model (pure): the conditional D1 updates that move a proposal out of
//! `pending` (each ONE statement whose `WHERE status = 'pending'` makes
//! concurrent decisions safe), the order sent to the bridge and the checks
//! that must pass before anything touches money.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sas_core::calendar::{utc_to_eastern, MarketCalendar, MarketStatus};
use sas_core::market::OptionRight;
use sas_core::strategy::{LegAction, Proposal, Repriced};
use serde::Deserialize;

use crate::bridge::BridgeFailure;
use crate::config::truncate;
use sas_bridge_api::halt::HaltRequest;

pub use crate::config::approval::*;
pub use crate::proposals::OrderState;
// The kill switch is a setting (`crate::settings`); the approvals read it.
pub use crate::settings::{kill_switch_on, KillSwitchRow};

// ---------------------------------------------------------------------------
// Conditional transitions
// ---------------------------------------------------------------------------

/// The `proposals.updated_at` assignment every statement that changes a
/// proposal carries (the archive's change key, docs/archive.md): the SQL
/// clock in Unix ms, but always past the newest key already stored, so keys
/// increase strictly in commit order (D1 runs writes one at a time). Set in
/// the statement itself, not by a trigger: a trigger's write changed what D1
/// reports as the statement's `changes`, and every compare-and-set here
/// reads it (an approval that won was answered 409).
#[macro_export]
macro_rules! next_proposal_updated_at {
    () => {
        "updated_at = MAX(CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER), \
(SELECT COALESCE(MAX(updated_at), 0) FROM proposals) + 1)"
    };
}

/// pending → approved, in ONE statement. Changes a row only when the
/// proposal is still pending, not expired at `?2` (now, Unix ms) and the kill
/// switch is explicitly off (a missing setting counts as on). Binds: `?1` id,
/// `?2` now, `?3` actor, `?4` note, `?5` limit price, `?6` contracts,
/// `?7` order request JSON. The order starts as `submitting`.
pub const APPROVE: &str = concat!(
    "UPDATE proposals SET ",
    next_proposal_updated_at!(),
    ", status = 'approved', decided_at = ?2, \
decided_by = ?3, decision_reason = ?4, approved_limit_price = ?5, approved_contracts = ?6, \
order_request = ?7, order_status = 'submitting', order_updated_at = ?2 \
WHERE id = ?1 AND status = 'pending' AND expires_at > ?2 \
AND EXISTS (SELECT 1 FROM settings WHERE key = 'kill_switch' AND value = 'off') \
AND NOT EXISTS (SELECT 1 FROM reconciliation WHERE id = 1 AND confirmed = 1 \
AND fingerprint IS NOT NULL AND drifts != '[]' \
AND (acknowledged_fingerprint IS NULL OR acknowledged_fingerprint != fingerprint)) \
AND NOT EXISTS (SELECT 1 FROM risk_state WHERE id = 1 AND mode = 'halted')"
);

/// pending → rejected (`?1` id, `?2` now, `?3` actor, `?4` reason).
pub const REJECT: &str = concat!(
    "UPDATE proposals SET ",
    next_proposal_updated_at!(),
    ", status = 'rejected', decided_at = ?2, \
decided_by = ?3, decision_reason = ?4 \
WHERE id = ?1 AND status = 'pending' AND expires_at > ?2"
);

/// pending → expired for one overdue proposal (`?1` id, `?2` now, `?3` actor).
pub const EXPIRE_ONE: &str = concat!(
    "UPDATE proposals SET ",
    next_proposal_updated_at!(),
    ", status = 'expired', decided_at = ?2, \
decided_by = ?3, decision_reason = 'not decided before it expired' \
WHERE id = ?1 AND status = 'pending' AND expires_at <= ?2"
);

/// Audit rows for every overdue pending proposal at `?1` (now) by actor
/// `?2`; run in the same batch just BEFORE [`EXPIRE_OVERDUE`] (same
/// predicate, one transaction: exactly the rows expired get an audit row).
pub const AUDIT_OVERDUE: &str = "INSERT INTO audit_log \
(at, actor, action, entity, entity_id, from_state, to_state, details) \
SELECT ?1, ?2, 'proposal_expired', 'proposal', CAST(id AS TEXT), 'pending', 'expired', \
json_object('expires_at', expires_at, 'limit_price', limit_price, 'entry_mid', entry_mid) \
FROM proposals WHERE status = 'pending' AND expires_at <= ?1";

/// pending → expired for every overdue proposal at `?1` (now) by actor `?2`.
pub const EXPIRE_OVERDUE: &str = concat!(
    "UPDATE proposals SET ",
    next_proposal_updated_at!(),
    ", status = 'expired', decided_at = ?1, \
decided_by = ?2, decision_reason = 'not decided before it expired' \
WHERE status = 'pending' AND expires_at <= ?1"
);

/// Moves an approved proposal's order from state `?8` (compare-and-set: the
/// state just read) to `?2`. Binds: `?1` id, `?2` new state, `?3` order id,
/// `?4` broker status, `?5` reason (NULL clears), `?6` attempts to add (1 when
/// this records a send), `?7` now, `?8` expected state.
pub const SET_ORDER_STATE: &str = concat!(
    "UPDATE proposals SET ",
    next_proposal_updated_at!(),
    ", order_status = ?2, \
order_id = COALESCE(?3, order_id), broker_order_status = COALESCE(?4, broker_order_status), \
order_error = ?5, order_attempts = order_attempts + ?6, order_updated_at = ?7 \
WHERE id = ?1 AND status = 'approved' AND order_status = ?8"
);

/// Claims an order for a cron resend (compare-and-set on state `?6` and
/// `order_updated_at` `?7` as read) and stores the re-priced order body.
/// Binds: `?1` id, `?2` order request JSON, `?3` limit price, `?4` contracts,
/// `?5` now, `?6` expected state, `?7` expected `order_updated_at`.
pub const CLAIM_RESEND: &str = concat!(
    "UPDATE proposals SET ",
    next_proposal_updated_at!(),
    ", order_status = 'submitting', \
order_request = ?2, approved_limit_price = ?3, approved_contracts = ?4, order_error = NULL, \
order_updated_at = ?5 \
WHERE id = ?1 AND status = 'approved' AND order_status = ?6 AND order_updated_at = ?7"
);

/// Approved proposals whose order the cron must resolve: `unknown`,
/// `submit_failed`, or `submitting` not updated for `?2` ms before `?1` (now).
/// Oldest first, at most `?3`.
pub const SELECT_ORDERS_TO_RESOLVE: &str = "SELECT id, idempotency_key, order_status, \
order_attempts, decided_at, order_updated_at, proposal_json FROM proposals \
WHERE status = 'approved' AND order_request IS NOT NULL \
AND (order_status IN ('unknown', 'submit_failed') \
OR (order_status = 'submitting' AND order_updated_at <= ?1 - ?2)) \
ORDER BY order_updated_at LIMIT ?3";

/// Row of [`SELECT_ORDERS_TO_RESOLVE`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ResolveRow {
    pub id: i64,
    pub idempotency_key: String,
    pub order_status: OrderState,
    pub order_attempts: i64,
    pub decided_at: Option<i64>,
    pub order_updated_at: Option<i64>,
    pub proposal_json: String,
}

impl ResolveRow {
    /// The facts [`retry_decision`] needs; `None` when the stored state is not
    /// one the cron resolves.
    pub fn candidate(&self) -> Option<RetryCandidate> {
        let state = self.order_status;
        matches!(
            state,
            OrderState::Unknown | OrderState::SubmitFailed | OrderState::Submitting
        )
        .then(|| RetryCandidate {
            state,
            decided_at: self.decided_at.unwrap_or(0),
            attempts: self.order_attempts,
        })
    }
}

// ---------------------------------------------------------------------------
// The order
// ---------------------------------------------------------------------------

/// The `POST /orders` body, its legs and instruments: the bridge's own types
/// (`sas_bridge_api::orders`), limit price per combo unit, positive = debit.
pub use sas_bridge_api::orders::{Instrument, OrderAction, OrderLeg, OrderRequest, TimeInForce};

/// Why no order can be built (approval refused, nothing changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBuildError(pub String);

pub use sas_core::entry::order_checks::to_cents;

/// The day limit order for an approved proposal at its re-priced numbers,
/// carrying the proposal's idempotency key unchanged.
pub fn order_request(p: &Proposal, r: &Repriced) -> Result<OrderRequest, OrderBuildError> {
    if !sas_bridge_api::is_valid_key(&p.idempotency_key) {
        return Err(OrderBuildError(
            "the proposal's idempotency key is not accepted by the bridge".into(),
        ));
    }
    // The economic checks (core), then the bridge's own validation below.
    let limit_price =
        sas_core::entry::order_checks::check(p, r).map_err(|e| OrderBuildError(e.to_string()))?;
    let legs = r
        .legs
        .iter()
        .map(|l| OrderLeg {
            instrument: Instrument::Option {
                symbol: p.symbol.clone(),
                expiry: l.expiry,
                strike: l.strike,
                right: l.right,
            },
            action: match l.action {
                LegAction::Buy => OrderAction::Buy,
                LegAction::Sell => OrderAction::Sell,
            },
            ratio: l.ratio.max(1),
        })
        .collect();
    let request = OrderRequest {
        idempotency_key: p.idempotency_key.clone(),
        legs,
        quantity: r.contracts,
        limit_price,
        tif: TimeInForce::Day,
    };
    // The bridge's own validation, so nothing it would refuse is approved.
    if let Err(errs) = request.validate() {
        let first = errs.first().map(ToString::to_string).unwrap_or_default();
        return Err(OrderBuildError(format!(
            "the bridge would refuse the order: {first}"
        )));
    }
    Ok(request)
}

pub use crate::order_answers::*;

/// The order state an answer to `POST /orders` records (approvals' states).
impl SendResult {
    /// The order state this answer records; `None` for [`SendResult::KeyExists`]
    /// (the state comes from the lookup that must follow).
    pub fn state(&self) -> Option<OrderState> {
        match self {
            SendResult::Placed { .. } => Some(OrderState::Submitted),
            SendResult::KeyExists => None,
            SendResult::Rejected { .. } => Some(OrderState::Rejected),
            SendResult::NotPlaced { .. } => Some(OrderState::SubmitFailed),
            SendResult::Unknown { .. } => Some(OrderState::Unknown),
        }
    }
}

/// The order state a broker status found by key means: any order the broker
/// took (working, filled, cancelled, expired) is `submitted` (the broker
/// status is kept beside it); `rejected` is final; `unknown` (or a status
/// this Worker does not know) stays `unknown` and is asked again.
pub fn state_of_broker_status(broker_status: &str) -> OrderState {
    match broker_status {
        "pending_submit" | "submitted" | "partially_filled" | "pending_cancel" | "filled"
        | "cancelled" | "expired" => OrderState::Submitted,
        "rejected" => OrderState::Rejected,
        _ => OrderState::Unknown,
    }
}

/// When an order may still be sent: the New York trading date of the
/// approval, and (unless market hours are ignored, as in tests) while the
/// market is open and before the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryWindow {
    pub deadline_et: NaiveTime,
    /// `MARKET_HOURS_MODE=enforce` (the default).
    pub enforce_market_hours: bool,
}

/// Why the window of an approval is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowClosed {
    /// Now is another New York trading date than the approval.
    OtherTradingDate {
        approved: NaiveDate,
        today: NaiveDate,
    },
    /// The market is not open now.
    MarketClosed { reason: String },
    /// At or after `ORDER_RETRY_DEADLINE_ET`.
    PastDeadline { deadline: NaiveTime },
}

impl std::fmt::Display for WindowClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WindowClosed::OtherTradingDate { approved, today } => write!(
                f,
                "approved on trading date {approved}, now {today}: the approval is no longer valid"
            ),
            WindowClosed::MarketClosed { reason } => write!(f, "market closed ({reason})"),
            WindowClosed::PastDeadline { deadline } => write!(
                f,
                "past the order deadline {} New York",
                deadline.format("%H:%M")
            ),
        }
    }
}

impl RetryWindow {
    /// `Ok` while an order approved at `decided_at_ms` may be sent at `now`.
    pub fn check(&self, decided_at_ms: i64, now: DateTime<Utc>) -> Result<(), WindowClosed> {
        let approved = DateTime::<Utc>::from_timestamp_millis(decided_at_ms)
            .map(|t| utc_to_eastern(t).date())
            .unwrap_or(NaiveDate::MIN);
        let local = utc_to_eastern(now);
        if approved != local.date() {
            return Err(WindowClosed::OtherTradingDate {
                approved,
                today: local.date(),
            });
        }
        if !self.enforce_market_hours {
            return Ok(());
        }
        if let MarketStatus::Closed { reason, .. } = MarketCalendar::status(now) {
            return Err(WindowClosed::MarketClosed {
                reason: reason.to_string(),
            });
        }
        if local.time() >= self.deadline_et {
            return Err(WindowClosed::PastDeadline {
                deadline: self.deadline_et,
            });
        }
        Ok(())
    }
}

/// What the cron knows about an order it must resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryCandidate {
    /// `unknown`, `submit_failed` or a stale `submitting`.
    pub state: OrderState,
    /// When the proposal was approved (Unix ms).
    pub decided_at: i64,
    /// Sends so far.
    pub attempts: i64,
}

/// What the cron does with one order, after asking the bridge by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryDecision {
    /// The broker has it: record it in this state.
    Record {
        state: OrderState,
        order_id: String,
        broker_status: String,
    },
    /// Could not tell: nothing is sent; the order moves to `state` (the same
    /// state, or `unknown` for a stale `submitting`) and is asked again.
    Wait { state: OrderState, reason: String },
    /// The broker has none and the approval is still valid: re-price with
    /// fresh quotes (same checks as the approval), then send.
    Resend,
    /// Final: never sent again.
    Abandon { reason: String },
}

/// Decides one order of the cron: `lookup` is the bridge's answer by key,
/// `kill_switch_on` the switch as just read. Never resends without the bridge
/// saying "no such order", never abandons an order that may exist.
pub fn retry_decision(
    row: &RetryCandidate,
    now: DateTime<Utc>,
    lookup: &LookupResult,
    kill_switch_on: bool,
    window: &RetryWindow,
) -> RetryDecision {
    match lookup {
        LookupResult::Found {
            order_id,
            broker_status,
        } => RetryDecision::Record {
            state: state_of_broker_status(broker_status),
            order_id: order_id.clone(),
            broker_status: broker_status.clone(),
        },
        LookupResult::Unavailable { reason } => match row.state {
            // Definitely never placed and can no longer be sent: final.
            OrderState::SubmitFailed => match window.check(row.decided_at, now) {
                Err(closed) => RetryDecision::Abandon {
                    reason: closed.to_string(),
                },
                Ok(()) => RetryDecision::Wait {
                    state: OrderState::SubmitFailed,
                    reason: reason.clone(),
                },
            },
            // May exist at the broker: keep asking.
            _ => RetryDecision::Wait {
                state: OrderState::Unknown,
                reason: reason.clone(),
            },
        },
        LookupResult::NotFound => {
            if kill_switch_on {
                return RetryDecision::Abandon {
                    reason: "the kill switch is on".into(),
                };
            }
            if row.attempts >= MAX_ORDER_ATTEMPTS {
                return RetryDecision::Abandon {
                    reason: format!("{} sends without an order", row.attempts),
                };
            }
            match window.check(row.decided_at, now) {
                Err(closed) => RetryDecision::Abandon {
                    reason: closed.to_string(),
                },
                Ok(()) => RetryDecision::Resend,
            }
        }
    }
}

/// The last check before `POST /orders`, on the kill switch read from D1
/// immediately before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendGate {
    /// Switch explicitly off: send.
    Send,
    /// Switch on (or missing): the order is abandoned, never sent.
    Abandon { reason: String },
    /// The switch could not be read: not sent now (fail closed), the order
    /// stays resolvable by the cron.
    Hold { reason: String },
}

/// [`SendGate`] from the kill-switch read (`Err` = the read failed).
pub fn send_gate(read: Result<Option<&KillSwitchRow>, &str>) -> SendGate {
    match read {
        Err(e) => SendGate::Hold {
            reason: format!("kill switch could not be read: {}", truncate(e, 80)),
        },
        Ok(row) if kill_switch_on(row) => SendGate::Abandon {
            reason: "the kill switch is on".into(),
        },
        Ok(_) => SendGate::Send,
    }
}

/// Body of the bridge's `POST /halt` mirroring the kill switch.
pub fn halt_body(halted: bool, reason: &str) -> String {
    serde_json::to_string(&HaltRequest {
        halted,
        reason: truncate(reason, 200),
    })
    .unwrap_or_default()
}

/// Why the paper-account check before an approval or order failed. Its
/// details are logged, never sent to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerCheckError {
    /// The bridge could not be asked.
    Bridge(BridgeFailure),
    /// `GET /account` answered this status.
    Status(u16),
    /// The answer is not an account.
    BadAnswer,
    /// Paper mode, but the account is not a paper account.
    NotPaper,
}

impl std::fmt::Display for BrokerCheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BrokerCheckError::Bridge(b) => write!(f, "{b}"),
            BrokerCheckError::Status(s) => write!(f, "bridge /account answered HTTP {s}"),
            BrokerCheckError::BadAnswer => f.write_str("bridge /account answer is not an account"),
            BrokerCheckError::NotPaper => {
                f.write_str("TRADING_MODE is paper but the bridge account is not a paper account")
            }
        }
    }
}

impl BrokerCheckError {
    /// A fixed text for clients and stored reasons (no bridge internals).
    pub fn public_reason(&self) -> &'static str {
        match self {
            BrokerCheckError::NotPaper => {
                "TRADING_MODE is paper but the broker account is not a paper account"
            }
            _ => "the broker account could not be checked",
        }
    }
}

/// The bridge path of the fresh quotes re-pricing needs: exactly the
/// proposal's own legs (`/chain?symbol=…&contracts=expiry:strike:right,…`),
/// a handful of market-data requests whatever the chain looks like.
pub fn reprice_chain_path(p: &Proposal) -> String {
    let contracts: Vec<String> = sas_core::strategy::requests::reprice_contracts(p)
        .iter()
        .map(|k| {
            let right = match k.right {
                OptionRight::Call => 'C',
                OptionRight::Put => 'P',
            };
            format!("{}:{}:{right}", k.expiry, k.strike)
        })
        .collect();
    format!(
        "/chain?symbol={}&contracts={}",
        p.symbol,
        contracts.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_are_single_conditional_updates() {
        for sql in [APPROVE, REJECT, EXPIRE_ONE] {
            assert!(
                sql.starts_with("UPDATE proposals SET updated_at = "),
                "{sql}"
            );
            assert!(sql.contains(", status = "), "{sql}");
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
        // Order states only move by compare-and-set on the state read: a late
        // failure can never overwrite a recorded success.
        assert!(SET_ORDER_STATE.ends_with("AND order_status = ?8"));
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
            as_of: Some(p.trade_date),
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
    }

    #[test]
    fn item14_reprice_asks_for_the_proposals_own_legs_only() {
        let p = crate::proposals::tests_support::one_proposal();
        let path = reprice_chain_path(&p);
        let (head, contracts) = path.split_once("&contracts=").unwrap();
        assert_eq!(head, format!("/chain?symbol={}", p.symbol));
        let named: Vec<&str> = contracts.split(',').collect();
        assert_eq!(named.len(), p.legs.len(), "{path}");
        for l in &p.legs {
            let right = if l.right == OptionRight::Call {
                'C'
            } else {
                'P'
            };
            assert!(
                named.contains(&format!("{}:{}:{right}", l.expiry, l.strike).as_str()),
                "{path}"
            );
        }
        // At most 8 contracts (the bridge's cap), a fraction of a second at
        // IB's pacing of about 48 snapshot requests a second.
        assert!(named.len() <= 8);
        assert!(!path.contains("min_dte") && !path.contains("strikes"));
    }

    #[test]
    fn keys_and_cents() {
        assert!(sas_bridge_api::is_valid_key(
            "2026-11-17-AAPL-bull_put_credit_spread-00ff00ff00ff00ff"
        ));
        assert_eq!(to_cents(1.234_9), 1.23);
        assert_eq!(to_cents(-0.875), -0.88);
    }

    // ---- issue 8 ----------------------------------------------------------

    fn et(y: i32, m: u32, d: u32, h: u32, min: u32) -> chrono::DateTime<chrono::Utc> {
        // November (EST, UTC-5).
        use chrono::TimeZone;
        chrono::Utc
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .unwrap()
            + chrono::Duration::hours(5)
    }

    fn window() -> RetryWindow {
        RetryWindow {
            deadline_et: chrono::NaiveTime::from_hms_opt(15, 45, 0).unwrap(),
            enforce_market_hours: true,
        }
    }

    fn candidate(state: OrderState, decided: chrono::DateTime<chrono::Utc>) -> RetryCandidate {
        RetryCandidate {
            state,
            decided_at: decided.timestamp_millis(),
            attempts: 1,
        }
    }

    /// A bridge `Order` body (the one place tests spell it: a field the
    /// bridge adds costs one line here).
    fn order_json(id: &str, key: &str, status: &str) -> String {
        serde_json::json!({
            "id": id, "idempotency_key": key, "legs": [], "quantity": 1,
            "limit_price": 1.0, "tif": "day", "status": status, "filled_quantity": 0,
            "avg_fill_price": null, "created_at": "2026-11-18T15:00:00Z",
            "updated_at": "2026-11-18T15:00:00Z", "status_message": null,
        })
        .to_string()
    }

    fn placed_json(id: &str, key: &str, status: &str, duplicate: bool) -> String {
        format!(
            r#"{{"order":{},"duplicate":{duplicate}}}"#,
            order_json(id, key, status)
        )
    }

    fn found(status: &str) -> LookupResult {
        classify_lookup(200, &order_json("9", "k1", status), "k1")
    }

    #[test]
    fn item5_bridge_answers_to_post_orders_are_classified() {
        let order = placed_json("17", "k1", "submitted", false);
        let order = order.as_str();
        assert_eq!(
            classify_order_answer(201, order, "k1"),
            SendResult::Placed {
                order_id: "17".into(),
                broker_status: "submitted".into(),
                duplicate: false
            }
        );
        let dup = placed_json("17", "k1", "filled", true);
        let dup = dup.as_str();
        assert!(matches!(
            classify_order_answer(200, dup, "k1"),
            SendResult::Placed {
                duplicate: true,
                ..
            }
        ));
        let err =
            |code: &str| format!(r#"{{"error":"{code}","message":"IB said: secret detail"}}"#);
        // Proof an order exists under the key: look it up, never "failed".
        assert_eq!(
            classify_order_answer(409, &err("idempotency_key_conflict"), "k1"),
            SendResult::KeyExists
        );
        // Final refusals: never retried.
        for (status, code) in [
            (422, "order_rejected"),
            (400, "bad_request"),
            (403, "forbidden"),
        ] {
            assert!(
                matches!(
                    classify_order_answer(status, &err(code), "k1"),
                    SendResult::Rejected { .. }
                ),
                "{status} {code}"
            );
        }
        // Definitely not placed: transient.
        for (status, code) in [
            (409, "trading_halted"),
            (409, "order_window_closed"),
            (401, "unauthorized"),
        ] {
            assert!(
                matches!(
                    classify_order_answer(status, &err(code), "k1"),
                    SendResult::NotPlaced { .. }
                ),
                "{status} {code}"
            );
        }
        // May or may not be placed: unknown, resolved by asking.
        for (status, body) in [
            // The bridge's placement runs on after a broker disconnect.
            (503, err("broker_disconnected")),
            (429, err("pacing")),
            (500, err("internal")),
            (502, err("bad_gateway")),
            (503, err("something_else")),
            (504, err("gateway_timeout")),
            (201, "not json".to_owned()),
            (200, placed_json("1", "other", "submitted", false)),
            (409, err("some_new_conflict")),
        ] {
            assert!(
                matches!(
                    classify_order_answer(status, &body, "k1"),
                    SendResult::Unknown { .. }
                ),
                "{status} {body}"
            );
        }
        assert!(matches!(
            classify_send_failure(&crate::bridge::BridgeFailure::Timeout { after_ms: 30_000 }),
            SendResult::Unknown { .. }
        ));
        // The runtime cannot tell "refused" from "reset after sending".
        assert!(matches!(
            classify_send_failure(&crate::bridge::BridgeFailure::Unreachable("refused".into())),
            SendResult::Unknown { .. }
        ));
        // What each becomes.
        assert_eq!(SendResult::KeyExists.state(), None, "needs a lookup first");
        assert_eq!(
            classify_order_answer(422, &err("order_rejected"), "k1").state(),
            Some(OrderState::Rejected)
        );
        assert_eq!(
            classify_order_answer(504, "", "k1").state(),
            Some(OrderState::Unknown)
        );
        assert_eq!(
            classify_order_answer(409, &err("trading_halted"), "k1").state(),
            Some(OrderState::SubmitFailed)
        );
        // Bridge internals never end up in the stored reason.
        let r = classify_order_answer(422, &err("order_rejected"), "k1");
        assert!(!format!("{r:?}").contains("secret"), "{r:?}");
    }

    #[test]
    fn item5_lookup_by_key_resolves_unknown_orders() {
        assert!(matches!(found("filled"), LookupResult::Found { .. }));
        assert_eq!(
            classify_lookup(404, r#"{"error":"order_not_found","message":"x"}"#, "k1"),
            LookupResult::NotFound
        );
        // A 404 that is not the bridge's "asked the broker, none" (e.g. an old
        // bridge without the route) proves nothing.
        for (status, body) in [
            (404, r#"{"error":"not_found"}"#),
            (404, ""),
            (503, r#"{"error":"broker_disconnected"}"#),
            (504, ""),
            (200, "garbage"),
            (200, order_json("9", "other", "filled").as_str()),
        ] {
            assert!(
                matches!(
                    classify_lookup(status, body, "k1"),
                    LookupResult::Unavailable { .. }
                ),
                "{status} {body}"
            );
        }
        let at = et(2026, 11, 17, 10, 0);
        let c = candidate(OrderState::Unknown, at);
        for (status, state) in [
            ("pending_submit", OrderState::Submitted),
            ("submitted", OrderState::Submitted),
            ("partially_filled", OrderState::Submitted),
            ("filled", OrderState::Submitted),
            ("cancelled", OrderState::Submitted),
            ("expired", OrderState::Submitted),
            ("rejected", OrderState::Rejected),
            ("unknown", OrderState::Unknown),
        ] {
            match retry_decision(&c, at, &found(status), false, &window()) {
                RetryDecision::Record {
                    state: s,
                    broker_status,
                    order_id,
                } => {
                    assert_eq!(s, state, "{status}");
                    assert_eq!(broker_status, status);
                    assert_eq!(order_id, "9");
                }
                other => panic!("{status}: {other:?}"),
            }
        }
        // Could not ask: an unknown order stays unknown (never resent, never
        // abandoned: it may be working), even long after its window.
        let down = LookupResult::Unavailable { reason: "x".into() };
        let late = et(2026, 11, 18, 12, 0);
        for now in [at, late] {
            assert!(matches!(
                retry_decision(&c, now, &down, false, &window()),
                RetryDecision::Wait {
                    state: OrderState::Unknown,
                    ..
                }
            ));
        }
        // A stale `submitting` (the approving request died) becomes unknown.
        assert!(matches!(
            retry_decision(
                &candidate(OrderState::Submitting, at),
                at,
                &down,
                false,
                &window()
            ),
            RetryDecision::Wait {
                state: OrderState::Unknown,
                ..
            }
        ));
    }

    #[test]
    fn item4_retry_only_inside_the_approval_window() {
        let approved = et(2026, 11, 17, 10, 0);
        let failed = candidate(OrderState::SubmitFailed, approved);
        let none = LookupResult::NotFound;
        // Same session, market open, before the deadline: re-price and resend.
        assert_eq!(
            retry_decision(&failed, et(2026, 11, 17, 11, 0), &none, false, &window()),
            RetryDecision::Resend
        );
        assert_eq!(
            retry_decision(
                &candidate(OrderState::Unknown, approved),
                et(2026, 11, 17, 11, 0),
                &none,
                false,
                &window()
            ),
            RetryDecision::Resend
        );
        // Approved 15:50 (after the deadline), retried 17:15: abandoned.
        for now in [
            et(2026, 11, 17, 15, 45),
            et(2026, 11, 17, 17, 15),
            et(2026, 11, 18, 10, 0), // next session
            et(2026, 11, 17, 9, 0),  // before the open
        ] {
            assert!(
                matches!(
                    retry_decision(&failed, now, &none, false, &window()),
                    RetryDecision::Abandon { .. }
                ),
                "{now}"
            );
        }
        // Next day even with market hours ignored (tests): other trading date.
        let ignore = RetryWindow {
            enforce_market_hours: false,
            ..window()
        };
        assert!(matches!(
            retry_decision(&failed, et(2026, 11, 18, 10, 0), &none, false, &ignore),
            RetryDecision::Abandon { .. }
        ));
        assert_eq!(
            retry_decision(&failed, et(2026, 11, 17, 20, 0), &none, false, &ignore),
            RetryDecision::Resend
        );
        // The kill switch on: nothing is resent.
        assert!(matches!(
            retry_decision(&failed, et(2026, 11, 17, 11, 0), &none, true, &window()),
            RetryDecision::Abandon { .. }
        ));
        // Attempts used up.
        let tired = RetryCandidate {
            attempts: MAX_ORDER_ATTEMPTS,
            ..failed.clone()
        };
        assert!(matches!(
            retry_decision(&tired, et(2026, 11, 17, 11, 0), &none, false, &window()),
            RetryDecision::Abandon { .. }
        ));
        // The broker has it: recorded, never resent (whatever the window).
        assert!(matches!(
            retry_decision(
                &failed,
                et(2026, 11, 18, 11, 0),
                &found("submitted"),
                false,
                &window()
            ),
            RetryDecision::Record { .. }
        ));
        // Could not ask the bridge: no resend; a definitely-not-placed order
        // past its window is final.
        let down = LookupResult::Unavailable { reason: "x".into() };
        assert!(matches!(
            retry_decision(&failed, et(2026, 11, 17, 11, 0), &down, false, &window()),
            RetryDecision::Wait {
                state: OrderState::SubmitFailed,
                ..
            }
        ));
        assert!(matches!(
            retry_decision(&failed, et(2026, 11, 18, 11, 0), &down, false, &window()),
            RetryDecision::Abandon { .. }
        ));
        // Early close (day after Thanksgiving 2026: 13:00): closed at 13:30.
        let friday = candidate(OrderState::SubmitFailed, et(2026, 11, 27, 10, 0));
        assert!(matches!(
            retry_decision(&friday, et(2026, 11, 27, 13, 30), &none, false, &window()),
            RetryDecision::Abandon { .. }
        ));
        // The retry query picks unknown orders and failed ones, not final ones.
        assert!(SELECT_ORDERS_TO_RESOLVE.contains("'unknown'"));
        assert!(!SELECT_ORDERS_TO_RESOLVE.contains("'abandoned'"));
        // Transitions are compare-and-set on the state read.
        assert!(SET_ORDER_STATE.contains("AND order_status = ?8"));
        assert!(CLAIM_RESEND.contains("AND order_status = ?6 AND order_updated_at = ?7"));
    }

    #[test]
    fn item4_order_settings_are_validated() {
        let (c, errors) = cfg(&[]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            c.orders.deadline_et,
            chrono::NaiveTime::from_hms_opt(15, 45, 0).unwrap()
        );
        assert_eq!(c.orders.order_timeout_ms, 30_000);
        let (c, errors) = cfg(&[
            ("ORDER_RETRY_DEADLINE_ET", "14:30"),
            ("BRIDGE_ORDER_TIMEOUT_MS", "250"),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            c.orders.deadline_et,
            chrono::NaiveTime::from_hms_opt(14, 30, 0).unwrap()
        );
        assert_eq!(c.orders.order_timeout_ms, 250);
        for (k, v) in [
            ("ORDER_RETRY_DEADLINE_ET", "16:30"),
            ("ORDER_RETRY_DEADLINE_ET", "9:00"),
            ("ORDER_RETRY_DEADLINE_ET", "noon"),
            ("BRIDGE_ORDER_TIMEOUT_MS", "10"),
            ("BRIDGE_ORDER_TIMEOUT_MS", "600000"),
            ("BRIDGE_ORDER_TIMEOUT_MS", "x"),
        ] {
            let (_, errors) = cfg(&[(k, v)]);
            assert_eq!(errors.len(), 1, "{k}={v}: {errors:?}");
        }
        // A stale `submitting` is only picked up after the approving request
        // had time to finish its order call.
        assert!(stale_submitting_after_ms(30_000, 5_000) > 40_000);
    }

    #[test]
    fn item6_kill_switch_is_checked_immediately_before_each_send() {
        let row = |v: &str| KillSwitchRow {
            value: v.into(),
            updated_at: 0,
            updated_by: "x".into(),
        };
        assert_eq!(send_gate(Ok(Some(&row("off")))), SendGate::Send);
        assert!(matches!(
            send_gate(Ok(Some(&row("on")))),
            SendGate::Abandon { .. }
        ));
        assert!(matches!(send_gate(Ok(None)), SendGate::Abandon { .. }));
        // A failed read never sends.
        assert!(matches!(send_gate(Err("d1 down")), SendGate::Hold { .. }));
        // The bridge mirror body.
        let b: serde_json::Value = serde_json::from_str(&halt_body(true, "drill")).unwrap();
        assert_eq!(b, serde_json::json!({"halted": true, "reason": "drill"}));
    }
}

// ---------------------------------------------------------------------------
// The stored pre-trade checks of a proposal (read path)
// ---------------------------------------------------------------------------

/// The pre-trade reports stored for proposal `?1` (`risk_checks`: the
/// approval's, and a refused resend's), newest first, at most `?2`.
pub const SELECT_RISK_CHECKS_OF_PROPOSAL: &str = "SELECT proposal_id, at, actor, approved, report \
FROM risk_checks WHERE proposal_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2";

/// Most stored reports one proposal detail lists.
pub const RISK_CHECKS_PER_PROPOSAL: u32 = 20;

/// One `risk_checks` row ([`SELECT_RISK_CHECKS_OF_PROPOSAL`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RiskCheckRow {
    pub proposal_id: i64,
    pub at: i64,
    pub actor: String,
    /// 0 | 1.
    pub approved: i64,
    /// The risk engine's verdict JSON (`crate::risk::view::RiskVerdict`).
    pub report: String,
}

impl RiskCheckRow {
    /// The typed view; an unparsable report is flagged, never an error.
    pub fn view(&self) -> crate::risk::view::StoredRiskCheck {
        crate::risk::view::StoredRiskCheck::from_stored(
            self.at,
            &self.actor,
            self.approved != 0,
            &self.report,
        )
    }
}

#[cfg(test)]
mod risk_checks_sql_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::test_sqlite::{inline, quote, Sqlite};

    fn insert(db: &Sqlite, proposal: i64, at: i64, approved: i64, report: &str) {
        db.exec(&format!(
            "{};",
            inline(
                crate::risk::model::INSERT_RISK_CHECK,
                &[
                    proposal.to_string(),
                    at.to_string(),
                    quote("api_token"),
                    approved.to_string(),
                    quote(report),
                ],
            )
        ));
    }

    #[test]
    fn the_stored_checks_of_a_proposal_read_newest_first_on_sqlite() {
        let db = Sqlite::migrated();
        let report = r#"{"approved":true,"contracts":2,"mode":"active","checks":[{"check":"max_loss_per_trade","inputs":[{"name":"max_loss","value":412.0}],"limit":500.0,"used":412.0,"verdict":{"verdict":"pass"}},{"check":"buying_power","inputs":[],"limit":null,"used":null,"verdict":{"verdict":"refuse","reason":"no net liquidation"}}],"refusals":[]}"#;
        insert(&db, 7, 1_000, 1, report);
        insert(&db, 7, 2_000, 0, "not json");
        insert(&db, 8, 3_000, 1, report);
        let rows: Vec<RiskCheckRow> = db.select_as(&inline(
            SELECT_RISK_CHECKS_OF_PROPOSAL,
            &["7".into(), RISK_CHECKS_PER_PROPOSAL.to_string()],
        ));
        assert_eq!(rows.len(), 2, "only proposal 7's");
        assert_eq!(rows[0].at, 2_000, "newest first");
        let unreadable = rows[0].view();
        assert!(unreadable.unreadable);
        assert!(!unreadable.approved);
        assert!(unreadable.checks.is_empty());
        let v = rows[1].view();
        assert!(!v.unreadable);
        assert!(v.approved);
        assert_eq!(v.actor, "api_token");
        assert_eq!(v.contracts, Some(2));
        assert_eq!(v.checks.len(), 2);
        assert_eq!(v.checks[0].name, "max_loss_per_trade");
        assert_eq!(v.checks[0].limit, Some(500.0));
        assert_eq!(v.checks[0].used, Some(412.0));
        assert_eq!(v.checks[0].verdict, "pass");
        assert_eq!(v.checks[0].inputs[0].name, "max_loss");
        assert_eq!(v.checks[1].verdict, "refuse");
        assert_eq!(v.checks[1].reason.as_deref(), Some("no net liquidation"));
        let limited: Vec<RiskCheckRow> = db.select_as(&inline(
            SELECT_RISK_CHECKS_OF_PROPOSAL,
            &["7".into(), "1".into()],
        ));
        assert_eq!(limited.len(), 1);
    }
}
