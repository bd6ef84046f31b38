//! The Worker's isolate state, natively on the in-memory KV: pointer TTLs, verified model
//! switches, complete-only feature switches, a KV that fails in part or in whole, and what
//! real KV does but local workerd never does (a pointer visible before the keys it names).

use futures_executor::block_on;
use resonance_edge::EdgeError;
use resonance_edge::isolate::{Isolate, Settings};
use resonance_edge::kv::MemoryKv;
use resonance_edge::publication::{self, sha256_hex};
use resonance_sasrec::onnx;
use resonance_shared::api::{RerankRequest, parse_rerank_request};
use resonance_shared::features::{
    TrackAudioFeatures, TrackFeatures, UserFeatures, UserRecentHistory, encode,
};
use resonance_shared::keys::{self, Entity, FeatureVersion};
use resonance_shared::manifest::{PUBLISHED_MODEL_SCHEMA, PublishedModel};

const LEN: usize = 8;
const D: usize = 16;
const TRACKS: usize = 20;
const SETTINGS: Settings = Settings {
    pointer_check_ms: 5_000.0,
};

/// A small SASRec's ONNX graph and item rows; `seed` makes models differ.
mod common;

fn model(seed: u64) -> (Vec<u8>, Vec<Vec<f32>>) {
    let (model, rows) = common::small_sasrec(seed, TRACKS, LEN, D);
    (onnx::export(&model, "test"), rows)
}

/// Writes model `version` (chunks and manifest) into `kv`.
fn publish_model(kv: &MemoryKv, version: &str, onnx: &[u8]) {
    let chunks: Vec<&[u8]> = publication::split(onnx).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        kv.set(&keys::model_chunk_key(version, i), chunk);
    }
    let published = PublishedModel {
        schema: PUBLISHED_MODEL_SCHEMA,
        model: "sasrec".into(),
        version: version.into(),
        created_at: "2026-12-01T00:00:00Z".into(),
        d_model: D,
        max_len: LEN,
        onnx_bytes: onnx.len(),
        onnx_sha256: sha256_hex(onnx),
        chunks: chunks.len(),
        metrics: serde_json::Value::Null,
    };
    kv.set(
        &keys::model_manifest_key(version),
        serde_json::to_string(&published).unwrap().as_bytes(),
    );
}

/// Writes feature version `version` (user `u` with history t1..t8, tracks t1..t20 with
/// `rows` as embeddings, the meta last).
fn publish_features(kv: &MemoryKv, version: u64, rows: &[Vec<f32>]) {
    let v = FeatureVersion(version);
    for (i, row) in rows.iter().enumerate().take(TRACKS + 1).skip(1) {
        let track = TrackFeatures {
            audio: TrackAudioFeatures {
                artist: format!("artist {}", i % 4),
                genre: "rock".into(),
                energy: 0.5,
                valence: 0.5,
                danceability: 0.5,
                tempo: 120.0,
                acousticness: 0.2,
                embedding: row.clone(),
            },
            popularity: None,
        };
        kv.set(
            &v.entity_key(Entity::Track, &format!("t{i}")),
            encode(&track).as_bytes(),
        );
    }
    let user = UserFeatures {
        history: UserRecentHistory {
            tracks: (1..=8).map(|i| format!("t{i}")).collect(),
            skipped: vec![],
        },
        ..Default::default()
    };
    kv.set(&v.entity_key(Entity::User, "u"), encode(&user).as_bytes());
    kv.set(&v.meta_key(), br#"{"version":1}"#);
}

fn point(kv: &MemoryKv, model: &str, features: u64) {
    kv.set(keys::CURRENT_MODEL, model.as_bytes());
    kv.set(keys::CURRENT_FEATURES, features.to_string().as_bytes());
}

fn request() -> RerankRequest {
    let body = serde_json::json!({
        "user_id": "u",
        "candidates": (9..=14).map(|i| format!("t{i}")).collect::<Vec<_>>(),
    });
    parse_rerank_request(body.to_string().as_bytes()).unwrap()
}

/// A KV serving model `a` with feature version 1.
fn live_kv() -> (MemoryKv, Vec<u8>) {
    let kv = MemoryKv::default();
    let (onnx, rows) = model(1);
    publish_model(&kv, "a", &onnx);
    publish_features(&kv, 1, &rows);
    point(&kv, "a", 1);
    (kv, onnx)
}

#[test]
fn pointers_are_read_again_only_after_their_ttl() {
    let (kv, _) = live_kv();
    let isolate = Isolate::default();
    let live = block_on(isolate.live(&kv, &SETTINGS, 0.0)).unwrap();
    assert_eq!(live.version, Some(FeatureVersion(1)));
    assert_eq!(live.model.unwrap().version, "a");

    let (onnx_b, rows_b) = model(2);
    publish_model(&kv, "b", &onnx_b);
    publish_features(&kv, 2, &rows_b);
    point(&kv, "b", 2);
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
fn a_damaged_model_keeps_the_previous_one_serving() {
    let (kv, _) = live_kv();
    let isolate = Isolate::default();
    assert!(block_on(isolate.current_model(&kv, &SETTINGS, 0.0)).is_some());

    let (onnx_b, _) = model(2);
    publish_model(&kv, "b", &onnx_b);
    let mut damaged = onnx_b.clone();
    damaged[100] ^= 0xff;
    kv.set(
        &keys::model_chunk_key("b", 0),
        &damaged[..damaged.len().min(publication_chunk())],
    );
    // A switch through the admin route refuses it, and the pointer stays.
    let refused = block_on(isolate.switch_model(&kv, "b", 1.0)).unwrap_err();
    assert!(matches!(refused, EdgeError::ModelInvalid(_)), "{refused:?}");
    assert_eq!(kv.peek(keys::CURRENT_MODEL).as_deref(), Some("a"));
    // A pointer written past the Worker (Cloudflare's REST API) is checked where it is read.
    kv.set(keys::CURRENT_MODEL, b"b");
    let serving = block_on(isolate.current_model(&kv, &SETTINGS, 10_000.0)).unwrap();
    assert_eq!(serving.version, "a");
    let health = block_on(isolate.health(&kv, &SETTINGS, 10_001.0));
    assert_eq!(health.model_version.as_deref(), Some("a"));
    let error = health
        .model_error
        .expect("health says why b is not serving");
    assert!(error.contains("still serving model a"), "{error}");
    // A model that is not published at all is a 404, not a 422.
    let missing = block_on(isolate.switch_model(&kv, "zzz", 2.0)).unwrap_err();
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
    publish_features(&kv, 2, &rows);
    kv.remove(&FeatureVersion(2).meta_key());
    let refused = block_on(isolate.switch_features(&kv, 2)).unwrap_err();
    assert_eq!(refused.code(), "features_not_found");
    assert_eq!(kv.peek(keys::CURRENT_FEATURES).as_deref(), Some("1"));
    let zero = block_on(isolate.switch_features(&kv, 0)).unwrap_err();
    assert!(matches!(zero, EdgeError::Invalid(_)));
    kv.set(&FeatureVersion(2).meta_key(), b"{}");
    block_on(isolate.switch_features(&kv, 2)).unwrap();
    assert_eq!(kv.peek(keys::CURRENT_FEATURES).as_deref(), Some("2"));
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
    let warm = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 1_000_000.0)).unwrap_err();
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
    let (_, rows_2) = model(3);
    publish_features(&kv, 2, &rows_2);
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
