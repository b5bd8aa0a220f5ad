//! Exit plan of a trade: take profit, stop loss, time exit, optional
//! trailing stop.
//!
//! Targets are given both as P&L in dollars per contract set and as the
//! position's mark value per share at which they trigger. The mark value is
//! signed like the entry price: `sum(sign * leg mid)` (negative for a credit
//! position), so `pnl = (mark - entry_mid) * multiplier`.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use super::analysis::TradeMetrics;
use super::config::StrategyConfig;
use super::types::StrategyKind;

/// One exit trigger.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExitTrigger {
    /// P&L in dollars per contract set at which to exit (negative for stops).
    pub pnl: f64,
    /// Position mark value per share at which the P&L is reached.
    pub mark_value: f64,
}

/// The exit plan of one proposal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExitPlan {
    pub take_profit: ExitTrigger,
    pub stop_loss: ExitTrigger,
    /// True when the configured stop was beyond the max loss and was capped
    /// there (the stop then only triggers at the worst case).
    pub stop_capped_at_max_loss: bool,
    /// Exit at this many days to the (front) expiry ...
    pub time_exit_dte: u32,
    /// ... i.e. on this date.
    pub time_exit_date: NaiveDate,
    /// Give back at most this fraction of the peak open profit, when set.
    pub trailing_stop_fraction: Option<f64>,
}

/// Builds the exit plan from the trade's numbers (mid entry).
pub fn exit_plan(
    kind: StrategyKind,
    metrics: &TradeMetrics,
    front_expiry: NaiveDate,
    cfg: &StrategyConfig,
) -> ExitPlan {
    let mult = cfg.contract_multiplier;
    let entry = metrics.net_price_mid;
    let premium = entry.abs() * mult;
    let (tp, sl) = if kind.is_credit() {
        let max_profit = metrics.max_profit.unwrap_or(premium);
        (
            cfg.credit_take_profit_fraction * max_profit,
            -cfg.credit_stop_loss_multiple * premium,
        )
    } else {
        let tp = match metrics.max_profit {
            Some(p) => cfg.debit_take_profit_fraction * p,
            None => cfg.long_option_take_profit_multiple * premium,
        };
        (tp, -cfg.debit_stop_loss_fraction * premium)
    };
    let capped = -sl > metrics.max_loss;
    let sl = if capped { -metrics.max_loss } else { sl };
    let dte = if kind.is_calendar() {
        cfg.calendar_time_exit_dte
    } else {
        cfg.time_exit_dte
    };
    let time_exit_date = front_expiry
        .checked_sub_days(Days::new(u64::from(dte)))
        .unwrap_or(front_expiry);
    let trigger = |pnl: f64| ExitTrigger {
        pnl,
        mark_value: entry + pnl / mult,
    };
    ExitPlan {
        take_profit: trigger(tp),
        stop_loss: trigger(sl),
        stop_capped_at_max_loss: capped,
        time_exit_dte: dte,
        time_exit_date,
        trailing_stop_fraction: cfg.trailing_stop_fraction,
    }
}
