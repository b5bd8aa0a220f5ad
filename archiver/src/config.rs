//! Configuration from the environment, validated at start: every problem is
//! listed at once, and the token is never printed.

use std::fmt;

pub const DEFAULT_RETENTION_MONTHS: u32 = 24;
pub const DEFAULT_PAGE_LIMIT: usize = 1000;
pub const MAX_PAGE_LIMIT: usize = 5000;

#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub worker_url: String,
    pub archive_token: String,
    pub retention_months: u32,
    pub page_limit: usize,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("worker_url", &self.worker_url)
            .field("archive_token", &"<redacted>")
            .field("retention_months", &self.retention_months)
            .field("page_limit", &self.page_limit)
            .finish()
    }
}

/// The URL without its password.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..s + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

fn is_loopback_http(url: &str) -> bool {
    let rest = match url.strip_prefix("http://") {
        Some(r) => r,
        None => return false,
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

impl Config {
    /// Reads the configuration through `get` (the environment in `main`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let mut required = |name: &str| match get(name) {
            Some(v) if !v.trim().is_empty() => v.trim().to_string(),
            _ => {
                errors.push(format!("{name} is not set"));
                String::new()
            }
        };
        let database_url = required("DATABASE_URL");
        let worker_url = required("WORKER_URL");
        let archive_token = required("ARCHIVE_TOKEN");
        if !database_url.is_empty()
            && !database_url.starts_with("postgres://")
            && !database_url.starts_with("postgresql://")
        {
            errors.push("DATABASE_URL must start with postgres:// or postgresql://".into());
        }
        if !worker_url.is_empty()
            && !worker_url.starts_with("https://")
            && !is_loopback_http(&worker_url)
        {
            errors.push(format!(
                "WORKER_URL must be https:// (plain http only to loopback), got {worker_url:?}"
            ));
        }
        if !archive_token.is_empty() && archive_token.len() < 16 {
            errors.push("ARCHIVE_TOKEN is shorter than 16 characters".into());
        }
        let retention_months = match get("ARCHIVE_RETENTION_MONTHS") {
            None => DEFAULT_RETENTION_MONTHS,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(m) if m >= 1 => m,
                _ => {
                    errors.push(format!(
                        "ARCHIVE_RETENTION_MONTHS must be a whole number >= 1, got {v:?}"
                    ));
                    DEFAULT_RETENTION_MONTHS
                }
            },
        };
        let page_limit = match get("ARCHIVE_PAGE_LIMIT") {
            None => DEFAULT_PAGE_LIMIT,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE_LIMIT).contains(&n) => n,
                _ => {
                    errors.push(format!(
                        "ARCHIVE_PAGE_LIMIT must be 1..={MAX_PAGE_LIMIT}, got {v:?}"
                    ));
                    DEFAULT_PAGE_LIMIT
                }
            },
        };
        if errors.is_empty() {
            Ok(Self {
                database_url,
                worker_url: worker_url.trim_end_matches('/').to_string(),
                archive_token,
                retention_months,
                page_limit,
            })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn every_error_is_listed_and_the_token_never_printed() {
        let errs = Config::from_lookup(lookup(&[("WORKER_URL", "http://example.com")]))
            .expect_err("invalid");
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs.iter().any(|e| e.contains("DATABASE_URL")));
        assert!(errs.iter().any(|e| e.contains("ARCHIVE_TOKEN")));
        assert!(errs.iter().any(|e| e.contains("https")));
        let secret = "s3cret-token-0123456789";
        let cfg = Config::from_lookup(lookup(&[
            ("DATABASE_URL", "postgres://u:pw@127.0.0.1/db"),
            ("WORKER_URL", "http://127.0.0.1:8787/"),
            ("ARCHIVE_TOKEN", secret),
        ]))
        .expect("valid");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains(secret) && !shown.contains("pw@"), "{shown}");
        assert_eq!(cfg.worker_url, "http://127.0.0.1:8787");
    }
}
