//! Reads the archive (Postgres, schema in migrations/postgres): one UTC day
//! of chain snapshots and underlying metrics at a time, in time order.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};

use crate::archive::{ExpiryRow, MetricsRow};
use crate::error::redact_url;
use crate::ReplayError;

pub struct Archive {
    pool: PgPool,
}

fn q(e: sqlx::Error) -> ReplayError {
    ReplayError::Query(e.to_string())
}

impl Archive {
    /// Connects (5 s to reach the server); a clear error when it cannot.
    pub async fn connect(url: &str) -> Result<Self, ReplayError> {
        let unreachable = |reason: String| ReplayError::Unreachable {
            url: redact_url(url),
            reason,
        };
        let opts: PgConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| unreachable(e.to_string()))?;
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(opts)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        sqlx::query("SELECT 1 FROM chain_snapshots LIMIT 0")
            .execute(&pool)
            .await
            .map_err(|e| unreachable(format!("no archive schema here ({e})")))?;
        Ok(Self { pool })
    }

    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Rows of `symbols` with `from <= ts < to`.
    pub async fn rows(
        &self,
        symbols: &[String],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(Vec<MetricsRow>, Vec<ExpiryRow>), ReplayError> {
        let metrics = sqlx::query(
            "SELECT symbol, (extract(epoch FROM ts) * 1000)::bigint AS ms, spot, \
             metrics_json::text AS m, factors_json::text AS f \
             FROM underlying_metrics_intraday \
             WHERE symbol = ANY($1) AND ts >= $2 AND ts < $3 ORDER BY ts, symbol",
        )
        .bind(symbols)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .map_err(q)?
        .into_iter()
        .map(|r| {
            Ok(MetricsRow {
                symbol: r.try_get("symbol")?,
                ts_ms: r.try_get("ms")?,
                spot: r.try_get("spot")?,
                metrics_json: r.try_get("m")?,
                factors_json: r.try_get("f")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(q)?;
        let chains = sqlx::query(
            "SELECT symbol, (extract(epoch FROM ts) * 1000)::bigint AS ms, expiry, dte, \
             contracts_json::text AS c FROM chain_snapshots \
             WHERE symbol = ANY($1) AND ts >= $2 AND ts < $3 ORDER BY ts, symbol, expiry",
        )
        .bind(symbols)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .map_err(q)?
        .into_iter()
        .map(|r| {
            Ok(ExpiryRow {
                symbol: r.try_get("symbol")?,
                ts_ms: r.try_get("ms")?,
                expiry: r.try_get::<NaiveDate, _>("expiry")?,
                dte: r.try_get("dte")?,
                contracts_json: r.try_get("c")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(q)?;
        Ok((metrics, chains))
    }
}
