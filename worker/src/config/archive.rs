//! Configuration of the Postgres archive's Worker side (docs/archive.md):
//! `ARCHIVE_TOKEN`, the bearer token of the home-side archiver, and
//! `ARCHIVE_HOLD_CAP_ROWS`, the number of unacknowledged rows per table past
//! which `/health` warns.
//!
//! With `ARCHIVE_TOKEN` set an archiver is configured: pruning deletes only
//! rows the archive acknowledged. Without it today's retention applies.

use super::MIN_SECRET_LEN;

/// Default [`ArchiveConfig::hold_cap_rows`].
pub const DEFAULT_HOLD_CAP_ROWS: u32 = 200_000;
/// Smallest accepted `ARCHIVE_HOLD_CAP_ROWS`.
pub const MIN_HOLD_CAP_ROWS: u32 = 1_000;
/// Largest accepted `ARCHIVE_HOLD_CAP_ROWS`.
pub const MAX_HOLD_CAP_ROWS: u32 = 10_000_000;

/// The archive settings (part of [`crate::config::Config`]).
#[derive(Clone, PartialEq, Eq)]
pub struct ArchiveConfig {
    /// `ARCHIVE_TOKEN`: good for `/export/*` only (never for another route).
    /// `None` = no archiver configured.
    pub token: Option<String>,
    /// `ARCHIVE_HOLD_CAP_ROWS`: unacknowledged rows of one table past which
    /// `/health` warns. Nothing is ever deleted because of it.
    pub hold_cap_rows: u32,
}

impl std::fmt::Debug for ArchiveConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("hold_cap_rows", &self.hold_cap_rows)
            .finish()
    }
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        Self {
            token: None,
            hold_cap_rows: DEFAULT_HOLD_CAP_ROWS,
        }
    }
}

/// How pruning treats rows the archive has not acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneGate {
    /// No archiver: today's retention deletes old rows.
    Retention,
    /// An archiver is configured: only rows at or before the table's
    /// acknowledged cursor (and past retention) are deleted.
    AcknowledgedOnly,
}

impl PruneGate {
    /// The value bound to the prune statements' gate parameter (1 = only
    /// acknowledged rows).
    pub fn sql_flag(self) -> i64 {
        match self {
            PruneGate::Retention => 0,
            PruneGate::AcknowledgedOnly => 1,
        }
    }
}

impl ArchiveConfig {
    /// Reads `ARCHIVE_TOKEN` and `ARCHIVE_HOLD_CAP_ROWS` through `get`
    /// (trimmed, blank = unset), pushing one message per problem. The token
    /// must be at least [`MIN_SECRET_LEN`] characters and differ from
    /// `API_TOKEN` and `BRIDGE_TOKEN` (`other_secrets`), so that holding one
    /// never grants another's rights. Messages never contain a secret.
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
        other_secrets: &[&str],
        errors: &mut Vec<String>,
    ) -> Self {
        let token = match get("ARCHIVE_TOKEN") {
            None => None,
            Some(v) if v.chars().count() < MIN_SECRET_LEN => {
                errors.push(format!(
                    "ARCHIVE_TOKEN is shorter than {MIN_SECRET_LEN} characters"
                ));
                None
            }
            Some(v) if other_secrets.iter().any(|s| !s.is_empty() && *s == v) => {
                errors.push("ARCHIVE_TOKEN must differ from API_TOKEN and BRIDGE_TOKEN".to_owned());
                None
            }
            Some(v) => Some(v),
        };
        let hold_cap_rows = super::number(
            get,
            "ARCHIVE_HOLD_CAP_ROWS",
            DEFAULT_HOLD_CAP_ROWS,
            MIN_HOLD_CAP_ROWS..=MAX_HOLD_CAP_ROWS,
            errors,
        );
        Self {
            token,
            hold_cap_rows,
        }
    }

    /// Whether an archiver is configured.
    pub fn configured(&self) -> bool {
        self.token.is_some()
    }

    /// How pruning must treat unacknowledged rows.
    pub fn prune_gate(&self) -> PruneGate {
        if self.configured() {
            PruneGate::AcknowledgedOnly
        } else {
            PruneGate::Retention
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)], others: &[&str]) -> (ArchiveConfig, Vec<String>) {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        };
        let mut errors = Vec::new();
        let cfg = ArchiveConfig::from_lookup(&get, others, &mut errors);
        (cfg, errors)
    }

    const API: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const ARCHIVE: &str = "cccccccccccccccccccccccccccccccccccc";

    #[test]
    fn no_token_means_no_archiver_and_todays_retention() {
        let (cfg, errors) = read(&[], &[API]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cfg, ArchiveConfig::default());
        assert_eq!(cfg.prune_gate(), PruneGate::Retention);
        assert_eq!(cfg.prune_gate().sql_flag(), 0);
    }

    #[test]
    fn a_token_configures_the_archiver_and_is_never_printed() {
        let (cfg, errors) = read(
            &[
                ("ARCHIVE_TOKEN", ARCHIVE),
                ("ARCHIVE_HOLD_CAP_ROWS", "5000"),
            ],
            &[API],
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cfg.prune_gate(), PruneGate::AcknowledgedOnly);
        assert_eq!(cfg.prune_gate().sql_flag(), 1);
        assert_eq!(cfg.hold_cap_rows, 5000);
        assert!(!format!("{cfg:?}").contains(ARCHIVE));
    }

    #[test]
    fn bad_values_are_each_reported_without_the_secret() {
        let (cfg, errors) = read(
            &[("ARCHIVE_TOKEN", "short"), ("ARCHIVE_HOLD_CAP_ROWS", "10")],
            &[API],
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("shorter"));
        assert!(errors[1].contains("ARCHIVE_HOLD_CAP_ROWS"));
        assert!(!cfg.configured());
        let (_, errors) = read(&[("ARCHIVE_TOKEN", API)], &[API]);
        assert_eq!(
            errors,
            ["ARCHIVE_TOKEN must differ from API_TOKEN and BRIDGE_TOKEN"]
        );
        assert!(errors.iter().all(|e| !e.contains(API)));
    }
}
