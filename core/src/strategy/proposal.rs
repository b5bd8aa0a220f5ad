//! Daily proposal generation (pure) and re-pricing for approval.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::market::{DataType, OptionChain, OptionQuote, Symbol};
use crate::score::OpportunityScore;

use super::analysis::{analyze, AnalysisError, PricingContext, TradeMetrics};
use super::build::{build_trade, BuildFailure, BuiltTrade};
use super::chain::{
    leg_delta, liquidity_problem, quote_iv, ChainContext, ContractProblem, EventCalendar,
};
use super::config::StrategyConfig;
use super::exits::{exit_plan, ExitPlan};
use super::rationale::{rationale, RationaleParts};
use super::regime::{select_regime, RegimeDecision, RegimeInputs, SelectionRule};
use super::sizing::{size_trade, RiskBook, SizingDecision, SizingRefusal};
use super::types::{net_price_mid, Leg, LegAction, LegKey, LegQuote, StrategyKind};

/// One ranked underlying with everything needed to propose a trade on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnderlyingCandidate {
    pub symbol: Symbol,
    pub chain: OptionChain,
    pub regime: RegimeInputs,
    /// Score breakdown from `score.rs`, when available.
    pub score: Option<OpportunityScore>,
    /// Known earnings / ex-dividend dates, when available.
    pub events: Option<EventCalendar>,
}

/// An open position, a pending proposal or a proposal made today.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExistingTrade {
    pub symbol: Symbol,
    pub idempotency_key: Option<String>,
    /// Total max loss in dollars (all contracts). Ignored for `proposals_today`.
    pub max_loss: f64,
}

/// Inputs of one generation run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationInputs {
    /// The trading day the proposals belong to (exchange date).
    pub trade_date: NaiveDate,
    /// When the proposals expire (normally the end of the trading day).
    pub expires_at: DateTime<Utc>,
    /// Account net liquidation in dollars.
    pub net_liquidation: f64,
    /// Underlyings, best rank first.
    pub ranked: Vec<UnderlyingCandidate>,
    pub open_positions: Vec<ExistingTrade>,
    /// Proposals awaiting approval (they count against risk as if approved).
    pub pending_proposals: Vec<ExistingTrade>,
    /// Every proposal created today, whatever its status.
    pub proposals_today: Vec<ExistingTrade>,
}

/// A concrete, explained trade proposal: everything the Worker stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// Deterministic from (trade date, symbol, strategy, legs).
    pub idempotency_key: String,
    pub symbol: Symbol,
    pub strategy: StrategyKind,
    pub trade_date: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// 1-based position of the underlying in the ranked input.
    pub rank: u32,
    /// Legs with their quote snapshot.
    pub legs: Vec<Leg>,
    pub chain_as_of: DateTime<Utc>,
    pub data_type: DataType,
    /// Spot, rate, dividend yield and distribution vol used for the numbers.
    pub pricing: PricingContext,
    /// Vertical/wing width in dollars (0 for single options and calendars).
    pub width: f64,
    pub regime_inputs: RegimeInputs,
    pub regime: RegimeDecision,
    pub score: Option<OpportunityScore>,
    pub metrics: TradeMetrics,
    pub sizing: SizingDecision,
    pub exits: ExitPlan,
    /// Limit price per share for the order: the net mid (positive = debit).
    pub limit_price: f64,
    /// Allowed move of the net mid at approval, dollars per share.
    pub slippage_band: f64,
    pub rationale: String,
}

/// Why an underlying got no proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "code")]
pub enum SkipReason {
    DailyLimitReached {
        made: u32,
        max: u32,
    },
    MaxOpenPositions {
        open: u32,
        max: u32,
    },
    SymbolAlreadyOpen {
        open: u32,
        max: u32,
    },
    AlreadyProposedToday,
    DuplicateInRanking,
    ChainSymbolMismatch {
        chain_symbol: Symbol,
    },
    DuplicateProposal {
        idempotency_key: String,
    },
    NoEdge {
        rule: SelectionRule,
    },
    BuildFailed {
        strategy: StrategyKind,
        failure: BuildFailure,
    },
    SizingRefused {
        strategy: StrategyKind,
        refusal: SizingRefusal,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::DailyLimitReached { made, max } => {
                write!(f, "daily limit reached ({made} of {max} proposals made)")
            }
            SkipReason::MaxOpenPositions { open, max } => {
                write!(f, "{open} positions open or pending (max {max})")
            }
            SkipReason::SymbolAlreadyOpen { open, max } => {
                write!(
                    f,
                    "{open} open or pending trade(s) on this symbol (max {max})"
                )
            }
            SkipReason::AlreadyProposedToday => write!(f, "already proposed today"),
            SkipReason::DuplicateInRanking => write!(f, "symbol listed twice in the ranking"),
            SkipReason::ChainSymbolMismatch { chain_symbol } => {
                write!(f, "option chain is for {chain_symbol}")
            }
            SkipReason::DuplicateProposal { idempotency_key } => {
                write!(f, "same trade already proposed ({idempotency_key})")
            }
            SkipReason::NoEdge { rule } => match rule {
                SelectionRule::BuyPremiumTermTooSteep => write!(
                    f,
                    "cheap vol without trend, but back months too dear for a calendar"
                ),
                _ => write!(f, "volatility neither rich nor cheap and no clear trend"),
            },
            SkipReason::BuildFailed { strategy, failure } => {
                write!(f, "{}: {failure}", strategy.label())
            }
            SkipReason::SizingRefused { strategy, refusal } => {
                write!(f, "{}: {refusal}", strategy.label())
            }
        }
    }
}

/// An underlying that got no proposal, with the reason as data and as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub symbol: Symbol,
    pub reason: SkipReason,
    pub message: String,
}

fn skipped(symbol: &Symbol, reason: SkipReason) -> Skipped {
    Skipped {
        symbol: symbol.clone(),
        message: reason.to_string(),
        reason,
    }
}

/// 64-bit FNV-1a (stable across platforms and Rust versions).
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Deterministic idempotency key of a trade:
/// `<date>-<symbol>-<strategy>-<16 hex of FNV-1a over the legs>`, where the
/// legs are written as `right:strike(4 dp):expiry:action:ratio` in order.
pub fn idempotency_key(
    trade_date: NaiveDate,
    symbol: &Symbol,
    strategy: StrategyKind,
    legs: &[Leg],
) -> String {
    let mut canon = format!("{trade_date}|{symbol}|{strategy}");
    for l in legs {
        let right = match l.right {
            crate::market::OptionRight::Call => "C",
            crate::market::OptionRight::Put => "P",
        };
        canon.push_str(&format!(
            "|{right}:{:.4}:{}:{}:{}",
            l.strike,
            l.expiry,
            l.action.as_str(),
            l.ratio
        ));
    }
    format!(
        "{trade_date}-{symbol}-{strategy}-{:016x}",
        fnv1a64(canon.as_bytes())
    )
}

/// Re-pricing tolerance of a proposal: `max(min_slippage_band,
/// slippage_band_fraction * |net mid|)` dollars per share.
pub fn slippage_band(net_mid: f64, cfg: &StrategyConfig) -> f64 {
    let b = cfg.slippage_band_fraction * net_mid.abs();
    if b.is_finite() {
        b.max(cfg.min_slippage_band)
    } else {
        cfg.min_slippage_band
    }
}

fn total_max_loss(trades: &[ExistingTrade]) -> f64 {
    // A non-finite or negative figure poisons the sum on purpose: sizing
    // then refuses instead of under-counting risk.
    trades
        .iter()
        .map(|t| {
            if t.max_loss.is_finite() && t.max_loss >= 0.0 {
                t.max_loss
            } else {
                f64::NAN
            }
        })
        .sum()
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Produces the day's proposals in rank order, and the reason for every
/// ranked underlying that got none. Pure: all state comes in `inputs`.
///
/// Limits, in the order they are checked: proposals per day (counting
/// `proposals_today`), one proposal per symbol per day, open or pending
/// trades per symbol, open positions (open + pending + new), then sizing
/// (per-trade risk, portfolio heat including pending and new proposals).
pub fn generate_proposals(
    inputs: &GenerationInputs,
    cfg: &StrategyConfig,
    now: DateTime<Utc>,
) -> (Vec<Proposal>, Vec<Skipped>) {
    let mut out: Vec<Proposal> = Vec::new();
    let mut skips: Vec<Skipped> = Vec::new();
    let made_today = count_u32(inputs.proposals_today.len());
    let existing_positions =
        count_u32(inputs.open_positions.len() + inputs.pending_proposals.len());
    let mut committed =
        total_max_loss(&inputs.open_positions) + total_max_loss(&inputs.pending_proposals);
    let known_keys: Vec<&str> = inputs
        .open_positions
        .iter()
        .chain(&inputs.pending_proposals)
        .chain(&inputs.proposals_today)
        .filter_map(|t| t.idempotency_key.as_deref())
        .collect();
    let mut seen: Vec<&Symbol> = Vec::new();

    for (idx, cand) in inputs.ranked.iter().enumerate() {
        let sym = &cand.symbol;
        let new = count_u32(out.len());
        if made_today.saturating_add(new) >= cfg.max_proposals_per_day {
            skips.push(skipped(
                sym,
                SkipReason::DailyLimitReached {
                    made: made_today.saturating_add(new),
                    max: cfg.max_proposals_per_day,
                },
            ));
            continue;
        }
        if seen.contains(&sym) {
            skips.push(skipped(sym, SkipReason::DuplicateInRanking));
            continue;
        }
        seen.push(sym);
        if &cand.chain.symbol != sym {
            skips.push(skipped(
                sym,
                SkipReason::ChainSymbolMismatch {
                    chain_symbol: cand.chain.symbol.clone(),
                },
            ));
            continue;
        }
        if inputs.proposals_today.iter().any(|t| &t.symbol == sym) {
            skips.push(skipped(sym, SkipReason::AlreadyProposedToday));
            continue;
        }
        let on_symbol = count_u32(
            inputs
                .open_positions
                .iter()
                .chain(&inputs.pending_proposals)
                .filter(|t| &t.symbol == sym)
                .count(),
        );
        if on_symbol >= cfg.max_open_per_symbol {
            skips.push(skipped(
                sym,
                SkipReason::SymbolAlreadyOpen {
                    open: on_symbol,
                    max: cfg.max_open_per_symbol,
                },
            ));
            continue;
        }
        let positions = existing_positions.saturating_add(new);
        if positions >= cfg.max_open_positions {
            skips.push(skipped(
                sym,
                SkipReason::MaxOpenPositions {
                    open: positions,
                    max: cfg.max_open_positions,
                },
            ));
            continue;
        }

        let decision = select_regime(&cand.regime, cfg);
        if decision.strategies.is_empty() {
            skips.push(skipped(
                sym,
                SkipReason::NoEdge {
                    rule: decision.rule,
                },
            ));
            continue;
        }
        let book = RiskBook {
            net_liquidation: inputs.net_liquidation,
            committed_max_loss: committed,
            open_positions: positions,
        };
        let mut first_problem: Option<SkipReason> = None;
        let mut made: Option<Proposal> = None;
        for &kind in &decision.strategies {
            let built = match build_trade(
                kind,
                &cand.chain,
                cfg,
                cand.events.as_ref(),
                inputs.trade_date,
            ) {
                Ok(b) => b,
                Err(failure) => {
                    first_problem.get_or_insert(SkipReason::BuildFailed {
                        strategy: kind,
                        failure,
                    });
                    continue;
                }
            };
            let key = idempotency_key(inputs.trade_date, sym, kind, &built.legs);
            if known_keys.contains(&key.as_str()) {
                first_problem.get_or_insert(SkipReason::DuplicateProposal {
                    idempotency_key: key,
                });
                continue;
            }
            let sizing = match size_trade(built.metrics.max_loss_natural, &book, cfg) {
                Ok(s) => s,
                Err(refusal) => {
                    first_problem.get_or_insert(SkipReason::SizingRefused {
                        strategy: kind,
                        refusal,
                    });
                    continue;
                }
            };
            made = Some(assemble(
                cand,
                count_u32(idx + 1),
                built,
                key,
                sizing,
                decision.clone(),
                inputs,
                cfg,
                now,
            ));
            break;
        }
        match made {
            Some(p) => {
                committed += p.sizing.total_max_loss;
                out.push(p);
            }
            None => {
                let reason = first_problem.unwrap_or(SkipReason::NoEdge {
                    rule: decision.rule,
                });
                skips.push(skipped(sym, reason));
            }
        }
    }
    (out, skips)
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    cand: &UnderlyingCandidate,
    rank: u32,
    built: BuiltTrade,
    key: String,
    sizing: SizingDecision,
    decision: RegimeDecision,
    inputs: &GenerationInputs,
    cfg: &StrategyConfig,
    now: DateTime<Utc>,
) -> Proposal {
    let front = built
        .legs
        .iter()
        .min_by_key(|l| l.dte)
        .map(|l| l.expiry)
        .unwrap_or(inputs.trade_date);
    let exits = exit_plan(built.kind, &built.metrics, front, cfg);
    let text = rationale(&RationaleParts {
        decision: &decision,
        inputs: &cand.regime,
        score: cand.score.as_ref(),
        kind: built.kind,
        legs: &built.legs,
        metrics: &built.metrics,
        width: built.width,
        sizing: &sizing,
        exits: &exits,
    });
    Proposal {
        idempotency_key: key,
        symbol: cand.symbol.clone(),
        strategy: built.kind,
        trade_date: inputs.trade_date,
        created_at: now,
        expires_at: inputs.expires_at,
        rank,
        limit_price: built.metrics.net_price_mid,
        slippage_band: slippage_band(built.metrics.net_price_mid, cfg),
        legs: built.legs,
        chain_as_of: cand.chain.as_of,
        data_type: cand.chain.data_type,
        pricing: built.pricing,
        width: built.width,
        regime_inputs: cand.regime.sanitized(),
        regime: decision,
        score: cand.score.clone(),
        metrics: built.metrics,
        sizing,
        exits,
        rationale: text,
    }
}

// ---------------------------------------------------------------------------
// Re-pricing
// ---------------------------------------------------------------------------

/// A fresh quote of one leg's contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FreshLegQuote {
    pub expiry: NaiveDate,
    /// The contract's fresh market (strike and right identify the leg).
    pub quote: OptionQuote,
}

/// Fresh market data for re-pricing a proposal.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FreshQuotes {
    /// Fresh underlying price; re-pricing refuses when absent (never the
    /// proposal's spot).
    pub spot: Option<f64>,
    pub legs: Vec<FreshLegQuote>,
    /// The New York trading date the quotes were taken on. Only needed for
    /// the open-interest rule (see [`reprice`]); `None` = unknown date.
    #[serde(default)]
    pub as_of: Option<NaiveDate>,
}

/// A market-data field a fresh quote lacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FreshField {
    /// Underlying price.
    Spot,
    /// Implied volatility (neither the source's nor one implied by the mid).
    Iv,
    /// Delta (neither the source's nor one from the fresh IV).
    Delta,
    /// Volume (needed while the volume filter is on).
    Volume,
    /// Open interest (needed while the open-interest filter is on and the
    /// proposal's figure is not from the same trading day).
    OpenInterest,
}

impl fmt::Display for FreshField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FreshField::Spot => "underlying price",
            FreshField::Iv => "implied volatility",
            FreshField::Delta => "delta",
            FreshField::Volume => "volume",
            FreshField::OpenInterest => "open interest",
        })
    }
}

/// The proposal at fresh prices, accepted for order entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repriced {
    pub legs: Vec<Leg>,
    pub metrics: TradeMetrics,
    /// New limit price per share (net mid, positive = debit).
    pub limit_price: f64,
    /// `new net mid - proposal net mid`: positive always means paying more
    /// (debit) or receiving less (credit).
    pub price_move: f64,
    /// Contracts at the new max loss (never more than proposed).
    pub contracts: u32,
    pub total_max_loss: f64,
    pub exits: ExitPlan,
}

/// Why a proposal cannot be executed at fresh prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "code")]
pub enum RefusalCode {
    MissingLegQuote {
        leg: usize,
    },
    NoTwoSidedQuote {
        leg: usize,
    },
    IlliquidLeg {
        leg: usize,
        problem: ContractProblem,
    },
    /// A strike-selection leg's |delta| left the band it was chosen in.
    DeltaOutOfBand {
        leg: usize,
        delta: Option<f64>,
        min: f64,
        max: f64,
    },
    InvalidSpot,
    /// Fresh data the checks need is missing (`leg` is `None` for the
    /// underlying). Never replaced by the proposal's snapshot.
    MissingFreshData {
        leg: Option<usize>,
        field: FreshField,
    },
    PriceMovedBeyondBand {
        proposed: f64,
        fresh: f64,
        band: f64,
    },
    CreditTooSmall {
        credit: f64,
        width: f64,
    },
    Analysis {
        error: AnalysisError,
    },
    SizeNoLongerFits {
        budget: f64,
        max_loss_per_contract: f64,
    },
}

impl fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefusalCode::MissingLegQuote { leg } => write!(f, "no fresh quote for leg {}", leg + 1),
            RefusalCode::NoTwoSidedQuote { leg } => {
                write!(f, "leg {} has no valid two-sided quote", leg + 1)
            }
            RefusalCode::IlliquidLeg { leg, problem } => {
                write!(
                    f,
                    "leg {} fails the liquidity filter ({problem:?})",
                    leg + 1
                )
            }
            RefusalCode::DeltaOutOfBand {
                leg,
                delta,
                min,
                max,
            } => match delta {
                Some(d) => write!(
                    f,
                    "leg {} delta {d:.2} left the {min:.2}-{max:.2} band",
                    leg + 1
                ),
                None => write!(f, "leg {} has no delta", leg + 1),
            },
            RefusalCode::InvalidSpot => write!(f, "fresh underlying price is invalid"),
            RefusalCode::MissingFreshData { leg: None, field } => {
                write!(f, "the fresh quotes lack the {field}")
            }
            RefusalCode::MissingFreshData {
                leg: Some(leg),
                field,
            } => write!(f, "the fresh quote of leg {} lacks its {field}", leg + 1),
            RefusalCode::PriceMovedBeyondBand {
                proposed,
                fresh,
                band,
            } => write!(
                f,
                "net price moved from {proposed:.2} to {fresh:.2}, beyond the {band:.2} band"
            ),
            RefusalCode::CreditTooSmall { credit, width } => {
                write!(f, "credit {credit:.2} too small for {width:.2} wide")
            }
            RefusalCode::Analysis { error } => write!(f, "cannot price the trade: {error}"),
            RefusalCode::SizeNoLongerFits {
                budget,
                max_loss_per_contract,
            } => write!(
                f,
                "one contract now risks ${max_loss_per_contract:.0}, over the ${budget:.0} budget"
            ),
        }
    }
}

/// A refused re-pricing, with the fresh numbers when they could be computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepriceRefusal {
    pub reason: RefusalCode,
    pub message: String,
    pub new_numbers: Option<Box<TradeMetrics>>,
}

fn refuse(reason: RefusalCode, new_numbers: Option<TradeMetrics>) -> RepriceRefusal {
    RepriceRefusal {
        message: reason.to_string(),
        reason,
        new_numbers: new_numbers.map(Box::new),
    }
}

/// The |delta| band a leg had to satisfy when the trade was built: sold legs
/// of credit trades, bought legs of long options and debit spreads.
fn delta_band(kind: StrategyKind, action: LegAction, cfg: &StrategyConfig) -> Option<(f64, f64)> {
    use StrategyKind as K;
    match (kind, action) {
        (K::BullPutCreditSpread | K::BearCallCreditSpread | K::IronCondor, LegAction::Sell) => {
            Some((cfg.short_delta_min, cfg.short_delta_max))
        }
        (
            K::LongCall | K::LongPut | K::BullCallDebitSpread | K::BearPutDebitSpread,
            LegAction::Buy,
        ) => Some((
            (cfg.long_delta_target - cfg.long_delta_tolerance).max(0.01),
            (cfg.long_delta_target + cfg.long_delta_tolerance).min(0.99),
        )),
        _ => None,
    }
}

/// Re-prices a proposal with fresh leg quotes for approval. Never falls back
/// to the proposal's snapshot: a missing fresh spot, IV (source, else implied
/// by the fresh mid), delta (source, else BSM at the fresh IV) or volume
/// (while the volume filter is on) refuses with `MissingFreshData`; missing
/// open interest (IB sends none in snapshots) is taken from the proposal only
/// when `fresh.as_of` is the proposal's trade date (a once-a-day figure),
/// else refused. Refuses when a
/// leg is missing, not two-sided or fails the liquidity filter, when a
/// short (credit trades) or long (long options, debit spreads) leg's delta
/// left its selection band (fresh source delta, else BSM at the fresh spot
/// and IV), when the net
/// mid moved by more than the proposal's slippage band (either way), when a
/// credit spread's credit fell under the minimum, or when one contract no
/// longer fits the proposal's risk budget. The size is never increased.
pub fn reprice(
    proposal: &Proposal,
    fresh: &FreshQuotes,
    cfg: &StrategyConfig,
) -> Result<Repriced, RepriceRefusal> {
    let missing = |leg: Option<usize>, field: FreshField| {
        refuse(RefusalCode::MissingFreshData { leg, field }, None)
    };
    let spot = match fresh.spot {
        None => return Err(missing(None, FreshField::Spot)),
        Some(s) if s.is_finite() && s > 0.0 => s,
        Some(_) => return Err(refuse(RefusalCode::InvalidSpot, None)),
    };
    let ctx = ChainContext {
        spot,
        rate: proposal.pricing.rate,
        div_yield: proposal.pricing.div_yield,
    };
    // Open interest is published once a day (OCC, before the open) and IB
    // does not send it in snapshots: the proposal's figure is today's only
    // when the proposal was made on the trading date of the fresh quotes.
    let same_day = fresh.as_of == Some(proposal.trade_date);
    let mut legs = Vec::with_capacity(proposal.legs.len());
    for (i, old) in proposal.legs.iter().enumerate() {
        let key = old.key();
        let Some(fq) = fresh.legs.iter().find(|f| {
            key.matches(&LegKey {
                right: f.quote.right,
                strike: f.quote.strike,
                expiry: f.expiry,
            })
        }) else {
            return Err(refuse(RefusalCode::MissingLegQuote { leg: i }, None));
        };
        let Some((bid, ask, mid)) = LegQuote::two_sided(&fq.quote) else {
            return Err(refuse(RefusalCode::NoTwoSidedQuote { leg: i }, None));
        };
        // Source IV, else the IV implied by the fresh mid; never the snapshot's.
        let Some(iv) = quote_iv(&fq.quote, mid, old.dte, &ctx) else {
            return Err(missing(Some(i), FreshField::Iv));
        };
        let Some(delta) = leg_delta(
            fq.quote.greeks.delta,
            Some(iv),
            &ctx,
            old.right,
            old.strike,
            old.dte,
        ) else {
            return Err(missing(Some(i), FreshField::Delta));
        };
        let volume = match fq.quote.volume {
            Some(v) => Some(v),
            None if cfg.min_volume > 0 => return Err(missing(Some(i), FreshField::Volume)),
            None => None,
        };
        let open_interest = match fq.quote.open_interest {
            Some(oi) => Some(oi),
            None if cfg.min_open_interest == 0 => None,
            None if same_day && old.quote.open_interest.is_some() => old.quote.open_interest,
            None => return Err(missing(Some(i), FreshField::OpenInterest)),
        };
        let q = LegQuote {
            bid,
            ask,
            mid,
            iv: Some(iv),
            delta: Some(delta),
            open_interest,
            volume,
        };
        if let Some(problem) = liquidity_problem(&q, cfg) {
            return Err(refuse(RefusalCode::IlliquidLeg { leg: i, problem }, None));
        }
        if let Some((min, max)) = delta_band(proposal.strategy, old.action, cfg) {
            let d = q.delta.map(f64::abs);
            if !d.is_some_and(|d| d >= min - 1e-12 && d <= max + 1e-12) {
                return Err(refuse(
                    RefusalCode::DeltaOutOfBand {
                        leg: i,
                        delta: d,
                        min,
                        max,
                    },
                    None,
                ));
            }
        }
        legs.push(Leg { quote: q, ..*old });
    }
    let pricing = PricingContext {
        spot,
        ..proposal.pricing
    };
    let metrics = analyze(
        &legs,
        &pricing,
        cfg.contract_multiplier,
        cfg.payoff_curve_points,
    )
    .map_err(|error| refuse(RefusalCode::Analysis { error }, None))?;
    let new_mid = net_price_mid(&legs);
    let old_mid = proposal.metrics.net_price_mid;
    let band = proposal.slippage_band;
    let price_move = new_mid - old_mid;
    let within_band = price_move.abs() <= band;
    if !within_band {
        return Err(refuse(
            RefusalCode::PriceMovedBeyondBand {
                proposed: old_mid,
                fresh: new_mid,
                band,
            },
            Some(metrics),
        ));
    }
    if proposal.strategy.is_credit() {
        let credit = -new_mid;
        if !(credit > 0.0 && credit >= cfg.min_credit_to_width * proposal.width) {
            return Err(refuse(
                RefusalCode::CreditTooSmall {
                    credit,
                    width: proposal.width,
                },
                Some(metrics),
            ));
        }
    }
    let s = &proposal.sizing;
    let budget = s.risk_budget.min(s.heat_room);
    let per = metrics.max_loss_natural;
    let fit = if per.is_finite() && per > 0.0 && budget.is_finite() {
        (budget / per).floor()
    } else {
        0.0
    };
    let mut contracts = if fit >= f64::from(s.contracts) {
        s.contracts
    } else if fit >= 1.0 {
        // 1 <= fit < s.contracts: exact.
        fit as u32
    } else {
        0
    };
    while contracts > 0 && f64::from(contracts) * per > budget {
        contracts -= 1;
    }
    if contracts == 0 {
        return Err(refuse(
            RefusalCode::SizeNoLongerFits {
                budget,
                max_loss_per_contract: per,
            },
            Some(metrics),
        ));
    }
    let front = legs
        .iter()
        .min_by_key(|l| l.dte)
        .map(|l| l.expiry)
        .unwrap_or(proposal.trade_date);
    let exits = exit_plan(proposal.strategy, &metrics, front, cfg);
    Ok(Repriced {
        limit_price: new_mid,
        price_move,
        contracts,
        total_max_loss: f64::from(contracts) * per,
        exits,
        legs,
        metrics,
    })
}
