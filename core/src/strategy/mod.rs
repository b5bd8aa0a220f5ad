//! Option-strategy proposal engine: from scored underlyings, their chains
//! and analytics to 3-5 concrete, explained, sized trades a day.
//!
//! Pipeline (all pure, no I/O, no clock):
//! 1. [`regime::select_regime`]: IV rank, IV-RV spread, skew, term slope and
//!    trend → sell or buy premium, direction, strategy kinds (rule and
//!    reasons kept as data).
//! 2. [`build::build_trade`]: expiry by DTE window, strikes by delta and
//!    width, liquidity and event filters, then [`analysis::analyze`] for
//!    prices, extremes, breakevens, PoP/EV, greeks and the payoff curve.
//! 3. [`sizing::size_trade`], [`exits::exit_plan`], [`rationale::rationale`].
//! 4. [`proposal::generate_proposals`] applies the daily limits and
//!    [`proposal::reprice`] re-checks a proposal at approval.
//!
//! See docs/strategies.md for rules, defaults and formulas.

pub mod analysis;
pub mod build;
pub mod chain;
pub mod config;
pub mod exits;
pub mod proposal;
pub mod rationale;
pub mod regime;
pub mod requests;
pub mod sizing;
pub mod synthetic;
pub mod types;

pub use analysis::{analyze, PayoffPoint, PositionGreeks, PricingContext, TradeMetrics};
pub use build::{build_trade, BuildFailure, BuiltTrade};
pub use chain::EventCalendar;
pub use config::{StrategyConfig, WidthRule};
pub use exits::{ExitPlan, ExitTrigger};
pub use proposal::{
    generate_proposals, idempotency_key, reprice, ExistingTrade, FreshField, FreshLegQuote,
    FreshQuotes, GenerationInputs, Proposal, RepriceRefusal, Repriced, SkipReason, Skipped,
    UnderlyingCandidate,
};
pub use regime::{select_regime, Direction, PremiumStance, RegimeDecision, RegimeInputs};
pub use sizing::{size_trade, RiskBook, SizingDecision, SizingRefusal};
pub use types::{Leg, LegAction, LegKey, LegQuote, StrategyKind};
