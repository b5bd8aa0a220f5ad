//! The events SAS alerts on, their severity and per-event setting, and the
//! [`Alert`] each renders to: a title, a body, a link into the web UI and an
//! [`EventKey`] that names the event exactly once (the outbox stores each key
//! once, so an event reported twice is sent once).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::money::Money;

// ---------------------------------------------------------------------------
// Kinds, severities, settings
// ---------------------------------------------------------------------------

/// Every event SAS can alert on. The `snake_case` name is the one used in
/// `ALERT_EVENTS`, in the outbox's `kind` column and in `GET /alerts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// New proposals: one message per generation batch, with the best one.
    Proposals,
    /// A proposal was approved.
    Approval,
    /// An order was accepted by the bridge (submitted to the broker).
    Submission,
    /// An order filled (fully or partly).
    Fill,
    /// A position was closed by an exit rule, with the rule and the P&L.
    Exit,
    /// The bridge or the broker refused an order.
    OrderRejected,
    /// An order has not reached a final state in time (unknown, stale).
    OrderStuck,
    /// Condition: trading is halted (resolved = the halt was cleared).
    RiskHalt,
    /// Condition: the books differ from the broker's.
    ReconciliationDrift,
    /// Condition: ingestion failed N runs in a row.
    IngestionFailing,
    /// Condition: the bridge cannot be reached or has no broker session.
    BridgeDisconnected,
    /// Condition: IB is connected but degraded (farm broken, data lost).
    IbDegraded,
    /// IB's nightly reset window is starting.
    IbResetWindow,
    /// The weekly restart needs a new login with 2FA.
    ReloginDue,
    /// Condition: market data turned delayed.
    DataDelayed,
    /// Condition: the home archive is behind the Worker's export.
    ArchiveBehind,
    /// After the close: P&L, trades, what is pending tomorrow.
    DailySummary,
    /// `POST /alerts/test`: always sent, whatever the settings.
    Test,
}

impl AlertKind {
    /// Every kind, in display order.
    pub const ALL: [AlertKind; 18] = [
        AlertKind::Proposals,
        AlertKind::Approval,
        AlertKind::Submission,
        AlertKind::Fill,
        AlertKind::Exit,
        AlertKind::OrderRejected,
        AlertKind::OrderStuck,
        AlertKind::RiskHalt,
        AlertKind::ReconciliationDrift,
        AlertKind::IngestionFailing,
        AlertKind::BridgeDisconnected,
        AlertKind::IbDegraded,
        AlertKind::IbResetWindow,
        AlertKind::ReloginDue,
        AlertKind::DataDelayed,
        AlertKind::ArchiveBehind,
        AlertKind::DailySummary,
        AlertKind::Test,
    ];

    /// The stored and configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Proposals => "proposals",
            AlertKind::Approval => "approval",
            AlertKind::Submission => "submission",
            AlertKind::Fill => "fill",
            AlertKind::Exit => "exit",
            AlertKind::OrderRejected => "order_rejected",
            AlertKind::OrderStuck => "order_stuck",
            AlertKind::RiskHalt => "risk_halt",
            AlertKind::ReconciliationDrift => "reconciliation_drift",
            AlertKind::IngestionFailing => "ingestion_failing",
            AlertKind::BridgeDisconnected => "bridge_disconnected",
            AlertKind::IbDegraded => "ib_degraded",
            AlertKind::IbResetWindow => "ib_reset_window",
            AlertKind::ReloginDue => "relogin_due",
            AlertKind::DataDelayed => "data_delayed",
            AlertKind::ArchiveBehind => "archive_behind",
            AlertKind::DailySummary => "daily_summary",
            AlertKind::Test => "test",
        }
    }

    /// The kind of a stored or configured name.
    pub fn parse(name: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether this kind is a condition: raised once, resolved once
    /// ([`crate::alerts::condition`]).
    pub fn is_condition(self) -> bool {
        matches!(
            self,
            AlertKind::RiskHalt
                | AlertKind::ReconciliationDrift
                | AlertKind::IngestionFailing
                | AlertKind::BridgeDisconnected
                | AlertKind::IbDegraded
                | AlertKind::DataDelayed
                | AlertKind::ArchiveBehind
        )
    }

    /// How serious an event of this kind is.
    pub fn severity(self) -> Severity {
        match self {
            AlertKind::RiskHalt
            | AlertKind::ReconciliationDrift
            | AlertKind::BridgeDisconnected
            | AlertKind::OrderRejected => Severity::Critical,
            AlertKind::OrderStuck
            | AlertKind::IngestionFailing
            | AlertKind::IbDegraded
            | AlertKind::ReloginDue
            | AlertKind::DataDelayed
            | AlertKind::ArchiveBehind => Severity::Warning,
            AlertKind::Proposals
            | AlertKind::Approval
            | AlertKind::Submission
            | AlertKind::Fill
            | AlertKind::Exit
            | AlertKind::IbResetWindow
            | AlertKind::DailySummary
            | AlertKind::Test => Severity::Info,
        }
    }

    /// The setting when `ALERT_EVENTS` does not name this kind: the trader's
    /// own actions (approval, submission) and routine notices are silent,
    /// everything that needs attention or moves money is on.
    pub fn default_setting(self) -> AlertSetting {
        match self {
            AlertKind::Approval
            | AlertKind::Submission
            | AlertKind::IbResetWindow
            | AlertKind::ArchiveBehind => AlertSetting::Silent,
            _ => AlertSetting::On,
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How serious an alert is (maps to ntfy priority, chat prefixes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// The stored name read back.
    pub fn parse(name: &str) -> Option<Severity> {
        match name {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// What to do with an event of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSetting {
    /// Sent with its severity's loudness.
    On,
    /// Sent without sound or vibration (ntfy low priority, Telegram
    /// `disable_notification`, Discord's suppress-notifications flag).
    Silent,
    /// Not recorded and not sent.
    Off,
}

impl AlertSetting {
    /// The configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSetting::On => "on",
            AlertSetting::Silent => "silent",
            AlertSetting::Off => "off",
        }
    }

    fn parse(value: &str) -> Option<AlertSetting> {
        match value {
            "on" => Some(AlertSetting::On),
            "silent" => Some(AlertSetting::Silent),
            "off" => Some(AlertSetting::Off),
            _ => None,
        }
    }
}

/// Longest accepted `ALERT_EVENTS` value, in bytes.
pub const MAX_SETTINGS_LEN: usize = 2_000;

/// Why an alert setting or event could not be taken. One enum for the
/// alerts feature; messages never echo more than a short prefix of input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    /// `ALERT_EVENTS` longer than [`MAX_SETTINGS_LEN`].
    #[error("the event settings are longer than {MAX_SETTINGS_LEN} bytes")]
    SettingsTooLong,
    /// An entry is not `event=setting`.
    #[error("\"{0}\" is not event=setting")]
    MalformedEntry(String),
    /// No such event.
    #[error("unknown event \"{0}\"")]
    UnknownEvent(String),
    /// The `test` event cannot be configured (always sent).
    #[error("the test event is always sent and cannot be configured")]
    TestNotConfigurable,
    /// Not `on`, `silent` or `off`.
    #[error("\"{value}\" for {event} is not on, silent or off")]
    UnknownSetting { event: String, value: String },
    /// The same event named twice.
    #[error("{0} is set more than once")]
    DuplicateEvent(String),
    /// An event key that is empty, too long or has characters outside
    /// `[A-Za-z0-9:_.-]`.
    #[error("invalid event key \"{0}\"")]
    InvalidKey(String),
}

/// At most this many characters of user input are echoed in an error.
const ECHO_CHARS: usize = 40;

fn echo(s: &str) -> String {
    s.chars().take(ECHO_CHARS).collect()
}

/// The per-event settings: defaults ([`AlertKind::default_setting`])
/// overridden by `ALERT_EVENTS`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertSettings {
    all: Option<AlertSetting>,
    overrides: BTreeMap<AlertKind, AlertSetting>,
}

impl AlertSettings {
    /// The setting of `kind` (`test` is always on).
    pub fn setting(&self, kind: AlertKind) -> AlertSetting {
        if kind == AlertKind::Test {
            return AlertSetting::On;
        }
        self.overrides
            .get(&kind)
            .copied()
            .or(self.all)
            .unwrap_or_else(|| kind.default_setting())
    }

    /// Parses `event=setting` entries separated by commas, e.g.
    /// `fill=on,daily_summary=silent`. `all=<setting>` sets every event not
    /// named otherwise (wherever it appears). Spaces around entries and
    /// around `=` are ignored; an empty string gives the defaults. Every
    /// problem is reported, not only the first.
    pub fn parse(raw: &str) -> Result<AlertSettings, Vec<AlertError>> {
        if raw.len() > MAX_SETTINGS_LEN {
            return Err(vec![AlertError::SettingsTooLong]);
        }
        let mut errors = Vec::new();
        let mut out = AlertSettings::default();
        let mut seen_all = false;
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((name, value)) = entry.split_once('=') else {
                errors.push(AlertError::MalformedEntry(echo(entry)));
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            let setting = AlertSetting::parse(value);
            if name == "all" {
                if seen_all {
                    errors.push(AlertError::DuplicateEvent("all".into()));
                }
                seen_all = true;
                match setting {
                    Some(s) => out.all = Some(s),
                    None => errors.push(AlertError::UnknownSetting {
                        event: "all".into(),
                        value: echo(value),
                    }),
                }
                continue;
            }
            let kind = match AlertKind::parse(name) {
                Some(AlertKind::Test) => {
                    errors.push(AlertError::TestNotConfigurable);
                    continue;
                }
                Some(k) => k,
                None => {
                    errors.push(AlertError::UnknownEvent(echo(name)));
                    continue;
                }
            };
            let Some(setting) = setting else {
                errors.push(AlertError::UnknownSetting {
                    event: kind.as_str().into(),
                    value: echo(value),
                });
                continue;
            };
            if out.overrides.insert(kind, setting).is_some() {
                errors.push(AlertError::DuplicateEvent(kind.as_str().into()));
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

// ---------------------------------------------------------------------------
// Event keys and links
// ---------------------------------------------------------------------------

/// Longest event key, in bytes.
pub const MAX_KEY_LEN: usize = 200;

/// The name of one event, unique in the outbox: the same event reported
/// twice (a retried cron step, a Worker restart) has the same key and is
/// stored and sent once. ASCII `[A-Za-z0-9:_.-]`, 1..=200 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventKey(String);

impl EventKey {
    /// A key from its text, checked.
    pub fn new(raw: &str) -> Result<EventKey, AlertError> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_KEY_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.' | b'-'));
        if ok {
            Ok(EventKey(raw.to_owned()))
        } else {
            Err(AlertError::InvalidKey(echo(raw)))
        }
    }

    /// `kind:part:part...`, each part with characters outside the key
    /// alphabet replaced by `_` (so any identifier can take part); a key
    /// that would be too long keeps its head and ends with a hash of the
    /// whole, so distinct inputs stay distinct.
    pub fn from_parts(kind: AlertKind, parts: &[&str]) -> EventKey {
        let mut key = kind.as_str().to_owned();
        for part in parts {
            key.push(':');
            key.extend(part.chars().map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                    c
                } else {
                    '_'
                }
            }));
        }
        if key.len() > MAX_KEY_LEN {
            let full = std::iter::once(kind.as_str())
                .chain(parts.iter().copied())
                .collect::<Vec<_>>()
                .join("\u{1f}");
            let hash = format!(":{:016x}", fnv1a64(full.as_bytes()));
            key.truncate(MAX_KEY_LEN - hash.len());
            key.push_str(&hash);
        }
        EventKey(key)
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EventKey {
    type Error = AlertError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        EventKey::new(&raw)
    }
}

impl From<EventKey> for String {
    fn from(key: EventKey) -> String {
        key.0
    }
}

impl fmt::Display for EventKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// FNV-1a, 64 bits: a stable, dependency-free hash for long keys.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Where an alert leads in the web UI (hash routes of `web/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "page", content = "id", rename_all = "snake_case")]
pub enum AlertLink {
    /// `#/proposals/<id>`.
    Proposal(i64),
    /// `#/positions/<id>`.
    Position(i64),
    /// `#/proposals`.
    Proposals,
    /// `#/control` (kill switch, runs, audit).
    Control,
}

impl AlertLink {
    /// The URL under `base` (the web UI's origin, no trailing slash).
    pub fn url(self, base: &str) -> String {
        let base = base.trim_end_matches('/');
        match self {
            AlertLink::Proposal(id) => format!("{base}/#/proposals/{id}"),
            AlertLink::Position(id) => format!("{base}/#/positions/{id}"),
            AlertLink::Proposals => format!("{base}/#/proposals"),
            AlertLink::Control => format!("{base}/#/control"),
        }
    }
}

// ---------------------------------------------------------------------------
// The rendered alert
// ---------------------------------------------------------------------------

/// One alert as stored in the outbox (`payload` JSON) and sent to every
/// channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub key: EventKey,
    pub kind: AlertKind,
    pub severity: Severity,
    /// One line: what happened.
    pub title: String,
    /// The details, a few lines.
    pub body: String,
    pub link: Option<AlertLink>,
    /// When the event happened, Unix ms.
    pub at_ms: i64,
    /// A condition that cleared.
    #[serde(default)]
    pub resolved: bool,
    /// Sent without sound ([`AlertSetting::Silent`]).
    #[serde(default)]
    pub silent: bool,
}

/// Longest title kept in an alert, characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest body kept in an alert, characters (channels cut further).
pub const MAX_BODY_CHARS: usize = 3_000;

impl Alert {
    /// An alert of `kind` with its severity, the title and body cut to the
    /// stored limits, loudness from `settings`; `None` when the setting is
    /// [`AlertSetting::Off`].
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        key: EventKey,
        kind: AlertKind,
        title: &str,
        body: &str,
        link: Option<AlertLink>,
        at_ms: i64,
        resolved: bool,
        settings: &AlertSettings,
    ) -> Option<Alert> {
        let setting = settings.setting(kind);
        if setting == AlertSetting::Off {
            return None;
        }
        use crate::alerts::text::{truncate, Measure};
        Some(Alert {
            key,
            kind,
            // A cleared condition is good news: never louder than info.
            severity: if resolved {
                Severity::Info
            } else {
                kind.severity()
            },
            title: truncate(title, MAX_TITLE_CHARS, Measure::Chars),
            body: truncate(body, MAX_BODY_CHARS, Measure::Chars),
            link,
            at_ms,
            resolved,
            silent: setting == AlertSetting::Silent,
        })
    }

    /// The title as chat channels show it: `[CRITICAL] ...`, `[RESOLVED] ...`.
    pub fn headline(&self) -> String {
        let tag = if self.resolved {
            "[RESOLVED] "
        } else {
            match self.severity {
                Severity::Critical => "[CRITICAL] ",
                Severity::Warning => "[WARNING] ",
                Severity::Info => "",
            }
        };
        format!("{tag}{}", self.title)
    }
}

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

/// A one-line description of a trade (`SPY put credit spread 540/535 x2,
/// 2026-12-18`), written by the feature that knows the trade.
pub type TradeSummary = String;

/// A P&L for people: `+$12.35`, `-$7.00`.
pub fn format_pnl(pnl: Money) -> String {
    let c = pnl.cents();
    let sign = if c < 0 { "-" } else { "+" };
    format!("{sign}${}.{:02}", c.abs() / 100, c.abs() % 100)
}

/// A one-off event (conditions go through
/// [`crate::alerts::condition::observe`]). Each carries what makes it unique
/// (its key) and what the trader needs to read.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertEvent {
    /// A generation batch stored `count` proposals; `best` is the top one.
    /// Key: the trading date and the batch (the generation run's instant,
    /// so a replayed run is the same event). Written in the proposals' own
    /// batch, when their ids are not known yet: `best_id` is `None` there
    /// and the link opens the proposals list.
    ProposalsBatch {
        trading_date: String,
        batch: String,
        count: u32,
        best_id: Option<i64>,
        best_summary: TradeSummary,
    },
    /// A proposal was approved by `actor`. Key: the proposal id.
    Approved {
        proposal_id: i64,
        summary: TradeSummary,
        actor: String,
    },
    /// The bridge accepted the order. Key: the order's idempotency key.
    Submitted {
        proposal_id: i64,
        order_key: String,
        summary: TradeSummary,
    },
    /// A fill. Key: the order key and the broker's execution id.
    Filled {
        position_id: Option<i64>,
        proposal_id: i64,
        order_key: String,
        execution_id: String,
        summary: TradeSummary,
        filled: u32,
        ordered: u32,
        price: Money,
    },
    /// A position was closed by `rule` with realized `pnl`. Key: the
    /// position id.
    Exited {
        position_id: i64,
        summary: TradeSummary,
        rule: String,
        pnl: Money,
    },
    /// The bridge or broker refused an order. Key: the order key.
    OrderRejected {
        proposal_id: i64,
        order_key: String,
        summary: TradeSummary,
        reason: String,
    },
    /// An order is not final after `minutes`. Key: the order key and its state.
    OrderStuck {
        proposal_id: i64,
        order_key: String,
        state: String,
        minutes: u32,
    },
    /// IB's nightly reset window starts. Key: the day.
    IbResetWindow { date: String, window: String },
    /// The weekly restart needs a login with 2FA. Key: the due date.
    ReloginDue { due_date: String, detail: String },
    /// The daily summary after the close. Key: the trading date.
    DailySummary {
        trading_date: String,
        realized_pnl: Money,
        unrealized_pnl: Money,
        trades: u32,
        open_positions: u32,
        pending_tomorrow: String,
    },
    /// `POST /alerts/test`. Key: the time of the request.
    Test { requested_by: String },
}

impl AlertEvent {
    /// The event's kind.
    pub fn kind(&self) -> AlertKind {
        match self {
            AlertEvent::ProposalsBatch { .. } => AlertKind::Proposals,
            AlertEvent::Approved { .. } => AlertKind::Approval,
            AlertEvent::Submitted { .. } => AlertKind::Submission,
            AlertEvent::Filled { .. } => AlertKind::Fill,
            AlertEvent::Exited { .. } => AlertKind::Exit,
            AlertEvent::OrderRejected { .. } => AlertKind::OrderRejected,
            AlertEvent::OrderStuck { .. } => AlertKind::OrderStuck,
            AlertEvent::IbResetWindow { .. } => AlertKind::IbResetWindow,
            AlertEvent::ReloginDue { .. } => AlertKind::ReloginDue,
            AlertEvent::DailySummary { .. } => AlertKind::DailySummary,
            AlertEvent::Test { .. } => AlertKind::Test,
        }
    }

    /// The event's unique key.
    pub fn key(&self, at_ms: i64) -> EventKey {
        let kind = self.kind();
        match self {
            AlertEvent::ProposalsBatch {
                trading_date,
                batch,
                ..
            } => EventKey::from_parts(kind, &[trading_date, batch]),
            AlertEvent::Approved { proposal_id, .. } => {
                EventKey::from_parts(kind, &[&proposal_id.to_string()])
            }
            AlertEvent::Submitted { order_key, .. }
            | AlertEvent::OrderRejected { order_key, .. } => {
                EventKey::from_parts(kind, &[order_key])
            }
            AlertEvent::Filled {
                order_key,
                execution_id,
                ..
            } => EventKey::from_parts(kind, &[order_key, execution_id]),
            AlertEvent::Exited { position_id, .. } => {
                EventKey::from_parts(kind, &[&position_id.to_string()])
            }
            AlertEvent::OrderStuck {
                order_key, state, ..
            } => EventKey::from_parts(kind, &[order_key, state]),
            AlertEvent::IbResetWindow { date, .. } => EventKey::from_parts(kind, &[date]),
            AlertEvent::ReloginDue { due_date, .. } => EventKey::from_parts(kind, &[due_date]),
            AlertEvent::DailySummary { trading_date, .. } => {
                EventKey::from_parts(kind, &[trading_date])
            }
            AlertEvent::Test { .. } => EventKey::from_parts(kind, &[&at_ms.to_string()]),
        }
    }

    /// The alert this event renders to at `at_ms`, or `None` when its kind
    /// is off in `settings`.
    pub fn to_alert(&self, at_ms: i64, settings: &AlertSettings) -> Option<Alert> {
        let (title, body, link) = self.text();
        Alert::new(
            self.key(at_ms),
            self.kind(),
            &title,
            &body,
            link,
            at_ms,
            false,
            settings,
        )
    }

    fn text(&self) -> (String, String, Option<AlertLink>) {
        match self {
            AlertEvent::ProposalsBatch {
                count,
                best_id,
                best_summary,
                ..
            } => (
                format!(
                    "{count} new proposal{} to review",
                    if *count == 1 { "" } else { "s" }
                ),
                format!("Best: {best_summary}"),
                Some(match (count, best_id) {
                    (1, Some(id)) => AlertLink::Proposal(*id),
                    _ => AlertLink::Proposals,
                }),
            ),
            AlertEvent::Approved {
                proposal_id,
                summary,
                actor,
            } => (
                format!("Approved: {summary}"),
                format!("Proposal {proposal_id} approved by {actor}."),
                Some(AlertLink::Proposal(*proposal_id)),
            ),
            AlertEvent::Submitted {
                proposal_id,
                order_key,
                summary,
            } => (
                format!("Order submitted: {summary}"),
                format!("Order {order_key} is at the broker."),
                Some(AlertLink::Proposal(*proposal_id)),
            ),
            AlertEvent::Filled {
                position_id,
                proposal_id,
                summary,
                filled,
                ordered,
                price,
                ..
            } => (
                if filled < ordered {
                    format!("Partly filled {filled}/{ordered}: {summary}")
                } else {
                    format!("Filled: {summary}")
                },
                format!("{filled} of {ordered} at {price}."),
                Some(match position_id {
                    Some(id) => AlertLink::Position(*id),
                    None => AlertLink::Proposal(*proposal_id),
                }),
            ),
            AlertEvent::Exited {
                position_id,
                summary,
                rule,
                pnl,
            } => (
                format!("Closed {}: {summary}", format_pnl(*pnl)),
                format!("Exit rule: {rule}. Realized P&L {}.", format_pnl(*pnl)),
                Some(AlertLink::Position(*position_id)),
            ),
            AlertEvent::OrderRejected {
                proposal_id,
                summary,
                reason,
                ..
            } => (
                format!("Order rejected: {summary}"),
                format!("Reason: {reason}"),
                Some(AlertLink::Proposal(*proposal_id)),
            ),
            AlertEvent::OrderStuck {
                proposal_id,
                order_key,
                state,
                minutes,
            } => (
                format!("Order stuck in {state} for {minutes} min"),
                format!("Order {order_key} has no final state yet; check the broker."),
                Some(AlertLink::Proposal(*proposal_id)),
            ),
            AlertEvent::IbResetWindow { window, .. } => (
                "IB reset window".to_owned(),
                format!("IB restarts its servers now ({window}); data and orders may pause."),
                Some(AlertLink::Control),
            ),
            AlertEvent::ReloginDue { due_date, detail } => (
                "IB re-login (2FA) due".to_owned(),
                format!("Log in to IB Gateway with 2FA by {due_date}. {detail}"),
                Some(AlertLink::Control),
            ),
            AlertEvent::DailySummary {
                trading_date,
                realized_pnl,
                unrealized_pnl,
                trades,
                open_positions,
                pending_tomorrow,
            } => (
                format!(
                    "Daily summary {trading_date}: {} realized",
                    format_pnl(*realized_pnl)
                ),
                format!(
                    "Realized {}, unrealized {}, {trades} trade{}, {open_positions} open position{}. Tomorrow: {pending_tomorrow}",
                    format_pnl(*realized_pnl),
                    format_pnl(*unrealized_pnl),
                    if *trades == 1 { "" } else { "s" },
                    if *open_positions == 1 { "" } else { "s" },
                ),
                Some(AlertLink::Control),
            ),
            AlertEvent::Test { requested_by } => (
                "SAS test alert".to_owned(),
                format!("Requested by {requested_by}. If you read this, the channel works."),
                Some(AlertLink::Control),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for kind in AlertKind::ALL {
            assert_eq!(AlertKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(AlertKind::parse("nope"), None);
    }

    #[test]
    fn settings_parse_overrides_and_keep_defaults() {
        let s = AlertSettings::parse(" fill = silent , daily_summary=off,approval=on").unwrap();
        assert_eq!(s.setting(AlertKind::Fill), AlertSetting::Silent);
        assert_eq!(s.setting(AlertKind::DailySummary), AlertSetting::Off);
        assert_eq!(s.setting(AlertKind::Approval), AlertSetting::On);
        // Not named: the default.
        assert_eq!(s.setting(AlertKind::BridgeDisconnected), AlertSetting::On);
        assert_eq!(s.setting(AlertKind::Submission), AlertSetting::Silent);
        assert_eq!(AlertSettings::parse("").unwrap(), AlertSettings::default());
    }

    #[test]
    fn all_sets_every_event_not_named_wherever_it_appears() {
        let s = AlertSettings::parse("risk_halt=on,all=off").unwrap();
        assert_eq!(s.setting(AlertKind::RiskHalt), AlertSetting::On);
        assert_eq!(s.setting(AlertKind::Fill), AlertSetting::Off);
        // The test message is always sent.
        assert_eq!(s.setting(AlertKind::Test), AlertSetting::On);
    }

    #[test]
    fn settings_report_every_error() {
        let errors =
            AlertSettings::parse("fill=loud,nonsense=on,exit,fill=on,test=off").unwrap_err();
        assert_eq!(
            errors,
            vec![
                AlertError::UnknownSetting {
                    event: "fill".into(),
                    value: "loud".into()
                },
                AlertError::UnknownEvent("nonsense".into()),
                AlertError::MalformedEntry("exit".into()),
                AlertError::TestNotConfigurable,
            ]
        );
        let errors = AlertSettings::parse("fill=on,fill=off").unwrap_err();
        assert_eq!(errors, vec![AlertError::DuplicateEvent("fill".into())]);
        let long = "fill=on,".repeat(300);
        assert_eq!(
            AlertSettings::parse(&long).unwrap_err(),
            vec![AlertError::SettingsTooLong]
        );
    }

    #[test]
    fn keys_are_checked_and_built_from_any_identifier() {
        assert!(EventKey::new("fill:abc-1:exec.2").is_ok());
        assert!(EventKey::new("").is_err());
        assert!(EventKey::new("has space").is_err());
        let k = EventKey::from_parts(AlertKind::Fill, &["SAS key/1", "0001 f"]);
        assert_eq!(k.as_str(), "fill:SAS_key_1:0001_f");
        assert!(EventKey::new(k.as_str()).is_ok());
    }

    #[test]
    fn long_keys_stay_valid_and_distinct() {
        let a = "x".repeat(400);
        let b = format!("{}y", "x".repeat(399));
        let ka = EventKey::from_parts(AlertKind::Fill, &[&a]);
        let kb = EventKey::from_parts(AlertKind::Fill, &[&b]);
        assert_eq!(ka.as_str().len(), MAX_KEY_LEN);
        assert!(EventKey::new(ka.as_str()).is_ok());
        assert_ne!(ka, kb);
    }

    #[test]
    fn the_same_event_always_has_the_same_key() {
        let e = AlertEvent::Filled {
            position_id: Some(4),
            proposal_id: 9,
            order_key: "sas-9-abc".into(),
            execution_id: "0000e0d5.1".into(),
            summary: "SPY put credit spread".into(),
            filled: 2,
            ordered: 2,
            price: Money::from_cents(125),
        };
        // The time does not take part (a re-report later is the same event).
        assert_eq!(e.key(1), e.key(2));
        assert_eq!(e.key(1).as_str(), "fill:sas-9-abc:0000e0d5.1");
    }

    #[test]
    fn exit_alert_names_the_rule_and_the_pnl_and_links_the_position() {
        let e = AlertEvent::Exited {
            position_id: 7,
            summary: "SPY put credit spread 540/535".into(),
            rule: "take_profit 50%".into(),
            pnl: Money::from_cents(6_250),
        };
        let a = e.to_alert(1_000, &AlertSettings::default()).unwrap();
        assert_eq!(a.kind, AlertKind::Exit);
        assert!(a.title.contains("+$62.50"), "{}", a.title);
        assert!(a.body.contains("take_profit 50%"), "{}", a.body);
        assert_eq!(a.link, Some(AlertLink::Position(7)));
        assert_eq!(
            AlertLink::Position(7).url("https://sas.example.com/"),
            "https://sas.example.com/#/positions/7"
        );
        assert_eq!(format_pnl(Money::from_cents(-700)), "-$7.00");
    }

    #[test]
    fn off_events_render_nothing_and_silent_ones_are_marked() {
        let e = AlertEvent::Approved {
            proposal_id: 3,
            summary: "x".into(),
            actor: "api_token".into(),
        };
        // Approval defaults to silent.
        let a = e.to_alert(1, &AlertSettings::default()).unwrap();
        assert!(a.silent);
        let off = AlertSettings::parse("approval=off").unwrap();
        assert_eq!(e.to_alert(1, &off), None);
    }

    #[test]
    fn alert_payload_round_trips_as_json() {
        let e = AlertEvent::ProposalsBatch {
            trading_date: "2026-12-01".into(),
            batch: "41".into(),
            count: 3,
            best_id: Some(41),
            best_summary: "QQQ call debit spread".into(),
        };
        let a = e.to_alert(5, &AlertSettings::default()).unwrap();
        assert_eq!(a.title, "3 new proposals to review");
        assert_eq!(a.link, Some(AlertLink::Proposals));
        let json = serde_json::to_string(&a).unwrap();
        let back: Alert = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        // A stored key that is not valid is refused when read back.
        let bad = json.replace("proposals:2026-12-01:41", "bad key");
        assert!(serde_json::from_str::<Alert>(&bad).is_err());
    }
}
