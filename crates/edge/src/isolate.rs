//! What an isolate keeps between requests, and every operation the Worker's routes run on it:
//! the loaded model, the live feature version, bounded and expiring caches of decoded
//! features and encoder states.
//!
//! The pointer (`rsn:current`) is re-read at most every [`Settings::pointer_check_ms`]; the
//! feature version it names and the model that version's meta names are resolved and swapped
//! in together ([`crate::live`]), without dropping the old pair until the new one verifies. A
//! broken publication leaves the previous state serving and its reason in `/health`.
//! Everything here is generic over [`Kv`], so the Worker runs it on its KV binding and the
//! native tests on [`crate::kv::MemoryKv`].

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::future::join_all;
use resonance_shared::api::{HealthResponse, RerankRequest, RerankResponse};
use resonance_shared::features;
use resonance_shared::keys::{self, FeatureVersion, KeyKind};
use resonance_shared::validate::FieldError;
use resonance_shared::versioned;

use crate::admin::{KvValue, ValidatedWrite};
use crate::error::EdgeError;
use crate::kv::Kv;
use crate::kv_source::{FeatureCaches, KV_CACHE_TTL_SECONDS, KvSource};
use crate::live::{self, LiveSlot, ServingState};
use crate::model::{ModelError, SequenceScorer};
use crate::publication::PublicationError;
use crate::rerank::{ModelRef, Reranker, Wanted, gather};
pub use crate::served_model::{GraphState, ModelGraph, ServedModel};
use crate::snapshot::FeatureSnapshot;

const FEATURE_CACHE_ENTRIES: usize = 50_000;
const STATE_CACHE_ENTRIES: usize = 10_000;
/// How long an encoder state stays: an hour. Its key is the model and the history it encoded,
/// so it never goes stale; it expired after 600 s before, and every listener of the first
/// minutes then paid the forward pass again at once.
const STATE_CACHE_MS: f64 = 3_600_000.0;
/// KV writes in flight at once during a bulk write.
const WRITE_CONCURRENCY: usize = 50;
/// How long decoded features stay in the isolate: as long as KV's own edge cache.
pub const FEATURE_CACHE_MS: f64 = KV_CACHE_TTL_SECONDS as f64 * 1000.0;

/// [`Settings::settle_ms`] by default: KV's propagation (60 s) and read cache (60 s), the
/// pointer check (5 s), and a margin.
pub const DEFAULT_SETTLE_MS: f64 = 150_000.0;

/// Tunables (the Worker's `[vars]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// How long a pointer read is trusted, in milliseconds.
    pub pointer_check_ms: f64,
    /// Whether a rerank waits for the model's graph: read, checked and parsed, then its plan
    /// built (each tens of milliseconds in wasm). The Worker does not: a fresh isolate goes
    /// live on the model's manifest and answers from stored encoder states at once; an
    /// answer that needs the model is the heuristic's, flagged `model_warming`, and the
    /// Worker calls [`Isolate::load_graph`] and [`Isolate::build_plan`] after answering.
    /// Native callers have no "after", so the default waits.
    pub load_model_in_request: bool,
    /// How long after its values were written at the edge a version of layout 3 replaces the
    /// one serving (`SETTLE_SECONDS`): KV shows an overwritten key late (propagation ≈ 60 s,
    /// `cacheTtl` 60 s), and a reader of such a key would take the previous day's entry as
    /// this version's. Meanwhile the isolate keeps what it serves; one with nothing serves
    /// the new version at once.
    pub settle_ms: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            pointer_check_ms: 5_000.0,
            load_model_in_request: true,
            settle_ms: DEFAULT_SETTLE_MS,
        }
    }
}

/// One isolate's state.
pub struct Isolate {
    /// The rerank core with its encoder-state cache.
    pub reranker: Reranker,
    /// The live state: a feature version and its model.
    pub live: RefCell<LiveSlot>,
    /// Decoded feature values.
    pub caches: FeatureCaches,
    /// Where the isolate says what it did (the Worker's console).
    pub log: fn(&str),
}

/// The live state a read route works with.
#[derive(Default)]
pub struct Live {
    /// The live feature version (`None`: nothing published).
    pub version: Option<FeatureVersion>,
    /// The model serving.
    pub model: Option<Rc<ServedModel>>,
    /// The layout of the version's values.
    pub layout: u32,
}

impl Live {
    /// Why `key` belongs to this state (its meta, or a key of its model), if it does. A
    /// listener's state is not protected: `trainer forget` deletes it from the live model.
    pub fn protects(&self, key: &str) -> Option<String> {
        match keys::parse_key(key).ok()? {
            KeyKind::FeatureMeta { version } if Some(version) == self.version => {
                Some(format!("is the meta of the live feature version {version}"))
            }
            KeyKind::ModelManifest { version }
            | KeyKind::ModelChunk { version, .. }
            | KeyKind::ModelEmbedding { version, .. }
                if self.model.as_ref().is_some_and(|m| m.version == version) =>
            {
                Some(format!("belongs to the live model {version}"))
            }
            _ => None,
        }
    }
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
            reranker: Reranker::new(STATE_CACHE_ENTRIES, STATE_CACHE_MS),
            live: RefCell::default(),
            caches: FeatureCaches::new(FEATURE_CACHE_ENTRIES, ttl_ms),
            log,
        }
    }

    /// Forgets cached features and the pointer read (after an admin write).
    pub fn invalidate(&self) {
        self.caches.clear();
        self.live.borrow_mut().checked_at = None;
    }

    /// The live state, re-reading the pointer when the last read is old. A new pointer is
    /// followed only to a state that verifies (`crate::live::resolve`); otherwise the state
    /// serving stays, and the reason is kept for `/health`. A failed read keeps the state
    /// known; with none known it is an error.
    pub async fn live<K: Kv>(
        &self,
        kv: &K,
        settings: &Settings,
        now: f64,
    ) -> Result<Live, EdgeError> {
        let fresh = self
            .live
            .borrow()
            .checked_at
            .is_some_and(|t| now - t < settings.pointer_check_ms);
        if fresh {
            return Ok(self.serving());
        }
        // Marked before the reads, so concurrent requests do not all resolve the same state.
        self.live.borrow_mut().checked_at = Some(now);
        let pointer = match kv.get_text(keys::CURRENT_FEATURES, None).await {
            Ok(pointer) => pointer,
            Err(e) => return self.keep(format!("cannot read {}: {e}", keys::CURRENT_FEATURES)),
        };
        let Some(text) = pointer else {
            if self.live.borrow().serving.is_some() {
                return self.keep(format!("{} is absent", keys::CURRENT_FEATURES));
            }
            return Ok(Live::default());
        };
        let version = match FeatureVersion::parse_pointer(&text) {
            Ok(version) => version,
            Err(e) => return self.keep(e.to_string()),
        };
        let current = self.live.borrow().serving.clone();
        if current
            .as_ref()
            .is_some_and(|s| s.version == version && s.verified)
        {
            self.live.borrow_mut().error = None;
            return Ok(self.serving());
        }
        // With a verified state to keep, a new model is read whole before it replaces it;
        // without one there is nothing better to serve meanwhile than its stored states.
        let keeping = current.as_ref().is_some_and(|s| s.verified);
        let with_graph = settings.load_model_in_request || keeping;
        let resolved = {
            let slot = &self.live;
            live::resolve(kv, version, with_graph, |m| slot.borrow().loaded(m)).await
        };
        match resolved {
            Ok(state) if keeping && state.settle_left_ms(settings.settle_ms, now) > 0.0 => {
                let serving = current.as_ref().expect("keeping a state");
                let message = format!(
                    "feature version {} (layout 3) goes live {:.0} s after its values were \
                     written at the edge, in {:.0} s (KV shows overwritten keys late); still \
                     serving {}",
                    state.version,
                    settings.settle_ms / 1000.0,
                    state.settle_left_ms(settings.settle_ms, now) / 1000.0,
                    describe(serving)
                );
                self.live.borrow_mut().error = Some(message);
            }
            Ok(state) => self.install(state),
            Err(e) => {
                let verified = current.as_ref().filter(|s| s.verified);
                let message = match verified {
                    Some(s) => format!("{e}; still serving {}", describe(s)),
                    None => {
                        // Nothing verified to keep: the named features, without a model.
                        self.install(ServingState {
                            version,
                            model: None,
                            verified: false,
                            layout: features::SCHEMA_VERSION,
                            values_written_at: None,
                        });
                        format!("{e}; serving its features without a model (heuristic-only)")
                    }
                };
                (self.log)(&message);
                self.live.borrow_mut().error = Some(message);
            }
        }
        Ok(self.serving())
    }

    /// The state serving, unchanged, after `problem` with the pointer; an error when there is
    /// none to keep.
    fn keep(&self, problem: String) -> Result<Live, EdgeError> {
        let mut slot = self.live.borrow_mut();
        match &slot.serving {
            Some(state) => {
                let message = format!("{problem}; still serving {}", describe(state));
                (self.log)(&message);
                slot.error = Some(message);
                drop(slot);
                Ok(self.serving())
            }
            None => {
                slot.checked_at = None;
                Err(EdgeError::FeaturesUnavailable(problem))
            }
        }
    }

    /// What is serving, for a route.
    fn serving(&self) -> Live {
        let slot = self.live.borrow();
        Live {
            version: slot.serving.as_ref().map(|s| s.version),
            model: slot.serving.as_ref().and_then(|s| s.model.clone()),
            layout: slot
                .serving
                .as_ref()
                .map_or(features::SCHEMA_VERSION, |s| s.layout),
        }
    }

    /// Makes `state` the one serving.
    fn install(&self, state: ServingState) {
        let mut slot = self.live.borrow_mut();
        slot.error = None;
        if slot.install(state) {
            self.reranker.clear_states();
        }
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
        let loaded = live.model.as_deref();
        let scorer = loaded.map(|m| m.scorer(settings.load_model_in_request));
        let model_ref = loaded.zip(scorer.as_ref()).map(|(m, scorer)| ModelRef {
            version: &m.version,
            scorer,
            mix: m.mix,
        });
        let source = self.source(kv, &live, now);
        let outcome = self
            .reranker
            .rerank(&source, model_ref, request, &clock)
            .await?;
        let mut degraded = outcome.response.degraded;
        // Only an isolate with nothing to keep installs a version inside its settle window.
        degraded.values_settling = self
            .live
            .borrow()
            .serving
            .as_ref()
            .is_some_and(|s| s.settle_left_ms(settings.settle_ms, now) > 0.0);
        // From the request's start: resolving a new state (its pointer, meta and model) is
        // part of what this answer waited for.
        Ok(RerankResponse {
            timing_ms: clock() - now,
            degraded,
            ..outcome.response
        })
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
        let max_len = live.model.as_ref().map_or(usize::MAX, |m| m.max_len);
        let source = self.source(kv, &live, now);
        let wanted = Wanted {
            user_id: &request.user_id,
            candidates: &candidates,
            recent: &request.recent_tracks,
            max_len,
            state_of: None,
        };
        let gathered = gather(&source, &wanted).await?;
        Ok(FeatureSnapshot::from_gathered(
            version,
            &request.user_id,
            &candidates,
            &gathered,
        ))
    }

    /// Reads the serving model's graph if it is not read yet, and says how long that took
    /// (milliseconds by `clock`); `None` when there was nothing to read. A graph that fails
    /// leaves the state to be resolved again at the next pointer check, and `/health` says why.
    pub async fn load_graph<K: Kv>(
        &self,
        kv: &K,
        clock: impl Fn() -> f64,
    ) -> Option<Result<f64, PublicationError>> {
        let model = self.serving().model.filter(|m| m.graph_unread())?;
        let started = clock();
        let loaded = model.load_graph(kv).await.map(|_| clock() - started);
        match &loaded {
            Ok(ms) => (self.log)(&format!(
                "loaded the graph of model {} in {ms:.1} ms",
                model.version
            )),
            Err(e) => {
                let message = format!(
                    "{e}; answers that need model {} are the heuristic's until it loads",
                    model.version
                );
                (self.log)(&message);
                let mut slot = self.live.borrow_mut();
                if let Some(state) = slot.serving.as_mut() {
                    state.verified = false;
                }
                slot.error = Some(message);
            }
        }
        Some(loaded)
    }

    /// Builds the serving model's plan if its graph is loaded and the plan not built yet,
    /// and says how long that took (milliseconds by `clock`); `None` when there was nothing
    /// to build. The Worker calls it after an answer when [`Isolate::model_pending`]
    /// (`waitUntil`), so the request that loaded a model does not pay for its plan.
    pub fn build_plan(&self, clock: impl Fn() -> f64) -> Option<Result<f64, ModelError>> {
        let model = self.serving().model?;
        let graph = model.graph().filter(|g| !g.engine.is_ready())?;
        let started = clock();
        let built = graph.engine.prepare().map(|()| clock() - started);
        match &built {
            Ok(ms) => (self.log)(&format!(
                "built the plan of model {} in {ms:.1} ms",
                model.version
            )),
            Err(e) => (self.log)(&format!("model {}: {e}", model.version)),
        }
        Some(built)
    }

    /// Whether the serving model's graph is still to be read ([`Isolate::load_graph`]) or its
    /// plan to be built ([`Isolate::build_plan`]).
    pub fn model_pending(&self) -> bool {
        self.serving()
            .model
            .is_some_and(|m| m.graph_unread() || m.graph().is_some_and(|g| !g.engine.is_ready()))
    }

    /// The live model with its graph (read now if it was not), or why there is none.
    pub async fn model<K: Kv>(
        &self,
        kv: &K,
        settings: &Settings,
        now: f64,
    ) -> Result<(Rc<ServedModel>, Rc<ModelGraph>), EdgeError> {
        let model = self
            .live(kv, settings, now)
            .await?
            .model
            .ok_or(EdgeError::ModelNotLoaded)?;
        let graph = model.load_graph(kv).await.map_err(|e| match e {
            PublicationError::NotPublished { .. } => EdgeError::ModelNotFound(e.to_string()),
            other => EdgeError::ModelInvalid(other.to_string()),
        })?;
        Ok((model, graph))
    }

    /// What `/health` says.
    pub async fn health<K: Kv>(&self, kv: &K, settings: &Settings, now: f64) -> HealthResponse {
        let live = self.live(kv, settings, now).await;
        let error = match &live {
            Err(e) => Some(e.to_string()),
            Ok(_) => self.live.borrow().error.clone(),
        };
        let live = live.unwrap_or_default();
        HealthResponse {
            status: if error.is_some() { "degraded" } else { "ok" }.into(),
            gpu_available: false,
            model_loaded: live.model.is_some(),
            model_graph: live
                .model
                .as_ref()
                .map(|m| m.graph_state().name().to_string()),
            model_version: live.model.map(|m| m.version.clone()),
            features_version: live.version.map(|v| v.0),
            model_error: error,
            // The Worker adds its access configuration's problems.
            access_problems: Vec::new(),
            layouts: (features::OLDEST_SCHEMA..=versioned::VERSIONED_LAYOUT).collect(),
        }
    }

    /// Deletes validated keys, [`WRITE_CONCURRENCY`] at a time, and drops this isolate's
    /// caches (so it stops serving them at once; others within the cache TTL); returns how
    /// many. The meta of the live feature version and the live model's keys are refused (422,
    /// nothing deleted): the state serving is read again first. Its user and track values may
    /// go (`trainer forget`).
    pub async fn bulk_delete<K: Kv>(
        &self,
        kv: &K,
        settings: &Settings,
        keys: &[String],
        now: f64,
    ) -> Result<usize, EdgeError> {
        self.invalidate();
        let live = self.live(kv, settings, now).await?;
        for (i, key) in keys.iter().enumerate() {
            if let Some(why) = live.protects(key) {
                return Err(EdgeError::Invalid(FieldError::new(
                    format!("[{i}]"),
                    format!("{key:?} {why}; it cannot be deleted while it serves"),
                )));
            }
        }
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

    /// Verifies model `version` and keeps it loaded, serving nothing (staged): the live model
    /// is always the one the live feature version's meta names.
    pub async fn stage_model<K: Kv>(&self, kv: &K, version: &str) -> Result<(), EdgeError> {
        keys::validate_model_version(version).map_err(EdgeError::Invalid)?;
        if self.live.borrow().loaded(version).is_some() {
            return Ok(());
        }
        let model = ServedModel::load(kv, version).await.map_err(|e| match e {
            PublicationError::NotPublished { .. } => EdgeError::ModelNotFound(e.to_string()),
            other => EdgeError::ModelInvalid(other.to_string()),
        })?;
        self.live.borrow_mut().spare = Some(Rc::new(model));
        Ok(())
    }

    /// Points the KV at feature version `version` once it and the model its meta names
    /// verify, and serves them; returns that model. The model pointer is written too, first,
    /// for readers of the older layout, which read the two pointers apart.
    pub async fn switch_features<K: Kv>(
        &self,
        kv: &K,
        version: u64,
        now: f64,
    ) -> Result<String, EdgeError> {
        if version == 0 {
            return Err(EdgeError::Invalid(FieldError::new(
                "version",
                "must be positive",
            )));
        }
        let state = {
            let slot = &self.live;
            live::resolve(kv, FeatureVersion(version), true, |m| {
                slot.borrow().loaded(m)
            })
            .await?
        };
        let model = state
            .model
            .as_ref()
            .map(|m| m.version.clone())
            .expect("a resolved state has its model");
        write_pointer(kv, keys::CURRENT_MODEL, &model).await?;
        write_pointer(kv, keys::CURRENT_FEATURES, &version.to_string()).await?;
        self.install(state);
        self.caches.clear();
        self.live.borrow_mut().checked_at = Some(now);
        Ok(model)
    }

    fn source<'a, K: Kv>(&'a self, kv: &'a K, live: &'a Live, now: f64) -> KvSource<'a, K> {
        let (version, model) = (live.version, live.model.as_deref());
        KvSource {
            kv,
            caches: &self.caches,
            version,
            model: model.map(|m| (m.version.as_str(), m.d_model)),
            embeddings_apart: model.is_some_and(|m| m.embeddings.is_some()),
            layout: live.layout,
            now,
        }
    }
}

async fn write_pointer<K: Kv>(kv: &K, key: &str, value: &str) -> Result<(), EdgeError> {
    kv.put(key, value.as_bytes(), None)
        .await
        .map_err(|e| EdgeError::KvUnavailable(e.to_string()))
}

/// `version N with model m`, for messages.
fn describe(state: &ServingState) -> String {
    match &state.model {
        Some(m) => format!("feature version {} with model {}", state.version, m.version),
        None => format!("feature version {} without a model", state.version),
    }
}
