//! SASRec as a [`FullScorer`]: encode each user's history, then score every track at once
//! with one matrix product against the item-embedding table.

use anyhow::Result;
use burn::tensor::Device;
use burn::tensor::{Int, Tensor, TensorData};
use resonance_sasrec::SasRec;

use super::evaluate::FullScorer;
use super::sequences::left_pad;

/// SASRec scoring every track for a batch of histories, on the model's own device.
pub struct SasRecScorer {
    model: SasRec,
    /// [d, num_items + 1]
    table_t: Tensor<2>,
    device: Device,
}

impl SasRecScorer {
    /// `model` must be in inference mode (`Module::valid`).
    pub fn new(model: SasRec) -> Self {
        let table = model.item_embedding.weight.val();
        let device = table.device();
        Self {
            table_t: table.transpose(),
            model,
            device,
        }
    }

    /// The last state of each history, [users, d].
    pub fn states(&self, histories: &[&[u32]]) -> Tensor<2> {
        let len = self.model.max_len();
        let ids: Vec<i64> = histories
            .iter()
            .flat_map(|h| left_pad(h, len).into_iter().map(i64::from))
            .collect();
        let ids =
            Tensor::<2, Int>::from_data(TensorData::new(ids, [histories.len(), len]), &self.device);
        self.model.state_ids(ids)
    }
}

impl FullScorer for SasRecScorer {
    fn score(&mut self, _: &[usize], histories: &[&[u32]]) -> Result<Vec<f32>> {
        let scores = self.states(histories).matmul(self.table_t.clone());
        scores
            .try_into_vec_as::<f32>()
            .map_err(|e| anyhow::anyhow!("cannot read the scores back: {e:?}"))
    }
}
