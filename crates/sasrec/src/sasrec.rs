//! The SASRec model (Kang & McAuley 2018): embed the history, add learned positions, run the
//! causal self-attention blocks, normalise; the state at the last position predicts the next
//! track, and a candidate's score is its dot product with that track's embedding.
//!
//! Histories are left-padded to `max_len` with item 0, so the most recent track always sits at
//! the last position. Two entry points share one encoder:
//! [`SasRec::forward_ids`] for training (ids in, states out) and [`SasRec::score_candidates`]
//! for serving (embeddings in, scores out), which is exactly what the ONNX graph computes.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Initializer};
use burn::tensor::Device;
use burn::tensor::{Int, Tensor};

use crate::MASKED;
use crate::block::{LayerNorm, SelfAttentionBlock};
use crate::config::SasRecConfig;
use crate::dropout::Dropout;

/// The SASRec encoder and its item embeddings; see the module documentation for its shape.
#[derive(Module, Debug)]
pub struct SasRec {
    /// [num_items + 1, d]; row 0 is padding.
    pub item_embedding: Embedding,
    /// [max_len, d]
    pub position_embedding: Embedding,
    /// The stacked self-attention blocks.
    pub blocks: Vec<SelfAttentionBlock>,
    /// Layer norm applied to the last block's output.
    pub final_norm: LayerNorm,
    dropout: Dropout,
    d_model: usize,
    max_len: usize,
}

impl SasRecConfig {
    /// A freshly initialised model on `device`.
    pub fn init(&self, device: &Device) -> SasRec {
        let normal = Initializer::Normal {
            mean: 0.0,
            std: self.init_std,
        };
        SasRec {
            item_embedding: EmbeddingConfig::new(self.num_items + 1, self.d_model)
                .with_initializer(normal.clone())
                .init(device),
            position_embedding: EmbeddingConfig::new(self.max_len, self.d_model)
                .with_initializer(normal)
                .init(device),
            blocks: (0..self.layers)
                .map(|_| SelfAttentionBlock::new(self.d_model, self.heads, self.dropout, device))
                .collect(),
            final_norm: LayerNorm::new(self.d_model, device),
            dropout: Dropout::new(self.dropout),
            d_model: self.d_model,
            max_len: self.max_len,
        }
    }
}

impl SasRec {
    /// Embedding and hidden size (d).
    pub fn d_model(&self) -> usize {
        self.d_model
    }

    /// Positions the model reads (L).
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Training entry: `ids` [B, L] (left-padded with 0) → states [B, L, d].
    pub fn forward_ids(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let keep = ids.clone().not_equal_elem(0).float();
        self.encode(self.item_embedding.forward(ids), keep)
    }

    /// Evaluation entry: `ids` [B, L] (left-padded with 0) → the last states [B, d], by
    /// [`SasRec::user_state`] (the last block for the last position alone).
    pub fn state_ids(&self, ids: Tensor<2, Int>) -> Tensor<2> {
        let keep = ids.clone().not_equal_elem(0).float();
        self.user_state(self.item_embedding.forward(ids), keep)
    }

    /// The encoder: `history` [B, L, d] raw item embeddings, `keep` [B, L] (1 = a real track,
    /// 0 = padding) → states [B, L, d].
    pub fn encode(&self, history: Tensor<3>, keep: Tensor<2>) -> Tensor<3> {
        let (mut x, mask, keep_column) = self.embed(history, keep);
        for block in &self.blocks {
            x = block.forward(x, mask.clone(), keep_column.clone());
        }
        self.final_norm.forward(x)
    }

    /// The blocks' input: `history` scaled by √d plus the positions, padding zeroed
    /// ([B, L, d]); the attention mask [B, 1, L, L]; `keep` as a column [B, L, 1].
    fn embed(&self, history: Tensor<3>, keep: Tensor<2>) -> (Tensor<3>, Tensor<4>, Tensor<3>) {
        let [batch, len, _] = history.dims();
        let device = history.device();
        let positions = self
            .position_embedding
            .weight
            .val()
            .narrow(0, self.max_len - len, len)
            .unsqueeze::<3>(); // [1, L, d]
        let keep_column = keep.clone().unsqueeze_dim::<3>(2); // [B, L, 1]
        let x = history * (self.d_model as f32).sqrt() + positions;
        let x = self.dropout.forward(x) * keep_column.clone();
        let mask = attention_mask(keep, batch, len, &device);
        (x, mask, keep_column)
    }

    /// The listener's state, the encoder's output at the last position (the graph's
    /// `user_state`): `history` [B, L, d], `keep` [B, L] → [B, d]. Only that position is
    /// read, so the last block computes it alone (its queries, attention row and feed-forward;
    /// keys and values still span the history), as the ONNX graph does: the same numbers at
    /// about half the last block's cost.
    pub fn user_state(&self, history: Tensor<3>, keep: Tensor<2>) -> Tensor<2> {
        let [batch, len, d_model] = history.dims();
        let (mut x, mask, keep_column) = self.embed(history, keep);
        let (last_block, earlier) = self
            .blocks
            .split_last()
            .expect("a model has at least one block (SasRecConfig::check)");
        for block in earlier {
            x = block.forward(x, mask.clone(), keep_column.clone());
        }
        let last = len - 1..len;
        let x = last_block.forward_from(
            x,
            len - 1,
            mask.slice([0..batch, 0..1, last.clone(), 0..len]), // [B, 1, 1, L]
            keep_column.slice([0..batch, last, 0..1]),          // [B, 1, 1]
        ); // [B, 1, d]
        self.final_norm.forward(x).reshape([batch, d_model])
    }

    /// Serving entry, what the ONNX graph computes: `history` [B, L, d], `keep` [B, L],
    /// `candidates` [B, C, d] raw item embeddings → one logit per candidate, [B, C].
    pub fn score_candidates(
        &self,
        history: Tensor<3>,
        keep: Tensor<2>,
        candidates: Tensor<3>,
    ) -> Tensor<2> {
        let [batch, count, d_model] = candidates.dims();
        let state = self.user_state(history, keep).reshape([batch, d_model, 1]);
        candidates.matmul(state).reshape([batch, count])
    }
}

/// The additive attention mask [B, 1, L, L]: a query may see itself and earlier real tracks;
/// later positions (causality) and padding keys get [`MASKED`].
fn attention_mask(keep: Tensor<2>, batch: usize, len: usize, device: &Device) -> Tensor<4> {
    let future = Tensor::<2, burn::tensor::Bool>::tril_mask([len, len], 0, device).float() * MASKED; // [L, L]
    let padding = (keep.neg() + 1.0) * MASKED; // [B, L]
    future.reshape([1, 1, len, len]) + padding.reshape([batch, 1, 1, len])
}
