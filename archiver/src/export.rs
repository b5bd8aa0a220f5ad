//! Client of the Worker's export contract (docs/archive.md): pages and acks,
//! bounded timeouts, exponential backoff on 5xx / 429 / transport errors.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// Retries of one request after a retryable failure.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Attempts in total (>= 1).
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    pub const DEFAULT: Backoff = Backoff {
        attempts: 4,
        base: Duration::from_millis(500),
        max: Duration::from_secs(30),
    };

    /// The pause before retry number `n` (1-based).
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("worker answered HTTP {status} for {what}")]
    Status { status: u16, what: String },
    #[error("worker unreachable for {what}: {reason}")]
    Transport { what: String, reason: String },
    #[error("unparsable export page for {what}: {reason}")]
    BadPage { what: String, reason: String },
}

impl ExportError {
    fn retryable(&self) -> bool {
        match self {
            ExportError::Status { status, .. } => *status >= 500 || *status == 429,
            ExportError::Transport { .. } => true,
            ExportError::BadPage { .. } => false,
        }
    }
}

/// One page of the export.
#[derive(Debug, Clone)]
pub struct Page {
    pub rows: Vec<Value>,
    pub next_after: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageBody {
    table: String,
    rows: Vec<Value>,
    next_after: Option<String>,
}

pub struct ExportClient {
    http: reqwest::Client,
    base: String,
    token: String,
    backoff: Backoff,
}

impl ExportClient {
    /// `timeout` bounds every request as a whole (connect 10 s at most).
    pub fn new(
        base: &str,
        token: &str,
        timeout: Duration,
        backoff: Backoff,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            backoff,
        })
    }

    /// `GET /export/{table}?after=&limit=`; checks the page's shape.
    pub async fn page(
        &self,
        table: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, ExportError> {
        let what = format!("GET /export/{table} after {after:?}");
        let mut query: Vec<(&str, String)> = vec![("limit", limit.to_string())];
        if let Some(a) = after {
            query.push(("after", a.to_string()));
        }
        let url = format!("{}/export/{table}", self.base);
        let body = self
            .with_retries(&what, || {
                self.http
                    .get(&url)
                    .bearer_auth(&self.token)
                    .query(&query)
                    .send()
            })
            .await?;
        let bad = |reason: String| ExportError::BadPage {
            what: what.clone(),
            reason,
        };
        let page: PageBody = serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
        if page.table != table {
            return Err(bad(format!("page is for table {:?}", page.table)));
        }
        if page.rows.len() > limit {
            return Err(bad(format!(
                "{} rows over the limit {limit}",
                page.rows.len()
            )));
        }
        if page.rows.is_empty() != page.next_after.is_none() {
            return Err(bad(
                "next_after must be null exactly when rows is empty".into()
            ));
        }
        if page.next_after.as_deref() == after && after.is_some() {
            return Err(bad("next_after does not move past after".into()));
        }
        Ok(Page {
            rows: page.rows,
            next_after: page.next_after,
        })
    }

    /// `POST /export/{table}/ack {"through": cursor}`.
    pub async fn ack(&self, table: &str, through: &str) -> Result<(), ExportError> {
        let what = format!("POST /export/{table}/ack through {through:?}");
        let url = format!("{}/export/{table}/ack", self.base);
        let body = serde_json::json!({ "through": through });
        self.with_retries(&what, || {
            self.http
                .post(&url)
                .bearer_auth(&self.token)
                .json(&body)
                .send()
        })
        .await?;
        Ok(())
    }

    async fn with_retries<F, Fut>(&self, what: &str, send: F) -> Result<Vec<u8>, ExportError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<reqwest::Response, reqwest::Error>>,
    {
        let mut attempt = 1;
        loop {
            let err = match send().await {
                Ok(resp) if resp.status().is_success() => match resp.bytes().await {
                    Ok(b) => return Ok(b.to_vec()),
                    Err(e) => ExportError::Transport {
                        what: what.to_string(),
                        reason: e.without_url().to_string(),
                    },
                },
                Ok(resp) => ExportError::Status {
                    status: resp.status().as_u16(),
                    what: what.to_string(),
                },
                Err(e) => ExportError::Transport {
                    what: what.to_string(),
                    reason: e.without_url().to_string(),
                },
            };
            if !err.retryable() || attempt >= self.backoff.attempts.max(1) {
                return Err(err);
            }
            let pause = self.backoff.delay(attempt);
            tracing::warn!(error = %err, attempt, pause_ms = pause.as_millis() as u64, "export request failed; backing off");
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff {
            attempts: 10,
            base: Duration::from_millis(100),
            max: Duration::from_millis(500),
        };
        let d: Vec<u128> = (1..=5).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(d, vec![100, 200, 400, 500, 500]);
    }
}
