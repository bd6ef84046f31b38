//! What JavaScript sees: one class.
//!
//! ```js
//! const reranker = await BrowserReranker.load(onnxBytes, "v3");
//! reranker.engine;            // "webgpu" or "tract-cpu", as this module was built
//! reranker.setFeatures(json); // a FeatureSnapshot (POST /v1/features, or the bundled one)
//! const answer = JSON.parse(await reranker.rerank(requestJson)); // as POST /v1/rerank answers
//! ```
//!
//! Errors are thrown as `Error`s whose message names the field or the cause. Methods take
//! `&self` and hand out a Promise over shared state, so a page may start a rerank while the
//! previous one is still on the GPU.

use std::cell::RefCell;
use std::rc::Rc;

use resonance_edge::rerank::ModelRef;
use resonance_edge::{FeatureSnapshot, MemorySource, Reranker};
use resonance_shared::api;
use wasm_bindgen::prelude::*;

use crate::engine::{self, Engine};

/// Encoder states kept per page (one per recent history), and for how long.
const STATE_CACHE_ENTRIES: usize = 256;
const STATE_CACHE_MS: f64 = 60_000.0;

struct Inner {
    engine: Engine,
    model_version: String,
    reranker: Reranker,
    features: RefCell<Rc<MemorySource>>,
}

#[wasm_bindgen]
pub struct BrowserReranker {
    inner: Rc<Inner>,
}

#[wasm_bindgen]
impl BrowserReranker {
    /// Loads `onnx` (the published graph) on this module's engine.
    pub async fn load(onnx: Vec<u8>, model_version: String) -> Result<BrowserReranker, JsError> {
        let engine = engine::load(&onnx)
            .await
            .map_err(|e| JsError::new(&format!("the model cannot be loaded: {e}")))?;
        Ok(BrowserReranker {
            inner: Rc::new(Inner {
                engine,
                model_version,
                reranker: Reranker::new(STATE_CACHE_ENTRIES, STATE_CACHE_MS),
                features: RefCell::new(Rc::new(MemorySource::default())),
            }),
        })
    }

    /// `webgpu` or `tract-cpu`.
    #[wasm_bindgen(getter)]
    pub fn engine(&self) -> String {
        use resonance_edge::SequenceScorer;
        self.inner.engine.backend().to_string()
    }

    #[wasm_bindgen(getter, js_name = modelVersion)]
    pub fn model_version(&self) -> String {
        self.inner.model_version.clone()
    }

    /// Replaces the features with a snapshot (JSON); returns how many users and tracks it
    /// holds. Every value is decoded and checked now, so a bad snapshot fails here, by name.
    #[wasm_bindgen(js_name = setFeatures)]
    pub fn set_features(&self, snapshot_json: &str) -> Result<Vec<u32>, JsError> {
        let source = FeatureSnapshot::parse(snapshot_json)
            .and_then(FeatureSnapshot::into_source)
            .map_err(|e| JsError::new(&e.to_string()))?;
        let counts = vec![source.users.len() as u32, source.tracks.len() as u32];
        *self.inner.features.borrow_mut() = Rc::new(source);
        Ok(counts)
    }

    /// Reranks a request (the JSON body of `POST /v1/rerank`) against the current features;
    /// resolves to the answer's JSON, or rejects with the API error's JSON.
    pub fn rerank(&self, request_json: String) -> js_sys::Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let request = api::parse_rerank_request(request_json.as_bytes())
                .map_err(|e| JsValue::from(JsError::new(&e.body())))?;
            let features = inner.features.borrow().clone();
            let model = ModelRef {
                version: &inner.model_version,
                scorer: &inner.engine,
            };
            let outcome = inner
                .reranker
                .rerank(features.as_ref(), Some(model), &request, now_ms)
                .await
                .map_err(|e| JsValue::from(JsError::new(&edge_error_body(e))))?;
            serde_json::to_string(&outcome.response)
                .map(|json| JsValue::from_str(&json))
                .map_err(|e| JsValue::from(JsError::new(&e.to_string())))
        })
    }

    /// A listener's stored history, oldest first, as JSON `[{"trackId", "mood"}]` (mood is
    /// `null` for a track the features lack); `[]` for an unknown listener.
    pub fn history(&self, user_id: &str) -> String {
        let features = self.inner.features.borrow().clone();
        let history: Vec<serde_json::Value> = features
            .users
            .get(user_id)
            .map(|u| u.history.tracks.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|id| {
                let mood = features.tracks.get(id).map(|t| t.audio.mood());
                serde_json::json!({ "trackId": id, "mood": mood })
            })
            .collect();
        serde_json::Value::from(history).to_string()
    }

    /// Forgets cached encoder states, so the next rerank runs the model (benchmarks).
    #[wasm_bindgen(js_name = clearStates)]
    pub fn clear_states(&self) {
        self.inner.reranker.clear_states();
    }
}

/// `performance.now()`, or the date's milliseconds where there is no `performance`.
fn now_ms() -> f64 {
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &"performance".into())
        .ok()
        .and_then(|performance| {
            let now = js_sys::Reflect::get(&performance, &"now".into()).ok()?;
            let now: js_sys::Function = now.dyn_into().ok()?;
            now.call0(&performance).ok()?.as_f64()
        })
        .unwrap_or_else(js_sys::Date::now)
}

/// The error envelope's JSON for a core error (the page reads it as it reads the Worker's).
fn edge_error_body(e: resonance_edge::EdgeError) -> String {
    match e {
        resonance_edge::EdgeError::Invalid(field) => api::ApiError::invalid(field).body(),
        other => api::ApiError::new(503, other.code(), other.to_string()).body(),
    }
}
