//! The feature store: what the edge reads about listeners and tracks, computed here and
//! carried there.
//!
//! ```text
//! Dataset ─► views::compute (as of T) ─► graphs::attach (interest graphs) ─► store (Redis, rsn:v{N}:…)
//!                                                                              │ rsn:changes
//! registry::ModelArtifact ─► publication::model_pairs ─► store / sinks          ▼
//!                                                               mirror ─► sinks::EdgeSink (Worker, Cloudflare KV)
//! ```
//!
//! - [`views`]: the feature views, computed as of an instant;
//! - [`graphs`]: interest graphs in Redis, joined into the users' values;
//! - [`store`]: the versioned Redis store, switched atomically;
//! - [`models`]: models in Redis, written once, pruned when nothing needs them;
//! - [`publication`]: the model's KV pairs and a version's meta;
//! - [`mirror`]: Redis → the edge KV, once or following the change stream;
//! - [`sinks`]: the edge KVs the mirror writes to;
//! - [`staging`]: the staged model, at the edge beside the live one, serving no traffic;
//! - [`states`]: listeners' encoder states per model, written when their history changed;
//! - [`values`]: layout 3, one key per entity for every version, written when it changes.

pub mod erasure;
pub mod graphs;
pub mod ledger;
pub mod lock;
pub mod mirror;
pub mod models;
pub mod publication;
pub mod sinks;
pub mod staging;
pub mod states;
pub mod status;
pub mod store;
pub mod values;
pub mod views;
