//! The `settings` table's rows and SQL: the kill switch.

use serde::Deserialize;

/// Reads the kill switch.
pub const SELECT_KILL_SWITCH: &str =
    "SELECT value, updated_at, updated_by FROM settings WHERE key = 'kill_switch'";

/// Row of [`SELECT_KILL_SWITCH`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct KillSwitchRow {
    pub value: String,
    pub updated_at: i64,
    pub updated_by: String,
}

/// Whether the kill switch blocks new entries. Fails closed: anything but an
/// explicit `off` row (missing row, unknown value) counts as ON.
pub fn kill_switch_on(row: Option<&KillSwitchRow>) -> bool {
    row.is_none_or(|r| r.value != "off")
}

/// Sets the kill switch (`?1` 'on'|'off', `?2` now, `?3` actor).
pub const SET_KILL_SWITCH: &str = "INSERT INTO settings (key, value, updated_at, updated_by) \
VALUES ('kill_switch', ?1, ?2, ?3) \
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, \
updated_by = excluded.updated_by";
