//! Positions, marks, P&L, exit rules, closing orders and heat: what
//! happens to an approved trade after its order is sent.
//!
//! Dependencies point one way: `contract` ← `keys` ← `position` ← `marks` ←
//! `exit_rules`, `closing`; `heat` ← `position` and [`crate::orders`].
//! Money is exact ([`crate::money::Money`]). See docs/positions.md.

pub mod closing;
pub mod contract;
pub mod exit_rules;
pub mod heat;
pub mod keys;
pub mod marks;
pub mod position;

pub use closing::{
    closing_combo, next_closing_action, walk_price, ClosingAction, ClosingAttempt, ClosingCombo,
    ClosingLeg, ClosingOrder, WaitReason, WalkPolicy, WalkRefusal,
};
pub use contract::{ContractId, ContractKind, OPTION_MULTIPLIER};
pub use exit_rules::{
    evaluate_exits, ExitConfig, ExitDecision, ExitEvaluation, ExitReason, ExitState,
};
pub use heat::{heat, ApprovedTrade, Heat};
pub use keys::{belongs_to, closing_attempt_of, closing_key};
pub use marks::{
    mark_position, pnl_totals, ContractQuote, LegMark, Mark, MarkGreeks, MarkPolicy, MarkRejection,
    PnlTotals,
};
pub use position::{
    CommissionReport, Execution, Ledger, PlannedLeg, Position, PositionLeg, PositionSpec,
    PositionStatus, Recorded,
};
