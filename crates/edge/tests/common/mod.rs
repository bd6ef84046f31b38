//! What the native tests of the core share: a small SASRec in burn with its item rows.

use burn::module::Module;
use burn::tensor::Device;
use resonance_sasrec::{SasRec, SasRecConfig};

/// A small SASRec over `tracks` tracks (`len` positions, `d` wide, 2 heads), its weights
/// drawn from `seed`, and its item-embedding rows (row 0 is padding).
pub fn small_sasrec(seed: u64, tracks: usize, len: usize, d: usize) -> (SasRec, Vec<Vec<f32>>) {
    let device = Device::flex();
    device.seed(seed);
    let model = SasRecConfig::new(tracks)
        .with_max_len(len)
        .with_d_model(d)
        .with_heads(2)
        .init(&device)
        .valid();
    let table: Vec<f32> = model.item_embedding.weight.val().try_into_vec_as().unwrap();
    let rows = table.chunks(d).map(<[f32]>::to_vec).collect();
    (model, rows)
}
