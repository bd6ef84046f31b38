//! What the native tests of the core share: a small SASRec in burn with its item rows.

use burn::module::Module;
use burn::tensor::Device;
use resonance_sasrec::{SasRec, SasRecConfig};

/// A small SASRec over `tracks` tracks (`len` positions, `d` wide, 2 heads), its weights
/// drawn from `seed`, and its item-embedding rows (row 0 is padding).
pub fn small_sasrec(seed: u64, tracks: usize, len: usize, d: usize) -> (SasRec, Vec<Vec<f32>>) {
    // burn's generator is shared by the tests running in parallel: seed and draw under one
    // lock, or another test's draw in between makes two calls with one seed differ.
    static DRAW: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _draw = DRAW.lock().unwrap_or_else(|e| e.into_inner());
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
