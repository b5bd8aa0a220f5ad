//! The alert workflows over an [`AlertStore`], an [`AlertSender`] and a
//! clock: enqueue an event (or hand its statements to another feature's
//! batch), observe a condition, deliver what is due with retries, backoff
//! and a rate cap per channel, list recent alerts, send a test message.
//! No Workers API is touched here: the edge supplies D1 and `fetch`, the
//! native tests supply in-memory fakes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sas_core::alerts::delivery::MINUTE_MS;
use sas_core::alerts::{
    build_request, classify_answer, observe, rate_decision, Alert, AlertEvent, AnswerOutcome,
    ChannelAnswer, ChannelKind, ConditionObservation, HttpRequest, RateDecision, SendFailure,
};
use serde_json::json;

use super::model::{enqueue_statements, AlertRow, DeliveryState, DeliveryView, Statement};
use super::store::{AlertStore, ConditionWrite, DeliveryRecord, NewAlert, StoreError};
use crate::config::alerts::AlertsConfig;

/// Bound on one send to a channel, ms.
pub const SEND_TIMEOUT_MS: u32 = 10_000;
/// A claimed send may take this long before another run takes it over, ms.
pub const SEND_LEASE_MS: i64 = SEND_TIMEOUT_MS as i64 + 60_000;
/// Most deliveries one run attempts (each is 2 D1 queries and one fetch).
pub const MAX_DELIVERIES_PER_RUN: u32 = 25;
/// Most alerts `GET /alerts` returns.
pub const MAX_ALERTS_LIMIT: u32 = 200;
/// Default `limit` of `GET /alerts`.
pub const DEFAULT_ALERTS_LIMIT: u32 = 50;

/// The clock, passed in as a value.
pub type Clock<'a> = &'a dyn Fn() -> DateTime<Utc>;
/// Structured log lines (`console_log` on the edge, collected in tests).
/// Lines never carry a secret: channel kinds, keys, statuses, redacted errors.
pub type Log<'a> = &'a dyn Fn(&str, serde_json::Value);

/// Sends one request to a channel (Workers `fetch` on the edge). The
/// futures are not `Send`, hence `async fn` with static dispatch.
#[allow(async_fn_in_trait)]
pub trait AlertSender {
    /// Sends `request` within `timeout_ms` (reading the answer included).
    async fn send(
        &self,
        request: &HttpRequest,
        timeout_ms: u32,
    ) -> Result<ChannelAnswer, SendFailure>;
}

/// What every workflow runs against.
pub struct Deps<'a, S, X> {
    pub store: &'a S,
    pub sender: &'a X,
    pub cfg: &'a AlertsConfig,
    pub now: Clock<'a>,
    pub log: Log<'a>,
}

/// Why an alert workflow did not complete. One enum for the feature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertsError {
    /// Storage failed.
    #[error("{context}: {source}")]
    Store {
        context: &'static str,
        source: StoreError,
    },
    /// `POST /alerts/test` with no channel configured.
    #[error("no alert channel is configured")]
    NoChannels,
}

fn store_err(context: &'static str) -> impl Fn(StoreError) -> AlertsError {
    move |source| AlertsError::Store { context, source }
}

// ---------------------------------------------------------------------------
// Enqueue
// ---------------------------------------------------------------------------

/// The statements another feature appends to ITS batch to enqueue `event`
/// with the change it reports (empty when the event's kind is off). With
/// `after_change`, the alert is stored only if the statement just before
/// them changed exactly one row (e.g. after `INSERT_AUDIT_IF_CHANGED`).
pub fn event_statements(
    cfg: &AlertsConfig,
    event: &AlertEvent,
    now_ms: i64,
    after_change: bool,
) -> Vec<Statement> {
    match event.to_alert(now_ms, &cfg.settings) {
        Some(alert) => enqueue_statements(&alert, &cfg.channel_kinds(), now_ms, after_change),
        None => Vec::new(),
    }
}

/// The statements a generation batch appends after its proposal inserts to
/// enqueue the "new proposals" alert for `records` (empty when there are
/// none or the kind is off): one alert for the batch, with the best
/// (lowest rank, then first) proposal's summary, keyed by the run's
/// instant, stored only if one of the proposals was new
/// ([`super::model::INSERT_ALERT_IF_NEW_PROPOSAL`]).
pub fn new_proposals_statements(
    cfg: &AlertsConfig,
    records: &[super::NewProposalDigest<'_>],
    at_ms: i64,
) -> Vec<Statement> {
    let Some(best) = records.iter().min_by_key(|r| r.rank) else {
        return Vec::new();
    };
    let event = AlertEvent::ProposalsBatch {
        trading_date: best.trade_date.to_owned(),
        batch: at_ms.to_string(),
        count: u32::try_from(records.len()).unwrap_or(u32::MAX),
        best_id: None,
        best_summary: super::proposal_summary(&best.digest),
    };
    let Some(alert) = event.to_alert(at_ms, &cfg.settings) else {
        return Vec::new();
    };
    let keys: Vec<String> = records
        .iter()
        .map(|r| r.idempotency_key.to_owned())
        .collect();
    super::model::new_proposals_statements(
        &alert,
        &cfg.channel_kinds(),
        at_ms,
        &keys,
        best.created_at,
    )
}

/// Enqueues `event` on its own (one batch). `Ok(None)` when its kind is
/// off; `Ok(Some(false))` when the same event was already enqueued.
pub async fn enqueue_event(
    store: &impl AlertStore,
    cfg: &AlertsConfig,
    event: &AlertEvent,
    now_ms: i64,
) -> Result<Option<bool>, AlertsError> {
    let Some(alert) = event.to_alert(now_ms, &cfg.settings) else {
        return Ok(None);
    };
    let channels = cfg.channel_kinds();
    store
        .enqueue(&NewAlert {
            alert: &alert,
            channels: &channels,
            now_ms,
        })
        .await
        .map(Some)
        .map_err(store_err("enqueue alert"))
}

/// What observing a condition did.
#[derive(Debug, Clone, PartialEq)]
pub enum ConditionOutcome {
    /// Nothing to write (clear, and never raised).
    Unchanged,
    /// The state was stored; `alert` is the raise or resolution enqueued
    /// with it, if any.
    Stored { alert: Option<Alert> },
    /// Another run stored a newer state first; nothing was written.
    LostRace,
}

/// Observes one condition: reads its state, steps it
/// ([`sas_core::alerts::observe`]) and writes the next state with its alert
/// in one batch (compare-and-set on the version read).
pub async fn observe_condition(
    store: &impl AlertStore,
    cfg: &AlertsConfig,
    obs: &ConditionObservation,
) -> Result<ConditionOutcome, AlertsError> {
    let row = store
        .condition(obs.kind.as_str(), &obs.subject)
        .await
        .map_err(store_err("read condition"))?;
    let state = row.as_ref().and_then(|r| r.state());
    let step = observe(state.as_ref(), obs, &cfg.settings);
    let Some(next) = step.state.as_ref() else {
        return Ok(ConditionOutcome::Unchanged);
    };
    let channels = cfg.channel_kinds();
    let won = store
        .write_condition(&ConditionWrite {
            state: next,
            // A row whose kind could not be read is overwritten at its version.
            expected_version: row.as_ref().map_or(step.expected_version, |r| r.version),
            alert: step.alert.as_ref().map(|alert| NewAlert {
                alert,
                channels: &channels,
                now_ms: obs.at_ms,
            }),
        })
        .await
        .map_err(store_err("write condition"))?;
    Ok(if won {
        ConditionOutcome::Stored { alert: step.alert }
    } else {
        ConditionOutcome::LostRace
    })
}

// ---------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryResult {
    pub event_key: String,
    pub channel: String,
    /// `delivered`, `retrying`, `failed`, `deferred` (rate cap) or `skipped`
    /// (another run owns it).
    pub outcome: &'static str,
    pub status: Option<u16>,
    /// Redacted.
    pub error: Option<String>,
}

/// Counts of one delivery run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub results: Vec<DeliveryResult>,
}

impl DeliveryReport {
    /// How many results had `outcome`.
    pub fn count(&self, outcome: &str) -> usize {
        self.results.iter().filter(|r| r.outcome == outcome).count()
    }

    /// The report as a log line's detail.
    pub fn summary(&self) -> serde_json::Value {
        json!({
            "delivered": self.count("delivered"),
            "retrying": self.count("retrying"),
            "failed": self.count("failed"),
            "deferred": self.count("deferred"),
            "skipped": self.count("skipped"),
        })
    }
}

/// Sends every due delivery (at most [`MAX_DELIVERIES_PER_RUN`]; only those
/// of `only_key` when given). For each: the channel's rate cap (deferred
/// when reached), a claim (compare-and-set: two runs never send the same
/// claim), the request built from the stored alert, the send, and the
/// outcome recorded against the claim. A delivery whose channel is no longer
/// configured, or whose stored alert cannot be read, fails for good.
pub async fn deliver_due<S: AlertStore, X: AlertSender>(
    d: &Deps<'_, S, X>,
    only_key: Option<&str>,
) -> Result<DeliveryReport, AlertsError> {
    let now_ms = (d.now)().timestamp_millis();
    let due = d
        .store
        .due_deliveries(now_ms, MAX_DELIVERIES_PER_RUN, only_key)
        .await
        .map_err(store_err("read due deliveries"))?;
    let mut report = DeliveryReport::default();
    if due.is_empty() {
        return Ok(report);
    }
    let mut sends: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for s in d
        .store
        .recent_sends(now_ms - MINUTE_MS)
        .await
        .map_err(store_err("read recent sends"))?
    {
        sends.entry(s.channel).or_default().push(s.last_attempt_at);
    }

    for row in due {
        let now_ms = (d.now)().timestamp_millis();
        let result = |outcome, status, error| DeliveryResult {
            event_key: row.event_key.clone(),
            channel: row.channel.clone(),
            outcome,
            status,
            error,
        };
        let kind = ChannelKind::parse(&row.channel);
        let channel = kind.and_then(|k| d.cfg.channel(k));
        let alert: Option<Alert> = serde_json::from_str(&row.payload).ok();

        // The rate cap (only for sends that can happen).
        if let (Some(k), Some(_), Some(_)) = (kind, channel, alert.as_ref()) {
            let recent = sends.get(&row.channel).map(Vec::as_slice).unwrap_or(&[]);
            if let RateDecision::WaitUntil(until) = rate_decision(recent, now_ms, d.cfg.rate_for(k))
            {
                let moved = d
                    .store
                    .defer(row.id, now_ms, until, row.attempts)
                    .await
                    .map_err(store_err("defer delivery"))?;
                report.results.push(result(
                    if moved { "deferred" } else { "skipped" },
                    None,
                    None,
                ));
                continue;
            }
        }

        // The claim.
        if !d
            .store
            .claim(row.id, now_ms, now_ms + SEND_LEASE_MS, row.attempts)
            .await
            .map_err(store_err("claim delivery"))?
        {
            report.results.push(result("skipped", None, None));
            continue;
        }
        let attempts = row.attempts + 1;
        let record = |state, next, status, error| DeliveryRecord {
            id: row.id,
            now_ms: (d.now)().timestamp_millis(),
            attempts,
            state,
            next_attempt_at: next,
            status,
            error,
        };

        let (Some(kind), Some(channel), Some(alert)) = (kind, channel, alert) else {
            let why = if alert_unreadable(&row.payload) {
                "the stored alert cannot be read"
            } else {
                "the channel is not configured"
            };
            d.store
                .record(&record(
                    DeliveryState::Failed,
                    None,
                    None,
                    Some(why.to_owned()),
                ))
                .await
                .map_err(store_err("record delivery"))?;
            (d.log)(
                "alert_delivery",
                json!({ "key": row.event_key, "channel": row.channel, "outcome": "failed", "error": why }),
            );
            report
                .results
                .push(result("failed", None, Some(why.to_owned())));
            continue;
        };

        let request = build_request(channel, &alert, d.cfg.web_base_url.as_deref());
        sends.entry(row.channel.clone()).or_default().push(now_ms);
        let answer = d.sender.send(&request, SEND_TIMEOUT_MS).await;
        let after_ms = (d.now)().timestamp_millis();
        let status = answer.as_ref().ok().map(|a| a.status);
        let attempts_u32 = u32::try_from(attempts).unwrap_or(u32::MAX);
        let outcome = classify_answer(kind, &answer, attempts_u32, after_ms, &d.cfg.retry);
        let (state, next, error, label) = match &outcome {
            AnswerOutcome::Delivered => (DeliveryState::Delivered, None, None, "delivered"),
            AnswerOutcome::RetryAt { at_ms, reason } => (
                DeliveryState::Retrying,
                Some(*at_ms),
                Some(channel.redact(reason)),
                "retrying",
            ),
            AnswerOutcome::GiveUp { reason } => (
                DeliveryState::Failed,
                None,
                Some(channel.redact(reason)),
                "failed",
            ),
        };
        let recorded = d
            .store
            .record(&record(state, next, status, error.clone()))
            .await
            .map_err(store_err("record delivery"))?;
        (d.log)(
            "alert_delivery",
            json!({
                "key": row.event_key,
                "channel": row.channel,
                "attempt": attempts,
                "outcome": label,
                "status": status,
                "next_attempt_at": next,
                "error": error,
                "recorded": recorded,
            }),
        );
        report.results.push(result(label, status, error));
    }
    (d.log)("alert_deliveries", report.summary());
    Ok(report)
}

fn alert_unreadable(payload: &str) -> bool {
    serde_json::from_str::<Alert>(payload).is_err()
}

/// The cron step: deliver what is due, then prune alerts older than
/// [`super::ALERT_RETENTION_DAYS`].
pub async fn cron_step<S: AlertStore, X: AlertSender>(
    d: &Deps<'_, S, X>,
) -> Result<DeliveryReport, AlertsError> {
    let report = deliver_due(d, None).await?;
    let cutoff = (d.now)().timestamp_millis() - super::ALERT_RETENTION_DAYS * 86_400_000;
    d.store
        .prune(cutoff)
        .await
        .map_err(store_err("prune alerts"))?;
    Ok(report)
}

/// `POST /alerts/test`: enqueues a test alert (always on) and delivers it
/// to every configured channel at once; the per-channel results.
pub async fn send_test<S: AlertStore, X: AlertSender>(
    d: &Deps<'_, S, X>,
    requested_by: &str,
) -> Result<DeliveryReport, AlertsError> {
    if d.cfg.channels.is_empty() {
        return Err(AlertsError::NoChannels);
    }
    let now_ms = (d.now)().timestamp_millis();
    let event = AlertEvent::Test {
        requested_by: requested_by.to_owned(),
    };
    let key = event.key(now_ms);
    enqueue_event(d.store, d.cfg, &event, now_ms).await?;
    deliver_due(d, Some(key.as_str())).await
}

/// The body of `POST /alerts/test`.
pub fn test_view(report: &DeliveryReport) -> serde_json::Value {
    json!({
        "channels": report.results.iter().map(|r| json!({
            "channel": r.channel,
            "outcome": r.outcome,
            "status": r.status,
            "error": r.error,
        })).collect::<Vec<_>>(),
    })
}

// ---------------------------------------------------------------------------
// GET /alerts
// ---------------------------------------------------------------------------

fn iso(ms: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// One alert as `GET /alerts` shows it.
pub fn alert_view(row: &AlertRow, cfg: &AlertsConfig) -> serde_json::Value {
    let alert: Option<Alert> = serde_json::from_str(&row.payload).ok();
    let deliveries: Vec<DeliveryView> = row
        .deliveries
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_default();
    json!({
        "id": row.id,
        "key": row.event_key,
        "kind": row.kind,
        "severity": row.severity,
        "silent": row.silent != 0,
        "resolved": row.resolved != 0,
        "title": alert.as_ref().map(|a| a.title.clone()),
        "body": alert.as_ref().map(|a| a.body.clone()),
        "url": alert.as_ref().and_then(|a| a.link).zip(cfg.web_base_url.as_deref()).map(|(l, b)| l.url(b)),
        "at": alert.as_ref().and_then(|a| iso(a.at_ms)),
        "created_at": iso(row.created_at),
        "deliveries": deliveries.iter().map(|d| json!({
            "channel": d.channel,
            "state": d.state,
            "attempts": d.attempts,
            "next_attempt_at": iso(d.next_attempt_at),
            "last_attempt_at": d.last_attempt_at.and_then(iso),
            "last_status": d.last_status,
            "last_error": d.last_error,
            "delivered_at": d.delivered_at.and_then(iso),
        })).collect::<Vec<_>>(),
    })
}

/// `GET /alerts?limit=N`: the newest alerts with their delivery states, the
/// conditions and the configured channels (kinds only, never a secret).
pub async fn list_alerts(
    store: &impl AlertStore,
    cfg: &AlertsConfig,
    limit: Option<u32>,
) -> Result<serde_json::Value, AlertsError> {
    let limit = limit
        .unwrap_or(DEFAULT_ALERTS_LIMIT)
        .clamp(1, MAX_ALERTS_LIMIT);
    let rows = store
        .alerts(limit)
        .await
        .map_err(store_err("read alerts"))?;
    let conditions = store
        .conditions()
        .await
        .map_err(store_err("read conditions"))?;
    Ok(json!({
        "channels": cfg.channels.iter().map(|c| json!({
            "channel": c.kind().as_str(),
            "rate_per_minute": cfg.rate_for(c.kind()),
        })).collect::<Vec<_>>(),
        "conditions": conditions.iter().map(|c| json!({
            "kind": c.kind,
            "subject": c.subject,
            "active": c.active != 0,
            "since": iso(c.since_ms),
            "observed_at": iso(c.observed_ms),
            "detail": c.detail,
        })).collect::<Vec<_>>(),
        "alerts": rows.iter().map(|r| alert_view(r, cfg)).collect::<Vec<_>>(),
    }))
}
