//! The rules that turn stored state into the inputs of a new entry, moved
//! here from the Worker so they are pure, tested once, and shared by
//! whatever else decides entries:
//!
//! - [`open_trades`]: which stored trades count as open (limits and heat),
//!   pending, or made today.
//! - [`regime`]: a symbol's volatility snapshot scaled into
//!   [`crate::strategy::RegimeInputs`].
//! - [`factors`]: how chain and intraday factor inputs combine before the
//!   ranking ([`crate::score::rank`]).
//! - [`order_checks`]: the economic checks of an approved order at its
//!   re-priced numbers (the wire checks are `sas_bridge_api`'s).

pub mod factors;
pub mod open_trades;
pub mod order_checks;
pub mod regime;
