//! Causal multi-head self-attention (SASRec §III-B).
//!
//! Queries come from the layer-normed input, keys and values from the input itself, as in the
//! reference implementation. Future positions and padding are hidden by an additive float mask
//! (0 or [`crate::MASKED`]) rather than a boolean one, because that is what portable ONNX
//! runtimes (and the WebGPU engines) can run.

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::Device;
use burn::tensor::Tensor;
use burn::tensor::activation::softmax;

use crate::dropout::Dropout;

/// Multi-head self-attention in which each position sees only itself and earlier positions.
#[derive(Module, Debug)]
pub struct CausalSelfAttention {
    /// Query projection, d → d.
    pub query: Linear,
    /// Key projection, d → d.
    pub key: Linear,
    /// Value projection, d → d.
    pub value: Linear,
    /// Projection of the concatenated heads, d → d.
    pub output: Linear,
    dropout: Dropout,
    heads: usize,
}

impl CausalSelfAttention {
    /// The four projections Xavier-uniform initialised; `heads` must divide `d_model`.
    pub fn new(d_model: usize, heads: usize, dropout: f64, device: &Device) -> Self {
        let linear = || {
            LinearConfig::new(d_model, d_model)
                .with_initializer(Initializer::XavierUniform { gain: 1.0 })
                .init(device)
        };
        Self {
            query: linear(),
            key: linear(),
            value: linear(),
            output: linear(),
            dropout: Dropout::new(dropout),
            heads,
        }
    }

    /// Attention heads.
    pub fn heads(&self) -> usize {
        self.heads
    }

    /// `queries`: [B, Lq, d] (layer-normed), `keys_values`: [B, L, d],
    /// `mask`: [B, 1, Lq, L] additive (0 = visible). Returns [B, Lq, d].
    pub fn forward(
        &self,
        queries: Tensor<3>,
        keys_values: Tensor<3>,
        mask: Tensor<4>,
    ) -> Tensor<3> {
        let [batch, len_q, d_model] = queries.dims();
        let [_, len, _] = keys_values.dims();
        let d_head = d_model / self.heads;
        // [B, L, d] → [B, H, L, d/H]
        let split =
            |x: Tensor<3>, l: usize| x.reshape([batch, l, self.heads, d_head]).swap_dims(1, 2);
        let q = split(self.query.forward(queries), len_q);
        let k = split(self.key.forward(keys_values.clone()), len);
        let v = split(self.value.forward(keys_values), len);
        // [B, H, Lq, L]: scaled dot products, then the mask.
        let scores = q
            .matmul(k.swap_dims(2, 3))
            .div_scalar((d_head as f32).sqrt())
            + mask;
        let weights = self.dropout.forward(softmax(scores, 3));
        // [B, H, Lq, d/H] → [B, Lq, d]
        let context = weights
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([batch, len_q, d_model]);
        self.output.forward(context)
    }
}
