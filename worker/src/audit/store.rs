//! Where the audit log is appended to and read.

use super::model::{AuditEntry, AuditQuery, AuditRow};
use crate::store::StoreError;

/// The audit log's store (D1 in `edge::proposals`, the approvals' in-memory
/// store in the tests). Entries that belong to a change are written by the
/// change's own batch, not here.
#[allow(async_fn_in_trait)]
pub trait AuditStore {
    /// [`super::INSERT_AUDIT`] alone (a refusal that changes nothing).
    async fn append_audit(&self, audit: &AuditEntry) -> Result<(), StoreError>;
    /// [`super::SELECT_AUDIT`].
    async fn audit_log(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, StoreError>;
}
