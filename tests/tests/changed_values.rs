//! Layout 3 end to end (real redis-server, real `wrangler dev`): `trainer materialize
//! --layout 3` writes one key per listener and track for every version, and a day later only
//! the values that changed; `trainer mirror --full` copies only what the edge lacks; readers
//! of every version still held read exactly their own version's values, in Redis and from the
//! Worker, before, during (a mirror killed midway) and after the next version's write; and
//! once the edge is back on layout 2, the values no version held reads are deleted.

use std::collections::BTreeMap;
use std::process::Output;

use resonance_e2e::fixture::{AS_OF, materialize_as_of, mirror_command};
use resonance_e2e::redis::RedisServer;
use resonance_e2e::wrangler::{SERVICE_TOKEN, Wrangler};
use resonance_e2e::{failed, succeeded as ok, summary_of};
use resonance_edge::FeatureSnapshot;
use resonance_shared::features::{self, UserFeatures};
use resonance_shared::versioned;
use serde_json::json;

/// The day before the fixture's instant ([`AS_OF`]).
const DAY_BEFORE: &str = "2026-09-18T00:00:00Z";

/// `trainer materialize --layout 3` as `version`, as of `as_of`.
fn materialize(redis: &RedisServer, version: u64, as_of: &str) -> serde_json::Value {
    summary_of(
        materialize_as_of(&redis.url, as_of)
            .args(["--feature-version", &version.to_string()])
            .args(["--layout", "3", "--batch-size", "100", "--json"])
            .args(["--interest-graphs", "none"])
            .output()
            .unwrap(),
    )
}

fn mirror(redis: &RedisServer, worker: &Wrangler, abort_at: &str) -> Output {
    mirror_command(&redis.url, worker, abort_at)
        .args(["--grace", "0", "--json"])
        .output()
        .unwrap()
}

/// Every listener's value as of `version`, read from Redis's layout-3 keys.
fn users_at(redis: &RedisServer, version: u64) -> BTreeMap<String, UserFeatures> {
    redis
        .cli(&["--scan", "--pattern", "rsn:user:*"])
        .lines()
        .filter_map(|key| {
            let text = redis.cli(&["GET", key]);
            let user = versioned::decode_at::<UserFeatures>(&text, version).unwrap()?;
            Some((key.strip_prefix("rsn:user:").unwrap().to_string(), user))
        })
        .collect()
}

/// What the Worker serves for `user`, and the version it says it read.
fn served(worker: &Wrangler, user: &str) -> (u64, UserFeatures) {
    let snapshot: FeatureSnapshot = reqwest::blocking::Client::new()
        .post(format!("{}/v1/features", worker.url))
        .bearer_auth(SERVICE_TOKEN)
        .json(&json!({"user_id": user, "candidates": ["t0"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let value = features::decode(&snapshot.users[user]).unwrap();
    (snapshot.feature_version, value)
}

fn count(redis: &RedisServer, pattern: &str) -> usize {
    redis.cli(&["--scan", "--pattern", pattern]).lines().count()
}

#[test]
fn layout_3_writes_what_changed_and_every_held_version_reads_its_own_values() {
    let redis = RedisServer::start();
    let worker = Wrangler::start(&[("POINTER_CHECK_SECONDS", "0")]);

    // Day 1: every entity is new.
    let first = materialize(&redis, 40, DAY_BEFORE);
    let (users, tracks) = (
        first["users"].as_u64().unwrap(),
        first["tracks"].as_u64().unwrap(),
    );
    assert_eq!(first["keys"], users + tracks + 1, "{first}");
    assert_eq!(
        count(&redis, "rsn:v40:*"),
        1,
        "a version of layout 3 is only its meta"
    );
    let day1 = users_at(&redis, 40);
    assert_eq!(day1.len() as u64, users);
    let copied = summary_of(mirror(&redis, &worker, ""));
    assert_eq!(copied["features"]["keys"], users + tracks + 1, "{copied}");

    // Day 2: a day of events later, only what changed is written; day 1 still reads day 1.
    let second = materialize(&redis, 41, AS_OF);
    let written = second["keys"].as_u64().unwrap();
    let day2 = users_at(&redis, 41);
    let changed_users = day1
        .iter()
        .filter(|(id, v)| day2.get(*id) != Some(*v))
        .count() as u64;
    assert!(changed_users > 0, "a day of events changes some listener");
    assert!(written < users + tracks + 1, "{second}");
    assert!(
        written > changed_users,
        "{second}: {changed_users} listeners changed"
    );
    assert_eq!(users_at(&redis, 40), day1, "version 40 reads what it read");

    // A mirror killed after its first batch leaves the edge on 40, serving exactly day 1,
    // although the values it holds now carry day 2's entries too.
    let error = failed(mirror(&redis, &worker, "mirror-batch:1"));
    assert!(error.contains("aborting at mirror-batch #1"), "{error}");
    let changed: Vec<&String> = day1
        .keys()
        .filter(|id| day2.get(*id) != day1.get(*id))
        .take(5)
        .collect();
    assert!(!changed.is_empty());
    for id in &changed {
        assert_eq!(served(&worker, id), (40, day1[*id].clone()), "{id}");
    }
    // Run again: only the rest is copied, and the edge serves day 2.
    let rest = summary_of(mirror(&redis, &worker, ""));
    let keys = rest["features"]["keys"].as_u64().unwrap();
    assert!(keys < written + 1, "{rest}: {written} changed");
    for id in &changed {
        assert_eq!(served(&worker, id), (41, day2[*id].clone()), "{id}");
    }
    // An unchanged listener is read from day 1's entry, as version 41.
    let same = day1.keys().find(|id| day2.get(*id) == day1.get(*id));
    if let Some(id) = same {
        assert_eq!(served(&worker, id), (41, day1[id].clone()), "{id}");
    }

    // The same day again writes nothing but the meta.
    let again = materialize(&redis, 42, AS_OF);
    assert_eq!(again["keys"], 1, "{again}");
    assert_eq!(users_at(&redis, 42), day2);
    ok(mirror(&redis, &worker, ""));
    let id = changed[0];
    assert_eq!(served(&worker, id), (42, day2[id].clone()));

    // Back to layout 2: the entities' values stay while version 42 (layout 3) is held, and
    // go, in Redis and at the edge, once no version held reads them.
    let layout_2 = |version: u64| {
        summary_of(
            materialize_as_of(&redis.url, AS_OF)
                .args(["--feature-version", &version.to_string()])
                .args(["--layout", "2", "--json", "--interest-graphs", "none"])
                .output()
                .unwrap(),
        )
    };
    let at_edge = |worker: &Wrangler| -> usize {
        let listed: serde_json::Value = serde_json::from_str(&worker.kv_keys("rsn:user:")).unwrap();
        listed.as_array().unwrap().len()
    };
    let (user_values, track_values) = (count(&redis, "rsn:user:*"), count(&redis, "rsn:track:*"));
    assert_eq!(at_edge(&worker), user_values);
    layout_2(43);
    let kept = summary_of(mirror(&redis, &worker, ""));
    assert_eq!(kept["collected"]["values"], 0, "{kept}");
    assert_eq!(count(&redis, "rsn:user:*"), user_values, "42 is previous");
    assert_eq!(at_edge(&worker), user_values);
    layout_2(44);
    let gone = summary_of(mirror(&redis, &worker, ""));
    assert_eq!(gone["collected"]["versions"], json!([42]), "{gone}");
    assert_eq!(
        gone["collected"]["values"].as_u64(),
        Some((user_values + track_values) as u64),
        "{gone}"
    );
    assert_eq!(
        count(&redis, "rsn:user:*") + count(&redis, "rsn:track:*"),
        0
    );
    assert_eq!(
        count(&redis, "rsn:*fp:*"),
        0,
        "the records go with the values"
    );
    assert_eq!(at_edge(&worker), 0);
    assert_eq!(
        served(&worker, id),
        (44, day2[id].clone()),
        "layout 2 serves the same day"
    );
}
