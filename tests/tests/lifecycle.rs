//! Seven simulated days of the schedule over one world, end to end (a real redis-server, a
//! real Worker in `wrangler dev`): a materialize a day with `--as-of` advancing, `trainer
//! mirror --follow` after it (from day 2 on, killed at each of the mirror's failpoints in turn,
//! `failpoint::mirror::ALL`, every one at least once in the week, then run again), a retrain
//! on day 4 and a one-command rollback (`trainer rollback`, killed once and resumed) on day 6;
//! `trainer status` exits 1 while Redis is a version ahead of the edge. After every step the
//! Worker serves a state that belongs together (it answers exactly as the native core does on
//! the version and model it names, within 1e-4), its KV holds only the live and previous
//! states (listed from wrangler's own local KV), and `trainer status` agrees with what the
//! test reads. Day 1 is written in the oldest layout (1), the days after it in the default
//! one (3: values written when they change), so day 2 is also the upgrade of a running edge.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use futures_executor::block_on;
use resonance_e2e::fixture::{
    AS_OF, MODEL, copy_model_as, fixture, mirror_command, s, scratch_models, train_small,
};
use resonance_e2e::redis::RedisServer;
use resonance_e2e::wrangler::{ADMIN_TOKEN, SERVICE_TOKEN, Wrangler};
use resonance_e2e::{
    assert_same_ranking, failed, status_of, status_output, succeeded, summary_of, trainer_ok,
    trainer_path,
};
use resonance_edge::rerank::ModelRef;
use resonance_edge::{MemorySource, Reranker, TractModel};
use resonance_failpoint as failpoint;
use resonance_featurestore::store::FeatureStore;
use resonance_registry::ModelArtifact;
use resonance_shared::api::{RerankResponse, parse_rerank_request};
use resonance_shared::keys::FeatureVersion;
use resonance_shared::versioned;
use serde_json::{Value, json};

const DAY: i64 = 86_400;
/// The retrained model of day 4.
const RETRAINED: &str = "w-2";

fn as_of(day: i64) -> String {
    let end = resonance_data::events_csv::parse_timestamp(AS_OF).unwrap();
    (end - (7 - day) * DAY).to_string()
}

/// Trains a second model on the same world up to day 4 (`--as-of`, another seed) and exports
/// it as [`RETRAINED`] through the gate (which scores the current model on the new model's
/// split, since that is another as-of); `<models>/CURRENT` then names it.
fn retrain(models: &Path) {
    let f = fixture();
    let run = tempfile::TempDir::new().unwrap();
    let run = run.path().join("run");
    let until = as_of(4);
    train_small(&f.data, &run, &["--as-of", &until, "--seed", "5"]);
    trainer_ok(&["eval", "--run", &s(&run)]);
    // Another seed and fewer days may score below the current model: this test is about the
    // lifecycle, so the gate lets any drop pass here (a refusal is checked below).
    let exported = trainer_ok(&[
        "export",
        "--run",
        &s(&run),
        "--models",
        &s(models),
        "--model-version",
        RETRAINED,
        "--max-regression",
        "1",
    ]);
    let printed = String::from_utf8_lossy(&exported.stdout);
    assert!(
        printed.contains("re-scored on the candidate's split"),
        "{printed}"
    );

    // The gate refuses, with both figures, a promotion that asks for more than it gets (a
    // negative allowance asks for an improvement), and CURRENT stays.
    let out = Command::new(trainer_path())
        .args(["models", "promote", MODEL, "--models", &s(models)])
        .args(["--max-regression=-1", "--reason", "test"])
        .output()
        .unwrap();
    let error = failed(out);
    assert!(
        error.contains(&format!("the gate refuses {MODEL}")),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(models.join("CURRENT")).unwrap(),
        RETRAINED
    );
    let listed = summary_of(
        Command::new(trainer_path())
            .args(["models", "list", "--json", "--models", &s(models)])
            .output()
            .unwrap(),
    );
    let current: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["current"] == true)
        .collect();
    assert_eq!(current.len(), 1, "{listed}");
    assert_eq!(current[0]["version"], RETRAINED, "{listed}");
    // Its lineage: the run it came from and the model it was meant to replace.
    assert_eq!(current[0]["parent"], MODEL, "{listed}");
    assert_eq!(
        current[0]["run"],
        s(&run.canonicalize().unwrap()),
        "{listed}"
    );
}

/// Day 1 is of layout 1 (an edge deployed before layout 2); from day 2 on, the default layout
/// (3), so the mirror moves the edge to it (the model's embeddings and listeners' states go
/// with its model, each listener's and track's values into their own keys).
fn materialize(redis: &RedisServer, models: &Path, day: i64) {
    let f = fixture();
    let mut command = Command::new(trainer_path());
    command
        .args(["materialize", "--data", &s(&f.data), "--models", &s(models)])
        .args(["--as-of", &as_of(day), "--interest-graphs", "offline"])
        .env("REDIS_URL", &redis.url);
    if day == 1 {
        command.args(["--layout", "1"]);
    }
    succeeded(command.output().unwrap());
}

/// `trainer mirror --follow` until idle, deleting superseded states at once (`--grace 0`);
/// `abort_at` (`point:n`) kills it there.
fn follow(redis: &RedisServer, worker: &Wrangler, abort_at: &str) -> Output {
    Command::new(trainer_path())
        .args(["mirror", "--follow", "--idle-exit", "1", "--grace", "0"])
        .args(["--worker", &worker.url, "--batch-size", "100"])
        .env("REDIS_URL", &redis.url)
        .env("RESONANCE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RESONANCE_ABORT_AT", abort_at)
        .output()
        .unwrap()
}

/// `trainer rollback` (the registry's rollback, then the daily job) as of `day`.
fn rollback(redis: &RedisServer, worker: &Wrangler, models: &Path, day: i64) -> Command {
    let f = fixture();
    let mut command = Command::new(trainer_path());
    command
        .args(["rollback", "--data", &s(&f.data), "--models", &s(models)])
        .args(["--as-of", &as_of(day), "--interest-graphs", "offline"])
        .args(["--worker", &worker.url, "--grace", "0"])
        .args(["--edge-batch-size", "100"])
        .env("REDIS_URL", &redis.url)
        .env("RESONANCE_ADMIN_TOKEN", ADMIN_TOKEN);
    command
}

/// The Worker's answers for two listeners equal the native core's on the feature version
/// (read from Redis) and the model (read from the models folder) the Worker says it serves;
/// returns that version's layout.
fn assert_serves_a_whole_state(
    redis: &RedisServer,
    worker: &Wrangler,
    models: &Path,
    step: &str,
) -> u32 {
    let state = worker.health();
    assert_eq!(state["status"], "ok", "{step}: {state}");
    let version = FeatureVersion(state["featuresVersion"].as_u64().expect("a version"));
    let model = state["modelVersion"].as_str().expect("a model").to_string();
    let mut store = FeatureStore::connect(&redis.url).unwrap();
    let meta = store
        .meta(version)
        .unwrap()
        .expect("Redis still holds the version");
    assert_eq!(
        meta.model_version.as_deref(),
        Some(model.as_str()),
        "{step}"
    );
    let mut pairs = Vec::new();
    store
        .read_version(version, 1000, |batch| {
            pairs.extend(batch);
            Ok(())
        })
        .unwrap();
    // Layout 3: a version is its meta; each entity's values (an entry per held version) are
    // one key outside it, of which the reader takes this version's entry.
    if meta.layout >= versioned::VERSIONED_LAYOUT {
        for pattern in ["rsn:user:*", "rsn:track:*"] {
            for key in redis.cli(&["--scan", "--pattern", pattern]).lines() {
                let value = store.get(key).unwrap().expect("a scanned key");
                pairs.push((key.to_string(), value));
            }
        }
    }
    let artifact = ModelArtifact::open(models, Some(&model)).unwrap();
    // Layout 2 keeps the embeddings with the model: Redis's copy of it, as the mirror read it.
    let model_pairs = store
        .model(&model)
        .unwrap()
        .expect("Redis holds the model")
        .pairs;
    let source = MemorySource::from_kv(
        version,
        Some((&model, artifact.manifest.embeddings.dim)),
        pairs
            .iter()
            .chain(&model_pairs)
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
    .unwrap();
    let scorer = TractModel::from_onnx(&artifact.onnx).unwrap();
    let mut users: Vec<&str> = (source.users.iter())
        .filter(|(_, u)| u.history.tracks.len() >= 5)
        .map(|(id, _)| id.as_str())
        .collect();
    users.sort();
    let mut tracks: Vec<&str> = source.tracks.keys().map(String::as_str).collect();
    tracks.sort();
    tracks.truncate(40);
    for &user in users.iter().take(2) {
        let body = json!({"user_id": user, "candidates": tracks}).to_string();
        let got: RerankResponse = reqwest::blocking::Client::new()
            .post(format!("{}/v1/rerank", worker.url))
            .bearer_auth(SERVICE_TOKEN)
            .body(body.clone())
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(got.features_version, Some(version.0), "{step}");
        assert_eq!(got.model_version.as_deref(), Some(model.as_str()), "{step}");
        let request = parse_rerank_request(body.as_bytes()).unwrap();
        // The model's own mix, from its manifest: the Worker must mix with it too.
        let scorer = ModelRef {
            version: &model,
            scorer: &scorer,
            mix: artifact.manifest.mix.unwrap_or_default(),
        };
        let expected =
            block_on(Reranker::new(10, 1e9).rerank(&source, Some(scorer), &request, || 0.0))
                .unwrap()
                .response;
        assert_eq!(got.backend, "tract-cpu", "{step}");
        assert_same_ranking(user, &got, &expected, 1e-4);
    }
    meta.layout
}

/// The keys wrangler's local KV holds under `prefix` (`wrangler kv key list --local`).
fn edge_keys(worker: &Wrangler, prefix: &str) -> Vec<String> {
    let listed = worker.kv_keys(prefix);
    let names: Vec<Value> = serde_json::from_str(&listed).unwrap();
    names
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect()
}

/// The edge holds the keys of the live and previous states, and nothing else; `trainer
/// status` says the same, and that Redis and the edge agree.
fn assert_edge_holds_only(redis: &RedisServer, worker: &Wrangler, step: &str) -> Value {
    let status = status_of(&redis.url, &worker.url);
    assert_eq!(status["problems"], json!([]), "{step}: {status}");
    let recorded = &status["edge"]["recorded"];
    let state = worker.health();
    assert_eq!(
        recorded["live"], state["featuresVersion"],
        "{step}: {status}"
    );
    assert_eq!(
        recorded["liveModel"], state["modelVersion"],
        "{step}: {status}"
    );
    assert_eq!(
        status["redis"]["live"]["version"], state["featuresVersion"],
        "{step}"
    );

    let kept: BTreeSet<String> = [&recorded["live"], &recorded["previous"]]
        .into_iter()
        .filter_map(Value::as_u64)
        .map(|v| v.to_string())
        .collect();
    let versions: BTreeSet<String> = edge_keys(worker, "rsn:v")
        .iter()
        .map(|k| k[5..].split(':').next().unwrap().to_string())
        .collect();
    assert_eq!(versions, kept, "{step}: feature versions at the edge");
    let models: BTreeSet<String> = [&recorded["liveModel"], &recorded["previousModel"]]
        .into_iter()
        .filter_map(|m| m.as_str().map(String::from))
        .collect();
    let held: BTreeSet<String> = edge_keys(worker, "rsn:model:")
        .iter()
        .filter(|k| *k != "rsn:model:current")
        .map(|k| k.split(':').nth(2).unwrap().to_string())
        .collect();
    assert_eq!(held, models, "{step}: models at the edge");
    status
}

#[test]
fn seven_days_of_the_schedule_keep_the_edge_whole_and_bounded() {
    let redis = RedisServer::start();
    // No settle: local KV shows a written value at once (production waits out propagation).
    let worker = Wrangler::start(&[("POINTER_CHECK_SECONDS", "0"), ("SETTLE_SECONDS", "0")]);
    // This test moves <models>/CURRENT: it works on its own copy of the models folder.
    let (_scratch, models) = scratch_models();

    // Day by day; from day 2 on, the mirror is killed at each failpoint in turn first.
    let mut killed_at = BTreeSet::new();
    for day in 1..=7 {
        match day {
            4 => retrain(&models),
            // The rollback, in one command: the model live before the live one is current
            // again (from the audit trail) and goes live at the edge with a version of its
            // embeddings (the day's, as the daily job would write it).
            6 => {
                let run = |extra: &[&str], abort_at: &str| {
                    rollback(&redis, &worker, &models, day)
                        .args(extra)
                        .env("RESONANCE_ABORT_AT", abort_at)
                        .output()
                        .unwrap()
                };
                let dry = succeeded(run(&["--dry-run"], ""));
                assert!(dry.contains(&format!("{RETRAINED} → {MODEL}")), "{dry}");
                assert_eq!(
                    std::fs::read_to_string(models.join("CURRENT")).unwrap(),
                    RETRAINED
                );
                // Killed while it copies the day's version to the edge (the returning model is
                // still there: the edge keeps the rollback target), the edge serves what it
                // served; run again, it finishes.
                let point = format!("{}:1", failpoint::mirror::BATCH);
                let killed = failed(run(&["--reason", "day 6"], &point));
                assert!(killed.contains("aborting at"), "{killed}");
                assert_eq!(
                    std::fs::read_to_string(models.join("CURRENT")).unwrap(),
                    MODEL
                );
                assert_serves_a_whole_state(&redis, &worker, &models, "day 6, rollback killed");
                assert_eq!(worker.health()["modelVersion"], RETRAINED);
                let resumed = succeeded(run(&[], ""));
                assert!(resumed.contains("CURRENT already names"), "{resumed}");
                let audit = std::fs::read_to_string(models.join("audit.jsonl")).unwrap();
                assert_eq!(
                    audit.matches("\"action\":\"rollback\"").count(),
                    1,
                    "{audit}"
                );
                assert_eq!(worker.health()["modelVersion"], MODEL, "live at once");
            }
            _ => {}
        }
        if day != 6 {
            materialize(&redis, &models, day);
        }
        if day == 3 {
            // Redis is a version ahead of the edge: `trainer status` says so and exits 1.
            let out = status_output(&redis.url, &worker.url);
            assert!(
                !out.status.success(),
                "status must fail while they disagree"
            );
            let status: Value = serde_json::from_slice(&out.stdout).unwrap();
            let problems = status["problems"].to_string();
            assert!(problems.contains("run `trainer mirror --full`"), "{status}");
        }
        // Killed anywhere, the Worker serves one whole state (the old or the new one). Each
        // run resumes the last; a point the day's mirror does not reach (no model to copy, or
        // nothing left to do) lets it finish. Days that copy a model start with its points.
        let first = match day {
            1 | 6 => failpoint::mirror::ALL.len(),
            2 | 4 => 0,
            _ => 2,
        };
        for point in &failpoint::mirror::ALL[first..] {
            let out = follow(&redis, &worker, &format!("{point}:1"));
            if out.status.success() {
                break;
            }
            assert!(failed(out).contains("aborting at"), "day {day}, {point}");
            killed_at.insert(*point);
            let step = format!("day {day}, killed at {point}");
            assert_serves_a_whole_state(&redis, &worker, &models, &step);
        }
        succeeded(follow(&redis, &worker, ""));
        let step = format!("day {day}");
        let layout = assert_serves_a_whole_state(&redis, &worker, &models, &step);
        assert_eq!(layout, if day == 1 { 1 } else { 3 }, "{step}");
        let status = assert_edge_holds_only(&redis, &worker, &step);
        let expected_model = if (4..6).contains(&day) {
            RETRAINED
        } else {
            MODEL
        };
        assert_eq!(worker.health()["modelVersion"], expected_model, "{step}");
        if day >= 2 {
            assert!(
                status["edge"]["recorded"]["previous"].is_u64(),
                "{step}: {status}"
            );
        }
    }
    // Change records in any order (one of a version long gone, one never written, the live
    // one twice, one from an older trainer): each asks for Redis's live state, so the edge
    // stays on it, whole.
    let live = redis.cli(&["GET", "rsn:current"]);
    let stale = redis.cli(&["ZRANGE", "rsn:versions", "0", "0"]);
    for (field, value) in [
        ("version", stale.as_str()),
        ("version", "1"),
        ("version", &live),
        ("model", RETRAINED),
        ("version", &live),
    ] {
        redis.cli(&["XADD", "rsn:changes", "*", field, value]);
    }
    succeeded(follow(&redis, &worker, ""));
    assert_eq!(worker.health()["featuresVersion"].to_string(), live);
    assert_serves_a_whole_state(&redis, &worker, &models, "records out of order");
    assert_edge_holds_only(&redis, &worker, "records out of order");

    // A grace period keeps what a switch superseded until it has passed (KV propagation and
    // the caches, in production); a mirror after it deletes it.
    let superseded = status_of(&redis.url, &worker.url)["edge"]["recorded"]["previous"].clone();
    let meta = format!("rsn:v{superseded}:meta");
    materialize(&redis, &models, 7);
    let waited = summary_of(
        mirror_command(&redis.url, &worker, "")
            .args(["--grace", "3600", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(waited["collected"]["versions"], json!([]), "{waited}");
    assert!(
        waited["collected"]["waiting"].as_u64() >= Some(1),
        "{waited}"
    );
    assert_eq!(
        edge_keys(&worker, &meta),
        [meta.as_str()],
        "kept for the grace"
    );
    succeeded(follow(&redis, &worker, ""));
    assert!(edge_keys(&worker, &meta).is_empty(), "deleted after it");
    assert_edge_holds_only(&redis, &worker, "after the grace");

    let every: BTreeSet<&str> = failpoint::mirror::ALL.iter().copied().collect();
    assert_eq!(
        killed_at, every,
        "each failpoint was reached and killed the mirror"
    );
    // Redis let go of what the edge no longer holds: the live and the previous version.
    assert_eq!(
        redis.cli(&["ZCARD", "rsn:versions"]),
        "2",
        "{}",
        redis.cli(&["ZRANGE", "rsn:versions", "0", "-1"])
    );

    // `models gc` keeps what a state names (the current and live model, the edge's previous
    // one, which is also the rollback target) and deletes an old version nothing names.
    let old = copy_model_as(&models, MODEL, "w-0");
    let gc = |dry: &[&str]| {
        let mut args = vec!["models", "gc", "--keep", "0", "--json", "--reason", "test"];
        args.extend_from_slice(dry);
        let models = s(&models);
        args.extend(["--models", &models, "--redis-url", &redis.url]);
        summary_of(Command::new(trainer_path()).args(&args).output().unwrap())
    };
    let planned = gc(&["--dry-run"]);
    assert!(old.exists(), "a dry run deletes nothing: {planned}");
    let done = gc(&[]);
    assert_eq!(planned["plan"], done["plan"]);
    let kept: Vec<(&str, bool)> = done["plan"]["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let why = d["kept_because"].as_array().unwrap();
            (d["name"].as_str().unwrap(), !why.is_empty())
        })
        .collect();
    assert!(kept.contains(&(MODEL, true)), "{done}");
    assert!(kept.contains(&(RETRAINED, true)), "{done}");
    assert!(kept.contains(&("w-0", false)), "{done}");
    assert!(!old.exists() && models.join(RETRAINED).exists());
    let audit = std::fs::read_to_string(models.join("audit.jsonl")).unwrap();
    assert!(
        audit.lines().last().unwrap().contains("\"action\":\"gc\""),
        "{audit}"
    );
    assert_serves_a_whole_state(&redis, &worker, &models, "after gc");
}
