//! Alerts: what SAS tells the trader's phone, and how it gets there without
//! losing or repeating messages (docs/alerts.md). Pure: no I/O, no clock;
//! callers pass `now` in and run the HTTP requests built here.
//!
//! - [`event`]: the events ([`AlertKind`], [`AlertEvent`]), their severity,
//!   the per-event setting (on / silent / off) and the rendered [`Alert`]
//!   with its deduplication [`EventKey`].
//! - [`condition`]: a condition (bridge down, halt, drift...) alerts once
//!   when it starts and exactly once "resolved" when it clears.
//! - [`channel`]: ntfy, Telegram, Discord, Slack and a generic JSON webhook:
//!   the HTTP request each needs, within each channel's length limits, with
//!   secrets that never print.
//! - [`delivery`]: exponential backoff with a cap, `429` retry-after,
//!   the per-channel rate cap and the classification of a channel's answer.
//! - [`watch`]: what the crons' watch step decides from what it read (order
//!   rejected or stuck, IB degraded, data delayed, archive behind, the IB
//!   reset window, the weekly re-login, the daily summary's date).
//!
//! Dependencies point one way: `text` ← `event` ← `condition`, `channel`
//! ← `delivery`; `watch` uses `event`, `condition` and the calendar.

pub mod channel;
pub mod condition;
pub mod delivery;
pub mod event;
pub mod text;
pub mod watch;

pub use channel::{build_request, ChannelConfig, ChannelKind, HttpMethod, HttpRequest, Secret};
pub use condition::{observe, ConditionObservation, ConditionState, ConditionStep};
pub use delivery::{
    backoff_ms, classify_answer, rate_decision, retry_after_ms, AnswerOutcome, ChannelAnswer,
    RateDecision, RetryPolicy, SendFailure,
};
pub use event::{
    Alert, AlertError, AlertEvent, AlertKind, AlertLink, AlertSetting, AlertSettings, EventKey,
    Severity,
};
