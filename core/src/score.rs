//! Multi-factor opportunity score (0-100) for one underlying.
//!
//! The user's formula is `Score = 3·Volatility + 2·IV rank + 1.5·Volume +
//! 1·Momentum`, normalized to 0-100. Volatility is measured by two factors
//! that share its weight of 3: realized volatility (2) and the intraday
//! high-low range (1).
//!
//! Every factor is mapped to 0-100 by a FIXED piecewise-linear curve (see
//! [`FactorKind::breakpoints`] and `docs/analytics.md`), so one symbol's score
//! never depends on which other symbols are being scored. The score is
//! `Σ weight·normalized / Σ weight` over ALL weighted factors: a missing factor
//! is shown with `normalized: None` and contributes 0 but keeps its weight in
//! the denominator, so a symbol with fewer measured factors cannot outrank a
//! fully measured one by accident. `coverage` reports the share of the total
//! weight that was measured. Nothing here produces NaN: non-finite inputs count
//! as missing and non-finite or negative weights count as 0.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::market::Symbol;
use crate::CoreError;

/// Measured inputs of the score. `None` = not available for this symbol.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct FactorInputs {
    /// Annualized realized volatility as a decimal (0.30 = 30 %).
    pub realized_vol: Option<f64>,
    /// Latest session's high-low range in percent of its low (2.5 = 2.5 %).
    pub range_pct: Option<f64>,
    /// Today's cumulative volume divided by the average cumulative volume of
    /// earlier days at the same time of day (1.0 = normal).
    pub volume_ratio: Option<f64>,
    /// Volume z-score against a 20-day baseline (daily bars). Used for the
    /// Volume factor only when `volume_ratio` is absent.
    pub volume_zscore: Option<f64>,
    /// Rate of change in percent over the latest session (signed).
    pub momentum_pct: Option<f64>,
    /// IV rank over the last 252 trading days, 0-100.
    pub iv_rank: Option<f64>,
}

/// Weight of each factor; any non-negative finite numbers (they are divided
/// by their sum). Defaults follow the user's formula.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ScoreWeights {
    pub realized_vol: f64,
    pub range: f64,
    pub iv_rank: f64,
    pub volume: f64,
    pub momentum: f64,
}

impl Default for ScoreWeights {
    fn default() -> Self {
        Self {
            realized_vol: 2.0,
            range: 1.0,
            iv_rank: 2.0,
            volume: 1.5,
            momentum: 1.0,
        }
    }
}

impl ScoreWeights {
    /// Checks every weight is finite and `>= 0` and that at least one is
    /// positive. Lists every bad field in the error.
    pub fn validate(&self) -> Result<(), CoreError> {
        let mut bad = Vec::new();
        for kind in FactorKind::ALL {
            let w = self.weight_of(kind);
            if !(w.is_finite() && w >= 0.0) {
                bad.push(format!("{} = {w}", kind.name()));
            }
        }
        if !bad.is_empty() {
            return Err(CoreError::InvalidInput {
                field: "score_weights",
                reason: format!("weights must be finite and >= 0: {}", bad.join(", ")),
            });
        }
        if FactorKind::ALL.iter().all(|k| self.weight_of(*k) == 0.0) {
            return Err(CoreError::InvalidInput {
                field: "score_weights",
                reason: "at least one weight must be positive".into(),
            });
        }
        Ok(())
    }

    fn weight_of(&self, kind: FactorKind) -> f64 {
        match kind {
            FactorKind::RealizedVol => self.realized_vol,
            FactorKind::Range => self.range,
            FactorKind::IvRank => self.iv_rank,
            FactorKind::Volume => self.volume,
            FactorKind::Momentum => self.momentum,
        }
    }

    /// The weight actually used: invalid weights count as 0.
    fn effective(&self, kind: FactorKind) -> f64 {
        let w = self.weight_of(kind);
        if w.is_finite() && w > 0.0 {
            w
        } else {
            0.0
        }
    }
}

/// The factors of the score, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FactorKind {
    RealizedVol,
    Range,
    IvRank,
    Volume,
    Momentum,
}

impl FactorKind {
    /// All factors in display order.
    pub const ALL: [FactorKind; 5] = [
        FactorKind::RealizedVol,
        FactorKind::Range,
        FactorKind::IvRank,
        FactorKind::Volume,
        FactorKind::Momentum,
    ];

    /// Stable machine name (used in JSON).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            FactorKind::RealizedVol => "realized_vol",
            FactorKind::Range => "range",
            FactorKind::IvRank => "iv_rank",
            FactorKind::Volume => "volume",
            FactorKind::Momentum => "momentum",
        }
    }

    /// The fixed piecewise-linear map `(raw, normalized)` of this factor.
    /// Below the first point the result is the first normalized value, above
    /// the last point it is the last one (caps). Raw units: realized vol as a
    /// decimal, range in percent, IV rank 0-100, volume as a ratio (z-score
    /// uses [`VOLUME_ZSCORE_BREAKPOINTS`]), momentum as |percent change|.
    #[must_use]
    pub fn breakpoints(self) -> &'static [(f64, f64)] {
        match self {
            FactorKind::RealizedVol => &[(0.10, 0.0), (0.20, 35.0), (0.40, 75.0), (0.80, 100.0)],
            FactorKind::Range => &[(0.0, 0.0), (1.0, 30.0), (2.0, 65.0), (4.0, 100.0)],
            FactorKind::IvRank => &[(0.0, 0.0), (100.0, 100.0)],
            FactorKind::Volume => &[(0.5, 0.0), (1.0, 30.0), (2.0, 75.0), (3.0, 100.0)],
            FactorKind::Momentum => &[(0.0, 0.0), (0.5, 20.0), (1.5, 60.0), (3.0, 100.0)],
        }
    }
}

/// Map for the volume z-score (used when no intraday volume ratio exists).
pub const VOLUME_ZSCORE_BREAKPOINTS: &[(f64, f64)] =
    &[(-1.0, 0.0), (0.0, 30.0), (2.0, 75.0), (3.0, 100.0)];

/// Piecewise-linear interpolation through `points` (sorted by x), capped at
/// both ends. Returns `None` for non-finite `x` or an empty table.
#[must_use]
pub fn piecewise_linear(points: &[(f64, f64)], x: f64) -> Option<f64> {
    if !x.is_finite() {
        return None;
    }
    let (first, last) = (points.first()?, points.last()?);
    if x <= first.0 {
        return Some(first.1);
    }
    if x >= last.0 {
        return Some(last.1);
    }
    for w in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if x <= x1 {
            let span = x1 - x0;
            if span <= 0.0 {
                return Some(y1);
            }
            return Some(y0 + (y1 - y0) * (x - x0) / span);
        }
    }
    Some(last.1)
}

/// One factor's part of a score, kept for the UI and the rationale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FactorScore {
    /// Machine name (`realized_vol`, `range`, `iv_rank`, `volume`, `momentum`).
    pub name: String,
    /// Human-readable description of the measurement, or why it is missing.
    pub label: String,
    /// The measured value in its own unit, `None` when missing.
    pub raw: Option<f64>,
    /// The 0-100 value after the fixed mapping, `None` when missing.
    pub normalized: Option<f64>,
    /// Weight used (invalid weights count as 0).
    pub weight: f64,
    /// Points this factor adds to the 0-100 score
    /// (`weight·normalized / Σ weights`); 0 when missing.
    pub contribution: f64,
}

/// The score of one underlying with its factor breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpportunityScore {
    pub symbol: Symbol,
    /// 0-100; the sum of the factors' contributions.
    pub score: f64,
    /// Share (0-1) of the total weight whose factor was measured.
    pub coverage: f64,
    pub factors: Vec<FactorScore>,
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

/// Raw value, normalized value and label of one factor.
fn measure(kind: FactorKind, inputs: &FactorInputs) -> (Option<f64>, Option<f64>, String) {
    match kind {
        FactorKind::RealizedVol => match finite(inputs.realized_vol) {
            Some(v) => (
                Some(v),
                piecewise_linear(kind.breakpoints(), v),
                format!("realized volatility {:.1}% annualized", v * 100.0),
            ),
            None => (None, None, "realized volatility: missing".into()),
        },
        FactorKind::Range => match finite(inputs.range_pct) {
            Some(v) => (
                Some(v),
                piecewise_linear(kind.breakpoints(), v),
                format!("session high-low range {v:.2}%"),
            ),
            None => (None, None, "session range: missing".into()),
        },
        FactorKind::IvRank => match finite(inputs.iv_rank) {
            Some(v) => (
                Some(v),
                piecewise_linear(kind.breakpoints(), v),
                format!("IV rank {v:.0} of 100 (252-day)"),
            ),
            None => (None, None, "IV rank: missing (no IV history)".into()),
        },
        FactorKind::Volume => {
            if let Some(v) = finite(inputs.volume_ratio) {
                (
                    Some(v),
                    piecewise_linear(kind.breakpoints(), v),
                    format!("volume {v:.2}x the usual at this time of day"),
                )
            } else if let Some(z) = finite(inputs.volume_zscore) {
                (
                    Some(z),
                    piecewise_linear(VOLUME_ZSCORE_BREAKPOINTS, z),
                    format!("volume z-score {z:+.2} vs 20-day baseline"),
                )
            } else {
                (None, None, "volume: missing (no earlier days)".into())
            }
        }
        FactorKind::Momentum => match finite(inputs.momentum_pct) {
            Some(v) => (
                Some(v),
                piecewise_linear(kind.breakpoints(), v.abs()),
                format!(
                    "{} {:.2}% over the session",
                    if v >= 0.0 { "up" } else { "down" },
                    v.abs()
                ),
            ),
            None => (None, None, "momentum: missing".into()),
        },
    }
}

/// Scores one underlying. Never NaN: see the module docs for the rules.
#[must_use]
pub fn score_opportunity(
    symbol: Symbol,
    inputs: &FactorInputs,
    weights: &ScoreWeights,
) -> OpportunityScore {
    // Shares are computed from weights scaled by the largest one, so even
    // weights near f64::MAX cannot overflow the sum.
    let max_weight = FactorKind::ALL
        .iter()
        .map(|k| weights.effective(*k))
        .fold(0.0, f64::max);
    let scaled = |k: FactorKind| {
        if max_weight > 0.0 {
            weights.effective(k) / max_weight
        } else {
            0.0
        }
    };
    let total_weight: f64 = FactorKind::ALL.iter().map(|k| scaled(*k)).sum();
    let mut factors = Vec::with_capacity(FactorKind::ALL.len());
    let mut score = 0.0;
    let mut measured_weight = 0.0;
    for kind in FactorKind::ALL {
        let weight = weights.effective(kind);
        let (raw, normalized, label) = measure(kind, inputs);
        let share = if total_weight > 0.0 {
            scaled(kind) / total_weight
        } else {
            0.0
        };
        let contribution = normalized.map_or(0.0, |n| share * n);
        if normalized.is_some() {
            measured_weight += share;
        }
        score += contribution;
        factors.push(FactorScore {
            name: kind.name().to_string(),
            label,
            raw,
            normalized,
            weight,
            contribution,
        });
    }
    let coverage = measured_weight.min(1.0);
    OpportunityScore {
        symbol,
        score: score.clamp(0.0, 100.0),
        coverage,
        factors,
    }
}

/// Sorts by score, highest first; equal scores by symbol (A before B). Stable.
#[must_use]
pub fn rank(mut scores: Vec<OpportunityScore>) -> Vec<OpportunityScore> {
    scores.sort_by(|a, b| {
        b.score
            .partial_cmp(&a.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.symbol.cmp(&b.symbol))
    });
    scores
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(s: &str) -> Symbol {
        Symbol::parse(s).unwrap()
    }

    #[test]
    fn piecewise_linear_interpolates_and_caps() {
        let pts = [(1.0, 0.0), (2.0, 50.0), (4.0, 100.0)];
        assert_eq!(piecewise_linear(&pts, 0.0), Some(0.0));
        assert_eq!(piecewise_linear(&pts, 1.5), Some(25.0));
        assert_eq!(piecewise_linear(&pts, 3.0), Some(75.0));
        assert_eq!(piecewise_linear(&pts, 9.0), Some(100.0));
        assert_eq!(piecewise_linear(&pts, f64::NAN), None);
        assert_eq!(piecewise_linear(&[], 1.0), None);
    }

    #[test]
    fn full_inputs_follow_the_weighted_formula() {
        let inputs = FactorInputs {
            realized_vol: Some(0.40), // 75
            range_pct: Some(2.0),     // 65
            volume_ratio: Some(2.0),  // 75
            volume_zscore: None,
            momentum_pct: Some(-1.5), // 60 (direction-neutral)
            iv_rank: Some(40.0),      // 40
        };
        let s = score_opportunity(sym("AAPL"), &inputs, &ScoreWeights::default());
        let expected = (2.0 * 75.0 + 65.0 + 2.0 * 40.0 + 1.5 * 75.0 + 60.0) / 7.5;
        assert!(
            (s.score - expected).abs() < 1e-12,
            "{} vs {expected}",
            s.score
        );
        let sum: f64 = s.factors.iter().map(|f| f.contribution).sum();
        assert!((sum - s.score).abs() < 1e-12);
        assert_eq!(s.coverage, 1.0);
        assert!(s.factors[4].label.contains("down"));
    }

    #[test]
    fn missing_factors_contribute_zero_and_keep_their_weight() {
        let inputs = FactorInputs {
            realized_vol: Some(0.80),
            range_pct: Some(f64::NAN),
            ..FactorInputs::default()
        };
        let s = score_opportunity(sym("SPY"), &inputs, &ScoreWeights::default());
        assert!((s.score - 2.0 * 100.0 / 7.5).abs() < 1e-12);
        assert!((s.coverage - 2.0 / 7.5).abs() < 1e-12);
        let range = &s.factors[1];
        assert_eq!(range.raw, None);
        assert_eq!(range.normalized, None);
        assert_eq!(range.contribution, 0.0);
        assert!(range.label.contains("missing"));
    }

    #[test]
    fn volume_ratio_preferred_over_zscore() {
        let mut inputs = FactorInputs {
            volume_zscore: Some(3.0),
            ..FactorInputs::default()
        };
        let z = score_opportunity(sym("A"), &inputs, &ScoreWeights::default());
        assert_eq!(z.factors[3].normalized, Some(100.0));
        inputs.volume_ratio = Some(1.0);
        let r = score_opportunity(sym("A"), &inputs, &ScoreWeights::default());
        assert_eq!(r.factors[3].normalized, Some(30.0));
    }

    #[test]
    fn bad_weights_never_give_nan() {
        let w = ScoreWeights {
            realized_vol: f64::NAN,
            range: -1.0,
            iv_rank: f64::INFINITY,
            volume: 0.0,
            momentum: 0.0,
        };
        let err = w.validate().unwrap_err().to_string();
        assert!(err.contains("realized_vol") && err.contains("range") && err.contains("iv_rank"));
        let inputs = FactorInputs {
            realized_vol: Some(0.5),
            ..FactorInputs::default()
        };
        let s = score_opportunity(sym("A"), &inputs, &w);
        assert_eq!(s.score, 0.0);
        assert_eq!(s.coverage, 0.0);
        assert!(ScoreWeights::default().validate().is_ok());
    }

    #[test]
    fn rank_orders_by_score_then_symbol() {
        let mk = |s: &str, score: f64| OpportunityScore {
            symbol: sym(s),
            score,
            coverage: 1.0,
            factors: vec![],
        };
        let ranked = rank(vec![mk("MSFT", 10.0), mk("AAPL", 50.0), mk("AMZN", 10.0)]);
        let order: Vec<&str> = ranked.iter().map(|s| s.symbol.as_str()).collect();
        assert_eq!(order, ["AAPL", "AMZN", "MSFT"]);
    }
}
