//! Layout 3 at the edge, natively on the in-memory KV: one key per entity for every version,
//! each reader taking its own version's entry. An isolate serving version 2 keeps reading
//! version 2's values while version 3's entries arrive beside them, and once the pointer moves
//! it scores exactly as a reader of the same values in layout 2.

use futures_executor::block_on;
use resonance_edge::isolate::{Isolate, Settings};
use resonance_edge::kv::MemoryKv;
use resonance_shared::features::{UserFeatures, UserRecentHistory, encode};
use resonance_shared::keys::{Entity, FeatureVersion};
use resonance_shared::versioned;

mod common;
#[path = "common/publish.rs"]
mod publish;
use publish::*;

/// Version `version` of layout 2 with model a; from 3 on the listener has also played t9.
fn publish_day(kv: &MemoryKv, version: u64, rows: &[Vec<f32>]) {
    publish_features_as(kv, version, rows, "a", 2);
    if version >= 3 {
        let user = UserFeatures {
            history: UserRecentHistory {
                tracks: (1..=9).map(|i| format!("t{i}")).collect(),
                skipped: vec![],
            },
            ..Default::default()
        };
        let key = FeatureVersion(version).entity_key(Entity::User, "u");
        kv.set(&key, encode(&user).as_bytes());
    }
}

/// The answer of a fresh isolate reading `version` of layout 2.
fn reference(version: u64) -> resonance_shared::api::RerankResponse {
    let (onnx, rows) = model(1);
    let kv = MemoryKv::default();
    publish_model_with(&kv, "a", &onnx, Some(&rows));
    publish_day(&kv, version, &rows);
    point(&kv, version);
    block_on(Isolate::default().rerank(&kv, &SETTINGS, &request(), || 0.0)).unwrap()
}

#[test]
fn each_version_reads_its_own_entry_and_scores_as_layout_two() {
    let (onnx, rows) = model(1);
    let kv = MemoryKv::default();
    publish_model_with(&kv, "a", &onnx, Some(&rows));
    publish_day(&kv, 2, &rows);
    to_versioned(&kv, 2, &[]);
    point(&kv, 2);
    let isolate = Isolate::default();
    let two = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 0.0)).unwrap();
    assert_eq!(two.features_version, Some(2));
    assert!(!two.degraded.features_partial && !two.degraded.unknown_user);
    assert_same(&two, &reference(2));
    let health = block_on(isolate.health(&kv, &SETTINGS, 1.0));
    assert_eq!(health.layouts, vec![1, 2, 3]);

    // Version 3 is written while 2 serves: the listener's value holds both entries.
    publish_day(&kv, 3, &rows);
    to_versioned(&kv, 3, &[2]);
    let stored: versioned::Versioned<serde_json::Value> =
        versioned::decode(&kv.peek("rsn:user:u").unwrap()).unwrap();
    let since: Vec<u64> = stored.entries().iter().map(|e| e.since).collect();
    assert_eq!(since, vec![3, 2]);
    // A reader of 2 (its caches expired) still reads version 2's values.
    let still = block_on(isolate.rerank(&kv, &SETTINGS, &request(), || 100_000.0)).unwrap();
    assert_eq!(still.features_version, Some(2));
    assert_same(&still, &two);

    // The pointer moves; the mirror wrote 3's values at the edge at 100 s. An isolate serving
    // 2 keeps it until they have settled (60 s here: KV may show an overwritten key late),
    // then reads 3's entries (its caches are per version), exactly as layout 2 would.
    let meta_key = FeatureVersion(3).meta_key();
    let stamped = kv
        .peek(&meta_key)
        .unwrap()
        .replace("\"layout\":3", "\"layout\":3,\"values_written_at\":100");
    kv.set(&meta_key, stamped.as_bytes());
    point(&kv, 3);
    let settling = Settings {
        settle_ms: 60_000.0,
        ..SETTINGS
    };
    let kept = block_on(isolate.rerank(&kv, &settling, &request(), || 110_000.0)).unwrap();
    assert_eq!(kept.features_version, Some(2));
    assert_same(&kept, &two);
    assert!(!kept.degraded.values_settling, "2's values have settled");
    let health = block_on(isolate.health(&kv, &settling, 110_001.0));
    let why = health.model_error.unwrap_or_default();
    assert!(
        why.contains("goes live 60 s after") && why.contains("in 50 s"),
        "{why}"
    );
    let three = block_on(isolate.rerank(&kv, &settling, &request(), || 170_000.0)).unwrap();
    assert_eq!(three.features_version, Some(3));
    assert_same(&three, &reference(3));
    assert!(!three.degraded.values_settling, "3's values have settled");
    // A fresh isolate has nothing to keep: it serves 3 at once, flagged while 3 settles
    // (some of its reads may still show 2's values), and unflagged once 3 has settled.
    let fresh = Isolate::default();
    let early = block_on(fresh.rerank(&kv, &settling, &request(), || 110_000.0)).unwrap();
    assert_eq!(early.features_version, Some(3));
    assert!(early.degraded.values_settling, "{:?}", early.degraded);
    let settled = block_on(fresh.rerank(&kv, &settling, &request(), || 170_000.0)).unwrap();
    assert!(!settled.degraded.values_settling, "{:?}", settled.degraded);
    let t9 = |r: &resonance_shared::api::RerankResponse| {
        r.ranked
            .iter()
            .find(|t| t.track_id == "t9")
            .unwrap()
            .transformer
    };
    assert_ne!(
        t9(&three),
        t9(&two),
        "t9 is in the listener's history from 3 on"
    );
}
