//! Every risk limit in one place, with its default and a validation that
//! lists every error at once. The reasons behind each default are in
//! docs/risk.md.

use serde::{Deserialize, Serialize};

/// The risk limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RiskConfig {
    /// Halt when the day's loss reaches this fraction of the start-of-day
    /// net liquidation (default 0.03).
    pub daily_loss_fraction: f64,
    /// Halt when net liquidation falls this fraction below the session's
    /// high-water mark (default 0.10; the mark resets at the open).
    pub intraday_drawdown_fraction: f64,
    /// Halt when reconciliation reports more drifts than this (default 0:
    /// any drift halts).
    pub max_reconciliation_drifts: u32,
    /// Halt when open positions have had no trustworthy mark for this many
    /// minutes during market hours (default 5).
    pub stale_data_minutes: i64,
    /// Halt when the bridge has been unreachable this many seconds
    /// (default 60).
    pub bridge_grace_seconds: i64,
    /// Stop-outs within `stop_streak_window_minutes` that halt everything
    /// (default 3) ...
    pub stop_streak_overall: u32,
    /// ... or that put one underlying in cooldown (default 2).
    pub stop_streak_per_underlying: u32,
    /// The window counting stop-outs (default 240 minutes).
    pub stop_streak_window_minutes: i64,
    /// How long a stop-out cooldown lasts after its last stop (default 120).
    pub stop_cooldown_minutes: i64,
    /// Max loss of one trade as a fraction of net liquidation (0.02).
    pub max_loss_per_trade_fraction: f64,
    /// Max loss of everything open, working or approved as a fraction of net
    /// liquidation (0.20).
    pub max_heat_fraction: f64,
    /// Open positions, working entries and approved trades (5).
    pub max_open_positions: u32,
    /// Fixed contract cap per trade, before the volatility adjustment (10).
    pub max_contracts_per_trade: u32,
    /// Annualized realized volatility at which the fixed cap applies in
    /// full; above it the cap shrinks proportionally (0.20).
    pub target_volatility: f64,
    /// Underlyings whose daily returns correlate at least this much are one
    /// cluster (0.8).
    pub correlation_threshold: f64,
    /// Daily returns in the correlation window (60).
    pub correlation_lookback_days: usize,
    /// Fewest common daily returns for a correlation to be known (40).
    pub correlation_min_overlap: usize,
    /// Positions allowed per correlation cluster (1).
    pub max_positions_per_cluster: u32,
    /// |net delta| in share-equivalents (500).
    pub max_net_delta_shares: f64,
    /// |net vega| in dollars per vol point, as a fraction of net
    /// liquidation (0.005).
    pub max_vega_fraction: f64,
    /// |net theta| in dollars per day, as a fraction of net liquidation
    /// (0.002).
    pub max_theta_fraction: f64,
    /// Buying power kept unused, as a fraction of net liquidation (0.10).
    pub buying_power_reserve_fraction: f64,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            daily_loss_fraction: 0.03,
            intraday_drawdown_fraction: 0.10,
            max_reconciliation_drifts: 0,
            stale_data_minutes: 5,
            bridge_grace_seconds: 180,
            stop_streak_overall: 3,
            stop_streak_per_underlying: 2,
            stop_streak_window_minutes: 240,
            stop_cooldown_minutes: 120,
            max_loss_per_trade_fraction: 0.02,
            max_heat_fraction: 0.20,
            max_open_positions: 5,
            max_contracts_per_trade: 10,
            target_volatility: 0.20,
            correlation_threshold: 0.8,
            correlation_lookback_days: 60,
            correlation_min_overlap: 40,
            max_positions_per_cluster: 1,
            max_net_delta_shares: 500.0,
            max_vega_fraction: 0.005,
            max_theta_fraction: 0.002,
            buying_power_reserve_fraction: 0.10,
        }
    }
}

/// One invalid setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskConfigError {
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for RiskConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl RiskConfig {
    /// Every invalid setting (empty when the configuration is usable).
    pub fn validate(&self) -> Result<(), Vec<RiskConfigError>> {
        let mut errors = Vec::new();
        let mut fraction = |field: &'static str, v: f64, max: f64| {
            if !(v.is_finite() && v > 0.0 && v <= max) {
                errors.push(RiskConfigError {
                    field,
                    message: format!("must be in (0, {max}], got {v}"),
                });
            }
        };
        fraction("daily_loss_fraction", self.daily_loss_fraction, 1.0);
        fraction(
            "intraday_drawdown_fraction",
            self.intraday_drawdown_fraction,
            1.0,
        );
        fraction(
            "max_loss_per_trade_fraction",
            self.max_loss_per_trade_fraction,
            1.0,
        );
        fraction("max_heat_fraction", self.max_heat_fraction, 1.0);
        fraction("target_volatility", self.target_volatility, 5.0);
        fraction("correlation_threshold", self.correlation_threshold, 1.0);
        fraction("max_vega_fraction", self.max_vega_fraction, 1.0);
        fraction("max_theta_fraction", self.max_theta_fraction, 1.0);
        fraction("max_net_delta_shares", self.max_net_delta_shares, 1e9);
        if !(self.buying_power_reserve_fraction.is_finite()
            && (0.0..1.0).contains(&self.buying_power_reserve_fraction))
        {
            errors.push(RiskConfigError {
                field: "buying_power_reserve_fraction",
                message: format!(
                    "must be in [0, 1), got {}",
                    self.buying_power_reserve_fraction
                ),
            });
        }
        let mut positive = |field: &'static str, v: i64| {
            if v <= 0 {
                errors.push(RiskConfigError {
                    field,
                    message: format!("must be positive, got {v}"),
                });
            }
        };
        positive("stale_data_minutes", self.stale_data_minutes);
        positive("bridge_grace_seconds", self.bridge_grace_seconds);
        positive(
            "stop_streak_window_minutes",
            self.stop_streak_window_minutes,
        );
        positive("stop_cooldown_minutes", self.stop_cooldown_minutes);
        positive("stop_streak_overall", i64::from(self.stop_streak_overall));
        positive(
            "stop_streak_per_underlying",
            i64::from(self.stop_streak_per_underlying),
        );
        positive("max_open_positions", i64::from(self.max_open_positions));
        positive(
            "max_contracts_per_trade",
            i64::from(self.max_contracts_per_trade),
        );
        positive(
            "max_positions_per_cluster",
            i64::from(self.max_positions_per_cluster),
        );
        positive(
            "correlation_lookback_days",
            i64::try_from(self.correlation_lookback_days).unwrap_or(i64::MAX),
        );
        if self.correlation_min_overlap < 3
            || self.correlation_min_overlap > self.correlation_lookback_days
        {
            errors.push(RiskConfigError {
                field: "correlation_min_overlap",
                message: format!(
                    "must be in [3, correlation_lookback_days = {}], got {}",
                    self.correlation_lookback_days, self.correlation_min_overlap
                ),
            });
        }
        if self.max_loss_per_trade_fraction > self.max_heat_fraction {
            errors.push(RiskConfigError {
                field: "max_loss_per_trade_fraction",
                message: "must not exceed max_heat_fraction".into(),
            });
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}
