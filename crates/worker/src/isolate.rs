//! What an isolate keeps between requests: the loaded model, the live feature version, and
//! bounded, expiring caches of decoded features and encoder states.
//!
//! Pointers (`rsn:model:current`, `rsn:current`) are re-read at most every
//! `POINTER_CHECK_SECONDS`; a new model is loaded, verified and swapped in without dropping
//! the old one until the new one works. A broken publication leaves the previous model
//! serving and its reason in `/health`.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use futures_util::future::join_all;
use resonance_edge::cache::TtlCache;
use resonance_edge::publication::{self, PublicationError};
use resonance_edge::{Reranker, SequenceScorer, TractModel};
use resonance_shared::features::{TrackFeatures, UserFeatures};
use resonance_shared::keys::{self, FeatureVersion};
use worker::kv::KvStore;
use worker::{Env, console_log};

/// The KV binding holding features and models.
pub const KV_BINDING: &str = "FEATURES";
/// KV's edge cache for reads, in seconds (60 is Cloudflare's minimum).
pub const KV_CACHE_TTL_SECONDS: u64 = 60;

const FEATURE_CACHE_ENTRIES: usize = 50_000;
const STATE_CACHE_ENTRIES: usize = 10_000;

pub struct LoadedModel {
    pub version: String,
    pub model: TractModel,
    /// The verified graph, served to browsers by `GET /v1/model`.
    pub onnx: Vec<u8>,
    pub sha256: String,
}

#[derive(Default)]
pub struct ModelSlot {
    pub loaded: Option<Rc<LoadedModel>>,
    pub checked_at: Option<f64>,
    /// Why the newest pointer's model is not the one serving.
    pub error: Option<String>,
}

#[derive(Default)]
pub struct FeatureSlot {
    pub version: Option<FeatureVersion>,
    pub checked_at: Option<f64>,
}

/// Tunables from `[vars]` in wrangler.toml.
#[derive(Clone, Copy)]
pub struct Settings {
    pub pointer_check_ms: f64,
}

impl Settings {
    pub fn from_env(env: &Env) -> Self {
        let seconds = |name: &str, default: f64| {
            env.var(name)
                .ok()
                .and_then(|v| v.to_string().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .unwrap_or(default)
        };
        Self {
            pointer_check_ms: seconds("POINTER_CHECK_SECONDS", 5.0) * 1000.0,
        }
    }
}

pub struct Isolate {
    pub reranker: Reranker,
    pub model: RefCell<ModelSlot>,
    pub features: RefCell<FeatureSlot>,
    pub users: RefCell<TtlCache<String, Option<Arc<UserFeatures>>>>,
    pub tracks: RefCell<TtlCache<String, Option<Arc<TrackFeatures>>>>,
}

/// How long decoded features stay in the isolate: as long as KV's own edge cache.
const FEATURE_CACHE_MS: f64 = KV_CACHE_TTL_SECONDS as f64 * 1000.0;

thread_local! {
    static ISOLATE: Rc<Isolate> = Rc::new(Isolate::new(FEATURE_CACHE_MS));
}

/// This isolate's state.
pub fn get() -> Rc<Isolate> {
    ISOLATE.with(Rc::clone)
}

impl Isolate {
    fn new(ttl_ms: f64) -> Self {
        Self {
            reranker: Reranker::new(STATE_CACHE_ENTRIES, 10.0 * ttl_ms),
            model: RefCell::default(),
            features: RefCell::default(),
            users: RefCell::new(TtlCache::new(FEATURE_CACHE_ENTRIES, ttl_ms)),
            tracks: RefCell::new(TtlCache::new(FEATURE_CACHE_ENTRIES, ttl_ms)),
        }
    }

    /// Forgets cached features and pointer reads (after an admin write).
    pub fn invalidate(&self) {
        self.users.borrow_mut().clear();
        self.tracks.borrow_mut().clear();
        self.features.borrow_mut().checked_at = None;
        self.model.borrow_mut().checked_at = None;
    }

    /// The live feature version, re-reading the pointer when the last read is old. A failed
    /// read keeps the version already known; with none known it is an error.
    pub async fn feature_version(
        &self,
        kv: &KvStore,
        settings: &Settings,
        now: f64,
    ) -> Result<Option<FeatureVersion>, String> {
        {
            let slot = self.features.borrow();
            if slot
                .checked_at
                .is_some_and(|t| now - t < settings.pointer_check_ms)
            {
                return Ok(slot.version);
            }
        }
        match kv.get(keys::CURRENT_FEATURES).text().await {
            Ok(pointer) => {
                let version = match pointer {
                    Some(text) => {
                        Some(FeatureVersion::parse_pointer(&text).map_err(|e| e.to_string())?)
                    }
                    None => None,
                };
                let mut slot = self.features.borrow_mut();
                slot.version = version;
                slot.checked_at = Some(now);
                Ok(version)
            }
            Err(e) => {
                let slot = self.features.borrow();
                match slot.version {
                    Some(v) => Ok(Some(v)),
                    None => Err(format!("cannot read {}: {e}", keys::CURRENT_FEATURES)),
                }
            }
        }
    }

    /// The model to serve with, loading the one the pointer names when it changed.
    pub async fn current_model(
        &self,
        kv: &KvStore,
        settings: &Settings,
        now: f64,
    ) -> Option<Rc<LoadedModel>> {
        {
            let slot = self.model.borrow();
            if slot
                .checked_at
                .is_some_and(|t| now - t < settings.pointer_check_ms)
            {
                return slot.loaded.clone();
            }
        }
        self.model.borrow_mut().checked_at = Some(now);
        let pointer = match kv.get(keys::CURRENT_MODEL).text().await {
            Ok(Some(version)) => version,
            Ok(None) => return self.model.borrow().loaded.clone(),
            Err(e) => {
                console_log!(
                    "cannot read {}: {e}; keeping the loaded model",
                    keys::CURRENT_MODEL
                );
                return self.model.borrow().loaded.clone();
            }
        };
        let current = self.model.borrow().loaded.clone();
        if current.as_ref().is_some_and(|m| m.version == pointer) {
            return current;
        }
        match load_model(kv, &pointer).await {
            Ok(model) => self.install(model),
            Err(e) => {
                let serving = current
                    .as_ref()
                    .map_or("no model".to_string(), |m| format!("model {}", m.version));
                let message = format!("{e}; still serving {serving}");
                console_log!("{message}");
                self.model.borrow_mut().error = Some(message);
                current
            }
        }
    }

    /// Makes `model` the one serving.
    pub fn install(&self, model: LoadedModel) -> Option<Rc<LoadedModel>> {
        let model = Rc::new(model);
        let mut slot = self.model.borrow_mut();
        slot.loaded = Some(model.clone());
        slot.error = None;
        self.reranker.clear_states();
        Some(model)
    }
}

/// Reads a published model's manifest and chunks (concurrently), verifies the checksum and
/// builds the tract plan.
pub async fn load_model(kv: &KvStore, version: &str) -> Result<LoadedModel, PublicationError> {
    let manifest = kv
        .get(&keys::model_manifest_key(version))
        .text()
        .await
        .ok()
        .flatten()
        .ok_or_else(|| PublicationError::NotPublished {
            version: version.to_string(),
        })?;
    let published = publication::parse_manifest(version, &manifest)?;
    let chunks = join_all((0..published.chunks).map(|i| {
        let key = keys::model_chunk_key(version, i);
        async move { kv.get(&key).bytes().await.ok().flatten() }
    }))
    .await;
    let onnx = publication::assemble(&published, chunks)?;
    let model = TractModel::from_onnx(&onnx).map_err(|e| PublicationError::BadManifest {
        version: version.to_string(),
        message: e.to_string(),
    })?;
    if model.d_model() != published.d_model || model.max_len() != published.max_len {
        return Err(PublicationError::BadManifest {
            version: version.to_string(),
            message: format!(
                "the graph has L = {}, d = {}; the manifest says {} and {}",
                model.max_len(),
                model.d_model(),
                published.max_len,
                published.d_model
            ),
        });
    }
    Ok(LoadedModel {
        version: version.to_string(),
        model,
        onnx,
        sha256: published.onnx_sha256,
    })
}
