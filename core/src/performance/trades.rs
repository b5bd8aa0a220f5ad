//! Figures from closed trades, and their attribution.
//!
//! Conventions (see docs/performance.md):
//! - a trade's P&L is its realized P&L net of commissions; a win is P&L > 0,
//!   anything else (including 0) is a loss;
//! - win rate = wins / trades; profit factor = Σ wins / |Σ losses| (`None`
//!   without a losing dollar); expectancy = mean P&L per trade (= win rate ×
//!   average win − loss rate × average |loss|);
//! - entry slippage = (fill cost − mid cost at approval) per contract set ×
//!   sets, costs signed (debit +, credit −); exit slippage = (mark value at
//!   the exit signal − fill value) × sets; positive slippage is a cost;
//! - commissions share = Σ commissions / Σ gross P&L (gross = net +
//!   commissions), `None` when the gross total is not positive.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::market::Symbol;
use crate::money::Money;
use crate::portfolio::ExitReason;
use crate::score::OpportunityScore;
use crate::strategy::StrategyKind;

/// A closed trade as the analytics need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedTrade {
    pub key: String,
    pub symbol: Symbol,
    pub strategy: StrategyKind,
    pub opened_at: DateTime<Utc>,
    pub closed_at: DateTime<Utc>,
    /// Contract sets traded.
    pub units: u32,
    /// Realized P&L net of commissions.
    pub pnl: Money,
    /// Commissions paid (positive).
    pub commissions: Money,
    /// Entry cost of one set at the fill (debit +, credit −, × multiplier).
    pub entry_fill_cost: Option<Money>,
    /// Entry cost of one set at the proposal's mid at approval.
    pub entry_mid_cost: Option<Money>,
    /// Value of one set received at the exit fill.
    pub exit_fill_value: Option<Money>,
    /// Value of one set at the mark that triggered the exit.
    pub exit_mark_value: Option<Money>,
    /// Calendar days to the front expiry at entry.
    pub dte_at_entry: Option<i64>,
    /// The score factor with the largest contribution to the proposal.
    pub driving_factor: Option<String>,
    pub exit_reason: Option<ExitReason>,
}

/// The factor that contributed most to a score (ties: first in display
/// order); `None` when nothing contributed.
#[must_use]
pub fn driving_factor(score: &OpportunityScore) -> Option<String> {
    let mut best: Option<&crate::score::FactorScore> = None;
    for f in &score.factors {
        if f.contribution.is_finite()
            && f.contribution > 0.0
            && best.is_none_or(|b| f.contribution > b.contribution)
        {
            best = Some(f);
        }
    }
    best.map(|f| f.name.clone())
}

/// Figures of a set of closed trades.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TradeStats {
    pub trades: u32,
    pub wins: u32,
    pub losses: u32,
    pub net_pnl: Money,
    pub gross_wins: Money,
    pub gross_losses: Money,
    pub win_rate: Option<f64>,
    pub profit_factor: Option<f64>,
    /// Mean net P&L per trade, dollars.
    pub expectancy: Option<f64>,
    pub average_win: Option<f64>,
    /// Mean loss as a positive number of dollars.
    pub average_loss: Option<f64>,
    pub average_holding_hours: Option<f64>,
    pub commissions: Money,
    pub commissions_share: Option<f64>,
    /// Σ entry slippage over trades that have both prices (cost +).
    pub entry_slippage: Money,
    pub entry_slippage_trades: u32,
    pub exit_slippage: Money,
    pub exit_slippage_trades: u32,
}

/// Computes [`TradeStats`] over `trades`.
#[must_use]
pub fn trade_stats<'a, I>(trades: I) -> TradeStats
where
    I: IntoIterator<Item = &'a ClosedTrade>,
{
    let mut s = TradeStats {
        trades: 0,
        wins: 0,
        losses: 0,
        net_pnl: Money::ZERO,
        gross_wins: Money::ZERO,
        gross_losses: Money::ZERO,
        win_rate: None,
        profit_factor: None,
        expectancy: None,
        average_win: None,
        average_loss: None,
        average_holding_hours: None,
        commissions: Money::ZERO,
        commissions_share: None,
        entry_slippage: Money::ZERO,
        entry_slippage_trades: 0,
        exit_slippage: Money::ZERO,
        exit_slippage_trades: 0,
    };
    let mut holding_secs = 0i64;
    for t in trades {
        s.trades += 1;
        s.net_pnl += t.pnl;
        s.commissions += t.commissions;
        if t.pnl.micros() > 0 {
            s.wins += 1;
            s.gross_wins += t.pnl;
        } else {
            s.losses += 1;
            s.gross_losses += t.pnl;
        }
        holding_secs += (t.closed_at - t.opened_at).num_seconds();
        let sets = i64::from(t.units);
        if let (Some(fill), Some(mid)) = (t.entry_fill_cost, t.entry_mid_cost) {
            s.entry_slippage += (fill - mid) * sets;
            s.entry_slippage_trades += 1;
        }
        if let (Some(fill), Some(mark)) = (t.exit_fill_value, t.exit_mark_value) {
            s.exit_slippage += (mark - fill) * sets;
            s.exit_slippage_trades += 1;
        }
    }
    if s.trades > 0 {
        let n = f64::from(s.trades);
        s.win_rate = Some(f64::from(s.wins) / n);
        s.expectancy = Some(s.net_pnl.dollars() / n);
        s.average_holding_hours = Some(holding_secs as f64 / 3600.0 / n);
    }
    if s.wins > 0 {
        s.average_win = Some(s.gross_wins.dollars() / f64::from(s.wins));
    }
    if s.losses > 0 {
        s.average_loss = Some(-s.gross_losses.dollars() / f64::from(s.losses));
    }
    if s.gross_losses.micros() < 0 {
        s.profit_factor = Some(s.gross_wins.dollars() / -s.gross_losses.dollars());
    }
    let gross = s.net_pnl + s.commissions;
    if gross.micros() > 0 {
        s.commissions_share = Some(s.commissions.dollars() / gross.dollars());
    }
    s
}

/// How trades are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Strategy,
    Underlying,
    /// `0-7`, `8-21`, `22-45`, `46+` days, or `unknown`.
    DteBucket,
    /// The score factor that drove the proposal, or `unknown`.
    DrivingFactor,
}

/// The DTE bucket name of a trade.
#[must_use]
pub fn dte_bucket(dte: Option<i64>) -> &'static str {
    match dte {
        Some(d) if d < 0 => "unknown",
        Some(0..=7) => "0-7",
        Some(8..=21) => "8-21",
        Some(22..=45) => "22-45",
        Some(_) => "46+",
        None => "unknown",
    }
}

fn group_key(t: &ClosedTrade, by: Dimension) -> String {
    match by {
        Dimension::Strategy => serde_json::to_value(t.strategy)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| format!("{:?}", t.strategy)),
        Dimension::Underlying => t.symbol.as_str().to_string(),
        Dimension::DteBucket => dte_bucket(t.dte_at_entry).to_string(),
        Dimension::DrivingFactor => t.driving_factor.clone().unwrap_or_else(|| "unknown".into()),
    }
}

/// Trade figures per group of `by`.
#[must_use]
pub fn attribution(trades: &[ClosedTrade], by: Dimension) -> BTreeMap<String, TradeStats> {
    let mut groups: BTreeMap<String, Vec<&ClosedTrade>> = BTreeMap::new();
    for t in trades {
        groups.entry(group_key(t, by)).or_default().push(t);
    }
    groups
        .into_iter()
        .map(|(k, v)| (k, trade_stats(v)))
        .collect()
}
