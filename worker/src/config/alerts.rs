//! Alert channels and settings (docs/alerts.md), read from vars and secrets
//! and validated with the rest of the configuration: every problem is
//! reported, and no message ever contains a secret's value.
//!
//! | name | kind | meaning |
//! |---|---|---|
//! | `NTFY_TOPIC` | secret | enables ntfy; `[A-Za-z0-9_-]{1,64}` |
//! | `NTFY_URL` | var | ntfy server, default `https://ntfy.sh` |
//! | `NTFY_TOKEN` | secret | optional access token (`tk_...`) |
//! | `TELEGRAM_BOT_TOKEN` + `TELEGRAM_CHAT_ID` | secret + var | both or neither |
//! | `TELEGRAM_API_URL` | var | default `https://api.telegram.org` (tests) |
//! | `DISCORD_WEBHOOK_URL` | secret | Discord execute-webhook URL |
//! | `SLACK_WEBHOOK_URL` | secret | Slack incoming-webhook URL |
//! | `ALERT_WEBHOOK_URL` | secret | generic JSON webhook |
//! | `ALERT_WEBHOOK_TOKEN` | secret | optional Bearer token for it |
//! | `ALERT_EVENTS` | var | `event=on|silent|off,...` (`all=` for the rest) |
//! | `ALERT_RATE_PER_MINUTE` | var | 1..=60, every channel; default per channel |
//! | `ALERT_INGEST_FAILURES` | var | failed runs in a row that alert, 1..=20, default 3 |
//! | `ALERT_ORDER_STUCK_MINUTES` | var | minutes an order may go without a final state, 1..=1440, default 30 |
//! | `WEB_BASE_URL` | var | the web UI's origin, for click-through links |
//!
//! URLs must be `https://`; `http://` is accepted only to a loopback host
//! and only when `ENVIRONMENT` is `development` or `test` (local receivers
//! in the end-to-end tests).

use sas_core::alerts::channel::TELEGRAM_API_URL;
use sas_core::alerts::{AlertSettings, ChannelConfig, ChannelKind, RetryPolicy, Secret};

/// Default ntfy server.
pub const DEFAULT_NTFY_URL: &str = "https://ntfy.sh";
/// Default `ALERT_INGEST_FAILURES`.
pub const DEFAULT_INGEST_FAILURES: u32 = 3;
/// Longest accepted token or URL, characters.
pub const MAX_SECRET_CHARS: usize = 2_048;

/// Validated alert settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertsConfig {
    /// Configured channels, at most one of each kind, in
    /// [`ChannelKind::ALL`] order.
    pub channels: Vec<ChannelConfig>,
    /// Per-event on / silent / off.
    pub settings: AlertSettings,
    /// `ALERT_RATE_PER_MINUTE` for every channel; `None`: each channel's
    /// default ([`ChannelKind::default_rate_per_minute`]).
    pub rate_per_minute: Option<u32>,
    /// Failed ingestion runs in a row that raise `ingestion_failing`.
    pub ingest_failures: u32,
    /// Minutes after which an order without a final state is "stuck"
    /// (0, the `Default`: [`sas_core::alerts::watch::DEFAULT_STUCK_MINUTES`]).
    pub order_stuck_minutes: u32,
    /// `WEB_BASE_URL` without a trailing slash.
    pub web_base_url: Option<String>,
    /// Retries of a delivery.
    pub retry: RetryPolicy,
}

impl AlertsConfig {
    /// The kinds of the configured channels.
    pub fn channel_kinds(&self) -> Vec<ChannelKind> {
        self.channels.iter().map(ChannelConfig::kind).collect()
    }

    /// The configured channel of `kind`.
    pub fn channel(&self, kind: ChannelKind) -> Option<&ChannelConfig> {
        self.channels.iter().find(|c| c.kind() == kind)
    }

    /// Messages per minute `kind` may take.
    pub fn rate_for(&self, kind: ChannelKind) -> u32 {
        self.rate_per_minute
            .unwrap_or_else(|| kind.default_rate_per_minute())
    }

    /// Reads the settings through `get` (trimmed, blank = unset) and appends
    /// one message per problem to `errors`.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>, errors: &mut Vec<String>) -> Self {
        let local = matches!(
            get("ENVIRONMENT").as_deref(),
            Some("development") | Some("test")
        );
        let mut channels = Vec::new();
        let url = |name: &str, errors: &mut Vec<String>| -> Option<String> {
            let raw = get(name)?;
            match check_url(&raw, local) {
                Ok(u) => Some(u),
                Err(rule) => {
                    errors.push(format!("{name} {rule}"));
                    None
                }
            }
        };

        // ntfy
        let ntfy_url = url("NTFY_URL", errors);
        let ntfy_token = token(get, "NTFY_TOKEN", errors);
        match get("NTFY_TOPIC") {
            Some(topic) => {
                let ok_topic = (1..=64).contains(&topic.len())
                    && topic
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if !ok_topic {
                    errors.push("NTFY_TOPIC must be 1-64 characters of A-Z a-z 0-9 _ -".into());
                } else if get("NTFY_URL").is_none() || ntfy_url.is_some() {
                    channels.push(ChannelConfig::Ntfy {
                        server: ntfy_url.unwrap_or_else(|| DEFAULT_NTFY_URL.to_owned()),
                        topic: Secret::new(topic),
                        token: ntfy_token,
                    });
                }
            }
            None => {
                if get("NTFY_URL").is_some() || get("NTFY_TOKEN").is_some() {
                    errors.push("NTFY_URL and NTFY_TOKEN need NTFY_TOPIC".into());
                }
            }
        }

        // Telegram
        let telegram_api = url("TELEGRAM_API_URL", errors);
        match (get("TELEGRAM_BOT_TOKEN"), get("TELEGRAM_CHAT_ID")) {
            (None, None) => {}
            (Some(bot_token), Some(chat_id)) => {
                let mut ok = true;
                if !telegram_token_ok(&bot_token) {
                    errors.push(
                        "TELEGRAM_BOT_TOKEN must look like <digits>:<letters, digits, _ or ->"
                            .into(),
                    );
                    ok = false;
                }
                if !telegram_chat_ok(&chat_id) {
                    errors.push(
                        "TELEGRAM_CHAT_ID must be a number (negative for groups) or @channelname"
                            .into(),
                    );
                    ok = false;
                }
                if ok && (get("TELEGRAM_API_URL").is_none() || telegram_api.is_some()) {
                    channels.push(ChannelConfig::Telegram {
                        api_url: telegram_api.unwrap_or_else(|| TELEGRAM_API_URL.to_owned()),
                        bot_token: Secret::new(bot_token),
                        chat_id,
                    });
                }
            }
            _ => errors.push("TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID must be set together".into()),
        }

        // Discord, Slack, generic webhook
        if let Some(u) = url("DISCORD_WEBHOOK_URL", errors) {
            channels.push(ChannelConfig::Discord {
                webhook_url: Secret::new(u),
            });
        }
        if let Some(u) = url("SLACK_WEBHOOK_URL", errors) {
            channels.push(ChannelConfig::Slack {
                webhook_url: Secret::new(u),
            });
        }
        let webhook_token = token(get, "ALERT_WEBHOOK_TOKEN", errors);
        match url("ALERT_WEBHOOK_URL", errors) {
            Some(u) => channels.push(ChannelConfig::Webhook {
                url: Secret::new(u),
                token: webhook_token,
            }),
            None => {
                if get("ALERT_WEBHOOK_URL").is_none() && get("ALERT_WEBHOOK_TOKEN").is_some() {
                    errors.push("ALERT_WEBHOOK_TOKEN needs ALERT_WEBHOOK_URL".into());
                }
            }
        }

        let settings = match get("ALERT_EVENTS") {
            None => AlertSettings::default(),
            Some(raw) => match AlertSettings::parse(&raw) {
                Ok(s) => s,
                Err(list) => {
                    errors.extend(list.into_iter().map(|e| format!("ALERT_EVENTS: {e}")));
                    AlertSettings::default()
                }
            },
        };
        let rate_per_minute = get("ALERT_RATE_PER_MINUTE")
            .map(|_| super::number(get, "ALERT_RATE_PER_MINUTE", 10, 1..=60, errors));
        let ingest_failures = super::number(
            get,
            "ALERT_INGEST_FAILURES",
            DEFAULT_INGEST_FAILURES,
            1..=20,
            errors,
        );
        let order_stuck_minutes = super::number(
            get,
            "ALERT_ORDER_STUCK_MINUTES",
            sas_core::alerts::watch::DEFAULT_STUCK_MINUTES,
            1..=1_440,
            errors,
        );
        let web_base_url = url("WEB_BASE_URL", errors);
        // `ALERT_RETRY_BASE_SECS` (1..=600, default 30): the wait after a
        // failed delivery, doubling up to the policy's cap.
        let retry = RetryPolicy {
            base_delay_ms: i64::from(super::number(
                get,
                "ALERT_RETRY_BASE_SECS",
                30,
                1..=600,
                errors,
            )) * 1_000,
            ..RetryPolicy::default()
        };

        AlertsConfig {
            channels,
            settings,
            rate_per_minute,
            ingest_failures,
            order_stuck_minutes,
            web_base_url,
            retry,
        }
    }
}

/// An optional token: printable ASCII without spaces (it goes into a
/// header), at most [`MAX_SECRET_CHARS`].
fn token(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    errors: &mut Vec<String>,
) -> Option<Secret> {
    let raw = get(name)?;
    if raw.len() > MAX_SECRET_CHARS || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        errors.push(format!(
            "{name} must be at most {MAX_SECRET_CHARS} printable ASCII characters without spaces"
        ));
        return None;
    }
    Some(Secret::new(raw))
}

fn telegram_token_ok(t: &str) -> bool {
    match t.split_once(':') {
        Some((id, rest)) => {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && !rest.is_empty()
                && t.len() <= 200
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        }
        None => false,
    }
}

fn telegram_chat_ok(c: &str) -> bool {
    if let Some(name) = c.strip_prefix('@') {
        return (5..=64).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    }
    let digits = c.strip_prefix('-').unwrap_or(c);
    !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `https://` URL with a host and no embedded credentials; `http://` only to
/// a loopback host when `local`. The rule broken, never the value (a webhook
/// URL is a secret).
fn check_url(raw: &str, local: bool) -> Result<String, &'static str> {
    if raw.len() > MAX_SECRET_CHARS {
        return Err("is too long");
    }
    let parsed = worker::Url::parse(raw).map_err(|_| "is not a valid URL")?;
    if parsed.host_str().is_none() {
        return Err("must name a host");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not embed credentials");
    }
    if parsed.fragment().is_some() {
        return Err("must not have a fragment");
    }
    match parsed.scheme() {
        "https" => {}
        "http" => {
            let loopback = match parsed.host() {
                Some(worker::url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(worker::url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(worker::url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if !(local && loopback) {
                return Err(
                    "must use https (http only to a loopback host with ENVIRONMENT=development or test)",
                );
            }
        }
        _ => return Err("must use https"),
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sas_core::alerts::{AlertKind, AlertSetting};
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> (AlertsConfig, Vec<String>) {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let get = |name: &str| {
            map.get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut errors = Vec::new();
        let cfg = AlertsConfig::from_lookup(&get, &mut errors);
        (cfg, errors)
    }

    #[test]
    fn nothing_set_means_no_channel_and_default_settings() {
        let (cfg, errors) = read(&[]);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(cfg.channels.is_empty());
        assert_eq!(cfg.ingest_failures, 3);
        assert_eq!(cfg.order_stuck_minutes, 30);
        assert_eq!(cfg.rate_for(ChannelKind::Ntfy), 10);
    }

    #[test]
    fn every_channel_is_read() {
        let (cfg, errors) = read(&[
            ("NTFY_TOPIC", "sas-alerts_01"),
            ("NTFY_TOKEN", "tk_abcdef"),
            ("TELEGRAM_BOT_TOKEN", "123456:ABC-def_9"),
            ("TELEGRAM_CHAT_ID", "-100123"),
            (
                "DISCORD_WEBHOOK_URL",
                "https://discord.com/api/webhooks/1/abc",
            ),
            (
                "SLACK_WEBHOOK_URL",
                "https://hooks.slack.com/services/T/B/x",
            ),
            ("ALERT_WEBHOOK_URL", "https://hooks.example.com/sas"),
            ("ALERT_WEBHOOK_TOKEN", "s3cret"),
            ("ALERT_EVENTS", "fill=silent,daily_summary=off"),
            ("ALERT_RATE_PER_MINUTE", "5"),
            ("WEB_BASE_URL", "https://sas.example.com/"),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cfg.channel_kinds(), ChannelKind::ALL.to_vec());
        assert_eq!(
            cfg.channel(ChannelKind::Ntfy),
            Some(&ChannelConfig::Ntfy {
                server: "https://ntfy.sh".into(),
                topic: Secret::new("sas-alerts_01"),
                token: Some(Secret::new("tk_abcdef")),
            })
        );
        assert_eq!(cfg.settings.setting(AlertKind::Fill), AlertSetting::Silent);
        assert_eq!(cfg.rate_for(ChannelKind::Discord), 5);
        assert_eq!(cfg.web_base_url.as_deref(), Some("https://sas.example.com"));
    }

    #[test]
    fn every_problem_is_reported_without_secret_values() {
        let (cfg, errors) = read(&[
            ("NTFY_TOPIC", "has space"),
            ("TELEGRAM_BOT_TOKEN", "SECRETVALUE"),
            (
                "DISCORD_WEBHOOK_URL",
                "http://discord.com/api/webhooks/1/SECRETVALUE",
            ),
            ("SLACK_WEBHOOK_URL", "not a url SECRETVALUE"),
            ("ALERT_WEBHOOK_TOKEN", "SECRETVALUE"),
            ("ALERT_EVENTS", "fill=loud,bogus=on"),
            ("ALERT_RATE_PER_MINUTE", "0"),
            ("ALERT_INGEST_FAILURES", "x"),
            ("ALERT_ORDER_STUCK_MINUTES", "0"),
            ("WEB_BASE_URL", "ftp://x"),
        ]);
        assert!(cfg.channels.is_empty());
        let joined = errors.join("\n");
        assert!(!joined.contains("SECRETVALUE"), "{joined}");
        for expected in [
            "NTFY_TOPIC must be",
            "TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID must be set together",
            "DISCORD_WEBHOOK_URL must use https",
            "SLACK_WEBHOOK_URL is not a valid URL",
            "ALERT_WEBHOOK_TOKEN needs ALERT_WEBHOOK_URL",
            "ALERT_EVENTS: \"loud\" for fill is not on, silent or off",
            "ALERT_EVENTS: unknown event \"bogus\"",
            "ALERT_RATE_PER_MINUTE must be an integer in 1..=60",
            "ALERT_INGEST_FAILURES must be an integer in 1..=20",
            "ALERT_ORDER_STUCK_MINUTES must be an integer in 1..=1440",
            "WEB_BASE_URL must use https",
        ] {
            assert!(
                joined.contains(expected),
                "missing {expected:?} in\n{joined}"
            );
        }
        assert_eq!(errors.len(), 11, "{joined}");
    }

    #[test]
    fn telegram_values_are_checked() {
        let (_, errors) = read(&[
            ("TELEGRAM_BOT_TOKEN", "abc:def"),
            ("TELEGRAM_CHAT_ID", "12x"),
        ]);
        assert_eq!(errors.len(), 2, "{errors:?}");
        let (cfg, errors) = read(&[
            ("TELEGRAM_BOT_TOKEN", "1:x"),
            ("TELEGRAM_CHAT_ID", "@sas_alerts"),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cfg.channel_kinds(), vec![ChannelKind::Telegram]);
    }

    #[test]
    fn http_to_loopback_only_in_local_environments() {
        let vars = [("ALERT_WEBHOOK_URL", "http://127.0.0.1:9999/hook")];
        let (cfg, errors) = read(&vars);
        assert_eq!(cfg.channels.len(), 0);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let (cfg, errors) = read(&[vars[0], ("ENVIRONMENT", "test")]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cfg.channel_kinds(), vec![ChannelKind::Webhook]);
        let (_, errors) = read(&[
            ("ALERT_WEBHOOK_URL", "http://example.com/hook"),
            ("ENVIRONMENT", "development"),
        ]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let (_, errors) = read(&[("ALERT_WEBHOOK_URL", "https://user:pw@example.com/hook")]);
        assert_eq!(errors, vec!["ALERT_WEBHOOK_URL must not embed credentials"]);
    }

    #[test]
    fn debug_output_hides_secrets() {
        let (cfg, _) = read(&[
            ("NTFY_TOPIC", "privatetopic"),
            ("NTFY_TOKEN", "tk_privatetoken"),
            (
                "SLACK_WEBHOOK_URL",
                "https://hooks.slack.com/services/PRIVATE",
            ),
        ]);
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("private") && !shown.contains("PRIVATE"),
            "{shown}"
        );
    }
}
