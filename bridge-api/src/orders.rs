//! `POST /orders`, `GET /orders`, `GET /orders/{id}`, `GET /orders/by-key/{key}`,
//! `POST /orders/{id}/cancel` and `GET /executions`: the order, order status
//! and execution bodies, and the request validation every broker relies on
//! (a wire rule). Pure data: no I/O.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use sas_core::market::{OptionRight, Symbol};
use serde::{Deserialize, Serialize};

use crate::key::is_valid_key;

/// Most legs in one order (iron condors have four).
pub const MAX_LEGS: usize = 4;
/// Largest per-leg ratio.
pub const MAX_LEG_RATIO: u32 = 10;
/// Largest order quantity (shares, contracts or combo units) the bridge accepts.
pub const MAX_ORDER_QUANTITY: u32 = 1_000;
/// Largest absolute limit price.
pub const MAX_LIMIT_PRICE: f64 = 100_000.0;
/// Shares per option contract.
pub const OPTION_MULTIPLIER: f64 = 100.0;

/// What is traded.
///
/// Unknown fields are refused. `deny_unknown_fields` works on this
/// internally tagged enum (the `type` tag itself is consumed first); it
/// would not combine with `#[serde(flatten)]`, which is not used here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Instrument {
    /// Shares of a stock or ETF.
    Stock {
        /// Ticker.
        symbol: Symbol,
    },
    /// A US equity option (100 shares per contract).
    Option {
        /// Underlying ticker.
        symbol: Symbol,
        /// Expiry date.
        expiry: NaiveDate,
        /// Strike price.
        strike: f64,
        /// Call or put.
        right: OptionRight,
    },
}

impl Instrument {
    /// The underlying symbol.
    #[must_use]
    pub fn symbol(&self) -> &Symbol {
        match self {
            Instrument::Stock { symbol } | Instrument::Option { symbol, .. } => symbol,
        }
    }

    /// Shares represented by one unit (1 for stock, 100 for options).
    #[must_use]
    pub fn multiplier(&self) -> f64 {
        match self {
            Instrument::Stock { .. } => 1.0,
            Instrument::Option { .. } => OPTION_MULTIPLIER,
        }
    }

    /// Whether this is an option.
    #[must_use]
    pub fn is_option(&self) -> bool {
        matches!(self, Instrument::Option { .. })
    }
}

impl fmt::Display for Instrument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Instrument::Stock { symbol } => write!(f, "{symbol}"),
            Instrument::Option {
                symbol,
                expiry,
                strike,
                right,
            } => {
                let r = match right {
                    OptionRight::Call => "C",
                    OptionRight::Put => "P",
                };
                write!(f, "{symbol} {expiry} {strike} {r}")
            }
        }
    }
}

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderAction {
    /// Buy.
    #[serde(alias = "BUY")]
    Buy,
    /// Sell.
    #[serde(alias = "SELL")]
    Sell,
}

impl OrderAction {
    /// +1 for buys, -1 for sells.
    #[must_use]
    pub fn sign(self) -> f64 {
        match self {
            OrderAction::Buy => 1.0,
            OrderAction::Sell => -1.0,
        }
    }
}

/// One leg of an order (unknown fields are refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderLeg {
    /// What this leg trades.
    pub instrument: Instrument,
    /// Buy or sell this leg.
    pub action: OrderAction,
    /// Units of this leg per order unit (1 for single-leg orders).
    #[serde(default = "one")]
    pub ratio: u32,
}

fn one() -> u32 {
    1
}

/// How long an order works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    /// Until the end of the regular session.
    #[default]
    #[serde(alias = "DAY")]
    Day,
    /// Until cancelled.
    #[serde(alias = "GTC")]
    Gtc,
}

/// A limit order to place (`POST /orders`).
///
/// Single-leg orders: `limit_price > 0` is the price per share/contract.
/// Combos (2..=4 legs on one underlying): `limit_price` is the net price per
/// combo unit, positive for a debit (pay at most), negative for a credit
/// (receive at least).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    /// Caller-chosen key; the same key never places a second order.
    pub idempotency_key: String,
    /// Legs (1..=4).
    pub legs: Vec<OrderLeg>,
    /// Units (shares, contracts or combo units), 1..=1000.
    pub quantity: u32,
    /// Limit price (see type docs).
    pub limit_price: f64,
    /// Time in force (default `day`).
    #[serde(default)]
    pub tif: TimeInForce,
}

/// Why an order request is invalid: the field and a human reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderValidationError {
    /// Offending field (`legs[1].ratio`, `limit_price`, …).
    pub field: String,
    /// Why.
    pub reason: String,
}

impl fmt::Display for OrderValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl OrderRequest {
    /// Whether this is a multi-leg (combo) order.
    #[must_use]
    pub fn is_combo(&self) -> bool {
        self.legs.len() > 1
    }

    /// Checks everything that can be checked without a market: every problem
    /// is listed.
    pub fn validate(&self) -> Result<(), Vec<OrderValidationError>> {
        let mut errs = Vec::new();
        let mut err = |field: String, reason: &str| {
            errs.push(OrderValidationError {
                field,
                reason: reason.to_string(),
            });
        };
        if !is_valid_key(&self.idempotency_key) {
            err(
                "idempotency_key".into(),
                "must be 1-64 characters of A-Z a-z 0-9 _ - . :",
            );
        }
        if self.legs.is_empty() || self.legs.len() > MAX_LEGS {
            err("legs".into(), "must have 1 to 4 legs");
        }
        if self.quantity == 0 || self.quantity > MAX_ORDER_QUANTITY {
            err("quantity".into(), "must be 1..=1000");
        }
        let limit = self.limit_price;
        let on_cents = ((limit * 100.0).round() - limit * 100.0).abs() < 1e-6;
        if !limit.is_finite() || limit.abs() > MAX_LIMIT_PRICE || !on_cents {
            err(
                "limit_price".into(),
                "must be a finite price in whole cents, at most 100000 in size",
            );
        } else if !self.is_combo() && limit <= 0.0 {
            err(
                "limit_price".into(),
                "must be positive for a single-leg order",
            );
        }
        if let Some(first) = self.legs.first() {
            let underlying = first.instrument.symbol();
            for (i, leg) in self.legs.iter().enumerate() {
                if leg.ratio == 0 || leg.ratio > MAX_LEG_RATIO {
                    err(format!("legs[{i}].ratio"), "must be 1..=10");
                }
                if !self.is_combo() && leg.ratio != 1 {
                    err(
                        format!("legs[{i}].ratio"),
                        "must be 1 for a single-leg order",
                    );
                }
                if leg.instrument.symbol() != underlying {
                    err(
                        format!("legs[{i}].instrument.symbol"),
                        "all legs must share one underlying",
                    );
                }
                if let Instrument::Option { strike, .. } = &leg.instrument {
                    let cents = ((strike * 100.0).round() - strike * 100.0).abs() < 1e-6;
                    if !strike.is_finite() || *strike <= 0.0 || *strike > MAX_LIMIT_PRICE || !cents
                    {
                        err(
                            format!("legs[{i}].instrument.strike"),
                            "must be a positive price in whole cents",
                        );
                    }
                }
                if self.legs[..i]
                    .iter()
                    .any(|l| l.instrument == leg.instrument)
                {
                    err(
                        format!("legs[{i}].instrument"),
                        "the same instrument appears in two legs",
                    );
                }
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

/// Order lifecycle states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Accepted by the bridge, not yet acknowledged by the broker.
    PendingSubmit,
    /// Working at the broker.
    Submitted,
    /// Some but not all units filled.
    PartiallyFilled,
    /// Cancellation requested, not yet confirmed.
    PendingCancel,
    /// Completely filled (final).
    Filled,
    /// Cancelled (final).
    Cancelled,
    /// Rejected by the broker (final).
    Rejected,
    /// Time in force ran out or the contract expired (final).
    Expired,
    /// An order exists at the broker under this key but the bridge could
    /// not read it back (for example a combo leg's contract lookup failed),
    /// or a send failed in a way that leaves open whether the broker got it.
    /// Not final: the key blocks every new send, and a later read of the
    /// broker's orders replaces it with what the broker says.
    Unknown,
}

impl OrderStatus {
    /// Whether the order can still fill.
    #[must_use]
    pub fn is_open(self) -> bool {
        matches!(
            self,
            OrderStatus::PendingSubmit
                | OrderStatus::Submitted
                | OrderStatus::PartiallyFilled
                | OrderStatus::PendingCancel
                | OrderStatus::Unknown
        )
    }

    /// Wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingSubmit => "pending_submit",
            OrderStatus::Submitted => "submitted",
            OrderStatus::PartiallyFilled => "partially_filled",
            OrderStatus::PendingCancel => "pending_cancel",
            OrderStatus::Filled => "filled",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Expired => "expired",
            OrderStatus::Unknown => "unknown",
        }
    }
}

/// An order as the broker knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Broker order id.
    pub id: String,
    /// The caller's idempotency key.
    pub idempotency_key: String,
    /// Legs as requested.
    pub legs: Vec<OrderLeg>,
    /// Units ordered.
    pub quantity: u32,
    /// Limit (net for combos).
    pub limit_price: f64,
    /// Time in force.
    pub tif: TimeInForce,
    /// Current state.
    pub status: OrderStatus,
    /// Units filled so far.
    pub filled_quantity: u32,
    /// Average fill price per unit (net for combos), once anything filled.
    pub avg_fill_price: Option<f64>,
    /// When the bridge accepted it.
    pub created_at: DateTime<Utc>,
    /// Last state change.
    pub updated_at: DateTime<Utc>,
    /// Broker message for rejections and expiries.
    pub status_message: Option<String>,
}

impl Order {
    /// Whether `request` asks for the same order as this one (used to tell a
    /// retry from a key collision).
    #[must_use]
    pub fn matches_request(&self, request: &OrderRequest) -> bool {
        self.idempotency_key == request.idempotency_key
            && self.legs == request.legs
            && self.quantity == request.quantity
            && self.limit_price == request.limit_price
            && self.tif == request.tif
    }
}

/// Result of `POST /orders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaceOrderOutcome {
    /// The order (new, or the one placed earlier under the same key).
    pub order: Order,
    /// True when the key had been seen and nothing new was placed.
    pub duplicate: bool,
}

/// One fill of one leg.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// Execution id.
    pub exec_id: String,
    /// Order it belongs to.
    pub order_id: String,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// Instrument filled.
    pub instrument: Instrument,
    /// Side.
    pub action: OrderAction,
    /// Units of this instrument filled.
    pub quantity: u32,
    /// Price per unit.
    pub price: f64,
    /// Commission charged, in account currency. `null` until the broker
    /// reported it (IB sends the commission report after the execution).
    pub commission: Option<f64>,
    /// The order's idempotency key (IB `orderRef`), when the order carried
    /// one: joins fills to the trade that placed them.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// The broker's contract id of `instrument` (IB `conId`; the simulated
    /// broker gives a stable synthetic id), when known.
    #[serde(default)]
    pub con_id: Option<i64>,
}

/// `GET /executions` query: `key` keeps only the fills of the order placed
/// under that idempotency key (IB `orderRef`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionsQuery {
    /// Idempotency key to filter by.
    #[serde(default)]
    pub key: Option<String>,
}

/// `GET /orders` body: working orders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrdersBody {
    /// The orders.
    pub orders: Vec<Order>,
}

/// `GET /executions` body: one entry per leg fill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionsBody {
    /// The fills.
    pub executions: Vec<Execution>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn leg(json: &str) -> OrderLeg {
        serde_json::from_str(json).unwrap()
    }

    fn put(strike: f64, action: OrderAction) -> OrderLeg {
        OrderLeg {
            instrument: Instrument::Option {
                symbol: Symbol::parse("SPY").unwrap(),
                expiry: NaiveDate::from_ymd_opt(2026, 12, 18).unwrap(),
                strike,
                right: OptionRight::Put,
            },
            action,
            ratio: 1,
        }
    }

    fn request(legs: Vec<OrderLeg>, limit: f64) -> OrderRequest {
        OrderRequest {
            idempotency_key: "k-1".into(),
            legs,
            quantity: 2,
            limit_price: limit,
            tif: TimeInForce::Day,
        }
    }

    #[test]
    fn wire_form_parses() {
        let l = leg(
            r#"{"instrument":{"type":"option","symbol":"spy","expiry":"2026-12-18","strike":600,"right":"P"},"action":"SELL"}"#,
        );
        assert_eq!(l, put(600.0, OrderAction::Sell));
        let s = leg(r#"{"instrument":{"type":"stock","symbol":"AAPL"},"action":"buy","ratio":1}"#);
        assert!(!s.instrument.is_option());
        assert!(serde_json::from_str::<OrderLeg>(
            r#"{"instrument":{"type":"future","symbol":"ES"},"action":"buy"}"#
        )
        .is_err());
    }

    #[test]
    fn unknown_fields_inside_legs_and_instruments_are_refused() {
        // deny_unknown_fields on the internally tagged Instrument: the `type`
        // tag is accepted, anything else unknown is refused.
        assert!(serde_json::from_str::<OrderLeg>(
            r#"{"instrument":{"type":"stock","symbol":"AAPL"},"action":"buy","stop":1}"#
        )
        .is_err());
        assert!(serde_json::from_str::<OrderLeg>(
            r#"{"instrument":{"type":"stock","symbol":"AAPL","exchange":"ARCA"},"action":"buy"}"#
        )
        .is_err());
        assert!(serde_json::from_str::<OrderLeg>(
            r#"{"instrument":{"type":"option","symbol":"SPY","expiry":"2026-12-18","strike":600,"right":"P","multiplier":10},"action":"buy"}"#
        )
        .is_err());
        assert!(serde_json::from_str::<OrderLeg>(
            r#"{"instrument":{"type":"stock","symbol":"AAPL"},"action":"buy","ratio":1}"#
        )
        .is_ok());
    }

    #[test]
    fn credit_spread_is_valid_and_single_leg_needs_positive_limit() {
        let spread = request(
            vec![put(600.0, OrderAction::Sell), put(595.0, OrderAction::Buy)],
            -1.25,
        );
        assert_eq!(spread.validate(), Ok(()));
        let single = request(vec![put(600.0, OrderAction::Buy)], -1.0);
        let errs = single.validate().unwrap_err();
        assert_eq!(errs[0].field, "limit_price");
    }

    #[test]
    fn every_problem_is_listed() {
        let mut bad = request(
            vec![put(600.0, OrderAction::Sell), put(600.0, OrderAction::Buy)],
            1.234,
        );
        bad.idempotency_key = "has space".into();
        bad.quantity = 0;
        bad.legs[1].ratio = 11;
        let fields: Vec<String> = bad
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        for f in [
            "idempotency_key",
            "quantity",
            "limit_price",
            "legs[1].ratio",
            "legs[1].instrument",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
        }
        let empty = request(vec![], 1.0);
        assert!(empty.validate().is_err());
    }

    #[test]
    fn executions_without_the_new_fields_still_parse() {
        let e: Execution = serde_json::from_str(
            r#"{"exec_id":"x","order_id":"1","time":"2026-12-01T00:00:00Z","instrument":{"type":"stock","symbol":"SPY"},"action":"buy","quantity":1,"price":1.0,"commission":null}"#,
        )
        .unwrap();
        assert_eq!(e.idempotency_key, None);
        assert_eq!(e.con_id, None);
    }

    #[test]
    fn mixed_underlyings_refused() {
        let mut other = put(100.0, OrderAction::Buy);
        if let Instrument::Option { symbol, .. } = &mut other.instrument {
            *symbol = Symbol::parse("QQQ").unwrap();
        }
        let r = request(vec![put(600.0, OrderAction::Sell), other], 1.0);
        assert!(r.validate().unwrap_err()[0].field.contains("symbol"));
    }
}
