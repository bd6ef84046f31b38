//! A fresh isolate in real workerd over what is already published (`wrangler dev` restarted
//! on the same KV state): it answers from stored encoder states at once, answers that need
//! the model are the heuristic's and flagged until the graph is read and planned after
//! answering (`waitUntil`), and then the model path answers as the isolate that loaded the
//! model whole did, before the restart.

use std::time::{Duration, Instant};

use resonance_data::{self as data, read::BadRowPolicy};
use resonance_e2e::assert_same_ranking;
use resonance_e2e::fixture::{MODEL, fixture, publish};
use resonance_e2e::wrangler::{SERVICE_TOKEN, Wrangler};
use resonance_shared::api::{RerankResponse, StateSource};
use serde_json::{Value, json};

fn rerank(worker: &Wrangler, body: &str) -> RerankResponse {
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/v1/rerank", worker.url))
        .bearer_auth(SERVICE_TOKEN)
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().unwrap()
}

/// A listener with history, 100 catalogue tracks as candidates, and a request that needs the
/// model (a recent track that is not in their stored history).
fn bodies() -> (String, String) {
    let (dataset, _) = data::load(&fixture().data, BadRowPolicy::Stop).unwrap();
    let user = dataset.events.last().unwrap().user_id.clone();
    let played: Vec<&str> = dataset
        .events
        .iter()
        .filter(|e| e.user_id == user)
        .map(|e| e.track_id.as_str())
        .collect();
    let unplayed = dataset
        .catalogue
        .iter()
        .map(|t| t.track_id.as_str())
        .find(|id| !played.contains(id))
        .unwrap();
    let candidates: Vec<&str> = dataset
        .catalogue
        .iter()
        .step_by(3)
        .take(100)
        .map(|t| t.track_id.as_str())
        .collect();
    let stored = json!({"user_id": user, "candidates": candidates});
    let mut fresh = stored.clone();
    fresh["recent_tracks"] = json!([unplayed]);
    (stored.to_string(), fresh.to_string())
}

/// Asks until the model path answers scored (each answer meanwhile must be flagged and
/// heuristic-only), and returns that answer.
fn until_scored(worker: &Wrangler, body: &str) -> RerankResponse {
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(30) {
        let answer = rerank(worker, body);
        if !answer.degraded.model_warming {
            assert!(!answer.degraded.model_unavailable, "{:?}", answer.degraded);
            return answer;
        }
        assert!(answer.degraded.model_unavailable);
        assert_eq!(answer.backend, "heuristic-only");
        assert_eq!(answer.model_version.as_deref(), Some(MODEL));
        assert!(answer.ranked.iter().all(|t| t.transformer.is_none()));
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "the model path never answered scored: {:?}",
        worker.health()
    );
}

fn graph_state(health: &Value) -> &str {
    health["modelGraph"].as_str().unwrap_or("absent")
}

#[test]
fn a_fresh_isolate_serves_stored_states_at_once_and_the_model_once_its_graph_is_read() {
    let mut worker = Wrangler::start(&[]);
    publish(&worker);
    let (stored_body, fresh_body) = bodies();
    let stored_before = rerank(&worker, &stored_body);
    assert_eq!(stored_before.user_state, StateSource::Stored);
    let fresh_before = until_scored(&worker, &fresh_body);
    assert_eq!(fresh_before.user_state, StateSource::Computed);

    worker.restart();
    let health = worker.health();
    assert_eq!(
        (&health["status"], &health["modelLoaded"]),
        (&json!("ok"), &json!(true)),
        "{health}"
    );
    assert!(
        ["loading", "planning", "ready"].contains(&graph_state(&health)),
        "{health}"
    );
    let stored_after = rerank(&worker, &stored_body);
    assert_eq!(stored_after.user_state, StateSource::Stored);
    assert!(!stored_after.degraded.model_warming);
    assert_same_ranking("stored", &stored_after, &stored_before, 1e-6);

    let fresh_after = until_scored(&worker, &fresh_body);
    assert_same_ranking("fresh", &fresh_after, &fresh_before, 1e-4);
    let began = Instant::now();
    while graph_state(&worker.health()) != "ready" {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "{}",
            worker.health()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
