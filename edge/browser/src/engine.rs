//! The two engines behind one [`SequenceScorer`], and how one is chosen.

use resonance_edge::TractModel;
use resonance_edge::model::{ModelError, ModelOutput, SequenceScorer};

use crate::webgpu::WebGpuModel;

/// What the page asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Preference {
    /// WebGPU when the browser has it, else the CPU.
    Auto,
    WebGpu,
    Cpu,
}

impl Preference {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(Self::Auto),
            "webgpu" => Ok(Self::WebGpu),
            "cpu" => Ok(Self::Cpu),
            other => Err(format!("engine: `{other}` is not one of auto, webgpu, cpu")),
        }
    }
}

pub enum Engine {
    WebGpu(WebGpuModel),
    Cpu(TractModel),
}

impl Engine {
    /// Loads the model on the preferred engine. `Auto` falls back to the CPU and says why;
    /// an explicit `WebGpu` that cannot run is an error.
    pub async fn load(
        onnx: &[u8],
        preference: Preference,
    ) -> Result<(Self, Option<String>), String> {
        let cpu = || {
            TractModel::from_onnx(onnx)
                .map(Engine::Cpu)
                .map_err(|e| e.to_string())
        };
        match preference {
            Preference::Cpu => Ok((cpu()?, None)),
            Preference::WebGpu => Ok((Engine::WebGpu(WebGpuModel::load(onnx).await?), None)),
            Preference::Auto => match WebGpuModel::load(onnx).await {
                Ok(model) => Ok((Engine::WebGpu(model), None)),
                Err(reason) => Ok((cpu()?, Some(reason))),
            },
        }
    }
}

impl SequenceScorer for Engine {
    fn max_len(&self) -> usize {
        match self {
            Engine::WebGpu(m) => m.max_len(),
            Engine::Cpu(m) => m.max_len(),
        }
    }

    fn d_model(&self) -> usize {
        match self {
            Engine::WebGpu(m) => m.d_model(),
            Engine::Cpu(m) => m.d_model(),
        }
    }

    fn backend(&self) -> &'static str {
        match self {
            Engine::WebGpu(m) => m.backend(),
            Engine::Cpu(m) => m.backend(),
        }
    }

    async fn score(
        &self,
        history: &[f32],
        mask: &[f32],
        candidates: &[f32],
    ) -> Result<ModelOutput, ModelError> {
        match self {
            Engine::WebGpu(m) => m.score(history, mask, candidates).await,
            Engine::Cpu(m) => m.score(history, mask, candidates).await,
        }
    }
}
