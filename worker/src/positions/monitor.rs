//! The position monitor: one run reads the broker (order states, the day's
//! executions, positions, net liquidation, then fresh quotes of the open
//! legs), updates orders and positions from them, marks every open position,
//! evaluates its exit plan, places / re-prices / cancels closing orders,
//! cancels what stays unfilled of an expired entry, reconciles the books and
//! stores an equity snapshot. Pure workflow over [`PositionStore`] and
//! [`Bridge`]; the clock is passed in.
//!
//! Failure rules: if the executions or positions of the broker cannot be
//! read, nothing is written but the failed run record. A quote that cannot
//! be read refuses that position's mark (reason recorded, no exit action).
//! An order whose send got no answer becomes `unknown` and is resolved by
//! reading the broker by key — never by sending again.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use sas_bridge_api::account::PositionsBody;
use sas_bridge_api::orders::{ExecutionsBody, Order as WireOrder, OrderRequest};
use sas_core::market::{Account, OptionChain, Symbol};
use sas_core::money::Money;
use sas_core::orders::{Applied, BrokerReport, BrokerState, Order, OrderStatus};
use sas_core::portfolio::{
    closing_attempt_of, evaluate_exits, mark_position, next_closing_action, pnl_totals,
    ClosingAction, ClosingAttempt, ContractId, ContractQuote, ExitDecision, ExitState, Ledger,
    Mark, MarkRejection, Position, PositionSpec, PositionStatus, Recorded,
};
use sas_core::reconcile::{reconcile, BrokerPosition, Reconciliation};
use sas_core::strategy::{ExitPlan, StrategyKind};

use super::model::{
    self, closing_request, commission_of, drift_fingerprint, execution_of, execution_of_row,
    millis_to_utc, order_of_row, quote_paths, quotes_of_chain, report_of, spec_of_entry, FillRow,
    OrderRow, PositionRow, PositionState,
};
use super::store::{
    NewExitOrder, NewFill, NewMark, NewPosition, OrderUpdate, PositionStore, PositionUpdate,
    PositionWrite, RunOutcome, StoreError,
};
use crate::audit::{AuditAction, AuditEntry};
use crate::bridge::{get_json, Bridge, BridgeReadError};
use crate::config::Config;
use crate::order_answers::{
    classify_lookup, classify_order_answer, classify_send_failure, LookupResult, SendResult,
};

/// Actor of the monitor's changes.
pub const MONITOR_ACTOR: &str = "system:monitor";
/// A run older than this is no longer holding the lease (a crashed run).
pub const LEASE_MS: i64 = 120_000;
/// Approved trades adopted per run at most.
pub const ADOPT_PER_RUN: u32 = 20;
/// Quote requests in flight at once.
const QUOTE_CONCURRENCY: usize = 6;

/// Why a monitor run failed (recorded on the run; nothing else written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonitorError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("bridge: {0}")]
    Bridge(#[from] BridgeReadError),
    #[error("broker data not understood: {0}")]
    Mapping(#[from] model::MappingError),
}

/// The run as reported (and logged).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct RunReport {
    pub run_id: Option<i64>,
    pub status: &'static str,
    pub positions: i64,
    pub marks_ok: i64,
    pub marks_rejected: i64,
    pub orders_placed: i64,
    pub cancels: i64,
    pub rows_written: i64,
    pub exits_triggered: Vec<(i64, String)>,
    pub error: Option<String>,
}

/// The monitor's dependencies.
pub struct Monitor<'a, S, B> {
    pub store: &'a S,
    pub bridge: &'a B,
    pub cfg: &'a Config,
    pub now: &'a dyn Fn() -> DateTime<Utc>,
    pub log: &'a dyn Fn(&str, serde_json::Value),
}

/// What the first round of broker reads gave.
struct BrokerBook {
    executions: Vec<sas_bridge_api::orders::Execution>,
    reports: BTreeMap<String, LookupOutcome>,
    positions: Vec<BrokerPosition>,
    net_liquidation: Option<f64>,
}

#[derive(Debug, Clone)]
enum LookupOutcome {
    Found(WireOrder),
    NotFound,
    Unavailable,
}

/// One position as computed in a run.
struct Working {
    row: PositionRow,
    spec: PositionSpec,
    plan: Option<ExitPlan>,
    position: Position,
    orders: Vec<(OrderRow, Order)>,
    write: PositionWrite,
    state: PositionState,
}

fn audit(
    entity: &'static str,
    id: i64,
    at: i64,
    action: AuditAction,
    from: Option<&str>,
    to: Option<&str>,
    details: serde_json::Value,
) -> AuditEntry {
    AuditEntry::about(entity, id, at, MONITOR_ACTOR, action, from, to, details)
}

fn snake<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn strategy_of(s: &str) -> Option<StrategyKind> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

impl<S: PositionStore, B: Bridge> Monitor<'_, S, B> {
    /// One run, recorded whatever happens.
    pub async fn run(&self) -> RunReport {
        let started = (self.now)();
        let run_id = match self
            .store
            .begin_run(started.timestamp_millis(), LEASE_MS)
            .await
        {
            Ok(Some(id)) => id,
            Ok(None) => {
                (self.log)(
                    "monitor_skipped",
                    serde_json::json!({ "reason": "another run holds the lease" }),
                );
                return RunReport {
                    status: "skipped",
                    ..RunReport::default()
                };
            }
            Err(e) => {
                (self.log)(
                    "monitor_error",
                    serde_json::json!({ "context": "begin run", "error": e.to_string() }),
                );
                return RunReport {
                    status: "failed",
                    error: Some(e.to_string()),
                    ..RunReport::default()
                };
            }
        };
        let mut report = RunReport {
            run_id: Some(run_id),
            status: "ok",
            rows_written: 1,
            ..RunReport::default()
        };
        if let Err(e) = self.run_inner(started, &mut report).await {
            report.status = "failed";
            report.error = Some(crate::config::truncate(&e.to_string(), 300));
        }
        let outcome = RunOutcome {
            status: report.status,
            positions: report.positions,
            marks_ok: report.marks_ok,
            marks_rejected: report.marks_rejected,
            orders_placed: report.orders_placed,
            cancels: report.cancels,
            rows_written: report.rows_written + 1,
            error: report.error.clone(),
        };
        if let Err(e) = self
            .store
            .finish_run(run_id, (self.now)().timestamp_millis(), &outcome)
            .await
        {
            (self.log)(
                "monitor_error",
                serde_json::json!({ "context": "finish run", "error": e.to_string() }),
            );
        }
        report.rows_written += 1;
        report
    }

    async fn run_inner(
        &self,
        now: DateTime<Utc>,
        report: &mut RunReport,
    ) -> Result<(), MonitorError> {
        let now_ms = now.timestamp_millis();
        report.rows_written += self.adopt(now_ms).await? as i64;

        let rows = self.store.active_positions().await?;
        let order_rows = self.store.active_orders().await?;
        let fill_rows = self.store.active_fills().await?;

        // Round 1: the broker's books (nothing written if they fail).
        let live_keys: Vec<String> = order_rows
            .iter()
            .filter(|o| {
                OrderStatus::ALL
                    .into_iter()
                    .find(|s| s.as_str() == o.status)
                    .is_some_and(OrderStatus::is_live)
            })
            .map(|o| o.key.clone())
            .collect();
        let book = self.read_book(&live_keys).await?;

        // Compute every position from its fills and the broker's reports.
        let mut working = Vec::with_capacity(rows.len());
        for row in rows {
            match self.compute(row, &order_rows, &fill_rows, &book, now_ms) {
                Ok(w) => working.push(w),
                Err(e) => (self.log)(
                    "monitor_error",
                    serde_json::json!({ "context": "position", "error": e.to_string() }),
                ),
            }
        }
        report.positions = working.len() as i64;

        // Reconciliation first: a drift pauses exits in this same run.
        let recon = {
            let ours: Vec<Position> = working
                .iter()
                .filter(|w| w.state == PositionState::Open)
                .map(|w| w.position.clone())
                .collect();
            reconcile(&ours, &book.positions)
        };
        let stored = self.store.reconciliation().await?;
        let fingerprint = drift_fingerprint(&recon.drifts);
        let standing_now = fingerprint.is_some()
            && stored.fingerprint == fingerprint
            && stored.acknowledged_fingerprint != fingerprint;
        let paused_by_drift: BTreeSet<String> = if standing_now {
            recon.paused_positions.iter().cloned().collect()
        } else {
            BTreeSet::new()
        };

        // The trader's pause of every exit (a failed read does not pause:
        // exits keep running in every state unless the trader paused them).
        let paused_all = self
            .store
            .exits_paused_globally()
            .await
            .unwrap_or_else(|e| {
                (self.log)(
                    "monitor_error",
                    serde_json::json!({ "context": "exits pause", "error": e.to_string() }),
                );
                false
            });

        // Round 2: fresh quotes of every open leg; the data-quality gate
        // holds the exits of a symbol whose data is delayed or failing.
        let (quotes, held) = self.read_quotes(&working, now).await;

        let mut totals: Vec<(Position, Option<Mark>)> = Vec::new();
        for w in &mut working {
            let data_hold = data_hold_of(&w.position, &held);
            let pauses = Pauses {
                by_drift: &paused_by_drift,
                all: paused_all,
                data: data_hold.as_ref(),
            };
            let mark = self.mark_and_evaluate(w, &quotes, &pauses, now, report);
            totals.push((w.position.clone(), mark.clone()));
            if !w.write.is_empty() {
                report.rows_written += self.store.write_position(&w.write).await? as i64;
            }
            if w.state == PositionState::Open
                && !paused_by_drift.contains(&w.row.key)
                && w.row.exits_paused == 0
                && ((!paused_all && data_hold.is_none())
                    || w.row.exit_reason.as_deref() == Some("manual"))
            {
                self.close_step(w, mark.as_ref(), now, report).await?;
            }
            self.entry_expiry_step(w, now, report).await?;
        }

        report.rows_written += self
            .store_reconciliation(&recon, fingerprint.as_deref(), &stored, now_ms)
            .await? as i64;

        let refs: Vec<(&Position, Option<&Mark>)> =
            totals.iter().map(|(p, m)| (p, m.as_ref())).collect();
        let pnl = pnl_totals(&refs);
        let open = totals
            .iter()
            .filter(|(p, _)| p.status == PositionStatus::Open)
            .count() as i64;
        report.rows_written += self
            .store
            .insert_equity(
                now_ms,
                book.net_liquidation,
                pnl.unrealized_mid.micros(),
                open,
                i64::from(pnl.unmarked),
            )
            .await? as i64;
        Ok(())
    }

    /// Starts tracking approved trades whose entry the bridge accepted.
    async fn adopt(&self, now_ms: i64) -> Result<u64, MonitorError> {
        let mut rows = 0;
        for a in self.store.adoptable(ADOPT_PER_RUN).await? {
            let built = (|| {
                let request: OrderRequest =
                    serde_json::from_str(a.order_request.as_deref()?).ok()?;
                let symbol = Symbol::parse(&a.symbol).ok()?;
                let strategy = strategy_of(&a.strategy)?;
                let spec = spec_of_entry(&a.idempotency_key, symbol, strategy, &request).ok()?;
                let limit = Money::from_dollars(request.limit_price)?;
                Some((spec, request.quantity, limit))
            })();
            let Some((spec, quantity, limit)) = built else {
                (self.log)(
                    "monitor_error",
                    serde_json::json!({ "context": "adopt", "proposal": a.id, "error": "unreadable order request" }),
                );
                continue;
            };
            let spec_json = serde_json::to_string(&spec).unwrap_or_default();
            let p = NewPosition {
                key: a.idempotency_key.clone(),
                proposal_id: a.id,
                symbol: a.symbol.clone(),
                strategy: a.strategy.clone(),
                spec: spec_json,
                exit_plan: a.exit_plan.clone(),
                entry_expires_at: a.expires_at,
                quantity: i64::from(quantity),
                limit_micros: limit.micros(),
                broker_order_id: a.order_id.clone(),
                at: now_ms,
            };
            let entry = audit(
                "proposal",
                a.id,
                now_ms,
                AuditAction::PositionTracked,
                None,
                Some("pending"),
                serde_json::json!({ "key": a.idempotency_key, "units": quantity, "limit": limit.dollars() }),
            );
            let (_, written) = self.store.adopt(&p, &entry).await?;
            rows += written;
        }
        Ok(rows)
    }

    async fn read_book(&self, live_keys: &[String]) -> Result<BrokerBook, MonitorError> {
        let timeout = self.cfg.bridge_timeout_ms;
        let executions =
            get_json::<ExecutionsBody>(self.bridge, "/executions", "/executions", timeout);
        let positions = get_json::<PositionsBody>(self.bridge, "/positions", "/positions", timeout);
        let account = get_json::<Account>(self.bridge, "/account", "/account", timeout);
        let lookups = join_all(live_keys.iter().map(|k| async move {
            let outcome = match self
                .bridge
                .get(&format!("/orders/by-key/{k}"), timeout)
                .await
            {
                Err(_) => LookupOutcome::Unavailable,
                Ok(answer) => match classify_lookup(answer.status, &answer.body, k) {
                    LookupResult::Found { .. } => {
                        match serde_json::from_str::<WireOrder>(&answer.body) {
                            Ok(o) => LookupOutcome::Found(o),
                            Err(_) => LookupOutcome::Unavailable,
                        }
                    }
                    LookupResult::NotFound => LookupOutcome::NotFound,
                    LookupResult::Unavailable { .. } => LookupOutcome::Unavailable,
                },
            };
            (k.clone(), outcome)
        }));
        let (executions, positions, account, lookups) =
            futures_util::join!(executions, positions, account, lookups);
        let executions = executions?.executions;
        let positions = model::broker_positions_of(&positions?.positions)?;
        Ok(BrokerBook {
            executions,
            reports: lookups.into_iter().collect(),
            positions,
            net_liquidation: account.ok().map(|a| a.net_liquidation),
        })
    }

    async fn read_quotes(
        &self,
        working: &[Working],
        now: DateTime<Utc>,
    ) -> (BTreeMap<ContractId, ContractQuote>, HeldSymbols) {
        let mut by_symbol: BTreeMap<Symbol, BTreeSet<&ContractId>> = BTreeMap::new();
        for w in working.iter().filter(|w| w.state == PositionState::Open) {
            for l in w.position.open_legs() {
                by_symbol
                    .entry(l.contract.symbol.clone())
                    .or_default()
                    .insert(&l.contract);
            }
        }
        let mut paths = Vec::new();
        for (symbol, contracts) in &by_symbol {
            let list: Vec<&ContractId> = contracts.iter().copied().collect();
            for p in quote_paths(symbol, &list) {
                paths.push((symbol.clone(), p));
            }
        }
        let timeout = self.cfg.bridge_timeout_ms;
        let mut quotes = BTreeMap::new();
        let mut held = HeldSymbols::new();
        let gate = self.cfg.quality;
        for chunk in paths.chunks(QUOTE_CONCURRENCY) {
            let answers = join_all(chunk.iter().map(|(symbol, path)| async move {
                (
                    path,
                    crate::bridge::chain(self.bridge, symbol, path, timeout).await,
                )
            }))
            .await;
            for (path, answer) in answers {
                match answer {
                    Ok(chain) => {
                        let chain: OptionChain = chain;
                        let holds = sas_core::quality::feed_holds(&chain, now, &gate);
                        if !holds.is_empty() {
                            held.entry(chain.symbol.clone()).or_default().extend(holds);
                        }
                        for q in quotes_of_chain(&chain) {
                            quotes.insert(q.contract.clone(), q);
                        }
                    }
                    Err(e) => (self.log)(
                        "monitor_quotes",
                        serde_json::json!({ "path": path, "error": e.to_string() }),
                    ),
                }
            }
        }
        (quotes, held)
    }

    /// Rebuilds one position from its stored fills plus the broker's new
    /// executions, and applies the broker's order reports.
    fn compute(
        &self,
        row: PositionRow,
        order_rows: &[OrderRow],
        fill_rows: &[FillRow],
        book: &BrokerBook,
        now_ms: i64,
    ) -> Result<Working, MonitorError> {
        let spec: PositionSpec = serde_json::from_str(&row.spec)
            .map_err(|_| model::MappingError(format!("position {} spec", row.id)))?;
        let plan: Option<ExitPlan> = serde_json::from_str(&row.exit_plan).ok();
        let mut write = PositionWrite {
            position_id: row.id,
            ..PositionWrite::default()
        };
        let mut ledger = Ledger::new();
        for f in fill_rows.iter().filter(|f| f.position_id == row.id) {
            ledger.record_execution(execution_of_row(f)?);
            if let Some(c) = f.commission_micros {
                ledger.record_commission(sas_core::portfolio::CommissionReport {
                    exec_id: f.exec_id.clone(),
                    commission: Money::from_micros(c),
                });
            }
        }
        let mut new_exec_ids = Vec::new();
        for e in &book.executions {
            let Some(order_ref) = e.idempotency_key.as_deref() else {
                continue;
            };
            if !sas_core::portfolio::belongs_to(&spec.key, order_ref) {
                continue;
            }
            let exec = match execution_of(e) {
                Ok(x) => x,
                Err(err) => {
                    (self.log)(
                        "monitor_error",
                        serde_json::json!({ "context": "execution", "error": err.to_string() }),
                    );
                    continue;
                }
            };
            let commission = commission_of(e);
            match ledger.record_execution(exec.clone()) {
                Recorded::New => {
                    if let Some(c) = commission {
                        ledger.record_commission(sas_core::portfolio::CommissionReport {
                            exec_id: exec.exec_id.clone(),
                            commission: c,
                        });
                    }
                    new_exec_ids.push(exec.exec_id.clone());
                    write.fills.push(NewFill {
                        exec_id: exec.exec_id.clone(),
                        order_key: exec.order_ref.clone(),
                        contract: serde_json::to_string(&exec.contract).unwrap_or_default(),
                        quantity: exec.quantity,
                        price_micros: exec.price.micros(),
                        commission_micros: commission.map(Money::micros),
                        time_ms: exec.time.timestamp_millis(),
                    });
                }
                Recorded::Duplicate => {
                    if let Some(c) = commission {
                        if ledger.record_commission(sas_core::portfolio::CommissionReport {
                            exec_id: exec.exec_id.clone(),
                            commission: c,
                        }) == Recorded::New
                        {
                            write.commissions.push((exec.exec_id.clone(), c.micros()));
                        }
                    }
                }
                Recorded::Conflict => (self.log)(
                    "monitor_error",
                    serde_json::json!({ "context": "execution conflict", "exec_id": exec.exec_id }),
                ),
            }
        }

        // Orders: the broker's report, then the fills counted from executions.
        let mut orders = Vec::new();
        for o in order_rows.iter().filter(|o| o.position_id == row.id) {
            let mut order = order_of_row(o)?;
            let before = order.clone();
            let mut broker_status = None;
            let mut broker_order_id = None;
            match book.reports.get(&o.key) {
                Some(LookupOutcome::Found(w)) => {
                    broker_status = Some(w.status.as_str().to_owned());
                    broker_order_id = Some(w.id.clone());
                    if let Some(r) = report_of(w) {
                        self.apply(&mut order, |ord| ord.apply_report(&r));
                    }
                }
                Some(LookupOutcome::NotFound) => {
                    // Only an order that never reached the broker can be
                    // called rejected (core decides); never resent.
                    let stale = now_ms - o.created_at > self.stale_submitting_ms();
                    if order.status != OrderStatus::Submitting || stale {
                        let r = BrokerReport {
                            seq: order.last_seq.map_or(0, |s| s + 1),
                            state: BrokerState::NotFound,
                            filled: order.filled,
                        };
                        self.apply(&mut order, |ord| ord.apply_report(&r));
                    }
                }
                Some(LookupOutcome::Unavailable) | None => {}
            }
            let units = executed_units(&ledger, o, &spec);
            if let Some(u) = units {
                self.apply(&mut order, |ord| ord.apply_executed(u.min(ord.quantity)));
            }
            let status_news =
                broker_status.is_some() && broker_status.as_deref() != o.broker_status.as_deref();
            if order != before || status_news {
                write.orders.push(OrderUpdate {
                    id: o.id,
                    from: o.status.clone(),
                    to: order.status.as_str().to_owned(),
                    filled: i64::from(order.filled),
                    broker_status: broker_status.clone(),
                    last_seq: order.last_seq.and_then(|s| i64::try_from(s).ok()),
                    broker_order_id,
                    error: o.error.clone(),
                    audit: audit(
                        "order",
                        o.id,
                        now_ms,
                        AuditAction::OrderStateChanged,
                        Some(&o.status),
                        Some(order.status.as_str()),
                        serde_json::json!({
                            "key": o.key, "purpose": o.purpose, "filled": order.filled,
                            "quantity": order.quantity, "broker_status": broker_status,
                        }),
                    ),
                });
            }
            let mut updated_row = o.clone();
            updated_row.status = order.status.as_str().to_owned();
            updated_row.filled = i64::from(order.filled);
            orders.push((updated_row, order));
        }

        let position = Position::build(&spec, &ledger);
        let summary_text = format!(
            "{} {} x{} ({})",
            row.symbol, row.strategy, spec.units, spec.key
        );
        for (o, order) in &orders {
            let new_here: Vec<&String> = new_exec_ids
                .iter()
                .filter(|id| {
                    ledger
                        .executions_of(&spec.key)
                        .iter()
                        .any(|e| &&e.exec_id == id && e.order_ref == o.key)
                })
                .collect();
            let Some(last) = new_here.last() else {
                continue;
            };
            let execs: Vec<_> = ledger
                .executions_of(&spec.key)
                .into_iter()
                .filter(|e| e.order_ref == o.key)
                .collect();
            let net: Money = execs.iter().map(|e| e.price * e.quantity).sum();
            let price = net.mul_div(1, i64::from(order.filled.max(1)));
            write.events.push(sas_core::alerts::AlertEvent::Filled {
                position_id: Some(row.id),
                proposal_id: row.proposal_id,
                order_key: o.key.clone(),
                execution_id: (*last).clone(),
                summary: format!("{} {}", o.purpose, summary_text),
                filled: order.filled,
                ordered: order.quantity,
                price,
            });
        }
        let entry_dead = orders
            .iter()
            .filter(|(r, _)| r.purpose == "entry")
            .all(|(_, o)| o.status.is_terminal() && o.filled == 0);
        let state = match position.status {
            PositionStatus::Pending if entry_dead && !orders.is_empty() => PositionState::Void,
            PositionStatus::Pending => PositionState::Pending,
            PositionStatus::Open => PositionState::Open,
            PositionStatus::Closed => PositionState::Closed,
        };
        if !new_exec_ids.is_empty() || !write.commissions.is_empty() {
            write.audit.push(audit(
                "position",
                row.id,
                now_ms,
                AuditAction::FillsRecorded,
                None,
                None,
                serde_json::json!({
                    "key": spec.key, "exec_ids": new_exec_ids,
                    "late_commissions": write.commissions.len(),
                    "realized": position.realized().dollars(),
                    "commissions": position.commissions.dollars(),
                }),
            ));
        }
        if state == PositionState::Closed && row.status != "closed" {
            write.events.push(sas_core::alerts::AlertEvent::Exited {
                position_id: row.id,
                summary: summary_text.clone(),
                rule: row.exit_reason.clone().unwrap_or_else(|| "flat".into()),
                pnl: position.realized(),
            });
        }
        if state.as_str() != row.status {
            write.audit.push(audit(
                "position",
                row.id,
                now_ms,
                AuditAction::PositionStateChanged,
                Some(&row.status),
                Some(state.as_str()),
                serde_json::json!({
                    "key": spec.key, "realized": position.realized().dollars(),
                    "entry_filled_units": position.entry_filled_units,
                    "planned_units": position.planned_units,
                }),
            ));
        }
        Ok(Working {
            row,
            spec,
            plan,
            position,
            orders,
            write,
            state,
        })
    }

    fn apply(
        &self,
        order: &mut Order,
        f: impl FnOnce(&mut Order) -> Result<Applied, sas_core::orders::OrderError>,
    ) {
        let key = order.key.clone();
        if let Err(e) = f(order) {
            (self.log)(
                "monitor_error",
                serde_json::json!({ "context": "order report", "key": key, "error": e.to_string() }),
            );
        }
    }

    fn stale_submitting_ms(&self) -> i64 {
        crate::config::approval::stale_submitting_after_ms(
            self.cfg.approval.orders.order_timeout_ms,
            self.cfg.bridge_timeout_ms,
        )
    }

    /// Marks an open position, evaluates its exits (unless paused or already
    /// closing) and fills in the position row update and the mark row.
    fn mark_and_evaluate(
        &self,
        w: &mut Working,
        quotes: &BTreeMap<ContractId, ContractQuote>,
        pauses: &Pauses<'_>,
        now: DateTime<Utc>,
        report: &mut RunReport,
    ) -> Option<Mark> {
        let (paused_by_drift, paused_all) = (pauses.by_drift, pauses.all);
        let now_ms = now.timestamp_millis();
        let mut exit_state: ExitState = serde_json::from_str(&w.row.exit_state).unwrap_or_default();
        let mut exit_reason: Option<String> = None;
        let mut mark_ok = None;
        if w.state == PositionState::Open {
            let leg_quotes: Vec<ContractQuote> = w
                .position
                .open_legs()
                .filter_map(|l| quotes.get(&l.contract).cloned())
                .collect();
            let mark = mark_position(&w.position, &leg_quotes, now, &self.cfg.positions.mark);
            let closing = w.row.exit_reason.is_some();
            let paused = if w.row.exits_paused != 0 {
                Some("trader")
            } else if paused_by_drift.contains(&w.row.key) {
                Some("reconciliation_drift")
            } else if pauses.data.is_some() {
                Some("data_quality")
            } else if paused_all {
                Some("all_exits_paused")
            } else {
                None
            };
            let (decision, pnl_per_unit) = match (&w.plan, closing, paused) {
                (_, true, _) => (
                    serde_json::json!({ "decision": "closing", "reason": w.row.exit_reason }),
                    None,
                ),
                // Every exit paused by the trader: evaluated and shown, not acted on.
                (Some(plan), false, Some(by @ "all_exits_paused")) => {
                    let eval =
                        evaluate_exits(plan, &mark, &exit_state, now, &self.cfg.positions.exits);
                    exit_state = eval.state;
                    (
                        serde_json::json!({ "decision": "paused", "by": by,
                            "would": eval.decision, "mark_rejected": mark.as_ref().err() }),
                        eval.pnl_per_unit,
                    )
                }
                (_, false, Some(by)) => (
                    serde_json::json!({ "decision": "paused", "by": by,
                        "mark_rejected": mark.as_ref().err(), "data_quality": pauses.data }),
                    None,
                ),
                (None, false, None) => (serde_json::json!({ "decision": "no_exit_plan" }), None),
                (Some(plan), false, None) => {
                    let eval =
                        evaluate_exits(plan, &mark, &exit_state, now, &self.cfg.positions.exits);
                    exit_state = eval.state;
                    if let ExitDecision::Exit { reason, also } = &eval.decision {
                        let reason = snake(reason);
                        report.exits_triggered.push((w.row.id, reason.clone()));
                        w.write.audit.push(audit(
                            "position",
                            w.row.id,
                            now_ms,
                            AuditAction::ExitTriggered,
                            Some("open"),
                            Some("closing"),
                            serde_json::json!({
                                "key": w.spec.key, "reason": reason, "also": also,
                                "pnl_per_unit": eval.pnl_per_unit.map(Money::dollars),
                                "mark": mark.as_ref().ok().map(|m| serde_json::json!({
                                    "value_mid": m.value_mid.dollars(),
                                    "value_natural": m.value_natural.dollars(),
                                    "unrealized_mid": m.unrealized_mid.dollars(),
                                })),
                            }),
                        ));
                        exit_reason = Some(reason);
                    }
                    (
                        serde_json::to_value(&eval.decision).unwrap_or_default(),
                        eval.pnl_per_unit,
                    )
                }
            };
            match &mark {
                Ok(_) => report.marks_ok += 1,
                Err(_) => report.marks_rejected += 1,
            }
            let decision = match (&mark, decision) {
                (Err(reason), serde_json::Value::Object(mut o)) => {
                    o.entry("rejected")
                        .or_insert(serde_json::to_value(reason).unwrap_or_default());
                    serde_json::Value::Object(o)
                }
                (_, d) => d,
            };
            w.write.mark = Some(mark_row(w.row.id, now_ms, &mark, pnl_per_unit, &decision));
            mark_ok = mark.ok();
        }
        if let Some(r) = &exit_reason {
            w.row.exit_reason = Some(r.clone());
        }
        let summary = serde_json::to_string(&w.position).unwrap_or_default();
        let exit_state_json = serde_json::to_string(&exit_state).unwrap_or_default();
        let realized = w.position.realized().micros();
        let opened_at = w.position.opened_at.map(|t| t.timestamp_millis());
        let closed_at = w.position.closed_at.map(|t| t.timestamp_millis());
        let changed = w.state.as_str() != w.row.status
            || w.row.summary.as_deref() != Some(summary.as_str())
            || exit_state_changed(&w.row.exit_state, &exit_state, w.plan.as_ref())
            || w.row.realized_micros != realized
            || exit_reason.is_some()
            || (w.row.opened_at.is_none() && opened_at.is_some())
            || w.row.closed_at != closed_at;
        if changed {
            w.write.position = Some(PositionUpdate {
                id: w.row.id,
                from_status: w.row.status.clone(),
                status: w.state.as_str().to_owned(),
                summary,
                realized_micros: realized,
                exit_state: exit_state_json,
                opened_at,
                closed_at,
                exit_reason,
                exit_requested_at: None,
            });
        }
        w.write.compact_marks = w.state == PositionState::Closed;
        mark_ok
    }

    /// Places, re-prices (cancel first) or waits on the closing order of a
    /// closing position.
    async fn close_step(
        &self,
        w: &Working,
        mark: Option<&Mark>,
        now: DateTime<Utc>,
        report: &mut RunReport,
    ) -> Result<(), MonitorError> {
        let Some(reason) = w.row.exit_reason.clone() else {
            return Ok(());
        };
        let now_ms = now.timestamp_millis();
        let attempts: Vec<ClosingAttempt> = w
            .orders
            .iter()
            .filter(|(r, _)| r.purpose == "exit")
            .map(|(r, o)| ClosingAttempt {
                attempt: r
                    .attempt
                    .and_then(|a| u32::try_from(a).ok())
                    .or_else(|| closing_attempt_of(&w.spec.key, &r.key))
                    .unwrap_or(0),
                order: o.clone(),
                limit: Money::from_micros(r.limit_micros),
                placed_at: millis_to_utc(r.created_at),
            })
            .collect();
        match next_closing_action(&w.position, &attempts, mark, now, &self.cfg.positions.walk) {
            ClosingAction::Place(co) => {
                let request = closing_request(&co);
                if let Err(errs) = request.validate() {
                    (self.log)(
                        "monitor_error",
                        serde_json::json!({
                            "context": "closing order", "position": w.row.id,
                            "error": errs.first().map(ToString::to_string),
                        }),
                    );
                    return Ok(());
                }
                let body = serde_json::to_string(&request).unwrap_or_default();
                let new = NewExitOrder {
                    key: co.key.clone(),
                    position_id: w.row.id,
                    attempt: i64::from(co.attempt),
                    exit_reason: reason.clone(),
                    quantity: i64::from(co.quantity),
                    limit_micros: co.limit.micros(),
                    request: body.clone(),
                    at: now_ms,
                };
                let entry = audit(
                    "position",
                    w.row.id,
                    now_ms,
                    AuditAction::ExitOrderCreated,
                    None,
                    Some("submitting"),
                    serde_json::json!({
                        "key": co.key, "attempt": co.attempt, "reason": reason,
                        "limit": co.limit.dollars(), "mid": co.mid.dollars(),
                        "natural": co.natural.dollars(), "quantity": co.quantity,
                    }),
                );
                let (won, rows) = self.store.insert_exit_order(&new, &entry).await?;
                report.rows_written += rows as i64;
                if !won {
                    return Ok(());
                }
                self.send_exit(w.row.id, &co.key, &body, now_ms, report)
                    .await?;
            }
            ClosingAction::Cancel { key } => {
                if let Some((row, order)) = w.orders.iter().find(|(r, _)| r.key == key) {
                    self.cancel(row, order, now_ms, "reprice", report).await?;
                }
            }
            ClosingAction::Refused(r) => (self.log)(
                "monitor_exit_refused",
                serde_json::json!({ "position": w.row.id, "refusal": r }),
            ),
            ClosingAction::Exhausted { attempts } => (self.log)(
                "monitor_exit_exhausted",
                serde_json::json!({ "position": w.row.id, "attempts": attempts }),
            ),
            ClosingAction::Wait { .. } | ClosingAction::Done => {}
        }
        Ok(())
    }

    /// Sends a closing order written as `submitting` and records the answer.
    async fn send_exit(
        &self,
        position_id: i64,
        key: &str,
        body: &str,
        now_ms: i64,
        report: &mut RunReport,
    ) -> Result<(), MonitorError> {
        let timeout = self.cfg.approval.orders.order_timeout_ms;
        let result = match self.bridge.post_json("/orders", body, timeout).await {
            Ok(a) => classify_order_answer(a.status, &a.body, key),
            Err(f) => classify_send_failure(&f),
        };
        let (to, order_id, broker_status) = match &result {
            SendResult::Placed {
                order_id,
                broker_status,
                ..
            } => (
                OrderStatus::Submitted,
                Some(order_id.clone()),
                Some(broker_status.clone()),
            ),
            SendResult::Rejected { .. } | SendResult::NotPlaced { .. } => {
                (OrderStatus::Rejected, None, None)
            }
            SendResult::KeyExists | SendResult::Unknown { .. } => {
                (OrderStatus::Unknown, None, None)
            }
        };
        if to == OrderStatus::Submitted {
            report.orders_placed += 1;
        }
        let reason = result.reason().map(str::to_owned);
        let update = OrderUpdate {
            id: 0,
            from: "submitting".into(),
            to: to.as_str().to_owned(),
            filled: 0,
            broker_status,
            last_seq: None,
            broker_order_id: order_id,
            error: reason.clone(),
            audit: audit(
                "position",
                position_id,
                now_ms,
                AuditAction::OrderStateChanged,
                Some("submitting"),
                Some(to.as_str()),
                serde_json::json!({ "key": key, "purpose": "exit", "reason": reason }),
            ),
        };
        let (_, rows) = self.store.update_order_by_key(key, &update).await?;
        report.rows_written += rows as i64;
        Ok(())
    }

    async fn cancel(
        &self,
        row: &OrderRow,
        order: &Order,
        now_ms: i64,
        why: &str,
        report: &mut RunReport,
    ) -> Result<(), MonitorError> {
        let Some(broker_id) = row.broker_order_id.as_deref() else {
            return Ok(());
        };
        let mut next = order.clone();
        if next.on_cancel_requested().is_err() || next.status == order.status {
            return Ok(());
        }
        let path = format!("/orders/{broker_id}/cancel");
        let answer = self
            .bridge
            .post_json(&path, "{}", self.cfg.bridge_timeout_ms)
            .await;
        let accepted = matches!(&answer, Ok(a) if a.status == 200);
        if !accepted {
            (self.log)(
                "monitor_cancel_failed",
                serde_json::json!({ "key": row.key, "status": answer.as_ref().ok().map(|a| a.status) }),
            );
            return Ok(());
        }
        report.cancels += 1;
        let update = OrderUpdate {
            id: row.id,
            from: row.status.clone(),
            to: next.status.as_str().to_owned(),
            filled: i64::from(next.filled),
            broker_status: None,
            last_seq: None,
            broker_order_id: None,
            error: None,
            audit: audit(
                "order",
                row.id,
                now_ms,
                AuditAction::OrderCancelRequested,
                Some(&row.status),
                Some(next.status.as_str()),
                serde_json::json!({ "key": row.key, "why": why, "unfilled": next.unfilled() }),
            ),
        };
        let (_, rows) = self.store.update_order(&update).await?;
        report.rows_written += rows as i64;
        Ok(())
    }

    /// Cancels what stays unfilled of an entry once its proposal expired.
    async fn entry_expiry_step(
        &self,
        w: &Working,
        now: DateTime<Utc>,
        report: &mut RunReport,
    ) -> Result<(), MonitorError> {
        let expires = millis_to_utc(w.row.entry_expires_at);
        for (row, order) in w.orders.iter().filter(|(r, _)| r.purpose == "entry") {
            let action = sas_core::orders::entry_expiry_action(
                order,
                expires,
                now,
                self.cfg.positions.cancel_entry_at_expiry,
            );
            if let sas_core::orders::EntryExpiryAction::CancelRemainder { .. } = action {
                self.cancel(row, order, now.timestamp_millis(), "entry_expired", report)
                    .await?;
            }
        }
        Ok(())
    }

    async fn store_reconciliation(
        &self,
        recon: &Reconciliation,
        fingerprint: Option<&str>,
        stored: &model::ReconciliationRow,
        now_ms: i64,
    ) -> Result<u64, MonitorError> {
        let was_standing = stored.standing();
        let will_confirm = fingerprint.is_some() && stored.fingerprint.as_deref() == fingerprint;
        let acked = stored.acknowledged_fingerprint.as_deref() == fingerprint;
        let standing = will_confirm && !acked;
        let mut entries = Vec::new();
        if standing && !was_standing {
            entries.push(audit(
                "reconciliation",
                1,
                now_ms,
                AuditAction::DriftDetected,
                Some("agrees"),
                Some("drift"),
                serde_json::json!({ "fingerprint": fingerprint, "drifts": recon.drifts,
                    "paused_positions": recon.paused_positions }),
            ));
        } else if !standing && was_standing && fingerprint.is_none() {
            entries.push(audit(
                "reconciliation",
                1,
                now_ms,
                AuditAction::DriftCleared,
                Some("drift"),
                Some("agrees"),
                serde_json::json!({ "previous": stored.fingerprint }),
            ));
        }
        let drifts = serde_json::to_string(&recon.drifts).unwrap_or_else(|_| "[]".into());
        // Written every run (one row): `checked_at` is what says the books
        // were compared recently (the risk engine halts entries without it).
        Ok(self
            .store
            .set_reconciliation(now_ms, &drifts, fingerprint, &entries)
            .await?)
    }
}

/// Whether the exit state must be stored: stop and trailing confirmations
/// always; the peak P&L only when the plan has a trailing stop (it is what
/// arms it), so a rising market does not rewrite every position each minute.
/// What pauses a position's exits this run besides the trader's own switch.
struct Pauses<'a> {
    /// Positions paused by a standing reconciliation drift (keys).
    by_drift: &'a BTreeSet<String>,
    /// The trader paused every automated exit.
    all: bool,
    /// The data-quality gate holds this position's underlying ([`data_hold_of`]).
    data: Option<&'a serde_json::Value>,
}

/// Symbols the data-quality gate holds this run, with every reason.
type HeldSymbols = BTreeMap<Symbol, Vec<sas_core::quality::HoldReason>>;

/// Why the exits of `position` wait for its data (`{SYMBOL: {state,
/// reasons}}` of its held underlyings: delayed, frozen, stale or without an
/// underlying price), or `None` when its data may drive them.
fn data_hold_of(position: &Position, held: &HeldSymbols) -> Option<serde_json::Value> {
    let mut out = serde_json::Map::new();
    for leg in position.open_legs() {
        let symbol = &leg.contract.symbol;
        if let Some(reasons) = held.get(symbol) {
            let state = sas_core::quality::SymbolVerdict::Hold {
                reasons: reasons.clone(),
            }
            .feed_state();
            out.insert(
                symbol.to_string(),
                serde_json::json!({ "state": state, "reasons": reasons }),
            );
        }
    }
    (!out.is_empty()).then_some(serde_json::Value::Object(out))
}

fn exit_state_changed(stored: &str, next: &ExitState, plan: Option<&ExitPlan>) -> bool {
    let Ok(before) = serde_json::from_str::<ExitState>(stored) else {
        return true;
    };
    let trailing = plan.is_some_and(|p| p.trailing_stop_fraction.is_some());
    before.stop_breaches != next.stop_breaches
        || before.trailing_breaches != next.trailing_breaches
        || (trailing && before.peak_pnl_per_unit != next.peak_pnl_per_unit)
        || (before.peak_pnl_per_unit.is_none() && next.peak_pnl_per_unit.is_some())
}

/// Units of `order` filled according to the de-duplicated executions.
fn executed_units(ledger: &Ledger, order: &OrderRow, spec: &PositionSpec) -> Option<u32> {
    let executed = ledger.executed_by_order(&order.key);
    if executed.is_empty() {
        return None;
    }
    let legs: Vec<(ContractId, i64)> = if order.purpose == "entry" {
        spec.legs
            .iter()
            .map(|l| (l.contract.clone(), l.ratio))
            .collect()
    } else {
        let request: OrderRequest = serde_json::from_str(order.request.as_deref()?).ok()?;
        request
            .legs
            .iter()
            .filter_map(|l| {
                Some((
                    model::contract_of(&l.instrument).ok()?,
                    i64::from(l.ratio.max(1)),
                ))
            })
            .collect()
    };
    let units = legs
        .iter()
        .map(|(c, ratio)| executed.get(c).copied().unwrap_or(0).abs() / ratio.abs().max(1))
        .min()?;
    u32::try_from(units).ok()
}

fn mark_row(
    position_id: i64,
    at: i64,
    mark: &Result<Mark, MarkRejection>,
    pnl_per_unit: Option<Money>,
    decision: &serde_json::Value,
) -> NewMark {
    match mark {
        Ok(m) => NewMark {
            position_id,
            at,
            ok: true,
            value_mid_micros: Some(m.value_mid.micros()),
            value_natural_micros: Some(m.value_natural.micros()),
            unrealized_mid_micros: Some(m.unrealized_mid.micros()),
            unrealized_natural_micros: Some(m.unrealized_natural.micros()),
            realized_micros: Some(m.realized.micros()),
            pnl_per_unit_micros: pnl_per_unit.map(Money::micros),
            decision: decision.to_string(),
            greeks: serde_json::to_string(&m.greeks).ok(),
            dte: m.dte,
        },
        Err(_) => NewMark {
            position_id,
            at,
            ok: false,
            value_mid_micros: None,
            value_natural_micros: None,
            unrealized_mid_micros: None,
            unrealized_natural_micros: None,
            realized_micros: None,
            pnl_per_unit_micros: None,
            decision: decision.to_string(),
            greeks: None,
            dte: None,
        },
    }
}
