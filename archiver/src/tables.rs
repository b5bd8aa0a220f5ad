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
    /// The export key (docs/archive.md), in order: its cursor is these
    /// values joined by `|`. Each names a column of `cols`.
    pub key: &'static [&'static str],
    /// The column `verify --from/--to` ranges over (a time).
    pub time_col: &'static str,
    /// Postgres keeps every exported version of a row (the key includes a
    /// change time) while the Worker holds only the newest: `verify` then
    /// checks that each Worker row is archived, not the reverse.
    pub versioned: bool,
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
    key: &["ts", "symbol"],
    time_col: "ts",
    versioned: false,
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
    key: &["ts", "symbol", "expiry"],
    time_col: "ts",
    versioned: false,
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
    key: &["ts", "symbol"],
    time_col: "ts",
    versioned: false,
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
    key: &["id"],
    time_col: "started_at",
    versioned: false,
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
    key: &["id"],
    time_col: "at",
    versioned: false,
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
    key: &["updated_at", "id"],
    time_col: "updated_at",
    versioned: true,
    partition_col: None,
    keep_row: true,
};

pub const POSITIONS: TableSpec = TableSpec {
    name: "positions",
    cols: &[
        c("id", Int),
        c("updated_at", TsMs),
        c("key", Text),
        c("symbol", Text),
        c("strategy", Text),
        c("status", Text),
    ],
    key: &["updated_at", "id"],
    time_col: "updated_at",
    versioned: true,
    partition_col: None,
    keep_row: true,
};

pub const ORDERS: TableSpec = TableSpec {
    name: "orders",
    cols: &[
        c("id", Int),
        c("updated_at", TsMs),
        c("key", Text),
        c("position_id", Int),
        c("purpose", Text),
        c("status", Text),
    ],
    key: &["updated_at", "id"],
    time_col: "updated_at",
    versioned: true,
    partition_col: None,
    keep_row: true,
};

pub const FILLS: TableSpec = TableSpec {
    name: "fills",
    cols: &[
        c("id", Int),
        c("changed_at", TsMs),
        c("exec_id", Text),
        c("position_id", Int),
        c("time", TsMs),
    ],
    key: &["changed_at", "id"],
    time_col: "changed_at",
    versioned: true,
    partition_col: None,
    keep_row: true,
};

pub const MARKS: TableSpec = TableSpec {
    name: "marks",
    cols: &[c("position_id", Int), c("at", TsMs), c("ok", Int)],
    key: &["at", "position_id"],
    time_col: "at",
    versioned: false,
    partition_col: None,
    keep_row: true,
};

pub const EQUITY_SNAPSHOTS: TableSpec = TableSpec {
    name: "equity_snapshots",
    cols: &[c("at", TsMs)],
    key: &["at"],
    time_col: "at",
    versioned: false,
    partition_col: None,
    keep_row: true,
};

pub const MONITOR_RUNS: TableSpec = TableSpec {
    name: "monitor_runs",
    cols: &[c("id", Int), c("started_at", TsMs), c("status", Text)],
    key: &["id"],
    time_col: "started_at",
    versioned: false,
    partition_col: None,
    keep_row: true,
};

/// Every exported table, in the order a run archives them (the Worker's
/// `export::TABLES`, same names and keys).
pub const ALL: &[&TableSpec] = &[
    &MARKET_DATA,
    &CHAIN_SNAPSHOTS,
    &UNDERLYING_METRICS_INTRADAY,
    &INGEST_RUNS,
    &AUDIT_LOG,
    &PROPOSALS,
    &POSITIONS,
    &ORDERS,
    &FILLS,
    &MARKS,
    &EQUITY_SNAPSHOTS,
    &MONITOR_RUNS,
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

/// One value of an export key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyPart {
    /// Unix ms or an id.
    Int(i64),
    /// Compared byte by byte (SQLite's BINARY collation, Postgres `COLLATE "C"`).
    Text(String),
}

/// A row's position in its table's export order; its cursor is the parts
/// joined by `|` (docs/archive.md).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key(pub Vec<KeyPart>);

impl Key {
    /// The cursor form (`"1733100000000|SPY"`, `"42"`).
    pub fn cursor(&self) -> String {
        self.0
            .iter()
            .map(|p| match p {
                KeyPart::Int(n) => n.to_string(),
                KeyPart::Text(s) => s.clone(),
            })
            .collect::<Vec<_>>()
            .join("|")
    }
}

impl TableSpec {
    /// The column called `name`.
    pub fn col(&self, name: &str) -> Option<&'static Col> {
        self.cols.iter().find(|c| c.name == name)
    }

    /// Whether a key column holds an integer in the export (ms or id).
    pub fn key_is_int(&self, name: &str) -> bool {
        self.col(name)
            .is_some_and(|c| matches!(c.kind, Kind::Int | Kind::TsMs))
    }

    /// The export key of a row, `None` when a key column is missing or mistyped.
    pub fn key_of(&self, row: &Value) -> Option<Key> {
        self.key
            .iter()
            .map(|k| {
                let v = row.get(*k)?;
                if self.key_is_int(k) {
                    v.as_i64().map(KeyPart::Int)
                } else {
                    v.as_str().map(|s| KeyPart::Text(s.to_string()))
                }
            })
            .collect::<Option<Vec<_>>>()
            .map(Key)
    }

    /// The key a cursor names, `None` when it is not one of this table's.
    pub fn parse_cursor(&self, cursor: &str) -> Option<Key> {
        let parts: Vec<&str> = cursor.splitn(self.key.len(), '|').collect();
        if parts.len() != self.key.len() {
            return None;
        }
        self.key
            .iter()
            .zip(parts)
            .map(|(k, p)| {
                if self.key_is_int(k) {
                    p.parse().ok().map(KeyPart::Int)
                } else {
                    (!p.is_empty()).then(|| KeyPart::Text(p.to_string()))
                }
            })
            .collect::<Option<Vec<_>>>()
            .map(Key)
    }

    /// The time of a row's [`TableSpec::time_col`], Unix ms.
    pub fn time_of(&self, row: &Value) -> Option<i64> {
        let col = self.col(self.time_col)?;
        let v = row.get(col.name)?;
        match col.kind {
            Kind::TsMs => v.as_i64(),
            Kind::TsText => DateTime::parse_from_rfc3339(v.as_str()?)
                .ok()
                .map(|t| t.timestamp_millis()),
            _ => None,
        }
    }
}

/// A column value in the one form both sides of `verify` reduce to.
#[derive(Debug, Clone, PartialEq)]
pub enum Canon {
    Null,
    Text(String),
    Int(i64),
    /// Timestamps from RFC 3339 text, in microseconds (Postgres precision).
    Micros(i64),
    Float(f64),
    Json(Value),
}

impl Canon {
    fn write(&self, out: &mut String) {
        match self {
            Canon::Null => out.push_str("\\N"),
            Canon::Text(s) => {
                out.push_str("s:");
                out.push_str(s);
            }
            Canon::Int(n) => out.push_str(&format!("i:{n}")),
            Canon::Micros(n) => out.push_str(&format!("u:{n}")),
            Canon::Float(f) => out.push_str(&format!("f:{:016x}", f.to_bits())),
            Canon::Json(v) => {
                out.push_str("j:");
                canonical_json(v, out);
            }
        }
    }
}

/// JSON with sorted keys and numbers in one form (integral values below
/// 2^53 as integers), so `jsonb`'s normalisation and the export's text agree.
pub fn canonical_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
                    out.push_str(&format!("{}", f as i64));
                } else {
                    out.push_str(&f.to_string());
                }
            }
        }
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(&m[k], out);
            }
            out.push('}');
        }
    }
}

/// One export column value in its [`Canon`] form.
pub fn canon_of_export(col: &Col, v: Option<&Value>) -> Result<Canon, String> {
    let v = match v {
        None | Some(Value::Null) => return Ok(Canon::Null),
        Some(v) => v,
    };
    let text = || {
        v.as_str()
            .ok_or_else(|| format!("{}: expected text", col.name))
    };
    Ok(match col.kind {
        Kind::Text => Canon::Text(text()?.to_string()),
        Kind::Int | Kind::TsMs => Canon::Int(
            v.as_i64()
                .ok_or_else(|| format!("{}: expected integer", col.name))?,
        ),
        Kind::Float => Canon::Float(
            v.as_f64()
                .ok_or_else(|| format!("{}: expected number", col.name))?,
        ),
        Kind::TsText => Canon::Micros(
            DateTime::parse_from_rfc3339(text()?)
                .map_err(|e| format!("{}: {e}", col.name))?
                .timestamp_micros(),
        ),
        Kind::Date => Canon::Text(
            NaiveDate::parse_from_str(text()?, "%Y-%m-%d")
                .map_err(|e| format!("{}: {e}", col.name))?
                .format("%Y-%m-%d")
                .to_string(),
        ),
        Kind::Json => Canon::Json(
            serde_json::from_str(text()?).map_err(|e| format!("{}: bad JSON: {e}", col.name))?,
        ),
    })
}

/// A row's canonical text: every column (and the whole row for
/// `keep_row` tables) in [`Canon`] form.
pub fn canonical_row(spec: &TableSpec, values: &[Canon], whole_row: Option<&Value>) -> String {
    let mut out = String::new();
    for (col, v) in spec.cols.iter().zip(values) {
        out.push_str(col.name);
        out.push('=');
        v.write(&mut out);
        out.push('\u{1f}');
    }
    if let Some(row) = whole_row {
        out.push_str("row=");
        canonical_json(row, &mut out);
    }
    out
}

/// The canonical text of an export row.
pub fn canonical_export_row(spec: &TableSpec, row: &Value) -> Result<String, String> {
    let values = spec
        .cols
        .iter()
        .map(|c| canon_of_export(c, row.get(c.name)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(canonical_row(spec, &values, spec.keep_row.then_some(row)))
}

/// FNV-1a, 64 bits: a stable hash of a canonical row (not cryptographic;
/// it finds differences, it does not resist forgery).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
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
    fn keys_and_cursors_follow_the_contract() {
        let r = json!({"symbol":"SPY","ts":1_700_000_000_123_i64,"data_type":"live"});
        let k = MARKET_DATA.key_of(&r).expect("key");
        assert_eq!(k.cursor(), "1700000000123|SPY");
        assert_eq!(
            MARKET_DATA.parse_cursor("1700000000123|SPY"),
            Some(k.clone())
        );
        assert!(MARKET_DATA.parse_cursor("x|SPY").is_none());
        assert!(MARKET_DATA.parse_cursor("17").is_none());
        let later = MARKET_DATA.parse_cursor("1700000000123|SPZ").expect("key");
        assert!(k < later);
        assert_eq!(
            AUDIT_LOG.parse_cursor("42").map(|k| k.cursor()).as_deref(),
            Some("42")
        );
    }

    #[test]
    fn canonical_rows_ignore_json_key_order_and_integral_float_forms() {
        let a = json!({"id":1,"at":5,"actor":"a","action":"b","entity":"c","details":"{\"x\":1.0,\"a\":[2]}"});
        let b = json!({"id":1,"at":5,"actor":"a","action":"b","entity":"c","details":"{\"a\":[2],\"x\":1}"});
        assert_eq!(
            canonical_export_row(&AUDIT_LOG, &a).expect("a"),
            canonical_export_row(&AUDIT_LOG, &b).expect("b")
        );
        let c = json!({"id":1,"at":6,"actor":"a","action":"b","entity":"c","details":"{}"});
        assert_ne!(
            canonical_export_row(&AUDIT_LOG, &a).expect("a"),
            canonical_export_row(&AUDIT_LOG, &c).expect("c")
        );
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
