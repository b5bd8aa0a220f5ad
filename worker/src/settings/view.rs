//! The kill switch as `GET /kill-switch` and `POST /kill-switch` show it.

use super::model::{kill_switch_on, KillSwitchRow};
use crate::audit;

/// The kill switch as `GET /kill-switch` shows it.
pub fn kill_switch_view(row: Option<&KillSwitchRow>) -> serde_json::Value {
    serde_json::json!({
        "on": kill_switch_on(row),
        "updated_at": row.map(|r| audit::iso_ms(r.updated_at)),
        "updated_by": row.map(|r| r.updated_by.clone()),
    })
}
