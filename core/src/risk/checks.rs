//! Pre-trade checks, run on approval and again before the bridge sends.
//!
//! They fail closed: a missing or unusable input is a refusal, never a
//! pass. Every check returns its inputs, its limit, the use it would reach
//! with the trade, and its verdict; the trade is approved only when every
//! check passes. Limits (see [`RiskConfig`]):
//! - trading state: halted refuses, reducing refuses what does not lower
//!   exposure, an underlying in cooldown refuses;
//! - max loss per trade ≤ `max_loss_per_trade_fraction` × NL;
//! - heat (open + working + approved-not-filled + this) ≤
//!   `max_heat_fraction` × NL; a heat with unknown risk is missing;
//! - open positions + 1 ≤ `max_open_positions`;
//! - positions in the trade's correlation cluster + 1 ≤
//!   `max_positions_per_cluster`;
//! - contracts ≤ the volatility-adjusted cap
//!   `floor(max_contracts_per_trade × min(1, target_vol / realized_vol))`;
//! - |net delta| after ≤ `max_net_delta_shares`, |net vega| after ≤
//!   `max_vega_fraction` × NL, |net theta| after ≤ `max_theta_fraction` ×
//!   NL (a trade that lowers the magnitude passes);
//! - buying power required ≤ buying power − `buying_power_reserve_fraction`
//!   × NL.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::RiskConfig;
use super::correlation::Clusters;
use super::state::{entry_gate, TradingState};
use crate::market::Symbol;
use crate::money::Money;
use crate::portfolio::{Heat, MarkGreeks};
use crate::strategy::StrategyKind;

/// The trade to check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradeRequest {
    pub symbol: Symbol,
    pub strategy: StrategyKind,
    pub contracts: u32,
    /// Max loss of one contract set (positive).
    pub max_loss_per_contract: Option<Money>,
    /// Greeks of one contract set: delta in shares, vega in dollars per vol
    /// point, theta in dollars per day.
    pub greeks_per_contract: Option<MarkGreeks>,
    /// Buying power one contract set uses (margin or debit).
    pub buying_power_per_contract: Option<Money>,
    /// True only for trades that reduce exposure (allowed while reducing).
    pub lowers_exposure: bool,
}

/// The book the trade must fit into (`None` = unknown = refusal).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BookInputs {
    pub net_liquidation: Option<Money>,
    /// Heat of open positions, working entries and approved-not-filled.
    pub heat: Option<Heat>,
    /// Positions (open, working or approved) per underlying.
    pub positions_by_symbol: Option<BTreeMap<Symbol, u32>>,
    /// Net greeks of the book (same units as the trade's).
    pub greeks: Option<MarkGreeks>,
    /// Buying power available at the broker.
    pub buying_power: Option<Money>,
    pub clusters: Option<Clusters>,
    /// Annualized realized volatility of the trade's underlying.
    pub realized_vol: Option<f64>,
}

/// Which check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    TradingState,
    MaxLossPerTrade,
    PortfolioHeat,
    OpenPositions,
    CorrelationCluster,
    VolatilityAdjustedSize,
    NetDelta,
    NetVega,
    NetTheta,
    BuyingPower,
}

/// One named input of a check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckInput {
    pub name: String,
    pub value: Option<f64>,
}

/// Pass or refuse, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict", content = "reason")]
pub enum Verdict {
    Pass,
    Refuse(String),
}

/// A check's inputs, limit, use with the trade, and verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub check: CheckKind,
    pub inputs: Vec<CheckInput>,
    pub limit: Option<f64>,
    pub used: Option<f64>,
    pub verdict: Verdict,
}

impl CheckResult {
    #[must_use]
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass
    }
}

/// Every check's result; approved only when all passed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreTradeReport {
    pub approved: bool,
    pub checks: Vec<CheckResult>,
}

impl PreTradeReport {
    /// The reasons of the refusing checks.
    #[must_use]
    pub fn refusals(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter_map(|c| match &c.verdict {
                Verdict::Refuse(r) => Some(format!("{:?}: {r}", c.check)),
                Verdict::Pass => None,
            })
            .collect()
    }
}

fn input(name: &str, value: Option<f64>) -> CheckInput {
    CheckInput {
        name: name.into(),
        value,
    }
}

fn positive_money(m: Option<Money>) -> Option<Money> {
    m.filter(|m| m.micros() > 0)
}

/// `floor(fixed × min(1, target / realized))`: never above `fixed`, never
/// rounded up; `None` when the realized volatility is unusable.
#[must_use]
pub fn vol_adjusted_cap(fixed: u32, realized_vol: Option<f64>, target_vol: f64) -> Option<u32> {
    let rv = realized_vol.filter(|v| v.is_finite() && *v > 0.0)?;
    if !(target_vol.is_finite() && target_vol > 0.0) {
        return None;
    }
    let raw = f64::from(fixed) * (target_vol / rv).min(1.0);
    // 0 <= raw <= fixed <= u32::MAX: the cast is exact after floor.
    let mut n = (raw.floor() as u32).min(fixed);
    while n > 0 && f64::from(n) > raw {
        n -= 1;
    }
    Some(n)
}

struct Ctx<'a> {
    req: &'a TradeRequest,
    book: &'a BookInputs,
    cfg: &'a RiskConfig,
    nl: Option<f64>,
}

fn money_check(
    check: CheckKind,
    inputs: Vec<CheckInput>,
    limit: Option<f64>,
    used: Option<f64>,
    what: &str,
) -> CheckResult {
    let verdict = match (limit, used) {
        (Some(l), Some(u)) if l.is_finite() && u.is_finite() && u <= l => Verdict::Pass,
        (Some(l), Some(u)) if l.is_finite() && u.is_finite() => {
            Verdict::Refuse(format!("{what} {u:.2} over the limit {l:.2}"))
        }
        _ => Verdict::Refuse(format!("{what}: input missing")),
    };
    CheckResult {
        check,
        inputs,
        limit,
        used,
        verdict,
    }
}

fn check_max_loss(c: &Ctx) -> CheckResult {
    let per = positive_money(c.req.max_loss_per_contract);
    let used = per.map(|p| (p * i64::from(c.req.contracts)).dollars());
    let limit = c.nl.map(|nl| nl * c.cfg.max_loss_per_trade_fraction);
    money_check(
        CheckKind::MaxLossPerTrade,
        vec![
            input("max_loss_per_contract", per.map(Money::dollars)),
            input("contracts", Some(f64::from(c.req.contracts))),
            input("net_liquidation", c.nl),
        ],
        limit,
        used,
        "trade max loss",
    )
}

fn known_heat(h: Option<&Heat>) -> Option<&Heat> {
    h.filter(|h| {
        h.unknown_risk.is_empty() && h.committed_max_loss.is_finite() && h.committed_max_loss >= 0.0
    })
}

fn check_heat(c: &Ctx) -> CheckResult {
    let heat = known_heat(c.book.heat.as_ref());
    let per = positive_money(c.req.max_loss_per_contract);
    let trade = per.map(|p| (p * i64::from(c.req.contracts)).dollars());
    let used = heat.zip(trade).map(|(h, t)| h.committed_max_loss + t);
    let limit = c.nl.map(|nl| nl * c.cfg.max_heat_fraction);
    money_check(
        CheckKind::PortfolioHeat,
        vec![
            input("committed_max_loss", heat.map(|h| h.committed_max_loss)),
            input("trade_max_loss", trade),
            input("net_liquidation", c.nl),
        ],
        limit,
        used,
        "portfolio heat",
    )
}

fn check_open_positions(c: &Ctx) -> CheckResult {
    let open = known_heat(c.book.heat.as_ref()).map(|h| h.open_positions);
    let used = open.map(|o| f64::from(o) + 1.0);
    let limit = Some(f64::from(c.cfg.max_open_positions));
    money_check(
        CheckKind::OpenPositions,
        vec![input("open_positions", open.map(f64::from))],
        limit,
        used,
        "positions",
    )
}

fn check_cluster(c: &Ctx) -> CheckResult {
    let sym = &c.req.symbol;
    let limit = f64::from(c.cfg.max_positions_per_cluster);
    let (Some(held), Some(clusters)) = (&c.book.positions_by_symbol, &c.book.clusters) else {
        return money_check(
            CheckKind::CorrelationCluster,
            vec![],
            Some(limit),
            None,
            "cluster positions",
        );
    };
    let held: Vec<(&Symbol, u32)> = held
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| (s, *n))
        .collect();
    let members = clusters.members(sym);
    let in_cluster: u32 = held
        .iter()
        .filter(|(s, _)| members.contains(s))
        .map(|(_, n)| *n)
        .sum();
    let unknown: Vec<&Symbol> = held
        .iter()
        .map(|(s, _)| *s)
        .filter(|s| clusters.is_unknown(sym, s))
        .collect();
    let used = f64::from(in_cluster) + 1.0;
    let inputs = vec![
        input("positions_in_cluster", Some(f64::from(in_cluster))),
        input("cluster_size", Some(members.len() as f64)),
    ];
    let verdict = if !unknown.is_empty() {
        Verdict::Refuse(format!(
            "correlation of {sym} with {} unknown",
            unknown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    } else if used > limit {
        Verdict::Refuse(format!(
            "cluster {} already holds {in_cluster} (cap {limit})",
            members
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("+")
        ))
    } else {
        Verdict::Pass
    };
    CheckResult {
        check: CheckKind::CorrelationCluster,
        inputs,
        limit: Some(limit),
        used: Some(used),
        verdict,
    }
}

fn check_vol_size(c: &Ctx) -> CheckResult {
    let cap = vol_adjusted_cap(
        c.cfg.max_contracts_per_trade,
        c.book.realized_vol,
        c.cfg.target_volatility,
    );
    let mut r = money_check(
        CheckKind::VolatilityAdjustedSize,
        vec![
            input("realized_vol", c.book.realized_vol),
            input("target_vol", Some(c.cfg.target_volatility)),
            input(
                "max_contracts_per_trade",
                Some(f64::from(c.cfg.max_contracts_per_trade)),
            ),
        ],
        cap.map(f64::from),
        Some(f64::from(c.req.contracts)),
        "contracts",
    );
    if c.req.contracts == 0 {
        r.verdict = Verdict::Refuse("zero contracts".into());
    }
    r
}

fn check_greek(
    c: &Ctx,
    check: CheckKind,
    pick: fn(&MarkGreeks) -> Option<f64>,
    limit: Option<f64>,
) -> CheckResult {
    let book = c
        .book
        .greeks
        .as_ref()
        .and_then(pick)
        .filter(|v| v.is_finite());
    let per = c
        .req
        .greeks_per_contract
        .as_ref()
        .and_then(pick)
        .filter(|v| v.is_finite());
    let after = book
        .zip(per)
        .map(|(b, p)| b + p * f64::from(c.req.contracts));
    let inputs = vec![
        input("book", book),
        input("per_contract", per),
        input("contracts", Some(f64::from(c.req.contracts))),
    ];
    let verdict = match (limit, book, after) {
        (Some(l), Some(b), Some(a)) if l.is_finite() => {
            if a.abs() <= l || a.abs() <= b.abs() {
                Verdict::Pass
            } else {
                Verdict::Refuse(format!("|{check:?}| {:.2} over the budget {l:.2}", a.abs()))
            }
        }
        _ => Verdict::Refuse(format!("{check:?}: input missing")),
    };
    CheckResult {
        check,
        inputs,
        limit,
        used: after.map(f64::abs),
        verdict,
    }
}

fn check_buying_power(c: &Ctx) -> CheckResult {
    let per = c.req.buying_power_per_contract.filter(|m| m.micros() >= 0);
    let used = per.map(|p| (p * i64::from(c.req.contracts)).dollars());
    let bp = c.book.buying_power.map(Money::dollars);
    let limit = bp
        .zip(c.nl)
        .map(|(bp, nl)| bp - c.cfg.buying_power_reserve_fraction * nl);
    money_check(
        CheckKind::BuyingPower,
        vec![
            input("buying_power", bp),
            input("per_contract", per.map(Money::dollars)),
            input("net_liquidation", c.nl),
        ],
        limit,
        used,
        "buying power",
    )
}

/// Runs every check on `req` against `book` in `state` at `now`.
#[must_use]
pub fn pre_trade_checks(
    req: &TradeRequest,
    book: &BookInputs,
    state: &TradingState,
    cfg: &RiskConfig,
    now: DateTime<Utc>,
) -> PreTradeReport {
    let nl = positive_money(book.net_liquidation).map(Money::dollars);
    let c = Ctx { req, book, cfg, nl };
    let gate = CheckResult {
        check: CheckKind::TradingState,
        inputs: vec![],
        limit: None,
        used: None,
        verdict: match entry_gate(state, &req.symbol, req.lowers_exposure, now) {
            Ok(()) => Verdict::Pass,
            Err(reasons) => Verdict::Refuse(reasons.join("; ")),
        },
    };
    let checks = vec![
        gate,
        check_max_loss(&c),
        check_heat(&c),
        check_open_positions(&c),
        check_cluster(&c),
        check_vol_size(&c),
        check_greek(
            &c,
            CheckKind::NetDelta,
            |g| g.delta,
            Some(cfg.max_net_delta_shares),
        ),
        check_greek(
            &c,
            CheckKind::NetVega,
            |g| g.vega,
            nl.map(|n| n * cfg.max_vega_fraction),
        ),
        check_greek(
            &c,
            CheckKind::NetTheta,
            |g| g.theta,
            nl.map(|n| n * cfg.max_theta_fraction),
        ),
        check_buying_power(&c),
    ];
    PreTradeReport {
        approved: checks.iter().all(CheckResult::passed),
        checks,
    }
}

/// The largest size (≤ the request's `contracts`, ≤ the volatility cap)
/// that passes every check (it may be one below the exact largest when a
/// float floor errs low: never above); otherwise the refused report.
pub fn size_within_limits(
    req: &TradeRequest,
    book: &BookInputs,
    state: &TradingState,
    cfg: &RiskConfig,
    now: DateTime<Utc>,
) -> Result<(u32, PreTradeReport), PreTradeReport> {
    let cap = vol_adjusted_cap(
        cfg.max_contracts_per_trade,
        book.realized_vol,
        cfg.target_volatility,
    )
    .unwrap_or(0);
    let mut n = req.contracts.min(cap);
    // Shrink fast by the money limits' floors, then verify exactly.
    if let (Some(per), Some(nl)) = (
        positive_money(req.max_loss_per_contract),
        positive_money(book.net_liquidation),
    ) {
        let room = nl.dollars() * cfg.max_loss_per_trade_fraction;
        let by_loss = (room / per.dollars()).floor();
        if by_loss.is_finite() && by_loss >= 0.0 && by_loss < f64::from(n) {
            n = by_loss as u32;
        }
    }
    let try_n = |n: u32| {
        pre_trade_checks(
            &TradeRequest {
                contracts: n,
                ..req.clone()
            },
            book,
            state,
            cfg,
            now,
        )
    };
    let mut last = None;
    for _ in 0..64 {
        if n == 0 {
            break;
        }
        let r = try_n(n);
        if r.approved {
            return Ok((n, r));
        }
        last = Some(r);
        n -= 1;
    }
    // Refused: the smallest size tried, or one contract (none when none
    // was asked) when the floors already ruled everything out.
    Err(last.unwrap_or_else(|| try_n(req.contracts.min(1))))
}
