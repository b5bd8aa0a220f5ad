//! The data-quality gate's thresholds (`sas_core::quality::QualityConfig`,
//! docs/analytics.md "Data-quality gate"), read from vars and validated
//! with the rest of the configuration (every problem reported at once).
//! One value, `Config::quality`, is used by every place the gate runs: the
//! chain step, proposal generation, the position monitor and
//! `GET /symbols/{symbol}/quality`. Unset = core's default.
//!
//! | name | meaning | default |
//! |---|---|---|
//! | `QUALITY_MAX_SPREAD_FRACTION` | an option's bid-ask width may be at most this fraction of its mid (0..=2) ... | 0.5 |
//! | `QUALITY_MIN_SPREAD_ALLOWANCE` | ... or this many dollars, whichever is larger (0..=10) | 0.10 |
//! | `QUALITY_MAX_UNDERLYING_SPREAD_FRACTION` | the underlying's width as a fraction of its mid (0..=1) ... | 0.01 |
//! | `QUALITY_MIN_UNDERLYING_SPREAD_ALLOWANCE` | ... or this many dollars (0..=10) | 0.05 |
//! | `QUALITY_MAX_AGE_SECS` | data older than this is stale (1..=86400) | 300 |
//! | `QUALITY_MAX_FUTURE_SECS` | data stamped this far after now is refused (0..=3600) | 5 |
//! | `QUALITY_MIN_IV`, `QUALITY_MAX_IV` | implied vol must lie strictly between them, decimal (0..=10, min below max) | 0.01, 5.0 |
//! | `QUALITY_KEEP_ZERO_BID` | keep contracts bid 0 (`true`/`false`) | `false` |
//! | `QUALITY_CHECK_PARITY` | run the put-call parity check (`true`/`false`) | `true` |
//! | `QUALITY_EXERCISE_STYLE` | parity's exercise style (`american`/`european`) | `american` |
//! | `QUALITY_PARITY_SLACK` | dollars of slack on the parity band (0..=100) | 0.05 |
//! | `QUALITY_MAX_DROP_FRACTION` | a symbol whose dropped share of contracts exceeds this is held (0..=1) | 0.5 |
//! | `QUALITY_ALLOW_SIMULATED` | simulated data may drive proposals (`true`/`false`) | `true` |
//!
//! The ranges are `QualityConfig::validate`'s (core's rules, not repeated here).

use sas_core::quality::{ExerciseStyle, QualityConfig};
use sas_core::CoreError;

/// The variable that sets each `QualityConfig` field (field name as
/// `QualityConfig::validate` reports it).
pub const VARIABLES: [(&str, &str); 14] = [
    ("max_spread_fraction", "QUALITY_MAX_SPREAD_FRACTION"),
    ("min_spread_allowance", "QUALITY_MIN_SPREAD_ALLOWANCE"),
    (
        "max_underlying_spread_fraction",
        "QUALITY_MAX_UNDERLYING_SPREAD_FRACTION",
    ),
    (
        "min_underlying_spread_allowance",
        "QUALITY_MIN_UNDERLYING_SPREAD_ALLOWANCE",
    ),
    ("max_age_secs", "QUALITY_MAX_AGE_SECS"),
    ("max_future_secs", "QUALITY_MAX_FUTURE_SECS"),
    ("min_iv", "QUALITY_MIN_IV"),
    ("max_iv", "QUALITY_MAX_IV"),
    ("keep_zero_bid", "QUALITY_KEEP_ZERO_BID"),
    ("check_parity", "QUALITY_CHECK_PARITY"),
    ("exercise_style", "QUALITY_EXERCISE_STYLE"),
    ("parity_slack", "QUALITY_PARITY_SLACK"),
    ("max_drop_fraction", "QUALITY_MAX_DROP_FRACTION"),
    ("allow_simulated", "QUALITY_ALLOW_SIMULATED"),
];

fn variable(field: &str) -> &str {
    VARIABLES
        .iter()
        .find(|(f, _)| *f == field)
        .map_or(field, |(_, v)| v)
}

fn decimal(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: f64,
    errors: &mut Vec<String>,
) -> f64 {
    match get(name) {
        None => default,
        Some(raw) => match raw.parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => {
                errors.push(format!("{name} must be a number"));
                default
            }
        },
    }
}

fn integer(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: i64,
    errors: &mut Vec<String>,
) -> i64 {
    match get(name) {
        None => default,
        Some(raw) => raw.parse::<i64>().unwrap_or_else(|_| {
            errors.push(format!("{name} must be an integer"));
            default
        }),
    }
}

fn flag(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: bool,
    errors: &mut Vec<String>,
) -> bool {
    match get(name).as_deref() {
        None => default,
        Some("true") => true,
        Some("false") => false,
        Some(_) => {
            errors.push(format!("{name} must be \"true\" or \"false\""));
            default
        }
    }
}

/// Reads the gate's thresholds through `get` (trimmed, blank = unset),
/// then checks them with `QualityConfig::validate`; appends one message per
/// problem to `errors` (naming the variable). A bad value leaves core's
/// default in its place.
pub fn from_lookup(
    get: &impl Fn(&str) -> Option<String>,
    errors: &mut Vec<String>,
) -> QualityConfig {
    let d = QualityConfig::default();
    let exercise_style = match get("QUALITY_EXERCISE_STYLE").as_deref() {
        None => d.exercise_style,
        Some("american") => ExerciseStyle::American,
        Some("european") => ExerciseStyle::European,
        Some(_) => {
            errors.push("QUALITY_EXERCISE_STYLE must be \"american\" or \"european\"".to_owned());
            d.exercise_style
        }
    };
    let cfg = QualityConfig {
        max_spread_fraction: decimal(
            get,
            "QUALITY_MAX_SPREAD_FRACTION",
            d.max_spread_fraction,
            errors,
        ),
        min_spread_allowance: decimal(
            get,
            "QUALITY_MIN_SPREAD_ALLOWANCE",
            d.min_spread_allowance,
            errors,
        ),
        max_underlying_spread_fraction: decimal(
            get,
            "QUALITY_MAX_UNDERLYING_SPREAD_FRACTION",
            d.max_underlying_spread_fraction,
            errors,
        ),
        min_underlying_spread_allowance: decimal(
            get,
            "QUALITY_MIN_UNDERLYING_SPREAD_ALLOWANCE",
            d.min_underlying_spread_allowance,
            errors,
        ),
        max_age_secs: integer(get, "QUALITY_MAX_AGE_SECS", d.max_age_secs, errors),
        max_future_secs: integer(get, "QUALITY_MAX_FUTURE_SECS", d.max_future_secs, errors),
        min_iv: decimal(get, "QUALITY_MIN_IV", d.min_iv, errors),
        max_iv: decimal(get, "QUALITY_MAX_IV", d.max_iv, errors),
        keep_zero_bid: flag(get, "QUALITY_KEEP_ZERO_BID", d.keep_zero_bid, errors),
        check_parity: flag(get, "QUALITY_CHECK_PARITY", d.check_parity, errors),
        exercise_style,
        parity_slack: decimal(get, "QUALITY_PARITY_SLACK", d.parity_slack, errors),
        max_drop_fraction: decimal(
            get,
            "QUALITY_MAX_DROP_FRACTION",
            d.max_drop_fraction,
            errors,
        ),
        allow_simulated: flag(get, "QUALITY_ALLOW_SIMULATED", d.allow_simulated, errors),
    };
    if let Err(problems) = cfg.validate() {
        for p in problems {
            match p {
                CoreError::InvalidInput { field, reason } => {
                    errors.push(format!("{} {reason}", variable(field)));
                }
                other => errors.push(format!("QUALITY_* {other}")),
            }
        }
        return d;
    }
    cfg
}

#[cfg(test)]
mod quality_config_tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> (QualityConfig, Vec<String>) {
        let get = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let mut errors = Vec::new();
        let cfg = from_lookup(&get, &mut errors);
        (cfg, errors)
    }

    #[test]
    fn quality_defaults_are_cores_when_unset() {
        let (cfg, errors) = read(&[]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cfg, QualityConfig::default());
    }

    #[test]
    fn quality_settings_are_applied() {
        let (cfg, errors) = read(&[
            ("QUALITY_MAX_SPREAD_FRACTION", "0.3"),
            ("QUALITY_MAX_AGE_SECS", "120"),
            ("QUALITY_CHECK_PARITY", "false"),
            ("QUALITY_EXERCISE_STYLE", "european"),
            ("QUALITY_ALLOW_SIMULATED", "false"),
            ("QUALITY_MAX_DROP_FRACTION", "0.25"),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert!((cfg.max_spread_fraction - 0.3).abs() < 1e-12);
        assert_eq!(cfg.max_age_secs, 120);
        assert!(!cfg.check_parity);
        assert_eq!(cfg.exercise_style, ExerciseStyle::European);
        assert!(!cfg.allow_simulated);
        assert!((cfg.max_drop_fraction - 0.25).abs() < 1e-12);
        assert_eq!(
            cfg.min_iv,
            QualityConfig::default().min_iv,
            "unset keeps core's"
        );
    }

    #[test]
    fn every_bad_quality_setting_is_listed_by_its_variable() {
        let (cfg, errors) = read(&[
            ("QUALITY_MAX_SPREAD_FRACTION", "wide"),
            ("QUALITY_MAX_AGE_SECS", "0"),
            ("QUALITY_MAX_FUTURE_SECS", "-1"),
            ("QUALITY_MIN_IV", "2"),
            ("QUALITY_MAX_IV", "1"),
            ("QUALITY_KEEP_ZERO_BID", "yes"),
            ("QUALITY_EXERCISE_STYLE", "bermudan"),
            ("QUALITY_MAX_DROP_FRACTION", "1.5"),
            ("QUALITY_PARITY_SLACK", "NaN"),
        ]);
        assert_eq!(cfg, QualityConfig::default(), "a bad set falls back whole");
        let has = |var: &str| errors.iter().any(|e| e.starts_with(var));
        for var in [
            "QUALITY_MAX_SPREAD_FRACTION must be a number",
            "QUALITY_MAX_AGE_SECS must be in 1..=86400",
            "QUALITY_MAX_FUTURE_SECS must be in 0..=3600",
            "QUALITY_MIN_IV must be below max_iv",
            "QUALITY_KEEP_ZERO_BID",
            "QUALITY_EXERCISE_STYLE",
            "QUALITY_MAX_DROP_FRACTION must be in 0..=1",
            "QUALITY_PARITY_SLACK must be a number",
        ] {
            assert!(has(var), "{var} missing from {errors:?}");
        }
        assert_eq!(errors.len(), 8, "{errors:?}");
    }
}
