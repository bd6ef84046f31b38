//! The live state an isolate serves: one feature version and the model its meta names,
//! resolved and installed together, so a model never scores with another model's embeddings.
//!
//! ```text
//! rsn:current ─► N ─► rsn:v{N}:meta ─► model_version m ─► rsn:model:{m}:manifest + chunks
//!                                                         (verified; the graph loads on demand)
//!                          └─► layout: 1 (embeddings in the track values), 2 (embeddings
//!                              at rsn:model:{m}:embedding:{id}: m must have been published with them)
//!                              or 3 (as 2, the values of every version under rsn:user:{id}, rsn:track:{id})
//! ```
//!
//! The pointer is the only thing that moves: a model goes live with the first feature version
//! materialized with its embeddings, and never alone. The pointer is checked where it is read
//! (the Cloudflare sink writes it through the REST API, with no Worker in the path, and KV may
//! show it before the keys it names): a state whose meta is missing or names no model, or
//! whose model does not load, is not installed; the isolate keeps what it served, and
//! `/health` says why. An isolate with nothing to keep serves the named features without a
//! model (heuristic-only, flagged `model_unavailable`), never another model.
//!
//! How much of the model must verify before its state is installed depends on what the
//! isolate would otherwise serve. One with a state to keep reads the new model whole first
//! (manifest and graph). A fresh one (and the Worker's isolates are often fresh) installs the
//! state once the meta and the model's manifest verify, answers from stored encoder states at
//! once, and loads the graph after answering (`crate::served_model`); if the graph then fails,
//! the model path degrades, flagged, and the state is resolved again at the next pointer check.

use std::rc::Rc;

use resonance_shared::features::{FeatureSetMeta, OLDEST_SCHEMA};
use resonance_shared::keys::FeatureVersion;
use resonance_shared::versioned::VERSIONED_LAYOUT;

use crate::error::EdgeError;
use crate::kv::Kv;
use crate::publication::PublicationError;
use crate::served_model::ServedModel;

/// What an isolate serves: a feature version and its model.
#[derive(Clone)]
pub struct ServingState {
    /// The feature version.
    pub version: FeatureVersion,
    /// The model its meta names; `None` only while that model cannot be served.
    pub model: Option<Rc<ServedModel>>,
    /// Whether the whole state verified (meta and model); an unverified one is re-resolved
    /// at every pointer check until it does.
    pub verified: bool,
    /// The layout of its values (its meta's; `features::SCHEMA_VERSION` when the meta was not
    /// read).
    pub layout: u32,
    /// When the mirror finished writing its values at the edge (layout 3, unix seconds).
    pub values_written_at: Option<i64>,
}

impl ServingState {
    /// Milliseconds until a version of layout 3 may replace another: `settle_ms` after its
    /// values were written at the edge (an overwritten key may show its old value until KV
    /// propagates it and its cache expires); 0 when it may now.
    pub fn settle_left_ms(&self, settle_ms: f64, now_ms: f64) -> f64 {
        match self.values_written_at {
            Some(t) if self.layout >= VERSIONED_LAYOUT => {
                (t as f64 * 1000.0 + settle_ms - now_ms).max(0.0)
            }
            _ => 0.0,
        }
    }
}

/// The isolate's live state and when its pointer was read.
#[derive(Default)]
pub struct LiveSlot {
    /// What is serving.
    pub serving: Option<ServingState>,
    /// When the pointer was last read (ms).
    pub checked_at: Option<f64>,
    /// Why the state the pointer names is not the one serving.
    pub error: Option<String>,
    /// A verified model that is not serving: staged by the admin route, or the one the last
    /// switch displaced, so a switch back to it (a rollback) does not load it again.
    pub spare: Option<Rc<ServedModel>>,
}

impl LiveSlot {
    /// A loaded model of `version`, if this slot holds one (serving or spare).
    pub fn loaded(&self, version: &str) -> Option<Rc<ServedModel>> {
        let serving = self.serving.as_ref().and_then(|s| s.model.clone());
        [serving, self.spare.clone()]
            .into_iter()
            .flatten()
            .find(|m| m.version == version)
    }

    /// Installs `state`; the model it displaces becomes the spare. Returns whether the model
    /// changed (cached encoder states then belong to another model).
    pub fn install(&mut self, state: ServingState) -> bool {
        let displaced = self.serving.take().and_then(|s| s.model);
        let changed = match (&displaced, &state.model) {
            (Some(a), Some(b)) => a.version != b.version,
            (None, None) => false,
            _ => true,
        };
        if let Some(displaced) = displaced.filter(|_| changed) {
            self.spare = Some(displaced);
        }
        self.serving = Some(state);
        changed
    }
}

/// Why a feature version cannot go live.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StateError {
    /// The meta is not readable here: the version is incomplete, or KV has not shown it yet.
    #[error(
        "feature version {version} has no meta here ({key}): it is incomplete, or not yet visible at this location"
    )]
    MetaMissing {
        /// The version.
        version: u64,
        /// Its meta key.
        key: String,
    },
    /// The meta does not parse or describes another version.
    #[error("the meta of feature version {version} is invalid: {message}")]
    BadMeta {
        /// The version.
        version: u64,
        /// What is wrong.
        message: String,
    },
    /// The meta names no model: its track embeddings belong to none this edge can load.
    #[error(
        "the meta of feature version {version} names no model, so no model may score its embeddings"
    )]
    NoModel {
        /// The version.
        version: u64,
    },
    /// The version's values are of a layout this reader does not know.
    #[error(
        "feature version {version} is of layout {layout}; this Worker reads layouts {OLDEST_SCHEMA} to {VERSIONED_LAYOUT}: deploy the Worker of the trainer that wrote it"
    )]
    Layout {
        /// The version.
        version: u64,
        /// The layout its meta names.
        layout: u32,
    },
    /// A version of layout 2 names a model published without its embeddings.
    #[error(
        "feature version {version} keeps its embeddings with model {model}, which was published without them (no `embeddings` in rsn:model:{model}:manifest): run `trainer materialize` and `trainer mirror` again"
    )]
    NoEmbeddings {
        /// The version.
        version: u64,
        /// The model its meta names.
        model: String,
    },
    /// The model the meta names does not load.
    #[error("feature version {version} needs model {model}: {error}")]
    Model {
        /// The version.
        version: u64,
        /// The model its meta names.
        model: String,
        /// Why it does not load.
        error: PublicationError,
    },
    /// The KV did not answer.
    #[error("reading the state of feature version {version}: {message}")]
    Kv {
        /// The version.
        version: u64,
        /// The KV's error.
        message: String,
    },
}

impl From<StateError> for EdgeError {
    fn from(e: StateError) -> Self {
        match &e {
            StateError::MetaMissing { version, key } => EdgeError::FeaturesIncomplete {
                version: *version,
                key: key.clone(),
            },
            StateError::NoModel { .. }
            | StateError::Model {
                error: PublicationError::NotPublished { .. },
                ..
            } => EdgeError::ModelNotFound(e.to_string()),
            StateError::BadMeta { .. }
            | StateError::Model { .. }
            | StateError::Layout { .. }
            | StateError::NoEmbeddings { .. } => EdgeError::ModelInvalid(e.to_string()),
            StateError::Kv { .. } => EdgeError::KvUnavailable(e.to_string()),
        }
    }
}

/// Reads the meta of `version` and the manifest of the model it names, and verifies both;
/// with `with_graph`, the model's graph too (its chunks, checksum and parse). `loaded` offers
/// a model already in memory by version.
pub async fn resolve<K: Kv>(
    kv: &K,
    version: FeatureVersion,
    with_graph: bool,
    loaded: impl Fn(&str) -> Option<Rc<ServedModel>>,
) -> Result<ServingState, StateError> {
    let key = version.meta_key();
    let text = kv
        .get_text(&key, None)
        .await
        .map_err(|e| StateError::Kv {
            version: version.0,
            message: e.to_string(),
        })?
        .ok_or_else(|| StateError::MetaMissing {
            version: version.0,
            key: key.clone(),
        })?;
    let meta: FeatureSetMeta = serde_json::from_str(&text).map_err(|e| StateError::BadMeta {
        version: version.0,
        message: e.to_string(),
    })?;
    if meta.version != version.0 {
        return Err(StateError::BadMeta {
            version: version.0,
            message: format!("it describes version {}", meta.version),
        });
    }
    if !(OLDEST_SCHEMA..=VERSIONED_LAYOUT).contains(&meta.layout) {
        return Err(StateError::Layout {
            version: version.0,
            layout: meta.layout,
        });
    }
    let named = meta
        .model_version
        .ok_or(StateError::NoModel { version: version.0 })?;
    let failed = |error| StateError::Model {
        version: version.0,
        model: named.clone(),
        error,
    };
    // A copy loaded before its embeddings were published cannot serve layout 2, and one whose
    // graph failed to load may load now (KV had not shown every chunk): read them again.
    let usable = |m: &Rc<ServedModel>| {
        (meta.layout < 2 || m.embeddings.is_some()) && m.graph_error().is_none()
    };
    let model = match loaded(&named).filter(usable) {
        Some(model) => model,
        None => Rc::new(ServedModel::manifest(kv, &named).await.map_err(failed)?),
    };
    if with_graph {
        model.load_graph(kv).await.map_err(failed)?;
    }
    if meta.layout >= 2 && model.embeddings.is_none() {
        return Err(StateError::NoEmbeddings {
            version: version.0,
            model: model.version.clone(),
        });
    }
    Ok(ServingState {
        version,
        model: Some(model),
        verified: true,
        layout: meta.layout,
        values_written_at: meta.values_written_at,
    })
}
