//! `ALLOWED_ORIGINS`: the origins a state-changing request may come from.

use super::truncate;

/// `scheme://host[:port]` (lowercase, default port dropped) of an `http(s)`
/// origin without path, query, fragment or credentials; `None` otherwise
/// (including the opaque origin `null`).
pub fn normalize_origin(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let url = worker::Url::parse(raw).ok()?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none()
        && url.path() == "/"
        && !raw.trim_end_matches('/').ends_with(':');
    plain.then(|| url.origin().ascii_serialization())
}

/// The entries of `ALLOWED_ORIGINS` that are not origins (each with why,
/// when it is more than the shape).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must list origins like https://app.example.com; bad: {}", .0.join(", "))]
pub struct BadOrigins(pub Vec<String>);

/// Parses `ALLOWED_ORIGINS` (comma-separated origins; `https` only in
/// production). The error names every bad entry.
pub fn parse_allowed_origins(raw: &str, production: bool) -> Result<Vec<String>, BadOrigins> {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match normalize_origin(entry) {
            Some(o) if production && !o.starts_with("https://") => bad.push(format!(
                "{} (https only when ENVIRONMENT=production)",
                truncate(entry, 64)
            )),
            Some(o) => ok.push(o),
            None => bad.push(truncate(entry, 64)),
        }
    }
    if bad.is_empty() {
        Ok(ok)
    } else {
        Err(BadOrigins(bad))
    }
}
