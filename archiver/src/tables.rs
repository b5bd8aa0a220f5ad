//! The exported tables (docs/archive.md) and the strict parse of an export
//! row into one line of Postgres `COPY … FROM STDIN` text format.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// How a D1 value (as JSON) becomes a Postgres value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Float,
    /// INTEGER Unix milliseconds → timestamptz.
    TsMs,
    /// TEXT RFC 3339 → timestamptz.
    TsText,
    /// TEXT `YYYY-MM-DD` → date.
    Date,
    /// TEXT holding JSON → jsonb.
    Json,
}

#[derive(Debug, Clone, Copy)]
pub struct Col {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
}

const fn c(name: &'static str, kind: Kind) -> Col {
    Col {
        name,
        kind,
        nullable: false,
    }
}

const fn n(name: &'static str, kind: Kind) -> Col {
    Col {
        name,
        kind,
        nullable: true,
    }
}

#[derive(Debug)]
pub struct TableSpec {
    pub name: &'static str,
    pub cols: &'static [Col],
    /// Monthly range-partitioned on this timestamptz column.
    pub partition_col: Option<&'static str>,
    /// A trailing `row jsonb` column holds the whole export row; columns not
    /// listed in `cols` are then allowed (kept in `row`).
    pub keep_row: bool,
}

use Kind::{Date, Float, Int, Json, Text, TsMs, TsText};

pub const MARKET_DATA: TableSpec = TableSpec {
    name: "market_data",
    cols: &[
        c("symbol", Text),
        c("ts", TsMs),
        n("bid", Float),
        n("ask", Float),
        n("last", Float),
        n("volume", Int),
        c("data_type", Text),
    ],
    partition_col: Some("ts"),
    keep_row: false,
};

pub const CHAIN_SNAPSHOTS: TableSpec = TableSpec {
    name: "chain_snapshots",
    cols: &[
        c("symbol", Text),
        c("ts", TsMs),
        c("expiry", Date),
        c("dte", Int),
        c("forward", Float),
        n("atm_iv", Float),
        n("skew_25d", Float),
        c("contracts_json", Json),
    ],
    partition_col: Some("ts"),
    keep_row: false,
};

pub const UNDERLYING_METRICS_INTRADAY: TableSpec = TableSpec {
    name: "underlying_metrics_intraday",
    cols: &[
        c("symbol", Text),
        c("ts", TsMs),
        c("spot", Float),
        n("atm_iv_30d", Float),
        n("iv_rank", Float),
        n("iv_percentile", Float),
        c("iv_history_days", Int),
        n("rv_20d", Float),
        n("skew_25d_30d", Float),
        n("gex_per_1pct", Float),
        n("dex", Float),
        c("contracts_valued", Int),
        c("skips_json", Json),
        c("metrics_json", Json),
        c("factors_json", Json),
    ],
    partition_col: Some("ts"),
    keep_row: false,
};

pub const INGEST_RUNS: TableSpec = TableSpec {
    name: "ingest_runs",
    cols: &[
        c("id", Int),
        c("trigger", Text),
        c("started_at", TsText),
        n("finished_at", TsText),
        c("status", Text),
        c("symbols_ok", Int),
        c("symbols_failed", Int),
        c("rows_written", Int),
        n("error", Text),
        n("chain_symbols_ok", Int),
        n("chain_symbols_failed", Int),
        n("chain_failures", Json),
        n("rows_by_table", Json),
        n("contract_skips", Json),
        n("duration_ms", Int),
    ],
    partition_col: None,
    keep_row: false,
};

pub const AUDIT_LOG: TableSpec = TableSpec {
    name: "audit_log",
    cols: &[
        c("id", Int),
        c("at", TsMs),
        c("actor", Text),
        c("action", Text),
        c("entity", Text),
        n("entity_id", Text),
        n("from_state", Text),
        n("to_state", Text),
        c("details", Json),
    ],
    partition_col: None,
    keep_row: false,
};

pub const PROPOSALS: TableSpec = TableSpec {
    name: "proposals",
    cols: &[
        c("id", Int),
        c("updated_at", TsMs),
        c("symbol", Text),
        c("strategy", Text),
        c("status", Text),
        c("trade_date", Date),
        c("created_at", TsMs),
        n("order_status", Text),
    ],
    partition_col: None,
    keep_row: true,
};

/// Every exported table, in the order a run archives them.
pub const ALL: &[&TableSpec] = &[
    &MARKET_DATA,
    &CHAIN_SNAPSHOTS,
    &UNDERLYING_METRICS_INTRADAY,
    &INGEST_RUNS,
    &AUDIT_LOG,
    &PROPOSALS,
];

pub fn by_name(name: &str) -> Option<&'static TableSpec> {
    ALL.iter().copied().find(|t| t.name == name)
}

impl TableSpec {
    /// Postgres column list, in COPY order.
    pub fn pg_columns(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self.cols.iter().map(|c| c.name).collect();
        if self.keep_row {
            v.push("row");
        }
        v
    }
}

/// A row of an export page that does not match the table's columns.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{table} row {index}: {reason}")]
pub struct RowError {
    pub table: &'static str,
    pub index: usize,
    pub reason: String,
}

/// A parsed page: COPY text lines, and the (year, month) of every
/// partition-key time seen (UTC).
#[derive(Debug, Default)]
pub struct CopyPage {
    pub text: String,
    pub rows: usize,
    pub months: BTreeSet<(i32, u32)>,
}

/// Parses every row of a page (all or nothing) into COPY text format.
pub fn to_copy(spec: &'static TableSpec, rows: &[Value]) -> Result<CopyPage, RowError> {
    let mut page = CopyPage {
        text: String::with_capacity(rows.len() * 64),
        ..CopyPage::default()
    };
    for (index, row) in rows.iter().enumerate() {
        let err = |reason: String| RowError {
            table: spec.name,
            index,
            reason,
        };
        let obj = row
            .as_object()
            .ok_or_else(|| err("not a JSON object".into()))?;
        if !spec.keep_row {
            if let Some(k) = obj.keys().find(|k| !spec.cols.iter().any(|c| c.name == *k)) {
                return Err(err(format!("unknown column {k:?}")));
            }
        }
        for (i, col) in spec.cols.iter().enumerate() {
            if i > 0 {
                page.text.push('\t');
            }
            let ts = write_value(&mut page.text, col, obj.get(col.name))
                .map_err(|r| err(format!("column {:?}: {r}", col.name)))?;
            if spec.partition_col == Some(col.name) {
                if let Some(t) = ts.and_then(DateTime::<Utc>::from_timestamp_millis) {
                    page.months.insert((t.year(), t.month()));
                }
            }
        }
        if spec.keep_row {
            page.text.push('\t');
            escape_into(&mut page.text, &Value::Object(obj.clone()).to_string());
        }
        page.text.push('\n');
        page.rows += 1;
    }
    Ok(page)
}

/// Writes one COPY field; returns the time in ms for timestamp columns.
fn write_value(out: &mut String, col: &Col, v: Option<&Value>) -> Result<Option<i64>, String> {
    let v = match v {
        None | Some(Value::Null) if col.nullable => {
            out.push_str("\\N");
            return Ok(None);
        }
        None => return Err("missing".into()),
        Some(Value::Null) => return Err("null in a NOT NULL column".into()),
        Some(v) => v,
    };
    match col.kind {
        Kind::Text => {
            let s = v
                .as_str()
                .ok_or_else(|| format!("expected text, got {v}"))?;
            escape_into(out, s);
            Ok(None)
        }
        Kind::Int => {
            let i = v
                .as_i64()
                .ok_or_else(|| format!("expected integer, got {v}"))?;
            out.push_str(&i.to_string());
            Ok(None)
        }
        Kind::Float => {
            let f = v
                .as_f64()
                .ok_or_else(|| format!("expected number, got {v}"))?;
            out.push_str(&f.to_string());
            Ok(None)
        }
        Kind::TsMs => {
            let ms = v
                .as_i64()
                .ok_or_else(|| format!("expected Unix ms integer, got {v}"))?;
            let t = DateTime::<Utc>::from_timestamp_millis(ms)
                .ok_or_else(|| format!("time out of range: {ms}"))?;
            out.push_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true));
            Ok(Some(ms))
        }
        Kind::TsText => {
            let s = v
                .as_str()
                .ok_or_else(|| format!("expected RFC 3339 text, got {v}"))?;
            let t = DateTime::parse_from_rfc3339(s).map_err(|e| format!("{s:?}: {e}"))?;
            out.push_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
            Ok(None)
        }
        Kind::Date => {
            let s = v
                .as_str()
                .ok_or_else(|| format!("expected YYYY-MM-DD, got {v}"))?;
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| format!("{s:?}: {e}"))?;
            out.push_str(&d.format("%Y-%m-%d").to_string());
            Ok(None)
        }
        Kind::Json => {
            let s = v
                .as_str()
                .ok_or_else(|| format!("expected JSON text, got {v}"))?;
            let parsed: Value = serde_json::from_str(s).map_err(|e| format!("bad JSON: {e}"))?;
            escape_into(out, &parsed.to_string());
            Ok(None)
        }
    }
}

/// COPY text format escaping (backslash, tab, newline, carriage return).
fn escape_into(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Convenience for tests and the fake export server: a row object.
pub fn row(pairs: &[(&str, Value)]) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert((*k).to_string(), v.clone());
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn market_row_becomes_one_copy_line() {
        let r = json!({"symbol":"S\tP","ts":1_700_000_000_123_i64,"bid":1.5,"ask":null,"last":2,"volume":7,"data_type":"live"});
        let p = to_copy(&MARKET_DATA, &[r]).expect("parses");
        assert_eq!(
            p.text,
            "S\\tP\t2023-11-14T22:13:20.123Z\t1.5\t\\N\t2\t7\tlive\n"
        );
        assert_eq!(p.months.iter().collect::<Vec<_>>(), vec![&(2023, 11)]);
    }

    #[test]
    fn bad_rows_are_refused_with_the_row_and_column() {
        let ok = json!({"symbol":"SPY","ts":1,"data_type":"live"});
        let bad = json!({"symbol":"SPY","ts":"yesterday","data_type":"live"});
        let e = to_copy(&MARKET_DATA, &[ok.clone(), bad]).expect_err("refused");
        assert_eq!(e.index, 1);
        assert!(e.reason.contains("\"ts\""), "{e}");
        let extra = json!({"symbol":"SPY","ts":1,"data_type":"live","new_col":1});
        assert!(to_copy(&MARKET_DATA, &[extra]).is_err());
        let missing = json!({"symbol":"SPY","ts":1});
        assert!(to_copy(&MARKET_DATA, &[missing]).is_err());
        let json_col =
            json!({"id":1,"at":1,"actor":"a","action":"b","entity":"c","details":"{not json"});
        assert!(to_copy(&AUDIT_LOG, &[json_col]).is_err());
    }
}
