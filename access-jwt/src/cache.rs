//! The JWKS cache in front of [`verify`]: shape check first, one shared
//! in-flight fetch, failures remembered briefly.
//!
//! Single-threaded by design (`Rc`/`RefCell`): a Workers isolate serves its
//! concurrent requests on one thread, so "concurrent" means interleaved
//! futures. A request waiting for another's fetch is never woken by that
//! request: on Workers, code resumed from another request's context may not
//! touch its own I/O ("Cannot perform I/O on behalf of a different
//! request"). It checks the shared outcome after short pauses of its own
//! ([`JwksFetcher::pause`]) instead. The fetch and the pause are behind
//! [`JwksFetcher`], so the rules are tested natively with a counting fake.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use thiserror::Error;

use crate::{precheck, verify, AccessIdentity, AccessJwtError, AccessPolicy, KeySet};

/// Keys are re-fetched after this long, ms.
pub const JWKS_TTL_MS: i64 = 10 * 60 * 1000;
/// An unknown `kid` triggers at most one refresh per this interval, ms (a
/// stream of forged kids cannot turn into a stream of JWKS fetches).
pub const JWKS_MIN_REFRESH_INTERVAL_MS: i64 = 5 * 1000;
/// A failed fetch is remembered this long, ms: no new fetch until then.
pub const JWKS_FAILURE_TTL_MS: i64 = 30 * 1000;

/// Longest a request waits for another request's fetch, in pauses.
pub const MAX_WAIT_PAUSES: u32 = 200;

/// Fetches the JWKS document (the body of `GET url`). An `Err` says why not
/// (safe to log: no secret goes into a JWKS request).
pub trait JwksFetcher {
    fn fetch(&self, url: &str) -> impl Future<Output = Result<String, String>>;
    /// A short wait (on Workers a timer of the waiting request, ~25 ms)
    /// between two looks at a fetch in progress.
    fn pause(&self) -> impl Future<Output = ()>;
}

/// Why [`KeyCache::verify`] refused a token.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyCacheError {
    /// The token itself is refused (malformed, unknown key, bad signature ...).
    #[error(transparent)]
    Token(#[from] AccessJwtError),
    /// No key set could be had (fetch failed now or recently); fails closed.
    #[error("key set unavailable: {0}")]
    KeysUnavailable(String),
}

type FlightOutcome = Result<Rc<KeySet>, String>;

/// One fetch in progress, looked at by every request that needs keys meanwhile.
#[derive(Default)]
struct Flight {
    outcome: RefCell<Option<FlightOutcome>>,
}

impl Flight {
    fn finish(&self, outcome: FlightOutcome) {
        *self.outcome.borrow_mut() = Some(outcome);
    }

    /// The outcome, looked at after each of the waiter's own pauses.
    async fn wait<F: JwksFetcher>(&self, fetcher: &F) -> FlightOutcome {
        for _ in 0..MAX_WAIT_PAUSES {
            if let Some(outcome) = self.outcome.borrow().clone() {
                return outcome;
            }
            fetcher.pause().await;
        }
        self.outcome
            .borrow()
            .clone()
            .unwrap_or_else(|| Err("gave up waiting for the fetch in progress".into()))
    }
}

#[derive(Default)]
struct State {
    url: String,
    /// The last good key set and when it was fetched.
    keys: Option<(Rc<KeySet>, i64)>,
    /// When a fetch was last started.
    last_attempt_ms: Option<i64>,
    /// The last fetch failure, while it is remembered.
    failure: Option<(i64, String)>,
    in_flight: Option<Rc<Flight>>,
}

/// Within `[start, start + len)`; a clock that went backwards is outside.
fn within(now_ms: i64, start_ms: i64, len_ms: i64) -> bool {
    now_ms >= start_ms && now_ms - start_ms < len_ms
}

/// A JWKS cache for one URL (a new URL starts over).
#[derive(Default)]
pub struct KeyCache {
    state: RefCell<State>,
}

/// Ends a flight when the fetching request finishes or is dropped half-way
/// (a cancelled request must not leave the others waiting forever).
struct FlightGuard<'c> {
    cache: &'c KeyCache,
    flight: Rc<Flight>,
    now_ms: i64,
    done: bool,
}

impl FlightGuard<'_> {
    fn complete(mut self, outcome: FlightOutcome) {
        self.done = true;
        self.cache.land(&self.flight, outcome, Some(self.now_ms));
    }
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Not the JWKS's fault: not remembered as a failure.
            self.cache
                .land(&self.flight, Err("fetch abandoned".into()), None);
        }
    }
}

impl KeyCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Verifies `token`: shape and `kid` first (no fetch for a malformed
    /// token), then the cached keys while fresh, fetched (once, shared) when
    /// missing or stale, refreshed once when the token names an unknown `kid`
    /// and no fetch was started in the last [`JWKS_MIN_REFRESH_INTERVAL_MS`].
    /// Fails closed when no key set can be had.
    pub async fn verify<F: JwksFetcher>(
        &self,
        fetcher: &F,
        url: &str,
        token: &str,
        policy: &AccessPolicy,
        now_ms: i64,
    ) -> Result<AccessIdentity, KeyCacheError> {
        precheck(token)?;
        let now_s = now_ms.div_euclid(1000);
        let (keys, just_fetched) = match self.fresh_keys(url, now_ms) {
            Some(keys) => (keys, false),
            None => (self.fetch_shared(fetcher, url, now_ms).await?, true),
        };
        match verify(token, &keys, policy, now_s) {
            Err(AccessJwtError::UnknownKey(kid)) => {
                if just_fetched || !self.may_refresh(now_ms) {
                    return Err(AccessJwtError::UnknownKey(kid).into());
                }
                let keys = self.fetch_shared(fetcher, url, now_ms).await?;
                Ok(verify(token, &keys, policy, now_s)?)
            }
            other => Ok(other?),
        }
    }

    fn reset_for(&self, url: &str) {
        let mut s = self.state.borrow_mut();
        if s.url != url {
            *s = State {
                url: url.to_owned(),
                ..State::default()
            };
        }
    }

    fn fresh_keys(&self, url: &str, now_ms: i64) -> Option<Rc<KeySet>> {
        self.reset_for(url);
        let s = self.state.borrow();
        s.keys
            .as_ref()
            .filter(|(_, at)| within(now_ms, *at, JWKS_TTL_MS))
            .map(|(k, _)| Rc::clone(k))
    }

    fn may_refresh(&self, now_ms: i64) -> bool {
        self.state
            .borrow()
            .last_attempt_ms
            .is_none_or(|at| !within(now_ms, at, JWKS_MIN_REFRESH_INTERVAL_MS))
    }

    /// The keys from the fetch in progress, else a new fetch, unless a fetch
    /// failed within [`JWKS_FAILURE_TTL_MS`].
    async fn fetch_shared<F: JwksFetcher>(
        &self,
        fetcher: &F,
        url: &str,
        now_ms: i64,
    ) -> Result<Rc<KeySet>, KeyCacheError> {
        self.reset_for(url);
        // Decide under the borrow; await only after it ends.
        let (flight, leader) = self.join_or_start(now_ms)?;
        if !leader {
            return flight
                .wait(fetcher)
                .await
                .map_err(KeyCacheError::KeysUnavailable);
        }
        let guard = FlightGuard {
            cache: self,
            flight: Rc::clone(&flight),
            now_ms,
            done: false,
        };
        let outcome = fetcher
            .fetch(url)
            .await
            .and_then(|body| KeySet::from_json(&body).map_err(|e| e.to_string()))
            .map(Rc::new);
        guard.complete(outcome.clone());
        outcome.map_err(KeyCacheError::KeysUnavailable)
    }

    /// The fetch in progress (`false`: wait for it), else a new one this
    /// request leads (`true`), unless a fetch failed within
    /// [`JWKS_FAILURE_TTL_MS`].
    fn join_or_start(&self, now_ms: i64) -> Result<(Rc<Flight>, bool), KeyCacheError> {
        let mut s = self.state.borrow_mut();
        if let Some(flight) = &s.in_flight {
            return Ok((Rc::clone(flight), false));
        }
        if let Some((at, why)) = &s.failure {
            if within(now_ms, *at, JWKS_FAILURE_TTL_MS) {
                return Err(KeyCacheError::KeysUnavailable(format!(
                    "recent fetch failed: {why}"
                )));
            }
        }
        let flight = Rc::new(Flight::default());
        s.in_flight = Some(Rc::clone(&flight));
        s.last_attempt_ms = Some(now_ms);
        Ok((flight, true))
    }

    /// Ends `flight` with `outcome`; records it at `now_ms` unless `None`
    /// (abandoned).
    fn land(&self, flight: &Rc<Flight>, outcome: FlightOutcome, now_ms: Option<i64>) {
        {
            let mut s = self.state.borrow_mut();
            if s.in_flight.as_ref().is_some_and(|f| Rc::ptr_eq(f, flight)) {
                s.in_flight = None;
                match (&outcome, now_ms) {
                    (Ok(keys), Some(at)) => {
                        s.keys = Some((Rc::clone(keys), at));
                        s.failure = None;
                    }
                    (Err(why), Some(at)) => s.failure = Some((at, why.clone())),
                    (_, None) => {}
                }
            }
        }
        flight.finish(outcome);
    }
}
