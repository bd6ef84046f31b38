//! Dropout (Srivastava et al. 2014) whose masks can be drawn on the host, in blocks.
//!
//! burn's `Dropout` asks the backend for a Bernoulli tensor. On the CPU backend (flex) that is
//! one call of a generic per-element sampler over ChaCha for every element, on one thread:
//! about 14 % of a training epoch's CPU (perf, ML-100K, batch 128), for ~7 million elements a
//! batch. [`seed_host_masks`] switches every [`Dropout`] to masks drawn here instead: 16 random
//! bits an element from ChaCha8 in bulk, compared with the keep threshold, already scaled by
//! `1 / keep`, so applying one is a single multiplication. Without it (the GPU, where the
//! backend's sampler runs on the device and a host mask would be an upload) dropout is burn's.
//!
//! The host masks are reproducible: the n-th mask drawn since [`seed_host_masks`] comes from
//! ChaCha8 stream n of the seed, whatever else runs, the way `Device::seed` makes the backend's.

use std::cell::Cell;

use burn::module::Module;
use burn::nn::DropoutConfig;
use burn::tensor::{Tensor, TensorData};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

thread_local! {
    /// The seed and the number of masks drawn from it on this thread; `None`: the backend draws
    /// the masks. Per thread, so two trainings in one process (tests) never share a stream.
    static HOST_MASKS: Cell<Option<(u64, u64)>> = const { Cell::new(None) };
}

/// From now on every [`Dropout`] run on this thread in training draws its masks on the host
/// from `seed`.
pub fn seed_host_masks(seed: u64) {
    HOST_MASKS.set(Some((seed, 0)));
}

/// Back to the backend's sampler (burn's behaviour) on this thread.
pub fn backend_masks() {
    HOST_MASKS.set(None);
}

/// Zeroes each element with probability `prob` during training and scales the rest by
/// `1 / (1 − prob)`; the identity outside training (a device without autodiff).
#[derive(Module, Debug)]
pub struct Dropout {
    prob: f64,
}

impl Dropout {
    /// Dropout with probability `prob` in [0, 1) (checked by `SasRecConfig::check`).
    pub fn new(prob: f64) -> Self {
        Self { prob }
    }

    /// `input` [..] → the same shape.
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let device = input.device();
        if self.prob == 0.0 || !device.is_autodiff() {
            return input;
        }
        let Some((seed, stream)) = HOST_MASKS.get() else {
            return DropoutConfig::new(self.prob).init().forward(input);
        };
        HOST_MASKS.set(Some((seed, stream + 1)));
        let shape = input.shape();
        let mask = host_mask(shape.num_elements(), self.prob, seed, stream);
        input * Tensor::<D>::from_data(TensorData::new(mask, shape), &device)
    }
}

/// `count` values, each 0 with probability `prob` (to 2⁻¹⁶) and `1 / (1 − prob)` otherwise,
/// from ChaCha8 stream `stream` of `seed`.
fn host_mask(count: usize, prob: f64, seed: u64, stream: u64) -> Vec<f32> {
    let keep = 1.0 - prob;
    // An element is kept when its 16 random bits fall below the threshold.
    let threshold = (keep * 65_536.0).round() as u32;
    let scale = (1.0 / keep) as f32;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    let element = |bits: u32| if bits < threshold { scale } else { 0.0 };
    // Each 32-bit word decides two elements (low half first), straight into the mask.
    let mut mask = Vec::with_capacity(count);
    for _ in 0..count / 2 {
        let word = rng.next_u32();
        mask.extend([element(word & 0xffff), element(word >> 16)]);
    }
    if count % 2 == 1 {
        mask.push(element(rng.next_u32() & 0xffff));
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_mask_keeps_the_right_share_scaled_and_reproduces() {
        let mask = host_mask(200_000, 0.2, 7, 3);
        let kept: Vec<f32> = mask.iter().copied().filter(|&v| v != 0.0).collect();
        let share = kept.len() as f64 / mask.len() as f64;
        assert!((share - 0.8).abs() < 0.005, "kept {share}");
        assert!(kept.iter().all(|&v| (v - 1.25).abs() < 1e-6));
        // Its mean is 1: dropout changes no expectation.
        let mean = mask.iter().map(|&v| f64::from(v)).sum::<f64>() / mask.len() as f64;
        assert!((mean - 1.0).abs() < 0.01, "mean {mean}");
        assert_eq!(mask, host_mask(200_000, 0.2, 7, 3));
        assert_ne!(
            mask,
            host_mask(200_000, 0.2, 7, 4),
            "another stream, another mask"
        );
    }
}
