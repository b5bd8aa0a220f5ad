//! What the export needs from storage: a thin executor of the model's
//! queries (D1 in `edge::export`, the real `sqlite3` in the tests).

use serde_json::{Map, Value};

use super::model::{AckRow, Query};
pub use crate::store::StoreError;

/// Runs the export's queries. The futures are not `Send` (D1), hence
/// `async fn` with static dispatch.
#[allow(async_fn_in_trait)]
pub trait ExportStore {
    /// The rows of a read ([`super::model::page_query`]), each an object of
    /// the D1 column names and SQLite values.
    async fn rows(&self, q: &Query) -> Result<Vec<Map<String, Value>>, StoreError>;
    /// The `n` column of a count ([`super::model::exportable_query`],
    /// [`super::model::unacknowledged_count_query`]).
    async fn count(&self, q: &Query) -> Result<u64, StoreError>;
    /// Runs one write ([`super::model::record_ack_query`]).
    async fn execute(&self, q: &Query) -> Result<(), StoreError>;
    /// [`super::model::SELECT_ACKS`].
    async fn acks(&self) -> Result<Vec<AckRow>, StoreError>;
}
