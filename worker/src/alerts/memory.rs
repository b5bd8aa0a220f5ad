//! In-memory fakes for the alert workflows: a store whose every method
//! implements the predicate of its SQL constant (the SQL stays the source of
//! truth; `migrations/d1/0006_alerts.sql` for the constraints) with a batch
//! failure switch, and a sender that answers from a script and records
//! every request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use sas_core::alerts::{ChannelAnswer, HttpRequest, SendFailure};

use super::model::{AlertRow, ConditionRow, DeliveryState, DueDelivery, RecentSend};
use super::service::AlertSender;
use super::store::{AlertStore, ConditionWrite, DeliveryRecord, NewAlert, StoreError};

/// A stored `alerts` row.
#[derive(Debug, Clone, PartialEq)]
pub struct MemAlert {
    pub id: i64,
    pub event_key: String,
    pub kind: String,
    pub severity: String,
    pub silent: bool,
    pub resolved: bool,
    pub payload: String,
    pub created_at: i64,
}

/// A stored `alert_deliveries` row.
#[derive(Debug, Clone, PartialEq)]
pub struct MemDelivery {
    pub id: i64,
    pub alert_id: i64,
    pub channel: String,
    pub state: DeliveryState,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_attempt_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

#[derive(Debug, Default)]
pub struct MemoryAlertStore {
    pub alerts: RefCell<Vec<MemAlert>>,
    pub deliveries: RefCell<Vec<MemDelivery>>,
    pub conditions: RefCell<Vec<ConditionRow>>,
    /// The next batch fails (nothing of it is applied).
    pub fail_next_batch: Cell<bool>,
}

impl MemoryAlertStore {
    fn batch(&self) -> Result<(), StoreError> {
        if self.fail_next_batch.replace(false) {
            Err(StoreError("injected batch failure".into()))
        } else {
            Ok(())
        }
    }

    /// INSERT_ALERT (+ INSERT_DELIVERIES when it stored a row).
    fn insert_alert(&self, new: &NewAlert<'_>) -> bool {
        let key = new.alert.key.as_str();
        if self.alerts.borrow().iter().any(|a| a.event_key == key) {
            return false;
        }
        let id = self.alerts.borrow().iter().map(|a| a.id).max().unwrap_or(0) + 1;
        self.alerts.borrow_mut().push(MemAlert {
            id,
            event_key: key.to_owned(),
            kind: new.alert.kind.as_str().to_owned(),
            severity: new.alert.severity.as_str().to_owned(),
            silent: new.alert.silent,
            resolved: new.alert.resolved,
            payload: serde_json::to_string(new.alert).unwrap(),
            created_at: new.now_ms,
        });
        for ch in new.channels {
            let did = self
                .deliveries
                .borrow()
                .iter()
                .map(|d| d.id)
                .max()
                .unwrap_or(0)
                + 1;
            self.deliveries.borrow_mut().push(MemDelivery {
                id: did,
                alert_id: id,
                channel: ch.as_str().to_owned(),
                state: DeliveryState::Pending,
                attempts: 0,
                next_attempt_at: new.now_ms,
                last_attempt_at: None,
                last_status: None,
                last_error: None,
                delivered_at: None,
            });
        }
        true
    }

    /// The delivery of `key` on `channel`.
    pub fn delivery(&self, key: &str, channel: &str) -> Option<MemDelivery> {
        let alert_id = self.alerts.borrow().iter().find(|a| a.event_key == key)?.id;
        self.deliveries
            .borrow()
            .iter()
            .find(|d| d.alert_id == alert_id && d.channel == channel)
            .cloned()
    }

    /// Every stored key, in insertion order.
    pub fn keys(&self) -> Vec<String> {
        self.alerts
            .borrow()
            .iter()
            .map(|a| a.event_key.clone())
            .collect()
    }

    /// Applies `f` to delivery `id`.
    fn with_delivery<T>(&self, id: i64, f: impl FnOnce(&mut MemDelivery) -> T) -> Option<T> {
        self.deliveries
            .borrow_mut()
            .iter_mut()
            .find(|d| d.id == id)
            .map(f)
    }
}

impl AlertStore for MemoryAlertStore {
    async fn enqueue(&self, new: &NewAlert<'_>) -> Result<bool, StoreError> {
        self.batch()?;
        Ok(self.insert_alert(new))
    }

    async fn has_alert(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.alerts.borrow().iter().any(|a| a.event_key == key))
    }

    async fn condition(
        &self,
        kind: &str,
        subject: &str,
    ) -> Result<Option<ConditionRow>, StoreError> {
        Ok(self
            .conditions
            .borrow()
            .iter()
            .find(|c| c.kind == kind && c.subject == subject)
            .cloned())
    }

    async fn conditions(&self) -> Result<Vec<ConditionRow>, StoreError> {
        Ok(self.conditions.borrow().clone())
    }

    async fn write_condition(&self, w: &ConditionWrite<'_>) -> Result<bool, StoreError> {
        self.batch()?;
        let s = w.state;
        let row = ConditionRow {
            kind: s.kind.as_str().to_owned(),
            subject: s.subject.clone(),
            active: i64::from(s.active),
            since_ms: s.since_ms,
            observed_ms: s.observed_ms,
            detail: s.detail.clone(),
            version: s.version,
        };
        let won = {
            let mut conditions = self.conditions.borrow_mut();
            match conditions
                .iter_mut()
                .find(|c| c.kind == row.kind && c.subject == row.subject)
            {
                // ON CONFLICT ... DO UPDATE ... WHERE version = ?8
                Some(existing) if existing.version == w.expected_version => {
                    *existing = row;
                    true
                }
                Some(_) => false,
                None => {
                    conditions.push(row);
                    true
                }
            }
        };
        // INSERT_ALERT_IF_CHANGED + INSERT_DELIVERIES
        if let (true, Some(new)) = (won, w.alert.as_ref()) {
            self.insert_alert(new);
        }
        Ok(won)
    }

    async fn due_deliveries(
        &self,
        now_ms: i64,
        limit: u32,
        only_key: Option<&str>,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let alerts = self.alerts.borrow();
        let mut due: Vec<DueDelivery> = self
            .deliveries
            .borrow()
            .iter()
            .filter(|d| d.state.is_open() && d.next_attempt_at <= now_ms)
            .filter_map(|d| {
                let a = alerts.iter().find(|a| a.id == d.alert_id)?;
                if only_key.is_some_and(|k| k != a.event_key) {
                    return None;
                }
                Some(DueDelivery {
                    id: d.id,
                    channel: d.channel.clone(),
                    state: d.state.as_str().to_owned(),
                    attempts: d.attempts,
                    next_attempt_at: d.next_attempt_at,
                    event_key: a.event_key.clone(),
                    payload: a.payload.clone(),
                })
            })
            .collect();
        due.sort_by_key(|d| (d.next_attempt_at, d.id));
        due.truncate(limit as usize);
        Ok(due)
    }

    async fn recent_sends(&self, since_ms: i64) -> Result<Vec<RecentSend>, StoreError> {
        Ok(self
            .deliveries
            .borrow()
            .iter()
            .filter_map(|d| {
                let at = d.last_attempt_at.filter(|t| *t > since_ms)?;
                Some(RecentSend {
                    channel: d.channel.clone(),
                    last_attempt_at: at,
                })
            })
            .collect())
    }

    async fn claim(
        &self,
        id: i64,
        now_ms: i64,
        lease_until_ms: i64,
        attempts_read: i64,
    ) -> Result<bool, StoreError> {
        Ok(self
            .with_delivery(id, |d| {
                let ok =
                    d.attempts == attempts_read && d.state.is_open() && d.next_attempt_at <= now_ms;
                if ok {
                    d.state = DeliveryState::Sending;
                    d.attempts += 1;
                    d.last_attempt_at = Some(now_ms);
                    d.next_attempt_at = lease_until_ms;
                }
                ok
            })
            .unwrap_or(false))
    }

    async fn defer(
        &self,
        id: i64,
        now_ms: i64,
        until_ms: i64,
        attempts_read: i64,
    ) -> Result<bool, StoreError> {
        Ok(self
            .with_delivery(id, |d| {
                let ok =
                    d.attempts == attempts_read && d.state.is_open() && d.next_attempt_at <= now_ms;
                if ok {
                    d.next_attempt_at = until_ms;
                }
                ok
            })
            .unwrap_or(false))
    }

    async fn record(&self, r: &DeliveryRecord) -> Result<bool, StoreError> {
        Ok(self
            .with_delivery(r.id, |d| {
                let ok = d.state == DeliveryState::Sending && d.attempts == r.attempts;
                if ok {
                    d.state = r.state;
                    if let Some(n) = r.next_attempt_at {
                        d.next_attempt_at = n;
                    }
                    if r.state == DeliveryState::Delivered {
                        d.delivered_at = Some(r.now_ms);
                    }
                    d.last_status = r.status.map(i64::from);
                    d.last_error = r.error.clone();
                }
                ok
            })
            .unwrap_or(false))
    }

    async fn alerts(&self, limit: u32) -> Result<Vec<AlertRow>, StoreError> {
        let deliveries = self.deliveries.borrow();
        let mut rows: Vec<AlertRow> = self
            .alerts
            .borrow()
            .iter()
            .map(|a| AlertRow {
                id: a.id,
                event_key: a.event_key.clone(),
                kind: a.kind.clone(),
                severity: a.severity.clone(),
                silent: i64::from(a.silent),
                resolved: i64::from(a.resolved),
                payload: a.payload.clone(),
                created_at: a.created_at,
                deliveries: Some(
                    serde_json::Value::from(
                        deliveries
                            .iter()
                            .filter(|d| d.alert_id == a.id)
                            .map(|d| {
                                serde_json::json!({
                                    "channel": d.channel, "state": d.state.as_str(),
                                    "attempts": d.attempts, "next_attempt_at": d.next_attempt_at,
                                    "last_attempt_at": d.last_attempt_at,
                                    "last_status": d.last_status, "last_error": d.last_error,
                                    "delivered_at": d.delivered_at,
                                })
                            })
                            .collect::<Vec<_>>(),
                    )
                    .to_string(),
                ),
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.id));
        rows.truncate(limit as usize);
        Ok(rows)
    }

    async fn prune(&self, before_ms: i64) -> Result<(), StoreError> {
        self.batch()?;
        let old: Vec<i64> = self
            .alerts
            .borrow()
            .iter()
            .filter(|a| a.created_at < before_ms)
            .map(|a| a.id)
            .collect();
        self.deliveries
            .borrow_mut()
            .retain(|d| !old.contains(&d.alert_id));
        self.alerts.borrow_mut().retain(|a| !old.contains(&a.id));
        Ok(())
    }
}

/// A sender that answers from a script (then 200 `{}`) and records every
/// request it was given.
#[derive(Debug, Default)]
pub struct ScriptedSender {
    pub answers: RefCell<VecDeque<Result<ChannelAnswer, SendFailure>>>,
    pub sent: RefCell<Vec<HttpRequest>>,
}

impl ScriptedSender {
    /// Queues an answer with `status` and `body`.
    pub fn answer(&self, status: u16, retry_after: Option<&str>, body: &str) {
        self.answers.borrow_mut().push_back(Ok(ChannelAnswer {
            status,
            retry_after_header: retry_after.map(str::to_owned),
            body: body.to_owned(),
        }));
    }

    /// Queues a lost answer.
    pub fn fail(&self, failure: SendFailure) {
        self.answers.borrow_mut().push_back(Err(failure));
    }
}

impl AlertSender for ScriptedSender {
    async fn send(
        &self,
        request: &HttpRequest,
        _timeout_ms: u32,
    ) -> Result<ChannelAnswer, SendFailure> {
        self.sent.borrow_mut().push(request.clone());
        self.answers
            .borrow_mut()
            .pop_front()
            .unwrap_or(Ok(ChannelAnswer {
                status: 200,
                retry_after_header: None,
                body: "{}".into(),
            }))
    }
}
