//! # resonance-browser
//!
//! The rerank that runs inside a listener's own browser: the same core as the Worker
//! (`resonance-edge`: features from a [`FeatureSnapshot`], the shared heuristic and mixer),
//! with one of two engines for the transformer part, chosen at run time and reported:
//!
//! - **`webgpu`**: the burn SASRec definition (`resonance-sasrec`) on the browser's WebGPU
//!   through `burn-wgpu`, with the weights read out of the published ONNX graph
//!   ([`resonance_sasrec::onnx::import`]). (`wonnx`, which would run the graph itself, does
//!   not build for wasm32 against current web-sys and lacks layer norm and batched MatMul.)
//! - **`tract-cpu`**: the ONNX graph on tract, exactly as in the Worker, when `navigator.gpu`
//!   is absent or offers no adapter.
//!
//! The crate is built twice, once per engine (features `webgpu` and `cpu`), so a page
//! downloads only the engine it runs; it asks the browser for a WebGPU adapter first and
//! loads the CPU module when there is none. Each module exports one class,
//! `BrowserReranker`, and the wire contract's helpers `errorMessage` and `defaultWeights`
//! (see `bindings`). The page fetches the model (`GET /v1/model`) and the
//! features (`POST /v1/features`) from the Worker, or a bundled snapshot when the Worker is
//! down, and hands them over as bytes and JSON.
//!
//! Everything here is wasm32-only; on other targets the crate is empty (the native tests of
//! the core live in `resonance-edge`, the import's in `resonance-sasrec`).

#[cfg(target_arch = "wasm32")]
mod bindings;
#[cfg(target_arch = "wasm32")]
mod engine;
#[cfg(all(target_arch = "wasm32", feature = "webgpu"))]
mod webgpu;

#[cfg(target_arch = "wasm32")]
pub use resonance_edge::FeatureSnapshot;
