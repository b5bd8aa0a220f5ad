//! Settings of the position monitor (docs/positions.md): when a mark is
//! trustworthy, how exits are confirmed, how a closing order walks, and what
//! happens to an entry's unfilled remainder at the proposal's expiry.

use sas_core::money::Money;
use sas_core::portfolio::{ExitConfig, MarkPolicy, WalkPolicy};

use super::number;

/// The cron expression that runs the position monitor (wrangler.toml has it
/// beside the 15-minute ingestion cron).
pub const DEFAULT_MONITOR_CRON: &str = "* * * * *";

/// Validated position-monitor settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PositionsConfig {
    /// `MARK_MAX_QUOTE_AGE_SECS` (120), `MARK_MAX_SPREAD_PCT` (30 % of mid).
    pub mark: MarkPolicy,
    /// `STOP_CONFIRMATIONS` (2), `CLOSE_BEFORE_EXPIRY_MINUTES` (60).
    pub exits: ExitConfig,
    /// `EXIT_WALK_STEPS` (4), `EXIT_REPRICE_AFTER_SECS` (60),
    /// `EXIT_MAX_ATTEMPTS` (12).
    pub walk: WalkPolicy,
    /// `CANCEL_ENTRY_AT_EXPIRY` (`true`): cancel what stays unfilled of an
    /// entry when its proposal expires.
    pub cancel_entry_at_expiry: bool,
}

impl Default for PositionsConfig {
    fn default() -> Self {
        PositionsConfig {
            mark: MarkPolicy::default(),
            exits: ExitConfig::default(),
            walk: WalkPolicy::default(),
            cancel_entry_at_expiry: true,
        }
    }
}

impl PositionsConfig {
    /// Reads the settings through `get`, pushing one message per bad value.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>, errors: &mut Vec<String>) -> Self {
        let d = PositionsConfig::default();
        let age = number(get, "MARK_MAX_QUOTE_AGE_SECS", 120, 5..=3_600, errors);
        let spread_pct = number(get, "MARK_MAX_SPREAD_PCT", 30, 1..=200, errors);
        let confirmations = number(get, "STOP_CONFIRMATIONS", 2, 1..=10, errors);
        let before_expiry = number(get, "CLOSE_BEFORE_EXPIRY_MINUTES", 60, 0..=390, errors);
        let steps = number(get, "EXIT_WALK_STEPS", 4, 1..=20, errors);
        let reprice = number(get, "EXIT_REPRICE_AFTER_SECS", 60, 30..=3_600, errors);
        let attempts = number(get, "EXIT_MAX_ATTEMPTS", 12, 1..=100, errors);
        let cancel_entry_at_expiry = match get("CANCEL_ENTRY_AT_EXPIRY").as_deref() {
            None | Some("true") => true,
            Some("false") => false,
            Some(_) => {
                errors.push("CANCEL_ENTRY_AT_EXPIRY must be \"true\" or \"false\"".to_owned());
                true
            }
        };
        PositionsConfig {
            mark: MarkPolicy {
                max_quote_age_secs: i64::from(age),
                max_spread_fraction: f64::from(spread_pct) / 100.0,
                ..d.mark
            },
            exits: ExitConfig {
                stop_confirmations: confirmations,
                close_before_expiry_minutes: i64::from(before_expiry),
                ..d.exits
            },
            walk: WalkPolicy {
                steps,
                reprice_after_secs: i64::from(reprice),
                max_attempts: attempts,
                tick: Money::from_cents(1),
            },
            cancel_entry_at_expiry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> (PositionsConfig, Vec<String>) {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let mut errors = Vec::new();
        let cfg = PositionsConfig::from_lookup(&get, &mut errors);
        (cfg, errors)
    }

    #[test]
    fn unset_settings_take_the_documented_defaults() {
        let (cfg, errors) = read(&[]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cfg, PositionsConfig::default());
        assert_eq!(cfg.exits.stop_confirmations, 2);
        assert_eq!(cfg.walk.reprice_after_secs, 60);
    }

    #[test]
    fn every_bad_setting_is_listed() {
        let (_, errors) = read(&[
            ("MARK_MAX_QUOTE_AGE_SECS", "0"),
            ("STOP_CONFIRMATIONS", "zero"),
            ("EXIT_REPRICE_AFTER_SECS", "5"),
            ("CANCEL_ENTRY_AT_EXPIRY", "maybe"),
        ]);
        assert_eq!(errors.len(), 4, "{errors:?}");
    }

    #[test]
    fn settings_are_applied() {
        let (cfg, errors) = read(&[("STOP_CONFIRMATIONS", "1"), ("MARK_MAX_SPREAD_PCT", "50")]);
        assert!(errors.is_empty());
        assert_eq!(cfg.exits.stop_confirmations, 1);
        assert!((cfg.mark.max_spread_fraction - 0.5).abs() < 1e-12);
    }
}
