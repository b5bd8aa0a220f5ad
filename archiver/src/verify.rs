//! `sas-archiver verify`: the archive against the Worker, table by table,
//! over an optional time range. Both sides are reduced to the same
//! canonical rows ([`tables::canonical_row`]); the report gives counts,
//! order-independent checksums (wrapping sum of FNV-1a of each row) and the
//! cursors of the first rows that differ.
//!
//! The comparable span of a table is from the first row the Worker still
//! holds (older ones were pruned after archiving) through the archive's
//! watermark (newer ones are not archived yet). Read-only on both sides:
//! pages are fetched without acknowledging.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::export::ExportClient;
use crate::store::Store;
use crate::tables::{self, Canon, Key, KeyPart, Kind, TableSpec};

/// Rows listed per kind of difference.
pub const MAX_LISTED: usize = 10;

/// The optional time range (Unix ms, `from` inclusive, `to` exclusive) on
/// each table's time column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Range {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

impl Range {
    fn contains(&self, ms: i64) -> bool {
        self.from_ms.is_none_or(|f| ms >= f) && self.to_ms.is_none_or(|t| ms < t)
    }
}

/// A `--from`/`--to` value: RFC 3339, or `YYYY-MM-DD` (00:00 UTC); Unix ms.
pub fn parse_time(raw: &str) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or_else(|| format!("{raw:?} is neither RFC 3339 nor YYYY-MM-DD"))
}

/// One table's verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TableVerify {
    pub table: String,
    /// The archive's watermark (end of the comparable span).
    pub through: Option<String>,
    /// The first row the Worker holds (start of the comparable span).
    pub worker_from: Option<String>,
    pub worker_rows: u64,
    pub archive_rows: u64,
    pub worker_checksum: String,
    pub archive_checksum: String,
    pub ok: bool,
    /// Cursors of Worker rows missing from the archive.
    pub missing_in_archive: Vec<String>,
    /// Cursors of archive rows the Worker does not hold.
    pub extra_in_archive: Vec<String>,
    /// Cursors of rows present on both sides with different values.
    pub differing: Vec<String>,
    /// Why the table could not be verified.
    pub error: Option<String>,
}

fn checksum(rows: &BTreeMap<Key, u64>) -> String {
    let sum = rows.values().fold(0u64, |a, h| a.wrapping_add(*h));
    format!("{sum:016x}")
}

/// Verifies every table of `specs`.
pub async fn verify(
    store: &Store,
    export: &ExportClient,
    specs: &[&'static TableSpec],
    range: Range,
    page_limit: usize,
) -> Vec<TableVerify> {
    let mut out = Vec::new();
    for spec in specs {
        let v = match verify_table(store, export, spec, range, page_limit).await {
            Ok(v) => v,
            Err(e) => TableVerify {
                table: spec.name.to_string(),
                error: Some(e),
                ..TableVerify::default()
            },
        };
        tracing::info!(table = spec.name, ok = v.ok, worker_rows = v.worker_rows, archive_rows = v.archive_rows, error = ?v.error, "table verified");
        out.push(v);
    }
    out
}

/// Verifies one table.
pub async fn verify_table(
    store: &Store,
    export: &ExportClient,
    spec: &'static TableSpec,
    range: Range,
    page_limit: usize,
) -> Result<TableVerify, String> {
    let wm = store
        .watermark(spec.name)
        .await
        .map_err(|e| format!("postgres: {e}"))?;
    let mut v = TableVerify {
        table: spec.name.to_string(),
        through: wm.cursor.clone(),
        ..TableVerify::default()
    };
    let Some(through) = wm.cursor.as_deref() else {
        v.ok = true;
        v.worker_checksum = checksum(&BTreeMap::new());
        v.archive_checksum = v.worker_checksum.clone();
        return Ok(v);
    };
    let through_key = spec
        .parse_cursor(through)
        .ok_or_else(|| format!("the watermark {through:?} is not a cursor of {}", spec.name))?;

    // The Worker's rows up to the watermark.
    let mut worker: BTreeMap<Key, u64> = BTreeMap::new();
    let mut first: Option<Key> = None;
    let mut after: Option<String> = None;
    'pages: loop {
        let page = export
            .page(spec.name, after.as_deref(), page_limit)
            .await
            .map_err(|e| e.to_string())?;
        let Some(next) = page.next_after else { break };
        for row in &page.rows {
            let key = spec
                .key_of(row)
                .ok_or_else(|| format!("a {} row without its export key", spec.name))?;
            if key > through_key {
                break 'pages;
            }
            if first.is_none() {
                first = Some(key.clone());
            }
            let in_range = spec.time_of(row).is_some_and(|ms| range.contains(ms));
            if in_range {
                let canon = tables::canonical_export_row(spec, row)
                    .map_err(|e| format!("row {}: {e}", key.cursor()))?;
                worker.insert(key, tables::fnv1a64(canon.as_bytes()));
            }
        }
        after = Some(next);
    }
    v.worker_from = first.as_ref().map(Key::cursor);

    // The archive's rows in the same span.
    let mut archive: BTreeMap<Key, u64> = BTreeMap::new();
    if let Some(first) = &first {
        for (key, hash) in archive_rows(store, spec, first, &through_key, range).await? {
            if spec.versioned && !worker.contains_key(&key) {
                continue; // an older version of a row the Worker holds newer
            }
            archive.insert(key, hash);
        }
    }
    v.worker_rows = worker.len() as u64;
    v.archive_rows = archive.len() as u64;
    v.worker_checksum = checksum(&worker);
    v.archive_checksum = checksum(&archive);
    for (k, h) in &worker {
        match archive.get(k) {
            None => v.missing_in_archive.push(k.cursor()),
            Some(a) if a != h => v.differing.push(k.cursor()),
            Some(_) => {}
        }
    }
    v.extra_in_archive = archive
        .keys()
        .filter(|k| !worker.contains_key(*k))
        .map(Key::cursor)
        .collect();
    v.ok =
        v.missing_in_archive.is_empty() && v.differing.is_empty() && v.extra_in_archive.is_empty();
    for list in [
        &mut v.missing_in_archive,
        &mut v.differing,
        &mut v.extra_in_archive,
    ] {
        list.truncate(MAX_LISTED);
    }
    Ok(v)
}

/// The Postgres expression of a column in its canonical type.
fn canonical_expr(name: &str, kind: Kind) -> String {
    match kind {
        Kind::Text => format!("{name}::text"),
        Kind::Int => format!("{name}::bigint"),
        Kind::Float => format!("{name}::float8"),
        Kind::TsMs => format!("(extract(epoch FROM {name}) * 1000)::bigint"),
        Kind::TsText => format!("(extract(epoch FROM {name}) * 1000000)::bigint"),
        Kind::Date => format!("to_char({name}, 'YYYY-MM-DD')"),
        Kind::Json => name.to_string(),
    }
}

/// The Postgres expression of a key column, ordered like the export.
fn key_expr(spec: &TableSpec, name: &str) -> String {
    let kind = spec.col(name).map_or(Kind::Text, |c| c.kind);
    let e = canonical_expr(name, kind);
    if spec.key_is_int(name) {
        e
    } else {
        format!("({e} COLLATE \"C\")")
    }
}

fn canon_at(row: &PgRow, i: usize, kind: Kind) -> Result<Canon, sqlx::Error> {
    Ok(match kind {
        Kind::Text | Kind::Date => row
            .try_get::<Option<String>, _>(i)?
            .map_or(Canon::Null, Canon::Text),
        Kind::Int | Kind::TsMs => row
            .try_get::<Option<i64>, _>(i)?
            .map_or(Canon::Null, Canon::Int),
        Kind::TsText => row
            .try_get::<Option<i64>, _>(i)?
            .map_or(Canon::Null, Canon::Micros),
        Kind::Float => row
            .try_get::<Option<f64>, _>(i)?
            .map_or(Canon::Null, Canon::Float),
        Kind::Json => row
            .try_get::<Option<Value>, _>(i)?
            .map_or(Canon::Null, Canon::Json),
    })
}

async fn archive_rows(
    store: &Store,
    spec: &'static TableSpec,
    from: &Key,
    through: &Key,
    range: Range,
) -> Result<Vec<(Key, u64)>, String> {
    let keys: Vec<String> = spec.key.iter().map(|k| key_expr(spec, k)).collect();
    let mut select: Vec<String> = spec
        .cols
        .iter()
        .map(|c| canonical_expr(c.name, c.kind))
        .collect();
    if spec.keep_row {
        select.push("row".to_string());
    }
    let n = spec.key.len();
    let marks = |start: usize| {
        (start..start + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut sql = format!(
        "SELECT {} FROM {t} WHERE ({k}) >= ({lo}) AND ({k}) <= ({hi})",
        select.join(", "),
        t = spec.name,
        k = keys.join(", "),
        lo = marks(1),
        hi = marks(1 + n),
    );
    let mut next = 1 + 2 * n;
    if range.from_ms.is_some() {
        sql.push_str(&format!(
            " AND {} >= to_timestamp(${next}::float8 / 1000)",
            spec.time_col
        ));
        next += 1;
    }
    if range.to_ms.is_some() {
        sql.push_str(&format!(
            " AND {} < to_timestamp(${next}::float8 / 1000)",
            spec.time_col
        ));
    }
    let mut q = sqlx::query(&sql);
    for key in [from, through] {
        for part in &key.0 {
            q = match part {
                KeyPart::Int(i) => q.bind(*i),
                KeyPart::Text(s) => q.bind(s.clone()),
            };
        }
    }
    for bound in [range.from_ms, range.to_ms].into_iter().flatten() {
        q = q.bind(bound);
    }
    let rows = q
        .fetch_all(store.pool())
        .await
        .map_err(|e| format!("postgres: {e}"))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let values = spec
            .cols
            .iter()
            .enumerate()
            .map(|(i, c)| canon_at(row, i, c.kind))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("postgres: {e}"))?;
        let whole: Option<Value> = if spec.keep_row {
            Some(
                row.try_get::<Value, _>(spec.cols.len())
                    .map_err(|e| format!("postgres: {e}"))?,
            )
        } else {
            None
        };
        let key = Key(spec
            .key
            .iter()
            .map(|k| {
                let i = spec.cols.iter().position(|c| c.name == *k).unwrap_or(0);
                match values.get(i) {
                    Some(Canon::Int(n)) => KeyPart::Int(*n),
                    Some(Canon::Text(s)) => KeyPart::Text(s.clone()),
                    _ => KeyPart::Text(String::new()),
                }
            })
            .collect());
        let canon = tables::canonical_row(spec, &values, whole.as_ref());
        out.push((key, tables::fnv1a64(canon.as_bytes())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_bounds_parse_and_apply() {
        assert_eq!(parse_time("2026-12-01"), Ok(1_796_083_200_000));
        assert_eq!(parse_time("2026-12-01T00:00:01Z"), Ok(1_796_083_201_000));
        assert!(parse_time("yesterday").is_err());
        let r = Range {
            from_ms: Some(10),
            to_ms: Some(20),
        };
        assert!(!r.contains(9) && r.contains(10) && r.contains(19) && !r.contains(20));
        assert!(Range::default().contains(i64::MIN));
    }
}
