//! Property-based fuzzing of what the Worker parses from the network: the rerank body and the
//! admin bulk body. Random bytes, and near-valid JSON with fields mutated, must give an answer
//! or a 4xx error, never a panic; valid bodies must round-trip. 4,000 cases per property
//! (`PROPTEST_CASES` overrides).

use proptest::prelude::*;
use resonance_edge::admin::parse_bulk_write;
use resonance_shared::api::parse_rerank_request;
use serde_json::{Value, json};

/// JSON values of every kind, to drop into any field.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        "rsn:(v[0-9]{1,3}|model):[a-z0-9:._-]{0,30}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::hash_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid rerank body with one field replaced by an arbitrary value.
fn mutated_rerank() -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![
        Just("user_id"),
        Just("candidates"),
        Just("context"),
        Just("limit"),
        Just("explain"),
        Just("weights"),
        Just("extra"),
    ];
    (field, any_json()).prop_map(|(field, value)| {
        let mut body = json!({
            "user_id": "u1", "candidates": ["a", "b", "c"],
            "context": {"hour": 7, "device": "mobile"}, "limit": 2, "explain": true,
            "weights": {"transformer": 0.7, "heuristic": 0.3},
        });
        body[field] = value;
        serde_json::to_vec(&body).unwrap()
    })
}

/// A valid bulk body with one pair's field replaced by an arbitrary value.
fn mutated_bulk() -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![
        Just("key"),
        Just("value"),
        Just("base64"),
        Just("expiration_ttl"),
        Just("other")
    ];
    (field, any_json(), 0usize..3).prop_map(|(field, value, at)| {
        let mut pairs = json!([
            {"key": "rsn:current", "value": "3"},
            {"key": "rsn:model:m1:chunk:0", "value": "AAEC", "base64": true},
            {"key": "rsn:model:current", "value": "m1", "expiration_ttl": 3600},
        ]);
        pairs[at][field] = value;
        serde_json::to_vec(&pairs).unwrap()
    })
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(4000),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn rerank_bodies_never_panic(body in prop_oneof![prop::collection::vec(any::<u8>(), 0..400), mutated_rerank()]) {
        match parse_rerank_request(&body) {
            Ok(request) => prop_assert!(!request.candidates.is_empty()),
            Err(e) => prop_assert!((400..500).contains(&e.status), "{e}"),
        }
    }

    #[test]
    fn bulk_bodies_never_panic(body in prop_oneof![prop::collection::vec(any::<u8>(), 0..400), mutated_bulk()]) {
        match parse_bulk_write(&body) {
            Ok(writes) => prop_assert!(!writes.is_empty()),
            Err(e) => prop_assert!((400..500).contains(&e.status), "{e}"),
        }
    }
}
