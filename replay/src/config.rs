//! One replay configuration (a TOML file): the score weights and strategy
//! settings core already has, the exit and mark settings of the position
//! engine, and the replay's own account and fill model. Every field has a
//! default; `validate` lists every problem at once.

use sas_core::portfolio::{ExitConfig, MarkPolicy};
use sas_core::score::ScoreWeights;
use sas_core::strategy::{StrategyConfig, StrategyKind};
use serde::{Deserialize, Serialize};

/// Underlyings handed to the strategy engine per run, best first (the
/// Worker's `proposals::MAX_CANDIDATES_PER_RUN`).
pub const MAX_CANDIDATES_PER_RUN: usize = 8;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplayConfig {
    /// Shown in the report (default: the file name without extension).
    pub name: String,
    pub score_weights: ScoreWeights,
    pub strategy: StrategyConfig,
    pub exits: ExitConfig,
    pub marks: MarkPolicy,
    /// Strategies allowed (the trader's run-time switches); empty = all.
    pub enabled_strategies: Vec<StrategyKind>,
    /// Net liquidation at the start, dollars.
    pub starting_equity: f64,
    /// Dollars per share each leg gives up against the mid, at entry and
    /// at exit (bought legs pay mid + penalty, sold legs get mid − penalty,
    /// never below 0).
    pub fill_penalty_per_leg: f64,
    /// Commission per option contract, dollars.
    pub commission_per_contract: f64,
    /// The baseline trades on a session with this probability (0..=1).
    pub baseline_day_probability: f64,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self {
            name: "default".into(),
            score_weights: ScoreWeights::default(),
            strategy: StrategyConfig::default(),
            exits: ExitConfig::default(),
            marks: MarkPolicy::default(),
            enabled_strategies: Vec::new(),
            starting_equity: 100_000.0,
            fill_penalty_per_leg: 0.02,
            commission_per_contract: 0.65,
            baseline_day_probability: 1.0,
        }
    }
}

impl ReplayConfig {
    /// Parses a TOML text; `label` names the file in messages.
    pub fn from_toml(text: &str, label: &str) -> Result<Self, Vec<String>> {
        let cfg: ReplayConfig =
            toml::from_str(text).map_err(|e| vec![format!("{label}: {}", e.message())])?;
        cfg.validate().map_err(|errs| {
            errs.into_iter()
                .map(|e| format!("{label}: {e}"))
                .collect::<Vec<_>>()
        })?;
        Ok(cfg)
    }

    /// Every problem, or nothing.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errs = Vec::new();
        if let Err(e) = self.score_weights.validate() {
            errs.push(e.to_string());
        }
        if let Err(list) = self.strategy.validate() {
            errs.extend(list.into_iter().map(|e| format!("strategy: {e}")));
        }
        let fin_pos = |v: f64| v.is_finite() && v > 0.0;
        let fin_nonneg = |v: f64| v.is_finite() && v >= 0.0;
        if !fin_pos(self.starting_equity) {
            errs.push(format!(
                "starting_equity must be a positive number, got {}",
                self.starting_equity
            ));
        }
        if !fin_nonneg(self.fill_penalty_per_leg) {
            errs.push(format!(
                "fill_penalty_per_leg must be >= 0, got {}",
                self.fill_penalty_per_leg
            ));
        }
        if !fin_nonneg(self.commission_per_contract) {
            errs.push(format!(
                "commission_per_contract must be >= 0, got {}",
                self.commission_per_contract
            ));
        }
        if !(self.baseline_day_probability.is_finite()
            && (0.0..=1.0).contains(&self.baseline_day_probability))
        {
            errs.push(format!(
                "baseline_day_probability must be within 0..=1, got {}",
                self.baseline_day_probability
            ));
        }
        if self.exits.stop_confirmations == 0 {
            errs.push("exits.stop_confirmations must be >= 1".into());
        }
        if self.name.trim().is_empty() {
            errs.push("name must not be empty".into());
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }

    /// True when the strategy may be traded.
    #[must_use]
    pub fn enabled(&self, kind: StrategyKind) -> bool {
        self.enabled_strategies.is_empty() || self.enabled_strategies.contains(&kind)
    }
}
