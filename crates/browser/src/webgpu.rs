//! The WebGPU engine: SASRec in burn on the browser's GPU.
//!
//! burn's wgpu runtime can be initialised once per page, so the device is acquired on first
//! use and kept. Each forward pass uploads three small tensors, runs the encoder, and reads the
//! scores and the user state back in one transfer (each readback waits for the GPU).

use std::cell::RefCell;

use burn::tensor::{Device, Tensor, TensorData};
use resonance_edge::model::{ModelError, ModelOutput, SequenceScorer, check_inputs};
use resonance_sasrec::SasRec;

thread_local! {
    static DEVICE: RefCell<Option<Device>> = const { RefCell::new(None) };
}

/// Whether the page exposes WebGPU at all (`navigator.gpu`); asking wgpu for an adapter
/// without it fails less clearly.
fn webgpu_exposed() -> bool {
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &"navigator".into())
        .and_then(|navigator| js_sys::Reflect::get(&navigator, &"gpu".into()))
        .map(|gpu| !gpu.is_undefined() && !gpu.is_null())
        .unwrap_or(false)
}

/// The page's WebGPU device, acquired on first call.
async fn device() -> Result<Device, String> {
    if let Some(device) = DEVICE.with(|d| d.borrow().clone()) {
        return Ok(device);
    }
    if !webgpu_exposed() {
        return Err("this browser does not expose WebGPU (navigator.gpu is absent)".into());
    }
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| format!("no WebGPU adapter: {e}"))?;
    DEVICE.with(|d| *d.borrow_mut() = Some(device.clone()));
    Ok(device)
}

pub struct WebGpuModel {
    model: SasRec,
    device: Device,
}

impl WebGpuModel {
    /// Loads the weights of an exported graph onto the GPU.
    pub async fn load(onnx: &[u8]) -> Result<Self, String> {
        let device = device().await?;
        let model = resonance_sasrec::onnx::import(onnx, &device).map_err(|e| e.to_string())?;
        Ok(Self { model, device })
    }
}

impl SequenceScorer for WebGpuModel {
    fn max_len(&self) -> usize {
        self.model.max_len()
    }

    fn d_model(&self) -> usize {
        self.model.d_model()
    }

    fn backend(&self) -> &'static str {
        "webgpu"
    }

    async fn score(
        &self,
        history: &[f32],
        mask: &[f32],
        candidates: &[f32],
    ) -> Result<ModelOutput, ModelError> {
        let (len, d) = (self.max_len(), self.d_model());
        check_inputs(len, d, history, mask, candidates)?;
        let count = candidates.len() / d;
        let upload = |values: &[f32], shape: Vec<usize>| TensorData::new(values.to_vec(), shape);
        let history = Tensor::<3>::from_data(upload(history, vec![1, len, d]), &self.device);
        let keep = Tensor::<2>::from_data(upload(mask, vec![1, len]), &self.device);
        let candidates = Tensor::<2>::from_data(upload(candidates, vec![count, d]), &self.device);

        let state = self.model.user_state(history, keep).reshape([d, 1]); // [d, 1]
        let scores = candidates.matmul(state.clone()).reshape([count]); // [C]
        // One readback for both: [C + d].
        let both = Tensor::cat(vec![scores, state.reshape([d])], 0);
        let values = both
            .into_data_async()
            .await
            .map_err(|e| ModelError::Run(format!("reading the GPU's answer: {e:?}")))?
            .try_into_vec::<f32>()
            .map_err(|e| ModelError::Run(format!("the GPU's answer is not f32: {e:?}")))?;
        if values.len() != count + d {
            return Err(ModelError::Shape(format!(
                "the GPU returned {} values for {count} candidates and d = {d}",
                values.len()
            )));
        }
        let user_state = values[count..].to_vec();
        let mut scores = values;
        scores.truncate(count);
        Ok(ModelOutput { scores, user_state })
    }
}
