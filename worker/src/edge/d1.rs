//! D1 queries through the `worker` crate's typed parameters: every value is
//! a [`D1Type`] bound with `bind_refs` (no hand-made `JsValue`s). D1Type's
//! `Integer` is an `i32`, so Unix-ms timestamps, ids and counts bind as
//! `Real` (a JS number, exact below 2^53 — what D1 receives either way).

use serde::de::DeserializeOwned;
use worker::{D1Database, D1PreparedStatement, D1Type, Result};

use crate::ingest::IngestRun;
use crate::store;

/// Prepares `sql` bound to `params`.
pub fn statement(db: &D1Database, sql: &str, params: &[D1Type<'_>]) -> Result<D1PreparedStatement> {
    db.prepare(sql).bind_refs(params)
}

/// All rows of `sql` with `params`.
pub async fn rows<T: DeserializeOwned>(
    db: &D1Database,
    sql: &str,
    params: &[D1Type<'_>],
) -> Result<Vec<T>> {
    statement(db, sql, params)?.all().await?.results::<T>()
}

/// The rows of [`store::SELECT_SNAPSHOTS`] (`params` = `[watchlist JSON,
/// since ms]`), fetched packed per symbol ([`store::SELECT_SNAPSHOTS_PACKED`]).
pub async fn snapshots(db: &D1Database, params: &[D1Type<'_>]) -> Result<Vec<store::SnapshotRow>> {
    let packed: Vec<store::PackedSnapshotRow> =
        rows(db, store::SELECT_SNAPSHOTS_PACKED, params).await?;
    Ok(store::unpack_snapshots(packed))
}

/// The newest `limit` runs.
pub async fn runs(db: &D1Database, limit: u32) -> Result<Vec<IngestRun>> {
    rows(db, store::SELECT_RUNS, &[uint(limit)]).await
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

/// A text value.
pub fn text(s: &str) -> D1Type<'_> {
    D1Type::Text(s)
}

/// An `i64` (an id, a count): a JS number, exact below 2^53 (see the
/// module note on `Integer`).
#[allow(clippy::cast_precision_loss)]
pub fn int(n: i64) -> D1Type<'static> {
    D1Type::Real(n as f64)
}

/// A Unix-milliseconds timestamp.
pub fn millis(ms: i64) -> D1Type<'static> {
    int(ms)
}

/// An unsigned count or limit.
pub fn uint(n: u32) -> D1Type<'static> {
    D1Type::Real(f64::from(n))
}

/// An `i64` (see [`int`]), or NULL.
pub fn opt_int(n: Option<i64>) -> D1Type<'static> {
    n.map_or(D1Type::Null, int)
}

/// A text value, or NULL.
pub fn opt_text(s: Option<&str>) -> D1Type<'_> {
    s.map_or(D1Type::Null, D1Type::Text)
}
