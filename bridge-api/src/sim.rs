//! `POST /sim/control`: test controls of the simulated broker (only under
//! `--broker sim`; the route does not exist in IB mode). Moves an
//! underlying, widens spreads, or changes how resting orders fill, so tests
//! can drive exits deterministically.

use serde::{Deserialize, Serialize};

use crate::market::Quote;

/// How the simulated broker fills marketable orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FillMode {
    /// A marketable order fills completely (the default).
    #[default]
    Full,
    /// A marketable order fills a seeded part of what is left (at least one
    /// unit, fewer than all when more than one is left), once; the rest
    /// waits until the mode is `full` again. Same seed, same fills.
    Partial,
    /// Nothing fills; orders rest.
    None,
}

/// `POST /sim/control` body. Every field is optional, at least one must be
/// given; `symbol` is required with `move_pct` or `spread_multiplier`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimControlRequest {
    /// Underlying the price and spread controls apply to.
    #[serde(default)]
    pub symbol: Option<String>,
    /// Move the underlying by this percentage from now on (options follow);
    /// moves compound.
    #[serde(default)]
    pub move_pct: Option<f64>,
    /// Multiply the bid/ask spreads of the underlying and its options
    /// (1 = the seeded spreads).
    #[serde(default)]
    pub spread_multiplier: Option<f64>,
    /// How marketable orders fill from now on.
    #[serde(default)]
    pub fill: Option<FillMode>,
}

/// `POST /sim/control` answer: the fill mode in force and, when a symbol
/// was named, its quote after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimControlOutcome {
    /// Fill mode in force.
    pub fill: FillMode,
    /// Quote of `symbol` after the change.
    pub quote: Option<Quote>,
}
