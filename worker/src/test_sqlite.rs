//! Test support: a REAL SQLite database (the `sqlite3` command-line shell,
//! 3.37+ for JSON output) with every D1 migration applied in order, so the
//! features' SQL runs as D1 (SQLite) runs it. One helper for every feature's
//! SQL tests; each feature renders its own parameter type with [`inline`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde::de::DeserializeOwned;

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

/// A text value as an SQL string literal.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `sql` with every `?N` replaced by `literals[N-1]` (already SQL literals).
pub fn inline(sql: &str, literals: &[String]) -> String {
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
        out.push_str(&literals[index - 1]);
    }
    out
}

/// The D1 migrations, in the order wrangler applies them.
pub fn migration_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/d1");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
}

impl Sqlite {
    /// A fresh database with every migration applied.
    pub fn migrated() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sas-sqlite-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("d1.sqlite");
        let s = Self { dir, db };
        for file in migration_files() {
            s.exec(&std::fs::read_to_string(&file).unwrap());
        }
        s
    }

    /// Runs a script (stopping at its first error) and returns what it printed
    /// as JSON, or the error text.
    pub fn run(&self, script: &str) -> Result<String, String> {
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

    /// One batch: the statements in one transaction, like `D1Database::batch`.
    pub fn batch(&self, statements: &[String]) {
        let body: Vec<String> = statements.iter().map(|s| format!("{s};")).collect();
        self.exec(&format!("BEGIN;\n{}\nCOMMIT;", body.join("\n")));
    }

    /// Runs one statement and returns `changes()`: the rows it wrote.
    pub fn exec_changes(&self, sql: &str) -> i64 {
        let rows = self.select(&format!("{sql};\nSELECT changes() AS n"));
        rows[0]["n"].as_i64().unwrap()
    }

    /// The rows of one query, as JSON objects.
    pub fn select(&self, sql: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
        self.select_as(sql)
    }

    /// The rows of one query, each deserialized into `T`.
    pub fn select_as<T: DeserializeOwned>(&self, sql: &str) -> Vec<T> {
        let text = self
            .run(&format!("{sql};"))
            .unwrap_or_else(|e| panic!("sqlite3: {e}\n{sql}"));
        if text.trim().is_empty() {
            return Vec::new();
        }
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// One integer: the first column of the first row.
    pub fn scalar(&self, sql: &str) -> i64 {
        self.select(sql)[0]
            .values()
            .next()
            .and_then(serde_json::Value::as_i64)
            .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_applies_and_parameters_are_inlined_as_literals() {
        let db = Sqlite::migrated();
        assert!(migration_files().len() >= 9);
        let n = db.exec_changes(&inline(
            "INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?1, ?2, 0, 't')",
            &[quote("it's"), quote("x")],
        ));
        assert_eq!(n, 1);
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM settings WHERE key = 'it''s'"),
            1
        );
        assert!(db.run("SELECT * FROM no_such_table;").is_err());
    }
}
