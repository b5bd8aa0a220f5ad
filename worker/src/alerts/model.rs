//! The alerts' rows and SQL (`migrations/d1/0006_alerts.sql`): the outbox
//! (`alerts`), one delivery per channel (`alert_deliveries`) and the
//! condition states (`alert_conditions`). Each constant is the source of
//! truth of what its statement does; the in-memory store of the tests
//! implements the same predicates.

use sas_core::alerts::{Alert, ChannelKind, ConditionState};
use serde::Deserialize;

// ---------------------------------------------------------------------------
// Statements other features put in their own batches
// ---------------------------------------------------------------------------

/// A bound parameter of a [`Statement`].
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Int(i64),
    Null,
}

/// One SQL statement with its parameters (`?1` is `params[0]`), ready to be
/// bound by the edge and appended to a D1 batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: &'static str,
    pub params: Vec<Param>,
}

/// Stores an alert in the outbox unless its key is already there. Binds:
/// `?1` event key, `?2` kind, `?3` severity, `?4` silent (0/1), `?5`
/// resolved (0/1), `?6` payload JSON, `?7` now.
pub const INSERT_ALERT: &str = "INSERT INTO alerts \
(event_key, kind, severity, silent, resolved, payload, created_at) \
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
ON CONFLICT (event_key) DO NOTHING";

/// [`INSERT_ALERT`], but only when the statement just before it in the same
/// batch changed exactly one row (a conditional transition that won, or its
/// audit row). Same parameters.
pub const INSERT_ALERT_IF_CHANGED: &str = "INSERT INTO alerts \
(event_key, kind, severity, silent, resolved, payload, created_at) \
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE changes() = 1 \
ON CONFLICT (event_key) DO NOTHING";

/// [`INSERT_ALERT`], but only when one of the proposals whose idempotency
/// keys are the JSON array `?8` was stored by this batch (its `created_at`
/// is the batch's `?9`): the "new proposals" alert in the proposals' own
/// batch, after their inserts. Same parameters 1-7.
pub const INSERT_ALERT_IF_NEW_PROPOSAL: &str = "INSERT INTO alerts \
(event_key, kind, severity, silent, resolved, payload, created_at) \
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM proposals AS p, json_each(?8) AS k \
WHERE p.idempotency_key = k.value AND p.created_at = ?9) \
ON CONFLICT (event_key) DO NOTHING";

/// One `pending` delivery per channel of the JSON array `?3` for the alert
/// with key `?1`, due at `?2` (now) — only when the alert insert just
/// before it stored a new row (`changes() = 1`), so a duplicate event adds
/// no delivery.
pub const INSERT_DELIVERIES: &str = "INSERT INTO alert_deliveries \
(alert_id, channel, state, attempts, next_attempt_at, updated_at) \
SELECT a.id, c.value, 'pending', 0, ?2, ?2 FROM alerts AS a, json_each(?3) AS c \
WHERE a.event_key = ?1 AND changes() = 1 \
ON CONFLICT (alert_id, channel) DO NOTHING";

/// `["ntfy","telegram"]`: the channels bound as `?3` of [`INSERT_DELIVERIES`].
pub fn channels_json(channels: &[ChannelKind]) -> String {
    serde_json::Value::from(
        channels
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect::<Vec<_>>(),
    )
    .to_string()
}

/// The two statements that enqueue `alert` for `channels` at `now_ms`: the
/// outbox row and its deliveries. With `after_change`, the outbox row is
/// written only if the statement just before them in the caller's batch
/// changed exactly one row ([`INSERT_ALERT_IF_CHANGED`]).
pub fn enqueue_statements(
    alert: &Alert,
    channels: &[ChannelKind],
    now_ms: i64,
    after_change: bool,
) -> Vec<Statement> {
    let payload = serde_json::to_string(alert).unwrap_or_default();
    let key = alert.key.as_str().to_owned();
    vec![
        Statement {
            sql: if after_change {
                INSERT_ALERT_IF_CHANGED
            } else {
                INSERT_ALERT
            },
            params: vec![
                Param::Text(key.clone()),
                Param::Text(alert.kind.as_str().to_owned()),
                Param::Text(alert.severity.as_str().to_owned()),
                Param::Int(i64::from(alert.silent)),
                Param::Int(i64::from(alert.resolved)),
                Param::Text(payload),
                Param::Int(now_ms),
            ],
        },
        Statement {
            sql: INSERT_DELIVERIES,
            params: vec![
                Param::Text(key),
                Param::Int(now_ms),
                Param::Text(channels_json(channels)),
            ],
        },
    ]
}

/// [`enqueue_statements`] for the "new proposals" alert of a generation
/// batch: the outbox row is written only if one of the proposals `keys`
/// was inserted by the batch (created at `created_at_ms`).
pub fn new_proposals_statements(
    alert: &Alert,
    channels: &[ChannelKind],
    now_ms: i64,
    keys: &[String],
    created_at_ms: i64,
) -> Vec<Statement> {
    let mut statements = enqueue_statements(alert, channels, now_ms, false);
    if let Some(first) = statements.first_mut() {
        first.sql = INSERT_ALERT_IF_NEW_PROPOSAL;
        first.params.push(Param::Text(
            serde_json::Value::from(keys.to_vec()).to_string(),
        ));
        first.params.push(Param::Int(created_at_ms));
    }
    statements
}

// ---------------------------------------------------------------------------
// Conditions
// ---------------------------------------------------------------------------

/// One condition's state (`?1` kind, `?2` subject).
pub const SELECT_CONDITION: &str = "SELECT kind, subject, active, since_ms, observed_ms, \
detail, version FROM alert_conditions WHERE kind = ?1 AND subject = ?2";

/// Whether an alert with key `?1` is stored (`n` = 0 or 1).
pub const SELECT_ALERT_EXISTS: &str = "SELECT COUNT(*) AS n FROM alerts WHERE event_key = ?1";

/// Every stored condition (for `GET /alerts`), active first.
pub const SELECT_CONDITIONS: &str = "SELECT kind, subject, active, since_ms, observed_ms, \
detail, version FROM alert_conditions ORDER BY active DESC, observed_ms DESC LIMIT 100";

/// Stores a condition's next state with a compare-and-set: inserts when
/// there is no row, updates only when the stored `version` is still `?8`
/// (the version read; 0 = no row). Binds: `?1` kind, `?2` subject, `?3`
/// active (0/1), `?4` since, `?5` observed, `?6` detail, `?7` new version,
/// `?8` expected version. Changes one row when it won, none when another
/// run wrote first; the alert statements that follow it in the batch use
/// [`INSERT_ALERT_IF_CHANGED`].
pub const UPSERT_CONDITION: &str = "INSERT INTO alert_conditions \
(kind, subject, active, since_ms, observed_ms, detail, version) \
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
ON CONFLICT (kind, subject) DO UPDATE SET active = excluded.active, \
since_ms = excluded.since_ms, observed_ms = excluded.observed_ms, \
detail = excluded.detail, version = excluded.version \
WHERE alert_conditions.version = ?8";

/// Row of [`SELECT_CONDITION`] / [`SELECT_CONDITIONS`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConditionRow {
    pub kind: String,
    pub subject: String,
    pub active: i64,
    pub since_ms: i64,
    pub observed_ms: i64,
    pub detail: String,
    pub version: i64,
}

impl ConditionRow {
    /// The core state; `None` when the stored kind is unknown.
    pub fn state(&self) -> Option<ConditionState> {
        Some(ConditionState {
            kind: sas_core::alerts::AlertKind::parse(&self.kind)?,
            subject: self.subject.clone(),
            active: self.active != 0,
            since_ms: self.since_ms,
            observed_ms: self.observed_ms,
            detail: self.detail.clone(),
            version: self.version,
        })
    }
}

/// The statement that stores `state` if the row is still at
/// `expected_version` ([`UPSERT_CONDITION`]).
pub fn condition_statement(state: &ConditionState, expected_version: i64) -> Statement {
    Statement {
        sql: UPSERT_CONDITION,
        params: vec![
            Param::Text(state.kind.as_str().to_owned()),
            Param::Text(state.subject.clone()),
            Param::Int(i64::from(state.active)),
            Param::Int(state.since_ms),
            Param::Int(state.observed_ms),
            Param::Text(state.detail.clone()),
            Param::Int(state.version),
            Param::Int(expected_version),
        ],
    }
}

// ---------------------------------------------------------------------------
// Deliveries
// ---------------------------------------------------------------------------

/// Delivery states (`alert_deliveries.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Sending,
    Retrying,
    Delivered,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sending => "sending",
            DeliveryState::Retrying => "retrying",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryState> {
        [
            DeliveryState::Pending,
            DeliveryState::Sending,
            DeliveryState::Retrying,
            DeliveryState::Delivered,
            DeliveryState::Failed,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }

    /// Whether a row in this state is picked up once due (a `sending` row
    /// is due again when its lease ran out: the sender died mid-send).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            DeliveryState::Pending | DeliveryState::Retrying | DeliveryState::Sending
        )
    }
}

/// Deliveries due at `?1` (now), oldest due first, at most `?2`; only those
/// of the alert with key `?3` when `?3` is not NULL.
pub const SELECT_DUE_DELIVERIES: &str = "SELECT d.id, d.channel, d.state, d.attempts, \
d.next_attempt_at, a.event_key, a.payload FROM alert_deliveries AS d \
JOIN alerts AS a ON a.id = d.alert_id \
WHERE d.state IN ('pending', 'retrying', 'sending') AND d.next_attempt_at <= ?1 \
AND (?3 IS NULL OR a.event_key = ?3) \
ORDER BY d.next_attempt_at, d.id LIMIT ?2";

/// Row of [`SELECT_DUE_DELIVERIES`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DueDelivery {
    pub id: i64,
    pub channel: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub event_key: String,
    pub payload: String,
}

/// Claims a due delivery for one send (compare-and-set on the attempts
/// read): `sending`, one more attempt, the send time, and a lease until
/// `?3` after which another run may take it over. Binds: `?1` id, `?2` now,
/// `?3` lease end, `?4` attempts read.
pub const CLAIM_DELIVERY: &str = "UPDATE alert_deliveries SET state = 'sending', \
attempts = attempts + 1, last_attempt_at = ?2, next_attempt_at = ?3, updated_at = ?2 \
WHERE id = ?1 AND attempts = ?4 AND state IN ('pending', 'retrying', 'sending') \
AND next_attempt_at <= ?2";

/// Moves a due delivery's next attempt to `?3` without sending (the
/// channel's rate cap is reached). Binds: `?1` id, `?2` now, `?3` next
/// attempt, `?4` attempts read.
pub const DEFER_DELIVERY: &str = "UPDATE alert_deliveries SET next_attempt_at = ?3, \
updated_at = ?2 WHERE id = ?1 AND attempts = ?4 \
AND state IN ('pending', 'retrying', 'sending') AND next_attempt_at <= ?2";

/// Records the outcome of the send claimed with attempts `?3` (only if no
/// other run took the delivery over since). Binds: `?1` id, `?2` now, `?3`
/// attempts after the claim, `?4` new state (`delivered`, `retrying`,
/// `failed`), `?5` next attempt (retrying; NULL keeps it), `?6` HTTP status
/// (NULL without an answer), `?7` error (NULL when delivered).
pub const RECORD_DELIVERY: &str = "UPDATE alert_deliveries SET state = ?4, \
next_attempt_at = COALESCE(?5, next_attempt_at), \
delivered_at = CASE WHEN ?4 = 'delivered' THEN ?2 ELSE delivered_at END, \
last_status = ?6, last_error = ?7, updated_at = ?2 \
WHERE id = ?1 AND state = 'sending' AND attempts = ?3";

/// Send times of the last minute, per channel (`?1` = now - 60 s): what the
/// rate cap counts.
pub const SELECT_RECENT_SENDS: &str = "SELECT channel, last_attempt_at FROM alert_deliveries \
WHERE last_attempt_at > ?1";

/// Row of [`SELECT_RECENT_SENDS`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RecentSend {
    pub channel: String,
    pub last_attempt_at: i64,
}

// ---------------------------------------------------------------------------
// Listing and pruning
// ---------------------------------------------------------------------------

/// Newest alerts first with their deliveries packed as a JSON array (one row
/// per alert crosses the JS/wasm boundary), `?1` = limit.
pub const SELECT_ALERTS: &str = "SELECT a.id, a.event_key, a.kind, a.severity, a.silent, \
a.resolved, a.payload, a.created_at, \
(SELECT json_group_array(json_object('channel', d.channel, 'state', d.state, \
'attempts', d.attempts, 'next_attempt_at', d.next_attempt_at, \
'last_attempt_at', d.last_attempt_at, 'last_status', d.last_status, \
'last_error', d.last_error, 'delivered_at', d.delivered_at)) \
FROM alert_deliveries AS d WHERE d.alert_id = a.id) AS deliveries \
FROM alerts AS a ORDER BY a.id DESC LIMIT ?1";

/// Row of [`SELECT_ALERTS`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AlertRow {
    pub id: i64,
    pub event_key: String,
    pub kind: String,
    pub severity: String,
    pub silent: i64,
    pub resolved: i64,
    pub payload: String,
    pub created_at: i64,
    /// JSON array of [`DeliveryView`]s.
    pub deliveries: Option<String>,
}

/// One delivery as packed in [`AlertRow::deliveries`].
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
pub struct DeliveryView {
    pub channel: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_attempt_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

/// Deliveries of alerts created before `?1`; run just before
/// [`PRUNE_ALERTS`] in the same batch.
pub const PRUNE_DELIVERIES: &str = "DELETE FROM alert_deliveries WHERE alert_id IN \
(SELECT id FROM alerts WHERE created_at < ?1)";

/// Alerts created before `?1`.
pub const PRUNE_ALERTS: &str = "DELETE FROM alerts WHERE created_at < ?1";

/// Alerts are kept this long (days), then pruned with their deliveries.
pub const ALERT_RETENTION_DAYS: i64 = 30;
