//! The feature store end to end: `trainer materialize` into a real redis-server, versions
//! switched atomically and cleaned up, then `trainer mirror --full` into a real Worker
//! (`wrangler dev`), which serves the mirrored values; and the faults: Redis down, a value
//! with an unknown schema version, a version already live.

use std::process::{Command, Output};

use resonance_e2e::fixture::{
    AS_OF, MODEL, fixture, materialize_command, materialize_latest, mirror_command, publish, s,
};
use resonance_e2e::redis::RedisServer;
use resonance_e2e::trainer_path;
use resonance_e2e::wrangler::{ADMIN_TOKEN, SERVICE_TOKEN, Wrangler};
use resonance_e2e::{failed, succeeded as ok, summary_of};
use resonance_edge::FeatureSnapshot;
use resonance_featurestore::store::{CHANGES, CHANGES_KEPT};
use resonance_shared::features::{self, UserFeatures};
use resonance_shared::interest::InterestGraph;
use serde_json::json;

fn materialize(redis_url: &str, version: u64) -> Output {
    materialize_aborting(redis_url, version, "")
}

/// Materializes in batches of 100 keys; `abort_at` (`point:n`) crashes the run midway.
fn materialize_aborting(redis_url: &str, version: u64, abort_at: &str) -> Output {
    materialize_command(redis_url, version)
        .args(["--batch-size", "100"])
        .env("RESONANCE_ABORT_AT", abort_at)
        .output()
        .unwrap()
}

/// Builds every listener's interest graph offline into Redis, as of the fixture's instant.
fn interest_graphs(redis_url: &str) -> serde_json::Value {
    let f = fixture();
    summary_of(
        Command::new(trainer_path())
            .args(["interest-graph", "--all-users", "--data", &s(&f.data)])
            .args(["--as-of", AS_OF, "--provider", "offline", "--json"])
            .env("REDIS_URL", redis_url)
            .output()
            .unwrap(),
    )
}

/// `trainer materialize --json` at `version`, which must succeed: its summary.
fn materialized(redis_url: &str, version: u64) -> serde_json::Value {
    summary_of(
        materialize_command(redis_url, version)
            .arg("--json")
            .output()
            .unwrap(),
    )
}

fn mirror(redis_url: &str, worker: &Wrangler) -> Output {
    mirror_aborting(redis_url, worker, "")
}

fn mirror_aborting(redis_url: &str, worker: &Wrangler, abort_at: &str) -> Output {
    mirror_command(redis_url, worker, abort_at)
        .output()
        .unwrap()
}

fn features_version(worker: &Wrangler) -> serde_json::Value {
    let health: serde_json::Value = reqwest::blocking::get(format!("{}/health", worker.url))
        .unwrap()
        .json()
        .unwrap();
    health["featuresVersion"].clone()
}

/// `count` listeners of feature version `version` in Redis with at least one play, and their
/// values (SCAN's order varies, and a listener who only liked has no history to ask about).
fn listeners_with_plays(
    redis: &RedisServer,
    version: u64,
    count: usize,
) -> Vec<(String, UserFeatures)> {
    let keys = redis.cli(&["--scan", "--pattern", &format!("rsn:v{version}:user:*")]);
    let found: Vec<(String, UserFeatures)> = keys
        .lines()
        .map(|key| {
            let user: UserFeatures = features::decode(&redis.cli(&["GET", key])).unwrap();
            (key.rsplit(':').next().unwrap().to_string(), user)
        })
        .filter(|(_, user)| !user.history.tracks.is_empty())
        .take(count)
        .collect();
    assert_eq!(found.len(), count, "listeners with plays in {keys}");
    found
}

#[test]
fn materialize_switches_versions_atomically_and_keeps_the_previous_one() {
    let redis = RedisServer::start();
    let built = interest_graphs(&redis.url);
    assert_eq!(built["failed"], 0, "{built}");
    assert!(built["built"].as_u64().unwrap() > 0, "{built}");
    let first = materialized(&redis.url, 10);
    assert_eq!(
        (&first["version"], &first["previous"]),
        (&json!(10), &json!(null)),
        "{first}"
    );
    assert_eq!(
        first["interestGraphs"]["usersWithGraph"], built["built"],
        "{first}"
    );
    assert_eq!(redis.cli(&["GET", "rsn:current"]), "10");

    // One entity's views in one round trip, schema-versioned.
    // (A listener with plays: one who only skipped has an empty history.)
    let keys = redis.cli(&["--scan", "--pattern", "rsn:v10:user:*"]);
    let (key, user) = keys
        .lines()
        .map(|k| {
            (
                k,
                features::decode::<UserFeatures>(&redis.cli(&["GET", k])).unwrap(),
            )
        })
        .find(|(_, u)| !u.history.tracks.is_empty())
        .expect("a listener with plays");
    assert!(user.listening_stats.is_some());
    // The user carries the interest graph `trainer interest-graph` stored for them.
    let user_id = key.rsplit(':').next().unwrap();
    let record: serde_json::Value =
        serde_json::from_str(&redis.cli(&["GET", &format!("rsn:interest:user:{user_id}")]))
            .unwrap();
    assert_eq!(record["provider"], "offline");
    assert_eq!(record["promptVersion"], "interest-graph-v1");
    let graph = user.interest_graph.as_ref().expect("an interest graph");
    assert!(!graph.top_artists.is_empty());
    let stored: InterestGraph = serde_json::from_value(record["graph"].clone()).unwrap();
    assert_eq!(graph, &stored);
    let track = format!("rsn:v10:track:{}", user.history.tracks[0]);
    let id = &user.history.tracks[0];
    let track: features::TrackFeatures = features::decode(&redis.cli(&["GET", &track])).unwrap();
    // Layout 2: the value says the model has an embedding, which lives in the model's namespace.
    assert!(track.audio.embedded && track.audio.embedding.is_empty());
    let meta: features::FeatureSetMeta =
        serde_json::from_str(&redis.cli(&["GET", "rsn:v10:meta"])).unwrap();
    assert_eq!(meta.layout, 2);
    let model = meta.model_version.expect("the meta names its model");
    let embedding = redis.cli(&["GET", &format!("rsn:model:{model}:embedding:{id}")]);
    assert_eq!(
        features::decode_embedding(&embedding, 32).unwrap().len(),
        32,
        "the model's d"
    );
    // Persistent once live (the staging TTL is gone).
    assert_eq!(redis.cli(&["TTL", key]), "-1");

    ok(materialize(&redis.url, 11));
    assert_eq!(redis.cli(&["GET", "rsn:current"]), "11");
    assert_eq!(
        redis.cli(&["EXISTS", "rsn:v10:meta"]),
        "1",
        "the previous version is kept"
    );
    let third = materialized(&redis.url, 12);
    assert_eq!(third["deleted"], json!([10]), "{third}");
    assert_eq!(third["previous"], 11, "{third}");
    assert_eq!(redis.cli(&["EXISTS", "rsn:v10:meta"]), "0");
    assert_eq!(redis.cli(&["--scan", "--pattern", "rsn:v10:*"]), "");
    assert_eq!(redis.cli(&["ZRANGE", "rsn:versions", "0", "-1"]), "11\n12");
    assert_eq!(redis.cli(&["XLEN", "rsn:changes"]), "3");

    // The live version cannot be overwritten in place, nor an older one written: it would
    // go live and then be pruned as the oldest (a host whose clock is behind).
    for version in [12, 5] {
        let error = failed(materialize(&redis.url, version));
        assert!(
            error.contains(&format!("--feature-version {version} is not newer than 12")),
            "{error}"
        );
    }
    assert_eq!(redis.cli(&["GET", "rsn:current"]), "12");
    assert_eq!(redis.cli(&["EXISTS", "rsn:v12:meta"]), "1");
    // Without --feature-version, the next one: the clock's, or above the newest.
    redis.cli(&["SET", "rsn:current", "99999999999"]);
    redis.cli(&["ZADD", "rsn:versions", "99999999999", "99999999999"]);
    let next = summary_of(
        materialize_latest(&redis.url)
            .arg("--json")
            .output()
            .unwrap(),
    );
    assert_eq!(next["version"], 100000000000u64, "{next}");

    // Another publication holds the lock (the weekly job's materialize): refused at once,
    // naming the holder, and nothing written.
    redis.cli(&[
        "SET",
        "rsn:lock:materialize",
        "other-host pid 7",
        "PX",
        "60000",
    ]);
    let error = failed(materialize_latest(&redis.url).output().unwrap());
    assert!(
        error.contains("another publication holds rsn:lock:materialize (other-host pid 7)"),
        "{error}"
    );
    assert_eq!(redis.cli(&["GET", "rsn:current"]), "100000000000");
}

/// A key count that is a multiple of the batch (here a batch of 1) leaves nothing for the
/// last pipeline: the version is still written whole and goes live (the demo's 3,000 users and
/// 10,000 tracks in batches of 1,000 once failed on an empty pipeline).
#[test]
fn a_key_count_that_fills_every_batch_is_written_whole() {
    let redis = RedisServer::start();
    let summary = summary_of(
        materialize_command(&redis.url, 30)
            .args(["--batch-size", "1", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(redis.cli(&["GET", "rsn:current"]), "30");
    let held = redis
        .cli(&["--scan", "--pattern", "rsn:v30:*"])
        .lines()
        .count();
    assert_eq!(summary["keys"].as_u64(), Some(held as u64), "{summary}");
}

/// `rsn:changes` only wakes `mirror --follow`: each switch trims it to about
/// `CHANGES_KEPT` entries (`XADD MAXLEN ~`, whole stream nodes), so months of daily switches
/// do not grow it, and the newest record is the switch just made.
#[test]
fn the_change_stream_is_trimmed_at_each_switch() {
    let redis = RedisServer::start();
    // Years of switches already recorded, more than the stream keeps.
    let recorded = CHANGES_KEPT + 500;
    redis.cli(&[
        "EVAL",
        "for i = 1, tonumber(ARGV[1]) do redis.call('XADD', KEYS[1], '*', 'version', i) end",
        "1",
        CHANGES,
        &recorded.to_string(),
    ]);
    assert_eq!(redis.cli(&["XLEN", CHANGES]), recorded.to_string());
    ok(materialize(&redis.url, 5_000));
    let kept: usize = redis.cli(&["XLEN", CHANGES]).parse().unwrap();
    // Redis trims whole nodes (100 entries by default): at least what is kept, less than a
    // node more.
    assert!(
        (CHANGES_KEPT..CHANGES_KEPT + 100).contains(&kept),
        "{kept} records kept"
    );
    let newest = redis.cli(&["XREVRANGE", CHANGES, "+", "-", "COUNT", "1"]);
    assert!(newest.ends_with("version\n5000"), "{newest:?}");
}

#[test]
fn redis_down_is_a_clear_error_and_changes_nothing() {
    let redis = RedisServer::start();
    ok(materialize(&redis.url, 20));
    let url = redis.url.clone();
    drop(redis);
    let error = failed(materialize(&url, 21));
    assert!(error.contains("cannot connect to Redis at"), "{error}");
    let error = failed(materialize("http://nowhere", 21));
    assert!(error.contains("REDIS_URL"), "{error}");
}

#[test]
fn mirror_makes_the_worker_serve_what_redis_holds() {
    let redis = RedisServer::start();
    let worker = Wrangler::start(&[("POINTER_CHECK_SECONDS", "0")]);
    publish(&worker); // the model, and feature version 7, from a Redis of the fixture's own
    // The edge only moves forward: a version below the one it serves (a new or restored
    // Redis numbers from scratch) is refused before anything is switched.
    ok(materialize(&redis.url, 5));
    let error = failed(mirror(&redis.url, &worker));
    assert!(
        error.contains("feature version 5 is older than 7")
            && error.contains("--feature-version 8"),
        "{error}"
    );
    assert_eq!(features_version(&worker), 7);
    assert_eq!(
        redis.cli(&["ZCARD", "rsn:edge:models"]),
        "0",
        "refused before the model was written"
    );
    interest_graphs(&redis.url);
    ok(materialize(&redis.url, 30));
    let printed = ok(mirror(&redis.url, &worker));
    assert!(printed.contains("mirrored feature version 30"), "{printed}");

    let client = reqwest::blocking::Client::new();
    let health: serde_json::Value = client
        .get(format!("{}/health", worker.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["featuresVersion"], 30, "{health}");
    assert_eq!(health["modelVersion"], MODEL);

    // The Worker reads exactly the values Redis holds.
    for (user_id, stored) in listeners_with_plays(&redis, 30, 5) {
        let user_id = user_id.as_str();
        let body = json!({"user_id": user_id, "candidates": [stored.history.tracks[0]]});
        let snapshot: FeatureSnapshot = client
            .post(format!("{}/v1/features", worker.url))
            .bearer_auth(SERVICE_TOKEN)
            .json(&body)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(snapshot.feature_version, 30);
        let served: UserFeatures = features::decode(&snapshot.users[user_id]).unwrap();
        assert_eq!(served, stored, "{user_id}");
        assert!(
            served.interest_graph.is_some(),
            "{user_id} has no interest graph"
        );
    }

    // Running it again is harmless (idempotent writes, same version).
    ok(mirror(&redis.url, &worker));

    // A mirror that dies after two batches changes nothing live; running it again completes.
    ok(materialize(&redis.url, 31));
    let error = failed(mirror_aborting(&redis.url, &worker, "mirror-batch:2"));
    assert!(error.contains("aborting at mirror-batch #2"), "{error}");
    assert_eq!(features_version(&worker), 30);
    ok(mirror(&redis.url, &worker));
    assert_eq!(features_version(&worker), 31);

    // A value with an unknown schema version is refused by the Worker, by key, and the
    // Worker keeps serving version 31.
    ok(materialize(&redis.url, 32));
    let victim = redis.cli(&["--scan", "--pattern", "rsn:v32:track:*"]);
    let victim = victim.lines().next().unwrap().to_string();
    redis.cli(&["SET", &victim, r#"{"schema":99,"audio":{}}"#]);
    let error = failed(mirror(&redis.url, &worker));
    assert!(
        error.contains(&victim) && error.contains("schema"),
        "{error}"
    );
    assert_eq!(features_version(&worker), 31);
}

#[test]
fn a_materialize_killed_midway_leaves_the_live_version_and_a_rerun_completes() {
    let redis = RedisServer::start();
    ok(materialize(&redis.url, 40));
    let error = failed(materialize_aborting(&redis.url, 41, "materialize-batch:3"));
    assert!(
        error.contains("aborting at materialize-batch #3"),
        "{error}"
    );
    assert_eq!(redis.cli(&["GET", "rsn:current"]), "40");
    // Three batches of version 41 were written, incomplete (no meta) and expiring.
    let partial = redis.cli(&["--scan", "--pattern", "rsn:v41:*"]);
    assert_eq!(partial.lines().count(), 300, "{partial}");
    assert_eq!(redis.cli(&["EXISTS", "rsn:v41:meta"]), "0");
    let ttl: i64 = redis
        .cli(&["TTL", partial.lines().next().unwrap()])
        .parse()
        .unwrap();
    assert!(ttl > 0, "staging keys expire, TTL {ttl}");
    // The live version reads as before.
    assert_eq!(redis.cli(&["EXISTS", "rsn:v40:meta"]), "1");

    let completed = materialized(&redis.url, 41);
    assert_eq!(
        (&completed["version"], &completed["previous"]),
        (&json!(41), &json!(40)),
        "{completed}"
    );
    assert_eq!(redis.cli(&["TTL", "rsn:v41:meta"]), "-1");
}

fn follow(redis_url: &str, worker: &Wrangler, abort_at: &str) -> Output {
    Command::new(trainer_path())
        .args([
            "mirror",
            "--follow",
            "--idle-exit",
            "2",
            "--worker",
            &worker.url,
        ])
        .args(["--batch-size", "100"])
        .env("REDIS_URL", redis_url)
        .env("RESONANCE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RESONANCE_ABORT_AT", abort_at)
        .output()
        .unwrap()
}

#[test]
fn mirror_follows_the_change_stream_and_resumes_after_a_crash() {
    let redis = RedisServer::start();
    let worker = Wrangler::start(&[("POINTER_CHECK_SECONDS", "0")]);
    publish(&worker); // the model, and feature version 7
    ok(materialize(&redis.url, 70));

    // Killed in the middle of version 70: nothing acknowledged, the Worker unchanged.
    let error = failed(follow(&redis.url, &worker, "mirror-batch:2"));
    assert!(error.contains("aborting at mirror-batch #2"), "{error}");
    assert_eq!(features_version(&worker), 7);
    let pending = redis.cli(&["XPENDING", "rsn:changes", "edge-mirror"]);
    assert!(pending.starts_with('1'), "{pending}");

    // The next run takes its pending record first and finishes the job.
    let printed = ok(follow(&redis.url, &worker, ""));
    assert!(printed.contains("mirrored feature version 70"), "{printed}");
    assert_eq!(features_version(&worker), 70);
    assert!(
        redis
            .cli(&["XPENDING", "rsn:changes", "edge-mirror"])
            .starts_with('0')
    );

    // Two publications while no mirror ran: only the live one is copied.
    ok(materialize(&redis.url, 71));
    ok(materialize(&redis.url, 72));
    let printed = ok(follow(&redis.url, &worker, ""));
    assert!(!printed.contains("feature version 71"), "{printed}");
    assert!(printed.contains("mirrored feature version 72"), "{printed}");
    assert_eq!(features_version(&worker), 72);
}

#[test]
fn malformed_events_are_reported_by_line_and_nothing_is_published() {
    let f = fixture();
    let redis = RedisServer::start();
    ok(materialize(&redis.url, 80));
    let scratch = tempfile::TempDir::new().unwrap();
    let data = scratch.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(f.data.join("catalogue.csv"), data.join("catalogue.csv")).unwrap();
    let events = std::fs::read_to_string(f.data.join("events.csv")).unwrap();
    let mut lines: Vec<&str> = events.lines().collect();
    lines[3] = "u00001,t00001,not-a-time,play,1000,mobile,8";
    std::fs::write(data.join("events.csv"), lines.join("\n") + "\n").unwrap();
    let out = Command::new(trainer_path())
        .args([
            "materialize",
            "--data",
            &s(&data),
            "--models",
            &s(&f.models),
        ])
        .args(["--feature-version", "81"])
        .env("REDIS_URL", &redis.url)
        .output()
        .unwrap();
    let error = failed(out);
    assert!(
        error.contains("events.csv:4") && error.contains("timestamp"),
        "{error}"
    );
    assert_eq!(redis.cli(&["GET", "rsn:current"]), "80");
    assert_eq!(redis.cli(&["--scan", "--pattern", "rsn:v81:*"]), "");
}

#[test]
fn the_model_travels_through_redis_with_the_features() {
    let f = fixture();
    let redis = RedisServer::start();
    let worker = Wrangler::start(&[("POINTER_CHECK_SECONDS", "0")]);
    // The old way is gone, with a message that says the new one.
    let error = failed(
        Command::new(trainer_path())
            .args([
                "publish",
                "--model-only",
                "--to-redis",
                "--models",
                &s(&f.models),
            ])
            .args(["--data", &s(&f.data), "--worker", &worker.url])
            .env("REDIS_URL", &redis.url)
            .output()
            .unwrap(),
    );
    assert!(
        error.contains("retired") && error.contains("trainer daily"),
        "{error}"
    );
    let summary = materialized(&redis.url, 90);
    assert_eq!(summary["modelWritten"], true, "{summary}");
    assert_eq!(
        redis.cli(&["EXISTS", &format!("rsn:model:{MODEL}:manifest")]),
        "1"
    );
    // Every listener with a history got their encoder state for the model, and an index entry.
    let state_keys = redis.cli(&["--scan", "--pattern", &format!("rsn:model:{MODEL}:state:*")]);
    let states = state_keys.lines().count();
    assert!(states > 0, "{summary}");
    assert_eq!(summary["states"]["written"], states, "{summary}");
    assert_eq!(
        redis.cli(&["HLEN", &format!("rsn:states:{MODEL}")]),
        states.to_string()
    );
    let again = materialized(&redis.url, 91);
    assert_eq!(again["modelWritten"], false);
    // The same events: no history changed, so no state is encoded or written again.
    assert_eq!(again["states"]["written"], 0, "{again}");

    let printed = ok(mirror(&redis.url, &worker));
    assert!(
        printed.contains(&format!("mirrored model {MODEL}")),
        "{printed}"
    );
    let health: serde_json::Value = reqwest::blocking::get(format!("{}/health", worker.url))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["modelVersion"], MODEL, "{health}");
    assert_eq!(health["featuresVersion"], 91, "{health}");

    // The Worker reranks with the mirrored model and features, and says which.
    let (user_id, user) = listeners_with_plays(&redis, 91, 1).remove(0);
    let mut candidates = user.history.tracks.clone();
    candidates.sort();
    candidates.dedup();
    let body = json!({"user_id": user_id, "candidates": candidates});
    let rerank = || -> serde_json::Value {
        reqwest::blocking::Client::new()
            .post(format!("{}/v1/rerank", worker.url))
            .bearer_auth(SERVICE_TOKEN)
            .json(&body)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let answer = rerank();
    assert_eq!(answer["backend"], "tract-cpu", "{answer}");
    assert_eq!(answer["model_version"], MODEL, "{answer}");
    assert_eq!(answer["features_version"], 91, "{answer}");
    // Scored from the state `materialize` stored: no model ran in the Worker.
    assert_eq!(answer["user_state"], "stored", "{answer}");

    // Without it, the Worker runs the model (wasm tract) on the same history, and agrees
    // with the state computed offline (native tract) within the stated tolerance.
    let state_key = format!("rsn:model:{MODEL}:state:{user_id}");
    let deleted = reqwest::blocking::Client::new()
        .post(format!("{}/admin/kv/bulk/delete", worker.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!([state_key]))
        .send()
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.text().unwrap());
    let computed = rerank();
    assert_eq!(computed["user_state"], "computed", "{computed}");
    let scores = |a: &serde_json::Value| -> std::collections::BTreeMap<String, f64> {
        a["ranked"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["track_id"].as_str().unwrap().to_string(),
                    t["score"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let (stored, fresh) = (scores(&answer), scores(&computed));
    assert_eq!(stored.len(), fresh.len());
    for (track, score) in &stored {
        assert!(
            (score - fresh[track]).abs() < 1e-4,
            "{track}: {score} vs {}",
            fresh[track]
        );
    }
}
