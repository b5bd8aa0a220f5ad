//! Data-quality gate: every underlying quote and option chain is checked here
//! before it feeds analytics, proposals, marks or exits.
//!
//! Pure: the caller passes `now` (no clock is read) and the risk-free rate.
//! [`gate_chain`] returns the chain with only the contracts that passed, the
//! dropped contracts counted by [`DropReason`] (kept + dropped = input), and
//! a [`SymbolVerdict`]: `Clear`, or `Hold` ("no proposals, exits wait") with
//! every reason. Defaults and the checks are in `docs/analytics.md`
//! ("Data-quality gate").

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::analytics::chain::time_to_expiry_years;
use crate::analytics::iv::{implied_vol, IvInput};
use crate::analytics::iv_history::{PLAUSIBLE_IV_MAX, PLAUSIBLE_IV_MIN};
use crate::market::{DataType, OptionChain, OptionQuote, OptionRight, Quote};
use crate::CoreError;

/// Exercise style assumed by the put-call parity check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExerciseStyle {
    /// US equity options: `C - P` may lie anywhere in
    /// `[S·e^(-qT) - K, S - K·e^(-rT)]` (early exercise).
    American,
    /// Index options: `C - P = S·e^(-qT) - K·e^(-rT)`.
    European,
}

/// Thresholds of the gate. `Default` is the production setting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QualityConfig {
    /// An option's bid-ask width may be at most this fraction of its mid ...
    pub max_spread_fraction: f64,
    /// ... or this many dollars, whichever is larger (a $0.05 x $0.10 option
    /// is 67 % wide but normal).
    pub min_spread_allowance: f64,
    /// The underlying's bid-ask width may be at most this fraction of mid
    /// (or `min_underlying_spread_allowance` dollars, whichever is larger).
    pub max_underlying_spread_fraction: f64,
    pub min_underlying_spread_allowance: f64,
    /// Data older than this (seconds before `now`) is stale.
    pub max_age_secs: i64,
    /// Data stamped more than this many seconds after `now` is refused
    /// (clock skew or a bad timestamp).
    pub max_future_secs: i64,
    /// Implied vol must lie strictly inside (`min_iv`, `max_iv`), decimal.
    pub min_iv: f64,
    pub max_iv: f64,
    /// Keep contracts whose bid is 0 (they may be bought, never sold: see
    /// [`check_short_leg`]). Off by default: a zero bid has no real mid.
    pub keep_zero_bid: bool,
    /// Run the put-call parity check.
    pub check_parity: bool,
    pub exercise_style: ExerciseStyle,
    /// Dollars of slack on top of the combined call + put spread before a
    /// strike pair violates parity.
    pub parity_slack: f64,
    /// A symbol whose dropped share of contracts exceeds this is held.
    pub max_drop_fraction: f64,
    /// Simulated data may drive proposals (paper trading on the simulator).
    pub allow_simulated: bool,
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self {
            max_spread_fraction: 0.5,
            min_spread_allowance: 0.10,
            max_underlying_spread_fraction: 0.01,
            min_underlying_spread_allowance: 0.05,
            max_age_secs: 300,
            max_future_secs: 5,
            min_iv: PLAUSIBLE_IV_MIN,
            max_iv: PLAUSIBLE_IV_MAX,
            keep_zero_bid: false,
            check_parity: true,
            exercise_style: ExerciseStyle::American,
            parity_slack: 0.05,
            max_drop_fraction: 0.5,
            allow_simulated: true,
        }
    }
}

impl QualityConfig {
    /// Checks every field and returns all problems at once.
    pub fn validate(&self) -> Result<(), Vec<CoreError>> {
        let mut errs = Vec::new();
        let mut range = |field: &'static str, v: f64, lo: f64, hi: f64| {
            if !(v.is_finite() && v >= lo && v <= hi) {
                errs.push(CoreError::InvalidInput {
                    field,
                    reason: format!("must be in {lo}..={hi}, got {v}"),
                });
            }
        };
        range("max_spread_fraction", self.max_spread_fraction, 0.0, 2.0);
        range("min_spread_allowance", self.min_spread_allowance, 0.0, 10.0);
        range(
            "max_underlying_spread_fraction",
            self.max_underlying_spread_fraction,
            0.0,
            1.0,
        );
        range(
            "min_underlying_spread_allowance",
            self.min_underlying_spread_allowance,
            0.0,
            10.0,
        );
        range("min_iv", self.min_iv, 0.0, 10.0);
        range("max_iv", self.max_iv, 0.0, 10.0);
        range("parity_slack", self.parity_slack, 0.0, 100.0);
        range("max_drop_fraction", self.max_drop_fraction, 0.0, 1.0);
        if self.min_iv.is_finite() && self.max_iv.is_finite() && self.min_iv >= self.max_iv {
            errs.push(CoreError::InvalidInput {
                field: "min_iv",
                reason: format!("must be below max_iv {}, got {}", self.max_iv, self.min_iv),
            });
        }
        if !(1..=86_400).contains(&self.max_age_secs) {
            errs.push(CoreError::InvalidInput {
                field: "max_age_secs",
                reason: format!("must be in 1..=86400, got {}", self.max_age_secs),
            });
        }
        if !(0..=3_600).contains(&self.max_future_secs) {
            errs.push(CoreError::InvalidInput {
                field: "max_future_secs",
                reason: format!("must be in 0..=3600, got {}", self.max_future_secs),
            });
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

/// Why a contract (or an underlying quote) failed the gate. The first
/// failing check in this order is the one counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The chain's underlying price is missing, non-finite or ≤ 0 (every
    /// contract of the chain).
    MissingUnderlying,
    /// The chain (or quote) is older than `max_age_secs` (every contract).
    Stale,
    /// The chain (or quote) is stamped after `now + max_future_secs`.
    FutureTimestamp,
    /// Strike non-finite or ≤ 0.
    InvalidStrike,
    /// The expiry's close is at or before the chain's `as_of`.
    Expired,
    /// Bid or ask absent.
    MissingQuote,
    /// Bid or ask NaN or infinite.
    NonFiniteQuote,
    /// Ask ≤ 0 or bid < 0 (underlying: bid ≤ 0 too).
    NonPositivePrice,
    /// Bid above ask.
    Crossed,
    /// Bid equal to ask.
    Locked,
    /// Bid exactly 0 (unless `keep_zero_bid`).
    ZeroBid,
    /// Bid-ask wider than `max(max_spread_fraction × mid, min_spread_allowance)`.
    WideSpread,
    /// Source delta non-finite or |delta| > 1.
    DeltaOutOfRange,
    /// Source delta < 0 on a call or > 0 on a put.
    DeltaWrongSign,
    /// Source gamma non-finite or < 0.
    NegativeGamma,
    /// Source vega non-finite or < 0.
    NegativeVega,
    /// IV (the source's, else implied from the mid) outside (`min_iv`, `max_iv`).
    IvOutOfRange,
    /// No source IV and the mid implies none (below intrinsic, above bound).
    IvUnavailable,
    /// The strike's call/put pair breaks put-call parity by more than the
    /// combined spread plus `parity_slack` (both contracts are dropped).
    ParityViolation,
    /// Only for a leg to be sold: no bid (see [`check_short_leg`]).
    ZeroBidShort,
}

impl DropReason {
    /// Stable snake_case code (the serde form).
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            DropReason::MissingUnderlying => "missing_underlying",
            DropReason::Stale => "stale",
            DropReason::FutureTimestamp => "future_timestamp",
            DropReason::InvalidStrike => "invalid_strike",
            DropReason::Expired => "expired",
            DropReason::MissingQuote => "missing_quote",
            DropReason::NonFiniteQuote => "non_finite_quote",
            DropReason::NonPositivePrice => "non_positive_price",
            DropReason::Crossed => "crossed",
            DropReason::Locked => "locked",
            DropReason::ZeroBid => "zero_bid",
            DropReason::WideSpread => "wide_spread",
            DropReason::DeltaOutOfRange => "delta_out_of_range",
            DropReason::DeltaWrongSign => "delta_wrong_sign",
            DropReason::NegativeGamma => "negative_gamma",
            DropReason::NegativeVega => "negative_vega",
            DropReason::IvOutOfRange => "iv_out_of_range",
            DropReason::IvUnavailable => "iv_unavailable",
            DropReason::ParityViolation => "parity_violation",
            DropReason::ZeroBidShort => "zero_bid_short",
        }
    }
}

/// Dropped contracts by reason; serializes as `{code: count}` of the reasons
/// that occurred.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DropCounts(BTreeMap<DropReason, usize>);

impl DropCounts {
    pub fn add(&mut self, reason: DropReason, n: usize) {
        if n > 0 {
            *self.0.entry(reason).or_insert(0) += n;
        }
    }

    #[must_use]
    pub fn get(&self, reason: DropReason) -> usize {
        self.0.get(&reason).copied().unwrap_or(0)
    }

    /// All dropped contracts.
    #[must_use]
    pub fn total(&self) -> usize {
        self.0.values().sum()
    }

    /// `(reason, count)` of the reasons that occurred, in reason order.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, usize)> + '_ {
        self.0.iter().map(|(r, n)| (*r, *n))
    }
}

/// Why a symbol is held: no new proposals, and exits of its positions wait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HoldReason {
    /// The chain or quote is not live data (delayed, frozen, or simulated
    /// when `allow_simulated` is off).
    NotLive { data_type: DataType },
    /// The chain or quote is older than `max_age_secs`.
    Stale { age_secs: i64 },
    /// The chain or quote is stamped in the future.
    FutureTimestamp { ahead_secs: i64 },
    /// No usable underlying price.
    MissingUnderlying,
    /// The underlying quote failed a check.
    UnderlyingQuote { reason: DropReason },
    /// More than `max_drop_fraction` of the contracts were dropped.
    TooManyDropped { dropped: usize, input: usize },
    /// No contract survived (or the chain had none).
    NoUsableContracts,
}

/// The per-symbol verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum SymbolVerdict {
    /// Data is live and clean enough: proposals and exits may act.
    Clear,
    /// No proposals, exits wait; every reason found.
    Hold { reasons: Vec<HoldReason> },
}

impl SymbolVerdict {
    fn of(reasons: Vec<HoldReason>) -> Self {
        if reasons.is_empty() {
            SymbolVerdict::Clear
        } else {
            SymbolVerdict::Hold { reasons }
        }
    }

    /// New proposals for this symbol are allowed.
    #[must_use]
    pub fn may_propose(&self) -> bool {
        matches!(self, SymbolVerdict::Clear)
    }

    /// Exit rules may act on this symbol's positions (same condition: a
    /// mark from bad data must not trigger a close).
    #[must_use]
    pub fn exits_may_act(&self) -> bool {
        self.may_propose()
    }

    /// The reasons of a hold (empty when clear).
    #[must_use]
    pub fn reasons(&self) -> &[HoldReason] {
        match self {
            SymbolVerdict::Clear => &[],
            SymbolVerdict::Hold { reasons } => reasons,
        }
    }
}

/// How a symbol's data stands, as `/health` and the chain step's
/// `symbol_quality` row show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedState {
    /// The gate clears the symbol: proposals and exits may act.
    Live,
    /// Held only because the data is not live (delayed, frozen, or simulated
    /// when that is refused).
    Delayed,
    /// Held for anything else (stale, missing underlying, bad quote, too many
    /// contracts dropped, none usable), or no data at all.
    Failing,
}

impl FeedState {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            FeedState::Live => "live",
            FeedState::Delayed => "delayed",
            FeedState::Failing => "failing",
        }
    }
}

impl SymbolVerdict {
    /// [`FeedState::Live`] when clear, [`FeedState::Delayed`] when every
    /// reason is [`HoldReason::NotLive`], else [`FeedState::Failing`].
    #[must_use]
    pub fn feed_state(&self) -> FeedState {
        let reasons = self.reasons();
        if reasons.is_empty() {
            FeedState::Live
        } else if reasons
            .iter()
            .all(|r| matches!(r, HoldReason::NotLive { .. }))
        {
            FeedState::Delayed
        } else {
            FeedState::Failing
        }
    }
}

/// The symbol-level part of the gate alone, for a chain of a few contracts
/// (the legs of open positions, where one dropped leg must not hold the
/// symbol): not live data, a stale or future `as_of`, no usable spot.
/// Empty = the feed may drive exits.
#[must_use]
pub fn feed_holds(chain: &OptionChain, now: DateTime<Utc>, cfg: &QualityConfig) -> Vec<HoldReason> {
    let mut holds = Vec::new();
    if !data_type_ok(chain.data_type, cfg) {
        holds.push(HoldReason::NotLive {
            data_type: chain.data_type,
        });
    }
    if chain.spot.is_finite() && chain.spot > 0.0 {
        if let Some((_, hold)) = age_problem(chain.as_of, now, cfg) {
            holds.push(hold);
        }
    } else {
        holds.push(HoldReason::MissingUnderlying);
    }
    holds
}

/// Result of gating one chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainQuality {
    /// The input chain with only the contracts that passed (expiries kept
    /// even when empty, contract order kept).
    pub chain: OptionChain,
    pub input_contracts: usize,
    pub kept_contracts: usize,
    pub dropped: DropCounts,
    pub verdict: SymbolVerdict,
}

/// What a single contract is checked against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContractContext {
    /// Underlying price, > 0.
    pub spot: f64,
    /// Calendar years to the expiry's close.
    pub t_years: f64,
    pub rate: f64,
    pub div_yield: f64,
}

/// Whether a data type may drive decisions.
#[must_use]
pub fn data_type_ok(data_type: DataType, cfg: &QualityConfig) -> bool {
    match data_type {
        DataType::Live => true,
        DataType::Simulated => cfg.allow_simulated,
        DataType::Delayed | DataType::Frozen | DataType::DelayedFrozen => false,
    }
}

/// Age check of a timestamp against `now`.
fn age_problem(
    stamp: DateTime<Utc>,
    now: DateTime<Utc>,
    cfg: &QualityConfig,
) -> Option<(DropReason, HoldReason)> {
    let age = (now - stamp).num_seconds();
    if age > cfg.max_age_secs {
        Some((DropReason::Stale, HoldReason::Stale { age_secs: age }))
    } else if -age > cfg.max_future_secs {
        Some((
            DropReason::FutureTimestamp,
            HoldReason::FutureTimestamp { ahead_secs: -age },
        ))
    } else {
        None
    }
}

/// Checks an underlying quote's prices and timestamp (not its data type:
/// see [`data_type_ok`]): finite, bid and ask > 0, not crossed or locked,
/// spread within the underlying limit, not stale or from the future.
pub fn check_quote(q: &Quote, now: DateTime<Utc>, cfg: &QualityConfig) -> Result<(), DropReason> {
    if let Some((reason, _)) = age_problem(q.timestamp, now, cfg) {
        return Err(reason);
    }
    if !(q.bid.is_finite() && q.ask.is_finite()) {
        return Err(DropReason::NonFiniteQuote);
    }
    if q.bid <= 0.0 || q.ask <= 0.0 {
        return Err(DropReason::NonPositivePrice);
    }
    if q.bid > q.ask {
        return Err(DropReason::Crossed);
    }
    if q.bid == q.ask {
        return Err(DropReason::Locked);
    }
    let mid = 0.5 * (q.bid + q.ask);
    let allowed =
        (cfg.max_underlying_spread_fraction * mid).max(cfg.min_underlying_spread_allowance);
    if q.ask - q.bid > allowed {
        return Err(DropReason::WideSpread);
    }
    Ok(())
}

/// Whether a leg may be SOLD at this quote: it needs a positive finite bid
/// (selling into no bid fills at nothing). Apply it on top of the gate to
/// every short leg, also when `keep_zero_bid` is on.
pub fn check_short_leg(q: &OptionQuote) -> Result<(), DropReason> {
    match q.bid {
        Some(b) if b.is_finite() && b > 0.0 => Ok(()),
        _ => Err(DropReason::ZeroBidShort),
    }
}

/// Checks one contract's quote, greeks and IV (everything but parity, which
/// needs the pair, and the chain-level timestamp / underlying checks).
pub fn check_contract(
    q: &OptionQuote,
    ctx: &ContractContext,
    cfg: &QualityConfig,
) -> Result<(), DropReason> {
    if !(ctx.spot.is_finite() && ctx.spot > 0.0) {
        return Err(DropReason::MissingUnderlying);
    }
    if !(q.strike.is_finite() && q.strike > 0.0) {
        return Err(DropReason::InvalidStrike);
    }
    if ctx.t_years.is_nan() || ctx.t_years <= 0.0 {
        return Err(DropReason::Expired);
    }
    let (Some(bid), Some(ask)) = (q.bid, q.ask) else {
        return Err(DropReason::MissingQuote);
    };
    if !(bid.is_finite() && ask.is_finite()) {
        return Err(DropReason::NonFiniteQuote);
    }
    if ask <= 0.0 || bid < 0.0 {
        return Err(DropReason::NonPositivePrice);
    }
    if bid > ask {
        return Err(DropReason::Crossed);
    }
    if bid == ask {
        return Err(DropReason::Locked);
    }
    if bid == 0.0 && !cfg.keep_zero_bid {
        return Err(DropReason::ZeroBid);
    }
    let mid = 0.5 * (bid + ask);
    let allowed = (cfg.max_spread_fraction * mid).max(cfg.min_spread_allowance);
    if ask - bid > allowed {
        return Err(DropReason::WideSpread);
    }
    let g = &q.greeks;
    if let Some(d) = g.delta {
        if !(d.is_finite() && d.abs() <= 1.0) {
            return Err(DropReason::DeltaOutOfRange);
        }
        let wrong = match q.right {
            OptionRight::Call => d < 0.0,
            OptionRight::Put => d > 0.0,
        };
        if wrong {
            return Err(DropReason::DeltaWrongSign);
        }
    }
    if g.gamma.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
        return Err(DropReason::NegativeGamma);
    }
    if g.vega.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
        return Err(DropReason::NegativeVega);
    }
    let iv = match g.iv {
        Some(v) => v,
        None => implied_vol(&IvInput {
            price: mid,
            spot: ctx.spot,
            strike: q.strike,
            t_years: ctx.t_years,
            rate: ctx.rate,
            div_yield: ctx.div_yield,
            right: q.right,
        })
        .map_err(|_| DropReason::IvUnavailable)?,
    };
    if !(iv.is_finite() && iv > cfg.min_iv && iv < cfg.max_iv) {
        return Err(DropReason::IvOutOfRange);
    }
    Ok(())
}

/// How far the synthetic `C - P` of a strike lies outside its no-arbitrage
/// band, beyond the combined spread: `distance(C_mid - P_mid, band) -
/// (call spread + put spread)`. The band is `S·e^(-qT) - K·e^(-rT)` for
/// European exercise and `[S·e^(-qT) - K, S - K·e^(-rT)]` (widened to
/// contain the European value) for American. `> parity_slack` is a
/// violation. Quotes must be two-sided and finite.
#[must_use]
pub fn parity_excess(
    call: (f64, f64),
    put: (f64, f64),
    strike: f64,
    ctx: &ContractContext,
    style: ExerciseStyle,
) -> f64 {
    let (s, k, t) = (ctx.spot, strike, ctx.t_years);
    let disc_spot = s * (-ctx.div_yield * t).exp();
    let disc_strike = k * (-ctx.rate * t).exp();
    let european = disc_spot - disc_strike;
    let (lo, hi) = match style {
        ExerciseStyle::European => (european, european),
        ExerciseStyle::American => (
            (disc_spot - k).min(european),
            (s - disc_strike).max(european),
        ),
    };
    let synthetic = 0.5 * (call.0 + call.1) - 0.5 * (put.0 + put.1);
    let distance = if synthetic < lo {
        lo - synthetic
    } else if synthetic > hi {
        synthetic - hi
    } else {
        0.0
    };
    distance - ((call.1 - call.0) + (put.1 - put.0))
}

/// Gates one chain (and, when given, its underlying quote) at `now`.
///
/// Chain-level first: an unusable spot drops every contract as
/// `MissingUnderlying`, a stale or future `as_of` drops every contract as
/// `Stale` / `FutureTimestamp`. Then [`check_contract`] per contract, then
/// parity per strike over the call/put pairs that passed (a strike with only
/// one side, or a repeated strike beyond the first pair, is not
/// parity-checked). The verdict holds the symbol when the chain or quote is
/// not live (see [`data_type_ok`]), stale, missing its underlying, the quote
/// fails [`check_quote`], more than `max_drop_fraction` of the contracts
/// were dropped, or none is left.
#[must_use]
pub fn gate_chain(
    chain: &OptionChain,
    underlying: Option<&Quote>,
    rate: f64,
    now: DateTime<Utc>,
    cfg: &QualityConfig,
) -> ChainQuality {
    let rate = if rate.is_finite() { rate } else { 0.0 };
    let div_yield = chain
        .dividend_yield
        .filter(|q| q.is_finite())
        .unwrap_or(0.0);
    let mut holds = Vec::new();
    let mut dropped = DropCounts::default();
    let input_contracts: usize = chain.expiries.iter().map(|e| e.contracts.len()).sum();

    if !data_type_ok(chain.data_type, cfg) {
        holds.push(HoldReason::NotLive {
            data_type: chain.data_type,
        });
    }
    if let Some(q) = underlying {
        if !data_type_ok(q.data_type, cfg) && q.data_type != chain.data_type {
            holds.push(HoldReason::NotLive {
                data_type: q.data_type,
            });
        }
        if let Err(reason) = check_quote(q, now, cfg) {
            holds.push(HoldReason::UnderlyingQuote { reason });
        }
    }
    let spot_ok = chain.spot.is_finite() && chain.spot > 0.0;
    let chain_problem = if spot_ok {
        age_problem(chain.as_of, now, cfg).map(|(drop, hold)| {
            holds.push(hold);
            drop
        })
    } else {
        holds.push(HoldReason::MissingUnderlying);
        Some(DropReason::MissingUnderlying)
    };

    let mut kept = chain.clone();
    for exp in &mut kept.expiries {
        if let Some(reason) = chain_problem {
            dropped.add(reason, exp.contracts.len());
            exp.contracts.clear();
            continue;
        }
        let ctx = ContractContext {
            spot: chain.spot,
            t_years: time_to_expiry_years(chain.as_of, exp.expiry),
            rate,
            div_yield,
        };
        let mut pass: Vec<bool> = Vec::with_capacity(exp.contracts.len());
        for q in &exp.contracts {
            match check_contract(q, &ctx, cfg) {
                Ok(()) => pass.push(true),
                Err(reason) => {
                    dropped.add(reason, 1);
                    pass.push(false);
                }
            }
        }
        if cfg.check_parity {
            parity_pass(&exp.contracts, &mut pass, &ctx, cfg, &mut dropped);
        }
        let mut flags = pass.into_iter();
        exp.contracts.retain(|_| flags.next().unwrap_or(false));
    }

    let kept_contracts: usize = kept.expiries.iter().map(|e| e.contracts.len()).sum();
    let total_dropped = dropped.total();
    if kept_contracts == 0 {
        holds.push(HoldReason::NoUsableContracts);
    }
    if input_contracts > 0
        && total_dropped as f64 > cfg.max_drop_fraction * input_contracts as f64
        && chain_problem.is_none()
    {
        holds.push(HoldReason::TooManyDropped {
            dropped: total_dropped,
            input: input_contracts,
        });
    }
    ChainQuality {
        chain: kept,
        input_contracts,
        kept_contracts,
        dropped,
        verdict: SymbolVerdict::of(holds),
    }
}

/// Parity over the first passing call/put pair of each strike; drops both
/// sides of a violating pair.
fn parity_pass(
    contracts: &[OptionQuote],
    pass: &mut [bool],
    ctx: &ContractContext,
    cfg: &QualityConfig,
    dropped: &mut DropCounts,
) {
    let mut paired = vec![false; contracts.len()];
    for i in 0..contracts.len() {
        if !pass[i] || paired[i] || contracts[i].right != OptionRight::Call {
            continue;
        }
        let call = &contracts[i];
        let partner = (0..contracts.len()).find(|&j| {
            pass[j]
                && !paired[j]
                && contracts[j].right == OptionRight::Put
                && contracts[j].strike == call.strike
        });
        let Some(j) = partner else { continue };
        paired[i] = true;
        paired[j] = true;
        let put = &contracts[j];
        let (Some(cb), Some(ca), Some(pb), Some(pa)) = (call.bid, call.ask, put.bid, put.ask)
        else {
            continue;
        };
        let excess = parity_excess((cb, ca), (pb, pa), call.strike, ctx, cfg.exercise_style);
        if excess.is_nan() || excess > cfg.parity_slack {
            pass[i] = false;
            pass[j] = false;
            dropped.add(DropReason::ParityViolation, 2);
        }
    }
}
