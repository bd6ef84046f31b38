//! Stored encoder states, natively on the in-memory KV: a state computed offline scores like
//! the model on the same history and spares every history read; a state of another history
//! is never used; recent tracks make the answer session-fresh.

use std::collections::BTreeMap;

use futures_executor::block_on;
use resonance_edge::isolate::Isolate;
use resonance_edge::kv::MemoryKv;
use resonance_shared::api::{RerankRequest, RerankResponse, StateSource, parse_rerank_request};
use resonance_shared::features::{self, UserFeatures, UserRecentHistory};
use resonance_shared::keys::{self, Entity, FeatureVersion};
use resonance_shared::state::history_fingerprint;

mod common;
#[path = "common/publish.rs"]
mod publish;
use publish::*;

/// How far a stored state's answer may be from the model's on the same history: the scores
/// are standardised, and native tract, wasm tract and burn differ in the last bits.
const STATE_TOLERANCE: f32 = 1e-4;

fn user_history() -> Vec<String> {
    (1..=8).map(|i| format!("t{i}")).collect()
}

fn request_with(user: &str, recent: &[&str]) -> RerankRequest {
    let body = serde_json::json!({
        "user_id": user,
        "candidates": (9..=14).map(|i| format!("t{i}")).collect::<Vec<_>>(),
        "recent_tracks": recent,
    });
    parse_rerank_request(body.to_string().as_bytes()).unwrap()
}

fn close(a: &RerankResponse, b: &RerankResponse) {
    assert_within(a, b, STATE_TOLERANCE);
}

fn rerank(kv: &MemoryKv, request: &RerankRequest) -> RerankResponse {
    block_on(Isolate::default().rerank(kv, &SETTINGS, request, || 0.0)).unwrap()
}

#[test]
fn a_stored_state_scores_like_the_model_and_reads_no_history_track() {
    let (kv, onnx, rows) = layout_two_kv();
    let computed = rerank(&kv, &request_with("u", &[]));
    assert_eq!(computed.user_state, StateSource::Computed);

    let state = offline_state(&onnx, &rows, &user_history());
    assert_eq!(state.tracks, 8);
    kv.set(&keys::model_state_key("a", "u"), state.encode().as_bytes());
    kv.asked.borrow_mut().clear();
    let stored = rerank(&kv, &request_with("u", &[]));
    assert_eq!(stored.user_state, StateSource::Stored);
    assert!(!stored.degraded.features_partial && !stored.degraded.unknown_user);
    close(&stored, &computed);

    // One round: the pointer and meta, the model, the user, the state and the candidates;
    // no history track (t1..t8 are not candidates), neither its value nor its embedding.
    let asked = kv.asked.borrow();
    let v = FeatureVersion(1);
    for i in 1..=8 {
        let track = format!("t{i}");
        assert!(
            !asked.contains(&v.entity_key(Entity::Track, &track))
                && !asked.contains(&keys::model_embedding_key("a", &track)),
            "history track {track} was read: {asked:?}"
        );
    }
    assert!(asked.contains(&keys::model_state_key("a", "u")));
}

#[test]
fn a_state_of_another_history_or_a_bad_state_is_never_used() {
    let (kv, onnx, rows) = layout_two_kv();
    let computed = rerank(&kv, &request_with("u", &[]));
    // Yesterday's state: the history then ended a track earlier.
    let older: Vec<String> = (1..=7).map(|i| format!("t{i}")).collect();
    let stale = offline_state(&onnx, &rows, &older);
    assert_ne!(stale.history, history_fingerprint(&user_history()));
    kv.set(&keys::model_state_key("a", "u"), stale.encode().as_bytes());
    let answer = rerank(&kv, &request_with("u", &[]));
    assert_eq!(answer.user_state, StateSource::Computed);
    close(&answer, &computed);
    // A state of the wrong width (another model's d) is not read as this one's.
    let mut wide = offline_state(&onnx, &rows, &user_history());
    wide.state.push(0.0);
    kv.set(&keys::model_state_key("a", "u"), wide.encode().as_bytes());
    let answer = rerank(&kv, &request_with("u", &[]));
    assert_eq!(answer.user_state, StateSource::Computed);
    close(&answer, &computed);
}

#[test]
fn recent_tracks_make_the_answer_session_fresh() {
    let (kv, onnx, rows) = layout_two_kv();
    let state = offline_state(&onnx, &rows, &user_history());
    kv.set(&keys::model_state_key("a", "u"), state.encode().as_bytes());
    // Tracks the stored history already ends with change nothing: the state serves.
    let known = rerank(&kv, &request_with("u", &["t7", "t8"]));
    assert_eq!(known.user_state, StateSource::Stored);

    // A new play: the model runs on the stored history followed by it.
    let fresh = rerank(&kv, &request_with("u", &["t8", "t15"]));
    assert_eq!(fresh.user_state, StateSource::Computed);
    let mut session = user_history();
    session.push("t15".into());
    let expected = offline_state(&onnx, &rows, &session);
    let stored_then = MemoryKv::default();
    let (_, rows) = model(1);
    publish_model_with(&stored_then, "a", &onnx, Some(&rows));
    publish_features_as(&stored_then, 1, &rows, "a", 2);
    point(&stored_then, 1);
    let user = UserFeatures {
        history: UserRecentHistory {
            tracks: session,
            skipped: vec![],
        },
        ..Default::default()
    };
    let key = FeatureVersion(1).entity_key(Entity::User, "u");
    stored_then.set(&key, features::encode(&user).as_bytes());
    stored_then.set(
        &keys::model_state_key("a", "u"),
        expected.encode().as_bytes(),
    );
    // The answer equals that of a listener whose stored history already held the play.
    let as_if_stored = rerank(&stored_then, &request_with("u", &[]));
    assert_eq!(as_if_stored.user_state, StateSource::Stored);
    let transformer = |r: &RerankResponse| -> BTreeMap<String, f32> {
        r.ranked
            .iter()
            .map(|t| (t.track_id.clone(), t.transformer.unwrap()))
            .collect()
    };
    let (fresh_scores, session_scores) = (transformer(&fresh), transformer(&as_if_stored));
    for (track, score) in &fresh_scores {
        assert!(
            (score - session_scores[track]).abs() < STATE_TOLERANCE,
            "{track}: {score} vs {}",
            session_scores[track]
        );
    }
    let moved = transformer(&known)
        .iter()
        .any(|(track, score)| (score - fresh_scores[track]).abs() > 1e-3);
    assert!(moved, "the new play changes the model's scores");

    // A listener the store does not know, with what they just played, gets the model too.
    let new = rerank(&kv, &request_with("newcomer", &["t1", "t2", "t3"]));
    assert!(new.degraded.unknown_user);
    assert_eq!(new.user_state, StateSource::Computed);
    assert!(new.ranked.iter().all(|t| t.transformer.is_some()));
}
