//! Cloudflare Access on the Workers runtime: the JWKS fetch behind
//! [`sas_access_jwt::KeyCache`], which keeps the keys in isolate memory for
//! [`JWKS_TTL_MS`](crate::access::JWKS_TTL_MS), checks a token's shape and
//! `kid` before any fetch, shares one in-flight fetch between concurrent
//! requests and remembers a failed fetch for
//! [`JWKS_FAILURE_TTL_MS`](crate::access::JWKS_FAILURE_TTL_MS).

use std::rc::Rc;

use sas_access_jwt::{AccessJwtError, JwksFetcher, KeyCache, KeyCacheError};
use worker::{console_log, AbortSignal, Fetch, Headers, Method, Request, RequestInit};

use crate::access::AccessSettings;
use crate::auth::Principal;
use crate::http::auth::AccessTokenVerifier;

/// Bound on one JWKS fetch, ms.
const JWKS_FETCH_TIMEOUT_MS: u32 = 3_000;

thread_local! {
    // Workers isolates are single-threaded: module state shared by the
    // requests an isolate serves.
    static CACHE: Rc<KeyCache> = Rc::new(KeyCache::new());
}

/// `GET` of the JWKS with the Workers `fetch`, bounded by a timeout.
struct WorkersFetch;

impl JwksFetcher for WorkersFetch {
    async fn fetch(&self, url: &str) -> Result<String, String> {
        let headers = Headers::new();
        headers
            .set("Accept", "application/json")
            .map_err(|e| e.to_string())?;
        let mut init = RequestInit::new();
        init.with_method(Method::Get).with_headers(headers);
        let request = Request::new_with_init(url, &init).map_err(|e| e.to_string())?;
        let signal = AbortSignal::from(worker::web_sys::AbortSignal::timeout_with_u32(
            JWKS_FETCH_TIMEOUT_MS,
        ));
        let mut response = Fetch::Request(request)
            .send_with_signal(&signal)
            .await
            .map_err(|e| e.to_string())?;
        if response.status_code() != 200 {
            return Err(format!("JWKS answered HTTP {}", response.status_code()));
        }
        let body = response.text().await.map_err(|e| e.to_string())?;
        console_log!(
            "{}",
            serde_json::json!({ "event": "jwks_fetched", "bytes": body.len() })
        );
        Ok(body)
    }

    /// A timer of the waiting request itself, so it resumes in its own context.
    async fn pause(&self) {
        worker::Delay::from(std::time::Duration::from_millis(25)).await;
    }
}

/// The Access verifier the auth gate ([`crate::http::auth`]) calls: the
/// JWKS key cache over the runtime's fetch.
pub struct EdgeAccess;

impl AccessTokenVerifier for EdgeAccess {
    async fn verify(
        &self,
        settings: &AccessSettings,
        token: &str,
        now_ms: i64,
    ) -> Option<Principal> {
        verify_token(settings, token, now_ms).await
    }
}

/// Verifies an Access token. `None` = refused (the caller answers 401 unless
/// another credential is accepted). Fails closed when no JWKS can be had.
pub async fn verify_token(
    settings: &AccessSettings,
    token: &str,
    now_ms: i64,
) -> Option<Principal> {
    let cache = CACHE.with(Rc::clone);
    match cache
        .verify(
            &WorkersFetch,
            &settings.jwks_url,
            token,
            &settings.policy,
            now_ms,
        )
        .await
    {
        Ok(identity) => Some(Principal::AccessIdentity(identity.label())),
        Err(e) => {
            let reason = match &e {
                KeyCacheError::Token(AccessJwtError::UnknownKey(_)) => "unknown key id".to_owned(),
                other => crate::config::truncate(&other.to_string(), 160),
            };
            console_log!(
                "{}",
                serde_json::json!({ "event": "access_jwt_refused", "reason": reason })
            );
            None
        }
    }
}
