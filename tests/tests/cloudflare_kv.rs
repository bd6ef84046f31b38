//! `trainer mirror --sink cloudflare` against a local stand-in for the Cloudflare KV REST API
//! (the real one is unreachable here). The stand-in checks what the real API requires of a
//! bulk write (method, path, bearer token, JSON content type, an array of ≤ 10,000 string
//! pairs) and answers in Cloudflare's envelope; it rate-limits the first request (429 with
//! Retry-After) and fails the second (500), so the mirror must retry and still write every key
//! once, the feature pointer last.

use std::collections::HashMap;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use resonance_e2e::fixture::materialize_command;
use resonance_e2e::redis::RedisServer;
use resonance_e2e::{succeeded, trainer_path};
use serde_json::{Value, json};

const ACCOUNT: &str = "acc-0123";
const NAMESPACE: &str = "ns-4567";
const TOKEN: &str = "cf-token-89ab";

#[derive(Default)]
struct Seen {
    requests: usize,
    /// Keys in the order the successful writes stored them.
    order: Vec<String>,
    stored: HashMap<String, String>,
    /// Keys in the order the bulk deletes removed them.
    deleted: Vec<String>,
    problems: Vec<String>,
}

/// Serves the bulk endpoint on a free port until the test ends; returns its API base URL.
fn stand_in(seen: Arc<Mutex<Seen>>) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let mut body = String::new();
            let _ = request.as_reader().read_to_string(&mut body);
            let header = |name: &'static str| -> Option<String> {
                let found = request.headers().iter().find(|h| h.field.equiv(name))?;
                Some(found.value.as_str().to_string())
            };
            let (authorization, content_type) = (header("Authorization"), header("Content-Type"));
            let (method, url) = (request.method().to_string(), request.url().to_string());
            let mut seen = seen.lock().unwrap();
            seen.requests += 1;
            let path =
                format!("/client/v4/accounts/{ACCOUNT}/storage/kv/namespaces/{NAMESPACE}/bulk");
            let delete = format!("{path}/delete");
            let (status, answer) = if url == delete && method == "POST" {
                // Cloudflare's bulk delete: a JSON array of key names, ≤ 10,000.
                match serde_json::from_str::<Vec<String>>(&body) {
                    Ok(keys)
                        if keys.len() <= 10_000
                            && authorization.as_deref() == Some(&format!("Bearer {TOKEN}")) =>
                    {
                        for key in &keys {
                            seen.stored.remove(key);
                            seen.deleted.push(key.clone());
                        }
                        let result =
                            json!({"successful_key_count": keys.len(), "unsuccessful_keys": []});
                        (
                            200,
                            json!({"success": true, "errors": [], "messages": [], "result": result}),
                        )
                    }
                    _ => {
                        seen.problems.push(format!("bad bulk delete {body:.80}"));
                        (400, envelope(false, 10026, "bad body"))
                    }
                }
            } else if url != path || method != "PUT" {
                seen.problems.push(format!("{method} {url}"));
                (
                    404,
                    envelope(false, 7003, "Could not route to the requested path"),
                )
            } else if authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
                (403, envelope(false, 10000, "Authentication error"))
            } else if !content_type
                .as_deref()
                .is_some_and(|c| c.starts_with("application/json"))
            {
                seen.problems
                    .push(format!("content type {:?}", header("Content-Type")));
                (400, envelope(false, 10026, "content type"))
            } else if seen.requests == 1 {
                (429, envelope(false, 10013, "rate limited"))
            } else if seen.requests == 2 {
                (500, envelope(false, 10001, "internal error"))
            } else {
                match serde_json::from_str::<Vec<Value>>(&body) {
                    Ok(pairs) if pairs.len() <= 10_000 => {
                        for pair in &pairs {
                            match (pair["key"].as_str(), pair["value"].as_str()) {
                                (Some(k), Some(v)) => {
                                    seen.order.push(k.to_string());
                                    seen.stored.insert(k.to_string(), v.to_string());
                                }
                                _ => seen.problems.push(format!("bad pair {pair}")),
                            }
                        }
                        let result =
                            json!({"successful_key_count": pairs.len(), "unsuccessful_keys": []});
                        (
                            200,
                            json!({"success": true, "errors": [], "messages": [], "result": result}),
                        )
                    }
                    _ => {
                        seen.problems
                            .push("body is not an array of ≤ 10,000 pairs".into());
                        (400, envelope(false, 10026, "bad body"))
                    }
                }
            };
            let mut response = tiny_http::Response::from_string(answer.to_string())
                .with_status_code(status)
                .with_header(
                    "Content-Type: application/json"
                        .parse::<tiny_http::Header>()
                        .unwrap(),
                );
            if status == 429 {
                response.add_header("Retry-After: 1".parse::<tiny_http::Header>().unwrap());
            }
            let _ = request.respond(response);
        }
    });
    format!("http://127.0.0.1:{port}/client/v4")
}

fn envelope(success: bool, code: u32, message: &str) -> Value {
    json!({"success": success, "errors": [{"code": code, "message": message}], "messages": [], "result": null})
}

fn mirror(redis: &RedisServer, api: &str, token: &str) -> Output {
    Command::new(trainer_path())
        .args(["mirror", "--full", "--sink", "cloudflare", "--grace", "0"])
        .env("REDIS_URL", &redis.url)
        .env("CLOUDFLARE_API_BASE", api)
        .env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
        .env("CLOUDFLARE_KV_NAMESPACE_ID", NAMESPACE)
        .env("CLOUDFLARE_API_TOKEN", token)
        .env_remove("RESONANCE_ADMIN_TOKEN")
        .output()
        .unwrap()
}

#[test]
fn mirror_to_cloudflare_kv_retries_and_writes_every_key() {
    let redis = RedisServer::start();
    succeeded(materialize_command(&redis.url, 50).output().unwrap());

    let seen = Arc::new(Mutex::new(Seen::default()));
    let api = stand_in(seen.clone());
    let shared = seen.clone();
    let began = Instant::now();
    let out = mirror(&redis, &api, TOKEN);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        began.elapsed().as_secs_f64() >= 1.0,
        "Retry-After: 1 was not honoured"
    );
    assert!(stderr.contains("429") && stderr.contains("500"), "{stderr}");

    let seen = seen.lock().unwrap();
    assert_eq!(seen.problems, Vec::<String>::new());
    let keys = redis.cli(&["--scan", "--pattern", "rsn:v50:*"]);
    assert!(keys.lines().count() > 500);
    for key in keys.lines() {
        assert_eq!(
            seen.stored.get(key),
            Some(&redis.cli(&["GET", key])),
            "{key}"
        );
    }
    // One write per key: the model's chunks and embeddings, its manifest, its listeners'
    // states, the version's entities, its meta, then the pointers (the model's, for readers of
    // the older layout; the version's last).
    let model_keys = redis.cli(&["--scan", "--pattern", "rsn:model:*"]);
    let model_keys = model_keys.lines().count();
    let state_keys = redis.cli(&["--scan", "--pattern", "rsn:model:*:state:*"]);
    let state_keys = state_keys.lines().count();
    assert!(state_keys > 100, "{state_keys} listener states in Redis");
    assert_eq!(seen.order.len(), model_keys + keys.lines().count() + 2);
    let manifest = model_keys - state_keys - 1;
    assert!(
        seen.order[manifest].ends_with(":manifest"),
        "{:?}",
        &seen.order[..=manifest]
    );
    assert!(
        seen.order[manifest + 1..model_keys]
            .iter()
            .all(|k| k.contains(":state:")),
        "{:?}",
        &seen.order[manifest + 1..model_keys]
    );
    let meta = seen.order.iter().position(|k| k == "rsn:v50:meta").unwrap();
    assert_eq!(meta, seen.order.len() - 3);
    assert_eq!(seen.order[seen.order.len() - 2], "rsn:model:current");
    assert_eq!(seen.order.last().unwrap(), "rsn:current");
    assert_eq!(seen.stored["rsn:current"], "50");
    drop(seen);

    // Two more days: version 50 becomes the previous one, then is deleted through Cloudflare's
    // bulk delete (the grace period is 0 here), its meta first; the model stays (still live).
    for version in [51, 52] {
        succeeded(materialize_command(&redis.url, version).output().unwrap());
        let out = mirror(&redis, &api, TOKEN);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let seen_now = shared.lock().unwrap();
    assert_eq!(seen_now.problems, Vec::<String>::new());
    assert_eq!(
        seen_now.deleted.first().map(String::as_str),
        Some("rsn:v50:meta")
    );
    assert_eq!(seen_now.deleted.len(), keys.lines().count());
    assert!(seen_now.stored.keys().all(|k| !k.starts_with("rsn:v50:")));
    assert!(
        seen_now.stored.contains_key("rsn:v51:meta")
            && seen_now.stored.contains_key("rsn:v52:meta")
    );
    drop(seen_now);
    // Redis let version 50 go too, now that the edge holds it no longer.
    assert_eq!(redis.cli(&["--scan", "--pattern", "rsn:v50:*"]), "");
    assert_eq!(redis.cli(&["ZRANGE", "rsn:mirrored", "0", "-1"]), "51\n52");

    // A wrong token is not retried: the error says what Cloudflare said.
    succeeded(materialize_command(&redis.url, 53).output().unwrap());
    let out = mirror(&redis, &api, "wrong-token");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("403") && stderr.contains("Authentication error"),
        "{stderr}"
    );
    // Missing settings are named.
    let out = Command::new(trainer_path())
        .args(["mirror", "--full", "--sink", "cloudflare"])
        .env("REDIS_URL", &redis.url)
        .env_remove("CLOUDFLARE_ACCOUNT_ID")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("CLOUDFLARE_ACCOUNT_ID is not set"));
}
