//! In-memory fakes of the IV-history workflows: a store whose every method
//! implements its SQL constant of [`super::model`] (the SQL stays the source
//! of truth and is run on real SQLite in `workflow_tests::sql`), with a
//! batch-failure switch, and a bridge that answers `/history/iv` and
//! `/chain` from a script and records every request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};

use super::model::{
    source_code, BackfillWrite, CoverageRow, FetchKind, SeriesRow, StateWrite, StoredQualityRow,
};
use super::store::IvHistoryStore;
use crate::bridge::{Bridge, BridgeAnswer, BridgeFailure};
use crate::store::{LatestRow, StoreError};

/// A stored `iv_history` row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemIv {
    pub ib_iv: Option<f64>,
    pub ib_source: Option<String>,
    pub own_iv: Option<f64>,
    pub updated_at: i64,
}

/// A stored `iv_history_state` row.
#[derive(Debug, Clone, PartialEq)]
pub struct MemState {
    pub status: String,
    pub backfilled_at: Option<i64>,
    pub last_attempt_at: i64,
    pub next_attempt_at: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// The fake store.
#[derive(Debug, Default)]
pub struct MemoryIvStore {
    /// `iv_history` by (symbol, date).
    pub iv: RefCell<BTreeMap<(String, String), MemIv>>,
    /// `iv_history_state` by symbol.
    pub state: RefCell<BTreeMap<String, MemState>>,
    /// `underlying_metrics_daily.atm_iv_30d` by (symbol, date).
    pub own_daily: RefCell<BTreeMap<(String, String), f64>>,
    /// `market_data`'s newest rows.
    pub quotes: RefCell<Vec<LatestRow>>,
    /// `symbol_quality` by symbol (written by the chain step).
    pub quality: RefCell<BTreeMap<String, StoredQualityRow>>,
    /// The next `save_fetch` batch fails (nothing of it is applied).
    pub fail_next_batch: Cell<bool>,
    /// Every read fails.
    pub fail_reads: Cell<bool>,
}

fn list(symbols_json: &str) -> Vec<String> {
    serde_json::from_str(symbols_json).unwrap()
}

impl MemoryIvStore {
    fn read(&self) -> Result<(), StoreError> {
        if self.fail_reads.get() {
            Err(StoreError("injected read failure".into()))
        } else {
            Ok(())
        }
    }

    /// Stored IB closes of `symbol`, oldest first.
    pub fn ib_of(&self, symbol: &str) -> Vec<(String, f64)> {
        self.iv
            .borrow()
            .iter()
            .filter(|((s, _), _)| s == symbol)
            .filter_map(|((_, d), r)| r.ib_iv.map(|v| (d.clone(), v)))
            .collect()
    }
}

impl IvHistoryStore for MemoryIvStore {
    async fn coverage(
        &self,
        symbols_json: &str,
        from: &str,
    ) -> Result<Vec<CoverageRow>, StoreError> {
        self.read()?;
        let iv = self.iv.borrow();
        let state = self.state.borrow();
        Ok(list(symbols_json)
            .into_iter()
            .map(|symbol| {
                let rows: Vec<(&String, &MemIv)> = iv
                    .iter()
                    .filter(|((s, _), _)| *s == symbol)
                    .map(|((_, d), r)| (d, r))
                    .collect();
                let in_window = || rows.iter().filter(|(d, _)| d.as_str() >= from);
                let s = state.get(&symbol);
                CoverageRow {
                    status: s.map(|s| s.status.clone()),
                    backfilled_at: s.and_then(|s| s.backfilled_at),
                    last_attempt_at: s.map(|s| s.last_attempt_at),
                    next_attempt_at: s.map(|s| s.next_attempt_at),
                    attempts: s.map(|s| s.attempts),
                    last_error: s.and_then(|s| s.last_error.clone()),
                    ib_days: in_window().filter(|(_, r)| r.ib_iv.is_some()).count() as i64,
                    own_days: in_window().filter(|(_, r)| r.own_iv.is_some()).count() as i64,
                    first_ib_date: in_window()
                        .filter(|(_, r)| r.ib_iv.is_some())
                        .map(|(d, _)| (*d).clone())
                        .min(),
                    last_ib_date: rows
                        .iter()
                        .filter(|(_, r)| r.ib_iv.is_some())
                        .map(|(d, _)| (*d).clone())
                        .max(),
                    symbol,
                }
            })
            .collect())
    }

    async fn save_fetch(&self, w: &BackfillWrite) -> Result<u64, StoreError> {
        if self.fail_next_batch.replace(false) {
            return Err(StoreError("injected batch failure".into()));
        }
        let mut iv = self.iv.borrow_mut();
        let source = source_code(w.fetched.source).to_owned();
        let mut written = 0;
        for (d, v) in &w.fetched.bars {
            let row = iv
                .entry((w.symbol.to_string(), d.format("%Y-%m-%d").to_string()))
                .or_default();
            // ON CONFLICT ... WHERE ib_iv IS NOT excluded.ib_iv OR ib_source IS NOT ...
            if row.ib_iv != Some(*v) || row.ib_source.as_deref() != Some(source.as_str()) {
                row.ib_iv = Some(*v);
                row.ib_source = Some(source.clone());
                row.updated_at = w.now_ms;
                written += 1;
            }
        }
        let mut state = self.state.borrow_mut();
        let prev = state.get(w.symbol.as_str()).and_then(|s| s.backfilled_at);
        state.insert(
            w.symbol.to_string(),
            MemState {
                status: "complete".into(),
                backfilled_at: if w.kind == FetchKind::Backfill {
                    Some(w.now_ms)
                } else {
                    prev
                },
                last_attempt_at: w.now_ms,
                next_attempt_at: w.now_ms,
                attempts: 0,
                last_error: None,
            },
        );
        Ok(written)
    }

    async fn record_failure(&self, w: &StateWrite) -> Result<(), StoreError> {
        let mut state = self.state.borrow_mut();
        let backfilled_at = state.get(w.symbol.as_str()).and_then(|s| s.backfilled_at);
        state.insert(
            w.symbol.to_string(),
            MemState {
                status: w.status.to_owned(),
                backfilled_at,
                last_attempt_at: w.now_ms,
                next_attempt_at: w.next_attempt_at,
                attempts: w.attempts,
                last_error: Some(w.error.clone()),
            },
        );
        Ok(())
    }

    async fn append_own(
        &self,
        symbols_json: &str,
        from: &str,
        before: &str,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let symbols = list(symbols_json);
        let mut iv = self.iv.borrow_mut();
        let mut written = 0;
        for ((s, d), v) in self.own_daily.borrow().iter() {
            if !symbols.contains(s) || d.as_str() < from || d.as_str() >= before {
                continue;
            }
            let row = iv.entry((s.clone(), d.clone())).or_default();
            if row.own_iv != Some(*v) {
                row.own_iv = Some(*v);
                row.updated_at = now_ms;
                written += 1;
            }
        }
        Ok(written)
    }

    async fn series(
        &self,
        symbol: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<SeriesRow>, StoreError> {
        self.read()?;
        let mut by_date: BTreeMap<String, SeriesRow> = BTreeMap::new();
        let in_range = |s: &str, d: &str| s == symbol && d >= from && d <= to;
        for ((s, d), r) in self.iv.borrow().iter() {
            if in_range(s, d) {
                by_date.insert(
                    d.clone(),
                    SeriesRow {
                        date: d.clone(),
                        ib_iv: r.ib_iv,
                        own_iv: r.own_iv,
                    },
                );
            }
        }
        for ((s, d), v) in self.own_daily.borrow().iter() {
            if in_range(s, d) {
                let row = by_date.entry(d.clone()).or_insert_with(|| SeriesRow {
                    date: d.clone(),
                    ib_iv: None,
                    own_iv: None,
                });
                // MAX(own_iv) over both tables.
                row.own_iv = Some(row.own_iv.map_or(*v, |o| o.max(*v)));
            }
        }
        Ok(by_date.into_values().collect())
    }

    async fn latest_quotes(&self, symbols_json: &str) -> Result<Vec<LatestRow>, StoreError> {
        self.read()?;
        let symbols = list(symbols_json);
        Ok(self
            .quotes
            .borrow()
            .iter()
            .filter(|q| symbols.contains(&q.symbol))
            .cloned()
            .collect())
    }

    async fn stored_quality(&self, symbol: &str) -> Result<Option<StoredQualityRow>, StoreError> {
        self.read()?;
        Ok(self.quality.borrow().get(symbol).cloned())
    }
}

/// A scripted answer of [`FakeBridge`].
pub type Scripted = Result<BridgeAnswer, BridgeFailure>;

/// A bridge answering each path prefix from its own queue (the last answer
/// repeats), recording every path asked.
#[derive(Debug, Default)]
pub struct FakeBridge {
    pub answers: RefCell<BTreeMap<String, VecDeque<Scripted>>>,
    pub asked: RefCell<Vec<String>>,
}

impl FakeBridge {
    /// Answers requests whose path starts with `prefix` with `answer`.
    pub fn on(&self, prefix: &str, answer: Scripted) {
        self.answers
            .borrow_mut()
            .entry(prefix.to_owned())
            .or_default()
            .push_back(answer);
    }
}

/// A 200 answer.
pub fn ok(body: String) -> Scripted {
    Ok(BridgeAnswer { status: 200, body })
}

impl Bridge for FakeBridge {
    async fn get(&self, path: &str, _timeout_ms: u32) -> Result<BridgeAnswer, BridgeFailure> {
        self.asked.borrow_mut().push(path.to_owned());
        let mut answers = self.answers.borrow_mut();
        let key = answers
            .keys()
            .filter(|k| path.starts_with(k.as_str()))
            .max_by_key(|k| k.len())
            .cloned();
        let Some(queue) = key.and_then(|k| answers.get_mut(&k)) else {
            return Ok(BridgeAnswer {
                status: 404,
                body: r#"{"error":"not_found","message":"no script"}"#.into(),
            });
        };
        if queue.len() > 1 {
            Ok(queue.pop_front().unwrap()?)
        } else {
            queue.front().cloned().unwrap()
        }
    }

    async fn post_json(
        &self,
        path: &str,
        _body: &str,
        _timeout_ms: u32,
    ) -> Result<BridgeAnswer, BridgeFailure> {
        panic!("the IV-history workflows never POST (asked {path})")
    }
}
