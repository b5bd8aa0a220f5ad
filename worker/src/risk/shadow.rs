//! The shadow P&L of rejected and expired proposals at the edge
//! (migration 0010, docs/performance.md): each is followed as if it had
//! been filled at its legs' mid when it was decided, marked from the stored
//! chain snapshots by core's follower ([`sas_core::performance::shadow_follow`])
//! until its exit rules would have closed it. Chain snapshots are pruned
//! after a few days, so the 15-minute cron follows each trade incrementally
//! ([`follow_step`]) and keeps its progress and result in `shadow_trades`.
//!
//! Rows and SQL, the pure mapping (proposal → shadow trade, packed chain
//! rows → marks), the workflow over [`ShadowStore`] and `GET
//! /performance/shadow` ([`list`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sas_core::market::{OptionRight, SourceGreeks};
use sas_core::money::Money;
use sas_core::performance::{
    shadow_follow, shadow_position, ChainMarks, ShadowOutcome, ShadowProgress, ShadowProposal,
};
use sas_core::portfolio::{
    ContractId, ContractKind, ContractQuote, ExitConfig, MarkPolicy, PlannedLeg,
};
use sas_core::strategy::{LegAction, Proposal};
use serde::{Deserialize, Serialize};

use super::model::{at, ny_date};
use super::view::{ShadowTotals, ShadowTradeView, ShadowView};
use super::RiskError;
pub use crate::store::StoreError;

/// New rejected/expired proposals taken up per run.
pub const MAX_NEW_PER_RUN: u32 = 50;
/// Shadow trades marked per run (the least recently updated first).
pub const MAX_FOLLOW_PER_RUN: u32 = 25;
/// Chain rows (one per snapshot and expiry) read per trade and run.
pub const MAX_CHAIN_ROWS: u32 = 300;
/// A trade with no trustworthy mark for this long ends (its symbol left the
/// watchlist, or its chains were pruned before it was followed).
pub const END_AFTER_DAYS_UNMARKED: i64 = 5;
/// Most shadow trades one `GET /performance/shadow` lists.
pub const MAX_SHADOW_LIST: u32 = 2_000;

// ---------------------------------------------------------------------------
// Rows and SQL
// ---------------------------------------------------------------------------

/// A rejected or expired proposal not followed yet ([`SELECT_NEW_CANDIDATES`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateRow {
    pub id: i64,
    pub status: String,
    pub decided_at: Option<i64>,
    pub expires_at: i64,
    pub contracts: i64,
    /// The whole `core::strategy::Proposal`.
    pub proposal_json: String,
}

/// A `shadow_trades` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowRow {
    pub proposal_id: i64,
    pub key: String,
    pub symbol: String,
    pub strategy: String,
    pub decision: String,
    pub decided_at: i64,
    pub units: i64,
    pub entry_mid: Option<f64>,
    pub status: String,
    /// [`ShadowSpec`] JSON.
    pub spec: String,
    /// `core::performance::ShadowProgress` JSON.
    pub progress: String,
    /// `core::performance::ShadowOutcome` JSON.
    pub outcome: String,
    pub mark_at: Option<i64>,
    pub value_mid_micros: Option<i64>,
    pub value_natural_micros: Option<i64>,
    pub pnl_mid_micros: Option<i64>,
    pub pnl_natural_micros: Option<i64>,
    pub exit_reason: Option<String>,
    pub updated_at: i64,
}

/// One stored chain expiry ([`SELECT_CHAIN_AFTER`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainRow {
    pub ts: i64,
    pub expiry: String,
    /// Packed contracts (`core::analytics::rows::PACKED_CONTRACT_COLUMNS`).
    pub contracts_json: String,
}

/// The shadow trade as followed: core's proposal and, per leg, the
/// half-spread of its quote at the proposal (stored chains keep only the
/// mid: the natural mark is the mid ∓ that half-spread).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowSpec {
    pub proposal: ShadowProposal,
    pub half_spreads: Vec<(ContractId, f64)>,
}

/// Rejected/expired proposals without a shadow row, oldest first (`?1` limit).
pub const SELECT_NEW_CANDIDATES: &str = "SELECT p.id, p.status, p.decided_at, p.expires_at, \
p.contracts, p.proposal_json FROM proposals p WHERE p.status IN ('rejected', 'expired') \
AND NOT EXISTS (SELECT 1 FROM shadow_trades s WHERE s.proposal_id = p.id) ORDER BY p.id LIMIT ?1";

/// A new shadow trade (`?1`..`?14` in column order); a second insert of the
/// same proposal changes nothing.
pub const INSERT_SHADOW: &str = "INSERT OR IGNORE INTO shadow_trades (proposal_id, key, symbol, \
strategy, decision, decided_at, units, entry_mid, status, spec, progress, outcome, exit_reason, \
updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

const SHADOW_COLUMNS: &str = "proposal_id, key, symbol, strategy, decision, decided_at, units, \
entry_mid, status, spec, progress, outcome, mark_at, value_mid_micros, value_natural_micros, \
pnl_mid_micros, pnl_natural_micros, exit_reason, updated_at";

/// Trades still followed, least recently updated first (`?1` limit).
pub fn select_following_sql() -> String {
    format!(
        "SELECT {SHADOW_COLUMNS} FROM shadow_trades WHERE status = 'following' \
ORDER BY updated_at, proposal_id LIMIT ?1"
    )
}

/// Trades decided in `[?1, ?2)`, oldest first (`?3` limit).
pub fn select_shadows_sql() -> String {
    format!(
        "SELECT {SHADOW_COLUMNS} FROM shadow_trades WHERE decided_at >= ?1 AND decided_at < ?2 \
ORDER BY decided_at, proposal_id LIMIT ?3"
    )
}

/// Progress of a followed trade, only while it is followed: `?1` id, `?2`
/// status, `?3` progress, `?4` outcome, `?5` mark at, `?6` value mid, `?7`
/// value natural, `?8` P&L mid, `?9` P&L natural (micros), `?10` exit
/// reason, `?11` now.
pub const UPDATE_SHADOW: &str = "UPDATE shadow_trades SET status = ?2, progress = ?3, \
outcome = ?4, mark_at = ?5, value_mid_micros = ?6, value_natural_micros = ?7, \
pnl_mid_micros = ?8, pnl_natural_micros = ?9, exit_reason = ?10, updated_at = ?11 \
WHERE proposal_id = ?1 AND status = 'following'";

/// Stored chain expiries of `?1` among the JSON array `?2` of expiries,
/// newer than `?3`, oldest first (`?4` limit).
pub const SELECT_CHAIN_AFTER: &str = "SELECT ts, expiry, contracts_json FROM chain_snapshots \
WHERE symbol = ?1 AND expiry IN (SELECT value FROM json_each(?2)) AND ts > ?3 \
ORDER BY ts, expiry LIMIT ?4";

/// A new shadow trade ([`INSERT_SHADOW`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewShadow {
    pub proposal_id: i64,
    pub key: String,
    pub symbol: String,
    pub strategy: String,
    pub decision: String,
    pub decided_at: i64,
    pub units: i64,
    pub entry_mid: Option<f64>,
    /// `following`, or `invalid` when it cannot be followed.
    pub status: &'static str,
    pub spec: String,
    pub progress: String,
    pub outcome: String,
    pub at_ms: i64,
}

/// A step of a followed trade ([`UPDATE_SHADOW`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowUpdate {
    pub proposal_id: i64,
    pub status: &'static str,
    pub progress: String,
    pub outcome: String,
    pub mark_at: Option<i64>,
    pub value_mid_micros: Option<i64>,
    pub value_natural_micros: Option<i64>,
    pub pnl_mid_micros: Option<i64>,
    pub pnl_natural_micros: Option<i64>,
    pub exit_reason: Option<String>,
    pub at_ms: i64,
}

/// Storage of the shadow trades (D1 in `edge::risk`, memory in the tests).
#[allow(async_fn_in_trait)]
pub trait ShadowStore {
    /// [`SELECT_NEW_CANDIDATES`].
    async fn new_candidates(&self, limit: u32) -> Result<Vec<CandidateRow>, StoreError>;
    /// [`INSERT_SHADOW`] for each, one batch.
    async fn insert_shadows(&self, rows: &[NewShadow]) -> Result<(), StoreError>;
    /// [`select_following_sql`].
    async fn following(&self, limit: u32) -> Result<Vec<ShadowRow>, StoreError>;
    /// [`SELECT_CHAIN_AFTER`].
    async fn chain_after(
        &self,
        symbol: &str,
        expiries: &[String],
        after_ts: i64,
        limit: u32,
    ) -> Result<Vec<ChainRow>, StoreError>;
    /// [`UPDATE_SHADOW`]; whether it changed the row.
    async fn update_shadow(&self, u: &ShadowUpdate) -> Result<bool, StoreError>;
    /// [`select_shadows_sql`].
    async fn shadows(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<ShadowRow>, StoreError>;
}

// ---------------------------------------------------------------------------
// Mapping (pure)
// ---------------------------------------------------------------------------

/// The shadow trade of a rejected or expired proposal: its legs at the
/// quotes it was proposed with (entry at each leg's mid), the proposal's
/// contracts and exit plan, entered when it was decided (or expired).
///
/// # Errors
/// Why it cannot be followed (unreadable proposal, a leg without a usable
/// mid, no contracts).
pub fn spec_of(row: &CandidateRow) -> Result<ShadowSpec, String> {
    let p: Proposal = serde_json::from_str(&row.proposal_json)
        .map_err(|e| format!("the stored proposal cannot be read: {e}"))?;
    let units = u32::try_from(row.contracts)
        .ok()
        .filter(|u| *u > 0)
        .ok_or_else(|| format!("{} contracts", row.contracts))?;
    let mut legs = Vec::new();
    let mut entry_prices = Vec::new();
    let mut half_spreads = Vec::new();
    for (i, l) in p.legs.iter().enumerate() {
        let contract = ContractId::option(p.symbol.clone(), l.right, l.expiry, l.strike)
            .ok_or_else(|| format!("leg {i} has strike {}", l.strike))?;
        let mid = Money::from_dollars(l.quote.mid)
            .filter(|m| m.micros() >= 0)
            .ok_or_else(|| format!("leg {i} has no usable mid"))?;
        let ratio = i64::from(l.ratio.max(1));
        legs.push(PlannedLeg {
            contract: contract.clone(),
            ratio: match l.action {
                LegAction::Buy => ratio,
                LegAction::Sell => -ratio,
            },
        });
        entry_prices.push((contract.clone(), mid));
        let half = (l.quote.ask - l.quote.bid) / 2.0;
        let half = if half.is_finite() && half >= 0.0 {
            half
        } else {
            0.0
        };
        half_spreads.push((contract, half));
    }
    let decided_at = at(row.decided_at.unwrap_or(row.expires_at));
    let proposal = ShadowProposal {
        key: p.idempotency_key.clone(),
        symbol: p.symbol.clone(),
        strategy: p.strategy,
        legs,
        units,
        entry_prices,
        decided_at,
        exit_plan: p.exits,
    };
    shadow_position(&proposal)?;
    Ok(ShadowSpec {
        proposal,
        half_spreads,
    })
}

/// Net entry price per share at the legs' mid (+ debit, − credit).
pub fn entry_mid(p: &ShadowProposal) -> Option<f64> {
    let mut total = 0.0;
    for leg in &p.legs {
        let (_, price) = p.entry_prices.iter().find(|(c, _)| *c == leg.contract)?;
        total += price.dollars() * leg.ratio as f64;
    }
    Some((total * 10_000.0).round() / 10_000.0)
}

fn num(v: &serde_json::Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}

/// The marks of `spec`'s legs in stored chain rows, one per snapshot time:
/// bid/ask = the stored mid ∓ the leg's half-spread at the proposal (the
/// bid never below 0). A leg missing from a snapshot leaves it out (the
/// mark is then refused and counted, never acted on).
pub fn marks_of(spec: &ShadowSpec, rows: &[ChainRow]) -> Vec<ChainMarks> {
    let mut by_ts: BTreeMap<i64, Vec<ContractQuote>> = BTreeMap::new();
    for r in rows {
        let Ok(expiry) = NaiveDate::parse_from_str(&r.expiry, "%Y-%m-%d") else {
            continue;
        };
        let Ok(packed) = serde_json::from_str::<Vec<Vec<serde_json::Value>>>(&r.contracts_json)
        else {
            continue;
        };
        let quotes = by_ts.entry(r.ts).or_default();
        for (contract, half) in &spec.half_spreads {
            let ContractKind::Option {
                right,
                expiry: e,
                strike,
            } = &contract.kind
            else {
                continue;
            };
            if *e != expiry {
                continue;
            }
            let code = match right {
                OptionRight::Call => "C",
                OptionRight::Put => "P",
            };
            let found = packed.iter().find(|c| {
                c.len() >= 8
                    && c[1].as_str() == Some(code)
                    && num(&c[0]).and_then(Money::from_dollars) == Some(*strike)
            });
            let Some(c) = found else { continue };
            let Some(mid) = num(&c[2]).filter(|m| *m >= 0.0) else {
                continue;
            };
            quotes.push(ContractQuote {
                contract: contract.clone(),
                bid: Some((mid - half).max(0.0)),
                ask: Some(mid + half),
                as_of: at(r.ts),
                greeks: SourceGreeks {
                    iv: num(&c[3]),
                    delta: num(&c[4]),
                    gamma: num(&c[5]),
                    theta: num(&c[6]),
                    vega: num(&c[7]),
                },
            });
        }
    }
    by_ts
        .into_iter()
        .map(|(ts, quotes)| ChainMarks { at: at(ts), quotes })
        .collect()
}

/// Where a followed trade stands after a step at `now`: `closed` when its
/// exit rules fired; `ended` when its last leg expired (New York date past
/// the expiry) or nothing trustworthy came for [`END_AFTER_DAYS_UNMARKED`]
/// days; else still `following`.
pub fn status_after(spec: &ShadowSpec, p: &ShadowProgress, now: DateTime<Utc>) -> &'static str {
    if p.is_closed() {
        return "closed";
    }
    let last_expiry = spec
        .proposal
        .legs
        .iter()
        .filter_map(|l| match &l.contract.kind {
            ContractKind::Option { expiry, .. } => Some(*expiry),
            ContractKind::Stock => None,
        })
        .max();
    if last_expiry.is_some_and(|e| ny_date(now) > e) {
        return "ended";
    }
    let seen = p.last.map_or(spec.proposal.decided_at, |m| m.at);
    if now - seen > Duration::days(END_AFTER_DAYS_UNMARKED) {
        return "ended";
    }
    "following"
}

fn update_of(
    id: i64,
    status: &'static str,
    p: &ShadowProgress,
    now: DateTime<Utc>,
) -> ShadowUpdate {
    let outcome = serde_json::to_string(&p.outcome()).unwrap_or_else(|_| "{}".into());
    ShadowUpdate {
        proposal_id: id,
        status,
        progress: serde_json::to_string(p).unwrap_or_else(|_| "{}".into()),
        outcome,
        mark_at: p.last.map(|m| m.at.timestamp_millis()),
        value_mid_micros: p.last.map(|m| m.value_mid.micros()),
        value_natural_micros: p.last.map(|m| m.value_natural.micros()),
        pnl_mid_micros: p.last.map(|m| m.pnl_mid.micros()),
        pnl_natural_micros: p.last.map(|m| m.pnl_natural.micros()),
        exit_reason: p.exit_reason.map(|r| {
            serde_json::to_value(r)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        }),
        at_ms: now.timestamp_millis(),
    }
}

// ---------------------------------------------------------------------------
// Workflow
// ---------------------------------------------------------------------------

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StepReport {
    pub taken_up: usize,
    pub invalid: usize,
    pub followed: usize,
    pub closed: usize,
    pub ended: usize,
}

/// One run of the follower (the 15-minute cron, after the chain step):
/// takes up new rejected/expired proposals, then marks the followed trades
/// (the least recently looked at first) from the chain snapshots stored
/// since their last step. Each trade's progress is written alone (a failure
/// leaves it for the next run); `followed` counts the trades that changed.
pub async fn follow_step(
    store: &impl ShadowStore,
    policy: &MarkPolicy,
    exits: &ExitConfig,
    now: DateTime<Utc>,
) -> Result<StepReport, RiskError> {
    let mut report = StepReport::default();
    let at_ms = now.timestamp_millis();
    let mut new_rows = Vec::new();
    for c in store.new_candidates(MAX_NEW_PER_RUN).await? {
        let decision = if c.status == "rejected" {
            "rejected"
        } else {
            "expired"
        };
        let p: Option<Proposal> = serde_json::from_str(&c.proposal_json).ok();
        let (status, spec_json, outcome, entry) = match spec_of(&c) {
            Ok(spec) => (
                "following",
                serde_json::to_string(&spec).unwrap_or_default(),
                serde_json::to_string(&ShadowProgress::default().outcome()).unwrap_or_default(),
                entry_mid(&spec.proposal),
            ),
            Err(reason) => {
                report.invalid += 1;
                (
                    "invalid",
                    "{}".to_owned(),
                    serde_json::to_string(&ShadowOutcome::InvalidEntry { reason })
                        .unwrap_or_default(),
                    None,
                )
            }
        };
        new_rows.push(NewShadow {
            proposal_id: c.id,
            key: p.as_ref().map_or_else(
                || format!("proposal-{}", c.id),
                |p| p.idempotency_key.clone(),
            ),
            symbol: p
                .as_ref()
                .map_or_else(String::new, |p| p.symbol.as_str().to_owned()),
            strategy: p
                .as_ref()
                .map_or_else(String::new, |p| p.strategy.as_str().to_owned()),
            decision: decision.to_owned(),
            decided_at: c.decided_at.unwrap_or(c.expires_at),
            units: c.contracts,
            entry_mid: entry,
            status,
            spec: spec_json,
            progress: serde_json::to_string(&ShadowProgress::default()).unwrap_or_default(),
            outcome,
            at_ms,
        });
    }
    if !new_rows.is_empty() {
        store.insert_shadows(&new_rows).await?;
        report.taken_up = new_rows.len();
    }
    for row in store.following(MAX_FOLLOW_PER_RUN).await? {
        let Ok(spec) = serde_json::from_str::<ShadowSpec>(&row.spec) else {
            let u = ShadowUpdate {
                outcome: serde_json::to_string(&ShadowOutcome::InvalidEntry {
                    reason: "the stored shadow trade cannot be read".into(),
                })
                .unwrap_or_default(),
                ..update_of(row.proposal_id, "invalid", &ShadowProgress::default(), now)
            };
            store.update_shadow(&u).await?;
            report.invalid += 1;
            continue;
        };
        let progress: ShadowProgress = serde_json::from_str(&row.progress).unwrap_or_default();
        let after = progress
            .through
            .unwrap_or(spec.proposal.decided_at)
            .timestamp_millis();
        // Snapshots at the decision time count (a mark at the entry).
        let after = if progress.through.is_none() {
            after - 1
        } else {
            after
        };
        let mut expiries: Vec<String> = spec
            .half_spreads
            .iter()
            .filter_map(|(c, _)| match &c.kind {
                ContractKind::Option { expiry, .. } => Some(expiry.to_string()),
                ContractKind::Stock => None,
            })
            .collect();
        expiries.sort();
        expiries.dedup();
        let mut rows = store
            .chain_after(&row.symbol, &expiries, after, MAX_CHAIN_ROWS)
            .await?;
        if rows.len() >= MAX_CHAIN_ROWS as usize {
            // The newest snapshot may be cut: leave it for the next run.
            if let Some(last) = rows.last().map(|r| r.ts) {
                if rows.first().is_some_and(|r| r.ts != last) {
                    rows.retain(|r| r.ts != last);
                }
            }
        }
        let marks = marks_of(&spec, &rows);
        let next = shadow_follow(&spec.proposal, &progress, &marks, policy, exits)
            .unwrap_or_else(|_| progress.clone());
        let status = status_after(&spec, &next, now);
        // Written even when unchanged: `updated_at` moves it to the back of
        // the queue, so trades without new chains never starve the others.
        store
            .update_shadow(&update_of(row.proposal_id, status, &next, now))
            .await?;
        if next == progress && status == "following" {
            continue;
        }
        report.followed += 1;
        match status {
            "closed" => report.closed += 1,
            "ended" => report.ended += 1,
            _ => {}
        }
    }
    Ok(report)
}

fn dollars(micros: Option<i64>) -> Option<f64> {
    micros.map(|m| Money::from_micros(m).dollars())
}

/// A stored shadow trade as listed.
pub fn trade_view(r: &ShadowRow) -> ShadowTradeView {
    let progress: ShadowProgress = serde_json::from_str(&r.progress).unwrap_or_default();
    let invalid_reason = match serde_json::from_str::<ShadowOutcome>(&r.outcome) {
        Ok(ShadowOutcome::InvalidEntry { reason }) => Some(reason),
        _ => None,
    };
    ShadowTradeView {
        proposal_id: r.proposal_id,
        key: r.key.clone(),
        symbol: r.symbol.clone(),
        strategy: r.strategy.clone(),
        decision: r.decision.clone(),
        decided_at: r.decided_at,
        units: r.units,
        entry_mid: r.entry_mid,
        status: r.status.clone(),
        mark_at: r.mark_at,
        value_mid: dollars(r.value_mid_micros),
        value_natural: dollars(r.value_natural_micros),
        pnl_mid: dollars(r.pnl_mid_micros),
        pnl_natural: dollars(r.pnl_natural_micros),
        exit_reason: r.exit_reason.clone(),
        marks_used: progress.marks_used,
        marks_refused: progress.marks_refused,
        invalid_reason,
        updated_at: r.updated_at,
    }
}

/// `GET /performance/shadow?from=&to=`: the shadow trades decided in
/// `[from, to)` with their entry, current or closing mark and P&L, and the
/// totals (what the rejected and expired proposals would have made: a
/// positive total is what passing them up cost, a negative one what it
/// saved).
pub async fn list(
    store: &impl ShadowStore,
    from_ms: i64,
    to_ms: i64,
) -> Result<ShadowView, RiskError> {
    if to_ms <= from_ms {
        return Err(RiskError::Invalid("'to' must be after 'from'".into()));
    }
    let rows = store.shadows(from_ms, to_ms, MAX_SHADOW_LIST + 1).await?;
    let truncated = rows.len() > MAX_SHADOW_LIST as usize;
    let trades: Vec<ShadowTradeView> = rows
        .iter()
        .take(MAX_SHADOW_LIST as usize)
        .map(trade_view)
        .collect();
    let mut t = ShadowTotals::default();
    let mut mid = Money::ZERO;
    let mut natural = Money::ZERO;
    let (mut rejected, mut expired) = (Money::ZERO, Money::ZERO);
    for (v, r) in trades.iter().zip(&rows) {
        t.trades += 1;
        match v.status.as_str() {
            "closed" => t.closed += 1,
            "following" => t.following += 1,
            "ended" => t.ended += 1,
            _ => t.invalid += 1,
        }
        let (Some(m), Some(n)) = (r.pnl_mid_micros, r.pnl_natural_micros) else {
            continue;
        };
        t.with_pnl += 1;
        mid += Money::from_micros(m);
        natural += Money::from_micros(n);
        if v.decision == "rejected" {
            rejected += Money::from_micros(m);
        } else {
            expired += Money::from_micros(m);
        }
    }
    t.pnl_mid = mid.dollars();
    t.pnl_natural = natural.dollars();
    t.rejected_pnl_mid = rejected.dollars();
    t.expired_pnl_mid = expired.dollars();
    Ok(ShadowView {
        from: from_ms,
        to: to_ms,
        trades,
        total: t,
        truncated,
        conventions: "docs/performance.md: entry at each leg's mid when rejected/expired, marked \
from stored chains (natural = mid -+ the leg's half-spread at the proposal), closed by the real \
exit rules; P&L before commissions; a positive total is what passing them up cost"
            .to_owned(),
    })
}
