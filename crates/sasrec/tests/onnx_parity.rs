//! The exported ONNX graph, run by tract-onnx (the Worker's CPU engine), gives burn's numbers:
//! on random inputs, on real-looking embeddings, and on short (padded) histories.

use burn::module::Module;
use burn::tensor::Device;
use burn::tensor::{Distribution, Tensor, TensorData};
use resonance_sasrec::{SasRec, SasRecConfig, onnx};
use tract_onnx::prelude::{
    Framework, InferenceModelExt, IntoRunnable, Tensor as TractTensor, tvec,
};

const TOLERANCE: f32 = 1e-4;

struct Case {
    batch: usize,
    candidates: usize,
    /// Real tracks per row (the rest is left padding).
    lengths: Vec<usize>,
    std: f32,
}

fn run_case(model: &SasRec, case: &Case, device: &Device) -> f32 {
    let (len, d) = (model.max_len(), model.d_model());
    let Case {
        batch, candidates, ..
    } = *case;
    let history = Tensor::<3>::random(
        [batch, len, d],
        Distribution::Normal(0.0, case.std as f64),
        device,
    );
    let keep: Vec<f32> = case
        .lengths
        .iter()
        .flat_map(|&n| (0..len).map(move |i| if i >= len - n { 1.0 } else { 0.0 }))
        .collect();
    let keep = Tensor::<2>::from_data(TensorData::new(keep, [batch, len]), device);
    // Padded rows hold zeros, as the edge sends them.
    let history = history * keep.clone().unsqueeze_dim::<3>(2);
    let cands = Tensor::<3>::random(
        [batch, candidates, d],
        Distribution::Normal(0.0, case.std as f64),
        device,
    );

    let flat = |t: Tensor<3>| t.try_into_vec_as::<f32>().unwrap();
    let (h, m, c) = (
        flat(history.clone()),
        keep.clone().try_into_vec_as::<f32>().unwrap(),
        flat(cands.clone()),
    );
    let expected = model
        .score_candidates(history, keep, cands)
        .try_into_vec_as::<f32>()
        .unwrap();

    let bytes = onnx::export(model, "test");
    let plan = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let out = plan
        .run(tvec![
            TractTensor::from_shape(&[batch, len, d], &h)
                .unwrap()
                .into(),
            TractTensor::from_shape(&[batch, len], &m).unwrap().into(),
            TractTensor::from_shape(&[batch, candidates, d], &c)
                .unwrap()
                .into(),
        ])
        .unwrap();
    let view = out[0].to_plain_array_view::<f32>().unwrap();
    assert_eq!(view.shape(), &[batch, candidates]);
    let got: Vec<f32> = view.iter().copied().collect();

    // The second output is the encoder state the scores are dot products with.
    let state = out[1].to_plain_array_view::<f32>().unwrap();
    assert_eq!(state.shape(), &[batch, d]);
    let state: Vec<f32> = state.iter().copied().collect();
    for (i, score) in got.iter().enumerate() {
        let (b, k) = (i / candidates, i % candidates);
        let dot: f32 = (0..d)
            .map(|j| c[(b * candidates + k) * d + j] * state[b * d + j])
            .sum();
        assert!(
            (dot - score).abs() < 1e-4,
            "candidate {i}: {dot} vs {score}"
        );
    }
    expected
        .iter()
        .zip(&got)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[test]
fn tract_matches_burn_on_random_and_padded_inputs() {
    let device = Device::flex();
    device.seed(7);
    let model = SasRecConfig::new(100)
        .with_max_len(12)
        .with_d_model(32)
        .with_heads(4)
        .init(&device)
        .valid();
    let cases = [
        Case {
            batch: 2,
            candidates: 7,
            lengths: vec![12, 12],
            std: 1.0,
        },
        Case {
            batch: 3,
            candidates: 20,
            lengths: vec![1, 5, 12],
            std: 0.05,
        },
        Case {
            batch: 1,
            candidates: 1,
            lengths: vec![2],
            std: 0.3,
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        let diff = run_case(&model, case, &device);
        assert!(diff < TOLERANCE, "case {i}: max |burn − tract| = {diff}");
    }
}

#[test]
fn the_default_architecture_exports_and_matches() {
    let device = Device::flex();
    device.seed(11);
    let model = SasRecConfig::new(500).init(&device).valid();
    let case = Case {
        batch: 2,
        candidates: 100,
        lengths: vec![50, 3],
        std: 0.05,
    };
    let diff = run_case(&model, &case, &device);
    assert!(diff < TOLERANCE, "max |burn − tract| = {diff}");
}
