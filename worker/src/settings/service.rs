//! Turning the kill switch on or off.

use super::model::kill_switch_on;
use super::store::SettingsStore;
use crate::audit::{AuditAction, AuditEntry};
use crate::store::StoreError;

/// Why the kill switch could not be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetKillSwitchError {
    /// The switch could not be read before the change.
    #[error("{0}")]
    Read(StoreError),
    /// The change (with its audit row) was not stored.
    #[error("{0}")]
    Write(StoreError),
}

/// Sets the kill switch to `on` at `at_ms`, with its audit row (from the
/// state read before) in the same batch.
pub async fn set_kill_switch(
    store: &impl SettingsStore,
    actor: &str,
    on: bool,
    reason: &str,
    at_ms: i64,
) -> Result<(), SetKillSwitchError> {
    let before = kill_switch_on(
        store
            .kill_switch()
            .await
            .map_err(SetKillSwitchError::Read)?
            .as_ref(),
    );
    let word = |b: bool| if b { "on" } else { "off" };
    let entry = AuditEntry {
        at: at_ms,
        actor: actor.to_owned(),
        action: AuditAction::KillSwitchChanged,
        entity: "setting",
        entity_id: Some("kill_switch".into()),
        from_state: Some(word(before).into()),
        to_state: Some(word(on).into()),
        details: serde_json::json!({ "reason": reason }),
    };
    store
        .set_kill_switch(on, at_ms, actor, &entry)
        .await
        .map_err(SetKillSwitchError::Write)
}
