//! The point-wise feed-forward network (SASRec §III-C): the same two-layer ReLU network
//! applied to every position on its own, giving the model non-linearity.

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::Device;
use burn::tensor::Tensor;
use burn::tensor::activation::relu;

use crate::dropout::Dropout;

/// `dropout(outer(dropout(relu(inner(x)))))` at every position; the caller adds the residual.
#[derive(Module, Debug)]
pub struct PointWiseFeedForward {
    /// The first layer, d → d, followed by ReLU.
    pub inner: Linear,
    /// The second layer, d → d.
    pub outer: Linear,
    dropout: Dropout,
}

impl PointWiseFeedForward {
    /// Both layers Xavier-uniform initialised.
    pub fn new(d_model: usize, dropout: f64, device: &Device) -> Self {
        let linear = || {
            LinearConfig::new(d_model, d_model)
                .with_initializer(Initializer::XavierUniform { gain: 1.0 })
                .init(device)
        };
        Self {
            inner: linear(),
            outer: linear(),
            dropout: Dropout::new(dropout),
        }
    }

    /// [B, L, d] → [B, L, d]
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let hidden = self.dropout.forward(relu(self.inner.forward(x)));
        self.dropout.forward(self.outer.forward(hidden))
    }
}
