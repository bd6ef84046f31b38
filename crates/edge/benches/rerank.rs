//! One rerank through the core, natively, at the product's shape: d = 128, 4 heads, 2 blocks,
//! 50 history tracks, 100 candidates. `cold` runs the model; `warm` reuses the encoder state
//! cached for the same history (one dot product per candidate).
//! Run: `cargo bench --workspace --profile dev --bench rerank` (the test build's profile).

use std::sync::Arc;

use burn::module::Module;
use burn::tensor::Device;
use criterion::{Criterion, criterion_group, criterion_main};
use futures_executor::block_on;
use resonance_edge::rerank::ModelRef;
use resonance_edge::{MemorySource, Reranker, TractModel};
use resonance_sasrec::{SasRecConfig, onnx};
use resonance_shared::api::parse_rerank_request;
use resonance_shared::features::{
    TrackAudioFeatures, TrackFeatures, TrackPopularity, UserFeatures, UserRecentHistory,
};
use resonance_shared::keys::FeatureVersion;

fn rerank(c: &mut Criterion) {
    let device = Device::flex();
    device.seed(3);
    let tracks = 1000;
    let model = SasRecConfig::new(tracks).init(&device).valid();
    let table = model
        .item_embedding
        .weight
        .val()
        .try_into_vec_as::<f32>()
        .unwrap();
    let tract = TractModel::from_onnx(&onnx::export(&model, "bench")).unwrap();
    let mut source = MemorySource {
        version: Some(FeatureVersion(1)),
        ..Default::default()
    };
    for i in 1..=tracks {
        let track = TrackFeatures {
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
        };
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

criterion_group!(benches, rerank);
criterion_main!(benches);
