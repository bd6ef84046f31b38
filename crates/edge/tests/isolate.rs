//! The Worker's isolate state, natively on the in-memory KV: pointer TTLs, a model that goes
//! live only with the feature version whose meta names it, verified and complete-only
//! switches, a KV that fails in part or in whole, and what real KV does but local workerd
//! never does (a pointer visible before the keys it names, the meta included), and the two
//! layouts of stored values (embeddings in the track values, or once per model).

use futures_executor::block_on;
use resonance_edge::EdgeError;
use resonance_edge::isolate::Isolate;
use resonance_shared::keys::{self, Entity, FeatureVersion};

mod common;
#[path = "common/publish.rs"]
mod publish;
use publish::*;

#[test]
fn pointers_are_read_again_only_after_their_ttl() {
    let (kv, _) = live_kv();
    let isolate = Isolate::default();
    let live = block_on(isolate.live(&kv, &SETTINGS, 0.0)).unwrap();
    assert_eq!(live.version, Some(FeatureVersion(1)));
    assert_eq!(live.model.unwrap().version, "a");

    let (onnx_b, rows_b) = model(2);
    publish_model(&kv, "b", &onnx_b);
    publish_features(&kv, 2, &rows_b, "b");
    point(&kv, 2);
    let within = block_on(isolate.live(&kv, &SETTINGS, 4_000.0)).unwrap();
    assert_eq!(
        within.version,
        Some(FeatureVersion(1)),
        "cached within the TTL"
    );
    assert_eq!(within.model.unwrap().version, "a");
    let after = block_on(isolate.live(&kv, &SETTINGS, 5_001.0)).unwrap();
    assert_eq!(after.version, Some(FeatureVersion(2)));
    assert_eq!(after.model.unwrap().version, "b");
}

#[test]
fn a_new_model_goes_live_only_with_the_feature_version_that_names_it() {
    let (kv, _) = live_kv();
    let isolate = Isolate::default();
    let first = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 0.0)).unwrap();
    assert_eq!(first.model_version.as_deref(), Some("a"));
    assert_eq!(first.features_version, Some(1));

    // A retrained model arrives, and an older mirror moves the model pointer on its own:
    // version 1 still holds model a's embeddings, so model a keeps scoring it.
    let (onnx_b, rows_b) = model(2);
    publish_model(&kv, "b", &onnx_b);
    kv.set(keys::CURRENT_MODEL, b"b");
    let still = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 10_000.0)).unwrap();
    assert_eq!(
        (still.model_version.as_deref(), still.features_version),
        (Some("a"), Some(1))
    );
    assert_same(&still, &first);
    let health = block_on(isolate.health(&kv, &SETTINGS, 10_001.0));
    assert_eq!(health.status, "ok");

    // The version materialized with model b's embeddings brings b with it.
    publish_features(&kv, 2, &rows_b, "b");
    block_on(isolate.switch_features(&kv, 2, 20_000.0)).unwrap();
    assert_eq!(kv.peek(keys::CURRENT_MODEL).as_deref(), Some("b"));
    let after = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 20_001.0)).unwrap();
    assert_eq!(
        (after.model_version.as_deref(), after.features_version),
        (Some("b"), Some(2))
    );
    // And back (a rollback): model a is still loaded, and is taken with its own version.
    point(&kv, 1);
    let back = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 40_000.0)).unwrap();
    assert_same(&back, &first);
}

#[test]
fn a_damaged_model_keeps_the_previous_state_serving() {
    let (kv, _) = live_kv();
    let isolate = Isolate::default();
    let before = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 0.0)).unwrap();

    let (onnx_b, rows_b) = model(2);
    publish_model(&kv, "b", &onnx_b);
    let mut damaged = onnx_b.clone();
    damaged[100] ^= 0xff;
    kv.set(
        &keys::model_chunk_key("b", 0),
        &damaged[..damaged.len().min(publication_chunk())],
    );
    publish_features(&kv, 2, &rows_b, "b");
    // A switch through the admin route refuses it, and the pointer stays.
    let refused = block_on(isolate.switch_features(&kv, 2, 1.0)).unwrap_err();
    assert!(matches!(refused, EdgeError::ModelInvalid(_)), "{refused:?}");
    assert_eq!(kv.peek(keys::CURRENT_FEATURES).as_deref(), Some("1"));
    let refused = block_on(isolate.stage_model(&kv, "b")).unwrap_err();
    assert!(matches!(refused, EdgeError::ModelInvalid(_)), "{refused:?}");
    // A pointer written past the Worker (Cloudflare's REST API) is checked where it is read:
    // the previous pair keeps serving, whole, and /health says why.
    point(&kv, 2);
    let kept = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 10_000.0)).unwrap();
    assert_eq!(
        (kept.model_version.as_deref(), kept.features_version),
        (Some("a"), Some(1))
    );
    assert_same(&kept, &before);
    let health = block_on(isolate.health(&kv, &SETTINGS, 10_001.0));
    assert_eq!(health.status, "degraded");
    assert_eq!(
        (health.model_version.as_deref(), health.features_version),
        (Some("a"), Some(1))
    );
    let error = health
        .model_error
        .expect("health says why 2 is not serving");
    assert!(
        error.contains("needs model b") && error.contains("still serving feature version 1"),
        "{error}"
    );

    // An isolate that starts now has nothing to keep: version 2's features, no model.
    let cold = Isolate::default();
    let heuristic = block_on(cold.rerank(&kv, &SETTINGS, &request(), || 0.0)).unwrap();
    assert_eq!(heuristic.model_version, None);
    assert_eq!(heuristic.features_version, Some(2));
    assert_eq!(heuristic.backend, "heuristic-only");
    assert!(heuristic.degraded.model_unavailable);
    assert!(heuristic.ranked.iter().all(|t| t.transformer.is_none()));
    assert_eq!(
        block_on(cold.health(&kv, &SETTINGS, 1.0)).status,
        "degraded"
    );

    // Repaired, it goes live at the next pointer check.
    publish_model(&kv, "b", &onnx_b);
    let repaired = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 20_000.0)).unwrap();
    assert_eq!(repaired.model_version.as_deref(), Some("b"));
    assert_eq!(
        block_on(isolate.health(&kv, &SETTINGS, 20_001.0)).model_error,
        None
    );

    // A version whose model is not published at all is a 404, not a 422.
    publish_features(&kv, 3, &rows_b, "zzz");
    let missing = block_on(isolate.switch_features(&kv, 3, 30_000.0)).unwrap_err();
    assert!(
        matches!(missing, EdgeError::ModelNotFound(_)),
        "{missing:?}"
    );
}

fn publication_chunk() -> usize {
    resonance_shared::manifest::MODEL_CHUNK_BYTES
}

#[test]
fn a_feature_switch_to_an_incomplete_version_is_refused() {
    let (kv, _) = live_kv();
    let isolate = Isolate::default();
    let (_, rows) = model(1);
    publish_features(&kv, 2, &rows, "a");
    let meta = kv.peek(&FeatureVersion(2).meta_key()).unwrap();
    kv.remove(&FeatureVersion(2).meta_key());
    let refused = block_on(isolate.switch_features(&kv, 2, 0.0)).unwrap_err();
    assert_eq!(refused.code(), "features_not_found");
    assert_eq!(kv.peek(keys::CURRENT_FEATURES).as_deref(), Some("1"));
    let zero = block_on(isolate.switch_features(&kv, 0, 0.0)).unwrap_err();
    assert!(matches!(zero, EdgeError::Invalid(_)));
    kv.set(&FeatureVersion(2).meta_key(), meta.as_bytes());
    assert_eq!(block_on(isolate.switch_features(&kv, 2, 0.0)).unwrap(), "a");
    assert_eq!(kv.peek(keys::CURRENT_FEATURES).as_deref(), Some("2"));
}

#[test]
fn a_pointer_seen_before_its_meta_keeps_the_previous_state() {
    let (kv, _) = live_kv();
    let isolate = Isolate::default();
    block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 0.0)).unwrap();
    let (_, rows) = model(1);
    publish_features(&kv, 2, &rows, "a");
    kv.hidden.borrow_mut().insert(FeatureVersion(2).meta_key());
    point(&kv, 2);
    let kept = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 10_000.0)).unwrap();
    assert_eq!(kept.features_version, Some(1));
    let health = block_on(isolate.health(&kv, &SETTINGS, 10_001.0));
    assert!(
        health
            .model_error
            .unwrap_or_default()
            .contains("not yet visible"),
    );
    kv.hidden.borrow_mut().clear();
    let moved = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 20_000.0)).unwrap();
    assert_eq!(moved.features_version, Some(2));
}

#[test]
fn a_bulk_delete_never_takes_the_live_meta_or_model() {
    let (kv, onnx) = live_kv();
    let isolate = Isolate::default();
    let (_, rows) = model(1);
    publish_features(&kv, 2, &rows, "a");
    publish_model(&kv, "old", &onnx);
    for (key, field) in [
        (FeatureVersion(1).meta_key(), "[0]"),
        (keys::model_chunk_key("a", 0), "[0]"),
        (keys::model_manifest_key("a"), "[0]"),
    ] {
        let refused =
            block_on(isolate.bulk_delete(&kv, &SETTINGS, std::slice::from_ref(&key), 0.0))
                .unwrap_err();
        let EdgeError::Invalid(e) = refused else {
            panic!("{key}: {refused:?}")
        };
        assert_eq!(e.field, field, "{key}");
        assert!(kv.peek(&key).is_some(), "{key} is kept");
    }
    // Another version's meta, another model, and a live listener's value may go.
    let gone = [
        FeatureVersion(2).meta_key(),
        keys::model_manifest_key("old"),
        FeatureVersion(1).entity_key(Entity::User, "u"),
    ];
    assert_eq!(
        block_on(isolate.bulk_delete(&kv, &SETTINGS, &gone, 0.0)).unwrap(),
        3
    );
    assert!(gone.iter().all(|k| kv.peek(k).is_none()));
}

#[test]
fn a_kv_that_fails_in_part_degrades_and_in_whole_is_unavailable() {
    let (kv, _) = live_kv();
    let isolate = Isolate::default();
    let whole = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 0.0)).unwrap();
    assert!(!whole.degraded.features_partial);
    assert!(whole.ranked.iter().all(|t| t.transformer.is_some()));

    // Track reads fail, the user's answers: the rerank degrades, flagged.
    kv.fail_prefixes.borrow_mut().push("rsn:v1:track:".into());
    let part = Isolate::default();
    let degraded = block_on(part.rerank(&kv, &SETTINGS, &request(), || 0.0)).unwrap();
    assert!(degraded.degraded.features_partial);
    assert_eq!(degraded.degraded.unknown_tracks.len(), 6);

    // Nothing answers: no silent answer, an error the Worker maps to 503.
    *kv.fail_all.borrow_mut() = true;
    let cold = Isolate::default();
    let down = block_on(cold.rerank(&kv, &SETTINGS, &request(), || 0.0)).unwrap_err();
    assert!(
        matches!(down, EdgeError::FeaturesUnavailable(_)),
        "{down:?}"
    );
    // A warm isolate past the users' TTL still holds the tracks it read whole: the answer is
    // the heuristic over them, flagged, not a silent one.
    let cached = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 1_000_000.0)).unwrap();
    let flags = &cached.degraded;
    assert!(flags.features_partial && flags.unknown_user && flags.model_unavailable);
    // Past the tracks' hour too, nothing is left to answer from.
    let warm = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 4_000_000.0)).unwrap_err();
    assert!(
        matches!(warm, EdgeError::FeaturesUnavailable(_)),
        "{warm:?}"
    );
    let health = block_on(cold.health(&kv, &SETTINGS, 0.0));
    assert_eq!(health.status, "degraded");
}

#[test]
fn a_pointer_seen_before_its_keys_degrades_and_is_never_filled_from_another_version() {
    let (kv, _) = live_kv();
    let isolate = Isolate::default();
    let before = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 0.0)).unwrap();
    assert!(before.degraded.unknown_tracks.is_empty());

    // Version 2 is pointed at, but this reader does not see two of its candidates yet.
    let (_, rows_2) = model(1);
    publish_features(&kv, 2, &rows_2, "a");
    for id in ["t9", "t10"] {
        kv.hidden
            .borrow_mut()
            .insert(FeatureVersion(2).entity_key(Entity::Track, id));
    }
    kv.set(keys::CURRENT_FEATURES, b"2");
    let after = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 10_000.0)).unwrap();
    assert_eq!(after.degraded.unknown_tracks, vec!["t9", "t10"]);
    for track in &after.ranked {
        let hidden = ["t9", "t10"].contains(&track.track_id.as_str());
        assert_eq!(
            track.transformer.is_none(),
            hidden,
            "{}: only the keys not yet visible lose the model score",
            track.track_id
        );
    }
    // Once they arrive (after the cache's TTL), they are scored from version 2.
    kv.hidden.borrow_mut().clear();
    let later = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 200_000.0)).unwrap();
    assert!(later.degraded.unknown_tracks.is_empty());
}

#[test]
fn whole_tracks_stay_cached_while_their_version_serves_but_users_expire() {
    let (kv, _) = live_kv();
    let isolate = Isolate::default();
    let first = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 0.0)).unwrap();
    assert!(first.degraded.unknown_tracks.is_empty() && !first.degraded.unknown_user);
    // Two minutes on, past the users' TTL, the store no longer shows the user or the tracks.
    let version = FeatureVersion(1);
    let mut hidden = vec![version.entity_key(Entity::User, "u")];
    hidden.extend((1..=14).map(|i| version.entity_key(Entity::Track, &format!("t{i}"))));
    kv.hidden.borrow_mut().extend(hidden);
    let later = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 120_000.0)).unwrap();
    assert!(
        later.degraded.unknown_user,
        "a user is read again after the short TTL (`trainer forget` must reach every isolate)"
    );
    assert!(
        later.degraded.unknown_tracks.is_empty(),
        "a version's track values never change: read whole, they are not read again"
    );
}

#[test]
fn layout_two_reads_each_embedding_from_its_model_and_scores_as_layout_one() {
    let (kv, _) = live_kv();
    let isolate = Isolate::default();
    let inline = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 0.0)).unwrap();

    // Version 2: the same model and rows, its embeddings once in the model's namespace (model
    // a is republished with them, as `materialize` does; the isolate must not keep the copy
    // it loaded without them).
    let (onnx, rows) = model(1);
    publish_model_with(&kv, "a", &onnx, Some(&rows));
    publish_features_as(&kv, 2, &rows, "a", 2);
    assert!(
        !kv.peek(&FeatureVersion(2).entity_key(Entity::Track, "t9"))
            .unwrap()
            .contains("embedding\"")
    );
    block_on(isolate.switch_features(&kv, 2, 10_000.0)).unwrap();
    let split = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 10_001.0)).unwrap();
    assert_eq!(split.features_version, Some(2));
    assert!(!split.degraded.features_partial);
    assert_same(&split, &inline);
    let health = block_on(isolate.health(&kv, &SETTINGS, 10_002.0));
    assert_eq!(
        (health.status.as_str(), health.layouts),
        ("ok", vec![1, 2, 3])
    );

    // A reader that does not see one embedding yet scores that track by the heuristic
    // alone, flagged; it is never taken from another model or version.
    let cold = Isolate::default();
    kv.hidden
        .borrow_mut()
        .insert(keys::model_embedding_key("a", "t9"));
    let partial = block_on(cold.rerank(&kv, &SETTINGS, &request(), || 0.0)).unwrap();
    assert!(partial.degraded.features_partial);
    for track in &partial.ranked {
        assert_eq!(
            track.transformer.is_none(),
            track.track_id == "t9",
            "{track:?}"
        );
    }
}

#[test]
fn a_layout_the_reader_does_not_know_or_a_model_without_embeddings_is_refused() {
    let (kv, _) = live_kv();
    let isolate = Isolate::default();
    block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 0.0)).unwrap();
    let (_, rows) = model(1);
    // Model a was published without embeddings: no version of layout 2 goes live with it.
    publish_features_as(&kv, 2, &rows, "a", 2);
    let refused = block_on(isolate.switch_features(&kv, 2, 0.0)).unwrap_err();
    assert!(
        refused.to_string().contains("published without them"),
        "{refused}"
    );
    assert_eq!(kv.peek(keys::CURRENT_FEATURES).as_deref(), Some("1"));
    // A layout from a newer trainer: refused, naming it, and the previous state serves on.
    publish_features_as(&kv, 3, &rows, "a", 1);
    let meta = kv.peek(&FeatureVersion(3).meta_key()).unwrap();
    let newer = meta.replace("\"layout\":1", "\"layout\":4");
    kv.set(&FeatureVersion(3).meta_key(), newer.as_bytes());
    point(&kv, 3);
    let kept = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 10_000.0)).unwrap();
    assert_eq!(kept.features_version, Some(1));
    let health = block_on(isolate.health(&kv, &SETTINGS, 10_001.0));
    let error = health.model_error.unwrap();
    assert!(
        error.contains("layout 4") && error.contains("reads layouts 1 to 3"),
        "{error}"
    );
}
