//! In-memory fakes of the events workflows: a store whose every method
//! does what its SQL constant of [`super::model`] does (the SQL itself runs
//! on real SQLite in `workflow_tests::sql`), with batch and read failure
//! switches, and a bridge that answers `/events/dividends` from a script and
//! records every request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use super::model::{DividendRow, EarningsDate, EarningsRow};
use super::store::{DividendFailure, DividendWrite, EventsStore};
use crate::audit::AuditEntry;
use crate::bridge::{Bridge, BridgeAnswer, BridgeFailure};
use crate::store::StoreError;

/// The fake store.
#[derive(Debug, Default)]
pub struct MemoryEvents {
    /// `earnings_events` by (symbol, date).
    pub earnings: RefCell<BTreeMap<(String, String), EarningsRow>>,
    /// `dividend_events` by symbol.
    pub dividends: RefCell<BTreeMap<String, DividendRow>>,
    /// `audit_log`.
    pub audit: RefCell<Vec<AuditEntry>>,
    /// The next `change_earnings` batch fails (nothing of it is applied).
    pub fail_next_batch: Cell<bool>,
    /// Every read fails.
    pub fail_reads: Cell<bool>,
    /// Batches written.
    pub batches: Cell<usize>,
}

impl MemoryEvents {
    fn read(&self) -> Result<(), StoreError> {
        if self.fail_reads.get() {
            Err(StoreError("injected read failure".into()))
        } else {
            Ok(())
        }
    }
}

impl EventsStore for MemoryEvents {
    async fn earnings(&self, from: &str) -> Result<Vec<EarningsRow>, StoreError> {
        self.read()?;
        Ok(self
            .earnings
            .borrow()
            .values()
            .filter(|r| r.date.as_str() >= from)
            .cloned()
            .collect())
    }

    async fn dividends(&self) -> Result<Vec<DividendRow>, StoreError> {
        self.read()?;
        Ok(self.dividends.borrow().values().cloned().collect())
    }

    async fn change_earnings(
        &self,
        add: &[EarningsDate],
        remove: &[EarningsDate],
        at_ms: i64,
        actor: &str,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        if self.fail_next_batch.replace(false) {
            return Err(StoreError("injected batch failure".into()));
        }
        let mut rows = self.earnings.borrow_mut();
        for a in add {
            let key = (a.symbol.to_string(), a.date.to_string());
            rows.entry(key).or_insert_with(|| EarningsRow {
                symbol: a.symbol.to_string(),
                date: a.date.to_string(),
                note: a.note.clone(),
                added_at: at_ms,
                added_by: actor.to_owned(),
            });
        }
        for r in remove {
            rows.remove(&(r.symbol.to_string(), r.date.to_string()));
        }
        self.audit.borrow_mut().push(audit.clone());
        self.batches.set(self.batches.get() + 1);
        Ok(())
    }

    async fn save_dividend(&self, w: &DividendWrite) -> Result<(), StoreError> {
        self.dividends.borrow_mut().insert(
            w.symbol.clone(),
            DividendRow {
                symbol: w.symbol.clone(),
                checked_at: w.now_ms,
                next_attempt_at: w.next_attempt_at,
                fetched_at: Some(w.now_ms),
                next_ex_date: w.next_ex_date.clone(),
                next_amount: w.next_amount,
                past_12m: Some(w.past_12m),
                next_12m: Some(w.next_12m),
                source: Some(w.source.clone()),
                error: None,
            },
        );
        Ok(())
    }

    async fn record_dividend_failure(&self, w: &DividendFailure) -> Result<(), StoreError> {
        let mut rows = self.dividends.borrow_mut();
        let row = rows.entry(w.symbol.clone()).or_insert_with(|| DividendRow {
            symbol: w.symbol.clone(),
            checked_at: 0,
            next_attempt_at: 0,
            fetched_at: None,
            next_ex_date: None,
            next_amount: None,
            past_12m: None,
            next_12m: None,
            source: None,
            error: None,
        });
        row.checked_at = w.now_ms;
        row.next_attempt_at = w.next_attempt_at;
        row.error = Some(w.error.clone());
        Ok(())
    }
}

/// A bridge answering `/events/dividends?symbol=S` with the scripted
/// (status, body) of S (404 when none), recording every path.
#[derive(Debug, Default)]
pub struct ScriptedBridge {
    pub answers: RefCell<BTreeMap<String, (u16, String)>>,
    pub calls: RefCell<Vec<String>>,
    /// Fail every request as unreachable.
    pub down: Cell<bool>,
}

impl ScriptedBridge {
    pub fn answer(&self, symbol: &str, status: u16, body: serde_json::Value) {
        self.answers
            .borrow_mut()
            .insert(symbol.to_owned(), (status, body.to_string()));
    }
}

impl Bridge for ScriptedBridge {
    async fn get(&self, path: &str, _timeout_ms: u32) -> Result<BridgeAnswer, BridgeFailure> {
        self.calls.borrow_mut().push(path.to_owned());
        if self.down.get() {
            return Err(BridgeFailure::Unreachable("connection refused".into()));
        }
        let symbol = path
            .strip_prefix("/events/dividends?symbol=")
            .unwrap_or_default();
        let (status, body) = self
            .answers
            .borrow()
            .get(symbol)
            .cloned()
            .unwrap_or((404, "{}".into()));
        Ok(BridgeAnswer { status, body })
    }

    async fn post_json(
        &self,
        path: &str,
        _body: &str,
        _timeout_ms: u32,
    ) -> Result<BridgeAnswer, BridgeFailure> {
        self.calls.borrow_mut().push(format!("POST {path}"));
        Ok(BridgeAnswer {
            status: 404,
            body: "{}".into(),
        })
    }
}
