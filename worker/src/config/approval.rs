//! Settings of the proposal and approval workflow (`TRADING_MODE`, limits,
//! Cloudflare Access, order submission), validated with the rest of
//! [`super::Config`].

use chrono::NaiveTime;
use sas_access_jwt::AccessPolicy;

/// Largest accepted request body, bytes.
pub const MAX_BODY_BYTES: usize = 4 * 1024;
/// Longest decision reason / note, characters.
pub const MAX_REASON_CHARS: usize = 500;
/// An order is sent to the bridge at most this many times in all (each send
/// only after the bridge said the broker has no order under the key).
pub const MAX_ORDER_ATTEMPTS: i64 = 8;
/// Default `ORDER_RETRY_DEADLINE_ET`: no order is (re)sent at or after this
/// New York time.
pub const DEFAULT_ORDER_DEADLINE_ET: (u32, u32) = (15, 45);
/// Default `BRIDGE_ORDER_TIMEOUT_MS`: how long `POST /orders` may take (an IB
/// placement can take several seconds plus the bridge's own checks).
pub const DEFAULT_ORDER_TIMEOUT_MS: u32 = 30_000;
/// Accepted range of `BRIDGE_ORDER_TIMEOUT_MS`.
pub const ORDER_TIMEOUT_RANGE_MS: (u32, u32) = (100, 120_000);
/// Most orders one cron run resolves or resends.
pub const MAX_ORDERS_PER_RUN: u32 = 20;

/// How long an order may stay `submitting` before the cron treats it as
/// stale (the approving request died): the approving request's order call
/// (`order_timeout_ms`), its account check before it (`bridge_timeout_ms`)
/// and a minute of margin, ms.
pub fn stale_submitting_after_ms(order_timeout_ms: u32, bridge_timeout_ms: u32) -> i64 {
    i64::from(order_timeout_ms) + 2 * i64::from(bridge_timeout_ms) + 60_000
}

/// Whether trades may go to a live account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradingMode {
    /// Orders only to a paper account (checked on the bridge before each order).
    Paper,
    /// Live trading, only when `TRADING_MODE=live` is set explicitly.
    Live,
}

impl TradingMode {
    /// The configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            TradingMode::Paper => "paper",
            TradingMode::Live => "live",
        }
    }
}

/// Most proposals per trading day accepted in configuration.
pub const MAX_PROPOSALS_PER_DAY_LIMIT: u32 = 20;

/// Validated settings of the proposal and approval workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalConfig {
    /// `TRADING_MODE`: `paper` (default) or `live` (explicit only).
    pub trading_mode: TradingMode,
    /// `MAX_PROPOSALS_PER_DAY` (default 5), `MAX_OPEN_PER_SYMBOL` (default 1),
    /// `PROPOSAL_TTL_SECONDS` (optional, 30..=86400), `MIN_OPTION_VOLUME`
    /// (optional liquidity filter override, 0..=1000000).
    pub limits: ProposalLimits,
    /// `ACCESS_TEAM_DOMAIN` + `ACCESS_AUD` (both or neither), optional
    /// `ACCESS_JWKS_URL` (refused when `ENVIRONMENT=production`).
    pub access: Option<AccessSettings>,
    /// `ENVIRONMENT` is `production` or unset (local dev sets `development`).
    pub production: bool,
    /// `ORDER_RETRY_DEADLINE_ET`, `BRIDGE_ORDER_TIMEOUT_MS`.
    pub orders: OrderSettings,
}

/// Settings of order submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderSettings {
    /// `ORDER_RETRY_DEADLINE_ET` (`HH:MM`, New York, 09:31..=16:00, default
    /// 15:45): no order is sent (first send or retry) at or after it.
    pub deadline_et: NaiveTime,
    /// `BRIDGE_ORDER_TIMEOUT_MS` (100..=120000, default 30000): timeout of
    /// `POST /orders`; no answer in time = order state `unknown`.
    pub order_timeout_ms: u32,
}

impl Default for OrderSettings {
    fn default() -> Self {
        Self {
            deadline_et: NaiveTime::from_hms_opt(
                DEFAULT_ORDER_DEADLINE_ET.0,
                DEFAULT_ORDER_DEADLINE_ET.1,
                0,
            )
            .unwrap_or(NaiveTime::MIN),
            order_timeout_ms: DEFAULT_ORDER_TIMEOUT_MS,
        }
    }
}

fn parse_deadline(raw: &str) -> Option<NaiveTime> {
    let (h, m) = raw.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let t = NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)?;
    let open = NaiveTime::from_hms_opt(9, 30, 0)?;
    let close = NaiveTime::from_hms_opt(16, 0, 0)?;
    (t > open && t <= close).then_some(t)
}

impl OrderSettings {
    /// Reads `ORDER_RETRY_DEADLINE_ET` and `BRIDGE_ORDER_TIMEOUT_MS`.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>, errors: &mut Vec<String>) -> Self {
        let mut out = Self::default();
        if let Some(raw) = get("ORDER_RETRY_DEADLINE_ET") {
            match parse_deadline(&raw) {
                Some(t) => out.deadline_et = t,
                None => errors.push(
                    "ORDER_RETRY_DEADLINE_ET must be HH:MM (New York) after 09:30 and at most 16:00"
                        .to_owned(),
                ),
            }
        }
        if let Some(raw) = get("BRIDGE_ORDER_TIMEOUT_MS") {
            let (lo, hi) = ORDER_TIMEOUT_RANGE_MS;
            match raw.parse::<u32>() {
                Ok(n) if (lo..=hi).contains(&n) => out.order_timeout_ms = n,
                _ => errors.push(format!(
                    "BRIDGE_ORDER_TIMEOUT_MS must be an integer in {lo}..={hi}"
                )),
            }
        }
        out
    }
}

impl ApprovalConfig {
    /// Reads the settings through `get` (trimmed, blank = unset) and appends
    /// one message per problem to `errors`.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>, errors: &mut Vec<String>) -> Self {
        // Production rules unless a local setup opts out explicitly.
        let production = match get("ENVIRONMENT").as_deref() {
            Some("development") | Some("test") => false,
            None | Some("production") => true,
            Some(_) => {
                errors.push(
                    "ENVIRONMENT must be \"development\", \"test\" or \"production\"".to_owned(),
                );
                true
            }
        };
        let trading_mode = match get("TRADING_MODE").as_deref() {
            None | Some("paper") => TradingMode::Paper,
            Some("live") => TradingMode::Live,
            Some(_) => {
                errors.push("TRADING_MODE must be \"paper\" or \"live\"".to_owned());
                TradingMode::Paper
            }
        };
        let mut int = |name: &str, default: u32, lo: u32, hi: u32| match get(name) {
            None => Some(default),
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (lo..=hi).contains(&n) => Some(n),
                _ => {
                    errors.push(format!("{name} must be an integer in {lo}..={hi}"));
                    None
                }
            },
        };
        let max_per_day =
            int("MAX_PROPOSALS_PER_DAY", 5, 1, MAX_PROPOSALS_PER_DAY_LIMIT).unwrap_or(5);
        let max_open_per_symbol = int("MAX_OPEN_PER_SYMBOL", 1, 1, 5).unwrap_or(1);
        let ttl_seconds = match get("PROPOSAL_TTL_SECONDS") {
            None => None,
            Some(_) => int("PROPOSAL_TTL_SECONDS", 0, 30, 86_400),
        };
        let min_option_volume = match get("MIN_OPTION_VOLUME") {
            None => None,
            Some(_) => int("MIN_OPTION_VOLUME", 0, 0, 1_000_000).map(u64::from),
        };
        let access = match (get("ACCESS_TEAM_DOMAIN"), get("ACCESS_AUD")) {
            (None, None) => {
                if get("ACCESS_JWKS_URL").is_some() {
                    errors.push(
                        "ACCESS_JWKS_URL is set without ACCESS_TEAM_DOMAIN and ACCESS_AUD"
                            .to_owned(),
                    );
                }
                None
            }
            (Some(team), Some(aud)) => match AccessPolicy::new(&team, &aud) {
                Err(e) => {
                    errors.push(format!("ACCESS_TEAM_DOMAIN/ACCESS_AUD are invalid: {e}"));
                    None
                }
                Ok(policy) => {
                    let jwks_url = match get("ACCESS_JWKS_URL") {
                        None => Some(policy.certs_url()),
                        Some(_) if production => {
                            errors.push("ACCESS_JWKS_URL must not be set when ENVIRONMENT=production (keys come from the team's certs URL)".to_owned());
                            None
                        }
                        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                            Some(url)
                        }
                        Some(_) => {
                            errors.push("ACCESS_JWKS_URL must be an http(s) URL".to_owned());
                            None
                        }
                    };
                    jwks_url.map(|jwks_url| AccessSettings { policy, jwks_url })
                }
            },
            _ => {
                errors.push("ACCESS_TEAM_DOMAIN and ACCESS_AUD must be set together".to_owned());
                None
            }
        };
        Self {
            trading_mode,
            limits: ProposalLimits {
                max_per_day,
                max_open_per_symbol,
                ttl_seconds,
                min_option_volume,
            },
            access,
            production,
            orders: OrderSettings::from_lookup(get, errors),
        }
    }
}

/// Proposal limits of the Worker (validated configuration), applied on top of
/// core's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposalLimits {
    /// At most this many proposals per trading day.
    pub max_per_day: u32,
    /// At most this many open or pending trades per symbol.
    pub max_open_per_symbol: u32,
    /// Shorter proposal lifetime than the end of the trading day, seconds.
    pub ttl_seconds: Option<u32>,
    /// Liquidity filter override: least daily volume of every leg (core's
    /// default when `None`).
    pub min_option_volume: Option<u64>,
}

impl Default for ProposalLimits {
    fn default() -> Self {
        Self {
            max_per_day: 5,
            max_open_per_symbol: 1,
            ttl_seconds: None,
            min_option_volume: None,
        }
    }
}

/// Validated Access settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSettings {
    /// Issuer and audience the tokens must carry.
    pub policy: AccessPolicy,
    /// Where the JWKS is fetched from (the team's certs URL unless overridden
    /// for local tests).
    pub jwks_url: String,
}
