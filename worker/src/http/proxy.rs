//! The `/broker/*` passthrough: bridge answers mapped to Worker answers,
//! and the headers of every bridge request (pure).

use super::error::ApiError;
use crate::bridge::BridgeFailure;
use crate::config::Config;

/// The headers of every request the Worker sends to the bridge: JSON in
/// and out, the bearer token when `authenticated`, and the Access service
/// token for the tunnel in front of the bridge when configured (on every
/// call, `/health` included: Access guards the whole hostname).
pub fn bridge_headers(
    cfg: &Config,
    authenticated: bool,
    has_json_body: bool,
) -> Vec<(&'static str, String)> {
    let mut h = vec![("Accept", "application/json".to_owned())];
    if has_json_body {
        h.push(("Content-Type", "application/json".to_owned()));
    }
    if authenticated {
        h.push(("Authorization", format!("Bearer {}", cfg.bridge_token)));
    }
    if let Some(access) = &cfg.bridge_access {
        h.push(("CF-Access-Client-Id", access.client_id.clone()));
        h.push(("CF-Access-Client-Secret", access.client_secret.clone()));
    }
    h
}

/// A bridge failure as an API error (503 unreachable, 504 timeout).
pub fn failure_to_error(failure: &BridgeFailure) -> ApiError {
    match failure {
        BridgeFailure::Timeout { .. } => ApiError::new(
            504,
            "bridge_timeout",
            "the broker bridge did not answer in time",
        ),
        BridgeFailure::Unreachable(_) => ApiError::new(
            503,
            "bridge_unavailable",
            "the broker bridge cannot be reached",
        ),
    }
}

/// Turns a bridge answer (`status`, `body`) for a proxied route into the
/// Worker's answer: a 2xx JSON body passes through (re-serialized, so only
/// JSON leaves the Worker); the bridge's client errors about the request
/// (400/404 with a JSON error body) pass through; everything else becomes a
/// 502/503/504 without the bridge's detail.
pub fn map_response(status: u16, body: &str) -> Result<serde_json::Value, ApiError> {
    let json = serde_json::from_str::<serde_json::Value>(body).ok();
    match (status, json) {
        (200..=299, Some(v)) => Ok(v),
        (200..=299, None) => Err(ApiError::new(
            502,
            "bad_gateway",
            "the broker bridge answered with malformed JSON",
        )),
        (400 | 404, Some(v)) => {
            let code = v.get("error").and_then(|c| c.as_str());
            let message = v.get("message").and_then(|m| m.as_str());
            match (code, message) {
                (Some(code), Some(message)) => Err(ApiError::new(
                    status,
                    client_error_code(code),
                    crate::config::truncate(message, 200),
                )),
                _ => Err(bad_gateway(status)),
            }
        }
        (401 | 403, _) => Err(ApiError::new(
            502,
            "bridge_rejected",
            "the broker bridge refused the Worker's credentials",
        )),
        (429 | 503, _) => Err(ApiError::new(
            503,
            "bridge_unavailable",
            "the broker bridge or the broker is unavailable",
        )),
        (504, _) => Err(ApiError::new(
            504,
            "bridge_timeout",
            "the broker did not answer in time",
        )),
        _ => Err(bad_gateway(status)),
    }
}

fn bad_gateway(status: u16) -> ApiError {
    ApiError::new(
        502,
        "bad_gateway",
        format!("the broker bridge answered HTTP {status}"),
    )
}

/// Known bridge client-error codes kept as they are; others become `bad_request`.
fn client_error_code(code: &str) -> &'static str {
    match code {
        "unknown_symbol" => "unknown_symbol",
        "not_found" => "not_found",
        "no_market_data_permission" => "no_market_data_permission",
        _ => "bad_request",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[(&str, &str)]) -> Config {
        let mut vars = vec![
            ("API_TOKEN", "a".repeat(40)),
            ("BRIDGE_TOKEN", "b".repeat(40)),
            ("BRIDGE_URL", "https://bridge.example.com".to_owned()),
        ];
        vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        })
        .unwrap()
    }

    fn header<'h>(h: &'h [(&'static str, String)], name: &str) -> Option<&'h str> {
        h.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn bridge_access_service_token_headers_are_sent_when_configured() {
        let secret = "s".repeat(64);
        let cfg = config(&[
            ("BRIDGE_ACCESS_CLIENT_ID", "abc123.access"),
            ("BRIDGE_ACCESS_CLIENT_SECRET", &secret),
        ]);
        for (authenticated, body) in [(true, true), (true, false), (false, false)] {
            let h = bridge_headers(&cfg, authenticated, body);
            assert_eq!(header(&h, "CF-Access-Client-Id"), Some("abc123.access"));
            assert_eq!(header(&h, "CF-Access-Client-Secret"), Some(secret.as_str()));
        }
        // The secret never shows in the configuration's debug form (logs).
        assert!(!format!("{cfg:?}").contains(&secret));
        // Absent when not configured.
        let plain = bridge_headers(&config(&[]), true, true);
        assert_eq!(header(&plain, "CF-Access-Client-Id"), None);
        assert_eq!(header(&plain, "CF-Access-Client-Secret"), None);
        assert!(header(&plain, "Authorization").is_some());
    }

    #[test]
    fn success_passes_through() {
        let v = map_response(200, r#"{"account_id":"DU1"}"#).unwrap();
        assert_eq!(v["account_id"], "DU1");
        assert_eq!(map_response(200, "<html>").unwrap_err().status, 502);
    }

    #[test]
    fn client_errors_keep_their_code() {
        let e = map_response(
            400,
            r#"{"error":"unknown_symbol","message":"unknown symbol ZZZZ"}"#,
        )
        .unwrap_err();
        assert_eq!((e.status, e.code), (400, "unknown_symbol"));
        assert_eq!(e.message, "unknown symbol ZZZZ");
        let e = map_response(400, r#"{"error":"weird","message":"m"}"#).unwrap_err();
        assert_eq!(e.code, "bad_request");
        assert_eq!(map_response(400, "nope").unwrap_err().status, 502);
    }

    #[test]
    fn server_errors_map_to_gateway_codes() {
        let cases = [
            (401, 502, "bridge_rejected"),
            (403, 502, "bridge_rejected"),
            (429, 503, "bridge_unavailable"),
            (500, 502, "bad_gateway"),
            (503, 503, "bridge_unavailable"),
            (504, 504, "bridge_timeout"),
            (302, 502, "bad_gateway"),
        ];
        for (from, to, code) in cases {
            let e = map_response(from, r#"{"error":"x","message":"secret detail"}"#).unwrap_err();
            assert_eq!((e.status, e.code), (to, code), "{from}");
            assert!(!e.message.contains("secret detail"));
        }
        assert_eq!(
            failure_to_error(&BridgeFailure::Timeout { after_ms: 5 }).status,
            504
        );
        assert_eq!(
            failure_to_error(&BridgeFailure::Unreachable("refused".into())).status,
            503
        );
    }
}
