//! One rerank through the core, natively, at the product's shape: d = 128, 4 heads, 2 blocks,
//! 50 history tracks, 100 candidates. `cold` runs the model; `warm` reuses the encoder state
//! cached for the same history (one dot product per candidate); `worker path` is what the
//! Worker does for a request of a listener with a stored state, its features in the
//! isolate's caches: parse the body, rerank through the isolate over KV values as the mirror
//! writes them (layout 2), serialise the answer. Under a profiler (`perf record -g` on the
//! bench binary with `--bench "worker path"`) it shows where the Worker's wasm time goes,
//! without wasm's own costs.
//! Run: `cargo bench --workspace --profile dev --bench rerank` (the test build's profile).

use std::sync::Arc;

use burn::module::Module;
use burn::tensor::Device;
use criterion::{Criterion, criterion_group, criterion_main};
use futures_executor::block_on;
use resonance_edge::isolate::{Isolate, Settings};
use resonance_edge::kv::MemoryKv;
use resonance_edge::publication;
use resonance_edge::rerank::ModelRef;
use resonance_edge::states::encode_state;
use resonance_edge::{MemorySource, Reranker, TractModel};
use resonance_sasrec::{SasRec, SasRecConfig, onnx};
use resonance_shared::api::parse_rerank_request;
use resonance_shared::features::{
    self, FeatureSetMeta, TrackAudioFeatures, TrackFeatures, TrackPopularity, UserFeatures,
    UserRecentHistory,
};
use resonance_shared::keys::{self, Entity, FeatureVersion};
use resonance_shared::manifest::{PUBLISHED_MODEL_SCHEMA, PublishedModel};

/// A SASRec of the product's shape over `tracks` tracks, its weights drawn from `seed`, and its
/// item-embedding table (`[tracks + 1, 128]`, row 0 padding).
fn bench_model(seed: u64, tracks: usize) -> (SasRec, Vec<f32>) {
    let device = Device::flex();
    device.seed(seed);
    let model = SasRecConfig::new(tracks).init(&device).valid();
    let table = model
        .item_embedding
        .weight
        .val()
        .try_into_vec_as::<f32>()
        .unwrap();
    (model, table)
}

fn rerank(c: &mut Criterion) {
    let tracks = 1000;
    let (model, table) = bench_model(3, tracks);
    let tract = TractModel::from_onnx(&onnx::export(&model, "bench")).unwrap();
    let mut source = MemorySource {
        version: Some(FeatureVersion(1)),
        ..Default::default()
    };
    for i in 1..=tracks {
        let track = bench_track(i, &table);
        source.tracks.insert(format!("t{i}"), Arc::new(track));
    }
    let user = UserFeatures {
        history: UserRecentHistory {
            tracks: (1..=50).map(|i| format!("t{}", i * 7)).collect(),
            skipped: vec![],
        },
        ..Default::default()
    };
    source.users.insert("u".into(), Arc::new(user));
    let candidates: Vec<String> = (0..100).map(|i| format!("t{}", 500 + i * 3)).collect();
    let body =
        serde_json::json!({"user_id": "u", "candidates": candidates, "context": {"hour": 9}});
    let request = parse_rerank_request(body.to_string().as_bytes()).unwrap();
    let model_ref = || {
        Some(ModelRef {
            version: "bench",
            scorer: &tract,
            mix: Default::default(),
        })
    };

    let cold = Reranker::new(16, 60_000.0);
    c.bench_function("rerank cold (L=50, C=100, d=128): model runs", |b| {
        b.iter(|| {
            cold.clear_states();
            block_on(cold.rerank(&source, model_ref(), &request, || 0.0)).unwrap()
        })
    });
    let warm = Reranker::new(16, 1e12);
    block_on(warm.rerank(&source, model_ref(), &request, || 0.0)).unwrap();
    c.bench_function(
        "rerank warm (L=50, C=100, d=128): cached encoder state",
        |b| b.iter(|| block_on(warm.rerank(&source, model_ref(), &request, || 0.0)).unwrap()),
    );
}

/// The Worker's path for one request, natively: model `m` and feature version 1 of layout 2 in
/// the in-memory KV, 1,000 tracks, listener `u` with 50 history tracks and a stored state.
fn worker_path(c: &mut Criterion) {
    let tracks = 1000;
    let (model, table) = bench_model(5, tracks);
    let onnx = onnx::export(&model, "bench");
    let kv = MemoryKv::default();
    let chunks: Vec<&[u8]> = publication::split(&onnx).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        kv.set(&keys::model_chunk_key("m", i), chunk);
    }
    let published = PublishedModel {
        schema: PUBLISHED_MODEL_SCHEMA,
        model: "sasrec".into(),
        version: "m".into(),
        created_at: "2026-12-01T00:00:00Z".into(),
        d_model: 128,
        max_len: 50,
        onnx_bytes: onnx.len(),
        onnx_sha256: publication::sha256_hex(&onnx),
        chunks: chunks.len(),
        metrics: serde_json::Value::Null,
        embeddings: Some(tracks),
        mix: None,
    };
    let version = FeatureVersion(1);
    let row = |i: usize| &table[i * 128..(i + 1) * 128];
    for i in 1..=tracks {
        let id = format!("t{i}");
        kv.set(
            &keys::model_embedding_key("m", &id),
            features::encode_embedding(row(i)).as_bytes(),
        );
        let mut track = bench_track(i, &table);
        track.audio.embedding = vec![];
        kv.set(
            &version.entity_key(Entity::Track, &id),
            features::encode_as(&track, 2).as_bytes(),
        );
    }
    let history: Vec<String> = (1..=50).map(|i| format!("t{}", i * 7)).collect();
    let tract = TractModel::from_onnx(&onnx).unwrap();
    let embedding = |id: &str| {
        let i: usize = id.strip_prefix('t')?.parse().ok()?;
        Some(row(i))
    };
    let state = encode_state(&tract, &embedding, &history).unwrap().unwrap();
    kv.set(&keys::model_state_key("m", "u"), state.encode().as_bytes());
    // An interest graph of the size the LLM writes (25 artists, 10 genres), some of whose
    // names differ from the catalogue's in case.
    let graph = serde_json::json!({
        "topArtists": (0..25).map(|i| (format!("Artist {}", i * 2), serde_json::json!(0.5))).collect::<serde_json::Map<_, _>>(),
        "topGenres": (0..10).map(|i| (format!("genre {i}"), serde_json::json!(0.4))).collect::<serde_json::Map<_, _>>(),
        "moods": ["upbeat"],
    });
    let user = UserFeatures {
        history: UserRecentHistory {
            tracks: history,
            skipped: vec![],
        },
        interest_graph: Some(serde_json::from_value(graph).unwrap()),
        ..Default::default()
    };
    kv.set(
        &version.entity_key(Entity::User, "u"),
        features::encode(&user).as_bytes(),
    );
    kv.set(
        &keys::model_manifest_key("m"),
        serde_json::to_string(&published).unwrap().as_bytes(),
    );
    let meta = FeatureSetMeta {
        version: 1,
        as_of: "2026-12-01T00:00:00Z".into(),
        created_at: "2026-12-01T00:00:00Z".into(),
        users: 1,
        tracks,
        model_version: Some("m".into()),
        bytes: None,
        layout: 2,
        values_written_at: None,
    };
    kv.set(
        &version.meta_key(),
        serde_json::to_vec(&meta).unwrap().as_slice(),
    );
    kv.set(keys::CURRENT_FEATURES, b"1");

    let candidates: Vec<String> = (0..100).map(|i| format!("t{}", 500 + i * 3)).collect();
    let body =
        serde_json::json!({"user_id": "u", "candidates": candidates, "context": {"hour": 9}})
            .to_string();
    let isolate = Isolate::default();
    let settings = Settings {
        load_model_in_request: false,
        ..Settings::default()
    };
    let answer = |body: &[u8]| {
        let request = parse_rerank_request(body).unwrap();
        let response = block_on(isolate.rerank(&kv, &settings, &request, || 0.0)).unwrap();
        serde_json::to_string(&response).unwrap()
    };
    let first = answer(body.as_bytes());
    assert!(first.contains("\"user_state\":\"stored\""), "{first}");
    c.bench_function(
        "worker path (C=100, d=128): parse, stored state from the isolate's caches, JSON",
        |b| b.iter(|| answer(body.as_bytes())),
    );
}

/// Track `i`'s features, its embedding row from `table`.
fn bench_track(i: usize, table: &[f32]) -> TrackFeatures {
    TrackFeatures {
        audio: TrackAudioFeatures {
            artist: format!("artist {}", i % 50),
            genre: format!("genre {}", i % 12),
            energy: (i % 97) as f32 / 97.0,
            valence: (i % 89) as f32 / 89.0,
            danceability: (i % 83) as f32 / 83.0,
            tempo: 120.0,
            acousticness: 0.3,
            embedding: table[i * 128..(i + 1) * 128].to_vec(),
            embedded: true,
        },
        popularity: Some(TrackPopularity {
            plays_7d: i as u32 % 40,
            plays_30d: i as u32 % 150,
            ..Default::default()
        }),
    }
}

criterion_group!(benches, rerank, worker_path);
criterion_main!(benches);
