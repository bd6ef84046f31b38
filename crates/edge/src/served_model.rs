//! A model an isolate serves, in two parts that load apart: its manifest (version, L, d, mix,
//! its embeddings at the edge, the graph's size and checksum), read when the state that names
//! it is resolved, and its graph (the chunks, reassembled and checked, parsed and typed by
//! tract, then optimised into a plan), which only the model path needs.
//!
//! ```text
//! manifest ──► answers from stored encoder states (one dot product per candidate)
//! graph    ──► answers that run the model (new listeners, recent tracks), GET /v1/model
//! ```
//!
//! Why apart: in wasm the graph costs tens of milliseconds to fetch, check and parse, and its
//! plan as much again, on the isolate's one thread. A fresh isolate goes live on the manifest
//! (its embeddings and the listeners' states were written for this model, so a stored-state
//! answer is the model's) and loads the graph after answering; until it is ready, an answer
//! that needs the model is the heuristic's, flagged `model_warming`. A graph that fails to
//! load (a chunk missing or not yet visible, a bad checksum) is said in `/health`, and the
//! model path degrades, flagged `model_unavailable`: never another model.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::future::join_all;
use resonance_shared::keys;
use resonance_shared::manifest::PublishedModel;
use resonance_shared::mixer::MixWeights;

use crate::kv::Kv;
use crate::model::{ModelError, ModelOutput, SequenceScorer};
use crate::publication::{self, PublicationError};
use crate::tract::TractModel;

/// A model whose manifest verified; its graph loads on demand ([`ServedModel::load_graph`]).
pub struct ServedModel {
    /// The version it was published as.
    pub version: String,
    /// L: history tracks the model reads (the manifest's; the graph is checked against it).
    pub max_len: usize,
    /// d: the embedding width (the manifest's; the graph is checked against it).
    pub d_model: usize,
    /// SHA-256 of the graph, hex.
    pub sha256: String,
    /// Its embedding keys at the edge (`PublishedModel::embeddings`); `None`: published
    /// without them, so it serves only versions of layout 1.
    pub embeddings: Option<usize>,
    /// The mix a rerank without `weights` gets (`PublishedModel::mix`, else 0.7 / 0.3).
    pub mix: MixWeights,
    published: PublishedModel,
    graph: RefCell<GraphSlot>,
}

/// The verified graph and the engine that runs it.
pub struct ModelGraph {
    /// tract's engine over the graph (typed; its plan is built on first use or by
    /// [`TractModel::prepare`]).
    pub engine: TractModel,
    /// The graph's bytes, served to browsers by `GET /v1/model`.
    pub onnx: Vec<u8>,
}

/// Where a model's graph stands, as `/health` names it (`modelGraph`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphState {
    /// Not loaded yet, or loading: the model path answers `model_warming`.
    Loading,
    /// Loaded, and its plan built: the model path runs.
    Ready,
    /// Loaded, its plan not built yet: the next model-path answer waits for nothing, the
    /// isolate builds it after answering.
    Planning,
    /// It did not load (`modelError` says why).
    Failed,
}

impl GraphState {
    /// The name `/health` gives it.
    pub fn name(self) -> &'static str {
        match self {
            GraphState::Loading => "loading",
            GraphState::Planning => "planning",
            GraphState::Ready => "ready",
            GraphState::Failed => "failed",
        }
    }
}

#[derive(Clone)]
enum GraphSlot {
    Unloaded,
    Loading,
    Loaded(Rc<ModelGraph>),
    Failed(PublicationError),
}

impl ServedModel {
    /// Reads and verifies the manifest of model `version`; the graph is not read.
    pub async fn manifest<K: Kv>(kv: &K, version: &str) -> Result<Self, PublicationError> {
        let text = kv
            .get_text(&keys::model_manifest_key(version), None)
            .await
            .ok()
            .flatten()
            .ok_or_else(|| PublicationError::NotPublished {
                version: version.to_string(),
            })?;
        let published = publication::parse_manifest(version, &text)?;
        Ok(Self {
            version: version.to_string(),
            max_len: published.max_len,
            d_model: published.d_model,
            sha256: published.onnx_sha256.clone(),
            embeddings: published.embeddings,
            mix: published.default_mix(),
            published,
            graph: RefCell::new(GraphSlot::Unloaded),
        })
    }

    /// Reads and verifies the manifest and the graph of model `version`: what an isolate
    /// that has a state to keep serving does before it switches to another model.
    pub async fn load<K: Kv>(kv: &K, version: &str) -> Result<Self, PublicationError> {
        let model = Self::manifest(kv, version).await?;
        model.load_graph(kv).await?;
        Ok(model)
    }

    /// The graph, loading it if it is not (the chunks concurrently, then the checksum, the
    /// parse and L and d against the manifest). A graph that failed is tried again.
    pub async fn load_graph<K: Kv>(&self, kv: &K) -> Result<Rc<ModelGraph>, PublicationError> {
        if let GraphSlot::Loaded(graph) = &*self.graph.borrow() {
            return Ok(graph.clone());
        }
        *self.graph.borrow_mut() = GraphSlot::Loading;
        let loaded = self.read_graph(kv).await.map(Rc::new);
        // Another caller may have loaded it meanwhile (one thread, but the reads yield).
        let mut slot = self.graph.borrow_mut();
        if let GraphSlot::Loaded(graph) = &*slot {
            return Ok(graph.clone());
        }
        *slot = match &loaded {
            Ok(graph) => GraphSlot::Loaded(graph.clone()),
            Err(e) => GraphSlot::Failed(e.clone()),
        };
        loaded
    }

    async fn read_graph<K: Kv>(&self, kv: &K) -> Result<ModelGraph, PublicationError> {
        let version = &self.version;
        let chunks = join_all((0..self.published.chunks).map(|i| {
            let key = keys::model_chunk_key(version, i);
            async move { kv.get_bytes(&key).await.ok().flatten() }
        }))
        .await;
        let onnx = publication::assemble(&self.published, chunks)?;
        let bad = |message: String| PublicationError::BadManifest {
            version: version.clone(),
            message,
        };
        let engine = TractModel::from_onnx(&onnx).map_err(|e| bad(e.to_string()))?;
        if engine.d_model() != self.d_model || engine.max_len() != self.max_len {
            return Err(bad(format!(
                "the graph has L = {}, d = {}; the manifest says {} and {}",
                engine.max_len(),
                engine.d_model(),
                self.max_len,
                self.d_model
            )));
        }
        Ok(ModelGraph { engine, onnx })
    }

    /// The graph, when it is loaded.
    pub fn graph(&self) -> Option<Rc<ModelGraph>> {
        match &*self.graph.borrow() {
            GraphSlot::Loaded(graph) => Some(graph.clone()),
            _ => None,
        }
    }

    /// Why the graph did not load, when it did not.
    pub fn graph_error(&self) -> Option<PublicationError> {
        match &*self.graph.borrow() {
            GraphSlot::Failed(e) => Some(e.clone()),
            _ => None,
        }
    }

    /// Whether the graph is still to be read (not loading, loaded or failed).
    pub fn graph_unread(&self) -> bool {
        matches!(&*self.graph.borrow(), GraphSlot::Unloaded)
    }

    /// Where the graph stands.
    pub fn graph_state(&self) -> GraphState {
        match &*self.graph.borrow() {
            GraphSlot::Unloaded | GraphSlot::Loading => GraphState::Loading,
            GraphSlot::Loaded(graph) if graph.engine.is_ready() => GraphState::Ready,
            GraphSlot::Loaded(_) => GraphState::Planning,
            GraphSlot::Failed(_) => GraphState::Failed,
        }
    }

    /// The engine a rerank scores with. Unless `wait`, it refuses to run
    /// ([`ModelError::Warming`]) before the graph is loaded and its plan built, rather than
    /// build the plan inside the request.
    pub fn scorer(&self, wait: bool) -> ServedScorer<'_> {
        ServedScorer {
            model: self,
            graph: self.graph(),
            wait,
        }
    }
}

/// A [`ServedModel`] as the rerank core's engine ([`ServedModel::scorer`]).
pub struct ServedScorer<'a> {
    model: &'a ServedModel,
    graph: Option<Rc<ModelGraph>>,
    wait: bool,
}

impl SequenceScorer for ServedScorer<'_> {
    fn max_len(&self) -> usize {
        self.model.max_len
    }

    fn d_model(&self) -> usize {
        self.model.d_model
    }

    fn backend(&self) -> &'static str {
        "tract-cpu"
    }

    fn is_ready(&self) -> bool {
        self.graph.as_ref().is_some_and(|g| g.engine.is_ready())
    }

    async fn score(
        &self,
        history: &[f32],
        mask: &[f32],
        candidates: &[f32],
    ) -> Result<ModelOutput, ModelError> {
        let Some(graph) = &self.graph else {
            return Err(match self.model.graph_error() {
                Some(e) => ModelError::Load(e.to_string()),
                None => ModelError::Warming,
            });
        };
        if !self.wait && !graph.engine.is_ready() {
            return Err(ModelError::Warming);
        }
        graph.engine.forward(history, mask, candidates)
    }
}
