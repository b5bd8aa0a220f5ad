//! Thresholds and limits of the strategy engine. Every field has a default
//! (documented on the field and in docs/strategies.md); a JSON config may
//! name only the fields it changes.

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// How far the protective (long) leg of a vertical sits from the short leg.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "unit", content = "value")]
pub enum WidthRule {
    /// This many listed strikes further out of the money.
    Strikes(u32),
    /// The listed strike nearest to this many dollars away (at least one strike).
    Dollars(f64),
}

/// Configuration of the strategy engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StrategyConfig {
    // --- expiry selection ---
    /// Shortest DTE for single-expiry trades. Default 30.
    pub min_dte: u32,
    /// Longest DTE for single-expiry trades. Default 45.
    pub max_dte: u32,
    /// Preferred DTE inside the window (nearest expiry wins). Default 35.
    pub target_dte: u32,
    /// Calendar front (sold) leg DTE window. Default 21..=35.
    pub calendar_front_min_dte: u32,
    /// See `calendar_front_min_dte`.
    pub calendar_front_max_dte: u32,
    /// Days between the calendar's front and back expiry. Default 21..=49.
    pub calendar_min_gap_days: u32,
    /// See `calendar_min_gap_days`.
    pub calendar_max_gap_days: u32,

    // --- strikes ---
    /// Short-leg |delta| band of credit spreads and condors. Default 0.20..=0.30, target 0.25.
    pub short_delta_min: f64,
    /// See `short_delta_min`.
    pub short_delta_target: f64,
    /// See `short_delta_min`.
    pub short_delta_max: f64,
    /// |delta| of a long option and of the bought leg of a debit spread. Default 0.50.
    pub long_delta_target: f64,
    /// Accepted distance from `long_delta_target`. Default 0.15 (0.35..=0.65).
    pub long_delta_tolerance: f64,
    /// Width of verticals and condor wings. Default 2 strikes.
    pub spread_width: WidthRule,
    /// Minimum credit of a credit spread as a fraction of its width. Default 0.15.
    pub min_credit_to_width: f64,

    // --- liquidity ---
    /// Minimum open interest of every leg. Default 100.
    pub min_open_interest: u64,
    /// Minimum day volume of every leg. Default 10.
    pub min_volume: u64,
    /// Maximum bid-ask width of a leg as a fraction of its mid. Default 0.15.
    pub max_leg_spread_fraction: f64,

    // --- regime thresholds ---
    /// IV rank (0-100) at or above which premium is sold. Default 50.
    pub sell_min_iv_rank: f64,
    /// Fewest days (today included) an IV rank must rest on for the regime
    /// rules to act on it; a rank on fewer days is cited, not used. A rank
    /// whose day count is not given (`RegimeInputs::iv_rank_days: None`) is
    /// used as is. Default 20 (the Worker's `IV_RANK_MIN_DAYS`).
    pub iv_rank_min_days: u32,
    /// IV minus realized vol (vol points) needed to sell premium, when known. Default 0.
    pub sell_min_iv_rv_spread: f64,
    /// IV rank at or below which premium is bought. Default 30.
    pub buy_max_iv_rank: f64,
    /// IV minus realized vol at or below which premium is bought regardless
    /// of IV rank (IV cheap versus realized). Default -2.
    pub buy_max_iv_rv_spread: f64,
    /// |trend| (score in -1..=1) at or above which the view is directional. Default 0.25.
    pub trend_threshold: f64,
    /// |trend| at or above which a buy-premium view takes an outright long
    /// option instead of a debit spread. Default 0.60.
    pub strong_trend_threshold: f64,
    /// Highest IV rank for an outright long option. Default 20.
    pub long_option_max_iv_rank: f64,
    /// 25-delta put-minus-call skew (vol points) from which puts count as
    /// rich: a neutral sell-premium view sells a put spread instead of a condor. Default 6.
    pub rich_put_skew: f64,
    /// Highest back-minus-front IV slope (vol points) for buying a calendar. Default 2.
    pub calendar_max_term_slope: f64,

    // --- pricing ---
    /// Continuously compounded risk-free rate for BSM. Default 0.04.
    pub risk_free_rate: f64,
    /// Shares per contract. Default 100.
    pub contract_multiplier: f64,
    /// Points of the payoff chart. Default 61.
    pub payoff_curve_points: usize,

    // --- exits ---
    /// Credit trades: take profit at this fraction of max profit. Default 0.50.
    pub credit_take_profit_fraction: f64,
    /// Credit trades: stop when the loss reaches this multiple of the credit. Default 2.0.
    pub credit_stop_loss_multiple: f64,
    /// Debit trades with a capped profit: take profit at this fraction of max profit. Default 0.50.
    pub debit_take_profit_fraction: f64,
    /// Long options (uncapped profit): take profit at this multiple of the debit. Default 1.0.
    pub long_option_take_profit_multiple: f64,
    /// Debit trades: stop when the loss reaches this fraction of the debit. Default 0.50.
    pub debit_stop_loss_fraction: f64,
    /// Close single-expiry trades at this many days to expiry. Default 21.
    pub time_exit_dte: u32,
    /// Close calendars at this many days to the front expiry. Default 7.
    pub calendar_time_exit_dte: u32,
    /// Optional trailing stop: give back at most this fraction of the peak
    /// open profit once the trade is profitable. Default none.
    pub trailing_stop_fraction: Option<f64>,

    // --- sizing ---
    /// Risk per trade as a fraction of net liquidation. Default 0.02.
    pub risk_per_trade_fraction: f64,
    /// Total max loss of open and pending trades as a fraction of net liquidation. Default 0.20.
    pub max_portfolio_heat_fraction: f64,
    /// Most open positions (open + pending + new). Default 5.
    pub max_open_positions: u32,
    /// Hard cap on contracts per trade. Default 50.
    pub max_contracts_per_trade: u32,

    // --- generation ---
    /// Most proposals per trading day. Default 5.
    pub max_proposals_per_day: u32,
    /// Most open or pending trades per symbol. Default 1.
    pub max_open_per_symbol: u32,
    /// Re-pricing tolerance: allowed move of the net mid, as a fraction of
    /// the proposal's |net mid|. Default 0.10.
    pub slippage_band_fraction: f64,
    /// Re-pricing tolerance floor in dollars per share. Default 0.05.
    pub min_slippage_band: f64,
}

impl Default for StrategyConfig {
    fn default() -> Self {
        Self {
            min_dte: 30,
            max_dte: 45,
            target_dte: 35,
            calendar_front_min_dte: 21,
            calendar_front_max_dte: 35,
            calendar_min_gap_days: 21,
            calendar_max_gap_days: 49,
            short_delta_min: 0.20,
            short_delta_target: 0.25,
            short_delta_max: 0.30,
            long_delta_target: 0.50,
            long_delta_tolerance: 0.15,
            spread_width: WidthRule::Strikes(2),
            min_credit_to_width: 0.15,
            min_open_interest: 100,
            min_volume: 10,
            max_leg_spread_fraction: 0.15,
            sell_min_iv_rank: 50.0,
            iv_rank_min_days: 20,
            sell_min_iv_rv_spread: 0.0,
            buy_max_iv_rank: 30.0,
            buy_max_iv_rv_spread: -2.0,
            trend_threshold: 0.25,
            strong_trend_threshold: 0.60,
            long_option_max_iv_rank: 20.0,
            rich_put_skew: 6.0,
            calendar_max_term_slope: 2.0,
            risk_free_rate: 0.04,
            contract_multiplier: 100.0,
            payoff_curve_points: 61,
            credit_take_profit_fraction: 0.50,
            credit_stop_loss_multiple: 2.0,
            debit_take_profit_fraction: 0.50,
            long_option_take_profit_multiple: 1.0,
            debit_stop_loss_fraction: 0.50,
            time_exit_dte: 21,
            calendar_time_exit_dte: 7,
            trailing_stop_fraction: None,
            risk_per_trade_fraction: 0.02,
            max_portfolio_heat_fraction: 0.20,
            max_open_positions: 5,
            max_contracts_per_trade: 50,
            max_proposals_per_day: 5,
            max_open_per_symbol: 1,
            slippage_band_fraction: 0.10,
            min_slippage_band: 0.05,
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> CoreError {
    CoreError::InvalidInput {
        field,
        reason: reason.into(),
    }
}

impl StrategyConfig {
    /// Checks every field and returns all problems at once (empty `Ok` when
    /// the config is usable).
    pub fn validate(&self) -> Result<(), Vec<CoreError>> {
        let mut errs = Vec::new();
        let mut fraction = |field: &'static str, v: f64, lo: f64, hi: f64| {
            if !(v.is_finite() && v >= lo && v <= hi) {
                errs.push(invalid(field, format!("must be in {lo}..={hi}, got {v}")));
            }
        };
        fraction("short_delta_min", self.short_delta_min, 0.01, 0.99);
        fraction("short_delta_target", self.short_delta_target, 0.01, 0.99);
        fraction("short_delta_max", self.short_delta_max, 0.01, 0.99);
        fraction("long_delta_target", self.long_delta_target, 0.01, 0.99);
        fraction("long_delta_tolerance", self.long_delta_tolerance, 0.0, 0.99);
        fraction("min_credit_to_width", self.min_credit_to_width, 0.0, 1.0);
        fraction(
            "max_leg_spread_fraction",
            self.max_leg_spread_fraction,
            0.0,
            2.0,
        );
        fraction("sell_min_iv_rank", self.sell_min_iv_rank, 0.0, 100.0);
        fraction(
            "iv_rank_min_days",
            f64::from(self.iv_rank_min_days),
            1.0,
            252.0,
        );
        fraction("buy_max_iv_rank", self.buy_max_iv_rank, 0.0, 100.0);
        fraction(
            "long_option_max_iv_rank",
            self.long_option_max_iv_rank,
            0.0,
            100.0,
        );
        fraction(
            "sell_min_iv_rv_spread",
            self.sell_min_iv_rv_spread,
            -100.0,
            100.0,
        );
        fraction(
            "buy_max_iv_rv_spread",
            self.buy_max_iv_rv_spread,
            -100.0,
            100.0,
        );
        fraction("trend_threshold", self.trend_threshold, 0.0, 1.0);
        fraction(
            "strong_trend_threshold",
            self.strong_trend_threshold,
            0.0,
            1.0,
        );
        fraction("rich_put_skew", self.rich_put_skew, -100.0, 100.0);
        fraction(
            "calendar_max_term_slope",
            self.calendar_max_term_slope,
            -100.0,
            100.0,
        );
        fraction("risk_free_rate", self.risk_free_rate, -0.2, 0.5);
        fraction(
            "contract_multiplier",
            self.contract_multiplier,
            1.0,
            10_000.0,
        );
        fraction(
            "credit_take_profit_fraction",
            self.credit_take_profit_fraction,
            0.01,
            1.0,
        );
        fraction(
            "credit_stop_loss_multiple",
            self.credit_stop_loss_multiple,
            0.1,
            100.0,
        );
        fraction(
            "debit_take_profit_fraction",
            self.debit_take_profit_fraction,
            0.01,
            1.0,
        );
        fraction(
            "long_option_take_profit_multiple",
            self.long_option_take_profit_multiple,
            0.01,
            100.0,
        );
        fraction(
            "debit_stop_loss_fraction",
            self.debit_stop_loss_fraction,
            0.01,
            1.0,
        );
        if let Some(t) = self.trailing_stop_fraction {
            fraction("trailing_stop_fraction", t, 0.01, 1.0);
        }
        fraction(
            "risk_per_trade_fraction",
            self.risk_per_trade_fraction,
            0.0,
            1.0,
        );
        fraction(
            "max_portfolio_heat_fraction",
            self.max_portfolio_heat_fraction,
            0.0,
            1.0,
        );
        fraction(
            "slippage_band_fraction",
            self.slippage_band_fraction,
            0.0,
            1.0,
        );
        fraction("min_slippage_band", self.min_slippage_band, 0.0, 100.0);
        if self.min_dte > self.max_dte {
            errs.push(invalid("min_dte", "must not exceed max_dte"));
        }
        if self.target_dte < self.min_dte || self.target_dte > self.max_dte {
            errs.push(invalid("target_dte", "must lie in min_dte..=max_dte"));
        }
        if self.calendar_front_min_dte > self.calendar_front_max_dte {
            errs.push(invalid(
                "calendar_front_min_dte",
                "must not exceed calendar_front_max_dte",
            ));
        }
        if self.calendar_min_gap_days == 0
            || self.calendar_min_gap_days > self.calendar_max_gap_days
        {
            errs.push(invalid(
                "calendar_min_gap_days",
                "must be at least 1 and not exceed calendar_max_gap_days",
            ));
        }
        if self.short_delta_min > self.short_delta_target
            || self.short_delta_target > self.short_delta_max
        {
            errs.push(invalid(
                "short_delta_target",
                "must satisfy short_delta_min <= target <= short_delta_max",
            ));
        }
        if self.buy_max_iv_rank > self.sell_min_iv_rank {
            errs.push(invalid(
                "buy_max_iv_rank",
                "must not exceed sell_min_iv_rank",
            ));
        }
        if self.trend_threshold > self.strong_trend_threshold {
            errs.push(invalid(
                "trend_threshold",
                "must not exceed strong_trend_threshold",
            ));
        }
        match self.spread_width {
            WidthRule::Strikes(0) => errs.push(invalid("spread_width", "at least 1 strike")),
            WidthRule::Dollars(d) if !(d.is_finite() && d > 0.0) => {
                errs.push(invalid("spread_width", "dollars must be positive"))
            }
            _ => {}
        }
        if !(2..=2001).contains(&self.payoff_curve_points) {
            errs.push(invalid("payoff_curve_points", "must be in 2..=2001"));
        }
        if self.max_contracts_per_trade == 0 {
            errs.push(invalid("max_contracts_per_trade", "at least 1"));
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}
