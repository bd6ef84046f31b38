//! One self-attention block (SASRec §III-D): attention and feed-forward, each wrapped in
//! layer norm, dropout and a residual connection; padded positions are zeroed after the block.
//!
//! Layer norm is written out (mean, variance, normalise, scale, shift) rather than using
//! burn's fused op, so the ONNX graph can use the very same basic operations (opset ≤ 15 has
//! no LayerNormalization) and match it number for number.

use burn::module::{Module, Param};
use burn::tensor::Device;
use burn::tensor::Tensor;

use crate::LAYER_NORM_EPSILON;
use crate::attention::CausalSelfAttention;
use crate::feed_forward::PointWiseFeedForward;

/// Layer normalisation over the last dimension, with learned scale and shift.
#[derive(Module, Debug)]
pub struct LayerNorm {
    /// The learned scale γ, [d]; starts at 1.
    pub gamma: Param<Tensor<1>>,
    /// The learned shift β, [d]; starts at 0.
    pub beta: Param<Tensor<1>>,
}

impl LayerNorm {
    /// The identity normalisation: γ = 1, β = 0.
    pub fn new(d_model: usize, device: &Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([d_model], device)),
            beta: Param::from_tensor(Tensor::zeros([d_model], device)),
        }
    }

    /// [B, L, d] → [B, L, d]: `(x − mean) / sqrt(var + ε) · γ + β`, biased variance.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let mean = x.clone().mean_dim(2);
        let centred = x - mean;
        let variance = (centred.clone() * centred.clone()).mean_dim(2);
        let normalised = centred / (variance + LAYER_NORM_EPSILON).sqrt();
        normalised * self.gamma.val().unsqueeze::<3>() + self.beta.val().unsqueeze::<3>()
    }
}

/// One SASRec block: layer norm → causal attention (+ residual) → layer norm → feed-forward
/// (+ residual).
#[derive(Module, Debug)]
pub struct SelfAttentionBlock {
    /// Normalises the block's input into the attention's queries.
    pub attention_norm: LayerNorm,
    /// The causal self-attention.
    pub attention: CausalSelfAttention,
    /// Normalises the attention's output before the feed-forward network.
    pub feed_forward_norm: LayerNorm,
    /// The point-wise feed-forward network.
    pub feed_forward: PointWiseFeedForward,
}

impl SelfAttentionBlock {
    /// A freshly initialised block.
    pub fn new(d_model: usize, heads: usize, dropout: f64, device: &Device) -> Self {
        Self {
            attention_norm: LayerNorm::new(d_model, device),
            attention: CausalSelfAttention::new(d_model, heads, dropout, device),
            feed_forward_norm: LayerNorm::new(d_model, device),
            feed_forward: PointWiseFeedForward::new(d_model, dropout, device),
        }
    }

    /// `x`: [B, L, d]; `mask`: [B, 1, L, L] additive; `keep`: [B, L, 1] (1 = real, 0 = padding).
    pub fn forward(&self, x: Tensor<3>, mask: Tensor<4>, keep: Tensor<3>) -> Tensor<3> {
        self.forward_from(x, 0, mask, keep)
    }

    /// Positions `from..L` of [`Self::forward`]'s output, [B, L − from, d]: every position is
    /// a key and a value, only these are queries (serving reads the last block's last
    /// position alone, as the ONNX graph does). `mask`: [B, 1, L − from, L] and `keep`:
    /// [B, L − from, 1], their rows.
    pub fn forward_from(
        &self,
        x: Tensor<3>,
        from: usize,
        mask: Tensor<4>,
        keep: Tensor<3>,
    ) -> Tensor<3> {
        let [batch, len, d_model] = x.dims();
        let rows = match from {
            0 => x.clone(),
            _ => x.clone().slice([0..batch, from..len, 0..d_model]),
        };
        let queries = self.attention_norm.forward(rows); // [B, L − from, d]
        let attended = queries.clone() + self.attention.forward(queries, x, mask);
        let normed = self.feed_forward_norm.forward(attended);
        let out = normed.clone() + self.feed_forward.forward(normed);
        out * keep
    }
}
