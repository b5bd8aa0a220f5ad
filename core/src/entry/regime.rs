//! A symbol's volatility snapshot (from stored or fresh chain analytics) in
//! the units the regime rules read.

use serde::{Deserialize, Serialize};

use crate::analytics::chain::ChainAnalytics;
use crate::strategy::RegimeInputs;

/// Trend score (-1..=1) per percent-per-day of the 20-day log-price slope:
/// 0.25 %/day (about 5 % over 20 sessions) is a full-strength trend.
pub const TREND_PCT_PER_DAY_AT_FULL: f64 = 0.25;

/// The volatility figures regime selection reads, in analytics units
/// (decimal vols, percent per day).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct VolSnapshot {
    pub atm_iv_30d: Option<f64>,
    pub iv_rank: Option<f64>,
    /// Days the IV rank rests on (today included), when known.
    #[serde(default)]
    pub iv_rank_days: Option<u32>,
    pub rv_20d: Option<f64>,
    pub iv_rv_spread: Option<f64>,
    pub skew_25d_30d: Option<f64>,
    pub term_slope_per_30d: Option<f64>,
    /// Percent per day, from the momentum block.
    pub trend_20d_pct_per_day: Option<f64>,
}

impl VolSnapshot {
    /// From analytics computed in this run.
    pub fn from_analytics(a: &ChainAnalytics) -> Self {
        Self {
            atm_iv_30d: a.atm_iv_30d,
            iv_rank: a.iv_rank.and_then(|r| r.iv_rank),
            iv_rank_days: a.iv_rank.and_then(|r| u32::try_from(r.days).ok()),
            rv_20d: a.rv_20d,
            iv_rv_spread: a.iv_rv_spread,
            skew_25d_30d: a.skew_25d_30d,
            term_slope_per_30d: a.term_slope_per_30d,
            trend_20d_pct_per_day: a.momentum.trend_20d_pct_per_day,
        }
    }

    /// Regime inputs in the rules' units: vol spreads in vol points (×100),
    /// the trend as a score in -1..=1 (see [`TREND_PCT_PER_DAY_AT_FULL`]);
    /// non-finite values are unknown.
    pub fn regime_inputs(&self) -> RegimeInputs {
        let points = |v: Option<f64>| v.filter(|x| x.is_finite()).map(|x| x * 100.0);
        RegimeInputs {
            iv_rank: self.iv_rank.filter(|x| x.is_finite()),
            iv_rank_days: self.iv_rank_days,
            iv_rv_spread: points(self.iv_rv_spread),
            skew_25d: points(self.skew_25d_30d),
            term_slope: points(self.term_slope_per_30d),
            trend: self
                .trend_20d_pct_per_day
                .filter(|x| x.is_finite())
                .map(|t| (t / TREND_PCT_PER_DAY_AT_FULL).clamp(-1.0, 1.0)),
            atm_iv: self.atm_iv_30d,
            realized_vol: self.rv_20d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_become_points_and_the_trend_a_bounded_score() {
        let v = VolSnapshot {
            iv_rank: Some(80.0),
            iv_rv_spread: Some(0.06),
            skew_25d_30d: Some(f64::NAN),
            trend_20d_pct_per_day: Some(1.0),
            ..VolSnapshot::default()
        };
        let r = v.regime_inputs();
        assert_eq!(r.iv_rank, Some(80.0));
        assert!((r.iv_rv_spread.unwrap_or(0.0) - 6.0).abs() < 1e-9);
        assert_eq!(r.skew_25d, None);
        assert_eq!(r.trend, Some(1.0));
        let half = VolSnapshot {
            trend_20d_pct_per_day: Some(-0.125),
            ..VolSnapshot::default()
        };
        assert_eq!(half.regime_inputs().trend, Some(-0.5));
    }
}
