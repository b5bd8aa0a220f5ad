//! Test support: an [`ExportStore`] over the REAL SQLite database of
//! [`crate::test_sqlite`] (every D1 migration applied), so the export's SQL,
//! the proposals' `updated_at` and the prune gate run as D1 (SQLite) runs them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Map, Value};

use super::model::{AckRow, Param, Query, SELECT_ACKS};
use super::store::{ExportStore, StoreError};
use crate::test_sqlite::quote;
pub use crate::test_sqlite::Sqlite;

/// A parameter as an SQL literal.
fn literal(p: &Param) -> String {
    match p {
        Param::Int(n) => n.to_string(),
        Param::Text(s) => quote(s),
    }
}

/// `sql` with every `?N` replaced by the literal of `params[N-1]`.
pub fn inline(sql: &str, params: &[Param]) -> String {
    let literals: Vec<String> = params.iter().map(literal).collect();
    crate::test_sqlite::inline(sql, &literals)
}

impl Sqlite {
    /// Runs one statement with `?N` parameters.
    pub fn exec_with(&self, sql: &str, params: &[Param]) {
        self.exec(&format!("{};", inline(sql, params)));
    }
}

impl ExportStore for Sqlite {
    async fn rows(&self, q: &Query) -> Result<Vec<Map<String, Value>>, StoreError> {
        let sql = format!("{};", inline(&q.sql, &q.params));
        let text = self.run(&sql).map_err(StoreError)?;
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        serde_json::from_str(&text).map_err(|e| StoreError(e.to_string()))
    }

    async fn count(&self, q: &Query) -> Result<u64, StoreError> {
        let rows = self.rows(q).await?;
        rows.first()
            .and_then(|r| r.get("n"))
            .and_then(Value::as_u64)
            .ok_or_else(|| StoreError("no count".into()))
    }

    async fn execute(&self, q: &Query) -> Result<(), StoreError> {
        self.run(&format!("{};", inline(&q.sql, &q.params)))
            .map(|_| ())
            .map_err(StoreError)
    }

    async fn acks(&self) -> Result<Vec<AckRow>, StoreError> {
        let rows = self.select(SELECT_ACKS);
        rows.into_iter()
            .map(|r| {
                serde_json::from_value(Value::Object(r)).map_err(|e| StoreError(e.to_string()))
            })
            .collect()
    }
}
