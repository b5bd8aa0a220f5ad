//! Risk: the trading state (`active | reducing | halted`) and its rules,
//! pre-trade checks that fail closed, correlation clusters, volatility-
//! adjusted size, greeks budgets and strategy switches. Pure: time and data
//! are passed in; every decision carries its reasons. See docs/risk.md.
//!
//! Dependencies point one way: `config` ← `state` ← `checks`;
//! `correlation` ← `checks`; `strategies` ← `state`.

pub mod checks;
pub mod config;
pub mod correlation;
pub mod state;
pub mod strategies;

pub use checks::{
    pre_trade_checks, size_within_limits, vol_adjusted_cap, BookInputs, CheckInput, CheckKind,
    CheckResult, PreTradeReport, TradeRequest, Verdict,
};
pub use config::{RiskConfig, RiskConfigError};
pub use correlation::{correlation_clusters, pearson, Clusters, DailyClose};
pub use state::{
    apply_trader_action, entry_gate, evaluate, ActionRefusal, ActiveHalt, Actor, Change, Cooldown,
    HaltCause, Observation, Stamp, StopOut, Subject, TraderAction, TradingMode, TradingState,
    Transition,
};
pub use strategies::StrategySwitches;
