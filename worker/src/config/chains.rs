//! Configuration of the chain step and of the opportunity score (part of
//! [`super::Config`]), with the `SCORE_WEIGHTS` parser.

use sas_core::market::ChainWindow;
use sas_core::score::ScoreWeights;

use super::truncate;

/// Default concurrent symbols in the chain step.
pub const DEFAULT_CHAIN_CONCURRENCY: u32 = 4;
/// Default days of chain snapshots kept.
pub const DEFAULT_CHAIN_RETENTION_DAYS: u32 = 3;
/// Default continuously compounded risk-free rate used for implied vols.
pub const DEFAULT_RISK_FREE_RATE: f64 = 0.04;

/// Configuration of the chain step and of the score (part of
/// [`crate::config::Config`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChainConfig {
    /// DTE window and strikes per expiry asked from the bridge.
    pub window: ChainWindow,
    /// Symbols processed at the same time.
    pub concurrency: u32,
    /// Days of chain snapshots and intraday metrics kept.
    pub retention_days: u32,
    /// Risk-free rate for implied volatility.
    pub risk_free_rate: f64,
    /// Weights of the opportunity score.
    pub score_weights: ScoreWeights,
}

/// Every float in a [`ChainConfig`] is validated finite, so equality is
/// reflexive (needed because [`crate::config::Config`] is `Eq`).
impl Eq for ChainConfig {}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            window: ChainWindow::default(),
            concurrency: DEFAULT_CHAIN_CONCURRENCY,
            retention_days: DEFAULT_CHAIN_RETENTION_DAYS,
            risk_free_rate: DEFAULT_RISK_FREE_RATE,
            score_weights: ScoreWeights::default(),
        }
    }
}

impl ChainConfig {
    /// Reads `CHAIN_MIN_DTE`, `CHAIN_MAX_DTE`, `CHAIN_STRIKES`,
    /// `CHAIN_CONCURRENCY`, `CHAIN_RETENTION_DAYS`, `RISK_FREE_RATE` and
    /// `SCORE_WEIGHTS` through `get` (trimmed, blank = unset), pushing one
    /// message per problem onto `errors`.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>, errors: &mut Vec<String>) -> Self {
        let d = Self::default();
        let mut uint = |name: &str, default: u32, range: std::ops::RangeInclusive<u32>| {
            super::number(get, name, default, range, errors)
        };
        let window = ChainWindow {
            min_dte: uint("CHAIN_MIN_DTE", d.window.min_dte, 0..=ChainWindow::MAX_DTE),
            max_dte: uint("CHAIN_MAX_DTE", d.window.max_dte, 0..=ChainWindow::MAX_DTE),
            strikes: uint(
                "CHAIN_STRIKES",
                d.window.strikes,
                1..=ChainWindow::MAX_STRIKES,
            ),
        };
        let concurrency = uint("CHAIN_CONCURRENCY", d.concurrency, 1..=16);
        let retention_days = uint("CHAIN_RETENTION_DAYS", d.retention_days, 1..=90);
        if window.min_dte > window.max_dte {
            errors.push("CHAIN_MIN_DTE must not be greater than CHAIN_MAX_DTE".to_owned());
        }
        let risk_free_rate = match get("RISK_FREE_RATE") {
            None => d.risk_free_rate,
            Some(raw) => match raw.parse::<f64>() {
                Ok(r) if r.is_finite() && (-0.05..=0.25).contains(&r) => r,
                _ => {
                    errors.push(
                        "RISK_FREE_RATE must be a decimal rate in -0.05..=0.25 (0.04 = 4%)"
                            .to_owned(),
                    );
                    d.risk_free_rate
                }
            },
        };
        let score_weights = match get("SCORE_WEIGHTS") {
            None => d.score_weights,
            Some(raw) => match parse_score_weights(&raw) {
                Ok(w) => w,
                Err(e) => {
                    errors.push(format!("SCORE_WEIGHTS {e}"));
                    d.score_weights
                }
            },
        };
        Self {
            window,
            concurrency,
            retention_days,
            risk_free_rate,
            score_weights,
        }
    }
}

/// Why `SCORE_WEIGHTS` was refused (shown after the variable's name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoreWeightsError {
    #[error("entry '{0}' is not name=weight")]
    NotAPair(String),
    #[error("weight of '{0}' is not a number")]
    NotANumber(String),
    #[error("has an unknown factor '{0}' (realized_vol, range, iv_rank, volume, momentum)")]
    UnknownFactor(String),
    #[error("is invalid: {0}")]
    Invalid(String),
}

/// Parses `name=weight` pairs separated by commas (names: `realized_vol`,
/// `range`, `iv_rank`, `volume`, `momentum`); unnamed factors keep their
/// default weight. Weights must be finite and `>= 0`, not all zero.
pub fn parse_score_weights(raw: &str) -> Result<ScoreWeights, ScoreWeightsError> {
    let mut w = ScoreWeights::default();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, value)) = part.split_once('=') else {
            return Err(ScoreWeightsError::NotAPair(truncate(part, 32)));
        };
        let value: f64 = value
            .trim()
            .parse()
            .map_err(|_| ScoreWeightsError::NotANumber(truncate(name, 32)))?;
        let slot = match name.trim() {
            "realized_vol" => &mut w.realized_vol,
            "range" => &mut w.range,
            "iv_rank" => &mut w.iv_rank,
            "volume" => &mut w.volume,
            "momentum" => &mut w.momentum,
            other => {
                return Err(ScoreWeightsError::UnknownFactor(truncate(other, 32)));
            }
        };
        *slot = value;
    }
    w.validate()
        .map_err(|e| ScoreWeightsError::Invalid(e.to_string()))?;
    Ok(w)
}
