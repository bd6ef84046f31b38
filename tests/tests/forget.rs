//! `trainer forget` end to end: one listener's values leave a real redis-server and a real
//! Worker's KV (`wrangler dev`) for every feature version, and `materialize` does not bring
//! them back.

use std::process::Command;

use resonance_e2e::fixture::{MODEL, materialize_command};
use resonance_e2e::redis::RedisServer;
use resonance_e2e::trainer_path;
use resonance_e2e::wrangler::{ADMIN_TOKEN, SERVICE_TOKEN, Wrangler};
use resonance_e2e::{succeeded as ok, summary_of};
use serde_json::{Value, json};

const GONE: &str = "u00001";
const KEPT: &str = "u00002";

/// The users the Worker serves for these ids (a `/v1/features` read, as the service).
fn served_users(worker: &Wrangler, user: &str) -> Value {
    let snapshot: Value = reqwest::blocking::Client::new()
        .post(format!("{}/v1/features", worker.url))
        .bearer_auth(SERVICE_TOKEN)
        .json(&json!({"user_id": user, "candidates": ["t000001"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    snapshot["users"].clone()
}

fn switch_features(worker: &Wrangler, version: u64) {
    let status = reqwest::blocking::Client::new()
        .put(format!("{}/admin/features/current", worker.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "version": version }))
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

#[test]
fn forget_leaves_no_key_of_the_listener_in_redis_or_at_the_edge() {
    let redis = RedisServer::start();
    let worker = Wrangler::start(&[("POINTER_CHECK_SECONDS", "0")]);
    let trainer = |args: &[&str]| {
        Command::new(trainer_path())
            .args(args)
            .env("REDIS_URL", &redis.url)
            .env("RESONANCE_ADMIN_TOKEN", ADMIN_TOKEN)
            .output()
            .unwrap()
    };
    // Two versions mirrored to the edge: the listener is in both.
    for version in [30, 31] {
        ok(materialize_command(&redis.url, version).output().unwrap());
        ok(trainer(&["mirror", "--full", "--worker", &worker.url]));
    }
    for version in [30, 31] {
        switch_features(&worker, version);
        assert!(served_users(&worker, GONE)[GONE].is_string(), "v{version}");
    }
    assert!(
        !redis
            .cli(&["--scan", "--pattern", &format!("*{GONE}")])
            .trim()
            .is_empty()
    );

    let erased = summary_of(trainer(&[
        "forget",
        "--user-id",
        GONE,
        "--worker",
        &worker.url,
        "--json",
    ]));
    let edge_keys: Vec<&str> = erased["edge_keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for version in [30, 31] {
        assert!(
            edge_keys.contains(&format!("rsn:v{version}:user:{GONE}").as_str()),
            "{erased}"
        );
    }
    // Their encoder state, derived from their plays, goes from the model's namespace too.
    let state = format!("rsn:model:{MODEL}:state:{GONE}");
    assert!(edge_keys.contains(&state.as_str()), "{erased}");
    assert!(
        redis
            .cli(&["HEXISTS", &format!("rsn:states:{MODEL}"), GONE])
            .trim()
            == "0"
    );

    // Redis: no key names the listener (their state included); the id is on the suppression
    // list.
    let left = redis.cli(&["--scan", "--pattern", &format!("*{GONE}*")]);
    assert!(left.trim().is_empty(), "left in Redis: {left}");
    assert_eq!(redis.cli(&["SISMEMBER", "rsn:forgotten", GONE]).trim(), "1");
    // The edge, version by version: the listener is unknown, the others are still served.
    for version in [31, 30] {
        switch_features(&worker, version);
        assert!(
            served_users(&worker, GONE)[GONE].is_null(),
            "v{version} still serves {GONE}"
        );
        assert!(
            served_users(&worker, KEPT)[KEPT].is_string(),
            "v{version} lost {KEPT}"
        );
    }

    // The next materialize does not bring the listener back from the events.
    let summary = summary_of(
        materialize_command(&redis.url, 32)
            .arg("--json")
            .output()
            .unwrap(),
    );
    assert_eq!(summary["forgottenSkipped"], 1, "{summary}");
    assert!(
        redis
            .cli(&["EXISTS", &format!("rsn:v32:user:{GONE}")])
            .trim()
            == "0"
    );
    assert!(
        redis
            .cli(&["EXISTS", &format!("rsn:v32:user:{KEPT}")])
            .trim()
            == "1"
    );

    // Bad input: an id the rules refuse, named.
    let refused = trainer(&["forget", "--user-id", "a b", "--worker", &worker.url]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--user-id"));
}
