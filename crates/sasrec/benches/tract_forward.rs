//! One SASRec forward in tract-onnx (the Worker's CPU engine), at the product's shape:
//! d = 128, 4 heads, 2 blocks, a history of 50 tracks, 100 candidates, batch 1.
//! Run: `cargo bench --workspace --profile dev --bench tract_forward` (the test build's profile).

use burn::module::Module;
use burn::tensor::Device;
use criterion::{Criterion, criterion_group, criterion_main};
use resonance_sasrec::{SasRecConfig, onnx};
use tract_onnx::prelude::{Framework, InferenceModelExt, IntoRunnable, Tensor, tvec};

fn forward(c: &mut Criterion) {
    let device = Device::flex();
    device.seed(1);
    let model = SasRecConfig::new(10_000).init(&device).valid();
    let bytes = onnx::export(&model, "bench");
    let plan = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let (len, d, candidates) = (50, 128, 100);
    let history: Vec<f32> = (0..len * d)
        .map(|i| ((i * 7919) % 1000) as f32 / 20_000.0 - 0.025)
        .collect();
    let mask = vec![1.0f32; len];
    let cands: Vec<f32> = (0..candidates * d)
        .map(|i| ((i * 104_729) % 1000) as f32 / 20_000.0 - 0.025)
        .collect();
    c.bench_function("tract sasrec forward (L=50, C=100, d=128)", |b| {
        b.iter(|| {
            plan.run(tvec![
                Tensor::from_shape(&[1, len, d], &history).unwrap().into(),
                Tensor::from_shape(&[1, len], &mask).unwrap().into(),
                Tensor::from_shape(&[1, candidates, d], &cands)
                    .unwrap()
                    .into(),
            ])
            .unwrap()
        })
    });
}

criterion_group!(benches, forward);
criterion_main!(benches);
