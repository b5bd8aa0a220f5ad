//! Events settings (issue 14), read from vars and validated with the rest
//! of the configuration (every problem reported at once).
//!
//! | name | meaning |
//! |---|---|
//! | `EVENTS_DIVIDENDS_PER_RUN` | bridge `/events/dividends` reads per cron run, 0..=20, default 3 (0 turns the refresh off) |

use super::number;

/// Default `EVENTS_DIVIDENDS_PER_RUN`: a 10-name watchlist is read within
/// the first hour of crons, each symbol then once a day.
pub const DEFAULT_DIVIDENDS_PER_RUN: u32 = 3;
/// Most `EVENTS_DIVIDENDS_PER_RUN`.
pub const MAX_DIVIDENDS_PER_RUN: u32 = 20;

/// Validated events settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventsConfig {
    /// Bridge `/events/dividends` reads one cron run may make.
    pub dividends_per_run: u32,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            dividends_per_run: DEFAULT_DIVIDENDS_PER_RUN,
        }
    }
}

impl EventsConfig {
    /// Reads the settings through `get` (trimmed, blank = unset) and appends
    /// one message per problem to `errors`.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>, errors: &mut Vec<String>) -> Self {
        Self {
            dividends_per_run: number(
                get,
                "EVENTS_DIVIDENDS_PER_RUN",
                DEFAULT_DIVIDENDS_PER_RUN,
                0..=MAX_DIVIDENDS_PER_RUN,
                errors,
            ),
        }
    }
}

#[cfg(test)]
mod events_config_tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> (EventsConfig, Vec<String>) {
        let get = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let mut errors = Vec::new();
        let cfg = EventsConfig::from_lookup(&get, &mut errors);
        (cfg, errors)
    }

    #[test]
    fn events_settings_default_read_and_refuse_out_of_range() {
        let (cfg, errors) = read(&[]);
        assert!(errors.is_empty());
        assert_eq!(cfg.dividends_per_run, 3);
        let (cfg, errors) = read(&[("EVENTS_DIVIDENDS_PER_RUN", "0")]);
        assert!(errors.is_empty());
        assert_eq!(cfg.dividends_per_run, 0);
        for bad in ["21", "-1", "x"] {
            let (_, errors) = read(&[("EVENTS_DIVIDENDS_PER_RUN", bad)]);
            assert_eq!(errors.len(), 1, "{bad}");
            assert!(errors[0].contains("EVENTS_DIVIDENDS_PER_RUN"), "{errors:?}");
        }
    }
}
