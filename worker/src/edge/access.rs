//! Cloudflare Access on the Workers runtime: fetches the team's JWKS, keeps
//! it in isolate memory for [`JWKS_TTL_MS`](crate::access::JWKS_TTL_MS), and
//! refreshes it once when a token names an unknown key.

use std::cell::RefCell;
use std::rc::Rc;

use sas_access_jwt::KeySet;
use worker::{
    console_error, console_log, AbortSignal, Fetch, Headers, Method, Request, RequestInit,
};

use crate::access::{check, AccessCheck, AccessSettings, CacheClock};
use crate::auth::Principal;

/// Bound on one JWKS fetch, ms.
const JWKS_FETCH_TIMEOUT_MS: u32 = 3_000;

struct CachedKeys {
    url: String,
    keys: Rc<KeySet>,
    clock: CacheClock,
}

thread_local! {
    // Workers isolates are single-threaded: module state shared by the
    // requests an isolate serves.
    static CACHE: RefCell<Option<CachedKeys>> = const { RefCell::new(None) };
}

fn cached(url: &str) -> Option<(Rc<KeySet>, CacheClock)> {
    CACHE.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|k| k.url == url)
            .map(|k| (Rc::clone(&k.keys), k.clock))
    })
}

async fn fetch_keys(url: &str, now_ms: i64) -> Option<Rc<KeySet>> {
    let headers = Headers::new();
    headers.set("Accept", "application/json").ok()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let request = Request::new_with_init(url, &init).ok()?;
    let signal = AbortSignal::from(worker::web_sys::AbortSignal::timeout_with_u32(
        JWKS_FETCH_TIMEOUT_MS,
    ));
    let outcome = async {
        let mut response = Fetch::Request(request)
            .send_with_signal(&signal)
            .await
            .map_err(|e| e.to_string())?;
        if response.status_code() != 200 {
            return Err(format!("JWKS answered HTTP {}", response.status_code()));
        }
        let body = response.text().await.map_err(|e| e.to_string())?;
        KeySet::from_json(&body).map_err(|e| e.to_string())
    }
    .await;
    match outcome {
        Ok(keys) => {
            let keys = Rc::new(keys);
            CACHE.with(|c| {
                *c.borrow_mut() = Some(CachedKeys {
                    url: url.to_owned(),
                    keys: Rc::clone(&keys),
                    clock: CacheClock {
                        fetched_at_ms: now_ms,
                    },
                });
            });
            console_log!(
                "{}",
                serde_json::json!({ "event": "jwks_fetched", "keys": keys.len() })
            );
            Some(keys)
        }
        Err(e) => {
            console_error!(
                "{}",
                serde_json::json!({ "event": "jwks_fetch_failed", "error": crate::api::truncate(&e, 160) })
            );
            None
        }
    }
}

/// Verifies an Access token: cached keys while fresh, one refresh when the
/// token names a key the cache lacks. `None` = refused (the caller answers
/// 401 unless another credential is accepted). Fails closed when the JWKS
/// cannot be fetched.
pub async fn verify_token(
    settings: &AccessSettings,
    token: &str,
    now_ms: i64,
) -> Option<Principal> {
    let (keys, refreshed) = match cached(&settings.jwks_url) {
        Some((keys, clock)) if clock.is_fresh(now_ms) => (keys, false),
        _ => (fetch_keys(&settings.jwks_url, now_ms).await?, true),
    };
    match check(token, &keys, &settings.policy, now_ms) {
        AccessCheck::Allowed(p) => Some(p),
        AccessCheck::Refused(e) => {
            log_refusal(&e.to_string());
            None
        }
        AccessCheck::UnknownKey => {
            let may_refresh = !refreshed
                && cached(&settings.jwks_url).is_none_or(|(_, clock)| clock.may_refresh(now_ms));
            if !may_refresh {
                log_refusal("unknown key id");
                return None;
            }
            let keys = fetch_keys(&settings.jwks_url, now_ms).await?;
            match check(token, &keys, &settings.policy, now_ms) {
                AccessCheck::Allowed(p) => Some(p),
                AccessCheck::UnknownKey => {
                    log_refusal("unknown key id after refresh");
                    None
                }
                AccessCheck::Refused(e) => {
                    log_refusal(&e.to_string());
                    None
                }
            }
        }
    }
}

fn log_refusal(reason: &str) {
    console_log!(
        "{}",
        serde_json::json!({ "event": "access_jwt_refused", "reason": reason })
    );
}
