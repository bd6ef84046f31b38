//! The rerank core against a real model: a small SASRec in burn, exported to ONNX, run by
//! tract through the core, compared with burn's own scores on the same embeddings.

use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};
use futures_executor::block_on;
use resonance_edge::rerank::{HEURISTIC_ONLY, ModelRef};
use resonance_edge::source::{FeatureSource, SourceError, TrackLookup};
use resonance_edge::{MemorySource, Reranker, TractModel};
use resonance_sasrec::{SasRec, onnx};
use resonance_shared::api::{RerankRequest, StateSource, parse_rerank_request};
use resonance_shared::features::{
    TrackAudioFeatures, TrackFeatures, TrackPopularity, UserFeatures, UserRecentHistory,
};
use resonance_shared::keys::FeatureVersion;

const LEN: usize = 8;
const D: usize = 16;
const TRACKS: usize = 30;

mod common;

fn model() -> (SasRec, Vec<Vec<f32>>) {
    common::small_sasrec(11, TRACKS, LEN, D)
}

fn id(i: usize) -> String {
    format!("t{i}")
}

/// Tracks 1..=TRACKS with their model rows as embeddings; user `u` listened to 1..=12.
fn store(rows: &[Vec<f32>]) -> MemorySource {
    let mut source = MemorySource {
        version: Some(FeatureVersion(1)),
        ..Default::default()
    };
    for i in 1..=TRACKS {
        let track = TrackFeatures {
            audio: TrackAudioFeatures {
                artist: format!("artist {}", i % 5),
                genre: ["rock", "pop", "jazz"][i % 3].into(),
                energy: (i as f32 * 0.03) % 1.0,
                valence: 0.5,
                danceability: (i as f32 * 0.07) % 1.0,
                tempo: 120.0,
                acousticness: 0.2,
                embedding: rows[i].clone(),
                embedded: true,
            },
            popularity: Some(TrackPopularity {
                plays_7d: i as u32,
                plays_30d: 3 * i as u32,
                ..Default::default()
            }),
        };
        source.tracks.insert(id(i), Arc::new(track));
    }
    let user = UserFeatures {
        history: UserRecentHistory {
            tracks: (1..=12).map(id).collect(),
            skipped: vec![id(20)],
        },
        ..Default::default()
    };
    source.users.insert("u".into(), Arc::new(user));
    source
}

fn request(user: &str, candidates: impl IntoIterator<Item = usize>) -> RerankRequest {
    let body = serde_json::json!({
        "user_id": user,
        "candidates": candidates.into_iter().map(id).collect::<Vec<_>>(),
        "context": {"hour": 20, "device": "mobile"},
    });
    parse_rerank_request(body.to_string().as_bytes()).unwrap()
}

fn clock() -> f64 {
    0.0
}

/// burn's logits for the last LEN history tracks of `u` (5..=12) against `candidates`.
fn burn_scores(model: &SasRec, rows: &[Vec<f32>], candidates: &[usize]) -> Vec<f32> {
    let device = Device::flex();
    let history: Vec<f32> = (5..=12).flat_map(|i| rows[i].clone()).collect();
    let cands: Vec<f32> = candidates.iter().flat_map(|&i| rows[i].clone()).collect();
    let history = Tensor::<3>::from_data(TensorData::new(history, [1, LEN, D]), &device);
    let keep = Tensor::<2>::ones([1, LEN], &device);
    let cands = Tensor::<3>::from_data(TensorData::new(cands, [1, candidates.len(), D]), &device);
    model
        .score_candidates(history, keep, cands)
        .try_into_vec_as::<f32>()
        .unwrap()
}

#[test]
fn the_core_scores_like_burn_and_reuses_the_encoder_state() {
    let (model, rows) = model();
    let tract = TractModel::from_onnx(&onnx::export(&model, "test")).unwrap();
    let source = store(&rows);
    let reranker = Reranker::new(16, 60_000.0);
    let candidates: Vec<usize> = (13..=TRACKS).collect();
    let expected = burn_scores(&model, &rows, &candidates);
    let run = |req: &RerankRequest| {
        block_on(reranker.rerank(
            &source,
            Some(ModelRef {
                version: "m1",
                scorer: &tract,
                mix: Default::default(),
            }),
            req,
            clock,
        ))
        .unwrap()
    };

    let first = run(&request("u", candidates.clone()));
    assert_eq!(first.state, StateSource::Computed);
    assert_eq!(first.history_used, LEN, "the last L of 12 history tracks");
    assert_eq!(first.response.backend, "tract-cpu");
    assert_eq!(first.response.model_version.as_deref(), Some("m1"));
    assert_eq!(first.response.ranked.len(), candidates.len());
    // The transformer part is the standardised logit: recover the order and compare it.
    let mut by_burn: Vec<(String, f32)> = candidates
        .iter()
        .map(|&i| id(i))
        .zip(expected.iter().copied())
        .collect();
    by_burn.sort_by(|a, b| b.1.total_cmp(&a.1));
    let weights_one = request_with_weights("u", &candidates, 1.0, 0.0);
    let model_only = run(&weights_one);
    let order: Vec<&str> = model_only
        .response
        .ranked
        .iter()
        .map(|r| r.track_id.as_str())
        .collect();
    let burn_order: Vec<&str> = by_burn.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        order, burn_order,
        "weights (1, 0) rank exactly by the model"
    );
    assert_eq!(
        model_only.state,
        StateSource::Cached,
        "the same history reuses its encoder state"
    );

    // Cached and fresh scores agree.
    let again = run(&request("u", candidates.clone()));
    assert_eq!(again.state, StateSource::Cached);
    for (a, b) in first.response.ranked.iter().zip(&again.response.ranked) {
        assert_eq!(a.track_id, b.track_id);
        assert!((a.score - b.score).abs() < 1e-4, "{a:?} vs {b:?}");
    }
}

fn request_with_weights(user: &str, candidates: &[usize], t: f32, h: f32) -> RerankRequest {
    let body = serde_json::json!({
        "user_id": user,
        "candidates": candidates.iter().map(|&i| id(i)).collect::<Vec<_>>(),
        "weights": {"transformer": t, "heuristic": h},
    });
    parse_rerank_request(body.to_string().as_bytes()).unwrap()
}

#[test]
fn unknown_users_and_tracks_degrade_to_the_heuristic() {
    let (model, rows) = model();
    let tract = TractModel::from_onnx(&onnx::export(&model, "test")).unwrap();
    let source = store(&rows);
    let reranker = Reranker::new(16, 60_000.0);
    let model_ref = || {
        Some(ModelRef {
            version: "m1",
            scorer: &tract,
            mix: Default::default(),
        })
    };

    let mut req = request("stranger", [13, 14, 15]);
    let stranger = block_on(reranker.rerank(&source, model_ref(), &req, clock)).unwrap();
    assert!(stranger.response.degraded.unknown_user);
    assert!(stranger.response.degraded.model_unavailable);
    assert_eq!(stranger.response.backend, HEURISTIC_ONLY);
    assert_eq!(stranger.response.ranked.len(), 3);

    req.candidates.push("not-in-store".into());
    req.limit = Some(2);
    req.explain = true;
    req.user_id = "u".into();
    let partial = block_on(reranker.rerank(&source, model_ref(), &req, clock)).unwrap();
    let response = partial.response;
    assert_eq!(response.degraded.unknown_tracks, ["not-in-store"]);
    assert!(!response.degraded.model_unavailable);
    assert_eq!(response.ranked.len(), 2, "limit applies");
    assert!(response.ranked.iter().all(|r| r.explanation.is_some()));
    assert!(
        response
            .ranked
            .iter()
            .all(|r| r.track_id != "not-in-store" || r.transformer.is_none())
    );

    let none = block_on(reranker.rerank::<_, TractModel>(&source, None, &req, clock)).unwrap();
    assert_eq!(none.response.backend, HEURISTIC_ONLY);
    assert_eq!(none.response.model_version, None);
}

/// A store that fails the ways KV can.
struct FailingSource {
    inner: MemorySource,
    user_fails: bool,
    tracks_fail: bool,
    incompatible: bool,
}

impl FeatureSource for FailingSource {
    async fn version(&self) -> Result<Option<FeatureVersion>, SourceError> {
        Ok(self.inner.version)
    }

    async fn user(&self, id: &str) -> Result<Option<Arc<UserFeatures>>, SourceError> {
        if self.incompatible {
            return Err(SourceError::Incompatible {
                key: format!("rsn:v1:user:{id}"),
                message: "stored value has schema version 9".into(),
            });
        }
        if self.user_fails {
            return Err(SourceError::Unavailable("KV timed out".into()));
        }
        self.inner.user(id).await
    }

    async fn tracks(&self, ids: &[&str]) -> Vec<TrackLookup> {
        if self.tracks_fail {
            return ids
                .iter()
                .map(|_| Err(SourceError::Unavailable("KV timed out".into())))
                .collect();
        }
        self.inner.tracks(ids).await
    }
}

#[test]
fn a_store_that_fails_is_a_503_and_one_that_half_fails_degrades() {
    let (_, rows) = model();
    let reranker = Reranker::new(16, 60_000.0);
    let req = request("u", [13, 14]);
    let source = |user_fails, tracks_fail, incompatible| FailingSource {
        inner: store(&rows),
        user_fails,
        tracks_fail,
        incompatible,
    };
    let run = |s: &FailingSource| block_on(reranker.rerank::<_, TractModel>(s, None, &req, clock));

    let down = run(&source(true, true, false)).unwrap_err();
    assert_eq!(down.code(), "features_unavailable");

    let incompatible = run(&source(false, false, true)).unwrap_err();
    assert_eq!(incompatible.code(), "features_incompatible");
    assert!(
        incompatible.to_string().contains("rsn:v1:user:u"),
        "{incompatible}"
    );

    let half = run(&source(true, false, false)).unwrap();
    assert!(half.response.degraded.features_partial);
    assert!(half.response.degraded.unknown_user);
    assert!(half.response.degraded.unknown_tracks.is_empty());
}

/// A store that refuses to be asked for the same track twice in one call.
struct StrictSource(MemorySource);

impl FeatureSource for StrictSource {
    async fn version(&self) -> Result<Option<FeatureVersion>, SourceError> {
        self.0.version().await
    }

    async fn user(&self, id: &str) -> Result<Option<Arc<UserFeatures>>, SourceError> {
        self.0.user(id).await
    }

    async fn tracks(&self, ids: &[&str]) -> Vec<TrackLookup> {
        let mut unique = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "asked twice in one call: {ids:?}");
        self.0.tracks(ids).await
    }
}

#[test]
fn a_history_that_repeats_tracks_reads_each_once_and_keeps_them_all() {
    let (model, rows) = model();
    let tract = TractModel::from_onnx(&onnx::export(&model, "test")).unwrap();
    let mut store = store(&rows);
    // 5..=12 as before, with 6 and 9 played twice: the model reads the last L = 8 plays.
    let history: Vec<String> = [5, 6, 6, 7, 9, 9, 10, 11, 12].into_iter().map(id).collect();
    let user = UserFeatures {
        history: UserRecentHistory {
            tracks: history,
            skipped: vec![],
        },
        ..Default::default()
    };
    store.users.insert("repeats".into(), Arc::new(user));
    let reranker = Reranker::new(16, 60_000.0);
    let outcome = block_on(reranker.rerank(
        &StrictSource(store),
        Some(ModelRef {
            version: "m1",
            scorer: &tract,
            mix: Default::default(),
        }),
        &request("repeats", [13, 14, 15]),
        clock,
    ))
    .unwrap();
    assert_eq!(
        outcome.history_used, LEN,
        "repeated plays stay in the history"
    );
}

#[test]
fn a_graph_without_user_state_is_refused_at_load() {
    use prost::Message;
    let (model, _) = model();
    let mut proto = onnx::proto::ModelProto::decode(&onnx::export(&model, "test")[..]).unwrap();
    proto.graph.as_mut().unwrap().output.truncate(1); // as exported before user_state existed
    let error = TractModel::from_onnx(&proto.encode_to_vec()).err().unwrap();
    assert!(error.to_string().contains("re-export"), "{error}");
}

#[test]
fn the_plan_is_built_on_the_first_forward_pass_and_answers_as_one_built_at_once() {
    let (model, rows) = model();
    let graph = onnx::export(&model, "test");
    let lazy = TractModel::from_onnx(&graph).unwrap();
    let eager = TractModel::from_onnx(&graph).unwrap();
    assert!(!lazy.is_prepared(), "loading only types the graph");
    eager.prepare().unwrap();
    assert!(eager.is_prepared());
    let history: Vec<f32> = rows[1..=LEN].concat();
    let mask = vec![1.0; LEN];
    let candidates: Vec<f32> = rows[13..=20].concat();
    let first = lazy.forward(&history, &mask, &candidates).unwrap();
    assert!(lazy.is_prepared(), "the first forward pass built it");
    let built = eager.forward(&history, &mask, &candidates).unwrap();
    assert_eq!(first.scores, built.scores);
    assert_eq!(first.user_state, built.user_state);
    // Built once: a second call answers the same.
    lazy.prepare().unwrap();
    assert_eq!(
        lazy.forward(&history, &mask, &candidates).unwrap().scores,
        built.scores
    );
}
