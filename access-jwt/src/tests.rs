use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::json;

use super::*;

const TEAM: &str = "sas-test.cloudflareaccess.com";
const AUD: &str = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";
const NOW: i64 = 1_795_000_000;

/// Two locally generated test keys (seeded: tests are repeatable). Never used outside tests.
fn keys() -> &'static [RsaPrivateKey; 2] {
    static KEYS: OnceLock<[RsaPrivateKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(7);
        [
            RsaPrivateKey::new(&mut rng, 2048).unwrap(),
            RsaPrivateKey::new(&mut rng, 2048).unwrap(),
        ]
    })
}

fn jwk(kid: &str, key: &RsaPrivateKey) -> serde_json::Value {
    let public = key.to_public_key();
    json!({
        "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
        "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    })
}

fn key_set() -> &'static KeySet {
    static SET: OnceLock<KeySet> = OnceLock::new();
    SET.get_or_init(|| {
        let doc = json!({ "keys": [jwk("k1", &keys()[0]), jwk("k2", &keys()[1])] });
        KeySet::from_json(&doc.to_string()).unwrap()
    })
}

fn policy() -> AccessPolicy {
    AccessPolicy::new(TEAM, AUD).unwrap()
}

fn claims() -> serde_json::Value {
    json!({
        "aud": [AUD], "email": "trader@example.com", "exp": NOW + 600, "iat": NOW - 10,
        "nbf": NOW - 10, "iss": format!("https://{TEAM}"), "type": "app", "sub": "7335d417"
    })
}

fn sign(header: &serde_json::Value, claims: &serde_json::Value, key: &RsaPrivateKey) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let c = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{h}.{c}");
    let sig = SigningKey::<Sha256>::new(key.clone()).sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

fn token_with(claims: &serde_json::Value) -> String {
    sign(
        &json!({"alg": "RS256", "kid": "k1", "typ": "JWT"}),
        claims,
        &keys()[0],
    )
}

#[test]
fn valid_user_token_verifies() {
    let id = verify(&token_with(&claims()), key_set(), &policy(), NOW).unwrap();
    assert_eq!(id.email.as_deref(), Some("trader@example.com"));
    assert_eq!(id.label(), "trader@example.com");
    assert_eq!(id.expires_at, NOW + 600);
}

#[test]
fn service_token_and_string_audience_verify() {
    let mut c = claims();
    c["aud"] = json!(AUD);
    c.as_object_mut().unwrap().remove("email");
    c["common_name"] = json!("abc.access");
    c["sub"] = json!("");
    let id = verify(&token_with(&c), key_set(), &policy(), NOW).unwrap();
    assert_eq!(id.label(), "service:abc.access");
}

#[test]
fn second_key_in_set_is_selected_by_kid() {
    let t = sign(&json!({"alg": "RS256", "kid": "k2"}), &claims(), &keys()[1]);
    assert!(verify(&t, key_set(), &policy(), NOW).is_ok());
}

#[test]
fn signature_by_other_key_is_refused() {
    // Header names k1 but k2 signed it.
    let t = sign(&json!({"alg": "RS256", "kid": "k1"}), &claims(), &keys()[1]);
    assert_eq!(
        verify(&t, key_set(), &policy(), NOW),
        Err(AccessJwtError::BadSignature)
    );
}

#[test]
fn tampered_claims_are_refused() {
    let t = token_with(&claims());
    let mut parts: Vec<&str> = t.split('.').collect();
    let mut forged = claims();
    forged["email"] = json!("attacker@example.com");
    let forged_b64 = URL_SAFE_NO_PAD.encode(forged.to_string());
    parts[1] = &forged_b64;
    assert_eq!(
        verify(&parts.join("."), key_set(), &policy(), NOW),
        Err(AccessJwtError::BadSignature)
    );
}

#[test]
fn unknown_kid_asks_for_refresh() {
    let t = sign(
        &json!({"alg": "RS256", "kid": "rotated"}),
        &claims(),
        &keys()[0],
    );
    assert_eq!(
        verify(&t, key_set(), &policy(), NOW),
        Err(AccessJwtError::UnknownKey("rotated".into()))
    );
}

#[test]
fn none_and_hmac_algorithms_are_refused() {
    for alg in ["none", "HS256", "RS512", "PS256"] {
        let t = sign(&json!({"alg": alg, "kid": "k1"}), &claims(), &keys()[0]);
        assert_eq!(
            verify(&t, key_set(), &policy(), NOW),
            Err(AccessJwtError::UnsupportedAlgorithm(alg.into())),
            "{alg}"
        );
    }
}

#[test]
fn issuer_audience_and_time_are_checked() {
    let mut c = claims();
    c["iss"] = json!("https://evil.cloudflareaccess.com");
    assert_eq!(
        verify(&token_with(&c), key_set(), &policy(), NOW),
        Err(AccessJwtError::WrongIssuer)
    );

    let mut c = claims();
    c["aud"] = json!(["someone-else"]);
    assert_eq!(
        verify(&token_with(&c), key_set(), &policy(), NOW),
        Err(AccessJwtError::WrongAudience)
    );

    let mut c = claims();
    c.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        verify(&token_with(&c), key_set(), &policy(), NOW),
        Err(AccessJwtError::WrongAudience)
    );

    let t = token_with(&claims());
    // Inside the 60 s leeway after exp: accepted; beyond it: expired.
    assert!(verify(&t, key_set(), &policy(), NOW + 600 + 60).is_ok());
    assert_eq!(
        verify(&t, key_set(), &policy(), NOW + 600 + 61),
        Err(AccessJwtError::Expired)
    );
    // Before nbf beyond the leeway: not yet valid.
    assert_eq!(
        verify(&t, key_set(), &policy(), NOW - 10 - 61),
        Err(AccessJwtError::NotYetValid)
    );

    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        verify(&token_with(&c), key_set(), &policy(), NOW),
        Err(AccessJwtError::Malformed("claims have no exp"))
    );
}

#[test]
fn malformed_tokens_are_refused_with_reason() {
    let ks = key_set();
    let p = policy();
    assert!(matches!(
        verify("", ks, &p, NOW),
        Err(AccessJwtError::Malformed(_))
    ));
    assert!(matches!(
        verify("a.b", ks, &p, NOW),
        Err(AccessJwtError::Malformed(_))
    ));
    assert!(matches!(
        verify("a.b.c.d", ks, &p, NOW),
        Err(AccessJwtError::Malformed(_))
    ));
    assert!(matches!(
        verify("!!.b.c", ks, &p, NOW),
        Err(AccessJwtError::Malformed(_))
    ));
    let long = "a".repeat(MAX_TOKEN_LEN + 1);
    assert_eq!(
        verify(&long, ks, &p, NOW),
        Err(AccessJwtError::Malformed("token too long"))
    );
}

#[test]
fn key_set_parsing() {
    assert!(matches!(
        KeySet::from_json("nope"),
        Err(AccessJwtError::InvalidKeySet(_))
    ));
    assert!(matches!(
        KeySet::from_json(r#"{"keys":[]}"#),
        Err(AccessJwtError::InvalidKeySet(_))
    ));
    // EC and encryption keys are ignored; the RSA signing key is kept.
    let doc = json!({"keys": [
        {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
        jwk("k1", &keys()[0]),
    ]});
    assert_eq!(KeySet::from_json(&doc.to_string()).unwrap().len(), 1);
}

#[test]
fn policy_validation() {
    let p = AccessPolicy::new("https://team.cloudflareaccess.com/", "aud").unwrap();
    assert_eq!(p.issuer, "https://team.cloudflareaccess.com");
    assert_eq!(
        p.certs_url(),
        "https://team.cloudflareaccess.com/cdn-cgi/access/certs"
    );
    assert!(AccessPolicy::new("", "aud").is_err());
    assert!(AccessPolicy::new("team.example/x", "aud").is_err());
    assert!(AccessPolicy::new("team.example", " ").is_err());
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(s in ".{0,400}") {
        let _ = verify(&s, key_set(), &policy(), NOW);
    }

    /// Well-formed tokens (right header, known kid, valid claims) with a
    /// random signature of the right length: each reaches the signature check
    /// and fails there, not at parsing.
    #[test]
    fn never_verifies_random_signature_of_the_right_length(sig in proptest::collection::vec(any::<u8>(), 256)) {
        let t = token_with(&claims());
        let (signed, _) = t.rsplit_once('.').unwrap();
        let forged = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&sig));
        prop_assert_eq!(precheck(&forged), Ok("k1".to_owned()));
        prop_assert_eq!(verify(&forged, key_set(), &policy(), NOW), Err(AccessJwtError::BadSignature));
    }

    /// A real signature with one bit flipped anywhere never verifies.
    #[test]
    fn never_verifies_one_flipped_signature_bit(bit in 0usize..2048) {
        let t = token_with(&claims());
        let (signed, sig_b64) = t.rsplit_once('.').unwrap();
        let mut sig = URL_SAFE_NO_PAD.decode(sig_b64).unwrap();
        sig[bit / 8] ^= 1 << (bit % 8);
        let forged = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&sig));
        prop_assert_eq!(verify(&forged, key_set(), &policy(), NOW), Err(AccessJwtError::BadSignature));
    }
}

/// Near misses that pass every check but the signature: each must fail at
/// the signature check (`BadSignature`), which a parsing failure would not.
#[test]
fn never_verifies_near_misses_reach_the_signature_check() {
    let good = token_with(&claims());
    assert!(verify(&good, key_set(), &policy(), NOW).is_ok());
    let (h, rest) = good.split_once('.').unwrap();
    let (c, sig) = rest.split_once('.').unwrap();
    let other_claims = {
        let mut x = claims();
        x["sub"] = json!("someone-else");
        URL_SAFE_NO_PAD.encode(x.to_string())
    };
    let k2_header =
        URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "kid": "k2", "typ": "JWT"}).to_string());
    let sig_bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let cases = [
        // A valid signature over other claims.
        format!("{h}.{other_claims}.{sig}"),
        // The same signature under the other key's kid.
        format!("{k2_header}.{c}.{sig}"),
        // Signature shortened by one byte / all zeros / reversed.
        format!("{h}.{c}.{}", URL_SAFE_NO_PAD.encode(&sig_bytes[..255])),
        format!("{h}.{c}.{}", URL_SAFE_NO_PAD.encode([0u8; 256])),
        format!(
            "{h}.{c}.{}",
            URL_SAFE_NO_PAD.encode(sig_bytes.iter().rev().copied().collect::<Vec<_>>())
        ),
        // Signed by a key that is not in the set, under a known kid.
        sign(&json!({"alg": "RS256", "kid": "k1"}), &claims(), &keys()[1]),
    ];
    for t in &cases {
        assert!(precheck(t).is_ok(), "{t}");
        assert_eq!(
            verify(t, key_set(), &policy(), NOW),
            Err(AccessJwtError::BadSignature),
            "{t}"
        );
    }
}

#[test]
fn precheck_refuses_shapes_without_needing_keys() {
    let good = token_with(&claims());
    assert_eq!(precheck(&good), Ok("k1".to_owned()));
    let (h, rest) = good.split_once('.').unwrap();
    let (c, _) = rest.split_once('.').unwrap();
    let header = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let sig = URL_SAFE_NO_PAD.encode([7u8; 256]);
    for t in [
        "".to_owned(),
        "not-a-jwt".to_owned(),
        "not.a.token".to_owned(),
        format!("{h}.{c}"),
        format!("{h}.{c}.{sig}.x"),
        format!("{}.{c}.{sig}", header(json!({"alg": "RS256"}))),
        format!("{}.{c}.{sig}", header(json!({"alg": "RS256", "kid": ""}))),
        format!(
            "{}.{c}.{sig}",
            header(json!({"alg": "RS256", "kid": "k".repeat(MAX_KID_LEN + 1)}))
        ),
        format!("{}.{c}.{sig}", header(json!({"alg": "none", "kid": "k1"}))),
        format!("{h}.!!.{sig}"),
        format!("{h}.{c}."),
        format!("{h}.{c}.{}", URL_SAFE_NO_PAD.encode([7u8; 16])),
        format!("{h}.{c}.!!"),
    ] {
        assert!(precheck(&t).is_err(), "{t}");
    }
}

mod cache {
    use std::cell::{Cell, RefCell};
    use std::future::Future;
    use std::pin::Pin;
    use std::rc::Rc;
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::MAX_WAIT_PAUSES;

    const URL: &str = "https://sas-test.cloudflareaccess.com/cdn-cgi/access/certs";
    const NOW_MS: i64 = NOW * 1000;

    /// Counts fetches; answers when `open` (else the fetch stays pending).
    struct FakeFetcher {
        calls: Cell<usize>,
        pauses: Cell<usize>,
        open: Rc<Cell<bool>>,
        answer: RefCell<Result<String, String>>,
    }

    impl FakeFetcher {
        fn new(answer: Result<String, String>) -> Self {
            Self {
                calls: Cell::new(0),
                pauses: Cell::new(0),
                open: Rc::new(Cell::new(true)),
                answer: RefCell::new(answer),
            }
        }
        fn good() -> Self {
            Self::new(Ok(jwks_doc()))
        }
    }

    impl JwksFetcher for FakeFetcher {
        fn fetch(&self, _url: &str) -> impl Future<Output = Result<String, String>> {
            self.calls.set(self.calls.get() + 1);
            let open = Rc::clone(&self.open);
            let answer = self.answer.borrow().clone();
            std::future::poll_fn(move |_| {
                if open.get() {
                    Poll::Ready(answer.clone())
                } else {
                    Poll::Pending
                }
            })
        }

        /// Pending once, ready when polled again (the test polls by hand).
        fn pause(&self) -> impl Future<Output = ()> {
            self.pauses.set(self.pauses.get() + 1);
            let mut first = true;
            std::future::poll_fn(move |_| {
                if std::mem::take(&mut first) {
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            })
        }
    }

    fn jwks_doc() -> String {
        json!({ "keys": [jwk("k1", &keys()[0]), jwk("k2", &keys()[1])] }).to_string()
    }

    fn poll<F: Future>(f: &mut Pin<Box<F>>) -> Poll<F::Output> {
        f.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }

    fn run<F: Future>(f: F) -> F::Output {
        let mut f = Box::pin(f);
        match poll(&mut f) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("future did not finish"),
        }
    }

    fn check(
        cache: &KeyCache,
        fetcher: &FakeFetcher,
        token: &str,
        now_ms: i64,
    ) -> Result<AccessIdentity, KeyCacheError> {
        run(cache.verify(fetcher, URL, token, &policy(), now_ms))
    }

    fn unknown_kid_token(kid: &str) -> String {
        sign(&json!({"alg": "RS256", "kid": kid}), &claims(), &keys()[0])
    }

    #[test]
    fn jwks_fetch_forced_by_anonymous_requests_malformed_tokens_never_fetch() {
        let cache = KeyCache::new();
        let fetcher = FakeFetcher::good();
        let alg_none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"x"}"#),
            URL_SAFE_NO_PAD.encode(claims().to_string())
        );
        for t in ["garbage", "not.a.token", "a.b.c", alg_none.as_str(), ""] {
            assert!(
                matches!(
                    check(&cache, &fetcher, t, NOW_MS),
                    Err(KeyCacheError::Token(
                        AccessJwtError::Malformed(_) | AccessJwtError::UnsupportedAlgorithm(_)
                    ))
                ),
                "{t}"
            );
        }
        assert_eq!(fetcher.calls.get(), 0, "no token above may cost a fetch");
        // A good token fetches once; the keys are then reused.
        assert!(check(&cache, &fetcher, &token_with(&claims()), NOW_MS).is_ok());
        assert!(check(&cache, &fetcher, &token_with(&claims()), NOW_MS + 1).is_ok());
        assert_eq!(fetcher.calls.get(), 1);
    }

    #[test]
    fn jwks_fetch_forced_by_anonymous_requests_concurrent_requests_share_one_fetch() {
        let cache = KeyCache::new();
        let fetcher = FakeFetcher::good();
        fetcher.open.set(false);
        let good = token_with(&claims());
        let policy = policy();
        let mut futures: Vec<_> = (0..10)
            .map(|i| Box::pin(cache.verify(&fetcher, URL, &good, &policy, NOW_MS + i)))
            .collect();
        for f in &mut futures {
            assert!(poll(f).is_pending());
        }
        assert_eq!(fetcher.calls.get(), 1, "one fetch in flight for all");
        assert!(
            fetcher.pauses.get() >= 9,
            "waiters pause on their own timers"
        );
        // Waiters polled before the fetch lands keep waiting.
        for f in futures.iter_mut().skip(1) {
            assert!(poll(f).is_pending());
        }
        fetcher.open.set(true);
        for f in &mut futures {
            match poll(f) {
                Poll::Ready(r) => assert!(r.is_ok(), "{r:?}"),
                Poll::Pending => panic!("still pending"),
            }
        }
        assert_eq!(fetcher.calls.get(), 1);
    }

    #[test]
    fn jwks_fetch_forced_by_anonymous_requests_failures_are_cached_briefly() {
        let cache = KeyCache::new();
        let fetcher = FakeFetcher::new(Err("HTTP 500".into()));
        let good = token_with(&claims());
        for i in 0..20 {
            assert!(matches!(
                check(&cache, &fetcher, &good, NOW_MS + i * 1000),
                Err(KeyCacheError::KeysUnavailable(_))
            ));
        }
        assert_eq!(fetcher.calls.get(), 1, "one fetch per failure period");
        // After the failure period: one new attempt, which now succeeds.
        *fetcher.answer.borrow_mut() = Ok(jwks_doc());
        assert!(check(&cache, &fetcher, &good, NOW_MS + JWKS_FAILURE_TTL_MS).is_ok());
        assert_eq!(fetcher.calls.get(), 2);
    }

    #[test]
    fn jwks_fetch_forced_by_anonymous_requests_unknown_kids_refresh_at_most_once_per_interval() {
        let cache = KeyCache::new();
        let fetcher = FakeFetcher::good();
        assert!(check(&cache, &fetcher, &token_with(&claims()), NOW_MS).is_ok());
        // Right after a fetch, forged kids cause no refresh.
        for i in 0..10 {
            let r = check(
                &cache,
                &fetcher,
                &unknown_kid_token(&format!("forged-{i}")),
                NOW_MS + 100 * i,
            );
            assert!(
                matches!(r, Err(KeyCacheError::Token(AccessJwtError::UnknownKey(_)))),
                "{r:?}"
            );
        }
        assert_eq!(fetcher.calls.get(), 1);
        // After the interval: one refresh for the first, none for the rest.
        let later = NOW_MS + JWKS_MIN_REFRESH_INTERVAL_MS;
        for i in 0..10 {
            assert!(check(
                &cache,
                &fetcher,
                &unknown_kid_token(&format!("f-{i}")),
                later + i
            )
            .is_err());
        }
        assert_eq!(fetcher.calls.get(), 2);
        // A failing refresh is remembered: forged kids after the interval
        // cost no fetch while the failure is fresh; known keys still verify.
        *fetcher.answer.borrow_mut() = Err("HTTP 503".into());
        let t = later + JWKS_MIN_REFRESH_INTERVAL_MS;
        for i in 0..10 {
            assert!(check(&cache, &fetcher, &unknown_kid_token("again"), t + i * 1000).is_err());
        }
        assert_eq!(fetcher.calls.get(), 3);
        assert!(check(&cache, &fetcher, &token_with(&claims()), t + 10_000).is_ok());
        // Keys expire after the TTL and are fetched again.
        *fetcher.answer.borrow_mut() = Ok(jwks_doc());
        assert!(check(
            &cache,
            &fetcher,
            &token_with(&claims()),
            NOW_MS + JWKS_TTL_MS + JWKS_FAILURE_TTL_MS
        )
        .is_ok());
        assert_eq!(fetcher.calls.get(), 4);
    }

    #[test]
    fn jwks_fetch_forced_by_anonymous_requests_abandoned_fetch_releases_waiters() {
        let cache = KeyCache::new();
        let fetcher = FakeFetcher::good();
        fetcher.open.set(false);
        let good = token_with(&claims());
        let policy = policy();
        let mut leader = Box::pin(cache.verify(&fetcher, URL, &good, &policy, NOW_MS));
        let mut follower = Box::pin(cache.verify(&fetcher, URL, &good, &policy, NOW_MS));
        assert!(poll(&mut leader).is_pending());
        assert!(poll(&mut follower).is_pending());
        drop(leader);
        assert!(matches!(
            poll(&mut follower),
            Poll::Ready(Err(KeyCacheError::KeysUnavailable(_)))
        ));
        // A waiter whose fetch never lands gives up after its pauses.
        let mut leader = Box::pin(cache.verify(&fetcher, URL, &good, &policy, NOW_MS + 2));
        let mut follower = Box::pin(cache.verify(&fetcher, URL, &good, &policy, NOW_MS + 2));
        assert!(poll(&mut leader).is_pending());
        let mut gave_up = false;
        for _ in 0..=2 * MAX_WAIT_PAUSES {
            if let Poll::Ready(r) = poll(&mut follower) {
                assert!(matches!(r, Err(KeyCacheError::KeysUnavailable(_))), "{r:?}");
                gave_up = true;
                break;
            }
        }
        assert!(gave_up);
        drop(leader);
        // Not remembered as a failure: the next request fetches again.
        fetcher.open.set(true);
        assert!(check(&cache, &fetcher, &good, NOW_MS + 3).is_ok());
        assert_eq!(fetcher.calls.get(), 3);
    }
}
