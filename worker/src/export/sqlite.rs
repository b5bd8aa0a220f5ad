//! Test support: an [`ExportStore`] over a REAL SQLite database (the
//! `sqlite3` command-line shell, 3.37+ for JSON output) with the D1
//! migrations applied, so the export's SQL, the proposals' `updated_at`
//! triggers and the prune gate run as D1 (SQLite) runs them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Map, Value};

use super::model::{AckRow, Param, Query, SELECT_ACKS};
use super::store::{ExportStore, StoreError};

/// Migrations applied, in order.
const MIGRATIONS: &[&str] = &[
    "0001_market_data_and_ingest_runs.sql",
    "0002_option_chains_and_metrics.sql",
    "0003_proposals_audit_settings.sql",
    "0004_order_states.sql",
    "0005_positions.sql",
    "0007_archive_acks.sql",
];

/// A migrated database file in its own temporary directory (removed on drop).
pub struct Sqlite {
    dir: PathBuf,
    db: PathBuf,
}

impl Drop for Sqlite {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A parameter as an SQL literal.
fn literal(p: &Param) -> String {
    match p {
        Param::Int(n) => n.to_string(),
        Param::Text(s) => format!("'{}'", s.replace('\'', "''")),
    }
}

/// `sql` with every `?N` replaced by the literal of `params[N-1]`.
pub fn inline(sql: &str, params: &[Param]) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '?' {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        let index: usize = digits.parse().expect("numbered parameter");
        out.push_str(&literal(&params[index - 1]));
    }
    out
}

impl Sqlite {
    /// A fresh database with [`MIGRATIONS`] applied.
    pub fn migrated() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sas-export-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("d1.sqlite");
        let s = Self { dir, db };
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/d1");
        for m in MIGRATIONS {
            s.exec(&std::fs::read_to_string(root.join(m)).unwrap());
        }
        s
    }

    fn run(&self, script: &str) -> Result<String, String> {
        let mut child = Command::new("sqlite3")
            .args(["-bail", "-json"])
            .arg(&self.db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the sqlite3 shell is needed by these tests (apt-get install sqlite3)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        if out.status.success() && out.stderr.is_empty() {
            Ok(String::from_utf8(out.stdout).unwrap())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Runs SQL statements; panics on an error.
    pub fn exec(&self, sql: &str) {
        if let Err(e) = self.run(sql) {
            panic!("sqlite3: {e}\n{sql}");
        }
    }

    /// The rows of one query.
    pub fn select(&self, sql: &str) -> Vec<Map<String, Value>> {
        let text = self
            .run(&format!("{sql};"))
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
        if text.trim().is_empty() {
            return Vec::new();
        }
        serde_json::from_str::<Vec<Map<String, Value>>>(&text).unwrap()
    }

    /// One integer.
    pub fn scalar(&self, sql: &str) -> i64 {
        let rows = self.select(sql);
        rows[0].values().next().and_then(Value::as_i64).unwrap()
    }

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
