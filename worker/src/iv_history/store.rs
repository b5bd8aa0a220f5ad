//! Where the IV-history workflows read and write: each method is one SQL
//! constant of [`super::model`] (or one batch of them), executed over D1 by
//! `edge::iv_history` and by [`super::memory`] in the native tests.

use super::model::{BackfillWrite, CoverageRow, SeriesRow, StateWrite, StoredQualityRow};
use crate::store::{LatestRow, StoreError};

/// The IV-history store.
#[allow(async_fn_in_trait)]
pub trait IvHistoryStore {
    /// [`super::model::SELECT_COVERAGE`] for the JSON array `symbols_json`,
    /// days counted from `from` (`YYYY-MM-DD`).
    async fn coverage(
        &self,
        symbols_json: &str,
        from: &str,
    ) -> Result<Vec<CoverageRow>, StoreError>;
    /// ONE batch (all or nothing): [`super::model::UPSERT_IB_BARS`] then
    /// [`super::model::UPSERT_STATE_SUCCESS`]; returns the IV rows written.
    async fn save_fetch(&self, write: &BackfillWrite) -> Result<u64, StoreError>;
    /// [`super::model::UPSERT_STATE_FAILURE`].
    async fn record_failure(&self, write: &StateWrite) -> Result<(), StoreError>;
    /// [`super::model::APPEND_OWN_IV`]; returns the rows written.
    async fn append_own(
        &self,
        symbols_json: &str,
        from: &str,
        before: &str,
        now_ms: i64,
    ) -> Result<u64, StoreError>;
    /// [`super::model::SELECT_SERIES`] for `from <= date <= to`.
    async fn series(
        &self,
        symbol: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<SeriesRow>, StoreError>;
    /// [`crate::store::SELECT_LATEST`] for the JSON array `symbols_json`.
    async fn latest_quotes(&self, symbols_json: &str) -> Result<Vec<LatestRow>, StoreError>;
    /// [`super::model::SELECT_STORED_QUALITY`] for `symbol` (`None`: no row).
    async fn stored_quality(&self, symbol: &str) -> Result<Option<StoredQualityRow>, StoreError>;
}
