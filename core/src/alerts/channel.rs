//! Notification channels and the one HTTP request each needs for an
//! [`Alert`]. Request shapes follow each channel's documentation:
//!
//! - **ntfy** (docs.ntfy.sh/publish, "Publish as JSON"): `POST` the JSON
//!   object `{topic, message, title, tags, priority, click}` to the server's
//!   ROOT URL (not the topic URL); `priority` 1..=5 (3 default, 5 max, 2 low
//!   = no sound); an access token as `Authorization: Bearer tk_...`. Messages
//!   above 4,096 bytes become attachments, so the message is cut to 4,096
//!   bytes.
//! - **Telegram** (core.telegram.org/bots/api#sendmessage): `POST
//!   https://api.telegram.org/bot<token>/sendMessage` with JSON `{chat_id,
//!   text, disable_notification}`; `text` is 1-4,096 characters after
//!   entity parsing (plain text here: no `parse_mode`, nothing to escape).
//! - **Discord** (discord.com/developers/docs/resources/webhook#execute-webhook):
//!   `POST` the webhook URL with JSON `{content, allowed_mentions, flags}`;
//!   `content` is at most 2,000 characters; `allowed_mentions: {parse: []}`
//!   keeps text from pinging anyone; flag 4096 (`SUPPRESS_NOTIFICATIONS`)
//!   for silent alerts.
//! - **Slack** (api.slack.com/messaging/webhooks): `POST` the incoming
//!   webhook URL with JSON `{text}`; Slack truncates beyond 40,000
//!   characters and advises at most 4,000, which is the cut used here.
//! - **Generic webhook**: `POST` the URL with the alert as JSON (key, kind,
//!   severity, title, body, url, at, resolved, silent) and an
//!   `Idempotency-Key` header carrying the event key, so a receiver can drop
//!   the rare duplicate of at-least-once delivery.
//!
//! Secrets (tokens, webhook URLs, the ntfy topic, which on ntfy.sh is the
//! only protection of a topic) are held in [`Secret`], whose `Debug` prints
//! `***`; [`HttpRequest`]'s `Debug` hides its URL, credentials and body.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::event::{Alert, Severity};
use super::text::{truncate, Measure};

/// A secret value: a token, a webhook URL, a topic name. `Debug` prints
/// `***`; there is no `Display`, so a secret cannot slip into a format
/// string by accident. Read it with [`Secret::expose`] where it is used.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret's value, for the request that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The kinds of channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Ntfy,
    Telegram,
    Discord,
    Slack,
    Webhook,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 5] = [
        ChannelKind::Ntfy,
        ChannelKind::Telegram,
        ChannelKind::Discord,
        ChannelKind::Slack,
        ChannelKind::Webhook,
    ];

    /// The stored name (`alert_deliveries.channel`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Ntfy => "ntfy",
            ChannelKind::Telegram => "telegram",
            ChannelKind::Discord => "discord",
            ChannelKind::Slack => "slack",
            ChannelKind::Webhook => "webhook",
        }
    }

    /// The stored name read back.
    pub fn parse(name: &str) -> Option<ChannelKind> {
        ChannelKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The longest message text the channel takes, and how it counts.
    pub fn text_limit(self) -> (usize, Measure) {
        match self {
            ChannelKind::Ntfy => (NTFY_MAX_MESSAGE_BYTES, Measure::Bytes),
            ChannelKind::Telegram => (TELEGRAM_MAX_TEXT_CHARS, Measure::Chars),
            ChannelKind::Discord => (DISCORD_MAX_CONTENT_CHARS, Measure::Chars),
            ChannelKind::Slack => (SLACK_MAX_TEXT_CHARS, Measure::Chars),
            ChannelKind::Webhook => (WEBHOOK_MAX_BODY_CHARS, Measure::Chars),
        }
    }

    /// Messages per minute sent to the channel when `ALERT_RATE_PER_MINUTE`
    /// is not set: below each service's published or observed limits
    /// (ntfy.sh: a burst of 60 then one per 5 s; Telegram about 1 per second
    /// per chat and 20 per minute in groups; Discord webhooks about 30 per
    /// minute; Slack about 1 per second).
    pub fn default_rate_per_minute(self) -> u32 {
        match self {
            ChannelKind::Ntfy => 10,
            ChannelKind::Telegram => 15,
            ChannelKind::Discord => 20,
            ChannelKind::Slack => 20,
            ChannelKind::Webhook => 30,
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// ntfy's message limit (larger messages become attachments), bytes.
pub const NTFY_MAX_MESSAGE_BYTES: usize = 4_096;
/// Cut applied to the ntfy title (no documented limit; a phone shows one line).
pub const NTFY_MAX_TITLE_CHARS: usize = 250;
/// Telegram `sendMessage` text: 1-4,096 characters.
pub const TELEGRAM_MAX_TEXT_CHARS: usize = 4_096;
/// Discord execute-webhook `content`: at most 2,000 characters.
pub const DISCORD_MAX_CONTENT_CHARS: usize = 2_000;
/// Slack incoming webhook `text`: Slack's advised 4,000 characters.
pub const SLACK_MAX_TEXT_CHARS: usize = 4_000;
/// Generic webhook `body` field cut, characters.
pub const WEBHOOK_MAX_BODY_CHARS: usize = 8_000;
/// Discord message flag `SUPPRESS_NOTIFICATIONS` (1 << 12).
pub const DISCORD_FLAG_SUPPRESS_NOTIFICATIONS: u32 = 1 << 12;
/// The Telegram Bot API's base URL.
pub const TELEGRAM_API_URL: &str = "https://api.telegram.org";

/// One configured channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelConfig {
    /// `NTFY_URL` (server base URL, default `https://ntfy.sh`), `NTFY_TOPIC`,
    /// optional `NTFY_TOKEN` (Bearer).
    Ntfy {
        server: String,
        topic: Secret,
        token: Option<Secret>,
    },
    /// `TELEGRAM_BOT_TOKEN`, `TELEGRAM_CHAT_ID`; `api_url` is
    /// [`TELEGRAM_API_URL`] unless overridden for local tests.
    Telegram {
        api_url: String,
        bot_token: Secret,
        chat_id: String,
    },
    /// `DISCORD_WEBHOOK_URL` (the URL holds the webhook's token).
    Discord { webhook_url: Secret },
    /// `SLACK_WEBHOOK_URL`.
    Slack { webhook_url: Secret },
    /// `ALERT_WEBHOOK_URL`, optional `ALERT_WEBHOOK_TOKEN` (Bearer).
    Webhook { url: Secret, token: Option<Secret> },
}

impl ChannelConfig {
    pub fn kind(&self) -> ChannelKind {
        match self {
            ChannelConfig::Ntfy { .. } => ChannelKind::Ntfy,
            ChannelConfig::Telegram { .. } => ChannelKind::Telegram,
            ChannelConfig::Discord { .. } => ChannelKind::Discord,
            ChannelConfig::Slack { .. } => ChannelKind::Slack,
            ChannelConfig::Webhook { .. } => ChannelKind::Webhook,
        }
    }
}

impl ChannelConfig {
    /// The channel's secret values (to scrub from error texts).
    fn secrets(&self) -> Vec<&str> {
        let mut out = Vec::new();
        match self {
            ChannelConfig::Ntfy { topic, token, .. } => {
                out.push(topic.expose());
                out.extend(token.as_ref().map(Secret::expose));
            }
            ChannelConfig::Telegram { bot_token, .. } => out.push(bot_token.expose()),
            ChannelConfig::Discord { webhook_url } | ChannelConfig::Slack { webhook_url } => {
                out.push(webhook_url.expose());
            }
            ChannelConfig::Webhook { url, token } => {
                out.push(url.expose());
                out.extend(token.as_ref().map(Secret::expose));
            }
        }
        out.retain(|s| !s.is_empty());
        out
    }

    /// `text` with every secret of this channel replaced by `***` (for an
    /// error message or an answer body that is stored or logged).
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in self.secrets() {
            out = out.replace(secret, "***");
        }
        out
    }
}

/// HTTP methods the channels use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Post,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Post => "POST",
        }
    }
}

/// One request to send. `Debug` shows the method, the header names and the
/// body length only (the URL, header values and body can hold secrets).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: HttpMethod,
    pub url: Secret,
    /// Header name and value; values may be credentials.
    pub headers: Vec<(&'static str, Secret)>,
    pub body: String,
}

impl HttpRequest {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.expose())
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| *n).collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &names)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// ntfy priority: 5 max, 4 high, 3 default, 2 low (no sound).
pub fn ntfy_priority(alert: &Alert) -> u8 {
    if alert.silent {
        return 2;
    }
    if alert.resolved {
        return 3;
    }
    match alert.severity {
        Severity::Critical => 5,
        Severity::Warning => 4,
        Severity::Info => 3,
    }
}

/// ntfy tags (shown as emojis where ntfy knows the name).
pub fn ntfy_tags(alert: &Alert) -> Vec<&'static str> {
    let mark = if alert.resolved {
        "white_check_mark"
    } else {
        match alert.severity {
            Severity::Critical => "rotating_light",
            Severity::Warning => "warning",
            Severity::Info => "information_source",
        }
    };
    vec![mark, alert.kind.as_str()]
}

/// The text chat channels show (headline, body, link), cut to `kind`'s
/// limit. The body is cut first so that the link line stays whole (a cut
/// link is worse than none); if even the link does not fit, the whole text
/// is cut.
fn chat_text(kind: ChannelKind, alert: &Alert, web_base_url: Option<&str>) -> String {
    let (max, measure) = kind.text_limit();
    let head = format!("{}\n{}", alert.headline(), alert.body);
    let tail = match (alert.link, web_base_url) {
        (Some(link), Some(base)) => format!("\n{}", link.url(base)),
        _ => String::new(),
    };
    let tail_len = measure.of(&tail);
    if tail_len * 2 > max {
        return truncate(&format!("{head}{tail}"), max, measure);
    }
    format!("{}{tail}", truncate(&head, max - tail_len, measure))
}

/// Cuts `text` to `kind`'s limit.
fn fit(kind: ChannelKind, text: &str) -> String {
    let (max, measure) = kind.text_limit();
    truncate(text, max, measure)
}

/// The request that sends `alert` to `channel`. `web_base_url` is the web
/// UI's origin (`WEB_BASE_URL`), used for click-through links.
pub fn build_request(
    channel: &ChannelConfig,
    alert: &Alert,
    web_base_url: Option<&str>,
) -> HttpRequest {
    let json_header = ("Content-Type", Secret::new("application/json"));
    let click = alert
        .link
        .zip(web_base_url)
        .map(|(link, base)| link.url(base));
    match channel {
        ChannelConfig::Ntfy {
            server,
            topic,
            token,
        } => {
            let mut body = json!({
                "topic": topic.expose(),
                "title": truncate(&alert.headline(), NTFY_MAX_TITLE_CHARS, Measure::Chars),
                "message": fit(ChannelKind::Ntfy, &alert.body),
                "priority": ntfy_priority(alert),
                "tags": ntfy_tags(alert),
            });
            if let (Some(url), Some(obj)) = (click, body.as_object_mut()) {
                obj.insert("click".into(), json!(url));
            }
            let mut headers = vec![json_header];
            if let Some(t) = token {
                headers.push((
                    "Authorization",
                    Secret::new(format!("Bearer {}", t.expose())),
                ));
            }
            HttpRequest {
                method: HttpMethod::Post,
                // JSON is published to the ROOT URL, never the topic URL.
                url: Secret::new(format!("{}/", server.trim_end_matches('/'))),
                headers,
                body: body.to_string(),
            }
        }
        ChannelConfig::Telegram {
            api_url,
            bot_token,
            chat_id,
        } => HttpRequest {
            method: HttpMethod::Post,
            url: Secret::new(format!(
                "{}/bot{}/sendMessage",
                api_url.trim_end_matches('/'),
                bot_token.expose()
            )),
            headers: vec![json_header],
            body: json!({
                "chat_id": chat_id,
                "text": chat_text(ChannelKind::Telegram, alert, web_base_url),
                "disable_notification": alert.silent,
                "link_preview_options": { "is_disabled": true },
            })
            .to_string(),
        },
        ChannelConfig::Discord { webhook_url } => {
            let mut body = json!({
                "content": chat_text(ChannelKind::Discord, alert, web_base_url),
                "allowed_mentions": { "parse": [] },
            });
            if let (true, Some(obj)) = (alert.silent, body.as_object_mut()) {
                obj.insert("flags".into(), json!(DISCORD_FLAG_SUPPRESS_NOTIFICATIONS));
            }
            HttpRequest {
                method: HttpMethod::Post,
                url: webhook_url.clone(),
                headers: vec![json_header],
                body: body.to_string(),
            }
        }
        ChannelConfig::Slack { webhook_url } => HttpRequest {
            method: HttpMethod::Post,
            url: webhook_url.clone(),
            headers: vec![json_header],
            body: json!({
                "text": chat_text(ChannelKind::Slack, alert, web_base_url),
            })
            .to_string(),
        },
        ChannelConfig::Webhook { url, token } => {
            let mut headers = vec![
                json_header,
                ("Idempotency-Key", Secret::new(alert.key.as_str())),
            ];
            if let Some(t) = token {
                headers.push((
                    "Authorization",
                    Secret::new(format!("Bearer {}", t.expose())),
                ));
            }
            HttpRequest {
                method: HttpMethod::Post,
                url: url.clone(),
                headers,
                body: json!({
                    "key": alert.key.as_str(),
                    "kind": alert.kind,
                    "severity": alert.severity,
                    "title": alert.title,
                    "body": fit(ChannelKind::Webhook, &alert.body),
                    "url": click,
                    "at_ms": alert.at_ms,
                    "resolved": alert.resolved,
                    "silent": alert.silent,
                })
                .to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::event::{AlertEvent, AlertSettings};
    use crate::money::Money;
    use serde_json::Value;

    const BASE: &str = "https://sas.example.com";

    fn fill() -> Alert {
        AlertEvent::Filled {
            position_id: Some(12),
            proposal_id: 9,
            order_key: "sas-9".into(),
            execution_id: "e1".into(),
            summary: "SPY put credit spread 540/535 x2".into(),
            filled: 2,
            ordered: 2,
            price: Money::from_cents(125),
        }
        .to_alert(1_700_000_000_000, &AlertSettings::default())
        .unwrap()
    }

    fn body(req: &HttpRequest) -> Value {
        serde_json::from_str(&req.body).unwrap()
    }

    fn long_alert(body: String) -> Alert {
        Alert { body, ..fill() }
    }

    #[test]
    fn ntfy_publishes_json_to_the_root_url_with_priority_tags_click_and_token() {
        let ch = ChannelConfig::Ntfy {
            server: "https://ntfy.sh/".into(),
            topic: Secret::new("sas-7f3k2"),
            token: Some(Secret::new("tk_abc")),
        };
        let req = build_request(&ch, &fill(), Some(BASE));
        assert_eq!(req.method.as_str(), "POST");
        assert_eq!(req.url.expose(), "https://ntfy.sh/");
        assert_eq!(req.header("authorization"), Some("Bearer tk_abc"));
        assert_eq!(req.header("content-type"), Some("application/json"));
        let b = body(&req);
        assert_eq!(b["topic"], "sas-7f3k2");
        assert_eq!(b["title"], "Filled: SPY put credit spread 540/535 x2");
        assert_eq!(b["message"], "2 of 2 at 1.25.");
        assert_eq!(b["priority"], 3);
        assert_eq!(b["tags"], serde_json::json!(["information_source", "fill"]));
        assert_eq!(b["click"], "https://sas.example.com/#/positions/12");
        // Only documented fields.
        let keys: Vec<&String> = b.as_object().unwrap().keys().collect();
        for k in keys {
            assert!(
                ["topic", "message", "title", "tags", "priority", "click"].contains(&k.as_str()),
                "{k}"
            );
        }
    }

    #[test]
    fn ntfy_priority_follows_severity_silence_and_resolution() {
        let mut a = fill();
        a.severity = Severity::Critical;
        assert_eq!(ntfy_priority(&a), 5);
        a.resolved = true;
        assert_eq!(ntfy_priority(&a), 3);
        a.silent = true;
        assert_eq!(ntfy_priority(&a), 2);
        let ch = ChannelConfig::Ntfy {
            server: "https://ntfy.sh".into(),
            topic: Secret::new("t"),
            token: None,
        };
        let req = build_request(&ch, &a, None);
        assert_eq!(req.header("authorization"), None);
        assert!(body(&req).get("click").is_none());
    }

    #[test]
    fn ntfy_message_is_cut_to_4096_bytes() {
        let req = build_request(
            &ChannelConfig::Ntfy {
                server: "https://ntfy.sh".into(),
                topic: Secret::new("t"),
                token: None,
            },
            &long_alert("€".repeat(3_000)),
            None,
        );
        let msg = body(&req)["message"].as_str().unwrap().to_owned();
        assert!(msg.len() <= NTFY_MAX_MESSAGE_BYTES, "{}", msg.len());
        assert!(msg.ends_with('…'));
    }

    #[test]
    fn telegram_send_message_has_chat_id_plain_text_and_silence() {
        let ch = ChannelConfig::Telegram {
            api_url: TELEGRAM_API_URL.into(),
            bot_token: Secret::new("123456:ABC-def"),
            chat_id: "-1001234".into(),
        };
        let mut a = fill();
        a.silent = true;
        let req = build_request(&ch, &a, Some(BASE));
        assert_eq!(
            req.url.expose(),
            "https://api.telegram.org/bot123456:ABC-def/sendMessage"
        );
        let b = body(&req);
        assert_eq!(b["chat_id"], "-1001234");
        assert_eq!(b["disable_notification"], true);
        assert!(b.get("parse_mode").is_none());
        let text = b["text"].as_str().unwrap();
        assert!(text.starts_with("Filled: SPY"), "{text}");
        assert!(
            text.ends_with("https://sas.example.com/#/positions/12"),
            "{text}"
        );
    }

    #[test]
    fn telegram_text_is_1_to_4096_characters() {
        let ch = ChannelConfig::Telegram {
            api_url: TELEGRAM_API_URL.into(),
            bot_token: Secret::new("1:x"),
            chat_id: "1".into(),
        };
        let req = build_request(&ch, &long_alert("😀".repeat(5_000)), None);
        let text = body(&req)["text"].as_str().unwrap().to_owned();
        let units = text.encode_utf16().count();
        assert!((1..=TELEGRAM_MAX_TEXT_CHARS).contains(&units), "{units}");
    }

    #[test]
    fn discord_content_is_at_most_2000_characters_and_pings_nobody() {
        let ch = ChannelConfig::Discord {
            webhook_url: Secret::new("https://discord.com/api/webhooks/1/tok"),
        };
        let req = build_request(&ch, &long_alert("@everyone ".repeat(500)), Some(BASE));
        assert_eq!(req.url.expose(), "https://discord.com/api/webhooks/1/tok");
        let b = body(&req);
        let content = b["content"].as_str().unwrap();
        assert!(content.encode_utf16().count() <= DISCORD_MAX_CONTENT_CHARS);
        // The body was cut, the link line kept whole.
        assert!(
            content.ends_with("…\nhttps://sas.example.com/#/positions/12"),
            "{content}"
        );
        assert_eq!(b["allowed_mentions"], serde_json::json!({ "parse": [] }));
        assert!(b.get("flags").is_none());
        let mut quiet = fill();
        quiet.silent = true;
        let b = body(&build_request(&ch, &quiet, None));
        assert_eq!(b["flags"], 4096);
    }

    #[test]
    fn slack_posts_text_to_the_webhook() {
        let ch = ChannelConfig::Slack {
            webhook_url: Secret::new("https://hooks.slack.com/services/T/B/x"),
        };
        let req = build_request(&ch, &fill(), Some(BASE));
        let b = body(&req);
        assert_eq!(b.as_object().unwrap().len(), 1);
        assert!(b["text"].as_str().unwrap().contains("2 of 2 at 1.25."));
        let req = build_request(&ch, &long_alert("x".repeat(10_000)), None);
        let text = body(&req)["text"].as_str().unwrap().to_owned();
        assert!(text.chars().count() <= SLACK_MAX_TEXT_CHARS);
    }

    #[test]
    fn webhook_carries_the_whole_alert_and_its_key() {
        let ch = ChannelConfig::Webhook {
            url: Secret::new("https://hooks.example.com/sas"),
            token: Some(Secret::new("s3cret")),
        };
        let a = fill();
        let req = build_request(&ch, &a, Some(BASE));
        assert_eq!(req.header("idempotency-key"), Some("fill:sas-9:e1"));
        assert_eq!(req.header("authorization"), Some("Bearer s3cret"));
        let b = body(&req);
        assert_eq!(b["key"], "fill:sas-9:e1");
        assert_eq!(b["kind"], "fill");
        assert_eq!(b["severity"], "info");
        assert_eq!(b["url"], "https://sas.example.com/#/positions/12");
        assert_eq!(b["at_ms"], 1_700_000_000_000_i64);
        assert_eq!(b["resolved"], false);
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let ch = ChannelConfig::Telegram {
            api_url: TELEGRAM_API_URL.into(),
            bot_token: Secret::new("123456:SECRET-TOKEN"),
            chat_id: "1".into(),
        };
        let req = build_request(&ch, &fill(), None);
        let shown = format!("{ch:?} {req:?}");
        assert!(!shown.contains("SECRET-TOKEN"), "{shown}");
        let ntfy = ChannelConfig::Ntfy {
            server: "https://ntfy.sh".into(),
            topic: Secret::new("private-topic"),
            token: Some(Secret::new("tk_private")),
        };
        let req = build_request(&ntfy, &fill(), None);
        let shown = format!("{ntfy:?} {req:?}");
        assert!(!shown.contains("private"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn redact_scrubs_every_secret_of_the_channel() {
        let ch = ChannelConfig::Telegram {
            api_url: TELEGRAM_API_URL.into(),
            bot_token: Secret::new("123:TOKEN"),
            chat_id: "1".into(),
        };
        assert_eq!(
            ch.redact("fetch https://api.telegram.org/bot123:TOKEN/sendMessage failed"),
            "fetch https://api.telegram.org/bot***/sendMessage failed"
        );
        let hook = ChannelConfig::Webhook {
            url: Secret::new("https://h.example/x"),
            token: Some(Secret::new("tok")),
        };
        assert_eq!(hook.redact("https://h.example/x said tok"), "*** said ***");
    }

    #[test]
    fn channel_names_round_trip() {
        for k in ChannelKind::ALL {
            assert_eq!(ChannelKind::parse(k.as_str()), Some(k));
        }
    }
}
