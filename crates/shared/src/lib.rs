//! # resonance-shared
//!
//! The contracts that the Resonance trainer (native) and the edge reranker (wasm32: a
//! Cloudflare Worker and a browser module) must agree on, written once:
//!
//! - [`catalogue`] and [`events`]: the domain types read from `catalogue.csv` and `events.csv`;
//! - [`features`]: the five feature views of the feature store and their schema version;
//! - [`interest`]: a listener's interest graph, in the JSON shape the LLM writes;
//! - [`keys`]: the feature-store key schema shared by Redis and the edge KV;
//! - [`manifest`]: the model artifact's `manifest.json`;
//! - [`api`]: the Worker's HTTP request and response types, with validation;
//! - [`context`]: context-aware features computed on demand at request time;
//! - [`heuristic`] and [`mixer`]: the heuristic scorer and the hybrid
//!   `0.7 · transformer + 0.3 · heuristic` mixer;
//! - [`state`]: a listener's stored encoder state and the history rule readers apply to it;
//! - [`validate`]: the error type that names the offending field;
//! - [`versioned`]: layout 3's entity values, one key for every version, written when they change.
//!
//! The crate is pure logic: no I/O, no clocks, no randomness, so it builds for
//! `wasm32-unknown-unknown` and behaves identically everywhere it runs.

pub mod api;
pub mod catalogue;
pub mod context;
pub mod events;
pub mod features;
pub mod heuristic;
pub mod interest;
pub mod keys;
pub mod manifest;
pub mod mixer;
pub mod ranking;
pub mod state;
pub mod validate;
pub mod versioned;

pub use validate::FieldError;
