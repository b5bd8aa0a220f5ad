//! D1 schema access: SQL text and row types (pure; executed by `edge::d1`).
//! The schema lives in `migrations/d1/`.

use serde::Deserialize;

/// The archive export's settle window (ms): a row keyed by a time is
/// exported only once older than this, so no writer may store a row whose key
/// time is already older (`export::model::SETTLE_MS`, `ingest::MAX_QUOTE_AGE_MS`).
pub const ARCHIVE_SETTLE_MS: i64 = 30 * 60 * 1000;

/// Inserts every row of the JSON array bound as `?1` (see
/// [`crate::ingest::rows_json`]) in one statement; rows already stored for the
/// same `(symbol, ts)` are kept as they are.
pub const INSERT_QUOTES: &str = "INSERT INTO market_data (symbol, ts, bid, ask, last, volume, data_type) \
SELECT json_extract(value, '$.s'), json_extract(value, '$.t'), json_extract(value, '$.b'), \
json_extract(value, '$.a'), json_extract(value, '$.l'), json_extract(value, '$.v'), json_extract(value, '$.d') \
FROM json_each(?1) WHERE true \
ON CONFLICT (symbol, ts) DO NOTHING";

/// Records a run that wrote quotes: `rows_written` is taken from `changes()`,
/// i.e. the rows inserted by the statement just before it in the same batch.
pub const INSERT_RUN_AFTER_WRITE: &str = "INSERT INTO ingest_runs \
(trigger, started_at, finished_at, status, symbols_ok, symbols_failed, rows_written, error) \
VALUES (?1, ?2, ?3, ?4, ?5, ?6, changes(), ?7) \
RETURNING id, trigger, started_at, finished_at, status, symbols_ok, symbols_failed, rows_written, error";

/// Records a run that wrote nothing (skipped or failed).
pub const INSERT_RUN_NO_WRITE: &str = "INSERT INTO ingest_runs \
(trigger, started_at, finished_at, status, symbols_ok, symbols_failed, rows_written, error) \
VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7) \
RETURNING id, trigger, started_at, finished_at, status, symbols_ok, symbols_failed, rows_written, error";

/// Deletes market data older than `?1` (Unix ms), but never within `?2` ms
/// of the newest row stored before this run's insert (it runs first in the
/// batch): after a long gap the newest N days that exist are kept. With the
/// archive gate `?3` = 1 (an archiver is configured,
/// [`crate::config::archive::PruneGate`]) only rows at or before the
/// acknowledged export cursor go: nothing unarchived is deleted, and nothing
/// at all before the first ack.
pub const PRUNE_MARKET_DATA: &str = "DELETE FROM market_data \
WHERE ts < MIN(?1, (SELECT MAX(ts) FROM market_data) - ?2) \
AND (?3 = 0 OR (ts, symbol) <= (SELECT k1, k2 FROM archive_acks WHERE table_name = 'market_data'))";

/// Keeps the newest [`KEPT_RUNS`] run records; with the archive gate `?1` =
/// 1 only those the archive acknowledged.
pub const PRUNE_RUNS: &str = "DELETE FROM ingest_runs \
WHERE id <= (SELECT MAX(id) FROM ingest_runs) - 10000 \
AND (?1 = 0 OR (id) <= (SELECT k1 FROM archive_acks WHERE table_name = 'ingest_runs'))";

/// Run records kept by [`PRUNE_RUNS`] (about 100 days of 15-minute runs).
pub const KEPT_RUNS: i64 = 10_000;

/// Newest runs first, `?1` = limit.
pub const SELECT_RUNS: &str = "SELECT id, trigger, started_at, finished_at, status, symbols_ok, \
symbols_failed, rows_written, error FROM ingest_runs ORDER BY id DESC LIMIT ?1";

/// Latest stored quote of each symbol of the JSON array `?1`, in list order.
pub const SELECT_LATEST: &str =
    "SELECT m.symbol, m.ts, m.bid, m.ask, m.last, m.volume, m.data_type \
FROM json_each(?1) AS w \
JOIN market_data AS m ON m.symbol = w.value \
AND m.ts = (SELECT MAX(ts) FROM market_data WHERE symbol = w.value) \
ORDER BY w.key";

/// One symbol's rows since `?2` (Unix ms), oldest first.
pub const SELECT_HISTORY: &str = "SELECT ts, last, bid, ask, volume FROM market_data \
WHERE symbol = ?1 AND ts >= ?2 ORDER BY ts";

/// Price/volume rows since `?2` (Unix ms) of each symbol of the JSON array
/// `?1`, grouped by symbol in list order, oldest first.
pub const SELECT_SNAPSHOTS: &str = "SELECT m.symbol, m.ts, m.last, m.volume \
FROM json_each(?1) AS w \
JOIN market_data AS m ON m.symbol = w.value AND m.ts >= ?2 \
ORDER BY w.key, m.ts";

/// The same rows as [`SELECT_SNAPSHOTS`], packed: one row per symbol of the
/// JSON array `?1` (list order) whose `points` column is a JSON array of
/// `[ts, last, volume]` since `?2` (Unix ms), oldest first. Crossing the
/// JS/wasm boundary once per symbol instead of once per row is what keeps
/// `/search/opportunities` fast over a full retention window; see
/// [`unpack_snapshots`].
pub const SELECT_SNAPSHOTS_PACKED: &str = "SELECT w.value AS symbol, \
(SELECT json_group_array(json_array(p.ts, p.last, p.volume)) FROM \
(SELECT ts, last, volume FROM market_data WHERE symbol = w.value AND ts >= ?2 ORDER BY ts) AS p) AS points \
FROM json_each(?1) AS w ORDER BY w.key";

/// Row of [`SELECT_SNAPSHOTS_PACKED`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PackedSnapshotRow {
    pub symbol: String,
    /// JSON array of `[ts, last, volume]` triples.
    pub points: Option<String>,
}

/// Expands packed rows into [`SnapshotRow`]s, grouped by symbol in row order
/// and sorted by time within a symbol. Malformed points are skipped.
pub fn unpack_snapshots(rows: Vec<PackedSnapshotRow>) -> Vec<SnapshotRow> {
    let mut out = Vec::new();
    for row in rows {
        let points: Vec<(i64, Option<f64>, Option<i64>)> = row
            .points
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_default();
        let start = out.len();
        out.extend(points.into_iter().map(|(ts, last, volume)| SnapshotRow {
            symbol: row.symbol.clone(),
            ts,
            last,
            volume,
        }));
        if let Some(slice) = out.get_mut(start..) {
            slice.sort_by_key(|r| r.ts);
        }
    }
    out
}

/// A cheap query proving D1 answers.
pub const PING: &str = "SELECT 1 AS ok";

/// Row of [`SELECT_LATEST`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LatestRow {
    pub symbol: String,
    pub ts: i64,
    pub bid: Option<f64>,
    pub ask: Option<f64>,
    pub last: Option<f64>,
    pub volume: Option<i64>,
    pub data_type: String,
}

/// Row of [`SELECT_HISTORY`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HistoryRow {
    pub ts: i64,
    pub last: Option<f64>,
    pub bid: Option<f64>,
    pub ask: Option<f64>,
    pub volume: Option<i64>,
}

/// Row of [`SELECT_SNAPSHOTS`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SnapshotRow {
    pub symbol: String,
    pub ts: i64,
    pub last: Option<f64>,
    pub volume: Option<i64>,
}

/// A storage failure (D1 error, failed batch); details for the log only.
/// Every store trait of the workflows answers with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_snapshots_unpack_in_order() {
        let rows = vec![
            PackedSnapshotRow {
                symbol: "AAPL".into(),
                points: Some("[[2000,101.5,20],[1000,100.0,10],[3000,null,null]]".into()),
            },
            PackedSnapshotRow {
                symbol: "SPY".into(),
                points: Some("[]".into()),
            },
            PackedSnapshotRow {
                symbol: "QQQ".into(),
                points: Some("not json".into()),
            },
            PackedSnapshotRow {
                symbol: "IWM".into(),
                points: Some("[[5,1.0,1]]".into()),
            },
        ];
        let out = unpack_snapshots(rows);
        let got: Vec<(&str, i64, Option<f64>, Option<i64>)> = out
            .iter()
            .map(|r| (r.symbol.as_str(), r.ts, r.last, r.volume))
            .collect();
        assert_eq!(
            got,
            [
                ("AAPL", 1000, Some(100.0), Some(10)),
                ("AAPL", 2000, Some(101.5), Some(20)),
                ("AAPL", 3000, None, None),
                ("IWM", 5, Some(1.0), Some(1)),
            ]
        );
    }

    #[test]
    fn prune_runs_keeps_the_documented_number() {
        assert!(PRUNE_RUNS.contains(&KEPT_RUNS.to_string()));
    }
}
