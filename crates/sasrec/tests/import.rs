//! `onnx::import` rebuilds the exported model: same hyperparameters, same scores, and clear
//! errors for graphs that are not a SASRec export.

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use prost::Message;
use resonance_sasrec::onnx::{self, ImportError};
use resonance_sasrec::{SasRec, SasRecConfig};

/// Two listeners' inputs, drawn once: the device's generator is shared by every test running
/// in parallel, so each model must be scored on the same tensors, not on a re-seeded draw.
fn inputs(len: usize, d: usize, device: &Device) -> (Tensor<3>, Tensor<2>, Tensor<3>) {
    device.seed(7);
    let history = Tensor::<3>::random([2, len, d], Distribution::Normal(0.0, 0.05), device);
    // The second listener has three real tracks, the rest is left padding.
    let keep: Vec<f32> = (0..2 * len)
        .map(|i| {
            if i < len || i % len >= len - 3 {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let keep = Tensor::<2>::from_data(TensorData::new(keep, [2, len]), device);
    let history = history * keep.clone().unsqueeze_dim::<3>(2);
    let candidates = Tensor::<3>::random([2, 9, d], Distribution::Normal(0.0, 0.05), device);
    (history, keep, candidates)
}

fn scores(model: &SasRec, inputs: &(Tensor<3>, Tensor<2>, Tensor<3>)) -> Vec<f32> {
    let (history, keep, candidates) = inputs.clone();
    model
        .score_candidates(history, keep, candidates)
        .try_into_vec_as::<f32>()
        .unwrap()
}

#[test]
fn import_gives_back_the_exported_model() {
    let device = Device::flex();
    device.seed(3);
    let config = SasRecConfig::new(40)
        .with_max_len(12)
        .with_d_model(16)
        .with_heads(2)
        .with_layers(3);
    let original = config.init(&device);
    let imported = onnx::import(&onnx::export(&original, "test"), &device).unwrap();

    assert_eq!(imported.max_len(), 12);
    assert_eq!(imported.d_model(), 16);
    assert_eq!(imported.blocks.len(), 3);
    assert_eq!(imported.blocks[0].attention.heads(), 2);
    let inputs = inputs(12, 16, &device);
    let (expected, found) = (scores(&original, &inputs), scores(&imported, &inputs));
    assert_eq!(expected.len(), 18);
    for (e, f) in expected.iter().zip(&found) {
        assert!((e - f).abs() <= 1e-6, "{e} vs {f}");
    }
}

#[test]
fn import_refuses_what_is_not_a_sasrec_export() {
    let device = Device::flex();
    assert!(matches!(
        onnx::import(b"not a model at all", &device),
        Err(ImportError::Decode(_))
    ));
    // A valid ONNX model without the weights: an empty ModelProto is zero bytes.
    let error = onnx::import(&[], &device).unwrap_err();
    assert!(error.to_string().contains("no graph"), "{error}");

    // A graph whose weight was renamed names what is missing.
    let model = SasRecConfig::new(5)
        .with_max_len(4)
        .with_d_model(8)
        .with_heads(2)
        .init(&device);
    let mut graph =
        onnx::proto::ModelProto::decode(onnx::export(&model, "test").as_slice()).unwrap();
    for tensor in &mut graph.graph.as_mut().unwrap().initializer {
        if tensor.name == "final_norm.gamma" {
            tensor.name = "renamed".into();
        }
    }
    let bytes = graph.encode_to_vec();
    let error = onnx::import(&bytes, &device).unwrap_err();
    assert_eq!(error, ImportError::Missing("final_norm.gamma".into()));
}
