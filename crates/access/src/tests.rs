//! The access rules, with tokens built as other JWT libraries build them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use jwt_compact::alg::{Hs256, Hs256Key, Hs512, Hs512Key};
use jwt_compact::{AlgorithmExt, Claims, Header};
use serde_json::{Value, json};

use super::*;

const NOW: i64 = 1_800_000_000;
const SECRET: &str = "a-listener-signing-secret-of-32-bytes+";
const NEXT_SECRET: &str = "the-next-listener-signing-secret-32b+";
const SERVICE: &str = "service-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";

fn env(pairs: &[(&str, &str)]) -> Access {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Access::from_env(|name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
}

fn keys_json() -> String {
    json!({"k1": SECRET, "k2": NEXT_SECRET}).to_string()
}

fn configured() -> Access {
    let keys = keys_json();
    env(&[
        ("LISTENER_TOKEN_KEYS", &keys),
        ("SERVICE_TOKEN", SERVICE),
        ("ADMIN_TOKEN", ADMIN),
        (
            "ALLOWED_ORIGINS",
            "https://app.example.com, http://127.0.0.1:3000/",
        ),
    ])
}

/// A token with these claims (JSON), signed HS256 with `secret`, header kid `kid`.
fn token(kid: Option<&str>, secret: &str, claims: Value) -> String {
    let mut header = Header::empty();
    if let Some(kid) = kid {
        header = header.with_key_id(kid);
    }
    let mut custom = claims.clone();
    for time in ["exp", "nbf", "iat"] {
        custom.as_object_mut().unwrap().remove(time);
    }
    let mut c = Claims::new(custom);
    c.expiration = claims["exp"]
        .as_i64()
        .and_then(|t| DateTime::from_timestamp(t, 0));
    c.not_before = claims["nbf"]
        .as_i64()
        .and_then(|t| DateTime::from_timestamp(t, 0));
    c.issued_at = claims["iat"]
        .as_i64()
        .and_then(|t| DateTime::from_timestamp(t, 0));
    Hs256
        .token(&header, &c, &Hs256Key::new(secret.as_bytes()))
        .unwrap()
}

fn good_claims() -> Value {
    json!({"sub": "u00042", "aud": listener::AUDIENCE, "exp": NOW + 600, "iat": NOW})
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The status and message of a refused call.
fn refused(access: &Access, token: &str) -> (u16, String) {
    let e = access.caller(Some(&bearer(token)), NOW).unwrap_err();
    (e.status, e.message)
}

#[test]
fn a_valid_listener_token_names_its_listener() {
    let access = configured();
    let t = token(Some("k1"), SECRET, good_claims());
    let caller = access.caller(Some(&bearer(&t)), NOW).unwrap();
    assert_eq!(caller, Caller::Listener("u00042".into()));
    Access::admit(&caller, "u00042").unwrap();
    let other = Access::admit(&caller, "u00043").unwrap_err();
    assert_eq!((other.status, other.code), (403, "forbidden"));
    assert!(!other.message.contains("u00043"), "{}", other.message);
}

#[test]
fn both_keys_verify_during_a_rotation_and_an_array_aud_is_read() {
    let access = configured();
    let claims = with(
        good_claims(),
        "aud",
        json!(["other-api", listener::AUDIENCE]),
    );
    let t = token(Some("k2"), NEXT_SECRET, claims);
    assert!(access.caller(Some(&bearer(&t)), NOW).is_ok());
}

#[test]
fn missing_expired_tampered_and_wrong_audience_tokens_are_401() {
    let access = configured();
    let missing = access.caller(None, NOW).unwrap_err();
    assert_eq!((missing.status, missing.code), (401, "unauthorized"));

    let expired = token(
        Some("k1"),
        SECRET,
        with(good_claims(), "exp", json!(NOW - 61)),
    );
    assert_eq!(refused(&access, &expired).0, 401);
    assert!(refused(&access, &expired).1.contains("expired"));
    // Within the stated leeway, a clock a little behind still accepts it.
    let skewed = token(
        Some("k1"),
        SECRET,
        with(good_claims(), "exp", json!(NOW - 30)),
    );
    assert!(access.caller(Some(&bearer(&skewed)), NOW).is_ok());

    // Tampered: another listener's claims under the first token's signature.
    let t = token(Some("k1"), SECRET, good_claims());
    let forged = token(
        Some("k1"),
        SECRET,
        with(good_claims(), "sub", json!("u00099")),
    );
    let [h, _, sig] = t.split('.').collect::<Vec<_>>()[..] else {
        panic!()
    };
    let payload = forged.split('.').nth(1).unwrap();
    let (status, message) = refused(&access, &format!("{h}.{payload}.{sig}"));
    assert_eq!(status, 401);
    assert!(message.contains("signature"), "{message}");

    let wrong_aud = token(
        Some("k1"),
        SECRET,
        with(good_claims(), "aud", json!("another-api")),
    );
    assert!(refused(&access, &wrong_aud).1.contains("aud"));
    let no_aud = token(
        Some("k1"),
        SECRET,
        json!({"sub": "u00042", "exp": NOW + 60}),
    );
    assert_eq!(refused(&access, &no_aud).0, 401);
}

#[test]
fn alg_none_other_algorithms_unknown_kids_and_foreign_secrets_are_401() {
    let access = configured();
    let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "kid": "k1"})),
        b64(good_claims())
    );
    let (status, message) = refused(&access, &none);
    assert_eq!(status, 401);
    assert!(message.contains("HS256"), "{message}");

    let mut c = Claims::new(json!({"sub": "u00042", "aud": listener::AUDIENCE}));
    c.expiration = DateTime::from_timestamp(NOW + 600, 0);
    let hs512 = Hs512
        .token(
            &Header::empty().with_key_id("k1"),
            &c,
            &Hs512Key::new(SECRET.as_bytes()),
        )
        .unwrap();
    assert!(refused(&access, &hs512).1.contains("HS256"));

    let unknown_kid = token(Some("k9"), SECRET, good_claims());
    assert!(refused(&access, &unknown_kid).1.contains("kid"));
    let no_kid = token(None, SECRET, good_claims());
    assert!(refused(&access, &no_kid).1.contains("kid"));
    // Signed with the admin token (or any secret not configured) under a real kid.
    let by_admin = token(Some("k1"), ADMIN, good_claims());
    assert!(refused(&access, &by_admin).1.contains("signature"));
    assert_eq!(refused(&access, "not.a.jwt").0, 401);
}

#[test]
fn bad_subjects_missing_exp_long_lives_and_early_tokens_are_401() {
    let access = configured();
    let spaced = token(
        Some("k1"),
        SECRET,
        with(good_claims(), "sub", json!("u 42")),
    );
    assert!(refused(&access, &spaced).1.contains("sub"));
    let no_exp = token(
        Some("k1"),
        SECRET,
        json!({"sub": "u00042", "aud": listener::AUDIENCE}),
    );
    assert!(refused(&access, &no_exp).1.contains("exp"));
    let days = token(
        Some("k1"),
        SECRET,
        with(good_claims(), "exp", json!(NOW + 30 * 86_400)),
    );
    assert!(refused(&access, &days).1.contains("at most"));
    let early = token(
        Some("k1"),
        SECRET,
        with(good_claims(), "nbf", json!(NOW + 120)),
    );
    assert!(refused(&access, &early).1.contains("nbf"));
    let nearly = token(
        Some("k1"),
        SECRET,
        with(good_claims(), "nbf", json!(NOW + 30)),
    );
    assert!(access.caller(Some(&bearer(&nearly)), NOW).is_ok());
}

#[test]
fn minted_tokens_verify_and_expire() {
    let access = configured();
    let keys = access.listener_keys().unwrap();
    let t = keys.mint("k1", "u7", 900, NOW).unwrap();
    assert_eq!(keys.verify(&t, NOW + 899).unwrap(), "u7");
    assert_eq!(
        keys.verify(&t, NOW + 900 + listener::LEEWAY_S + 1)
            .unwrap_err()
            .status,
        401
    );
    assert!(keys.mint("nope", "u7", 900, NOW).is_err());
}

#[test]
fn service_and_admin_tokens_take_a_current_and_a_next_value() {
    let keys = keys_json();
    let access = env(&[
        ("LISTENER_TOKEN_KEYS", &keys),
        ("SERVICE_TOKEN", SERVICE),
        ("SERVICE_TOKEN_NEXT", "service-token-next-0123"),
        ("ADMIN_TOKEN_NEXT", ADMIN),
    ]);
    for t in [SERVICE, "service-token-next-0123"] {
        assert_eq!(
            access.caller(Some(&bearer(t)), NOW).unwrap(),
            Caller::Service
        );
    }
    Access::admit(&Caller::Service, "anyone").unwrap();
    access.admin(Some(&bearer(ADMIN))).unwrap();
    // The service token is not an admin token, nor the admin token a service token.
    assert_eq!(
        access.admin(Some(&bearer(SERVICE))).unwrap_err().status,
        401
    );
    assert_eq!(refused(&access, ADMIN).0, 401);
    assert_eq!(access.admin(None).unwrap_err().status, 401);
    assert_eq!(access.admin(Some(ADMIN)).unwrap_err().status, 401);
}

#[test]
fn unsafe_or_missing_configuration_disables_the_part_and_says_why() {
    let none = env(&[]);
    let e = none.caller(None, NOW).unwrap_err();
    assert_eq!((e.status, e.code), (503, "access_unconfigured"));
    let jwt = token(Some("k1"), SECRET, good_claims());
    assert_eq!(
        none.caller(Some(&bearer(&jwt)), NOW).unwrap_err().status,
        503
    );
    assert_eq!(
        none.admin(Some(&bearer(ADMIN))).unwrap_err().code,
        "admin_disabled"
    );
    assert_eq!(none.problems().len(), 3, "{:?}", none.problems());

    let shared = env(&[("SERVICE_TOKEN", ADMIN), ("ADMIN_TOKEN", ADMIN)]);
    assert!(
        shared
            .problems()
            .iter()
            .any(|p| p.contains("shares a value"))
    );
    assert_eq!(refused(&shared, ADMIN).0, 503);

    let keys = keys_json();
    let reused = env(&[("LISTENER_TOKEN_KEYS", &keys), ("ADMIN_TOKEN", SECRET)]);
    assert!(
        reused
            .problems()
            .iter()
            .any(|p| p.contains("ADMIN_TOKEN equals"))
    );
    assert_eq!(reused.admin(Some(&bearer(SECRET))).unwrap_err().status, 503);

    for bad in [
        r#"{"k1": "short"}"#,
        "{}",
        "not json",
        r#"{"a b": "a-listener-signing-secret-of-32-bytes+"}"#,
    ] {
        let access = env(&[("LISTENER_TOKEN_KEYS", bad)]);
        assert!(!access.listener_tokens(), "{bad}");
        assert!(
            access.problems()[0].contains("LISTENER_TOKEN_KEYS"),
            "{bad}"
        );
    }
    let short = env(&[("SERVICE_TOKEN", "short")]);
    assert!(
        short
            .problems()
            .iter()
            .any(|p| p.contains("SERVICE_TOKEN is 5 bytes"))
    );
}

#[test]
fn origins_come_from_the_allow_list_and_never_a_wildcard() {
    let access = configured();
    assert_eq!(
        access.allow_origin(Some("https://app.example.com")),
        Some("https://app.example.com")
    );
    assert_eq!(
        access.allow_origin(Some("http://127.0.0.1:3000")),
        Some("http://127.0.0.1:3000")
    );
    assert_eq!(access.allow_origin(Some("https://evil.example")), None);
    assert_eq!(access.allow_origin(None), None);
    for bad in [
        "*",
        "https://*.example.com",
        "example.com",
        "https://a.example/path",
    ] {
        assert!(AllowedOrigins::parse(Some(bad)).is_err(), "{bad}");
    }
    let wildcard = env(&[("ALLOWED_ORIGINS", "*")]);
    assert_eq!(wildcard.allow_origin(Some("https://app.example.com")), None);
    assert!(wildcard.problems().iter().any(|p| p.contains("wildcard")));
}
