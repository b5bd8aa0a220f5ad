//! The one gate in front of every state-changing request (pure).
//!
//! A state change (`POST`, `PUT`, `PATCH`, `DELETE`, anything but `GET`,
//! `HEAD` and `OPTIONS`) is served only when:
//!
//! 1. it says `Content-Type: application/json` (parameters such as `charset`
//!    allowed): an HTML form or a `text/plain` "simple request" from another
//!    site cannot carry one without a CORS preflight, which the Worker never
//!    grants;
//! 2. its `Origin`, when present, is the Worker's own or one of
//!    `ALLOWED_ORIGINS`; a request without `Origin` (non-browser clients) is
//!    accepted only when it authenticated with the bearer token, never on an
//!    Access cookie alone;
//! 3. its body is at most [`MAX_BODY_BYTES`] (a larger `Content-Length` is
//!    refused before anything is read; a body without a length is read only
//!    up to the bound) and is a JSON body: an empty body is never an implicit
//!    approval (`{}` is the smallest).

use thiserror::Error;

use super::error::ApiError;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = crate::approvals::MAX_BODY_BYTES;

/// Why the gate refused a request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GateError {
    #[error("state-changing requests must send Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("requests from this origin are not allowed")]
    OriginNotAllowed,
    #[error("a request without an Origin header must authenticate with the API bearer token")]
    OriginRequired,
    #[error("request body is larger than {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    #[error("Content-Length is not a valid length")]
    BadContentLength,
    #[error("state-changing requests take a JSON object body ({{}} at least)")]
    EmptyBody,
    #[error("request body must be an empty JSON object ({{}})")]
    NotEmptyObject,
}

impl From<GateError> for ApiError {
    fn from(e: GateError) -> Self {
        let (status, code) = match e {
            GateError::UnsupportedMediaType => (415, "unsupported_media_type"),
            GateError::OriginNotAllowed | GateError::OriginRequired => (403, "origin_not_allowed"),
            GateError::PayloadTooLarge => (413, "payload_too_large"),
            GateError::BadContentLength | GateError::EmptyBody | GateError::NotEmptyObject => {
                (400, "bad_request")
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// Whether `method` changes state (everything but `GET`, `HEAD`, `OPTIONS`).
pub fn is_state_changing(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// What the gate looks at in a request's head.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    pub content_type: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub content_length: Option<&'a str>,
    /// The Worker's own origin (`scheme://host[:port]` of the request URL).
    pub own_origin: &'a str,
    /// Whether the caller authenticated with the API bearer token.
    pub bearer_authenticated: bool,
}

/// Checks the head of a request before its body is read. Requests that do
/// not change state pass.
pub fn check_head(head: &RequestHead<'_>, allowed_origins: &[String]) -> Result<(), GateError> {
    if !is_state_changing(head.method) {
        return Ok(());
    }
    if !head.content_type.is_some_and(is_json_media_type) {
        return Err(GateError::UnsupportedMediaType);
    }
    match head.origin {
        None if head.bearer_authenticated => {}
        None => return Err(GateError::OriginRequired),
        Some(raw) => {
            let origin = normalize_origin(raw).ok_or(GateError::OriginNotAllowed)?;
            let own = normalize_origin(head.own_origin);
            if own.as_deref() != Some(origin.as_str()) && !allowed_origins.contains(&origin) {
                return Err(GateError::OriginNotAllowed);
            }
        }
    }
    check_declared_length(head.content_length)
}

/// `application/json`, case-insensitive, with or without parameters.
pub fn is_json_media_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

pub use crate::config::origins::{normalize_origin, parse_allowed_origins};

/// Refuses a declared `Content-Length` above [`MAX_BODY_BYTES`] before any
/// byte is read.
pub fn check_declared_length(content_length: Option<&str>) -> Result<(), GateError> {
    match content_length.map(str::trim) {
        None => Ok(()),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n <= MAX_BODY_BYTES as u64 => Ok(()),
            Ok(_) => Err(GateError::PayloadTooLarge),
            // Digits too many for u64 are too large, anything else is malformed.
            Err(_) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                Err(GateError::PayloadTooLarge)
            }
            Err(_) => Err(GateError::BadContentLength),
        },
    }
}

/// A request body read chunk by chunk, refused as soon as it passes
/// [`MAX_BODY_BYTES`] (for bodies sent without a length).
#[derive(Debug, Default)]
pub struct BoundedBody {
    bytes: Vec<u8>,
}

impl BoundedBody {
    /// Appends `chunk`, or refuses when the body would pass the bound.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), GateError> {
        if self.bytes.len().saturating_add(chunk.len()) > MAX_BODY_BYTES {
            return Err(GateError::PayloadTooLarge);
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// The body, refused when empty (or whitespace only).
    pub fn finish(self) -> Result<Vec<u8>, GateError> {
        if self.bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(GateError::EmptyBody);
        }
        Ok(self.bytes)
    }
}

/// The body of a state change that takes no parameters: exactly `{}`.
pub fn parse_empty_object(raw: &[u8]) -> Result<(), GateError> {
    match serde_json::from_slice::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Object(map)) if map.is_empty() => Ok(()),
        _ => Err(GateError::NotEmptyObject),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "https://sas.example.workers.dev";

    fn head<'a>(
        method: &'a str,
        content_type: Option<&'a str>,
        origin: Option<&'a str>,
        bearer: bool,
    ) -> RequestHead<'a> {
        RequestHead {
            method,
            content_type,
            origin,
            content_length: Some("2"),
            own_origin: OWN,
            bearer_authenticated: bearer,
        }
    }

    fn allowed() -> Vec<String> {
        parse_allowed_origins("https://dash.example.com", true).unwrap()
    }

    #[test]
    fn cross_site_requests_need_json_content_type() {
        let json = Some("application/json");
        assert_eq!(check_head(&head("POST", json, None, true), &[]), Ok(()));
        for ct in [
            "application/json; charset=utf-8",
            "Application/JSON;charset=UTF-8",
        ] {
            assert_eq!(
                check_head(&head("POST", Some(ct), None, true), &[]),
                Ok(()),
                "{ct}"
            );
        }
        for ct in [
            None,
            Some("text/plain"),
            Some("text/plain; charset=utf-8"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/jsonx"),
            Some("text/plain; application/json"),
            Some(""),
        ] {
            for method in ["POST", "PUT", "PATCH", "DELETE"] {
                assert_eq!(
                    check_head(&head(method, ct, None, true), &[]),
                    Err(GateError::UnsupportedMediaType),
                    "{method} {ct:?}"
                );
            }
        }
        // Reads are not gated.
        assert_eq!(
            check_head(&head("GET", None, Some("https://evil.example"), false), &[]),
            Ok(())
        );
        let e: ApiError = GateError::UnsupportedMediaType.into();
        assert_eq!((e.status, e.code), (415, "unsupported_media_type"));
    }

    #[test]
    fn cross_site_requests_need_an_allowed_origin() {
        let json = Some("application/json");
        let list = allowed();
        for origin in [
            OWN,
            "https://SAS.example.workers.dev",
            "https://sas.example.workers.dev:443",
            "https://dash.example.com",
        ] {
            assert_eq!(
                check_head(&head("POST", json, Some(origin), false), &list),
                Ok(()),
                "{origin}"
            );
        }
        for origin in [
            "https://evil.example",
            "http://sas.example.workers.dev",
            "https://sas.example.workers.dev.evil.example",
            "https://sas.example.workers.dev:8443",
            "null",
            "",
            "https://dash.example.com/path",
        ] {
            for bearer in [false, true] {
                assert_eq!(
                    check_head(&head("POST", json, Some(origin), bearer), &list),
                    Err(GateError::OriginNotAllowed),
                    "{origin}"
                );
            }
        }
        // No Origin: only a bearer-token client (never an Access cookie alone).
        assert_eq!(
            check_head(&head("POST", json, None, false), &list),
            Err(GateError::OriginRequired)
        );
        let e: ApiError = GateError::OriginRequired.into();
        assert_eq!((e.status, e.code), (403, "origin_not_allowed"));
    }

    #[test]
    fn allowed_origins_are_validated() {
        assert_eq!(
            parse_allowed_origins(" https://a.example , https://b.example:8443/ ", true).unwrap(),
            ["https://a.example", "https://b.example:8443"]
        );
        assert_eq!(
            parse_allowed_origins("http://localhost:5173", false).unwrap(),
            ["http://localhost:5173"]
        );
        let e = parse_allowed_origins(
            "http://localhost:5173,ftp://x,https://ok.example,https://a.example/x",
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("http://localhost:5173 (https only")
                && e.contains("ftp://x")
                && e.contains("https://a.example/x"),
            "{e}"
        );
        assert!(!e.contains("ok.example"), "{e}");
    }

    #[test]
    fn payload_too_large_is_refused_before_reading() {
        assert_eq!(check_declared_length(None), Ok(()));
        assert_eq!(check_declared_length(Some("4096")), Ok(()));
        assert_eq!(
            check_declared_length(Some("4097")),
            Err(GateError::PayloadTooLarge)
        );
        assert_eq!(
            check_declared_length(Some("99999999999999999999999")),
            Err(GateError::PayloadTooLarge)
        );
        assert_eq!(
            check_declared_length(Some("-1")),
            Err(GateError::BadContentLength)
        );
        let mut h = head("POST", Some("application/json"), None, true);
        h.content_length = Some("1000000");
        assert_eq!(check_head(&h, &[]), Err(GateError::PayloadTooLarge));
        let e: ApiError = GateError::PayloadTooLarge.into();
        assert_eq!((e.status, e.code), (413, "payload_too_large"));
        // Without a length: refused as soon as the bound is passed.
        let mut body = BoundedBody::default();
        body.push(&[b' '; 4000]).unwrap();
        body.push(&[b' '; 96]).unwrap();
        assert_eq!(body.push(b"x"), Err(GateError::PayloadTooLarge));
    }

    #[test]
    fn cross_site_requests_empty_body_is_not_an_approval() {
        assert_eq!(BoundedBody::default().finish(), Err(GateError::EmptyBody));
        let mut ws = BoundedBody::default();
        ws.push(b" \n\t").unwrap();
        assert_eq!(ws.finish(), Err(GateError::EmptyBody));
        let mut b = BoundedBody::default();
        b.push(b"{}").unwrap();
        assert_eq!(b.finish().unwrap(), b"{}");
        assert_eq!(parse_empty_object(b" {} "), Ok(()));
        for raw in [&b"{\"x\":1}"[..], b"[]", b"", b"{"] {
            assert_eq!(parse_empty_object(raw), Err(GateError::NotEmptyObject));
        }
    }
}
