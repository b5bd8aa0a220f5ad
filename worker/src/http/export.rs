//! The export routes of the Postgres archive (docs/archive.md), as pure
//! data: `GET /export/{table}?after=&limit=` and `POST /export/{table}/ack`,
//! their auth rule, the ack body and the mapping of export errors to replies.
//!
//! Auth rule (decided here, the only place): on `/export/*`
//! - `ARCHIVE_TOKEN` (bearer) may read pages and acknowledge;
//! - `API_TOKEN` (bearer) may read pages only (the trader can look at what
//!   is exported) and never acknowledge: an ack lets pruning delete rows;
//! - a Cloudflare Access JWT is not accepted here;
//! - `ARCHIVE_TOKEN` is accepted by no other route (the general gate,
//!   `super::auth`, knows only `API_TOKEN` and Access).

use serde::Deserialize;

use super::auth::AuthRefusal;
use super::error::{truncate, ApiError, Query};
use crate::auth::{BearerTokenVerifier, CredentialVerifier, PresentedCredentials};
use crate::export::service::ExportError;
use crate::export::{self, ExportTable, DEFAULT_LIMIT, MAX_LIMIT};

/// Every export path starts with this (and `/export` itself).
pub const EXPORT_PREFIX: &str = "/export";

/// A matched export route with its validated parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportRoute {
    /// `GET /export/{table}?after=<cursor>&limit=<n>` (limit clamped to
    /// 1..=[`MAX_LIMIT`]; the cursor is checked against the table later).
    Page {
        table: &'static ExportTable,
        after: Option<String>,
        limit: u32,
    },
    /// `POST /export/{table}/ack` with `{"through": "<cursor>"}`.
    Ack { table: &'static ExportTable },
}

impl ExportRoute {
    /// The exported table.
    pub fn table(&self) -> &'static ExportTable {
        match self {
            ExportRoute::Page { table, .. } | ExportRoute::Ack { table } => table,
        }
    }
}

/// Whether `path` is an export path (served only by these rules).
pub fn is_export_path(path: &str) -> bool {
    path == EXPORT_PREFIX
        || path
            .strip_prefix(EXPORT_PREFIX)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Who called an export route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportCaller {
    /// Holder of `ARCHIVE_TOKEN`: pages and acks.
    Archiver,
    /// Holder of `API_TOKEN`: pages only.
    ApiReader,
}

/// The export auth gate, run before the route's parameters are looked at.
/// `tokens` is `None` when the Worker's configuration is invalid (503);
/// otherwise `(API_TOKEN, ARCHIVE_TOKEN if set)`. Tokens are compared in
/// constant time; an empty token never matches.
pub fn authenticate(
    presented: &PresentedCredentials<'_>,
    tokens: Option<(&str, Option<&str>)>,
) -> Result<ExportCaller, AuthRefusal> {
    let (api_token, archive_token) = tokens.ok_or(AuthRefusal::Misconfigured)?;
    if let Some(archive) = archive_token {
        if BearerTokenVerifier::new(archive)
            .verify(presented)
            .is_some()
        {
            return Ok(ExportCaller::Archiver);
        }
    }
    if BearerTokenVerifier::new(api_token)
        .verify(presented)
        .is_some()
    {
        return Ok(ExportCaller::ApiReader);
    }
    Err(AuthRefusal::Unauthorized)
}

/// After routing: an ack needs the archiver (403 otherwise).
pub fn permit(route: &ExportRoute, caller: ExportCaller) -> Result<(), ApiError> {
    match (route, caller) {
        (ExportRoute::Ack { .. }, ExportCaller::ApiReader) => Err(ApiError::new(
            403,
            "forbidden",
            "only the archiver (ARCHIVE_TOKEN) may acknowledge an export",
        )),
        _ => Ok(()),
    }
}

fn not_found(path: &str) -> ApiError {
    ApiError::new(
        404,
        "not_found",
        format!("no route for {}", truncate(path, 64)),
    )
}

/// Matches an export path (see [`is_export_path`]) to its route.
pub fn route(method: &str, path: &str, query: Option<&str>) -> Result<ExportRoute, ApiError> {
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let rest = trimmed
        .strip_prefix(EXPORT_PREFIX)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(|| not_found(path))?;
    let (name, ack) = match rest.split_once('/') {
        None => (rest, false),
        Some((name, "ack")) => (name, true),
        Some(_) => return Err(not_found(path)),
    };
    let table = export::table(name).ok_or_else(|| {
        ApiError::new(
            404,
            "not_found",
            format!("no exported table {}", truncate(name, 48)),
        )
    })?;
    let allowed = if ack { "POST" } else { "GET" };
    ApiError::require_method(method, allowed, trimmed)?;
    let mut q = Query::parse(query.unwrap_or(""))?;
    let route = if ack {
        ExportRoute::Ack { table }
    } else {
        let after = q.take("after");
        let limit = match q.take("limit") {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(n) if n >= 1 => u32::try_from(n.min(u64::from(MAX_LIMIT))).unwrap_or(MAX_LIMIT),
                _ => {
                    return Err(ApiError::bad_request(
                        "query parameter 'limit' must be a positive integer",
                    ))
                }
            },
        };
        if let Some(a) = &after {
            table.parse_cursor(a).map_err(|e| error_reply(&e.into()))?;
        }
        ExportRoute::Page {
            table,
            after,
            limit,
        }
    };
    q.reject_unused()?;
    Ok(route)
}

/// Body of `POST /export/{table}/ack`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    /// The cursor through which the archive holds every row.
    pub through: String,
}

/// Parses an ack body (400 on anything but `{"through": "<cursor>"}`).
pub fn parse_ack(raw: &[u8]) -> Result<AckBody, ApiError> {
    serde_json::from_slice(raw).map_err(|_| {
        ApiError::bad_request("the body must be {\"through\": \"<cursor>\"} and nothing else")
    })
}

/// The one mapping of export errors to replies (store details only logged).
pub fn error_reply(e: &ExportError) -> ApiError {
    match e {
        ExportError::BadCursor(c) => ApiError::bad_request(c.to_string()),
        ExportError::UnknownCursor { .. } => ApiError::new(409, "unknown_cursor", e.to_string()),
        ExportError::Store(_) => ApiError::internal(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const API: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const ARCHIVE: &str = "cccccccccccccccccccccccccccccccccccc";

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    fn who(auth: Option<&str>, archive: Option<&str>) -> Result<ExportCaller, AuthRefusal> {
        let presented = PresentedCredentials::from_headers(auth, None);
        authenticate(&presented, Some((API, archive)))
    }

    #[test]
    fn archive_token_reads_and_acks_the_api_token_only_reads() {
        assert_eq!(
            who(Some(&bearer(ARCHIVE)), Some(ARCHIVE)),
            Ok(ExportCaller::Archiver)
        );
        assert_eq!(
            who(Some(&bearer(API)), Some(ARCHIVE)),
            Ok(ExportCaller::ApiReader)
        );
        // No archiver configured: its token means nothing.
        assert_eq!(
            who(Some(&bearer(ARCHIVE)), None),
            Err(AuthRefusal::Unauthorized)
        );
        assert_eq!(who(None, Some(ARCHIVE)), Err(AuthRefusal::Unauthorized));
        assert_eq!(
            who(Some("Bearer wrong"), Some(ARCHIVE)),
            Err(AuthRefusal::Unauthorized)
        );
        // An Access JWT alone is not an export credential.
        let jwt_only = PresentedCredentials::from_headers(None, Some("a.b.c"));
        assert_eq!(
            authenticate(&jwt_only, Some((API, Some(ARCHIVE)))),
            Err(AuthRefusal::Unauthorized)
        );
        let archive_header = bearer(ARCHIVE);
        let presented = PresentedCredentials::from_headers(Some(&archive_header), None);
        assert_eq!(
            authenticate(&presented, None),
            Err(AuthRefusal::Misconfigured)
        );
        let md = export::table("market_data").unwrap();
        let ack = ExportRoute::Ack { table: md };
        assert_eq!(permit(&ack, ExportCaller::Archiver), Ok(()));
        assert_eq!(
            permit(&ack, ExportCaller::ApiReader).unwrap_err().status,
            403
        );
        let page = route("GET", "/export/market_data", None).unwrap();
        assert_eq!(permit(&page, ExportCaller::ApiReader), Ok(()));
    }

    /// The general gate never lets ARCHIVE_TOKEN in anywhere else.
    #[test]
    fn the_archive_token_opens_no_other_route() {
        use futures_executor::block_on;
        struct NoAccess;
        impl super::super::auth::AccessTokenVerifier for NoAccess {
            async fn verify(
                &self,
                _: &crate::access::AccessSettings,
                _: &str,
                _: i64,
            ) -> Option<crate::auth::Principal> {
                None
            }
        }
        let archive = bearer(ARCHIVE);
        let presented = PresentedCredentials::from_headers(Some(&archive), None);
        let cfg = super::super::auth::AuthConfig {
            api_token: API,
            access: None,
        };
        for path in ["/market/latest", "/proposals", "/kill-switch", "/audit"] {
            assert_eq!(
                block_on(super::super::auth::authenticate(
                    path,
                    Some(cfg),
                    &presented,
                    &NoAccess,
                    0
                )),
                Err(AuthRefusal::Unauthorized),
                "{path}"
            );
        }
    }

    #[test]
    fn export_routes_with_their_parameters() {
        let md = export::table("market_data").unwrap();
        assert!(is_export_path("/export/market_data"));
        assert!(is_export_path("/export"));
        assert!(!is_export_path("/exporter"));
        assert_eq!(
            route("GET", "/export/market_data", None),
            Ok(ExportRoute::Page {
                table: md,
                after: None,
                limit: 1000
            })
        );
        assert_eq!(
            route(
                "GET",
                "/export/market_data/",
                Some("after=1733100000000%7CSPY&limit=9999")
            ),
            Ok(ExportRoute::Page {
                table: md,
                after: Some("1733100000000|SPY".into()),
                limit: 5000
            })
        );
        let runs = export::table("ingest_runs").unwrap();
        assert_eq!(
            route("POST", "/export/ingest_runs/ack", None),
            Ok(ExportRoute::Ack { table: runs })
        );
        let cases = [
            ("GET", "/export/settings", None, 404),
            ("GET", "/export/market_data/rows", None, 404),
            ("GET", "/export", None, 404),
            ("POST", "/export/market_data", None, 405),
            ("GET", "/export/market_data/ack", None, 405),
            ("GET", "/export/market_data", Some("limit=0"), 400),
            ("GET", "/export/market_data", Some("limit=x"), 400),
            ("GET", "/export/market_data", Some("after=SPY"), 400),
            ("GET", "/export/market_data", Some("since=1"), 400),
            ("GET", "/export/ingest_runs", Some("after=1&after=2"), 400),
        ];
        for (method, path, query, status) in cases {
            let e = route(method, path, query).unwrap_err();
            assert_eq!(e.status, status, "{method} {path} {query:?}: {}", e.message);
        }
    }

    #[test]
    fn ack_bodies_are_strict_and_errors_map_to_their_codes() {
        assert_eq!(
            parse_ack(br#"{"through":"42"}"#),
            Ok(AckBody {
                through: "42".into()
            })
        );
        let bad: [&[u8]; 4] = [
            b"",
            b"{}",
            br#"{"through":42}"#,
            br#"{"through":"1","x":1}"#,
        ];
        for body in bad {
            assert_eq!(parse_ack(body).unwrap_err().status, 400);
        }
        let e = error_reply(&ExportError::UnknownCursor {
            table: "market_data",
            cursor: "1|SPY".into(),
        });
        assert_eq!((e.status, e.code), (409, "unknown_cursor"));
        let e = error_reply(&ExportError::Store(crate::store::StoreError(
            "d1 down".into(),
        )));
        assert_eq!((e.status, e.message.contains("d1")), (500, false));
    }
}
