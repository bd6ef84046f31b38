//! A fresh isolate as the Worker runs it (`load_model_in_request: false`), natively on the
//! in-memory KV: it goes live on the model's manifest and answers from stored encoder states
//! without reading the graph; an answer that needs the model is the heuristic's, flagged
//! `model_warming`, until the graph is read and its plan built after answering; a graph that
//! fails to load degrades the model path, flagged, is said in `/health`, and loads at a later
//! pointer check once it can.

use std::cell::Cell;

use futures_executor::block_on;
use resonance_edge::isolate::{Isolate, Settings};
use resonance_edge::kv::MemoryKv;
use resonance_edge::publication::PublicationError;
use resonance_shared::api::{RerankRequest, RerankResponse, StateSource, parse_rerank_request};
use resonance_shared::keys;

mod common;
#[path = "common/publish.rs"]
mod publish;
use publish::*;

const WORKER: Settings = Settings {
    load_model_in_request: false,
    ..SETTINGS
};

fn request_with(recent: &[&str]) -> RerankRequest {
    let body = serde_json::json!({
        "user_id": "u",
        "candidates": (9..=14).map(|i| format!("t{i}")).collect::<Vec<_>>(),
        "recent_tracks": recent,
    });
    parse_rerank_request(body.to_string().as_bytes()).unwrap()
}

/// What an isolate that loads the whole model first answers.
fn waited(kv: &MemoryKv, request: &RerankRequest) -> RerankResponse {
    block_on(Isolate::default().rerank(kv, &SETTINGS, request, || 0.0)).unwrap()
}

fn graph_state(isolate: &Isolate, kv: &MemoryKv, now: f64) -> String {
    block_on(isolate.health(kv, &WORKER, now))
        .model_graph
        .unwrap_or_default()
}

/// A clock that moves one millisecond each time it is read.
fn ticking() -> impl Fn() -> f64 {
    let now = Cell::new(0.0);
    move || {
        now.set(now.get() + 1.0);
        now.get()
    }
}

/// Model `a` live with layout 2, and listener u's state stored as `materialize` writes it.
fn with_stored_state() -> MemoryKv {
    let (kv, onnx, rows) = layout_two_kv();
    let history: Vec<String> = (1..=8).map(|i| format!("t{i}")).collect();
    let state = offline_state(&onnx, &rows, &history);
    kv.set(&keys::model_state_key("a", "u"), state.encode().as_bytes());
    kv
}

#[test]
fn a_fresh_isolate_answers_from_stored_states_before_it_reads_the_graph() {
    let kv = with_stored_state();
    let stored = request_with(&[]);

    let isolate = Isolate::default();
    kv.asked.borrow_mut().clear();
    let first = block_on(isolate.rerank(&kv, &WORKER, &stored, || 0.0)).unwrap();
    assert_eq!(first.user_state, StateSource::Stored);
    assert_eq!(first.model_version.as_deref(), Some("a"));
    assert!(!first.degraded.model_warming && !first.degraded.model_unavailable);
    let asked = kv.asked.borrow().clone();
    assert!(
        asked.iter().all(|k| !k.contains(":chunk:")),
        "the first answer read the graph: {asked:?}"
    );
    assert!(asked.contains(&keys::model_manifest_key("a")));
    assert_same(&first, &waited(&kv, &stored));
    let health = block_on(isolate.health(&kv, &WORKER, 1.0));
    assert_eq!(
        (health.status.as_str(), health.model_loaded),
        ("ok", true),
        "{health:?}"
    );
    assert_eq!(health.model_graph.as_deref(), Some("loading"));

    // A recent track the stored history lacks needs the model: not yet.
    let fresh = request_with(&["t15"]);
    let warming = block_on(isolate.rerank(&kv, &WORKER, &fresh, || 2.0)).unwrap();
    assert!(warming.degraded.model_warming, "{:?}", warming.degraded);
    assert!(warming.degraded.model_unavailable);
    assert_eq!(warming.backend, "heuristic-only");
    assert!(warming.ranked.iter().all(|t| t.transformer.is_none()));

    // After answering: the graph, then its plan, each once.
    assert!(isolate.model_pending());
    assert!(
        isolate.build_plan(ticking()).is_none(),
        "no graph to plan yet"
    );
    assert_eq!(block_on(isolate.load_graph(&kv, ticking())), Some(Ok(1.0)));
    assert!(block_on(isolate.load_graph(&kv, ticking())).is_none());
    assert_eq!(graph_state(&isolate, &kv, 3.0), "planning");
    assert_eq!(isolate.build_plan(ticking()), Some(Ok(1.0)));
    assert!(
        isolate.build_plan(ticking()).is_none(),
        "a plan is built once"
    );
    assert!(!isolate.model_pending());
    assert_eq!(graph_state(&isolate, &kv, 4.0), "ready");

    let ran = block_on(isolate.rerank(&kv, &WORKER, &fresh, || 5.0)).unwrap();
    assert_eq!(ran.user_state, StateSource::Computed);
    assert!(!ran.degraded.model_warming && !ran.degraded.model_unavailable);
    assert_same(&ran, &waited(&kv, &fresh));
}

#[test]
fn a_graph_that_fails_to_load_degrades_the_model_path_until_it_loads() {
    let kv = with_stored_state();
    // KV shows the pointer, the meta and the manifest before the chunk.
    let chunk = keys::model_chunk_key("a", 0);
    kv.hidden.borrow_mut().insert(chunk.clone());

    let isolate = Isolate::default();
    let stored = block_on(isolate.rerank(&kv, &WORKER, &request_with(&[]), || 0.0)).unwrap();
    assert_eq!(stored.user_state, StateSource::Stored);
    let failed = block_on(isolate.load_graph(&kv, ticking())).unwrap();
    assert!(
        matches!(failed, Err(PublicationError::MissingChunk { index: 0, .. })),
        "{failed:?}"
    );
    let health = block_on(isolate.health(&kv, &WORKER, 1.0));
    assert_eq!(health.status, "degraded");
    assert_eq!(health.model_graph.as_deref(), Some("failed"));
    let error = health.model_error.unwrap();
    assert!(error.contains("chunk 0 of 1 is missing"), "{error}");
    assert!(!isolate.model_pending(), "no retry on every answer");

    // The model path degrades, flagged, not warming: it is not coming by itself.
    let fresh = request_with(&["t15"]);
    let degraded = block_on(isolate.rerank(&kv, &WORKER, &fresh, || 2.0)).unwrap();
    assert!(degraded.degraded.model_unavailable && !degraded.degraded.model_warming);
    assert_eq!(degraded.model_version.as_deref(), Some("a"));
    // Stored states still answer as the model: they and the embeddings are model a's.
    let still = block_on(isolate.rerank(&kv, &WORKER, &request_with(&[]), || 3.0)).unwrap();
    assert_same(&still, &stored);

    // Visible now: the next pointer check reads the model again, and the graph loads.
    kv.hidden.borrow_mut().clear();
    block_on(isolate.live(&kv, &WORKER, 10_000.0)).unwrap();
    assert!(isolate.model_pending());
    assert!(
        block_on(isolate.load_graph(&kv, ticking()))
            .unwrap()
            .is_ok()
    );
    isolate.build_plan(ticking()).unwrap().unwrap();
    let health = block_on(isolate.health(&kv, &WORKER, 10_001.0));
    assert_eq!(
        (health.status.as_str(), health.model_graph.as_deref()),
        ("ok", Some("ready")),
        "{health:?}"
    );
    let ran = block_on(isolate.rerank(&kv, &WORKER, &fresh, || 10_002.0)).unwrap();
    assert_same(&ran, &waited(&kv, &fresh));
}

#[test]
fn an_isolate_with_a_state_to_keep_reads_a_new_model_whole_before_switching() {
    let (kv, _) = live_kv();
    let isolate = Isolate::default();
    let before = block_on(isolate.rerank(&kv, &WORKER, &request(), || 0.0)).unwrap();
    block_on(isolate.load_graph(&kv, ticking()))
        .unwrap()
        .unwrap();
    isolate.build_plan(ticking()).unwrap().unwrap();
    assert!(before.degraded.model_warming, "{:?}", before.degraded);
    let serving = block_on(isolate.rerank(&kv, &WORKER, &request(), || 1.0)).unwrap();
    assert!(
        !serving.degraded.model_unavailable,
        "{:?}",
        serving.degraded
    );

    // Model b arrives with a chunk this reader cannot see yet: a serving isolate keeps a.
    let (onnx_b, rows_b) = model(2);
    publish_model(&kv, "b", &onnx_b);
    publish_features(&kv, 2, &rows_b, "b");
    kv.hidden.borrow_mut().insert(keys::model_chunk_key("b", 0));
    point(&kv, 2);
    let kept = block_on(isolate.rerank(&kv, &WORKER, &request(), || 10_000.0)).unwrap();
    assert_eq!(
        (kept.model_version.as_deref(), kept.features_version),
        (Some("a"), Some(1))
    );
    assert_same(&kept, &serving);
}
