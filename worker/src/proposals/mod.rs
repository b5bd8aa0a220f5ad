//! Trade proposals on the Worker side (pure): the stored record of a core
//! [`Proposal`], the generation inputs built from D1 rows and bridge data, the
//! mapping from analytics to regime inputs, proposal expiry, the SQL and the
//! JSON views of `GET /proposals`.

pub mod generate;
#[cfg(test)]
mod generate_tests;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sas_core::calendar::{utc_to_eastern, MarketCalendar};
use sas_core::market::Symbol;
use sas_core::strategy::{ExistingTrade, Proposal, StrategyConfig};
use serde::{Deserialize, Serialize};

use crate::audit::iso_ms;
pub use crate::config::approval::ProposalLimits;
use sas_bridge_api::market::ExpiriesBody;

/// Most proposals `GET /proposals` returns.
pub const MAX_PROPOSALS_LIMIT: u32 = 200;
/// Default `limit` of `GET /proposals`.
pub const DEFAULT_PROPOSALS_LIMIT: u32 = 50;
/// Underlyings considered per generation run (best ranked first).
pub const MAX_CANDIDATES_PER_RUN: usize = 8;
/// Metrics rows older than this are not used for regime inputs, minutes.
pub const MAX_METRICS_AGE_MINUTES: i64 = 45;
pub use sas_core::entry::open_trades::{LONGEST_LEG_DTE, OPEN_TRADE_LOOKBACK_DAYS};
pub use sas_core::entry::regime::{VolSnapshot, TREND_PCT_PER_DAY_AT_FULL};

/// Bridge path of the listed expiries of `symbol` (no market data).
pub fn expiries_path(symbol: &Symbol) -> String {
    format!("/chain/expiries?symbol={symbol}")
}

/// Bridge path of the chain generation asks for: the picked `expiries`,
/// [`sas_core::strategy::requests::GENERATION_STRIKES`] strikes nearest spot each.
pub fn generation_chain_path(symbol: &Symbol, expiries: &[NaiveDate]) -> String {
    let list: Vec<String> = expiries.iter().map(NaiveDate::to_string).collect();
    format!(
        "/chain?symbol={symbol}&expiries={}&strikes={}",
        list.join(","),
        sas_core::strategy::requests::GENERATION_STRIKES
    )
}

/// The data-quality gate over the chain generation fetched for one symbol
/// at `at`: `Ok` with only the contracts that passed when the symbol is
/// clear, else `Err` with the skip entry for the run summary (the symbol,
/// its state `delayed`/`failing` and every hold reason). A symbol held here
/// proposes nothing. `gate`: the configured thresholds (`Config::quality`).
pub fn gate_for_generation(
    chain: &sas_core::market::OptionChain,
    rate: f64,
    at: DateTime<Utc>,
    gate: &sas_core::quality::QualityConfig,
) -> Result<sas_core::market::OptionChain, serde_json::Value> {
    let q = sas_core::quality::gate_chain(chain, None, rate, at, gate);
    if q.verdict.may_propose() {
        return Ok(q.chain);
    }
    Err(serde_json::json!({
        "symbol": chain.symbol.as_str(),
        "reason": format!("data quality: {}", q.verdict.feed_state().as_str()),
        "quality": q.verdict.reasons(),
        "dropped": q.dropped,
    }))
}

/// Why generation skipped a symbol or stopped (logged and in the run
/// summary).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    #[error("bridge /chain/expiries answer is not an expiry list")]
    BadExpiries,
    #[error("bridge /chain/expiries answered for another symbol")]
    ExpiriesOfOtherSymbol,
    #[error("bridge /chain/expiries answered HTTP {0}")]
    ExpiriesStatus(u16),
    #[error("no listed expiry fits any strategy's DTE window")]
    NoExpiryFits,
    #[error("{0}")]
    Bridge(String),
    #[error("{0}")]
    Store(String),
}

/// Why a proposal cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("{0} is not a finite number")]
    NotFinite(&'static str),
    #[error("zero contracts")]
    ZeroContracts,
}

/// Parses the bridge's `GET /chain/expiries` answer for `symbol`.
pub fn parse_expiries(body: &str, symbol: &Symbol) -> Result<Vec<NaiveDate>, GenerateError> {
    let parsed: ExpiriesBody =
        serde_json::from_str(body).map_err(|_| GenerateError::BadExpiries)?;
    if &parsed.symbol != symbol {
        return Err(GenerateError::ExpiriesOfOtherSymbol);
    }
    Ok(parsed.expiries)
}

/// Proposal states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum ProposalStatus {
    /// Awaiting a decision (the only state that can change).
    Pending,
    /// Approved by the trader (final).
    Approved,
    /// Rejected by the trader (final).
    Rejected,
    /// Not decided before its expiry (final).
    Expired,
}

impl ProposalStatus {
    /// Every state.
    pub const ALL: [ProposalStatus; 4] = [
        ProposalStatus::Pending,
        ProposalStatus::Approved,
        ProposalStatus::Rejected,
        ProposalStatus::Expired,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Pending => "pending",
            ProposalStatus::Approved => "approved",
            ProposalStatus::Rejected => "rejected",
            ProposalStatus::Expired => "expired",
        }
    }

    /// Parses a stored or query-string name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether `self → to` is an allowed transition. Only `pending` moves,
    /// and only to one of the three final states.
    pub fn can_become(self, to: ProposalStatus) -> bool {
        self == ProposalStatus::Pending && to != ProposalStatus::Pending
    }
}

/// Generation's strategy configuration: [`strategy_config`] with the IV rank
/// acted on only when it rests on at least `IV_RANK_MIN_DAYS` days.
pub fn generation_config(cfg: &crate::config::Config) -> StrategyConfig {
    let base = strategy_config(&cfg.approval.limits);
    StrategyConfig {
        iv_rank_min_days: u32::try_from(cfg.iv_history.rank.min_days)
            .unwrap_or(base.iv_rank_min_days),
        ..base
    }
}

/// Core's strategy configuration with the Worker's limits applied.
pub fn strategy_config(limits: &ProposalLimits) -> StrategyConfig {
    let base = StrategyConfig::default();
    StrategyConfig {
        max_proposals_per_day: limits.max_per_day,
        max_open_per_symbol: limits.max_open_per_symbol,
        min_volume: limits.min_option_volume.unwrap_or(base.min_volume),
        ..base
    }
}

/// The New York trading date of an instant.
pub fn trade_date(now: DateTime<Utc>) -> NaiveDate {
    utc_to_eastern(now).date()
}

/// When a proposal made at `now` expires: the close of today's session when
/// it is still ahead, else the close of the next session; never later than
/// `now + ttl` when a TTL is configured.
pub fn proposal_expiry(now: DateTime<Utc>, ttl_seconds: Option<u32>) -> DateTime<Utc> {
    let today = MarketCalendar::session(trade_date(now)).filter(|s| s.close_utc > now);
    let close = match today {
        Some(s) => s.close_utc,
        None => {
            let next_open = MarketCalendar::next_open(now);
            MarketCalendar::session(trade_date(next_open))
                .map_or(next_open + Duration::hours(7), |s| s.close_utc)
        }
    };
    match ttl_seconds {
        Some(ttl) => close.min(now + Duration::seconds(i64::from(ttl))),
        None => close,
    }
}

#[derive(Deserialize)]
struct StoredMetrics {
    atm_iv_30d: Option<f64>,
    iv_rank: Option<StoredIvRank>,
    rv_20d: Option<f64>,
    iv_rv_spread: Option<f64>,
    skew_25d_30d: Option<f64>,
    term_slope_per_30d: Option<f64>,
    momentum: Option<StoredMomentum>,
}

#[derive(Deserialize)]
struct StoredIvRank {
    iv_rank: Option<f64>,
    days: Option<u32>,
}

#[derive(Deserialize)]
struct StoredMomentum {
    trend_20d_pct_per_day: Option<f64>,
}

/// A [`VolSnapshot`] from the metrics JSON the chain step stored
/// (`underlying_metrics_intraday.metrics_json`, decimal vols); `None` when
/// it cannot be read.
pub fn vol_snapshot_from_metrics_json(json: &str) -> Option<VolSnapshot> {
    let m: StoredMetrics = serde_json::from_str(json).ok()?;
    Some(VolSnapshot {
        atm_iv_30d: m.atm_iv_30d,
        iv_rank: m.iv_rank.as_ref().and_then(|r| r.iv_rank),
        iv_rank_days: m.iv_rank.as_ref().and_then(|r| r.days),
        rv_20d: m.rv_20d,
        iv_rv_spread: m.iv_rv_spread,
        skew_25d_30d: m.skew_25d_30d,
        term_slope_per_30d: m.term_slope_per_30d,
        trend_20d_pct_per_day: m.momentum.and_then(|x| x.trend_20d_pct_per_day),
    })
}

/// A stored proposal as bound to [`INSERT_PROPOSAL`] (one JSON object: the
/// statement takes a single parameter whatever the column count).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProposalRecord {
    pub idempotency_key: String,
    pub symbol: String,
    pub strategy: String,
    pub trade_date: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub rank: u32,
    pub legs: String,
    pub quote_snapshot: String,
    pub analytics_snapshot: String,
    pub score_breakdown: Option<String>,
    pub score: Option<f64>,
    pub entry_mid: f64,
    pub entry_natural: f64,
    pub max_profit: Option<f64>,
    pub max_loss: f64,
    pub breakevens: String,
    pub probability_of_profit: f64,
    pub expected_value: f64,
    pub greeks: String,
    pub exit_plan: String,
    pub rationale: String,
    pub contracts: u32,
    pub total_max_loss: f64,
    pub limit_price: f64,
    pub slippage_band: f64,
    pub proposal_json: String,
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl ProposalRecord {
    /// The record of a core proposal, or why it cannot be stored (a number
    /// that D1 cannot hold: such a proposal is dropped, never half-stored).
    pub fn from_proposal(p: &Proposal) -> Result<Self, RecordError> {
        let m = &p.metrics;
        let required = [
            ("entry_mid", m.net_price_mid),
            ("entry_natural", m.net_price_natural),
            ("max_loss", m.max_loss),
            ("probability_of_profit", m.probability_of_profit),
            ("expected_value", m.expected_value),
            ("total_max_loss", p.sizing.total_max_loss),
            ("limit_price", p.limit_price),
            ("slippage_band", p.slippage_band),
        ];
        if let Some((name, _)) = required.iter().find(|(_, v)| !v.is_finite()) {
            return Err(RecordError::NotFinite(name));
        }
        if p.sizing.contracts == 0 {
            return Err(RecordError::ZeroContracts);
        }
        let quote_snapshot = serde_json::json!({
            "chain_as_of": p.chain_as_of,
            "data_type": p.data_type,
            "spot": p.pricing.spot,
            "legs": p.legs.iter().map(|l| serde_json::json!({
                "right": l.right, "strike": l.strike, "expiry": l.expiry,
                "action": l.action, "quote": l.quote,
            })).collect::<Vec<_>>(),
        });
        let analytics_snapshot = serde_json::json!({
            "regime_inputs": p.regime_inputs,
            "regime": p.regime,
            "pricing": p.pricing,
        });
        Ok(Self {
            idempotency_key: p.idempotency_key.clone(),
            symbol: p.symbol.as_str().to_owned(),
            strategy: p.strategy.as_str().to_owned(),
            trade_date: p.trade_date.to_string(),
            created_at: p.created_at.timestamp_millis(),
            expires_at: p.expires_at.timestamp_millis(),
            rank: p.rank,
            legs: json(&p.legs),
            quote_snapshot: quote_snapshot.to_string(),
            analytics_snapshot: analytics_snapshot.to_string(),
            score_breakdown: p.score.as_ref().map(json),
            score: p.score.as_ref().and_then(|s| finite(s.score)),
            entry_mid: m.net_price_mid,
            entry_natural: m.net_price_natural,
            max_profit: m.max_profit.and_then(finite),
            max_loss: m.max_loss,
            breakevens: json(&m.breakevens),
            probability_of_profit: m.probability_of_profit,
            expected_value: m.expected_value,
            greeks: json(&m.greeks),
            exit_plan: json(&p.exits),
            rationale: p.rationale.clone(),
            contracts: p.sizing.contracts,
            total_max_loss: p.sizing.total_max_loss,
            limit_price: p.limit_price,
            slippage_band: p.slippage_band,
            proposal_json: json(p),
        })
    }

    /// The JSON text bound as `?1` of [`INSERT_PROPOSAL`].
    pub fn to_param(&self) -> String {
        json(self)
    }
}

/// Columns written by [`INSERT_PROPOSAL`], each read from the same key of the
/// bound JSON object.
pub const INSERT_COLUMNS: [&str; 27] = [
    "idempotency_key",
    "symbol",
    "strategy",
    "trade_date",
    "created_at",
    "expires_at",
    "rank",
    "legs",
    "quote_snapshot",
    "analytics_snapshot",
    "score_breakdown",
    "score",
    "entry_mid",
    "entry_natural",
    "max_profit",
    "max_loss",
    "breakevens",
    "probability_of_profit",
    "expected_value",
    "greeks",
    "exit_plan",
    "rationale",
    "contracts",
    "total_max_loss",
    "limit_price",
    "slippage_band",
    "proposal_json",
];

/// Stores one proposal from the JSON object `?1` (a [`ProposalRecord`]) as
/// `pending`; a proposal with the same idempotency key is left untouched
/// (no duplicate can be stored, whatever the caller does).
pub const INSERT_PROPOSAL: &str =
    "INSERT INTO proposals (updated_at, idempotency_key, symbol, strategy, \
trade_date, created_at, expires_at, rank, legs, quote_snapshot, analytics_snapshot, \
score_breakdown, score, entry_mid, entry_natural, max_profit, max_loss, breakevens, \
probability_of_profit, expected_value, greeks, exit_plan, rationale, contracts, total_max_loss, \
limit_price, slippage_band, proposal_json) \
SELECT (SELECT MAX(CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER), \
COALESCE(MAX(updated_at), 0) + 1) FROM proposals), \
json_extract(?1, '$.idempotency_key'), json_extract(?1, '$.symbol'), \
json_extract(?1, '$.strategy'), json_extract(?1, '$.trade_date'), \
json_extract(?1, '$.created_at'), json_extract(?1, '$.expires_at'), json_extract(?1, '$.rank'), \
json_extract(?1, '$.legs'), json_extract(?1, '$.quote_snapshot'), \
json_extract(?1, '$.analytics_snapshot'), json_extract(?1, '$.score_breakdown'), \
json_extract(?1, '$.score'), json_extract(?1, '$.entry_mid'), json_extract(?1, '$.entry_natural'), \
json_extract(?1, '$.max_profit'), json_extract(?1, '$.max_loss'), \
json_extract(?1, '$.breakevens'), json_extract(?1, '$.probability_of_profit'), \
json_extract(?1, '$.expected_value'), json_extract(?1, '$.greeks'), \
json_extract(?1, '$.exit_plan'), json_extract(?1, '$.rationale'), \
json_extract(?1, '$.contracts'), json_extract(?1, '$.total_max_loss'), \
json_extract(?1, '$.limit_price'), json_extract(?1, '$.slippage_band'), \
json_extract(?1, '$.proposal_json') \
WHERE true ON CONFLICT (idempotency_key) DO NOTHING";

/// Audit row of a proposal just inserted by the previous statement of the
/// batch (`last_insert_rowid()`); nothing when that insert was a duplicate.
/// `?1` at, `?2` actor, `?3` details JSON.
pub const INSERT_CREATED_AUDIT: &str = "INSERT INTO audit_log \
(at, actor, action, entity, entity_id, from_state, to_state, details) \
SELECT ?1, ?2, 'proposal_created', 'proposal', CAST(last_insert_rowid() AS TEXT), NULL, \
'pending', ?3 WHERE changes() = 1";

/// Columns of [`ProposalRow`].
const ROW_COLUMNS: &str = "id, idempotency_key, symbol, strategy, status, trade_date, \
created_at, expires_at, rank, legs, quote_snapshot, analytics_snapshot, score_breakdown, score, \
entry_mid, entry_natural, max_profit, max_loss, breakevens, probability_of_profit, \
expected_value, greeks, exit_plan, rationale, contracts, total_max_loss, limit_price, \
slippage_band, decided_at, decided_by, decision_reason, approved_limit_price, \
approved_contracts, order_status, order_id, broker_order_status, order_attempts, \
order_updated_at, order_error";

/// Newest proposals first, any status: `?1` = limit.
pub fn select_proposals_sql(with_status: bool) -> String {
    if with_status {
        format!("SELECT {ROW_COLUMNS} FROM proposals WHERE status = ?2 ORDER BY id DESC LIMIT ?1")
    } else {
        format!("SELECT {ROW_COLUMNS} FROM proposals ORDER BY id DESC LIMIT ?1")
    }
}

/// One proposal by id (`?1`).
pub fn select_proposal_sql() -> String {
    format!("SELECT {ROW_COLUMNS}, proposal_json FROM proposals WHERE id = ?1")
}

/// The trades generation must know about: every proposal of trade date `?1`
/// (counted against the daily limit), every pending proposal, and approved
/// proposals of trade dates on or after `?2` (treated as open positions).
/// `live` is 0 for an approved trade that no longer holds risk: its order was
/// never placed (rejected, abandoned) or its position (migration 0005) is
/// closed or void. An approved trade whose position is still pending or open
/// counts however old it is.
pub const SELECT_EXISTING_TRADES: &str = "SELECT p.id, p.symbol, p.idempotency_key, p.status, \
p.trade_date, p.total_max_loss, p.approved_contracts, p.contracts, \
CASE WHEN p.status = 'approved' AND (COALESCE(p.order_status, '') IN ('rejected', 'abandoned') \
OR EXISTS (SELECT 1 FROM positions x WHERE x.proposal_id = p.id AND x.status IN ('closed', 'void'))) \
THEN 0 ELSE 1 END AS live FROM proposals p \
WHERE p.trade_date = ?1 OR p.status = 'pending' OR (p.status = 'approved' AND p.trade_date >= ?2) \
OR (p.status = 'approved' AND EXISTS (SELECT 1 FROM positions x WHERE x.proposal_id = p.id \
AND x.status IN ('pending', 'open')))";

/// Row of [`SELECT_EXISTING_TRADES`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ExistingRow {
    /// 0: an approved trade that holds no risk any more (see
    /// [`SELECT_EXISTING_TRADES`]).
    #[serde(default = "live_default")]
    pub live: i64,
    pub id: i64,
    pub symbol: String,
    pub idempotency_key: String,
    pub status: ProposalStatus,
    pub trade_date: String,
    pub total_max_loss: f64,
    pub approved_contracts: Option<i64>,
    pub contracts: i64,
}

/// Existing trades split the way core's generation wants them:
fn live_default() -> i64 {
    1
}

/// `(open_positions, pending_proposals, proposals_today)`.
pub type ExistingTrades = (Vec<ExistingTrade>, Vec<ExistingTrade>, Vec<ExistingTrade>);

/// Splits stored rows into open positions (approved), pending proposals and
/// today's proposals. Rows with an unreadable symbol keep their risk (they
/// are counted under a placeholder so heat is never under-counted).
pub fn existing_trades(rows: &[ExistingRow], today: NaiveDate) -> ExistingTrades {
    use sas_core::entry::open_trades::{split, TradeRecord, TradeState};
    let records: Vec<TradeRecord> = rows
        .iter()
        .filter_map(|r| {
            let symbol = Symbol::parse(&r.symbol)
                .or_else(|_| Symbol::parse("UNKNOWN"))
                .ok()?;
            Some(TradeRecord {
                symbol,
                idempotency_key: r.idempotency_key.clone(),
                state: match r.status {
                    ProposalStatus::Pending => TradeState::Pending,
                    ProposalStatus::Approved if r.live != 0 => TradeState::Approved,
                    ProposalStatus::Approved => TradeState::Closed,
                    ProposalStatus::Rejected | ProposalStatus::Expired => TradeState::Closed,
                },
                trade_date: r.trade_date.parse().unwrap_or(NaiveDate::MIN),
                total_max_loss: r.total_max_loss,
                approved_contracts: r.approved_contracts.and_then(|n| u32::try_from(n).ok()),
                contracts: u32::try_from(r.contracts).unwrap_or(0),
            })
        })
        .collect();
    let t = split(&records, today);
    (t.open, t.pending, t.today)
}

/// A stored proposal (without the full proposal JSON unless selected by id).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProposalRow {
    pub id: i64,
    pub idempotency_key: String,
    pub symbol: String,
    pub strategy: String,
    pub status: ProposalStatus,
    pub trade_date: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub rank: i64,
    pub legs: String,
    pub quote_snapshot: String,
    pub analytics_snapshot: String,
    pub score_breakdown: Option<String>,
    pub score: Option<f64>,
    pub entry_mid: f64,
    pub entry_natural: f64,
    pub max_profit: Option<f64>,
    pub max_loss: f64,
    pub breakevens: String,
    pub probability_of_profit: f64,
    pub expected_value: f64,
    pub greeks: String,
    pub exit_plan: String,
    pub rationale: String,
    pub contracts: i64,
    pub total_max_loss: f64,
    pub limit_price: f64,
    pub slippage_band: f64,
    pub decided_at: Option<i64>,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    pub approved_limit_price: Option<f64>,
    pub approved_contracts: Option<i64>,
    pub order_status: Option<OrderState>,
    pub order_id: Option<String>,
    pub broker_order_status: Option<String>,
    pub order_attempts: i64,
    pub order_updated_at: Option<i64>,
    /// Why the order is in its state (migration 0004).
    #[serde(default)]
    pub order_error: Option<String>,
    #[serde(default)]
    pub proposal_json: Option<String>,
}

/// Entry prices of a proposal view.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct EntryView {
    /// Net price per share at mid (positive = debit, negative = credit).
    pub net_price_mid: f64,
    /// Net price per share at the natural market.
    pub net_price_natural: f64,
    /// Limit price of the order (per share).
    pub limit_price: f64,
    /// Allowed move of the net mid at approval, per share.
    pub slippage_band: f64,
}

/// The order placed for an approved proposal.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, rename = "ProposalOrderView")
)]
pub struct OrderView {
    /// The Worker's order state: `submitting`, `submitted`, `submit_failed`,
    /// `unknown`, `rejected` or `abandoned` (docs/approval-workflow.md).
    pub status: Option<OrderState>,
    pub id: Option<String>,
    /// The bridge's order state (`submitted`, `filled`, ...).
    pub broker_status: Option<String>,
    pub attempts: i64,
    pub limit_price: Option<f64>,
    pub contracts: Option<i64>,
    pub updated_at: Option<String>,
    /// Why the order is in its state (e.g. why it was abandoned).
    pub error: Option<String>,
}

/// One proposal as `GET /proposals` and `GET /proposals/{id}` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ProposalView {
    pub id: String,
    pub idempotency_key: String,
    pub symbol: String,
    pub strategy: String,
    pub status: ProposalStatus,
    pub trade_date: String,
    pub created_at: String,
    pub expires_at: String,
    pub rank: i64,
    pub rationale: String,
    pub entry: EntryView,
    /// $ per contract set at mid entry; null = unlimited.
    pub max_profit: Option<f64>,
    /// $ per contract set at mid entry.
    pub max_loss: f64,
    pub breakevens: serde_json::Value,
    pub probability_of_profit: f64,
    pub expected_value: f64,
    pub greeks: serde_json::Value,
    pub contracts: i64,
    pub total_max_loss: f64,
    /// Opportunity score 0-100 of the underlying, when scored.
    pub score: Option<f64>,
    pub score_breakdown: serde_json::Value,
    pub legs: serde_json::Value,
    pub exit_plan: serde_json::Value,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    pub order: Option<OrderView>,
    /// Detail only: quote and analytics snapshots, payoff curve.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub quote_snapshot: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub analytics_snapshot: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub payoff_curve: Option<serde_json::Value>,
}

fn parse_json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or(serde_json::Value::Null)
}

impl ProposalView {
    /// The list view of a row (`detail` adds snapshots and the payoff curve).
    pub fn from_row(r: &ProposalRow, detail: bool) -> Self {
        let order = (r.status == ProposalStatus::Approved).then(|| OrderView {
            status: r.order_status,
            id: r.order_id.clone(),
            broker_status: r.broker_order_status.clone(),
            attempts: r.order_attempts,
            limit_price: r.approved_limit_price,
            contracts: r.approved_contracts,
            updated_at: r.order_updated_at.map(iso_ms),
            error: r.order_error.clone(),
        });
        let payoff_curve = detail
            .then(|| {
                r.proposal_json
                    .as_deref()
                    .map(parse_json)
                    .map(|p| p["metrics"]["payoff_curve"].clone())
            })
            .flatten();
        Self {
            id: r.id.to_string(),
            idempotency_key: r.idempotency_key.clone(),
            symbol: r.symbol.clone(),
            strategy: r.strategy.clone(),
            status: r.status,
            trade_date: r.trade_date.clone(),
            created_at: iso_ms(r.created_at),
            expires_at: iso_ms(r.expires_at),
            rank: r.rank,
            rationale: r.rationale.clone(),
            entry: EntryView {
                net_price_mid: r.entry_mid,
                net_price_natural: r.entry_natural,
                limit_price: r.limit_price,
                slippage_band: r.slippage_band,
            },
            max_profit: r.max_profit,
            max_loss: r.max_loss,
            breakevens: parse_json(&r.breakevens),
            probability_of_profit: r.probability_of_profit,
            expected_value: r.expected_value,
            greeks: parse_json(&r.greeks),
            contracts: r.contracts,
            total_max_loss: r.total_max_loss,
            score: r.score,
            score_breakdown: r
                .score_breakdown
                .as_deref()
                .map_or(serde_json::Value::Null, parse_json),
            legs: parse_json(&r.legs),
            exit_plan: parse_json(&r.exit_plan),
            decided_at: r.decided_at.map(iso_ms),
            decided_by: r.decided_by.clone(),
            decision_reason: r.decision_reason.clone(),
            order,
            quote_snapshot: detail.then(|| parse_json(&r.quote_snapshot)),
            analytics_snapshot: detail.then(|| parse_json(&r.analytics_snapshot)),
            payoff_curve,
        }
    }
}

/// `GET /proposals` body.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ProposalList {
    pub proposals: Vec<ProposalView>,
}

/// Latest metrics row of each symbol of the JSON array `?1` newer than `?2`
/// (Unix ms), from the chain step's `underlying_metrics_intraday`.
pub const SELECT_LATEST_METRICS: &str = "SELECT m.symbol, m.metrics_json FROM json_each(?1) AS w \
JOIN underlying_metrics_intraday AS m ON m.symbol = w.value \
AND m.ts = (SELECT MAX(ts) FROM underlying_metrics_intraday WHERE symbol = w.value) \
WHERE m.ts >= ?2";

/// Row of [`SELECT_LATEST_METRICS`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MetricsRow {
    pub symbol: String,
    pub metrics_json: String,
}

/// Stored daily bars of one symbol (`?1`), from the chain step.
pub const SELECT_BARS: &str = "SELECT bars_json FROM daily_bars WHERE symbol = ?1";

/// Row of [`SELECT_BARS`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BarsRow {
    pub bars_json: String,
}

/// Core's score records from the multi-factor ranking of
/// `/search/opportunities` ([`crate::opportunities::opportunities`]), best first.
pub fn scores_from_ranking(
    ranked: &crate::opportunities::RankedOpportunities,
) -> Vec<sas_core::score::OpportunityScore> {
    ranked
        .opportunities
        .iter()
        .filter_map(|o| {
            Some(sas_core::score::OpportunityScore {
                symbol: Symbol::parse(&o.symbol).ok()?,
                score: o.score,
                coverage: o.coverage,
                factors: o.factors.clone(),
            })
        })
        .collect()
}

/// One generation run's summary for the logs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenerationSummary {
    pub considered: usize,
    pub created: usize,
    pub duplicates: usize,
    pub skipped: Vec<serde_json::Value>,
    pub expired: usize,
    pub orders_retried: usize,
    pub ms: i64,
}

/// The Worker's state of an approved proposal's order
/// (`proposals.order_status`; see docs/approval-workflow.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum OrderState {
    /// Being sent (by the approving request or a cron resend).
    Submitting,
    /// The bridge has the order (`broker_order_status` says how it is doing).
    Submitted,
    /// Definitely not placed (bridge unreachable, broker disconnected, trading
    /// halted, order window closed): may be resent inside the window.
    SubmitFailed,
    /// The answer was lost (timeout, 5xx, unreadable): the cron asks the
    /// bridge by key; never resent before the bridge says "none".
    Unknown,
    /// Refused by the bridge or the broker: final.
    Rejected,
    /// Not (re)sent and never will be (window closed, re-pricing refused,
    /// kill switch on, attempts used up): final.
    Abandoned,
}

impl OrderState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Submitting => "submitting",
            OrderState::Submitted => "submitted",
            OrderState::SubmitFailed => "submit_failed",
            OrderState::Unknown => "unknown",
            OrderState::Rejected => "rejected",
            OrderState::Abandoned => "abandoned",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "submitting" => OrderState::Submitting,
            "submitted" => OrderState::Submitted,
            "submit_failed" => OrderState::SubmitFailed,
            "unknown" => OrderState::Unknown,
            "rejected" => OrderState::Rejected,
            "abandoned" => OrderState::Abandoned,
            _ => return None,
        })
    }
}

/// Test fixtures shared by the unit tests of this crate.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;
    use chrono::TimeZone;
    use sas_core::strategy::synthetic::{synthetic_chain, SyntheticChainSpec};
    use sas_core::strategy::{generate_proposals, GenerationInputs, UnderlyingCandidate};

    /// One bull put spread on a synthetic AAPL chain (Tue 2026-11-17 10:00 NY).
    pub(crate) fn one_proposal() -> Proposal {
        let now = Utc.with_ymd_and_hms(2026, 11, 17, 15, 0, 0).unwrap();
        let sym = Symbol::parse("AAPL").unwrap();
        let chain = synthetic_chain(&SyntheticChainSpec::liquid(sym.clone(), 200.0, now));
        let inputs = GenerationInputs {
            trade_date: trade_date(now),
            expires_at: proposal_expiry(now, None),
            net_liquidation: 100_000.0,
            ranked: vec![UnderlyingCandidate {
                symbol: sym,
                chain,
                regime: sas_core::strategy::RegimeInputs {
                    iv_rank: Some(80.0),
                    iv_rv_spread: Some(6.0),
                    trend: Some(0.5),
                    ..sas_core::strategy::RegimeInputs::default()
                },
                score: None,
                events: None,
            }],
            open_positions: vec![],
            pending_proposals: vec![],
            proposals_today: vec![],
        };
        let (mut made, skipped) =
            generate_proposals(&inputs, &strategy_config(&ProposalLimits::default()), now);
        assert!(!made.is_empty(), "{skipped:?}");
        made.remove(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn only_pending_moves_and_only_to_a_final_state() {
        use ProposalStatus as S;
        for from in S::ALL {
            for to in S::ALL {
                let expected = from == S::Pending && to != S::Pending;
                assert_eq!(from.can_become(to), expected, "{from:?} -> {to:?}");
            }
            assert_eq!(S::parse(from.as_str()), Some(from));
        }
        assert_eq!(S::parse("PENDING"), None);
    }

    #[test]
    fn proposals_expire_at_the_close_or_the_ttl() {
        // Tuesday 2026-11-17, 15:00 UTC = 10:00 New York; close 21:00 UTC.
        let now = utc(2026, 11, 17, 15, 0);
        assert_eq!(proposal_expiry(now, None), utc(2026, 11, 17, 21, 0));
        assert_eq!(proposal_expiry(now, Some(60)), utc(2026, 11, 17, 15, 1));
        // After the close: the next session's close.
        let late = utc(2026, 11, 17, 22, 0);
        assert_eq!(proposal_expiry(late, None), utc(2026, 11, 18, 21, 0));
        // Saturday: Monday's close.
        let sat = utc(2026, 11, 21, 12, 0);
        assert_eq!(proposal_expiry(sat, None), utc(2026, 11, 23, 21, 0));
        // Day after Thanksgiving closes at 13:00 New York (18:00 UTC).
        let friday = utc(2026, 11, 27, 15, 0);
        assert_eq!(proposal_expiry(friday, None), utc(2026, 11, 27, 18, 0));
    }

    #[test]
    fn regime_inputs_use_core_units() {
        let snap = vol_snapshot_from_metrics_json(
            r#"{"atm_iv_30d":0.31,"iv_rank":{"iv_rank":72.0,"iv_percentile":70.0,"days":200},
            "rv_20d":0.25,"iv_rv_spread":0.06,"skew_25d_30d":0.04,"term_slope_per_30d":-0.01,
            "momentum":{"trend_20d_pct_per_day":0.5},"other":1}"#,
        )
        .unwrap();
        let r = snap.regime_inputs();
        assert_eq!(r.iv_rank, Some(72.0));
        assert_eq!(r.iv_rank_days, Some(200));
        assert!((r.iv_rv_spread.unwrap() - 6.0).abs() < 1e-9);
        assert!((r.skew_25d.unwrap() - 4.0).abs() < 1e-9);
        assert!((r.term_slope.unwrap() + 1.0).abs() < 1e-9);
        assert_eq!(r.trend, Some(1.0));
        let down = VolSnapshot {
            trend_20d_pct_per_day: Some(-0.05),
            ..VolSnapshot::default()
        };
        assert!((down.regime_inputs().trend.unwrap() + 0.2).abs() < 1e-9);
        assert_eq!(vol_snapshot_from_metrics_json("not json"), None);
        let empty = vol_snapshot_from_metrics_json("{}")
            .unwrap()
            .regime_inputs();
        assert_eq!(empty, sas_core::strategy::RegimeInputs::default());
    }

    #[test]
    fn insert_reads_every_column_from_the_record() {
        for col in INSERT_COLUMNS {
            assert!(
                INSERT_PROPOSAL.contains(&format!("json_extract(?1, '$.{col}')")),
                "{col}"
            );
        }
        assert_eq!(
            INSERT_PROPOSAL.matches("json_extract").count(),
            INSERT_COLUMNS.len()
        );
        assert!(INSERT_PROPOSAL.contains("ON CONFLICT (idempotency_key) DO NOTHING"));
    }

    fn one_proposal() -> Proposal {
        super::tests_support::one_proposal()
    }

    #[test]
    fn a_record_round_trips_through_the_view() {
        let p = one_proposal();
        let rec = ProposalRecord::from_proposal(&p).unwrap();
        let param: serde_json::Value = serde_json::from_str(&rec.to_param()).unwrap();
        for col in INSERT_COLUMNS {
            assert!(
                param.get(col).is_some(),
                "{col} missing from the bound JSON"
            );
        }
        // serde_json may move a float by one ulp; everything else is exact.
        let back: Proposal = serde_json::from_str(&rec.proposal_json).unwrap();
        assert_eq!(back.idempotency_key, p.idempotency_key);
        assert_eq!(back.legs.len(), p.legs.len());
        assert_eq!(back.sizing.contracts, p.sizing.contracts);
        assert!((back.metrics.net_price_mid - p.metrics.net_price_mid).abs() < 1e-12);
        let row = ProposalRow {
            id: 4,
            idempotency_key: rec.idempotency_key.clone(),
            symbol: rec.symbol.clone(),
            strategy: rec.strategy.clone(),
            status: ProposalStatus::Approved,
            trade_date: rec.trade_date.clone(),
            created_at: rec.created_at,
            expires_at: rec.expires_at,
            rank: 1,
            legs: rec.legs.clone(),
            quote_snapshot: rec.quote_snapshot.clone(),
            analytics_snapshot: rec.analytics_snapshot.clone(),
            score_breakdown: None,
            score: None,
            entry_mid: rec.entry_mid,
            entry_natural: rec.entry_natural,
            max_profit: rec.max_profit,
            max_loss: rec.max_loss,
            breakevens: rec.breakevens.clone(),
            probability_of_profit: rec.probability_of_profit,
            expected_value: rec.expected_value,
            greeks: rec.greeks.clone(),
            exit_plan: rec.exit_plan.clone(),
            rationale: rec.rationale.clone(),
            contracts: i64::from(rec.contracts),
            total_max_loss: rec.total_max_loss,
            limit_price: rec.limit_price,
            slippage_band: rec.slippage_band,
            decided_at: Some(rec.created_at + 1000),
            decided_by: Some("api_token".into()),
            decision_reason: None,
            approved_limit_price: Some(1.23),
            approved_contracts: Some(1),
            order_status: Some(OrderState::Submitted),
            order_id: Some("o-1".into()),
            broker_order_status: Some("submitted".into()),
            order_attempts: 1,
            order_updated_at: Some(rec.created_at + 2000),
            order_error: None,
            proposal_json: Some(rec.proposal_json.clone()),
        };
        let v = serde_json::to_value(ProposalView::from_row(&row, false)).unwrap();
        assert_eq!(v["id"], "4");
        assert_eq!(v["entry"]["net_price_mid"], p.metrics.net_price_mid);
        assert_eq!(v["legs"].as_array().unwrap().len(), p.legs.len());
        assert_eq!(v["order"]["id"], "o-1");
        assert!(v.get("payoff_curve").is_none());
        assert!(!v["rationale"].as_str().unwrap().is_empty());
        let d = serde_json::to_value(ProposalView::from_row(&row, true)).unwrap();
        assert_eq!(
            d["payoff_curve"].as_array().unwrap().len(),
            p.metrics.payoff_curve.len()
        );
        assert_eq!(d["analytics_snapshot"]["regime_inputs"]["iv_rank"], 80.0);
    }

    #[test]
    fn unstorable_numbers_are_refused_whole() {
        let mut p = one_proposal();
        p.metrics.expected_value = f64::NAN;
        let e = ProposalRecord::from_proposal(&p).unwrap_err();
        assert!(e.to_string().contains("expected_value"), "{e}");
    }

    #[test]
    fn the_multi_factor_ranking_feeds_generation_in_order() {
        use crate::opportunities::{opportunities, LatestMetricsRow};
        use crate::store::SnapshotRow;
        let watch: Vec<Symbol> = ["AAPL", "MSFT"]
            .iter()
            .map(|s| Symbol::parse(s).unwrap())
            .collect();
        let metrics = vec![LatestMetricsRow {
            symbol: "MSFT".into(),
            ts: 1_763_400_000_000,
            spot: 500.0,
            atm_iv_30d: Some(0.3),
            iv_rank: Some(90.0),
            iv_percentile: Some(90.0),
            iv_history_days: Some(252),
            factors_json: Some(
                r#"{"realized_vol":0.45,"range_pct":3.0,"volume_ratio":null,"volume_zscore":2.0,"momentum_pct":2.5,"iv_rank":90.0}"#
                    .into(),
            ),
        }];
        let snaps = vec![SnapshotRow {
            symbol: "AAPL".into(),
            ts: 1_763_400_000_000,
            last: Some(200.0),
            volume: Some(1000),
        }];
        let ranked = opportunities(
            &watch,
            &metrics,
            &snaps,
            &sas_core::score::ScoreWeights::default(),
            usize::MAX,
        );
        let scores = scores_from_ranking(&ranked);
        assert_eq!(scores.len(), ranked.opportunities.len());
        assert_eq!(scores[0].symbol.as_str(), "MSFT");
        assert!(scores[0].score > scores.last().unwrap().score);
        assert_eq!(scores[0].factors, ranked.opportunities[0].factors);
    }

    #[test]
    fn item15_open_trade_lookback_covers_the_longest_dte() {
        // A trade is open until its last leg expires: the longest leg any
        // strategy can build (single expiries up to max_dte, a calendar's
        // back month up to front + gap) is within the lookback.
        let cfg = strategy_config(&ProposalLimits::default());
        let calendar_back = cfg.calendar_front_max_dte + cfg.calendar_max_gap_days;
        assert!(calendar_back <= LONGEST_LEG_DTE && cfg.max_dte <= LONGEST_LEG_DTE);
        for dte in [90, LONGEST_LEG_DTE, cfg.max_dte, calendar_back] {
            assert!(
                OPEN_TRADE_LOOKBACK_DAYS >= i64::from(dte),
                "{OPEN_TRADE_LOOKBACK_DAYS} < {dte}"
            );
        }
    }

    #[test]
    fn item14_generation_asks_for_picked_expiries_and_parses_the_list() {
        let spy = Symbol::parse("SPY").unwrap();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(expiries_path(&spy), "/chain/expiries?symbol=SPY");
        assert_eq!(
            generation_chain_path(&spy, &[d("2026-12-31"), d("2027-01-15")]),
            "/chain?symbol=SPY&expiries=2026-12-31,2027-01-15&strikes=40"
        );
        let body = r#"{"symbol":"SPY","expiries":["2026-12-04","2026-12-31"]}"#;
        assert_eq!(
            parse_expiries(body, &spy).unwrap(),
            vec![d("2026-12-04"), d("2026-12-31")]
        );
        let qqq = Symbol::parse("QQQ").unwrap();
        assert!(parse_expiries(body, &qqq).is_err());
        assert!(parse_expiries("{}", &spy).is_err());
    }

    #[test]
    fn existing_trades_are_split_for_generation() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 17).unwrap();
        let row = |id, sym: &str, status: &str, date: &str| ExistingRow {
            live: 1,
            id,
            symbol: sym.into(),
            idempotency_key: format!("k{id}"),
            status: ProposalStatus::parse(status).unwrap(),
            trade_date: date.into(),
            total_max_loss: 400.0,
            approved_contracts: (status == "approved").then_some(1),
            contracts: 2,
        };
        let rows = [
            row(1, "AAPL", "pending", "2026-11-17"),
            row(2, "MSFT", "approved", "2026-11-17"),
            row(3, "SPY", "rejected", "2026-11-17"),
            row(4, "QQQ", "approved", "2026-11-10"),
        ];
        let (open, pending, today_rows) = existing_trades(&rows, today);
        assert_eq!(open.len(), 2);
        // Re-sized at approval from 2 to 1 contracts: half the risk.
        assert!((open[0].max_loss - 200.0).abs() < 1e-9);
        assert_eq!(pending.len(), 1);
        assert_eq!(today_rows.len(), 3);
        assert_eq!(pending[0].idempotency_key.as_deref(), Some("k1"));
        // A closed position (or an order never placed) holds no risk.
        let mut closed = row(5, "IWM", "approved", "2026-11-17");
        closed.live = 0;
        let (open, _, today_rows) = existing_trades(&[closed], today);
        assert!(open.is_empty());
        assert_eq!(today_rows.len(), 1, "still counts toward today's limit");
    }
}
