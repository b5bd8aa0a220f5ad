//! `POST /sim/control` and `POST /sim/clock`: test controls of the
//! simulated broker (only under `--broker sim`; the routes do not exist in
//! IB mode). Moves an underlying, widens spreads, changes how resting orders
//! fill, or moves the simulated clock forward, so tests can drive exits and
//! whole simulated days deterministically.

use chrono::{DateTime, Utc};
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

/// `POST /sim/clock` body: move the simulated clock forward to `at` (RFC
/// 3339), from where it runs on with the wall clock. Simulated broker only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimClockRequest {
    /// The simulated time to move to; not before the current simulated time.
    pub at: DateTime<Utc>,
}

/// `POST /sim/clock` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimClockOutcome {
    /// The simulated time after the change (`at`, or the current simulated
    /// time when `at` named the current second: nothing changed).
    pub simulated_time: DateTime<Utc>,
    /// Whether the market was rebuilt at `at` (a jump of more than one
    /// hour) rather than stepped there second by second.
    pub rebuilt: bool,
}
