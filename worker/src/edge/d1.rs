//! D1 queries (thin wrappers over the SQL in [`crate::store`]).

use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Result};

use crate::ingest::IngestRun;
use crate::store;

/// Prepares `sql` bound to `params`.
pub fn statement(db: &D1Database, sql: &str, params: &[JsValue]) -> Result<D1PreparedStatement> {
    db.prepare(sql).bind(params)
}

/// All rows of `sql` with `params`.
pub async fn rows<T: DeserializeOwned>(
    db: &D1Database,
    sql: &str,
    params: &[JsValue],
) -> Result<Vec<T>> {
    statement(db, sql, params)?.all().await?.results::<T>()
}

/// The rows of [`store::SELECT_SNAPSHOTS`] (`params` = `[watchlist JSON,
/// since ms]`), fetched packed per symbol ([`store::SELECT_SNAPSHOTS_PACKED`]).
pub async fn snapshots(db: &D1Database, params: &[JsValue]) -> Result<Vec<store::SnapshotRow>> {
    let packed: Vec<store::PackedSnapshotRow> =
        rows(db, store::SELECT_SNAPSHOTS_PACKED, params).await?;
    Ok(store::unpack_snapshots(packed))
}

/// The newest `limit` runs.
pub async fn runs(db: &D1Database, limit: u32) -> Result<Vec<IngestRun>> {
    rows(db, store::SELECT_RUNS, &[JsValue::from(limit)]).await
}

/// Runs a batch (one transaction) and returns the rows the LAST statement produced.
pub async fn batch_last_rows<T: DeserializeOwned>(
    db: &D1Database,
    statements: Vec<D1PreparedStatement>,
) -> Result<Vec<T>> {
    let results = db.batch(statements).await?;
    match results.last() {
        Some(last) => last.results::<T>(),
        None => Ok(Vec::new()),
    }
}

/// A JS string value.
pub fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
}

/// A JS number from a Unix-milliseconds timestamp (exact below 2^53).
#[allow(clippy::cast_precision_loss)]
pub fn millis(ms: i64) -> JsValue {
    JsValue::from_f64(ms as f64)
}

/// A JS string, or null.
pub fn opt_text(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::NULL, JsValue::from_str)
}
