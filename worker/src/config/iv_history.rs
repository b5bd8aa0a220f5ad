//! IV-history settings (issue 14), read from vars and validated with the
//! rest of the configuration (every problem reported at once).
//!
//! | name | meaning |
//! |---|---|
//! | `IV_BACKFILL_PER_RUN` | bridge `/history/iv` requests per cron run, 0..=10, default 2 (0 turns the backfill off) |
//! | `IV_RANK_MIN_DAYS` | fewest days (today included) for an IV rank to drive decisions, 1..=252, default 20 |

use sas_core::analytics::iv_history::{IvRankConfig, DEFAULT_MIN_IV_HISTORY_DAYS};

use super::number;

/// Default `IV_BACKFILL_PER_RUN`: with the 15-minute cron that is 8
/// requests an hour, far inside IB's 60 per 10 minutes.
pub const DEFAULT_BACKFILL_PER_RUN: u32 = 2;
/// Most `IV_BACKFILL_PER_RUN`.
pub const MAX_BACKFILL_PER_RUN: u32 = 10;

/// Validated IV-history settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvHistoryConfig {
    /// Bridge `/history/iv` requests one cron run may make (backfills
    /// first, then daily appends).
    pub backfill_per_run: u32,
    /// How IV rank is taken from the stored history.
    pub rank: IvRankConfig,
}

impl Default for IvHistoryConfig {
    fn default() -> Self {
        Self {
            backfill_per_run: DEFAULT_BACKFILL_PER_RUN,
            rank: IvRankConfig::default(),
        }
    }
}

impl IvHistoryConfig {
    /// Reads the settings through `get` (trimmed, blank = unset) and appends
    /// one message per problem to `errors`.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>, errors: &mut Vec<String>) -> Self {
        let backfill_per_run = number(
            get,
            "IV_BACKFILL_PER_RUN",
            DEFAULT_BACKFILL_PER_RUN,
            0..=MAX_BACKFILL_PER_RUN,
            errors,
        );
        let default_min = u32::try_from(DEFAULT_MIN_IV_HISTORY_DAYS).unwrap_or(20);
        let max_min = u32::try_from(sas_core::analytics::vol::IV_HISTORY_DAYS).unwrap_or(252);
        let min_days = number(get, "IV_RANK_MIN_DAYS", default_min, 1..=max_min, errors);
        Self {
            backfill_per_run,
            rank: IvRankConfig {
                min_days: usize::try_from(min_days).unwrap_or(DEFAULT_MIN_IV_HISTORY_DAYS),
                ..IvRankConfig::default()
            },
        }
    }
}

#[cfg(test)]
mod iv_history_config_tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> (IvHistoryConfig, Vec<String>) {
        let get = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let mut errors = Vec::new();
        let cfg = IvHistoryConfig::from_lookup(&get, &mut errors);
        (cfg, errors)
    }

    #[test]
    fn iv_history_defaults_when_unset() {
        let (cfg, errors) = read(&[]);
        assert!(errors.is_empty());
        assert_eq!(cfg, IvHistoryConfig::default());
        assert_eq!(cfg.backfill_per_run, 2);
    }

    #[test]
    fn iv_history_settings_are_read_and_bad_ones_all_reported() {
        let (cfg, errors) = read(&[("IV_BACKFILL_PER_RUN", "5"), ("IV_RANK_MIN_DAYS", "30")]);
        assert!(errors.is_empty());
        assert_eq!(cfg.backfill_per_run, 5);
        assert_eq!(cfg.rank.min_days, 30);
        let (_, errors) = read(&[("IV_BACKFILL_PER_RUN", "11"), ("IV_RANK_MIN_DAYS", "0")]);
        assert_eq!(errors.len(), 2, "{errors:?}");
    }
}
