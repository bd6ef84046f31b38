//! A staged model, end to end (a real redis-server, a real Worker in `wrangler dev`):
//! `trainer models stage` writes it into Redis and the mirror puts it at the edge beside the
//! live model, loaded and verified by the Worker and serving no traffic; collection keeps it
//! while it is staged; `models list` and `trainer status` say where it stands; `unstage` lets
//! the mirror delete it from the edge; promoted and materialized, it goes live without being
//! copied again and is no longer staged.

use std::path::Path;
use std::process::{Command, Output};

use resonance_e2e::fixture::{AS_OF, MODEL, copy_model_as, fixture, s, scratch_models};
use resonance_e2e::redis::RedisServer;
use resonance_e2e::wrangler::{ADMIN_TOKEN, Wrangler};
use resonance_e2e::{failed, status_of, status_output, succeeded, summary_of, trainer_path};
use serde_json::{Value, json};

/// The candidate: the fixture's model exported again under another version.
const CANDIDATE: &str = "w-5";

fn trainer(redis: &RedisServer, worker: &Wrangler, args: &[&str]) -> Output {
    Command::new(trainer_path())
        .args(args)
        .env("REDIS_URL", &redis.url)
        .env("RESONANCE_WORKER_URL", &worker.url)
        .env("RESONANCE_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap()
}

/// The daily job on the fixture's world (a new version each run), superseded states deleted
/// at once (`--grace 0`); its JSON summary.
fn daily(redis: &RedisServer, worker: &Wrangler, models: &Path) -> Value {
    let f = fixture();
    let (data, models) = (s(&f.data), s(models));
    summary_of(trainer(
        redis,
        worker,
        &[
            "daily", "--data", &data, "--models", &models, "--as-of", AS_OF, "--grace", "0",
            "--json",
        ],
    ))
}

fn mirror(redis: &RedisServer, worker: &Wrangler) -> String {
    succeeded(trainer(
        redis,
        worker,
        &["mirror", "--full", "--grace", "0"],
    ))
}

fn models_cmd(redis: &RedisServer, worker: &Wrangler, models: &Path, args: &[&str]) -> Output {
    let mut all = vec!["models"];
    all.extend_from_slice(args);
    let models = s(models);
    all.extend(["--models", &models]);
    trainer(redis, worker, &all)
}

/// Each version's stages, as `models list --json` gives them.
fn stages(redis: &RedisServer, worker: &Wrangler, models: &Path) -> Value {
    let listed = summary_of(models_cmd(redis, worker, models, &["list", "--json"]));
    let mut by_version = serde_json::Map::new();
    for m in listed.as_array().unwrap() {
        by_version.insert(m["version"].as_str().unwrap().into(), m["stages"].clone());
    }
    Value::Object(by_version)
}

/// Whether the Worker's KV holds any key of the candidate.
fn candidate_at_the_edge(worker: &Wrangler) -> bool {
    let listed = worker.kv_keys(&format!("rsn:model:{CANDIDATE}:"));
    let keys: Vec<Value> = serde_json::from_str(&listed).unwrap();
    !keys.is_empty()
}

#[test]
fn a_staged_model_waits_at_the_edge_serving_nothing_until_it_goes_live_or_is_unstaged() {
    let redis = RedisServer::start();
    let (_scratch, models) = scratch_models();
    copy_model_as(&models, MODEL, CANDIDATE);
    let worker = Wrangler::start(&[("POINTER_CHECK_SECONDS", "0"), ("SETTLE_SECONDS", "0")]);

    // Nothing is live yet: there is nothing to stage beside.
    let error = failed(models_cmd(&redis, &worker, &models, &["stage", CANDIDATE]));
    assert!(error.contains("run `trainer daily` first"), "{error}");
    daily(&redis, &worker, &models);
    let error = failed(models_cmd(&redis, &worker, &models, &["stage", MODEL]));
    assert!(error.contains("is live already"), "{error}");
    let dry = succeeded(models_cmd(
        &redis,
        &worker,
        &models,
        &["stage", CANDIDATE, "--dry-run"],
    ));
    assert!(dry.contains("would stage"), "{dry}");
    assert_eq!(
        redis.cli(&["EXISTS", "rsn:staged"]),
        "0",
        "a dry run changes nothing"
    );

    // Staged in Redis: until the mirror runs, the edge disagrees, and status says so.
    succeeded(models_cmd(
        &redis,
        &worker,
        &models,
        &["stage", CANDIDATE, "--reason", "next week's A/B"],
    ));
    assert_eq!(redis.cli(&["GET", "rsn:staged"]), CANDIDATE);
    let out = status_output(&redis.url, &worker.url);
    assert!(!out.status.success(), "status fails while the edge lags");
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        status["problems"]
            .to_string()
            .contains("Redis stages model w-5"),
        "{status}"
    );
    assert_eq!(
        stages(&redis, &worker, &models),
        json!({MODEL: ["current", "live"], CANDIDATE: ["staged, not yet mirrored"]})
    );

    // Mirrored: at the edge, verified, serving nothing; status agrees.
    let printed = mirror(&redis, &worker);
    assert!(printed.contains("model w-5 is staged"), "{printed}");
    assert!(candidate_at_the_edge(&worker));
    assert_eq!(
        worker.health()["modelVersion"],
        MODEL,
        "the live model serves"
    );
    let status = status_of(&redis.url, &worker.url);
    assert_eq!(status["edge"]["recorded"]["stagedModel"], CANDIDATE);
    assert_eq!(
        stages(&redis, &worker, &models),
        json!({MODEL: ["current", "live"], CANDIDATE: ["staged"]})
    );

    // Another day: the staged model stays, at the edge and in Redis.
    daily(&redis, &worker, &models);
    assert!(
        candidate_at_the_edge(&worker),
        "collection keeps what is staged"
    );
    assert_eq!(
        redis.cli(&["EXISTS", &format!("rsn:model:{CANDIDATE}:manifest")]),
        "1"
    );

    // Unstaged: the mirror deletes it from the edge (grace 0 here).
    succeeded(models_cmd(
        &redis,
        &worker,
        &models,
        &["unstage", "--reason", "not now"],
    ));
    mirror(&redis, &worker);
    assert!(!candidate_at_the_edge(&worker), "deleted once unstaged");
    assert_eq!(
        status_of(&redis.url, &worker.url)["edge"]["recorded"]["stagedModel"],
        Value::Null
    );

    // Staged again, then promoted: the next daily job makes it live without copying it
    // again, and it is no longer staged anywhere.
    succeeded(models_cmd(&redis, &worker, &models, &["stage", CANDIDATE]));
    mirror(&redis, &worker);
    succeeded(models_cmd(
        &redis,
        &worker,
        &models,
        &["promote", CANDIDATE, "--reason", "the A/B won"],
    ));
    let summary = daily(&redis, &worker, &models);
    assert_eq!(
        summary["mirrored"]["model"],
        json!({"outcome": "atTheEdge", "version": CANDIDATE}),
        "{summary}"
    );
    assert_eq!(worker.health()["modelVersion"], CANDIDATE);
    assert_eq!(redis.cli(&["EXISTS", "rsn:staged"]), "0");
    let status = status_of(&redis.url, &worker.url);
    assert_eq!(status["edge"]["recorded"]["stagedModel"], Value::Null);
    assert_eq!(
        stages(&redis, &worker, &models),
        json!({MODEL: ["previous"], CANDIDATE: ["current", "live"]})
    );
    // A staged model that cannot be put at the edge (its keys gone from Redis): the live
    // state is still synced and cleaned up, and the run fails, saying so.
    copy_model_as(&models, MODEL, "w-6");
    succeeded(models_cmd(&redis, &worker, &models, &["stage", "w-6"]));
    redis.cli(&["DEL", "rsn:model:w-6:manifest"]);
    let error = failed(trainer(
        &redis,
        &worker,
        &["mirror", "--full", "--grace", "0"],
    ));
    assert!(
        error.contains("the live state is synced, but the staged model is not at the edge"),
        "{error}"
    );
    assert_eq!(worker.health()["modelVersion"], CANDIDATE);
    let out = status_output(&redis.url, &worker.url);
    assert!(
        !out.status.success(),
        "status names the missing staged model"
    );
    succeeded(models_cmd(&redis, &worker, &models, &["unstage"]));
    mirror(&redis, &worker);
    succeeded(status_output(&redis.url, &worker.url));

    let audit = std::fs::read_to_string(models.join("audit.jsonl")).unwrap();
    let actions: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["action"].clone())
        .collect();
    assert_eq!(
        actions[actions.len() - 6..],
        ["stage", "unstage", "stage", "promote", "stage", "unstage"].map(|a| json!(a)),
        "{audit}"
    );
}
