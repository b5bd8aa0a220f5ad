//! Where the settings are read and written.

use super::model::KillSwitchRow;
use crate::audit::AuditEntry;
use crate::store::StoreError;

/// The settings store (D1 in `edge::proposals`, the approvals' in-memory
/// store in the tests).
#[allow(async_fn_in_trait)]
pub trait SettingsStore {
    /// [`super::SELECT_KILL_SWITCH`].
    async fn kill_switch(&self) -> Result<Option<KillSwitchRow>, StoreError>;
    /// Whether a standing reconciliation drift stops new entries
    /// ([`crate::positions::model::SELECT_DRIFT_BLOCKS_ENTRIES`]).
    async fn drift_blocks_entries(&self) -> Result<bool, StoreError>;
    /// [`super::SET_KILL_SWITCH`] + [`crate::audit::INSERT_AUDIT`], one batch.
    async fn set_kill_switch(
        &self,
        on: bool,
        at_ms: i64,
        actor: &str,
        audit: &AuditEntry,
    ) -> Result<(), StoreError>;
}
