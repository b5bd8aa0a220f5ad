//! Performance analytics: equity figures (returns, Sharpe, Sortino,
//! drawdown, Calmar), closed-trade figures (win rate, profit factor,
//! expectancy, slippage, commissions), attribution, and the shadow P&L of
//! proposals not taken. Pure; conventions in docs/performance.md.
//!
//! Dependencies: `returns` stands alone; `trades` uses [`crate::score`];
//! `shadow` uses [`crate::portfolio`] (marks and exit rules).

pub mod returns;
pub mod shadow;
pub mod trades;

pub use returns::{
    annualized_return, calmar, daily_equity, daily_returns, downside_deviation, equity_figures,
    max_drawdown, sample_std, sharpe, sortino, DailyEquity, Drawdown, EquityFigures,
    EquitySnapshot, TRADING_DAYS,
};
pub use shadow::{
    shadow_follow, shadow_pnl, shadow_position, ChainMarks, ShadowMark, ShadowOutcome,
    ShadowProgress, ShadowProposal,
};
pub use trades::{
    attribution, driving_factor, dte_bucket, trade_stats, ClosedTrade, Dimension, TradeStats,
};
