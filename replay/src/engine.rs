//! The replay itself (pure): one [`Sim`] per configuration and entry mode,
//! fed the archived slots in time order. At each slot it marks the open
//! trades with the position engine (`portfolio::mark_position`) and asks
//! the real exit rules (`portfolio::evaluate_exits`) whether to close,
//! records the account's equity, then runs core's generation
//! (`strategy::generate_proposals`: regime selection, construction, sizing,
//! exit plan, daily limits) on the ranked underlyings and fills what it
//! proposes at mid less the per-leg penalty.
//!
//! Ranking: [`EntryMode::Scored`] ranks by `score::score_opportunity` over
//! the archived factor inputs with the configuration's weights (as the
//! Worker does); [`EntryMode::Random`] (the baseline) trades on a session
//! with the configured probability, at a random time of that session, with
//! the underlyings in a random order, and leaves everything else (strategy
//! selection, sizing, exits, fills) identical.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sas_core::calendar::{utc_to_eastern, MarketCalendar};
use sas_core::market::Symbol;
use sas_core::money::Money;
use sas_core::performance::returns::EquitySnapshot;
use sas_core::performance::trades::{driving_factor, ClosedTrade};
use sas_core::portfolio::{
    closing_key, evaluate_exits, mark_position, CommissionReport, ContractId, ContractQuote,
    Execution, ExitDecision, ExitState, Ledger, Mark, PlannedLeg, Position, PositionSpec,
    PositionStatus,
};
use sas_core::score::{rank, score_opportunity};
use sas_core::strategy::{
    generate_proposals, ExistingTrade, GenerationInputs, LegAction, Proposal, UnderlyingCandidate,
};
use serde::Serialize;

use crate::archive::{Slot, Snapshot};
use crate::config::{ReplayConfig, MAX_CANDIDATES_PER_RUN};

/// How a simulation picks its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum EntryMode {
    Scored,
    Random { seed: u64 },
}

/// A trade the replay closed: core's [`ClosedTrade`] plus the replay's
/// bucket of the entry delta.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayTrade {
    #[serde(flatten)]
    pub trade: ClosedTrade,
    /// |delta| of the first sold leg (else the first leg) at entry.
    pub entry_delta: Option<f64>,
}

/// A trade still open when the range ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenAtEnd {
    pub key: String,
    pub symbol: String,
    pub opened_at: DateTime<Utc>,
    /// Realized so far (the entry's commissions), dollars.
    pub realized: f64,
    /// Open P&L at the last trustworthy mark (mid), dollars.
    pub unrealized_mid: Option<f64>,
}

struct OpenTrade {
    proposal: Proposal,
    spec: PositionSpec,
    ledger: Ledger,
    position: Position,
    state: ExitState,
    last_mark: Option<Mark>,
    entry_fill_cost: Money,
    entry_mid_cost: Money,
    entry_delta: Option<f64>,
}

/// What a simulation produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimResult {
    pub config: String,
    pub entry: EntryMode,
    pub trades: Vec<ReplayTrade>,
    pub open_at_end: Vec<OpenAtEnd>,
    pub equity: Vec<EquitySnapshot>,
    pub proposals: u32,
    pub marks_refused: u32,
    /// Why underlyings got no trade, by core's skip code.
    pub skips: BTreeMap<String, u32>,
}

/// One configuration replayed in one entry mode.
pub struct Sim {
    cfg: ReplayConfig,
    mode: EntryMode,
    rng: ChaCha8Rng,
    open: Vec<OpenTrade>,
    closed: Vec<ReplayTrade>,
    realized: Money,
    equity: Vec<EquitySnapshot>,
    day: Option<NaiveDate>,
    today: Vec<ExistingTrade>,
    /// Random mode: when the baseline may enter today (None = not today).
    entry_after: Option<DateTime<Utc>>,
    entered_today: bool,
    proposals: u32,
    marks_refused: u32,
    skips: BTreeMap<String, u32>,
    seq: u64,
}

/// Per-share fill price of a leg: the mid less the penalty (buying pays
/// more, selling receives less, never below zero).
#[must_use]
pub fn fill_price(mid: f64, buy: bool, penalty: f64) -> f64 {
    if buy {
        mid + penalty
    } else {
        (mid - penalty).max(0.0)
    }
}

fn money(d: f64) -> Money {
    Money::from_dollars(d).unwrap_or(Money::ZERO)
}

fn quote_of(snap: &Snapshot, contract: &ContractId, at: DateTime<Utc>) -> Option<ContractQuote> {
    let sas_core::portfolio::ContractKind::Option {
        right,
        expiry,
        strike,
        ..
    } = &contract.kind
    else {
        return None;
    };
    let e = snap.chain.expiries.iter().find(|e| e.expiry == *expiry)?;
    let q = e
        .contracts
        .iter()
        .find(|q| q.right == *right && money(q.strike) == *strike)?;
    Some(ContractQuote {
        contract: contract.clone(),
        bid: q.bid,
        ask: q.ask,
        as_of: at,
        greeks: q.greeks,
    })
}

impl Sim {
    #[must_use]
    pub fn new(cfg: ReplayConfig, mode: EntryMode) -> Self {
        let seed = match mode {
            EntryMode::Scored => 0,
            EntryMode::Random { seed } => seed,
        };
        Self {
            cfg,
            mode,
            rng: ChaCha8Rng::seed_from_u64(seed),
            open: Vec::new(),
            closed: Vec::new(),
            realized: Money::ZERO,
            equity: Vec::new(),
            day: None,
            today: Vec::new(),
            entry_after: None,
            entered_today: false,
            proposals: 0,
            marks_refused: 0,
            skips: BTreeMap::new(),
            seq: 0,
        }
    }

    fn net_liq(&self) -> f64 {
        let open: Money = self
            .open
            .iter()
            .map(|t| {
                t.last_mark
                    .as_ref()
                    .map_or(Money::ZERO, |m| m.unrealized_mid)
                    + t.position.realized()
            })
            .sum();
        self.cfg.starting_equity + (self.realized + open).dollars()
    }

    fn new_day(&mut self, date: NaiveDate) {
        self.day = Some(date);
        self.today.clear();
        self.entered_today = false;
        self.entry_after = None;
        if let EntryMode::Random { .. } = self.mode {
            // Draws happen on every session, traded or not, so the stream
            // does not depend on the configuration's probability.
            let trade: f64 = self.rng.gen();
            let frac: f64 = self.rng.gen();
            if trade < self.cfg.baseline_day_probability {
                if let Some(s) = MarketCalendar::session(date) {
                    let len = (s.close_utc - s.open_utc).num_seconds().max(0);
                    let off = (frac * len as f64) as i64;
                    self.entry_after = Some(s.open_utc + Duration::seconds(off));
                }
            }
        }
    }

    /// Feeds one slot (slots must come in time order).
    pub fn on_slot(&mut self, slot: &Slot) {
        let date = utc_to_eastern(slot.at).date();
        if self.day != Some(date) {
            self.new_day(date);
        }
        self.exits(slot);
        self.entries(slot, date);
        self.equity.push(EquitySnapshot {
            at: slot.at,
            net_liquidation: money(self.net_liq()),
        });
    }

    fn exits(&mut self, slot: &Slot) {
        let penalty = self.cfg.fill_penalty_per_leg;
        let commission = self.cfg.commission_per_contract;
        let mut i = 0;
        while i < self.open.len() {
            let t = &mut self.open[i];
            let Some(snap) = slot.snapshots.get(&t.proposal.symbol) else {
                i += 1;
                continue;
            };
            let quotes: Vec<ContractQuote> = t
                .spec
                .legs
                .iter()
                .filter_map(|l| quote_of(snap, &l.contract, slot.at))
                .collect();
            let mark = mark_position(&t.position, &quotes, slot.at, &self.cfg.marks);
            let eval = evaluate_exits(&t.proposal.exits, &mark, &t.state, slot.at, &self.cfg.exits);
            t.state = eval.state;
            let mk = match mark {
                Ok(m) => m,
                Err(_) => {
                    self.marks_refused += 1;
                    i += 1;
                    continue;
                }
            };
            let ExitDecision::Exit { reason, .. } = eval.decision else {
                t.last_mark = Some(mk);
                i += 1;
                continue;
            };
            // Close every open leg at mid less the penalty.
            let close_ref = closing_key(&t.spec.key, 1);
            let mut exit_value = Money::ZERO;
            let legs: Vec<(ContractId, i64)> = t
                .position
                .open_legs()
                .map(|l| (l.contract.clone(), l.quantity))
                .collect();
            for (n, (contract, qty)) in legs.into_iter().enumerate() {
                let mid = quotes
                    .iter()
                    .find(|q| q.contract == contract)
                    .and_then(|q| q.bid.zip(q.ask))
                    .map_or(0.0, |(b, a)| (b + a) / 2.0);
                let price = money(fill_price(mid, qty < 0, penalty));
                // Value received for the set: selling a long gives +, buying
                // back a short costs −.
                exit_value += price * (qty * contract.multiplier());
                let exec_id = format!("{close_ref}-{n}");
                t.ledger.record_execution(Execution {
                    exec_id: exec_id.clone(),
                    order_ref: close_ref.clone(),
                    contract,
                    quantity: -qty,
                    price,
                    time: slot.at,
                });
                t.ledger.record_commission(CommissionReport {
                    exec_id,
                    commission: money(commission * qty.unsigned_abs() as f64),
                });
            }
            let pos = Position::build(&t.spec, &t.ledger);
            let units = i64::from(t.spec.units.max(1));
            let per_set = |m: Money| Money::from_micros(m.micros() / units);
            let trade = ClosedTrade {
                key: t.spec.key.clone(),
                symbol: t.spec.symbol.clone(),
                strategy: t.spec.strategy,
                opened_at: pos.opened_at.unwrap_or(slot.at),
                closed_at: slot.at,
                units: t.spec.units,
                pnl: pos.realized(),
                commissions: pos.commissions,
                entry_fill_cost: Some(t.entry_fill_cost),
                entry_mid_cost: Some(t.entry_mid_cost),
                exit_fill_value: Some(per_set(exit_value)),
                exit_mark_value: Some(per_set(mk.value_mid)),
                dte_at_entry: t.proposal.legs.iter().map(|l| i64::from(l.dte)).min(),
                driving_factor: t.proposal.score.as_ref().and_then(driving_factor),
                exit_reason: Some(reason),
            };
            debug_assert_ne!(pos.status, PositionStatus::Open);
            self.realized += trade.pnl;
            let entry_delta = t.entry_delta;
            self.closed.push(ReplayTrade { trade, entry_delta });
            self.open.remove(i);
        }
    }

    fn ranked(&mut self, slot: &Slot, busy: &[&Symbol]) -> Vec<UnderlyingCandidate> {
        let free: Vec<&Snapshot> = slot
            .snapshots
            .values()
            .filter(|s| !busy.contains(&&s.symbol))
            .collect();
        let candidate = |s: &Snapshot, score| UnderlyingCandidate {
            symbol: s.symbol.clone(),
            chain: s.chain.clone(),
            regime: s.regime,
            score,
            events: None,
        };
        match self.mode {
            EntryMode::Scored => {
                let scores = free
                    .iter()
                    .map(|s| {
                        score_opportunity(s.symbol.clone(), &s.factors, &self.cfg.score_weights)
                    })
                    .collect();
                rank(scores)
                    .into_iter()
                    .take(MAX_CANDIDATES_PER_RUN)
                    .filter_map(|sc| {
                        let s = slot.snapshots.get(&sc.symbol)?;
                        Some(candidate(s, Some(sc)))
                    })
                    .collect()
            }
            EntryMode::Random { .. } => {
                let mut order = free;
                order.shuffle(&mut self.rng);
                order
                    .into_iter()
                    .take(MAX_CANDIDATES_PER_RUN)
                    .map(|s| candidate(s, None))
                    .collect()
            }
        }
    }

    fn entries(&mut self, slot: &Slot, date: NaiveDate) {
        if let EntryMode::Random { .. } = self.mode {
            match self.entry_after {
                Some(t) if slot.at >= t && !self.entered_today => {}
                _ => return,
            }
            // One entry time per session: the baseline proposes once.
            self.entered_today = true;
        }
        if self.today.len() >= self.cfg.strategy.max_proposals_per_day as usize {
            return;
        }
        let open: Vec<ExistingTrade> = self
            .open
            .iter()
            .map(|t| ExistingTrade {
                symbol: t.spec.symbol.clone(),
                idempotency_key: Some(t.spec.key.clone()),
                max_loss: t.proposal.sizing.total_max_loss,
            })
            .collect();
        let busy: Vec<Symbol> = open
            .iter()
            .chain(&self.today)
            .map(|t| t.symbol.clone())
            .collect();
        let busy_refs: Vec<&Symbol> = busy.iter().collect();
        let ranked = self.ranked(slot, &busy_refs);
        if ranked.is_empty() {
            return;
        }
        let expires_at = MarketCalendar::session(date).map_or(slot.at, |s| s.close_utc);
        let inputs = GenerationInputs {
            trade_date: date,
            expires_at,
            net_liquidation: self.net_liq(),
            ranked,
            open_positions: open,
            pending_proposals: Vec::new(),
            proposals_today: self.today.clone(),
        };
        let (made, skipped) = generate_proposals(&inputs, &self.cfg.strategy, slot.at);
        for s in skipped {
            let code = serde_json::to_value(&s.reason)
                .ok()
                .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_string))
                .unwrap_or_else(|| "other".into());
            *self.skips.entry(code).or_default() += 1;
        }
        for p in made {
            self.proposals += 1;
            self.today.push(ExistingTrade {
                symbol: p.symbol.clone(),
                idempotency_key: Some(p.idempotency_key.clone()),
                max_loss: p.sizing.total_max_loss,
            });
            if !self.cfg.enabled(p.strategy) {
                *self.skips.entry("strategy_disabled".into()).or_default() += 1;
                continue;
            }
            if let Some(t) = self.fill(p, slot.at) {
                self.open.push(t);
            } else {
                *self.skips.entry("unfillable".into()).or_default() += 1;
            }
        }
    }

    /// Fills a proposal's legs at mid less the penalty.
    fn fill(&mut self, p: Proposal, at: DateTime<Utc>) -> Option<OpenTrade> {
        self.seq += 1;
        let units = p.sizing.contracts;
        if units == 0 {
            return None;
        }
        let key = p.idempotency_key.clone();
        let mut ledger = Ledger::new();
        let mut legs = Vec::with_capacity(p.legs.len());
        let (mut fill_cost, mut mid_cost) = (Money::ZERO, Money::ZERO);
        for (n, leg) in p.legs.iter().enumerate() {
            let contract = ContractId::option(p.symbol.clone(), leg.right, leg.expiry, leg.strike)?;
            let buy = leg.action == LegAction::Buy;
            let ratio = i64::from(leg.ratio) * if buy { 1 } else { -1 };
            let price = money(fill_price(
                leg.quote.mid,
                buy,
                self.cfg.fill_penalty_per_leg,
            ));
            let mult = contract.multiplier();
            fill_cost += price * (ratio * mult);
            mid_cost += money(leg.quote.mid) * (ratio * mult);
            let qty = ratio * i64::from(units);
            let exec_id = format!("{key}-{n}");
            ledger.record_execution(Execution {
                exec_id: exec_id.clone(),
                order_ref: key.clone(),
                contract: contract.clone(),
                quantity: qty,
                price,
                time: at,
            });
            ledger.record_commission(CommissionReport {
                exec_id,
                commission: money(self.cfg.commission_per_contract * qty.unsigned_abs() as f64),
            });
            legs.push(PlannedLeg { contract, ratio });
        }
        let spec = PositionSpec {
            key,
            symbol: p.symbol.clone(),
            strategy: p.strategy,
            legs,
            units,
        };
        let position = Position::build(&spec, &ledger);
        if position.status != PositionStatus::Open {
            return None;
        }
        let entry_delta = p
            .legs
            .iter()
            .find(|l| l.action == LegAction::Sell)
            .or_else(|| p.legs.first())
            .and_then(|l| l.quote.delta)
            .map(f64::abs);
        Some(OpenTrade {
            proposal: p,
            spec,
            ledger,
            position,
            state: ExitState::default(),
            last_mark: None,
            entry_fill_cost: fill_cost,
            entry_mid_cost: mid_cost,
            entry_delta,
        })
    }

    /// Ends the replay: trades still open are reported, not closed.
    #[must_use]
    pub fn finish(self) -> SimResult {
        let open_at_end = self
            .open
            .iter()
            .map(|t| OpenAtEnd {
                key: t.spec.key.clone(),
                symbol: t.spec.symbol.as_str().to_string(),
                opened_at: t.position.opened_at.unwrap_or_default(),
                realized: t.position.realized().dollars(),
                unrealized_mid: t.last_mark.as_ref().map(|m| m.unrealized_mid.dollars()),
            })
            .collect();
        SimResult {
            config: self.cfg.name.clone(),
            entry: self.mode,
            trades: self.closed,
            open_at_end,
            equity: self.equity,
            proposals: self.proposals,
            marks_refused: self.marks_refused,
            skips: self.skips,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_give_up_the_penalty_and_never_go_negative() {
        assert_eq!(fill_price(1.20, true, 0.05), 1.25);
        assert_eq!(fill_price(1.20, false, 0.05), 1.15);
        assert_eq!(fill_price(0.03, false, 0.05), 0.0);
        assert_eq!(fill_price(0.03, true, 0.0), 0.03);
    }
}
