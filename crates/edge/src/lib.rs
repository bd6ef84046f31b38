//! The rerank core of Resonance: what the Worker, the browser module and native tests share.
//!
//! A rerank gathers a listener's stored features and recent history and the candidates'
//! features (with their item embeddings) from a [`FeatureSource`], runs SASRec on the history
//! and candidate embeddings through a [`SequenceScorer`] (tract-onnx on the CPU here; the
//! browser adds a WebGPU engine), and mixes its scores with the heuristic of
//! `resonance_shared::ranking`. Nothing here does I/O of its own: the Worker implements
//! [`FeatureSource`] over its KV binding, the tests over a map.
//!
//! ```text
//! request ─► user features ─► history ids ─┐
//!        └─► candidate features ───────────┼─► embeddings ─► SequenceScorer ─► scores ─┐
//!                                          └─► heuristic signals ──────────────────────┴─► rank
//! ```
//!
//! A listener whose encoder state was stored offline for the live model ([`states`], checked
//! against the history it encoded) is scored with one dot product per candidate, and no history
//! track is read.
//!
//! Unknown users and tracks degrade to the heuristic and are flagged in the answer; only a
//! store that cannot be read at all is an error ([`EdgeError`], which the Worker maps to 503).
//!
//! The Worker's isolate state lives here too ([`isolate`]: the model and feature pointers,
//! verified model switches, feature caches over a small [`kv::Kv`] trait), so the Worker is a
//! fetch handler, a route table and a KV adapter, and everything else is tested natively on
//! [`kv::MemoryKv`].

pub mod admin;
pub mod cache;
pub mod error;
#[cfg(feature = "tract")]
pub mod isolate;
pub mod kv;
pub mod kv_source;
#[cfg(feature = "tract")]
pub mod live;
pub mod model;
pub mod publication;
pub mod rerank;
#[cfg(feature = "tract")]
pub mod served_model;
pub mod snapshot;
pub mod source;
#[cfg(feature = "tract")]
pub mod states;
#[cfg(feature = "tract")]
pub mod tract;

pub use error::EdgeError;
pub use model::{ModelError, ModelOutput, SequenceScorer};
pub use rerank::{Gathered, RerankOutcome, Reranker, gather};
pub use snapshot::FeatureSnapshot;
pub use source::{FeatureSource, MemorySource, SourceError};
#[cfg(feature = "tract")]
pub use tract::TractModel;

/// Runs the module's static constructors (tract registers its operators through `inventory`),
/// once. Each wasm module that links this crate calls it from its start function.
///
/// Why: wasm-ld, linking a module that never calls `__wasm_call_ctors` itself, wraps *every*
/// exported function in a call to it, so every call from JavaScript into the module (each
/// allocation of a string passed in, each poll of a future) ran all the constructors again:
/// 8 % of the Worker's CPU under load (`bench/profile.sh`). With this call in the module,
/// wasm-ld wraps nothing.
#[cfg(target_arch = "wasm32")]
pub fn run_static_constructors() {
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: wasm-ld synthesises `__wasm_call_ctors`; it is run once, before the module's
    // own code needs what the constructors register.
    ONCE.call_once(|| unsafe { __wasm_call_ctors() });
}
