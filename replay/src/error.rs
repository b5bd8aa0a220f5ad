//! The replay's one error type; `main` prints it and exits non-zero.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReplayError {
    /// Every problem with the arguments and config files, listed at once.
    #[error("invalid arguments:\n  - {}", .0.join("\n  - "))]
    InvalidArguments(Vec<String>),
    #[error("cannot reach Postgres at {url}: {reason} (is the server running? set DATABASE_URL or --database-url)")]
    Unreachable { url: String, reason: String },
    #[error("Postgres query failed: {0}")]
    Query(String),
    #[error("archived row unusable ({what}): {reason}")]
    BadRow { what: String, reason: String },
    #[error("the archive holds no chain snapshot of {watchlist} between {from} and {to}")]
    NoData {
        watchlist: String,
        from: String,
        to: String,
    },
    #[error("cannot write {path}: {reason}")]
    Output { path: String, reason: String },
    #[error("seeding failed: {0}")]
    Seed(String),
}

/// Hides the password of a Postgres URL for messages.
#[must_use]
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s + 3 => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
