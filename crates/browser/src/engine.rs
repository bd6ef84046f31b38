//! The engine this module was built with: exactly one of the `webgpu` and `cpu` features.
//!
//! The page picks the engine (WebGPU when the browser offers an adapter, else the CPU) before
//! it downloads a module, so each module carries one engine and no dead weight: burn's wgpu
//! runtime in one, tract in the other.

#[cfg(all(feature = "webgpu", feature = "cpu"))]
compile_error!("build the browser module with one engine: `--features webgpu` or `--features cpu`");
#[cfg(not(any(feature = "webgpu", feature = "cpu")))]
compile_error!("build the browser module with an engine: `--features webgpu` or `--features cpu`");

/// SASRec in burn on the browser's WebGPU.
#[cfg(feature = "webgpu")]
pub type Engine = crate::webgpu::WebGpuModel;

#[cfg(feature = "webgpu")]
pub async fn load(onnx: &[u8]) -> Result<Engine, String> {
    Engine::load(onnx).await
}

/// The ONNX graph on tract, exactly as in the Worker.
#[cfg(feature = "cpu")]
pub type Engine = resonance_edge::TractModel;

#[cfg(feature = "cpu")]
pub async fn load(onnx: &[u8]) -> Result<Engine, String> {
    Engine::from_onnx(onnx).map_err(|e| e.to_string())
}
