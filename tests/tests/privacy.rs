//! A listener's data at the edge, tried as a stranger would, against a real Worker
//! (`wrangler dev`): only the listener's own token or the service token reads it, only allowed
//! origins get CORS, a burst gets 429, and a Worker without keys refuses instead of serving open.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use resonance_access::ListenerKeys;
use resonance_e2e::fixture::publish;
use resonance_e2e::wrangler::{
    ADMIN_TOKEN, LISTENER_KID, SERVICE_TOKEN, Wrangler, listener_keys_json, listener_token,
    unix_now,
};
use serde_json::{Value, json};

const A: &str = "u00001";
const B: &str = "u00002";
const ORIGIN: &str = "https://music.example.test";

fn features(worker: &Wrangler, user: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::blocking::Client::new()
        .post(format!("{}/v1/features", worker.url))
        .json(&json!({"user_id": user, "candidates": ["t000001"]}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// A token for `sub` signed with the tests' key, with these claims changed.
fn token_with(sub: &str, change: impl FnOnce(&mut Value)) -> String {
    let keys = ListenerKeys::parse(&listener_keys_json()).unwrap();
    let good = keys.mint(LISTENER_KID, sub, 600, unix_now()).unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    change(&mut claims);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    // The original signature over other claims: the Worker must notice.
    format!("{}.{payload}.{}", parts[0], parts[2])
}

#[test]
fn a_listeners_features_are_read_only_with_their_token_or_the_service_token() {
    let worker = Wrangler::start(&[("POINTER_CHECK_SECONDS", "0"), ("ALLOWED_ORIGINS", ORIGIN)]);
    publish(&worker);

    // The listener's own token (and the service token) read the listener's stored value.
    let (status, own) = features(&worker, A, Some(&listener_token(A)));
    assert_eq!(status, 200, "{own}");
    assert!(own["users"][A].is_string(), "A's value is served: {own}");
    let (status, service) = features(&worker, A, Some(SERVICE_TOKEN));
    assert_eq!(status, 200, "{service}");
    assert_eq!(service["users"][A], own["users"][A]);

    // Without a token, with an expired, tampered or foreign-signed one: 401, and the error
    // envelope names no listener data.
    let expired = ListenerKeys::parse(&listener_keys_json())
        .unwrap()
        .mint(LISTENER_KID, A, 60, unix_now() - 3600)
        .unwrap();
    let tampered = token_with(B, |c| c["sub"] = json!(A));
    let alg_none = {
        let header =
            URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": LISTENER_KID}).to_string());
        let claims = URL_SAFE_NO_PAD.encode(
            json!({"sub": A, "aud": "resonance-edge", "exp": unix_now() + 600}).to_string(),
        );
        format!("{header}.{claims}.")
    };
    let cases: [(&str, Option<&str>); 6] = [
        ("no token", None),
        ("expired", Some(&expired)),
        ("tampered", Some(&tampered)),
        ("alg none", Some(&alg_none)),
        ("the admin token", Some(ADMIN_TOKEN)),
        ("garbage", Some("not-a-token")),
    ];
    for (what, token) in cases {
        let (status, answer) = features(&worker, A, token);
        assert_eq!(status, 401, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], "unauthorized", "{what}: {answer}");
        assert!(answer.get("users").is_none(), "{what}: {answer}");
    }
    // Listener B's valid token for A's data: 403, the same for a listener who does not exist.
    for target in [A, "u99999"] {
        let (status, answer) = features(&worker, target, Some(&listener_token(B)));
        assert_eq!(status, 403, "{answer}");
        assert_eq!(answer["error"]["code"], "forbidden");
    }
    // The rerank route follows the same rules.
    let rerank = |token: &str| {
        reqwest::blocking::Client::new()
            .post(format!("{}/v1/rerank", worker.url))
            .bearer_auth(token)
            .json(&json!({"user_id": A, "candidates": ["t000001"]}))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(rerank(&listener_token(A)), 200);
    assert_eq!(rerank(&listener_token(B)), 403);
    assert_eq!(rerank(&tampered), 401);

    // CORS: the allowed origin is echoed, on answers, errors and preflights; another gets none.
    let client = reqwest::blocking::Client::new();
    for (origin, allowed) in [(ORIGIN, true), ("https://evil.example", false)] {
        let answers = [
            client
                .post(format!("{}/v1/features", worker.url))
                .header("Origin", origin)
                .bearer_auth(listener_token(A))
                .json(&json!({"user_id": A, "candidates": ["t000001"]}))
                .send()
                .unwrap(),
            client
                .post(format!("{}/v1/features", worker.url))
                .header("Origin", origin)
                .json(&json!({"user_id": A, "candidates": ["t000001"]}))
                .send()
                .unwrap(),
            client
                .request(
                    reqwest::Method::OPTIONS,
                    format!("{}/v1/features", worker.url),
                )
                .header("Origin", origin)
                .header("Access-Control-Request-Method", "POST")
                .send()
                .unwrap(),
        ];
        for answer in answers {
            let header = answer.headers().get("access-control-allow-origin");
            assert_eq!(
                header.map(|h| h.to_str().unwrap()),
                allowed.then_some(origin),
                "{origin}: {} {:?}",
                answer.status(),
                answer.headers()
            );
            assert!(
                answer
                    .headers()
                    .get_all("access-control-allow-origin")
                    .iter()
                    .all(|h| h != "*"),
                "{origin}"
            );
        }
    }
}

#[test]
fn a_burst_beyond_the_limits_is_refused_with_429_and_retry_after() {
    // Small limits for the test: 4 requests a minute per listener, 9 per address.
    let worker = Wrangler::start_with_limits(&[("POINTER_CHECK_SECONDS", "0")], 9, 4);
    publish(&worker);
    let send = |user: &str, token: &str| {
        reqwest::blocking::Client::new()
            .post(format!("{}/v1/features", worker.url))
            .bearer_auth(token)
            .json(&json!({"user_id": user, "candidates": ["t000001"]}))
            .send()
            .unwrap()
    };
    // The windows are a minute on the wall clock: a burst that straddles a boundary may get
    // up to twice the limit through, never more.
    let until_refused = |user: &str, token: &str, most: usize| {
        for n in 0..=most {
            let answer = send(user, token);
            if answer.status() == 429 {
                let retry = answer.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .to_string();
                let body: Value = answer.json().unwrap();
                return (n, retry, body);
            }
            assert_eq!(answer.status(), 200, "request {n} for {user}");
        }
        panic!("{most} requests for {user} were all served");
    };
    let (served, retry, body) = until_refused(A, &listener_token(A), 2 * 4);
    assert!((1..=8).contains(&served), "{served}");
    assert_eq!(retry, "60");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("listener"),
        "{body}"
    );

    // Other listeners from the same address run into the address's limit.
    let mut refused = None;
    for user in ["u00003", "u00004", "u00005", "u00006", "u00007"] {
        let token = listener_token(user);
        for _ in 0..3 {
            let answer = send(user, &token);
            if answer.status() == 429 {
                let body: Value = answer.json().unwrap();
                refused = Some(body);
                break;
            }
        }
        if refused.is_some() {
            break;
        }
    }
    let body = refused.expect("the address limit refused a burst of 15 requests");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("address"),
        "{body}"
    );

    // The music service's backend is not limited.
    for _ in 0..5 {
        assert_eq!(send(A, SERVICE_TOKEN).status(), 200);
    }
}

#[test]
fn without_listener_keys_the_listener_routes_refuse_and_health_says_why() {
    let worker = Wrangler::start(&[("LISTENER_TOKEN_KEYS", "")]);
    let (status, answer) = features(&worker, A, Some(&listener_token(A)));
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"]["code"], "access_unconfigured");
    let (status, _) = features(&worker, A, None);
    assert_eq!(status, 503);
    let health: Value = reqwest::blocking::get(format!("{}/health", worker.url))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        health["accessProblems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().contains("LISTENER_TOKEN_KEYS")),
        "{health}"
    );
    // The backend's service token still works.
    let (status, answer) = features(&worker, A, Some(SERVICE_TOKEN));
    assert_eq!(status, 404, "nothing is published: {answer}");
}
