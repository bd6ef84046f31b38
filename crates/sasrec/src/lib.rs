//! # resonance-sasrec
//!
//! SASRec, the self-attentive sequential recommender of Kang & McAuley (2018,
//! arXiv 1808.09781), written once with burn so that the trainer (CPU or wgpu) and the browser
//! module (WebGPU) run the same definition, plus its hand-written ONNX export for the Worker.
//!
//! The model reads like the paper, one module per block:
//!
//! - [`config`]: the hyperparameters (d = 128, 4 heads, 2 blocks, 50 tracks, dropout 0.2);
//! - [`dropout`]: dropout whose masks the trainer draws on the host on the CPU;
//! - [`attention`]: causal multi-head self-attention (§III-B), with an additive float mask;
//! - [`feed_forward`]: the point-wise feed-forward network (§III-C);
//! - [`block`]: one self-attention block with layer norm, dropout and residuals (§III-D);
//! - [`sasrec`]: item embeddings scaled by √d, learned positions, the stacked blocks, a final
//!   layer norm; a candidate's score is the dot product of the last state and its embedding;
//! - [`onnx`]: the graph the edge runs: it takes *embeddings*, not ids, so the edge never
//!   needs the whole catalogue.
//!
//! Layer norm and the masks use only basic operations, in the same order in burn and in the
//! ONNX graph, so that both compute the same numbers.

pub mod attention;
pub mod block;
pub mod config;
pub mod dropout;
pub mod feed_forward;
pub mod onnx;
pub mod sasrec;

pub use config::SasRecConfig;
pub use sasrec::SasRec;

/// Added to an attention score to hide a position. Finite (not −∞) so that a row with every
/// position hidden (a padding query) stays finite instead of turning into NaN.
pub const MASKED: f32 = -1.0e9;

/// The layer-norm epsilon, on both sides of the export.
pub const LAYER_NORM_EPSILON: f64 = 1e-8;
