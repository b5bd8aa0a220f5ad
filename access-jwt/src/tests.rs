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

    #[test]
    fn arbitrary_dotted_base64_never_verifies(a in "[A-Za-z0-9_-]{0,60}", b in "[A-Za-z0-9_-]{0,60}", c in "[A-Za-z0-9_-]{0,400}") {
        let t = format!("{a}.{b}.{c}");
        prop_assert!(verify(&t, key_set(), &policy(), NOW).is_err());
    }
}
