//! The Worker end to end: a model trained and exported by the trainer, features computed and
//! put live by `trainer materialize` and `trainer mirror` in a real `wrangler dev` (workerd), reranks compared with
//! the native rerank core on the same inputs; then the faults: bad requests, bad tokens, a
//! broken model publication (the previous model keeps serving), a half-written batch.

use base64::Engine;
use futures_executor::block_on;
use resonance_data::{self as data, read::BadRowPolicy};
use resonance_e2e::assert_same_ranking;
use resonance_e2e::fixture::{AS_OF, FEATURES, MODEL, fixture, publish};
use resonance_e2e::wrangler::{ADMIN_TOKEN, SERVICE_TOKEN, Wrangler};
use resonance_edge::rerank::ModelRef;
use resonance_edge::{FeatureSnapshot, MemorySource, Reranker, TractModel};
use resonance_featurestore::graphs;
use resonance_featurestore::views::{self as features, FeatureSet, ModelEmbeddings};
use resonance_interest::DEFAULT_SINCE_DAYS;
use resonance_registry::ModelArtifact;
use resonance_shared::api::{RerankResponse, parse_rerank_request};
use resonance_shared::keys::FeatureVersion;
use serde_json::{Value, json};

/// The native side: the same features, the same model, the same core.
struct Native {
    source: MemorySource,
    model: TractModel,
    set: FeatureSet,
}

fn native() -> Native {
    let f = fixture();
    let artifact = ModelArtifact::open(&f.models, Some(MODEL)).unwrap();
    let (dataset, _) = data::load(&f.data, BadRowPolicy::Stop).unwrap();
    let as_of = data::events_csv::parse_timestamp(AS_OF).unwrap();
    let mut set = features::compute(&dataset, as_of, Some(&ModelEmbeddings::of(&artifact)));
    // The fixture's publication gives every user an offline interest graph.
    graphs::attach_offline(&mut set, &dataset, as_of, DEFAULT_SINCE_DAYS);
    let version = FeatureVersion(FEATURES);
    // Layout 1 (embeddings inside): the native side needs no model keys, and the Worker's
    // layout-2 reads must give the same answers.
    let pairs: Vec<(String, String)> = set.stored_pairs(version, 1).collect();
    let source = MemorySource::from_kv(
        version,
        None,
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )
    .unwrap();
    let model = TractModel::from_onnx(&artifact.onnx).unwrap();
    Native { source, model, set }
}

/// The Worker's answer scores the user's interest graph: some candidates get interest
/// affinity, and without the graph the native core would rank with other heuristic parts.
fn assert_uses_interest_graph(
    user: &str,
    native: &Native,
    reranker: &Reranker,
    got: &RerankResponse,
    body: &str,
) {
    let graph = native
        .set
        .users
        .iter()
        .find(|(id, _)| id == user)
        .and_then(|(_, u)| u.interest_graph.as_ref())
        .expect("publish attached an interest graph");
    assert!(!graph.top_artists.is_empty(), "{user}: {graph:?}");
    let interest = |r: &resonance_shared::api::RankedTrack| r.explanation.unwrap().interest;
    assert!(got.ranked.iter().any(|r| interest(r) > 0.5), "{user}");
    let version = FeatureVersion(FEATURES);
    let mut without = native.set.clone();
    without
        .users
        .iter_mut()
        .for_each(|(_, u)| u.interest_graph = None);
    let pairs: Vec<(String, String)> = without.stored_pairs(version, 1).collect();
    let source = MemorySource::from_kv(
        version,
        None,
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )
    .unwrap();
    let request = parse_rerank_request(body.as_bytes()).unwrap();
    let model = ModelRef {
        version: MODEL,
        scorer: &native.model,
        mix: fixture().mix(),
    };
    let blind = block_on(reranker.rerank(&source, Some(model), &request, || 0.0))
        .unwrap()
        .response;
    assert!(blind.ranked.iter().all(|r| interest(r) == 0.0));
    let heuristic = |a: &RerankResponse, id: &str| {
        a.ranked
            .iter()
            .find(|r| r.track_id == id)
            .unwrap()
            .heuristic
    };
    assert!(
        got.ranked
            .iter()
            .any(|r| (r.heuristic - heuristic(&blind, &r.track_id)).abs() > 1e-3),
        "{user}: the graph changed no heuristic score"
    );
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::new()
}

fn post(worker: &Wrangler, path: &str, body: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = client()
        .post(format!("{}{path}", worker.url))
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer_of(request)
}

fn put(worker: &Wrangler, path: &str, body: Value) -> (u16, Value) {
    answer_of(
        client()
            .put(format!("{}{path}", worker.url))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body),
    )
}

fn answer_of(request: reqwest::blocking::RequestBuilder) -> (u16, Value) {
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text })),
    )
}

/// The first key under `prefix` in the Worker's KV (wrangler's own listing).
fn first_key(worker: &Wrangler, prefix: &str) -> String {
    let listed: Value =
        serde_json::from_str(&worker.kv_keys(prefix)).expect("wrangler lists keys as JSON");
    listed[0]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("a published key under {prefix}"))
        .to_string()
}

fn health(worker: &Wrangler) -> Value {
    answer_of(client().get(format!("{}/health", worker.url))).1
}

#[test]
fn the_worker_reranks_like_the_native_core() {
    let worker = Wrangler::start(&[("POINTER_CHECK_SECONDS", "0")]);
    let before = health(&worker);
    assert_eq!(before["modelLoaded"], false, "{before}");
    assert_eq!(before["featuresVersion"], Value::Null, "{before}");
    // Nothing published: the browser's reads say so.
    let (status, answer) = answer_of(client().get(format!("{}/v1/model", worker.url)));
    assert_eq!(
        (status, &answer["error"]["code"]),
        (404, &json!("model_not_loaded"))
    );
    let body = json!({"user_id": "u", "candidates": ["a"]}).to_string();
    let (status, answer) = post(&worker, "/v1/features", &body, Some(SERVICE_TOKEN));
    assert_eq!(
        (status, &answer["error"]["code"]),
        (404, &json!("features_not_published"))
    );

    publish(&worker);
    let after = health(&worker);
    assert_eq!(after["status"], "ok", "{after}");
    assert_eq!(after["modelLoaded"], true, "{after}");
    assert_eq!(after["modelVersion"], MODEL, "{after}");
    assert_eq!(after["featuresVersion"], FEATURES, "{after}");
    assert_eq!(after["gpuAvailable"], false, "{after}");

    let native = native();
    let reranker = Reranker::new(64, 1e12);
    let tracks: Vec<&str> = native
        .set
        .tracks
        .iter()
        .map(|(id, _)| id.as_str())
        .collect();
    let users: Vec<&str> = native
        .set
        .users
        .iter()
        .filter(|(_, u)| u.history.tracks.len() >= 5)
        .map(|(id, _)| id.as_str())
        .take(4)
        .collect();
    assert_eq!(users.len(), 4);
    let mut compared = 0;
    for (n, user) in users.iter().chain(["nobody-at-all"].iter()).enumerate() {
        // 100 candidates, one of them unknown to the store.
        let mut candidates: Vec<String> = (0..99)
            .map(|i| tracks[(n * 37 + i * 5) % tracks.len()].to_string())
            .collect();
        candidates.sort();
        candidates.dedup();
        candidates.push("no-such-track".into());
        let body = json!({
            "user_id": user, "candidates": candidates, "explain": true,
            "context": {"hour": 8 + n as u8, "weekday": 2, "device": "mobile"},
        })
        .to_string();
        // Twice: the second answer comes from the Worker's cached encoder state.
        for _repeat in 0..2 {
            let (status, got) = post(&worker, "/v1/rerank", &body, Some(SERVICE_TOKEN));
            assert_eq!(status, 200, "{got}");
            let got: RerankResponse = serde_json::from_value(got).unwrap();
            let request = parse_rerank_request(body.as_bytes()).unwrap();
            let expected = block_on(reranker.rerank(
                &native.source,
                Some(ModelRef {
                    version: MODEL,
                    scorer: &native.model,
                    mix: fixture().mix(),
                }),
                &request,
                || 0.0,
            ))
            .unwrap()
            .response;
            assert_eq!(got.backend, expected.backend);
            // A request without weights gets the model's own mix, tuned by `trainer eval`.
            assert_eq!(got.weights, fixture().mix(), "{user}");
            assert_same_ranking(user, &got, &expected, 1e-4);
            compared += got.ranked.len();
            if n < 4 {
                assert_uses_interest_graph(user, &native, &reranker, &got, &body);
            }
        }
        // What the browser does: read the features the rerank reads, rerank them itself.
        let (status, snapshot) = post(&worker, "/v1/features", &body, Some(SERVICE_TOKEN));
        assert_eq!(status, 200, "{snapshot}");
        let snapshot: FeatureSnapshot = serde_json::from_value(snapshot).unwrap();
        assert_eq!(snapshot.feature_version, FEATURES);
        assert_eq!(snapshot.users.len(), usize::from(n < 4), "{user}");
        let source = snapshot.into_source().unwrap();
        let request = parse_rerank_request(body.as_bytes()).unwrap();
        let model = ModelRef {
            version: MODEL,
            scorer: &native.model,
            mix: fixture().mix(),
        };
        let from_snapshot =
            block_on(Reranker::new(10, 1e9).rerank(&source, Some(model), &request, || 0.0))
                .unwrap()
                .response;
        let (_, worker_answer) = post(&worker, "/v1/rerank", &body, Some(SERVICE_TOKEN));
        let worker_answer: RerankResponse = serde_json::from_value(worker_answer).unwrap();
        assert_same_ranking(user, &from_snapshot, &worker_answer, 1e-4);
    }
    assert_eq!(compared, 2 * 5 * 100);

    // The graph the browser runs is the published one, byte for byte.
    let response = client()
        .get(format!("{}/v1/model", worker.url))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-model-version"], MODEL);
    let artifact = ModelArtifact::open(&fixture().models, Some(MODEL)).unwrap();
    let etag = format!(
        "\"{}\"",
        resonance_edge::publication::sha256_hex(&artifact.onnx)
    );
    assert_eq!(response.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(response.bytes().unwrap().as_ref(), artifact.onnx.as_slice());
}

fn chunk_pairs(version: &str, onnx: &[u8], chunks: &[Vec<u8>], sha256: &str) -> Value {
    let manifest = json!({
        "schema": 1, "model": "sasrec", "version": version, "created_at": "2026-11-26T00:00:00Z",
        "d_model": 32, "max_len": 20, "onnx_bytes": onnx.len(), "onnx_sha256": sha256,
        "chunks": onnx.len().div_ceil(512 * 1024), "metrics": null,
    });
    let mut pairs: Vec<Value> = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "key": format!("rsn:model:{version}:chunk:{i}"),
                "value": base64::engine::general_purpose::STANDARD.encode(c),
                "base64": true,
            })
        })
        .collect();
    pairs.push(
        json!({ "key": format!("rsn:model:{version}:manifest"), "value": manifest.to_string() }),
    );
    Value::Array(pairs)
}

#[test]
fn the_worker_refuses_bad_requests_naming_the_field() {
    let worker = Wrangler::start(&[("POINTER_CHECK_SECONDS", "0")]);
    publish(&worker);
    // Requests: each fault with its status and the field it names.
    let long_id = "x".repeat(200);
    let many: Vec<String> = (0..501).map(|i| format!("t{i}")).collect();
    let huge = format!(
        "{{\"user_id\":\"u\",\"candidates\":[\"{}\"]}}",
        "y".repeat(140_000)
    );
    let cases: Vec<(String, u16, Option<&str>)> = vec![
        ("{not json".into(), 400, None),
        (
            json!({"candidates": ["a"]}).to_string(),
            422,
            Some("user_id"),
        ),
        (
            json!({"user_id": 5, "candidates": ["a"]}).to_string(),
            422,
            Some("user_id"),
        ),
        (
            json!({"user_id": "u", "candidates": []}).to_string(),
            422,
            Some("candidates"),
        ),
        (
            json!({"user_id": "u", "candidates": ["a", "b", "a"]}).to_string(),
            422,
            Some("candidates[2]"),
        ),
        (
            json!({"user_id": "u", "candidates": many}).to_string(),
            413,
            Some("candidates"),
        ),
        (
            json!({"user_id": long_id, "candidates": ["a"]}).to_string(),
            422,
            Some("user_id"),
        ),
        (
            json!({"user_id": "u", "candidates": ["a"], "limit": 0}).to_string(),
            422,
            Some("limit"),
        ),
        (
            json!({"user_id": "u", "candidates": ["a"], "surprise": 1}).to_string(),
            422,
            None,
        ),
        (huge, 413, None),
    ];
    // The features endpoint takes the same body and validates it the same way.
    for path in ["/v1/rerank", "/v1/features"] {
        for (body, status, field) in &cases {
            let (got, answer) = post(&worker, path, body, Some(SERVICE_TOKEN));
            let shown: String = body.chars().take(80).collect();
            assert_eq!(got, *status, "{path} {shown}: {answer}");
            assert!(answer["error"]["code"].is_string(), "{shown}: {answer}");
            if let Some(field) = field {
                assert_eq!(answer["error"]["field"], *field, "{shown}: {answer}");
            }
        }
    }
    let (status, _) = answer_of(client().get(format!("{}/nowhere", worker.url)));
    assert_eq!(status, 404);
    let (status, _) = answer_of(client().get(format!("{}/v1/rerank", worker.url)));
    assert_eq!(status, 405);
    let (status, _) = post(&worker, "/v1/model", "{}", None);
    assert_eq!(status, 405);
    let preflight = client()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/rerank", worker.url),
        )
        .header("Origin", "http://localhost:3000")
        .send()
        .unwrap();
    assert_eq!(preflight.status().as_u16(), 204);
    assert!(
        preflight.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
}

#[test]
fn admin_writes_need_the_token_and_a_bad_batch_is_refused_whole() {
    let worker = Wrangler::start(&[("POINTER_CHECK_SECONDS", "0")]);
    publish(&worker);
    // Admin: no token, a wrong token, a wrong scheme.
    let one = json!([{"key": "rsn:current", "value": "7"}]).to_string();
    for token in [None, Some("wrong"), Some("")] {
        let (status, answer) = post(&worker, "/admin/kv/bulk", &one, token);
        assert_eq!(status, 401, "{token:?}: {answer}");
    }
    // A bulk delete with a bad token deletes nothing (read from wrangler's local KV itself).
    let key = first_key(&worker, &format!("rsn:v{FEATURES}:user:"));
    let held = |worker: &Wrangler| worker.kv_keys(&key).contains(&format!("\"{key}\""));
    assert!(held(&worker), "{key} is published");
    for token in [None, Some("wrong")] {
        let body = json!([&key]).to_string();
        let (status, answer) = post(&worker, "/admin/kv/bulk/delete", &body, token);
        assert_eq!(status, 401, "{token:?}: {answer}");
    }
    assert!(held(&worker), "a refused delete deleted nothing");

    // A batch with one bad value is refused whole: its good first pair is not written either.
    let newcomer =
        resonance_shared::features::encode(&resonance_shared::features::UserFeatures::default());
    let batch = json!([
        {"key": "rsn:v7:user:newcomer", "value": newcomer},
        {"key": "rsn:v7:track:bad", "value": "{\"schema\":1,\"audio\":{}}"},
    ]);
    let (status, answer) = post(
        &worker,
        "/admin/kv/bulk",
        &batch.to_string(),
        Some(ADMIN_TOKEN),
    );
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["field"]
            .as_str()
            .unwrap()
            .starts_with("[1].value"),
        "{answer}"
    );
    let (_, rerank) = post(
        &worker,
        "/v1/rerank",
        &json!({"user_id": "newcomer", "candidates": ["a"]}).to_string(),
        Some(SERVICE_TOKEN),
    );
    assert_eq!(rerank["degraded"]["unknown_user"], true, "{rerank}");
}

#[test]
fn a_damaged_or_missing_model_is_refused_and_the_last_good_one_keeps_serving() {
    let worker = Wrangler::start(&[("POINTER_CHECK_SECONDS", "0")]);
    publish(&worker);
    let f = fixture();
    let artifact = ModelArtifact::open(&f.models, Some(MODEL)).unwrap();
    let user = &native().set.users[0].0.clone();
    // A model whose chunk is damaged, and one whose chunk is missing: refused by the switch.
    let onnx = &artifact.onnx;
    let sha = resonance_edge::publication::sha256_hex(onnx);
    let mut damaged = onnx.clone();
    damaged[onnx.len() / 2] ^= 0xff;
    let chunks = |bytes: &[u8]| {
        bytes
            .chunks(512 * 1024)
            .map(<[u8]>::to_vec)
            .collect::<Vec<_>>()
    };
    let (status, answer) = post(
        &worker,
        "/admin/kv/bulk",
        &chunk_pairs("w-bad", onnx, &chunks(&damaged), &sha).to_string(),
        Some(ADMIN_TOKEN),
    );
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = put(&worker, "/admin/model/staged", json!({"version": "w-bad"}));
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("checksum"),
        "{answer}"
    );
    let (status, answer) = put(
        &worker,
        "/admin/model/staged",
        json!({"version": "w-never"}),
    );
    assert_eq!(status, 404, "{answer}");
    if onnx.len() > 512 * 1024 {
        let mut partial = chunks(onnx);
        partial.pop();
        post(
            &worker,
            "/admin/kv/bulk",
            &chunk_pairs("w-short", onnx, &partial, &sha).to_string(),
            Some(ADMIN_TOKEN),
        );
        let (status, answer) = put(
            &worker,
            "/admin/model/staged",
            json!({"version": "w-short"}),
        );
        assert_eq!(status, 422, "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("missing"),
            "{answer}"
        );
    }
    assert_eq!(health(&worker)["modelVersion"], MODEL);

    // A pointer cannot be written through the bulk endpoint (422, nothing written); a feature
    // version whose meta names the damaged model cannot go live, and the state serving stays.
    let sneaky = json!([{"key": "rsn:current", "value": "999"}]).to_string();
    let (status, answer) = post(&worker, "/admin/kv/bulk", &sneaky, Some(ADMIN_TOKEN));
    assert_eq!(
        (status, &answer["error"]["field"]),
        (422, &json!("[0].key")),
        "{answer}"
    );
    let meta = json!({"version": 999, "as_of": "2026-12-01T00:00:00Z", "created_at": "2026-12-01T00:00:00Z",
                      "users": 0, "tracks": 0, "model_version": "w-bad"});
    let pairs = json!([{"key": "rsn:v999:meta", "value": meta.to_string()}]).to_string();
    assert_eq!(
        post(&worker, "/admin/kv/bulk", &pairs, Some(ADMIN_TOKEN)).0,
        200
    );
    let (status, answer) = put(&worker, "/admin/features/current", json!({"version": 999}));
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("needs model w-bad"),
        "{answer}"
    );
    let state = health(&worker);
    assert_eq!(state["modelVersion"], MODEL, "{state}");
    assert_eq!(state["featuresVersion"], FEATURES, "{state}");
    assert_eq!(state["status"], "ok", "{state}");
    // Neither the live meta nor the live model's keys can be deleted.
    for key in [
        format!("rsn:v{FEATURES}:meta"),
        format!("rsn:model:{MODEL}:manifest"),
    ] {
        let (status, answer) = post(
            &worker,
            "/admin/kv/bulk/delete",
            &json!([key]).to_string(),
            Some(ADMIN_TOKEN),
        );
        assert_eq!(status, 422, "{key}: {answer}");
    }
    let (status, rerank) = post(
        &worker,
        "/v1/rerank",
        &json!({"user_id": user, "candidates": [&native().set.tracks[0].0]}).to_string(),
        Some(SERVICE_TOKEN),
    );
    assert_eq!(status, 200, "{rerank}");
    assert_eq!(rerank["model_version"], MODEL, "{rerank}");
    assert_eq!(rerank["features_version"], FEATURES, "{rerank}");
}

/// Pointers are checked where they are read: a switch through the Worker, and a pointer
/// written behind its back into its KV (as Cloudflare's REST API does, no Worker code in the
/// path) that names a version never completed, or one of a layout this Worker does not read
/// (data from a newer trainer: the upgrade's reverse order). The Worker keeps serving what it
/// served, and `/health` says that what is live cannot be served, and why.
#[test]
fn an_incomplete_or_unreadable_feature_version_cannot_go_live() {
    let worker = Wrangler::start(&[("POINTER_CHECK_SECONDS", "0")]);
    publish(&worker);
    // A feature version that was never completed cannot go live.
    let (status, answer) = put(&worker, "/admin/features/current", json!({"version": 99}));
    assert_eq!(status, 404, "{answer}");
    assert_eq!(health(&worker)["featuresVersion"], FEATURES);

    let newer = FeatureVersion(FEATURES + 1);
    let meta = worker.kv_get(&FeatureVersion(FEATURES).meta_key());
    // The live version's meta, as a newer trainer would write it for the next version.
    let from_a_newer_trainer = meta.replace("\"layout\":2", "\"layout\":4").replace(
        &format!("\"version\":{FEATURES},"),
        &format!("\"version\":{newer},"),
    );
    assert_ne!(meta, from_a_newer_trainer, "{meta}");
    worker.kv_put(&newer.meta_key(), &from_a_newer_trainer);
    // A published listener and track, read from the Worker's KV (no need to recompute them).
    let prefix = FeatureVersion(FEATURES).prefix();
    let id = |kind: &str| {
        let key = first_key(&worker, &format!("{prefix}{kind}:"));
        key.rsplit(':').next().unwrap().to_string()
    };
    let body = json!({"user_id": id("user"), "candidates": [id("track")]}).to_string();
    for (pointer, why) in [("99", "99"), (&newer.0.to_string()[..], "layout 4")] {
        worker.kv_put("rsn:current", pointer);
        let (status, rerank) = post(&worker, "/v1/rerank", &body, Some(SERVICE_TOKEN));
        assert_eq!(status, 200, "{rerank}");
        assert_eq!(
            rerank["features_version"], FEATURES,
            "rsn:current = {pointer}: {rerank}"
        );
        assert_eq!(rerank["model_version"], MODEL, "{rerank}");
        let state = health(&worker);
        assert_eq!(
            state["status"], "degraded",
            "rsn:current = {pointer}: {state}"
        );
        assert_eq!(state["featuresVersion"], FEATURES, "{state}");
        let error = state["modelError"].as_str().unwrap_or_default();
        assert!(error.contains(why), "rsn:current = {pointer}: {state}");
    }
    // The pointer back on what it serves: healthy again.
    worker.kv_put("rsn:current", &FEATURES.to_string());
    post(&worker, "/v1/rerank", &body, Some(SERVICE_TOKEN));
    assert_eq!(health(&worker)["status"], "ok");
}

#[test]
fn without_its_kv_the_worker_answers_503_with_a_reason() {
    let worker = Wrangler::start_without_kv();
    let body = json!({"user_id": "u", "candidates": ["a"]}).to_string();
    let (status, answer) = post(&worker, "/v1/rerank", &body, Some(SERVICE_TOKEN));
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"]["code"], "kv_unavailable", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("FEATURES"),
        "{answer}"
    );
    let (status, _) = answer_of(client().get(format!("{}/health", worker.url)));
    assert_eq!(status, 503);
}
