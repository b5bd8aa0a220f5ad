//! Where the audit log is appended to and read.

use super::model::{AuditEntry, AuditRow};
use crate::store::StoreError;

/// The audit log's store (D1 in `edge::proposals`, the approvals' in-memory
/// store in the tests). Entries that belong to a change are written by the
/// change's own batch, not here.
#[allow(async_fn_in_trait)]
pub trait AuditStore {
    /// [`super::INSERT_AUDIT`] alone (a refusal that changes nothing).
    async fn append_audit(&self, audit: &AuditEntry) -> Result<(), StoreError>;
    /// [`super::SELECT_AUDIT`] / [`super::SELECT_AUDIT_OF_PROPOSAL`].
    async fn audit_log(
        &self,
        limit: u32,
        proposal: Option<i64>,
    ) -> Result<Vec<AuditRow>, StoreError>;
}
