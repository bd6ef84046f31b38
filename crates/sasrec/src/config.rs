//! SASRec's hyperparameters.

use burn::config::Config;

/// SASRec's hyperparameters; the defaults are the product's (d = 128, 4 heads, 2 blocks,
/// 50 tracks of history, dropout 0.2).
#[derive(Config, Debug, PartialEq)]
pub struct SasRecConfig {
    /// Catalogue size; embedding row 0 is padding, so the table has `num_items + 1` rows.
    pub num_items: usize,
    /// Tracks of history the model reads (L).
    #[config(default = 50)]
    pub max_len: usize,
    /// Embedding and hidden size (d).
    #[config(default = 128)]
    pub d_model: usize,
    /// Attention heads; must divide `d_model`.
    #[config(default = 4)]
    pub heads: usize,
    /// Self-attention blocks.
    #[config(default = 2)]
    pub layers: usize,
    /// Dropout rate in training, in [0, 1); applied to embeddings, attention weights and the
    /// feed-forward network.
    #[config(default = 0.2)]
    pub dropout: f64,
    /// Standard deviation of the embedding initialisation. burn's default N(0, 1) inflates the
    /// logits and trains badly; N(0, 0.05) trains well.
    #[config(default = 0.05)]
    pub init_std: f64,
}

impl SasRecConfig {
    /// Checks the hyperparameters, naming the first bad one.
    pub fn check(&self) -> Result<(), String> {
        if self.num_items == 0 {
            return Err("num_items: the catalogue is empty".into());
        }
        if self.max_len == 0 || self.max_len > 1024 {
            return Err(format!("max_len: {} is outside 1–1024", self.max_len));
        }
        if self.d_model == 0 || self.heads == 0 || !self.d_model.is_multiple_of(self.heads) {
            return Err(format!(
                "heads: {} must be positive and divide d_model ({})",
                self.heads, self.d_model
            ));
        }
        if self.layers == 0 || self.layers > 16 {
            return Err(format!("layers: {} is outside 1–16", self.layers));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout: {} is outside [0, 1)", self.dropout));
        }
        Ok(())
    }
}
