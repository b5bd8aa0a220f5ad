//! Postgres side: migrations, one page per transaction (COPY into a staging
//! table, `INSERT … ON CONFLICT DO NOTHING`, the cursor in the same
//! transaction), status, monthly partitions and retention.

use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Row};

use crate::tables::{self, CopyPage, TableSpec};

/// Months created ahead of the current one for partitioned tables.
pub const MONTHS_AHEAD: i32 = 3;

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watermark {
    pub cursor: Option<String>,
    pub acked_cursor: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TableStatus {
    pub table: String,
    pub archived_rows: i64,
    pub pages: i64,
    pub watermark: Option<String>,
    pub acked_through: Option<String>,
    pub last_page_at: Option<DateTime<Utc>>,
    /// Time of the newest archived row (its table's time column).
    pub newest_row_at: Option<DateTime<Utc>>,
    /// `now` − [`TableStatus::newest_row_at`], seconds.
    pub lag_seconds: Option<i64>,
    /// When the table last archived without error.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Failed runs of the table in all.
    pub errors_total: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Connects with bounded timeouts (acquire 10 s, statements 120 s).
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let opts: PgConnectOptions = url.parse()?;
        let opts = opts.options([("statement_timeout", "120s")]);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        Ok(Self { pool })
    }

    /// One round trip (`SELECT 1`).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        sqlx::migrate!("../migrations/postgres")
            .run(&self.pool)
            .await
    }

    pub async fn watermark(&self, table: &str) -> Result<Watermark, sqlx::Error> {
        let row = sqlx::query(
            "SELECT cursor, acked_cursor FROM archive_watermarks WHERE table_name = $1",
        )
        .bind(table)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Watermark {
                cursor: r.try_get("cursor")?,
                acked_cursor: r.try_get("acked_cursor")?,
            },
            None => Watermark::default(),
        })
    }

    /// Writes one parsed page and its cursor in ONE transaction; returns the
    /// rows actually inserted (rows already archived are skipped by key).
    pub async fn write_page(
        &self,
        spec: &'static TableSpec,
        page: &CopyPage,
        cursor: &str,
    ) -> Result<u64, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        for &(y, m) in &page.months {
            let m = Month::new(y, m);
            ensure_partitions_on(&mut tx, spec, m, m).await?;
        }
        let cols = spec.pg_columns().join(", ");
        sqlx::query(&format!(
            "CREATE TEMP TABLE archive_stage (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP",
            spec.name
        ))
        .execute(&mut *tx)
        .await?;
        {
            let conn: &mut PgConnection = &mut tx;
            let mut copy = conn
                .copy_in_raw(&format!("COPY archive_stage ({cols}) FROM STDIN"))
                .await?;
            if let Err(e) = copy.send(page.text.as_bytes()).await {
                let _ = copy.abort(e.to_string()).await;
                return Err(e);
            }
            copy.finish().await?;
        }
        let inserted = sqlx::query(&format!(
            "INSERT INTO {t} ({cols}) SELECT {cols} FROM archive_stage ON CONFLICT DO NOTHING",
            t = spec.name
        ))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "INSERT INTO archive_watermarks (table_name, cursor, archived_rows, pages, updated_at) \
             VALUES ($1, $2, $3, 1, now()) \
             ON CONFLICT (table_name) DO UPDATE SET cursor = EXCLUDED.cursor, \
             archived_rows = archive_watermarks.archived_rows + EXCLUDED.archived_rows, \
             pages = archive_watermarks.pages + 1, updated_at = now()",
        )
        .bind(spec.name)
        .bind(cursor)
        .bind(i64::try_from(inserted).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(inserted)
    }

    pub async fn mark_acked(&self, table: &str, cursor: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE archive_watermarks SET acked_cursor = $2, acked_at = now() WHERE table_name = $1",
        )
        .bind(table)
        .bind(cursor)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records the outcome of a table's run: `None` clears the last error
    /// and stamps the success; `Some` records the error and counts it.
    pub async fn set_error(&self, table: &str, error: Option<&str>) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO archive_errors (table_name, error, at, last_success_at, errors_total) \
             VALUES ($1, $2, now(), CASE WHEN $2 IS NULL THEN now() END, \
             CASE WHEN $2 IS NULL THEN 0 ELSE 1 END) \
             ON CONFLICT (table_name) DO UPDATE SET error = EXCLUDED.error, at = now(), \
             last_success_at = COALESCE(EXCLUDED.last_success_at, archive_errors.last_success_at), \
             errors_total = archive_errors.errors_total + EXCLUDED.errors_total",
        )
        .bind(table)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Per table: archived rows, watermark, ack, the newest archived row's
    /// time and the lag behind `now`, last success, last error.
    pub async fn status(&self, now: DateTime<Utc>) -> Result<Vec<TableStatus>, sqlx::Error> {
        let mut out = Vec::new();
        for spec in tables::ALL {
            let r = sqlx::query(
                "SELECT w.archived_rows, w.pages, w.cursor, w.acked_cursor, w.updated_at, \
                 e.error, e.at AS error_at, e.last_success_at, e.errors_total \
                 FROM (SELECT $1::text AS t) q \
                 LEFT JOIN archive_watermarks w ON w.table_name = q.t \
                 LEFT JOIN archive_errors e ON e.table_name = q.t",
            )
            .bind(spec.name)
            .fetch_one(&self.pool)
            .await?;
            let newest: Option<DateTime<Utc>> =
                sqlx::query_scalar(&format!("SELECT max({}) FROM {}", spec.time_col, spec.name))
                    .fetch_one(&self.pool)
                    .await?;
            let error: Option<String> = r.try_get("error")?;
            out.push(TableStatus {
                table: spec.name.to_string(),
                archived_rows: r.try_get::<Option<i64>, _>("archived_rows")?.unwrap_or(0),
                pages: r.try_get::<Option<i64>, _>("pages")?.unwrap_or(0),
                watermark: r.try_get("cursor")?,
                acked_through: r.try_get("acked_cursor")?,
                last_page_at: r.try_get("updated_at")?,
                newest_row_at: newest,
                lag_seconds: newest.map(|t| (now - t).num_seconds().max(0)),
                last_success_at: r.try_get("last_success_at")?,
                errors_total: r.try_get::<Option<i64>, _>("errors_total")?.unwrap_or(0),
                last_error_at: if error.is_some() {
                    r.try_get("error_at")?
                } else {
                    None
                },
                last_error: error,
            });
        }
        Ok(out)
    }

    /// Creates the partitions of every partitioned table from the current
    /// month through [`MONTHS_AHEAD`] months ahead.
    pub async fn ensure_partitions_ahead(&self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        let m = Month::of(now);
        for spec in tables::ALL.iter().filter(|s| s.partition_col.is_some()) {
            let mut conn = self.pool.acquire().await?;
            ensure_partitions_on(&mut conn, spec, m, m.plus(MONTHS_AHEAD)).await?;
        }
        Ok(())
    }

    /// Drops the partitions whose month is more than `months` before the
    /// current month; returns the dropped partitions.
    pub async fn apply_retention(
        &self,
        now: DateTime<Utc>,
        months: u32,
    ) -> Result<Vec<String>, sqlx::Error> {
        let cutoff = Month::of(now).plus(-i32::try_from(months).unwrap_or(i32::MAX));
        let mut dropped = Vec::new();
        for spec in tables::ALL.iter().filter(|s| s.partition_col.is_some()) {
            for (name, month) in self.partitions(spec.name).await? {
                if month < cutoff {
                    sqlx::query(&format!("DROP TABLE {name}"))
                        .execute(&self.pool)
                        .await?;
                    dropped.push(name);
                }
            }
        }
        Ok(dropped)
    }

    /// The monthly partitions of a table, oldest first.
    pub async fn partitions(&self, table: &str) -> Result<Vec<(String, Month)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT c.relname::text AS name FROM pg_inherits i \
             JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = $1::regclass ORDER BY 1",
        )
        .bind(table)
        .fetch_all(&self.pool)
        .await?;
        let prefix = format!("{table}_p");
        let mut out = Vec::new();
        for r in rows {
            let name: String = r.try_get("name")?;
            if let Some(m) = name.strip_prefix(&prefix).and_then(Month::parse) {
                out.push((name, m));
            }
        }
        Ok(out)
    }
}

/// A calendar month (UTC), ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    index: i32, // year * 12 + (month - 1)
}

impl Month {
    pub fn new(year: i32, month: u32) -> Self {
        Self {
            index: year * 12 + i32::try_from(month).unwrap_or(1) - 1,
        }
    }
    pub fn of(t: DateTime<Utc>) -> Self {
        Self::new(t.year(), t.month())
    }
    pub fn plus(self, months: i32) -> Self {
        Self {
            index: self.index + months,
        }
    }
    pub fn year(self) -> i32 {
        self.index.div_euclid(12)
    }
    pub fn month(self) -> i32 {
        self.index.rem_euclid(12) + 1
    }
    /// `YYYYMM`, the partition name suffix.
    pub fn suffix(self) -> String {
        format!("{:04}{:02}", self.year(), self.month())
    }
    fn parse(s: &str) -> Option<Self> {
        if s.len() != 6 {
            return None;
        }
        let y: i32 = s.get(..4)?.parse().ok()?;
        let m: u32 = s.get(4..)?.parse().ok()?;
        (1..=12).contains(&m).then(|| Self::new(y, m))
    }
    fn start_literal(self) -> String {
        format!("{:04}-{:02}-01 00:00:00+00", self.year(), self.month())
    }
}

async fn ensure_partitions_on(
    conn: &mut PgConnection,
    spec: &TableSpec,
    from: Month,
    to: Month,
) -> Result<(), sqlx::Error> {
    let mut m = from;
    while m <= to {
        let name = format!("{}_p{}", spec.name, m.suffix());
        let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
            .bind(&name)
            .fetch_one(&mut *conn)
            .await?;
        if exists.is_none() {
            sqlx::query(&format!(
                "CREATE TABLE IF NOT EXISTS {name} PARTITION OF {t} FOR VALUES FROM ('{a}') TO ('{b}')",
                t = spec.name,
                a = m.start_literal(),
                b = m.plus(1).start_literal(),
            ))
            .execute(&mut *conn)
            .await?;
        }
        m = m.plus(1);
    }
    Ok(())
}
