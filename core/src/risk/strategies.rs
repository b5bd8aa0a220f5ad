//! Strategies enabled or disabled at run time, as data. A disabled strategy
//! generates no proposals; its open positions are still managed (marks,
//! exits, closing orders run as before).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::state::Stamp;
use crate::strategy::StrategyKind;

/// Disabled strategies with who/why/when; anything absent is enabled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrategySwitches {
    pub disabled: BTreeMap<StrategyKind, Stamp>,
}

impl StrategySwitches {
    /// May the engine propose new trades of `kind`?
    #[must_use]
    pub fn may_generate(&self, kind: StrategyKind) -> bool {
        !self.disabled.contains_key(&kind)
    }

    /// Are open positions of `kind` managed? Always: disabling stops entries
    /// only.
    #[must_use]
    pub fn may_manage(&self, _kind: StrategyKind) -> bool {
        true
    }

    /// Disables `kind` (returns false when it already was).
    pub fn disable(&mut self, kind: StrategyKind, stamp: Stamp) -> bool {
        self.disabled.insert(kind, stamp).is_none()
    }

    /// Enables `kind` (returns false when it already was).
    pub fn enable(&mut self, kind: StrategyKind) -> bool {
        self.disabled.remove(&kind).is_some()
    }
}
