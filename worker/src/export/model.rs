//! The export's model (pure): the exported tables as data (one entry per
//! table: name, export key, columns, how rows settle), cursors, and the SQL
//! of pages, acks, the health counts and the ack gate of pruning.

use serde::Serialize;
use serde_json::{Map, Value};

/// Rows keyed by a time are exported only once older than this (ms): rows
/// are never written with a key time older than the settle window.
pub const SETTLE_MS: i64 = crate::store::ARCHIVE_SETTLE_MS;
/// Default `limit` of a page.
pub const DEFAULT_LIMIT: u32 = 1000;
/// Largest `limit` (larger values are clamped).
pub const MAX_LIMIT: u32 = 5000;
/// A page's rows stay under this many bytes of JSON (at least one row).
pub const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;
/// Longest text part of a cursor.
pub const MAX_CURSOR_TEXT: usize = 64;
/// Longest cursor accepted.
pub const MAX_CURSOR_LEN: usize = 256;

/// The type of one export-key column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// INTEGER (Unix ms or an id).
    Int,
    /// TEXT (a symbol, an expiry date).
    Text,
}

/// One column of a table's export key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyColumn {
    pub name: &'static str,
    pub kind: KeyKind,
}

const fn int(name: &'static str) -> KeyColumn {
    KeyColumn {
        name,
        kind: KeyKind::Int,
    }
}

const fn text(name: &'static str) -> KeyColumn {
    KeyColumn {
        name,
        kind: KeyKind::Text,
    }
}

/// Which rows may be exported yet (the export key must never hand out a
/// cursor a later write could sort before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Keys are assigned in commit order (AUTOINCREMENT ids, the proposals'
    /// `updated_at` trigger): every stored row may be exported.
    None,
    /// The first key column is a Unix-ms time: only rows older than
    /// now − [`SETTLE_MS`].
    KeyTime,
    /// A single integer key whose rows are still updated for a while after
    /// insert (`ingest_runs`: the chain step fills its columns): only the
    /// prefix, in key order, of rows whose `column` (RFC 3339 text) is older
    /// than now − [`SETTLE_MS`].
    TextTimePrefix { column: &'static str },
    /// As [`Settle::TextTimePrefix`] with `column` in Unix ms (`monitor_runs`:
    /// a run is finished by an update; a run still `running` after the
    /// settle window is a dead one).
    IntTimePrefix { column: &'static str },
}

/// One exported table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportTable {
    /// D1 table name (and the `{table}` of the routes).
    pub name: &'static str,
    /// The export key, in order; its first column is an integer.
    pub key: &'static [KeyColumn],
    /// The exported columns, exactly the D1 names.
    pub columns: &'static [&'static str],
    /// Which rows may be exported yet.
    pub settle: Settle,
    /// Most rows of one page (large rows: fewer).
    pub max_page_rows: u32,
    /// Whether the cron prunes the table (then gated by the ack when an
    /// archiver is configured); `false` = kept forever in D1.
    pub pruned: bool,
}

/// Every exported table, in the order an archiver pulls them. Adding a table
/// is one entry (and the archiver's `tables.rs` entry of the same name).
pub const TABLES: &[ExportTable] = &[
    ExportTable {
        name: "market_data",
        key: &[int("ts"), text("symbol")],
        columns: &["symbol", "ts", "bid", "ask", "last", "volume", "data_type"],
        settle: Settle::KeyTime,
        max_page_rows: MAX_LIMIT,
        pruned: true,
    },
    ExportTable {
        name: "chain_snapshots",
        key: &[int("ts"), text("symbol"), text("expiry")],
        columns: &[
            "symbol",
            "ts",
            "expiry",
            "dte",
            "forward",
            "atm_iv",
            "skew_25d",
            "contracts_json",
        ],
        settle: Settle::KeyTime,
        // contracts_json is tens of KB per row.
        max_page_rows: 200,
        pruned: true,
    },
    ExportTable {
        name: "underlying_metrics_intraday",
        key: &[int("ts"), text("symbol")],
        columns: &[
            "symbol",
            "ts",
            "spot",
            "atm_iv_30d",
            "iv_rank",
            "iv_percentile",
            "iv_history_days",
            "rv_20d",
            "skew_25d_30d",
            "gex_per_1pct",
            "dex",
            "contracts_valued",
            "skips_json",
            "metrics_json",
            "factors_json",
        ],
        settle: Settle::KeyTime,
        max_page_rows: 1000,
        pruned: true,
    },
    ExportTable {
        name: "ingest_runs",
        key: &[int("id")],
        columns: &[
            "id",
            "trigger",
            "started_at",
            "finished_at",
            "status",
            "symbols_ok",
            "symbols_failed",
            "rows_written",
            "error",
            "chain_symbols_ok",
            "chain_symbols_failed",
            "chain_failures",
            "rows_by_table",
            "contract_skips",
            "duration_ms",
        ],
        settle: Settle::TextTimePrefix {
            column: "started_at",
        },
        max_page_rows: MAX_LIMIT,
        pruned: true,
    },
    ExportTable {
        name: "audit_log",
        key: &[int("id")],
        columns: &[
            "id",
            "at",
            "actor",
            "action",
            "entity",
            "entity_id",
            "from_state",
            "to_state",
            "details",
        ],
        settle: Settle::None,
        max_page_rows: MAX_LIMIT,
        pruned: false,
    },
    ExportTable {
        name: "proposals",
        key: &[int("updated_at"), int("id")],
        columns: &[
            "id",
            "updated_at",
            "idempotency_key",
            "symbol",
            "strategy",
            "status",
            "trade_date",
            "created_at",
            "expires_at",
            "rank",
            "legs",
            "quote_snapshot",
            "analytics_snapshot",
            "score_breakdown",
            "score",
            "entry_mid",
            "entry_natural",
            "max_profit",
            "max_loss",
            "breakevens",
            "probability_of_profit",
            "expected_value",
            "greeks",
            "exit_plan",
            "rationale",
            "contracts",
            "total_max_loss",
            "limit_price",
            "slippage_band",
            "proposal_json",
            "decided_at",
            "decided_by",
            "decision_reason",
            "approved_limit_price",
            "approved_contracts",
            "order_request",
            "order_status",
            "order_id",
            "broker_order_status",
            "order_attempts",
            "order_updated_at",
            "order_error",
        ],
        settle: Settle::None,
        // Several JSON snapshots per row.
        max_page_rows: 500,
        pruned: false,
    },
    // The position engine (migration 0005). Positions and orders change
    // after insert and every statement that changes them sets updated_at
    // (the writer's clock): a change committed after an export sorts after
    // its cursor once settled. Fills change once (the late commission):
    // changed_at is kept strictly increasing by triggers (migration 0007).
    ExportTable {
        name: "positions",
        key: &[int("updated_at"), int("id")],
        columns: &[
            "id",
            "key",
            "proposal_id",
            "symbol",
            "strategy",
            "spec",
            "exit_plan",
            "status",
            "exit_reason",
            "exit_requested_at",
            "exit_requested_by",
            "exits_paused",
            "exit_state",
            "summary",
            "realized_micros",
            "entry_expires_at",
            "opened_at",
            "closed_at",
            "created_at",
            "updated_at",
        ],
        settle: Settle::KeyTime,
        max_page_rows: 500,
        pruned: false,
    },
    ExportTable {
        name: "orders",
        key: &[int("updated_at"), int("id")],
        columns: &[
            "id",
            "key",
            "position_id",
            "purpose",
            "attempt",
            "exit_reason",
            "quantity",
            "filled",
            "status",
            "limit_micros",
            "request",
            "broker_order_id",
            "broker_status",
            "last_seq",
            "error",
            "created_at",
            "updated_at",
        ],
        settle: Settle::KeyTime,
        max_page_rows: 1000,
        pruned: false,
    },
    ExportTable {
        name: "fills",
        key: &[int("changed_at"), int("id")],
        columns: &[
            "id",
            "exec_id",
            "position_id",
            "order_key",
            "contract",
            "quantity",
            "price_micros",
            "commission_micros",
            "time",
            "recorded_at",
            "changed_at",
        ],
        settle: Settle::None,
        max_page_rows: MAX_LIMIT,
        pruned: false,
    },
    ExportTable {
        name: "marks",
        key: &[int("at"), int("position_id")],
        columns: &[
            "position_id",
            "at",
            "ok",
            "value_mid_micros",
            "value_natural_micros",
            "unrealized_mid_micros",
            "unrealized_natural_micros",
            "realized_micros",
            "pnl_per_unit_micros",
            "decision",
            "greeks",
            "dte",
        ],
        settle: Settle::KeyTime,
        max_page_rows: MAX_LIMIT,
        // Compacted once a position closed (positions COMPACT_MARKS).
        pruned: true,
    },
    ExportTable {
        name: "equity_snapshots",
        key: &[int("at")],
        columns: &[
            "at",
            "net_liquidation",
            "realized_micros",
            "unrealized_mid_micros",
            "open_positions",
            "unmarked_positions",
        ],
        settle: Settle::KeyTime,
        max_page_rows: MAX_LIMIT,
        pruned: false,
    },
    ExportTable {
        name: "monitor_runs",
        key: &[int("id")],
        columns: &[
            "id",
            "started_at",
            "finished_at",
            "status",
            "positions",
            "marks_ok",
            "marks_rejected",
            "orders_placed",
            "cancels",
            "rows_written",
            "error",
        ],
        settle: Settle::IntTimePrefix {
            column: "started_at",
        },
        max_page_rows: MAX_LIMIT,
        // Newest 10,080 kept (positions PRUNE_RUNS).
        pruned: true,
    },
];

/// The exported table called `name`.
pub fn table(name: &str) -> Option<&'static ExportTable> {
    TABLES.iter().find(|t| t.name == name)
}

/// One value of an export key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyValue {
    Int(i64),
    /// Compared byte by byte, as SQLite's BINARY collation does.
    Text(String),
}

/// A position in a table's export order: the key of one row. Its wire form
/// is the key values joined by `|` (`"1733100000000|SPY"`, `"42"`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor(pub Vec<KeyValue>);

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            match v {
                KeyValue::Int(n) => write!(f, "{n}")?,
                KeyValue::Text(s) => f.write_str(s)?,
            }
        }
        Ok(())
    }
}

/// Why a cursor was refused (a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor {cursor:?} is not a cursor of {table}: {reason}")]
pub struct CursorError {
    pub table: &'static str,
    pub cursor: String,
    pub reason: &'static str,
}

impl ExportTable {
    /// Parses a cursor of this table; only the canonical form is accepted
    /// (the one [`Cursor`]'s `Display` writes).
    pub fn parse_cursor(&self, raw: &str) -> Result<Cursor, CursorError> {
        let err = |reason| CursorError {
            table: self.name,
            cursor: raw.chars().take(MAX_CURSOR_LEN).collect(),
            reason,
        };
        if raw.len() > MAX_CURSOR_LEN {
            return Err(err("too long"));
        }
        let parts: Vec<&str> = raw.splitn(self.key.len(), '|').collect();
        if parts.len() != self.key.len() {
            return Err(err("wrong number of key parts"));
        }
        let mut values = Vec::with_capacity(parts.len());
        for (part, col) in parts.iter().zip(self.key) {
            values.push(match col.kind {
                KeyKind::Int => KeyValue::Int(part.parse().map_err(|_| err("not an integer"))?),
                KeyKind::Text => {
                    if part.is_empty() || part.chars().count() > MAX_CURSOR_TEXT {
                        return Err(err("text part empty or too long"));
                    }
                    if part.chars().any(|c| c.is_whitespace() || c.is_control()) {
                        return Err(err("text part holds whitespace"));
                    }
                    KeyValue::Text((*part).to_owned())
                }
            });
        }
        let cursor = Cursor(values);
        if cursor.to_string() != raw {
            return Err(err("not in canonical form"));
        }
        Ok(cursor)
    }

    /// The cursor of an exported row (its key columns), `None` when the row
    /// lacks one or has the wrong type.
    pub fn cursor_of(&self, row: &Map<String, Value>) -> Option<Cursor> {
        self.key
            .iter()
            .map(|col| match col.kind {
                KeyKind::Int => row.get(col.name)?.as_i64().map(KeyValue::Int),
                KeyKind::Text => row
                    .get(col.name)?
                    .as_str()
                    .map(|s| KeyValue::Text(s.to_owned())),
            })
            .collect::<Option<Vec<_>>>()
            .map(Cursor)
    }

    fn key_list(&self) -> String {
        self.key
            .iter()
            .map(|k| k.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `k1, k2, …` of `archive_acks`, as wide as the key.
    fn ack_columns(&self) -> String {
        (1..=self.key.len())
            .map(|i| format!("k{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The ack gate: true for rows at or before the table's acknowledged
    /// cursor, NULL (false) when nothing was acknowledged.
    pub fn acked_condition(&self) -> String {
        format!(
            "({}) <= (SELECT {} FROM archive_acks WHERE table_name = '{}')",
            self.key_list(),
            self.ack_columns(),
            self.name
        )
    }
}

/// A bound SQL parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Int(i64),
    Text(String),
}

impl From<&KeyValue> for Param {
    fn from(v: &KeyValue) -> Self {
        match v {
            KeyValue::Int(n) => Param::Int(*n),
            KeyValue::Text(s) => Param::Text(s.clone()),
        }
    }
}

/// One SQL statement with its parameters (`?1` is `params[0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub sql: String,
    pub params: Vec<Param>,
}

impl Query {
    fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("?{}", self.params.len())
    }
}

/// The settle condition of `t` (see [`Settle`]), binding its parameter on
/// `q`; `after_condition` narrows the prefix search of
/// [`Settle::TextTimePrefix`] to the rows after the cursor.
fn settle_condition(
    t: &ExportTable,
    q: &mut Query,
    after_condition: Option<&str>,
    settle_before_ms: i64,
) -> Option<String> {
    match t.settle {
        Settle::None => None,
        Settle::KeyTime => {
            let mark = q.bind(Param::Int(settle_before_ms));
            Some(format!("{} < {mark}", t.key[0].name))
        }
        Settle::TextTimePrefix { column } | Settle::IntTimePrefix { column } => {
            let mark = q.bind(Param::Int(settle_before_ms));
            let k = t.key[0].name;
            let after = after_condition.unwrap_or("1");
            let time = match t.settle {
                Settle::TextTimePrefix { .. } => {
                    format!("(julianday({column}) - 2440587.5) * 86400000.0")
                }
                _ => column.to_owned(),
            };
            Some(format!(
                "{k} < COALESCE((SELECT MIN({k}) FROM {table} WHERE {after} AND \
{time} >= {mark}), 9223372036854775807)",
                table = t.name
            ))
        }
    }
}

fn empty_query() -> Query {
    Query {
        sql: String::new(),
        params: Vec::new(),
    }
}

/// The rows of one page: strictly after `after`, settled at
/// `settle_before_ms` (now − [`SETTLE_MS`]), in key order, at most `limit`.
pub fn page_query(
    t: &ExportTable,
    after: Option<&Cursor>,
    settle_before_ms: i64,
    limit: u32,
) -> Query {
    let mut q = empty_query();
    let keys = t.key_list();
    let after_condition = after.map(|c| {
        let marks: Vec<String> = c.0.iter().map(|v| q.bind(v.into())).collect();
        format!("({keys}) > ({})", marks.join(", "))
    });
    let mut conditions: Vec<String> = after_condition.iter().cloned().collect();
    conditions.extend(settle_condition(
        t,
        &mut q,
        after_condition.as_deref(),
        settle_before_ms,
    ));
    let limit_mark = q.bind(Param::Int(i64::from(limit)));
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    q.sql = format!(
        "SELECT {} FROM {}{filter} ORDER BY {keys} LIMIT {limit_mark}",
        t.columns.join(", "),
        t.name
    );
    q
}

/// Whether the row with exactly the key `c` is stored AND exportable at
/// `settle_before_ms` (column `n`: 0 or 1): an ack may only name a row an
/// export page could have handed out.
pub fn exportable_query(t: &ExportTable, c: &Cursor, settle_before_ms: i64) -> Query {
    let mut q = empty_query();
    let mut conditions: Vec<String> = t
        .key
        .iter()
        .zip(&c.0)
        .map(|(k, v)| format!("{} = {}", k.name, q.bind(v.into())))
        .collect();
    conditions.extend(settle_condition(t, &mut q, None, settle_before_ms));
    q.sql = format!(
        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM {} WHERE {} LIMIT 1)",
        t.name,
        conditions.join(" AND ")
    );
    q
}

/// Records `c` as the acknowledged cursor of `t` at `now_ms`, only when it
/// is newer than the stored one (an older ack changes nothing).
pub fn record_ack_query(t: &ExportTable, c: &Cursor, now_ms: i64) -> Query {
    let part = |i: usize| c.0.get(i).map_or(Param::Text(String::new()), Param::from);
    Query {
        sql: RECORD_ACK.to_owned(),
        params: vec![
            Param::Text(t.name.to_owned()),
            Param::Text(c.to_string()),
            part(0),
            part(1),
            part(2),
            Param::Int(now_ms),
        ],
    }
}

/// `?1` table, `?2` cursor, `?3..?5` its key parts ('' when unused), `?6` now.
pub const RECORD_ACK: &str = "INSERT INTO archive_acks (table_name, through, k1, k2, k3, acked_at) \
VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
ON CONFLICT (table_name) DO UPDATE SET through = excluded.through, k1 = excluded.k1, \
k2 = excluded.k2, k3 = excluded.k3, acked_at = excluded.acked_at \
WHERE (excluded.k1, excluded.k2, excluded.k3) > (archive_acks.k1, archive_acks.k2, archive_acks.k3)";

/// Every acknowledged cursor.
pub const SELECT_ACKS: &str = "SELECT table_name, through, acked_at FROM archive_acks";

/// Row of [`SELECT_ACKS`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AckRow {
    pub table_name: String,
    pub through: String,
    pub acked_at: i64,
}

/// Rows of `t` after its acknowledged cursor (all when none), counted up to
/// `cap` (column `n`).
pub fn unacknowledged_count_query(t: &ExportTable, cap: u32) -> Query {
    let mut q = empty_query();
    let cap_mark = q.bind(Param::Int(i64::from(cap)));
    q.sql = format!(
        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM {t} WHERE \
NOT EXISTS (SELECT 1 FROM archive_acks WHERE table_name = '{t}') \
OR ({keys}) > (SELECT {acks} FROM archive_acks WHERE table_name = '{t}') LIMIT {cap_mark})",
        t = t.name,
        keys = t.key_list(),
        acks = t.ack_columns(),
    );
    q
}

/// One page as answered (`next_after` is the cursor of the last row).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page {
    pub table: &'static str,
    pub rows: Vec<Map<String, Value>>,
    pub next_after: Option<String>,
}

/// The answer to an ack: the cursor now stored (may be newer than asked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AckReply {
    pub table: &'static str,
    pub acked_through: String,
}

/// Keeps the longest prefix of `rows` whose JSON stays under `max_bytes`
/// (at least one row, so a page is never empty while rows remain).
pub fn trim_to_bytes(rows: &mut Vec<Map<String, Value>>, max_bytes: usize) {
    let mut total = 0usize;
    let mut keep = rows.len();
    for (i, row) in rows.iter().enumerate() {
        total += serde_json::to_string(row).map_or(0, |s| s.len()) + 1;
        if total > max_bytes && i > 0 {
            keep = i;
            break;
        }
    }
    rows.truncate(keep);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str) -> &'static ExportTable {
        table(name).unwrap()
    }

    #[test]
    fn every_table_has_an_integer_first_key_that_is_exported() {
        assert_eq!(TABLES.len(), 12);
        for t in TABLES {
            assert!(!t.key.is_empty() && t.key.len() <= 3, "{}", t.name);
            assert_eq!(t.key[0].kind, KeyKind::Int, "{}", t.name);
            for k in t.key {
                assert!(t.columns.contains(&k.name), "{}.{}", t.name, k.name);
            }
            assert!((1..=MAX_LIMIT).contains(&t.max_page_rows));
        }
    }

    #[test]
    fn cursors_round_trip_and_only_the_canonical_form_is_accepted() {
        let md = t("market_data");
        let c = md.parse_cursor("1733100000000|SPY").unwrap();
        assert_eq!(
            c,
            Cursor(vec![
                KeyValue::Int(1_733_100_000_000),
                KeyValue::Text("SPY".into())
            ])
        );
        assert_eq!(c.to_string(), "1733100000000|SPY");
        for bad in [
            "",
            "1733100000000",
            "x|SPY",
            "+1|SPY",
            "01|SPY",
            "1|",
            "1| SPY ",
        ] {
            assert!(md.parse_cursor(bad).is_err(), "{bad:?}");
        }
        assert!(md.parse_cursor(&format!("1|{}", "A".repeat(65))).is_err());
        let runs = t("ingest_runs");
        assert_eq!(runs.parse_cursor("42").unwrap().to_string(), "42");
        assert!(runs.parse_cursor("42|x").is_err());
        let chains = t("chain_snapshots");
        assert!(chains.parse_cursor("5|SPY|2026-12-31").is_ok());
        // Cursors order like SQLite's row values.
        let a = md.parse_cursor("5|SPY").unwrap();
        let b = md.parse_cursor("5|SPZ").unwrap();
        let c = md.parse_cursor("6|AAPL").unwrap();
        assert!(a < b && b < c);
    }

    #[test]
    fn page_query_binds_the_cursor_the_settle_line_and_the_limit() {
        let md = t("market_data");
        let c = md.parse_cursor("5|SPY").unwrap();
        let q = page_query(md, Some(&c), 99, 10);
        assert_eq!(
            q.sql,
            "SELECT symbol, ts, bid, ask, last, volume, data_type FROM market_data \
WHERE (ts, symbol) > (?1, ?2) AND ts < ?3 ORDER BY ts, symbol LIMIT ?4"
        );
        assert_eq!(
            q.params,
            [
                Param::Int(5),
                Param::Text("SPY".into()),
                Param::Int(99),
                Param::Int(10)
            ]
        );
        let audit = page_query(t("audit_log"), None, 99, 7);
        assert!(audit.sql.ends_with("FROM audit_log ORDER BY id LIMIT ?1"));
        assert_eq!(audit.params, [Param::Int(7)]);
    }

    #[test]
    fn pages_are_trimmed_by_size_but_never_emptied() {
        let row = |n: usize| {
            let mut m = Map::new();
            m.insert("x".into(), Value::String("a".repeat(n)));
            m
        };
        let mut rows = vec![row(100), row(100), row(100)];
        trim_to_bytes(&mut rows, 250);
        assert_eq!(rows.len(), 2);
        let mut one = vec![row(1000)];
        trim_to_bytes(&mut one, 10);
        assert_eq!(one.len(), 1);
    }
}
