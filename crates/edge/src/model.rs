//! The transformer part of a rerank: what any SASRec engine takes and gives.
//!
//! The exported graph (see `resonance_sasrec::onnx`) takes embeddings, not ids:
//!
//! ```text
//! history    f32[1, L, d]   the last L history embeddings, left-padded with zeros
//! mask       f32[1, L]      1 for a real track, 0 for padding
//! candidates f32[1, C, d]   the candidates' embeddings
//! scores     f32[1, C]      one logit per candidate
//! user_state f32[1, d]      the encoder's last state; scores = candidates · user_state
//! ```
//!
//! [`SequenceScorer`] is what the rerank core needs from any engine: tract on the CPU
//! (`crate::tract`, in the Worker and the browser) or burn on WebGPU (the browser module).

/// Why a model could not be loaded or run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// The graph does not parse or optimise.
    #[error("the ONNX model cannot be loaded: {0}")]
    Load(String),
    /// A forward pass failed.
    #[error("the model failed to run: {0}")]
    Run(String),
    /// Inputs of the wrong shape.
    #[error("{0}")]
    Shape(String),
    /// The engine is not ready to run without first loading its graph or building its plan,
    /// and the caller asked not to wait (`crate::served_model::ServedModel::scorer`).
    #[error("the model is still loading")]
    Warming,
}

/// One forward pass for one listener.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOutput {
    /// One logit per candidate, in input order.
    pub scores: Vec<f32>,
    /// The encoder state the scores are dot products with, `[d]`.
    pub user_state: Vec<f32>,
}

/// A SASRec engine: scores candidates from history embeddings.
#[allow(async_fn_in_trait)] // single-threaded runtimes (Worker, browser) and tests only
pub trait SequenceScorer {
    /// L: how many history tracks the model reads.
    fn max_len(&self) -> usize;
    /// d: the embedding width.
    fn d_model(&self) -> usize;
    /// Where it runs, reported in the response's `backend` (`tract-cpu`, `webgpu`).
    fn backend(&self) -> &'static str;
    /// Whether a forward pass can run now without first building the engine's plan.
    fn is_ready(&self) -> bool {
        true
    }
    /// `history` [L·d] left-padded, `mask` [L], `candidates` [C·d], all row-major.
    async fn score(
        &self,
        history: &[f32],
        mask: &[f32],
        candidates: &[f32],
    ) -> Result<ModelOutput, ModelError>;
}

/// Checks the flat inputs against L and d; every engine calls it before running.
pub fn check_inputs(
    len: usize,
    d: usize,
    history: &[f32],
    mask: &[f32],
    candidates: &[f32],
) -> Result<(), ModelError> {
    if history.len() != len * d || mask.len() != len {
        return Err(ModelError::Shape(format!(
            "history must be [{len}, {d}] and mask [{len}], got {} and {} values",
            history.len(),
            mask.len()
        )));
    }
    if candidates.is_empty() || !candidates.len().is_multiple_of(d) {
        return Err(ModelError::Shape(format!(
            "candidates must be [C, {d}] with C ≥ 1, got {} values",
            candidates.len()
        )));
    }
    Ok(())
}

/// The model inputs for history rows (oldest first, at most `len`): `[len·d]` left-padded
/// with zeros, and the mask with 1 for each real row.
pub fn history_inputs(len: usize, d: usize, rows: &[&[f32]]) -> (Vec<f32>, Vec<f32>) {
    let rows = &rows[rows.len().saturating_sub(len)..];
    let pad = len - rows.len();
    let mut input = vec![0.0f32; len * d];
    let mut mask = vec![0.0f32; len];
    for (i, row) in rows.iter().enumerate() {
        input[(pad + i) * d..(pad + i + 1) * d].copy_from_slice(row);
        mask[pad + i] = 1.0;
    }
    (input, mask)
}

/// Scores candidates against a cached user state: the graph's last MatMul, done here.
pub fn dot_scores(user_state: &[f32], candidates: &[f32]) -> Vec<f32> {
    candidates
        .chunks_exact(user_state.len())
        .map(|c| dot(c, user_state))
        .collect()
}

/// Elements a block of the dot product holds: eight independent sums, where one running sum
/// could not use SIMD lanes (float addition does not reassociate).
const LANES: usize = 8;

/// A dot product: whole blocks of [`LANES`], then the rest.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (a_blocks, b_blocks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_blocks
        .remainder()
        .iter()
        .zip(b_blocks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    blocks_dot(a_blocks, b_blocks) + tail
}

/// The blocks' part in wasm's 128-bit SIMD, two vectors of four: the Worker's build optimises
/// for size, where LLVM vectorises no loop.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn blocks_dot(a: std::slice::ChunksExact<'_, f32>, b: std::slice::ChunksExact<'_, f32>) -> f32 {
    use core::arch::wasm32::{f32x4_add, f32x4_extract_lane, f32x4_mul, f32x4_splat, v128_load};
    let (mut low, mut high) = (f32x4_splat(0.0), f32x4_splat(0.0));
    for (x, y) in a.zip(b) {
        // SAFETY: each block holds eight f32s, so both loads of four stay inside it; v128_load
        // needs no alignment.
        unsafe {
            let (x, y) = (x.as_ptr().cast(), y.as_ptr().cast());
            low = f32x4_add(low, f32x4_mul(v128_load(x), v128_load(y)));
            high = f32x4_add(high, f32x4_mul(v128_load(x.add(1)), v128_load(y.add(1))));
        }
    }
    let sums = f32x4_add(low, high);
    f32x4_extract_lane::<0>(sums)
        + f32x4_extract_lane::<1>(sums)
        + f32x4_extract_lane::<2>(sums)
        + f32x4_extract_lane::<3>(sums)
}

/// The blocks' part in eight scalar sums, which an optimising build vectorises.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn blocks_dot(a: std::slice::ChunksExact<'_, f32>, b: std::slice::ChunksExact<'_, f32>) -> f32 {
    let mut sums = [0.0f32; LANES];
    for (x, y) in a.zip(b) {
        for lane in 0..LANES {
            sums[lane] += x[lane] * y[lane];
        }
    }
    sums.iter().sum()
}
