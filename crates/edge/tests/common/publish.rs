//! What the isolate tests share: a small model and feature versions written into the
//! in-memory KV as the mirror writes them.
// Each test crate that includes this uses a part of it.
#![allow(dead_code)]

use resonance_edge::isolate::Settings;
use resonance_edge::kv::MemoryKv;
use resonance_edge::publication::{self, sha256_hex};
use resonance_edge::states::encode_state;
use resonance_edge::tract::TractModel;
use resonance_sasrec::onnx;
use resonance_shared::api::{RerankRequest, RerankResponse, parse_rerank_request};
use resonance_shared::features::{
    self, FeatureSetMeta, TrackAudioFeatures, TrackFeatures, UserFeatures, UserRecentHistory,
    encode,
};
use resonance_shared::keys::{self, Entity, FeatureVersion};
use resonance_shared::manifest::{PUBLISHED_MODEL_SCHEMA, PublishedModel};
use resonance_shared::state::UserState;
use resonance_shared::versioned;

pub const LEN: usize = 8;
pub const D: usize = 16;
pub const TRACKS: usize = 20;
pub const SETTINGS: Settings = Settings {
    pointer_check_ms: 5_000.0,
    load_model_in_request: true,
    settle_ms: 0.0,
};

/// A small SASRec's ONNX graph and item rows; `seed` makes models differ.
pub fn model(seed: u64) -> (Vec<u8>, Vec<Vec<f32>>) {
    let (model, rows) = super::common::small_sasrec(seed, TRACKS, LEN, D);
    (onnx::export(&model, "test"), rows)
}

/// Writes model `version` (chunks and manifest, no embeddings: layout 1 only) into `kv`.
pub fn publish_model(kv: &MemoryKv, version: &str, onnx: &[u8]) {
    publish_model_with(kv, version, onnx, None);
}

/// Writes model `version` with `rows` as its embeddings (layout 2), manifest last.
pub fn publish_model_with(kv: &MemoryKv, version: &str, onnx: &[u8], rows: Option<&[Vec<f32>]>) {
    let embeddings = rows.map(|rows| {
        for (i, row) in rows.iter().enumerate().skip(1) {
            let key = keys::model_embedding_key(version, &format!("t{i}"));
            kv.set(&key, features::encode_embedding(row).as_bytes());
        }
        rows.len() - 1
    });
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
        embeddings,
        mix: None,
    };
    kv.set(
        &keys::model_manifest_key(version),
        serde_json::to_string(&published).unwrap().as_bytes(),
    );
}

/// Writes feature version `version` (user `u` with history t1..t8, tracks t1..t20 with
/// `rows` as embeddings, the meta naming `model` last), of layout 1.
pub fn publish_features(kv: &MemoryKv, version: u64, rows: &[Vec<f32>], model: &str) {
    publish_features_as(kv, version, rows, model, 1);
}

/// [`publish_features`] of `layout`: in 2 the track values leave their embedding to the model.
pub fn publish_features_as(
    kv: &MemoryKv,
    version: u64,
    rows: &[Vec<f32>],
    model: &str,
    layout: u32,
) {
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
                embedding: if layout >= 2 { vec![] } else { row.clone() },
                embedded: layout >= 2,
            },
            popularity: None,
        };
        kv.set(
            &v.entity_key(Entity::Track, &format!("t{i}")),
            features::encode_as(&track, layout).as_bytes(),
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
    let meta = FeatureSetMeta {
        version,
        as_of: "2026-12-01T00:00:00Z".into(),
        created_at: "2026-12-01T00:00:00Z".into(),
        users: 1,
        tracks: TRACKS,
        model_version: Some(model.into()),
        bytes: None,
        layout,
        values_written_at: None,
    };
    kv.set(&v.meta_key(), serde_json::to_vec(&meta).unwrap().as_slice());
}

/// Rewrites feature version `version` (as [`publish_features_as`] wrote it, of layout 2) into
/// layout 3, as `materialize --layout 3` and the mirror leave it: each entity's value becomes
/// the entry of `version` under its one key (`rsn:user:u`, `rsn:track:t{i}`), beside the
/// entries `held` versions read, and the meta says layout 3.
pub fn to_versioned(kv: &MemoryKv, version: u64, held: &[u64]) {
    let v = FeatureVersion(version);
    let ids = (1..=TRACKS).map(|i| (Entity::Track, format!("t{i}")));
    for (entity, id) in ids.chain([(Entity::User, "u".to_string())]) {
        let per_version = v.entity_key(entity, &id);
        let mut value: serde_json::Value =
            serde_json::from_str(&kv.peek(&per_version).unwrap()).unwrap();
        value.as_object_mut().unwrap().remove("schema");
        kv.remove(&per_version);
        let key = keys::values_key(entity, &id);
        let old: versioned::Versioned<serde_json::Value> = kv
            .peek(&key)
            .map(|text| versioned::decode(&text).unwrap())
            .unwrap_or_default();
        let next = old.with(version, Some(value), held);
        kv.set(&key, versioned::encode(&next).as_bytes());
    }
    let meta = kv.peek(&v.meta_key()).unwrap();
    let meta = meta.replace("\"layout\":2", "\"layout\":3");
    kv.set(&v.meta_key(), meta.as_bytes());
}

/// Points `rsn:current` at `features` behind the Worker's back, as the Cloudflare sink does.
pub fn point(kv: &MemoryKv, features: u64) {
    kv.set(keys::CURRENT_FEATURES, features.to_string().as_bytes());
}

pub fn request() -> RerankRequest {
    let body = serde_json::json!({
        "user_id": "u",
        "candidates": (9..=14).map(|i| format!("t{i}")).collect::<Vec<_>>(),
    });
    parse_rerank_request(body.to_string().as_bytes()).unwrap()
}

/// A KV serving model `a` with feature version 1.
pub fn live_kv() -> (MemoryKv, Vec<u8>) {
    let kv = MemoryKv::default();
    let (onnx, rows) = model(1);
    publish_model(&kv, "a", &onnx);
    publish_features(&kv, 1, &rows, "a");
    point(&kv, 1);
    (kv, onnx)
}

/// The same ranking and scores (an encoder state from the cache differs in the last bits).
pub fn assert_same(a: &RerankResponse, b: &RerankResponse) {
    assert_within(a, b, 1e-5);
}

/// The same ranking, and scores and transformer scores within `tolerance`.
pub fn assert_within(a: &RerankResponse, b: &RerankResponse, tolerance: f32) {
    let ids = |r: &RerankResponse| {
        r.ranked
            .iter()
            .map(|t| t.track_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(a), ids(b));
    for (x, y) in a.ranked.iter().zip(&b.ranked) {
        assert!((x.score - y.score).abs() < tolerance, "{x:?} vs {y:?}");
        assert_eq!(
            x.transformer.is_some(),
            y.transformer.is_some(),
            "{x:?} vs {y:?}"
        );
        if let (Some(tx), Some(ty)) = (x.transformer, y.transformer) {
            assert!((tx - ty).abs() < tolerance, "{x:?} vs {y:?}");
        }
    }
}

/// Model `a` with its embeddings and feature version 1 of layout 2, live; and the rows.
pub fn layout_two_kv() -> (MemoryKv, Vec<u8>, Vec<Vec<f32>>) {
    let kv = MemoryKv::default();
    let (onnx, rows) = model(1);
    publish_model_with(&kv, "a", &onnx, Some(&rows));
    publish_features_as(&kv, 1, &rows, "a", 2);
    point(&kv, 1);
    (kv, onnx, rows)
}

/// The state of `history` as `trainer materialize` computes it.
pub fn offline_state(onnx: &[u8], rows: &[Vec<f32>], history: &[String]) -> UserState {
    let model = TractModel::from_onnx(onnx).unwrap();
    let embedding = |id: &str| {
        let i: usize = id.strip_prefix('t')?.parse().ok()?;
        rows.get(i).map(Vec::as_slice)
    };
    encode_state(&model, &embedding, history).unwrap().unwrap()
}
