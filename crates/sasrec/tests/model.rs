//! The burn model's behaviour: causality, padding that cannot leak, and one set of numbers
//! whether it is fed ids (training) or embeddings (serving).

use burn::module::Module;
use burn::tensor::Device;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use resonance_sasrec::SasRecConfig;

fn device() -> Device {
    Device::flex()
}

fn config() -> SasRecConfig {
    SasRecConfig::new(40)
        .with_max_len(8)
        .with_d_model(16)
        .with_heads(4)
        .with_layers(2)
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.try_into_vec_as::<f32>().unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn a_position_never_sees_the_future() {
    let device = device();
    let model = config().init(&device).valid();
    let ids = |last: i64| {
        Tensor::<2, Int>::from_data(
            TensorData::new(vec![0, 0, 3, 4, 5, 6, 7, last], [1, 8]),
            &device,
        )
    };
    let a = to_vec(model.forward_ids(ids(8)).slice([0..1, 0..7, 0..16]));
    let b = to_vec(model.forward_ids(ids(9)).slice([0..1, 0..7, 0..16]));
    assert_eq!(a, b, "changing the last track changed earlier states");
    let a = to_vec(model.forward_ids(ids(8)));
    let b = to_vec(model.forward_ids(ids(9)));
    assert!(
        max_diff(&a, &b) > 1e-3,
        "the last state ignores the last track"
    );
}

#[test]
fn padding_cannot_leak_into_the_scores() {
    let device = device();
    let model = config().init(&device).valid();
    let keep = Tensor::<2>::from_data(
        TensorData::new(vec![0.0f32, 0., 0., 0., 0., 1., 1., 1.], [1, 8]),
        &device,
    );
    let history = Tensor::<3>::random([1, 8, 16], Distribution::Normal(0.0, 0.05), &device);
    let garbage = Tensor::<3>::random([1, 8, 16], Distribution::Normal(0.0, 5.0), &device);
    let pad_rows = keep.clone().neg().add_scalar(1.0).unsqueeze_dim::<3>(2);
    let noisy = history.clone() + garbage * pad_rows;
    let candidates = Tensor::<3>::random([1, 5, 16], Distribution::Normal(0.0, 0.05), &device);
    let clean = to_vec(model.score_candidates(history, keep.clone(), candidates.clone()));
    let noisy = to_vec(model.score_candidates(noisy, keep, candidates));
    assert!(max_diff(&clean, &noisy) < 1e-6, "{clean:?} vs {noisy:?}");
}

#[test]
fn ids_and_embeddings_give_the_same_scores() {
    let device = device();
    let model = config().init(&device).valid();
    let ids = vec![0i64, 0, 0, 12, 7, 30, 2, 19];
    let candidates = vec![1i64, 7, 25, 39];
    let states = model.forward_ids(Tensor::<2, Int>::from_data(
        TensorData::new(ids.clone(), [1, 8]),
        &device,
    ));
    let last = states.slice([0..1, 7..8, 0..16]).reshape([1, 16]);
    let table = model.item_embedding.weight.val();
    let rows = |v: &[i64]| {
        let idx = Tensor::<1, Int>::from_data(TensorData::new(v.to_vec(), [v.len()]), &device);
        table.clone().select(0, idx)
    };
    let via_ids = to_vec(rows(&candidates).matmul(last.transpose()).reshape([4]));
    let keep: Vec<f32> = ids
        .iter()
        .map(|&i| if i == 0 { 0.0 } else { 1.0 })
        .collect();
    let via_embeddings = to_vec(model.score_candidates(
        rows(&ids).unsqueeze::<3>(),
        Tensor::<2>::from_data(TensorData::new(keep, [1, 8]), &device),
        rows(&candidates).unsqueeze::<3>(),
    ));
    assert!(
        max_diff(&via_ids, &via_embeddings) < 1e-5,
        "{via_ids:?} vs {via_embeddings:?}"
    );
}

#[test]
fn the_serving_state_is_the_encoders_last_position() {
    // `user_state` runs the last block for the last position alone: per listener of a batch
    // (each padded differently), for one block and for three, it equals the full encoder's.
    let device = device();
    for layers in [1, 3] {
        let model = config().with_layers(layers).init(&device).valid();
        let history = Tensor::<3>::random([2, 8, 16], Distribution::Normal(0.0, 0.5), &device);
        let keep = Tensor::<2>::from_data(
            TensorData::new(
                vec![
                    0.0f32, 0., 0., 1., 1., 1., 1., 1., 0., 1., 1., 1., 1., 1., 1., 1.,
                ],
                [2, 8],
            ),
            &device,
        );
        let full = model.encode(history.clone(), keep.clone());
        let full = to_vec(full.slice([0..2, 7..8, 0..16]).reshape([2, 16]));
        let served = to_vec(model.user_state(history, keep));
        assert!(
            max_diff(&full, &served) < 1e-5,
            "{layers} blocks: {full:?} vs {served:?}"
        );
        assert!(served.iter().any(|x| x.abs() > 1e-3), "{served:?}");
    }
}

#[test]
fn bad_hyperparameters_are_named() {
    assert!(config().check().is_ok());
    assert!(
        config()
            .with_heads(3)
            .check()
            .unwrap_err()
            .starts_with("heads")
    );
    assert!(
        config()
            .with_dropout(1.0)
            .check()
            .unwrap_err()
            .starts_with("dropout")
    );
    assert!(
        SasRecConfig::new(0)
            .check()
            .unwrap_err()
            .starts_with("num_items")
    );
}
