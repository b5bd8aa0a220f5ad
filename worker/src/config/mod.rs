//! Worker configuration: read once per invocation from the environment
//! (`[vars]` in wrangler.toml, secrets from `wrangler secret put`, `.dev.vars`
//! or `--var`), validated as a whole so that every problem is reported at once.

pub mod alerts;
pub mod approval;
pub mod archive;
pub mod chains;
pub mod events;
pub mod iv_history;
pub mod origins;
pub mod positions;
pub mod quality;
pub mod risk;

/// At most `max` characters of `s` (for echoing user input in messages).
pub fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

use sas_core::market::{parse_symbol_list, Symbol, DEFAULT_WATCHLIST, MAX_SYMBOLS_PER_REQUEST};

/// Shortest accepted secret (bearer tokens), in characters.
pub const MIN_SECRET_LEN: usize = 32;
/// Default bridge base URL (the broker bridge on the same machine in local dev).
pub const DEFAULT_BRIDGE_URL: &str = "http://127.0.0.1:8081";
/// Default bound on one bridge call, in milliseconds.
pub const DEFAULT_BRIDGE_TIMEOUT_MS: u32 = 5_000;
/// Default retention of stored market data, in days.
pub const DEFAULT_RETENTION_DAYS: u32 = 10;

/// Whether the cron checks the US market calendar before ingesting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketHoursMode {
    /// Outside regular NYSE hours a run is recorded as `skipped` (production).
    Enforce,
    /// Always ingest (local development and tests).
    Ignore,
}

/// The clock a cron run goes by (`CRON_CLOCK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CronClock {
    /// The wall clock (the default; the only choice in production).
    Wall,
    /// The scheduled event's time, moving on with the wall clock: a
    /// simulated month driven through the real crons against the simulated
    /// bridge on a settable clock (`docs/sim-market.md`). Refused when
    /// `ENVIRONMENT=production`.
    Scheduled,
}

/// Longest accepted Access service-token client id, in characters.
pub const MAX_CLIENT_ID_LEN: usize = 256;

/// The Cloudflare Access service token the Worker presents to the tunnel in
/// front of the bridge (`CF-Access-Client-Id` / `CF-Access-Client-Secret`).
#[derive(Clone, PartialEq, Eq)]
pub struct BridgeAccessToken {
    /// `BRIDGE_ACCESS_CLIENT_ID` (e.g. `<hex>.access`).
    pub client_id: String,
    /// `BRIDGE_ACCESS_CLIENT_SECRET` (secret).
    pub client_secret: String,
}

impl std::fmt::Debug for BridgeAccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeAccessToken")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// Validated Worker configuration.
#[derive(Clone, PartialEq)]
pub struct Config {
    /// Base URL of the broker bridge, without a trailing slash.
    pub bridge_url: String,
    /// Bearer token the Worker presents to the bridge (secret).
    pub bridge_token: String,
    /// Access service token for the tunnel in front of the bridge (optional).
    pub bridge_access: Option<BridgeAccessToken>,
    /// Origins allowed to make state-changing requests besides the Worker's
    /// own (`ALLOWED_ORIGINS`, comma-separated `scheme://host[:port]`).
    pub allowed_origins: Vec<String>,
    /// Bearer token API clients must present (secret).
    pub api_token: String,
    /// Symbols ingested by the cron.
    pub watchlist: Vec<Symbol>,
    /// Market-hours gating of the cron.
    pub market_hours_mode: MarketHoursMode,
    /// The clock the crons go by.
    pub cron_clock: CronClock,
    /// Bound on each bridge call, in milliseconds.
    pub bridge_timeout_ms: u32,
    /// Days of market data kept in D1.
    pub retention_days: u32,
    /// Proposal limits, trading mode and Cloudflare Access (see [`crate::approvals`]).
    pub approval: approval::ApprovalConfig,
    /// Option-chain step and score weights (see [`crate::chains`]).
    pub chains: chains::ChainConfig,
    /// Position monitor: marks, exits, closing orders (see [`crate::positions`]).
    pub positions: positions::PositionsConfig,
    /// Alert channels and per-event settings (see [`crate::alerts`]).
    pub alerts: alerts::AlertsConfig,
    /// Risk limits, trading state and performance (see [`crate::risk`]).
    pub risk: risk::WorkerRiskConfig,
    /// IV history backfill and rank settings (see [`crate::iv_history`]).
    pub iv_history: iv_history::IvHistoryConfig,
    /// Events: the dividend refresh (see [`crate::events`]).
    pub events: events::EventsConfig,
    /// The Postgres archive: `ARCHIVE_TOKEN`, the hold cap (see [`crate::export`]).
    pub archive: archive::ArchiveConfig,
    /// The data-quality gate's thresholds, one value for every place the
    /// gate runs (see [`quality`]).
    pub quality: sas_core::quality::QualityConfig,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bridge_url", &self.bridge_url)
            .field("bridge_token", &"<redacted>")
            .field("bridge_access", &self.bridge_access)
            .field("allowed_origins", &self.allowed_origins)
            .field("api_token", &"<redacted>")
            .field("watchlist", &self.watchlist)
            .field("market_hours_mode", &self.market_hours_mode)
            .field("bridge_timeout_ms", &self.bridge_timeout_ms)
            .field("retention_days", &self.retention_days)
            .field("approval", &self.approval)
            .field("chains", &self.chains)
            .field("positions", &self.positions)
            .field("alerts", &self.alerts)
            .field("risk", &self.risk)
            .field("iv_history", &self.iv_history)
            .field("events", &self.events)
            .field("archive", &self.archive)
            .field("quality", &self.quality)
            .finish()
    }
}

/// Every configuration problem found, one message per problem. Messages name
/// the variable and the rule, never a value of a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

impl Config {
    /// Reads and validates the configuration through `lookup` (variable name →
    /// value). Unset or blank optional variables take their defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let mut errors = Vec::new();
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let bridge_token = secret(&get, "BRIDGE_TOKEN", &mut errors);
        let api_token = secret(&get, "API_TOKEN", &mut errors);
        let watchlist = match get("WATCHLIST") {
            None => DEFAULT_WATCHLIST
                .iter()
                .filter_map(|s| Symbol::parse(s).ok())
                .collect(),
            Some(raw) => match parse_symbol_list(&raw, MAX_SYMBOLS_PER_REQUEST) {
                Ok(list) => list,
                Err(e) => {
                    errors.push(format!("WATCHLIST is invalid: {e}"));
                    Vec::new()
                }
            },
        };
        let market_hours_mode = match get("MARKET_HOURS_MODE").as_deref() {
            None | Some("enforce") => MarketHoursMode::Enforce,
            Some("ignore") => MarketHoursMode::Ignore,
            Some(_) => {
                errors.push("MARKET_HOURS_MODE must be \"enforce\" or \"ignore\"".to_owned());
                MarketHoursMode::Enforce
            }
        };
        let bridge_timeout_ms = number(
            &get,
            "BRIDGE_TIMEOUT_MS",
            DEFAULT_BRIDGE_TIMEOUT_MS,
            100..=25_000,
            &mut errors,
        );
        let retention_days = number(
            &get,
            "MARKET_DATA_RETENTION_DAYS",
            DEFAULT_RETENTION_DAYS,
            1..=365,
            &mut errors,
        );
        let approval = approval::ApprovalConfig::from_lookup(&get, &mut errors);
        let chains = chains::ChainConfig::from_lookup(&get, &mut errors);
        let positions = positions::PositionsConfig::from_lookup(&get, &mut errors);
        let alerts = alerts::AlertsConfig::from_lookup(&get, &mut errors);
        let risk = risk::WorkerRiskConfig::from_lookup(&get, &mut errors);
        let iv_history = iv_history::IvHistoryConfig::from_lookup(&get, &mut errors);
        let events = events::EventsConfig::from_lookup(&get, &mut errors);
        let quality = quality::from_lookup(&get, &mut errors);
        let archive =
            archive::ArchiveConfig::from_lookup(&get, &[&api_token, &bridge_token], &mut errors);
        let production = approval.production;
        let cron_clock = match get("CRON_CLOCK").as_deref() {
            None | Some("wall") => CronClock::Wall,
            Some("scheduled") if production => {
                errors.push(
                    "CRON_CLOCK=scheduled is for simulated runs and is refused when ENVIRONMENT=production"
                        .to_owned(),
                );
                CronClock::Wall
            }
            Some("scheduled") => CronClock::Scheduled,
            Some(_) => {
                errors.push("CRON_CLOCK must be \"wall\" or \"scheduled\"".to_owned());
                CronClock::Wall
            }
        };
        let bridge_url = match validate_bridge_url(
            get("BRIDGE_URL").as_deref().unwrap_or(DEFAULT_BRIDGE_URL),
            production,
        ) {
            Ok(u) => u,
            Err(e) => {
                errors.push(format!("BRIDGE_URL {e}"));
                String::new()
            }
        };
        let bridge_access = bridge_access(&get, &mut errors);
        let allowed_origins = match get("ALLOWED_ORIGINS") {
            None => Vec::new(),
            Some(raw) => match origins::parse_allowed_origins(&raw, production) {
                Ok(list) => list,
                Err(e) => {
                    errors.push(format!("ALLOWED_ORIGINS {e}"));
                    Vec::new()
                }
            },
        };
        if errors.is_empty() {
            Ok(Self {
                bridge_url,
                bridge_token,
                bridge_access,
                allowed_origins,
                api_token,
                watchlist,
                market_hours_mode,
                cron_clock,
                bridge_timeout_ms,
                retention_days,
                approval,
                chains,
                positions,
                alerts,
                risk,
                iv_history,
                events,
                archive,
                quality,
            })
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

fn secret(get: &impl Fn(&str) -> Option<String>, name: &str, errors: &mut Vec<String>) -> String {
    match get(name) {
        None => {
            errors.push(format!("{name} is not set"));
            String::new()
        }
        Some(v) if v.chars().count() < MIN_SECRET_LEN => {
            errors.push(format!(
                "{name} is shorter than {MIN_SECRET_LEN} characters"
            ));
            String::new()
        }
        Some(v) => v,
    }
}

/// `BRIDGE_ACCESS_CLIENT_ID` + `BRIDGE_ACCESS_CLIENT_SECRET`: both or neither.
fn bridge_access(
    get: &impl Fn(&str) -> Option<String>,
    errors: &mut Vec<String>,
) -> Option<BridgeAccessToken> {
    match (
        get("BRIDGE_ACCESS_CLIENT_ID"),
        get("BRIDGE_ACCESS_CLIENT_SECRET").is_some(),
    ) {
        (None, false) => None,
        (Some(client_id), true) => {
            let mut ok = true;
            let header_safe = |v: &str| v.chars().all(|c| c.is_ascii_graphic());
            if client_id.chars().count() > MAX_CLIENT_ID_LEN || !header_safe(&client_id) {
                errors.push(format!(
                    "BRIDGE_ACCESS_CLIENT_ID must be at most {MAX_CLIENT_ID_LEN} printable ASCII characters without spaces"
                ));
                ok = false;
            }
            let before = errors.len();
            let client_secret = secret(get, "BRIDGE_ACCESS_CLIENT_SECRET", errors);
            if errors.len() == before && !header_safe(&client_secret) {
                errors.push(
                    "BRIDGE_ACCESS_CLIENT_SECRET must be printable ASCII without spaces".to_owned(),
                );
            }
            (ok && errors.len() == before).then_some(BridgeAccessToken {
                client_id,
                client_secret,
            })
        }
        _ => {
            errors.push(
                "BRIDGE_ACCESS_CLIENT_ID and BRIDGE_ACCESS_CLIENT_SECRET must be set together"
                    .to_owned(),
            );
            None
        }
    }
}

/// Reads an integer setting in `range` through `get`; unset gives `default`,
/// a bad value pushes one message onto `errors` (and gives `default`).
pub(crate) fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
    errors: &mut Vec<String>,
) -> u32 {
    match get(name) {
        None => default,
        Some(raw) => match raw.parse::<u32>() {
            Ok(n) if range.contains(&n) => n,
            _ => {
                errors.push(format!(
                    "{name} must be an integer in {}..={}",
                    range.start(),
                    range.end()
                ));
                default
            }
        },
    }
}

/// The bridge URL rules: `https://` in production; `http://` only to a
/// loopback host (the bridge on the same machine) outside production.
fn validate_bridge_url(raw: &str, production: bool) -> Result<String, &'static str> {
    let url = validate_base_url(raw)?;
    if url.starts_with("http://") {
        if production {
            return Err("must use https when ENVIRONMENT=production (or is unset)");
        }
        let parsed = worker::Url::parse(&url).map_err(|_| "is not a valid URL")?;
        let loopback = match parsed.host() {
            Some(worker::url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(worker::url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(worker::url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if !loopback {
            return Err("may use http only to a loopback host (ENVIRONMENT=development)");
        }
    }
    Ok(url)
}

/// Accepts `http://` or `https://` URLs with a host, no query or fragment;
/// returns the URL without a trailing slash.
fn validate_base_url(raw: &str) -> Result<String, &'static str> {
    let parsed = worker::Url::parse(raw).map_err(|_| "is not a valid URL")?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must use http or https");
    }
    if parsed.host_str().is_none() {
        return Err("must name a host");
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("must not have a query or fragment");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not embed credentials");
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const TOKEN_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const TOKEN_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn defaults_apply_when_only_secrets_are_set() {
        let cfg = Config::from_lookup(lookup(&[
            ("API_TOKEN", TOKEN_A),
            ("BRIDGE_TOKEN", TOKEN_B),
            ("ENVIRONMENT", "development"),
        ]))
        .unwrap();
        assert_eq!(cfg.bridge_url, DEFAULT_BRIDGE_URL);
        assert_eq!(cfg.watchlist.len(), DEFAULT_WATCHLIST.len());
        assert_eq!(cfg.market_hours_mode, MarketHoursMode::Enforce);
        assert_eq!(cfg.bridge_timeout_ms, DEFAULT_BRIDGE_TIMEOUT_MS);
        assert_eq!(cfg.retention_days, 10);
        assert_eq!(cfg.cron_clock, CronClock::Wall);
        assert!(!format!("{cfg:?}").contains(TOKEN_A));
    }

    #[test]
    fn the_scheduled_cron_clock_is_refused_in_production_and_allowed_elsewhere() {
        let secrets = [("API_TOKEN", TOKEN_A), ("BRIDGE_TOKEN", TOKEN_B)];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = secrets.to_vec();
            v.extend_from_slice(extra);
            Config::from_lookup(lookup(&v))
        };
        // Unset ENVIRONMENT is production.
        let errs = with(&[("CRON_CLOCK", "scheduled")])
            .unwrap_err()
            .to_string();
        assert!(errs.contains("CRON_CLOCK=scheduled"), "{errs}");
        let errs = with(&[("CRON_CLOCK", "scheduled"), ("ENVIRONMENT", "production")])
            .unwrap_err()
            .to_string();
        assert!(
            errs.contains("refused when ENVIRONMENT=production"),
            "{errs}"
        );
        let errs = with(&[("CRON_CLOCK", "later"), ("ENVIRONMENT", "test")])
            .unwrap_err()
            .to_string();
        assert!(errs.contains("CRON_CLOCK must be"), "{errs}");
        for env in ["development", "test"] {
            let cfg = with(&[("CRON_CLOCK", "scheduled"), ("ENVIRONMENT", env)]).unwrap();
            assert_eq!(cfg.cron_clock, CronClock::Scheduled);
        }
        let cfg = with(&[("CRON_CLOCK", "wall"), ("ENVIRONMENT", "test")]).unwrap();
        assert_eq!(cfg.cron_clock, CronClock::Wall);
    }

    #[test]
    fn every_problem_is_listed() {
        let errs = Config::from_lookup(lookup(&[
            ("API_TOKEN", "short"),
            ("BRIDGE_URL", "ftp://x"),
            ("WATCHLIST", "AAPL,$$"),
            ("MARKET_HOURS_MODE", "sometimes"),
            ("BRIDGE_TIMEOUT_MS", "0"),
            ("MARKET_DATA_RETENTION_DAYS", "ten"),
        ]))
        .unwrap_err();
        let text = errs.to_string();
        assert_eq!(errs.0.len(), 7, "{text}");
        for needle in [
            "API_TOKEN is shorter",
            "BRIDGE_TOKEN is not set",
            "BRIDGE_URL must use http",
            "WATCHLIST is invalid",
            "MARKET_HOURS_MODE",
            "BRIDGE_TIMEOUT_MS",
            "MARKET_DATA_RETENTION_DAYS",
        ] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
        assert!(!text.contains("short\""));
    }

    #[test]
    fn explicit_values_are_parsed() {
        let cfg = Config::from_lookup(lookup(&[
            ("API_TOKEN", TOKEN_A),
            ("BRIDGE_TOKEN", TOKEN_B),
            ("BRIDGE_URL", "https://bridge.example.com/"),
            ("WATCHLIST", "spy, qqq"),
            ("MARKET_HOURS_MODE", "ignore"),
            ("BRIDGE_TIMEOUT_MS", "2500"),
            ("MARKET_DATA_RETENTION_DAYS", "3"),
        ]))
        .unwrap();
        assert_eq!(cfg.bridge_url, "https://bridge.example.com");
        assert_eq!(
            cfg.watchlist.iter().map(Symbol::as_str).collect::<Vec<_>>(),
            ["SPY", "QQQ"]
        );
        assert_eq!(cfg.market_hours_mode, MarketHoursMode::Ignore);
        assert_eq!(cfg.bridge_timeout_ms, 2500);
        assert_eq!(cfg.retention_days, 3);
    }

    #[test]
    fn production_guard_is_opt_in_unset_environment_means_production() {
        let secrets = [("API_TOKEN", TOKEN_A), ("BRIDGE_TOKEN", TOKEN_B)];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = secrets.to_vec();
            v.extend_from_slice(extra);
            Config::from_lookup(lookup(&v))
        };
        let access = [
            ("ACCESS_TEAM_DOMAIN", "team.cloudflareaccess.com"),
            ("ACCESS_AUD", "aud1"),
            ("ACCESS_JWKS_URL", "http://127.0.0.1:9999/certs"),
            ("BRIDGE_URL", "https://bridge.example.com"),
        ];
        // ENVIRONMENT unset: production rules, the JWKS override is refused.
        let errs = with(&access).unwrap_err().to_string();
        assert!(errs.contains("ACCESS_JWKS_URL"), "{errs}");
        // ...and so is an http bridge, the default one included.
        let errs = with(&[("BRIDGE_URL", "http://bridge.example.com")]).unwrap_err();
        assert!(
            errs.to_string().contains("BRIDGE_URL must use https"),
            "{errs}"
        );
        let errs = with(&[]).unwrap_err();
        assert!(
            errs.to_string().contains("BRIDGE_URL must use https"),
            "{errs}"
        );
        let cfg = with(&[("BRIDGE_URL", "https://bridge.example.com")]).unwrap();
        assert!(cfg.approval.production);
        // Local development opts out explicitly: override and loopback http.
        let mut dev = access.to_vec();
        dev.push(("ENVIRONMENT", "development"));
        let cfg = with(&dev).unwrap();
        assert!(!cfg.approval.production);
        assert_eq!(
            cfg.approval.access.unwrap().jwks_url,
            "http://127.0.0.1:9999/certs"
        );
        for url in [
            "http://127.0.0.1:8081",
            "http://localhost:8081",
            "http://[::1]:8081",
        ] {
            let cfg = with(&[("ENVIRONMENT", "development"), ("BRIDGE_URL", url)]);
            assert!(cfg.is_ok(), "{url}: {cfg:?}");
        }
        // Even in development, plain http leaves the machine only by https.
        let errs = with(&[
            ("ENVIRONMENT", "development"),
            ("BRIDGE_URL", "http://192.168.1.5:8081"),
        ])
        .unwrap_err();
        assert!(errs.to_string().contains("loopback"), "{errs}");
    }

    #[test]
    fn bridge_access_service_token_is_both_or_neither_and_validated() {
        let base = [
            ("API_TOKEN", TOKEN_A),
            ("BRIDGE_TOKEN", TOKEN_B),
            ("ENVIRONMENT", "development"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            Config::from_lookup(lookup(&v))
        };
        assert_eq!(with(&[]).unwrap().bridge_access, None);
        let cfg = with(&[
            ("BRIDGE_ACCESS_CLIENT_ID", "abc.access"),
            ("BRIDGE_ACCESS_CLIENT_SECRET", TOKEN_B),
        ])
        .unwrap();
        let access = cfg.bridge_access.clone().unwrap();
        assert_eq!(
            (access.client_id.as_str(), access.client_secret.as_str()),
            ("abc.access", TOKEN_B)
        );
        assert!(!format!("{cfg:?}").contains(TOKEN_B));
        for (extra, needle) in [
            (
                &[("BRIDGE_ACCESS_CLIENT_ID", "abc.access")][..],
                "set together",
            ),
            (
                &[("BRIDGE_ACCESS_CLIENT_SECRET", TOKEN_B)][..],
                "set together",
            ),
            (
                &[
                    ("BRIDGE_ACCESS_CLIENT_ID", "abc.access"),
                    ("BRIDGE_ACCESS_CLIENT_SECRET", "short"),
                ][..],
                "BRIDGE_ACCESS_CLIENT_SECRET is shorter",
            ),
            (
                &[
                    ("BRIDGE_ACCESS_CLIENT_ID", "a b"),
                    ("BRIDGE_ACCESS_CLIENT_SECRET", TOKEN_B),
                ][..],
                "BRIDGE_ACCESS_CLIENT_ID must be",
            ),
        ] {
            let errs = with(extra).unwrap_err().to_string();
            assert!(errs.contains(needle), "{needle}: {errs}");
            assert!(
                !errs.contains(TOKEN_B) && !errs.contains("short\""),
                "{errs}"
            );
        }
    }

    #[test]
    fn allowed_origins_are_read_and_every_bad_one_listed() {
        let base = [
            ("API_TOKEN", TOKEN_A),
            ("BRIDGE_TOKEN", TOKEN_B),
            ("BRIDGE_URL", "https://b.example"),
        ];
        let mut v = base.to_vec();
        v.push((
            "ALLOWED_ORIGINS",
            "https://dash.example.com, https://x.example/",
        ));
        let cfg = Config::from_lookup(lookup(&v)).unwrap();
        assert_eq!(
            cfg.allowed_origins,
            ["https://dash.example.com", "https://x.example"]
        );
        let mut v = base.to_vec();
        v.push(("ALLOWED_ORIGINS", "http://dash.example.com,nope"));
        let errs = Config::from_lookup(lookup(&v)).unwrap_err().to_string();
        assert!(
            errs.contains("ALLOWED_ORIGINS")
                && errs.contains("nope")
                && errs.contains("http://dash"),
            "{errs}"
        );
    }

    #[test]
    fn bridge_url_rules() {
        assert!(validate_base_url("http://127.0.0.1:8081").is_ok());
        assert!(validate_base_url("http://user:pw@host").is_err());
        assert!(validate_base_url("http://host/?q=1").is_err());
        assert!(validate_base_url("not a url").is_err());
    }
}
