//! Settings of the risk engine (docs/risk.md): every limit of
//! [`sas_core::risk::RiskConfig`] from `RISK_*` variables, plus the Worker's
//! own freshness bounds. Read once with every error listed: each bad value
//! is one message, and [`RiskConfig::validate`] adds the cross-field rules.
//!
//! Percentages are given in percent (`RISK_DAILY_LOSS_PCT=3` is 3 %), counts
//! and durations as integers. Unset or blank variables take the defaults.

use sas_core::risk::RiskConfig;

/// Validated risk settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRiskConfig {
    /// The limits (core).
    pub limits: RiskConfig,
    /// `RISK_ACCOUNT_MAX_AGE_SECS` (300): a bridge account older than this
    /// is missing (net liquidation and buying power unknown: refusal).
    pub account_max_age_secs: i64,
    /// `RISK_MAX_BAR_AGE_DAYS` (7): daily bars whose newest bar is older than
    /// this many calendar days are missing (correlation and realized
    /// volatility unknown: refusal).
    pub max_bar_age_days: i64,
    /// `RISK_REALIZED_VOL_DAYS` (20): daily returns behind the realized
    /// volatility of the volatility-adjusted size.
    pub realized_vol_days: usize,
}

impl Default for WorkerRiskConfig {
    fn default() -> Self {
        WorkerRiskConfig {
            limits: RiskConfig::default(),
            account_max_age_secs: 300,
            max_bar_age_days: 7,
            realized_vol_days: 20,
        }
    }
}

/// A decimal variable: `None` (unset) → the default; a bad value is listed.
fn decimal(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: f64,
    min: f64,
    max: f64,
    errors: &mut Vec<String>,
) -> f64 {
    match get(name) {
        None => default,
        Some(raw) => match raw.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && (min..=max).contains(&v) => v,
            _ => {
                errors.push(format!("{name} must be a number in {min}..={max}"));
                default
            }
        },
    }
}

/// An integer variable in `min..=max`.
fn integer(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: i64,
    min: i64,
    max: i64,
    errors: &mut Vec<String>,
) -> i64 {
    match get(name) {
        None => default,
        Some(raw) => match raw.trim().parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => v,
            _ => {
                errors.push(format!("{name} must be an integer in {min}..={max}"));
                default
            }
        },
    }
}

fn count(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u32,
    min: u32,
    max: u32,
    errors: &mut Vec<String>,
) -> u32 {
    let v = integer(
        get,
        name,
        i64::from(default),
        i64::from(min),
        i64::from(max),
        errors,
    );
    u32::try_from(v).unwrap_or(default)
}

impl WorkerRiskConfig {
    /// Reads the settings through `get`, pushing one message per bad value
    /// (then one per rule [`RiskConfig::validate`] finds broken).
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>, errors: &mut Vec<String>) -> Self {
        let d = RiskConfig::default();
        let pct = |name: &str, default: f64, max: f64, errors: &mut Vec<String>| {
            decimal(get, name, default * 100.0, 0.0, max, errors) / 100.0
        };
        let limits = RiskConfig {
            daily_loss_fraction: pct("RISK_DAILY_LOSS_PCT", d.daily_loss_fraction, 100.0, errors),
            intraday_drawdown_fraction: pct(
                "RISK_INTRADAY_DRAWDOWN_PCT",
                d.intraday_drawdown_fraction,
                100.0,
                errors,
            ),
            max_reconciliation_drifts: count(
                get,
                "RISK_MAX_RECONCILIATION_DRIFTS",
                d.max_reconciliation_drifts,
                0,
                100,
                errors,
            ),
            stale_data_minutes: integer(
                get,
                "RISK_STALE_DATA_MINUTES",
                d.stale_data_minutes,
                1,
                390,
                errors,
            ),
            bridge_grace_seconds: integer(
                get,
                "RISK_BRIDGE_GRACE_SECS",
                d.bridge_grace_seconds,
                30,
                3_600,
                errors,
            ),
            stop_streak_overall: count(
                get,
                "RISK_STOP_STREAK_OVERALL",
                d.stop_streak_overall,
                1,
                50,
                errors,
            ),
            stop_streak_per_underlying: count(
                get,
                "RISK_STOP_STREAK_PER_UNDERLYING",
                d.stop_streak_per_underlying,
                1,
                50,
                errors,
            ),
            stop_streak_window_minutes: integer(
                get,
                "RISK_STOP_STREAK_WINDOW_MINUTES",
                d.stop_streak_window_minutes,
                1,
                10_080,
                errors,
            ),
            stop_cooldown_minutes: integer(
                get,
                "RISK_STOP_COOLDOWN_MINUTES",
                d.stop_cooldown_minutes,
                1,
                10_080,
                errors,
            ),
            max_loss_per_trade_fraction: pct(
                "RISK_MAX_LOSS_PER_TRADE_PCT",
                d.max_loss_per_trade_fraction,
                100.0,
                errors,
            ),
            max_heat_fraction: pct("RISK_MAX_HEAT_PCT", d.max_heat_fraction, 100.0, errors),
            max_open_positions: count(
                get,
                "RISK_MAX_OPEN_POSITIONS",
                d.max_open_positions,
                1,
                100,
                errors,
            ),
            max_contracts_per_trade: count(
                get,
                "RISK_MAX_CONTRACTS_PER_TRADE",
                d.max_contracts_per_trade,
                1,
                1_000,
                errors,
            ),
            target_volatility: pct("RISK_TARGET_VOL_PCT", d.target_volatility, 500.0, errors),
            correlation_threshold: decimal(
                get,
                "RISK_CORRELATION_THRESHOLD",
                d.correlation_threshold,
                0.0,
                1.0,
                errors,
            ),
            correlation_lookback_days: usize::try_from(integer(
                get,
                "RISK_CORRELATION_LOOKBACK_DAYS",
                60,
                3,
                250,
                errors,
            ))
            .unwrap_or(d.correlation_lookback_days),
            correlation_min_overlap: usize::try_from(integer(
                get,
                "RISK_CORRELATION_MIN_OVERLAP",
                40,
                3,
                250,
                errors,
            ))
            .unwrap_or(d.correlation_min_overlap),
            max_positions_per_cluster: count(
                get,
                "RISK_MAX_POSITIONS_PER_CLUSTER",
                d.max_positions_per_cluster,
                1,
                100,
                errors,
            ),
            max_net_delta_shares: decimal(
                get,
                "RISK_MAX_NET_DELTA_SHARES",
                d.max_net_delta_shares,
                0.0,
                1e9,
                errors,
            ),
            max_vega_fraction: pct("RISK_MAX_VEGA_PCT", d.max_vega_fraction, 100.0, errors),
            max_theta_fraction: pct("RISK_MAX_THETA_PCT", d.max_theta_fraction, 100.0, errors),
            buying_power_reserve_fraction: pct(
                "RISK_BUYING_POWER_RESERVE_PCT",
                d.buying_power_reserve_fraction,
                100.0,
                errors,
            ),
        };
        if let Err(list) = limits.validate() {
            for e in list {
                errors.push(format!("risk limits: {e}"));
            }
        }
        let dw = WorkerRiskConfig::default();
        let account_max_age_secs = integer(
            get,
            "RISK_ACCOUNT_MAX_AGE_SECS",
            dw.account_max_age_secs,
            10,
            3_600,
            errors,
        );
        let max_bar_age_days = integer(
            get,
            "RISK_MAX_BAR_AGE_DAYS",
            dw.max_bar_age_days,
            1,
            30,
            errors,
        );
        let realized_vol_days =
            usize::try_from(integer(get, "RISK_REALIZED_VOL_DAYS", 20, 2, 250, errors))
                .unwrap_or(dw.realized_vol_days);
        WorkerRiskConfig {
            limits,
            account_max_age_secs,
            max_bar_age_days,
            realized_vol_days,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> (WorkerRiskConfig, Vec<String>) {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let mut errors = Vec::new();
        let cfg = WorkerRiskConfig::from_lookup(&get, &mut errors);
        (cfg, errors)
    }

    #[test]
    fn unset_settings_take_the_documented_defaults() {
        let (cfg, errors) = read(&[]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cfg, WorkerRiskConfig::default());
        assert!((cfg.limits.daily_loss_fraction - 0.03).abs() < 1e-12);
        assert!((cfg.limits.max_vega_fraction - 0.005).abs() < 1e-12);
    }

    #[test]
    fn every_bad_setting_is_listed() {
        let (_, errors) = read(&[
            ("RISK_DAILY_LOSS_PCT", "three"),
            ("RISK_MAX_OPEN_POSITIONS", "0"),
            ("RISK_CORRELATION_THRESHOLD", "1.5"),
            ("RISK_ACCOUNT_MAX_AGE_SECS", "-1"),
            ("RISK_STALE_DATA_MINUTES", "NaN"),
        ]);
        assert_eq!(errors.len(), 5, "{errors:?}");
    }

    #[test]
    fn cross_field_rules_of_core_are_listed_too() {
        // Parsed fine one by one, but the trade limit exceeds the heat limit
        // and the overlap exceeds the lookback.
        let (_, errors) = read(&[
            ("RISK_MAX_LOSS_PER_TRADE_PCT", "30"),
            ("RISK_MAX_HEAT_PCT", "20"),
            ("RISK_CORRELATION_LOOKBACK_DAYS", "30"),
            ("RISK_CORRELATION_MIN_OVERLAP", "40"),
        ]);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors.iter().all(|e| e.starts_with("risk limits: ")));
    }

    #[test]
    fn a_zero_percent_limit_is_refused_by_validation() {
        let (_, errors) = read(&[("RISK_DAILY_LOSS_PCT", "0")]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("daily_loss_fraction"));
    }

    #[test]
    fn settings_are_applied() {
        let (cfg, errors) = read(&[
            ("RISK_DAILY_LOSS_PCT", "1.5"),
            ("RISK_MAX_POSITIONS_PER_CLUSTER", "2"),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert!((cfg.limits.daily_loss_fraction - 0.015).abs() < 1e-12);
        assert_eq!(cfg.limits.max_positions_per_cluster, 2);
    }
}
