//! What an isolate keeps between requests, and every operation the Worker's routes run on it:
//! the loaded model, the live feature version, bounded and expiring caches of decoded
//! features and encoder states.
//!
//! Pointers (`rsn:model:current`, `rsn:current`) are re-read at most every
//! [`Settings::pointer_check_ms`]; a new model is loaded, verified and swapped in without
//! dropping the old one until the new one works. A broken publication leaves the previous
//! model serving and its reason in `/health`. Everything here is generic over [`Kv`], so the
//! Worker runs it on its KV binding and the native tests on [`crate::kv::MemoryKv`].

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::future::{join, join_all};
use resonance_shared::api::{HealthResponse, RerankRequest, RerankResponse};
use resonance_shared::keys::{self, FeatureVersion};
use resonance_shared::validate::FieldError;

use crate::admin::{KvValue, ValidatedWrite};
use crate::error::EdgeError;
use crate::kv::Kv;
use crate::kv_source::{FeatureCaches, KV_CACHE_TTL_SECONDS, KvSource};
use crate::model::SequenceScorer;
use crate::publication::{self, PublicationError};
use crate::rerank::{ModelRef, Reranker, gather};
use crate::snapshot::FeatureSnapshot;
use crate::tract::TractModel;

const FEATURE_CACHE_ENTRIES: usize = 50_000;
const STATE_CACHE_ENTRIES: usize = 10_000;
/// KV writes in flight at once during a bulk write.
const WRITE_CONCURRENCY: usize = 50;
/// How long decoded features stay in the isolate: as long as KV's own edge cache.
pub const FEATURE_CACHE_MS: f64 = KV_CACHE_TTL_SECONDS as f64 * 1000.0;

/// A model that loaded and verified.
pub struct LoadedModel {
    /// The version it was published as.
    pub version: String,
    /// The tract plan.
    pub model: TractModel,
    /// The verified graph, served to browsers by `GET /v1/model`.
    pub onnx: Vec<u8>,
    /// SHA-256 of `onnx`, hex.
    pub sha256: String,
}

/// The model this isolate serves, and when its pointer was read.
#[derive(Default)]
pub struct ModelSlot {
    /// The model serving.
    pub loaded: Option<Rc<LoadedModel>>,
    /// When the pointer was last read (ms).
    pub checked_at: Option<f64>,
    /// Why the newest pointer's model is not the one serving.
    pub error: Option<String>,
}

/// The live feature version, and when its pointer was read.
#[derive(Default)]
pub struct FeatureSlot {
    /// The version read.
    pub version: Option<FeatureVersion>,
    /// When the pointer was last read (ms).
    pub checked_at: Option<f64>,
}

/// Tunables (the Worker's `[vars]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// How long a pointer read is trusted, in milliseconds.
    pub pointer_check_ms: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            pointer_check_ms: 5_000.0,
        }
    }
}

/// One isolate's state.
pub struct Isolate {
    /// The rerank core with its encoder-state cache.
    pub reranker: Reranker,
    /// The model serving.
    pub model: RefCell<ModelSlot>,
    /// The live feature version.
    pub features: RefCell<FeatureSlot>,
    /// Decoded feature values.
    pub caches: FeatureCaches,
    /// Where the isolate says what it did (the Worker's console).
    pub log: fn(&str),
}

/// The live state a read route works with.
pub struct Live {
    /// The live feature version (`None`: nothing published).
    pub version: Option<FeatureVersion>,
    /// The model serving.
    pub model: Option<Rc<LoadedModel>>,
}

impl Default for Isolate {
    fn default() -> Self {
        Isolate::new(FEATURE_CACHE_MS, |_| {})
    }
}

impl Isolate {
    /// An isolate whose feature values live `ttl_ms`, logging to `log`.
    pub fn new(ttl_ms: f64, log: fn(&str)) -> Self {
        Self {
            reranker: Reranker::new(STATE_CACHE_ENTRIES, 10.0 * ttl_ms),
            model: RefCell::default(),
            features: RefCell::default(),
            caches: FeatureCaches::new(FEATURE_CACHE_ENTRIES, ttl_ms),
            log,
        }
    }

    /// Forgets cached features and pointer reads (after an admin write).
    pub fn invalidate(&self) {
        self.caches.clear();
        self.features.borrow_mut().checked_at = None;
        self.model.borrow_mut().checked_at = None;
    }

    /// The live feature version, re-reading the pointer when the last read is old. A failed
    /// read keeps the version already known; with none known it is an error.
    pub async fn feature_version<K: Kv>(
        &self,
        kv: &K,
        settings: &Settings,
        now: f64,
    ) -> Result<Option<FeatureVersion>, EdgeError> {
        {
            let slot = self.features.borrow();
            if slot
                .checked_at
                .is_some_and(|t| now - t < settings.pointer_check_ms)
            {
                return Ok(slot.version);
            }
        }
        match kv.get_text(keys::CURRENT_FEATURES, None).await {
            Ok(pointer) => {
                let version = match pointer {
                    Some(text) => Some(
                        FeatureVersion::parse_pointer(&text)
                            .map_err(|e| EdgeError::FeaturesUnavailable(e.to_string()))?,
                    ),
                    None => None,
                };
                let mut slot = self.features.borrow_mut();
                slot.version = version;
                slot.checked_at = Some(now);
                Ok(version)
            }
            Err(e) => match self.features.borrow().version {
                Some(v) => Ok(Some(v)),
                None => Err(EdgeError::FeaturesUnavailable(format!(
                    "cannot read {}: {e}",
                    keys::CURRENT_FEATURES
                ))),
            },
        }
    }

    /// The model to serve with, loading the one the pointer names when it changed.
    pub async fn current_model<K: Kv>(
        &self,
        kv: &K,
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
        let pointer = match kv.get_text(keys::CURRENT_MODEL, None).await {
            Ok(Some(version)) => version,
            Ok(None) => return self.model.borrow().loaded.clone(),
            Err(e) => {
                (self.log)(&format!(
                    "cannot read {}: {e}; keeping the loaded model",
                    keys::CURRENT_MODEL
                ));
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
                (self.log)(&message);
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

    /// The live feature version and model, both pointers read concurrently.
    pub async fn live<K: Kv>(
        &self,
        kv: &K,
        settings: &Settings,
        now: f64,
    ) -> Result<Live, EdgeError> {
        let (version, model) = join(
            self.feature_version(kv, settings, now),
            self.current_model(kv, settings, now),
        )
        .await;
        Ok(Live {
            version: version?,
            model,
        })
    }

    /// Reranks `request` with the live state. `clock` gives milliseconds.
    pub async fn rerank<K: Kv>(
        &self,
        kv: &K,
        settings: &Settings,
        request: &RerankRequest,
        clock: impl Fn() -> f64,
    ) -> Result<RerankResponse, EdgeError> {
        let now = clock();
        let live = self.live(kv, settings, now).await?;
        let model_ref = live.model.as_deref().map(|m| ModelRef {
            version: &m.version,
            scorer: &m.model,
        });
        let source = self.source(kv, live.version, now);
        let outcome = self
            .reranker
            .rerank(&source, model_ref, request, clock)
            .await?;
        Ok(outcome.response)
    }

    /// What a rerank of `request` would read, as a snapshot the browser module reranks from.
    pub async fn features<K: Kv>(
        &self,
        kv: &K,
        settings: &Settings,
        request: &RerankRequest,
        now: f64,
    ) -> Result<FeatureSnapshot, EdgeError> {
        let live = self.live(kv, settings, now).await?;
        let version = live.version.ok_or(EdgeError::FeaturesNotPublished)?;
        let candidates: Vec<&str> = request.candidates.iter().map(String::as_str).collect();
        let max_len = live
            .model
            .as_ref()
            .map_or(usize::MAX, |m| m.model.max_len());
        let source = self.source(kv, live.version, now);
        let gathered = gather(&source, &request.user_id, &candidates, max_len).await?;
        Ok(FeatureSnapshot::from_gathered(
            version,
            &request.user_id,
            &gathered,
        ))
    }

    /// The live model, or why there is none.
    pub async fn model<K: Kv>(
        &self,
        kv: &K,
        settings: &Settings,
        now: f64,
    ) -> Result<Rc<LoadedModel>, EdgeError> {
        self.current_model(kv, settings, now)
            .await
            .ok_or(EdgeError::ModelNotLoaded)
    }

    /// What `/health` says.
    pub async fn health<K: Kv>(&self, kv: &K, settings: &Settings, now: f64) -> HealthResponse {
        let model = self.current_model(kv, settings, now).await;
        let features = self.feature_version(kv, settings, now).await;
        let model_error = self.model.borrow().error.clone();
        let status = if features.is_err() { "degraded" } else { "ok" };
        HealthResponse {
            status: status.into(),
            gpu_available: false,
            model_loaded: model.is_some(),
            model_version: model.map(|m| m.version.clone()),
            features_version: features.ok().flatten().map(|v| v.0),
            model_error,
            // The Worker adds its access configuration's problems.
            access_problems: Vec::new(),
        }
    }

    /// Deletes validated keys, [`WRITE_CONCURRENCY`] at a time, and drops this isolate's
    /// caches (so it stops serving them at once; others within the cache TTL); returns how many.
    pub async fn bulk_delete<K: Kv>(&self, kv: &K, keys: &[String]) -> Result<usize, EdgeError> {
        for batch in keys.chunks(WRITE_CONCURRENCY) {
            let results = join_all(batch.iter().map(|k| kv.delete(k))).await;
            if let Some((k, Err(e))) = batch.iter().zip(results).find(|(_, r)| r.is_err()) {
                return Err(EdgeError::KvUnavailable(format!(
                    "deleting {k} failed: {e}; the batch may be partly deleted, retry it"
                )));
            }
        }
        self.invalidate();
        Ok(keys.len())
    }

    /// Stores validated writes, [`WRITE_CONCURRENCY`] at a time; returns how many.
    pub async fn bulk_write<K: Kv>(
        &self,
        kv: &K,
        writes: &[ValidatedWrite],
    ) -> Result<usize, EdgeError> {
        for batch in writes.chunks(WRITE_CONCURRENCY) {
            let results = join_all(batch.iter().map(|w| {
                let bytes = match &w.value {
                    KvValue::Text(text) => text.as_bytes(),
                    KvValue::Bytes(bytes) => bytes.as_slice(),
                };
                kv.put(&w.key, bytes, w.expiration_ttl)
            }))
            .await;
            if let Some((w, Err(e))) = batch.iter().zip(results).find(|(_, r)| r.is_err()) {
                return Err(EdgeError::KvUnavailable(format!(
                    "writing {} failed: {e}; the batch may be partly written, retry it",
                    w.key
                )));
            }
        }
        self.invalidate();
        Ok(writes.len())
    }

    /// Verifies model `version`, then points the KV at it and serves it: the pointer only ever
    /// names a model that loads.
    pub async fn switch_model<K: Kv>(
        &self,
        kv: &K,
        version: &str,
        now: f64,
    ) -> Result<(), EdgeError> {
        keys::validate_model_version(version).map_err(EdgeError::Invalid)?;
        let model = load_model(kv, version).await.map_err(|e| match e {
            PublicationError::NotPublished { .. } => EdgeError::ModelNotFound(e.to_string()),
            other => EdgeError::ModelInvalid(other.to_string()),
        })?;
        write_pointer(kv, keys::CURRENT_MODEL, version).await?;
        self.install(model);
        self.model.borrow_mut().checked_at = Some(now);
        Ok(())
    }

    /// Points the KV at feature version `version` when it is complete (its meta is there).
    pub async fn switch_features<K: Kv>(&self, kv: &K, version: u64) -> Result<(), EdgeError> {
        if version == 0 {
            return Err(EdgeError::Invalid(FieldError::new(
                "version",
                "must be positive",
            )));
        }
        let version = FeatureVersion(version);
        let key = version.meta_key();
        let meta = kv
            .get_text(&key, None)
            .await
            .map_err(|e| EdgeError::KvUnavailable(e.to_string()))?;
        if meta.is_none() {
            return Err(EdgeError::FeaturesIncomplete {
                version: version.0,
                key,
            });
        }
        write_pointer(kv, keys::CURRENT_FEATURES, &version.to_string()).await?;
        self.invalidate();
        Ok(())
    }

    fn source<'a, K: Kv>(
        &'a self,
        kv: &'a K,
        version: Option<FeatureVersion>,
        now: f64,
    ) -> KvSource<'a, K> {
        KvSource {
            kv,
            caches: &self.caches,
            version,
            now,
        }
    }
}

async fn write_pointer<K: Kv>(kv: &K, key: &str, value: &str) -> Result<(), EdgeError> {
    kv.put(key, value.as_bytes(), None)
        .await
        .map_err(|e| EdgeError::KvUnavailable(e.to_string()))
}

/// Reads a published model's manifest and chunks (concurrently), verifies the checksum and
/// builds the tract plan.
pub async fn load_model<K: Kv>(kv: &K, version: &str) -> Result<LoadedModel, PublicationError> {
    let manifest = kv
        .get_text(&keys::model_manifest_key(version), None)
        .await
        .ok()
        .flatten()
        .ok_or_else(|| PublicationError::NotPublished {
            version: version.to_string(),
        })?;
    let published = publication::parse_manifest(version, &manifest)?;
    let chunks = join_all((0..published.chunks).map(|i| {
        let key = keys::model_chunk_key(version, i);
        async move { kv.get_bytes(&key).await.ok().flatten() }
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
