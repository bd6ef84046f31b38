//! `--device auto|cpu|wgpu`: where training runs.
//!
//! The CPU backend is burn's pure-Rust `flex`. The GPU backend, `burn-wgpu`, costs 25+ minutes
//! of compile on 2 cores, so it sits behind the trainer's `wgpu` cargo feature; without it,
//! `auto` means the CPU and `wgpu` is refused with a message saying how to get it.

use anyhow::Result;
use burn::tensor::Device;

/// Where to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The GPU when a wgpu adapter exists (and the build has the `wgpu` feature), else the CPU.
    Auto,
    /// burn's pure-Rust CPU backend (flex).
    Cpu,
    /// A GPU through wgpu (Vulkan, Metal, DX12); needs `--features wgpu`.
    Wgpu,
}

/// The device to train on, and a name for it.
pub fn select(choice: DeviceChoice) -> Result<(Device, &'static str)> {
    match choice {
        DeviceChoice::Cpu => Ok((Device::flex(), "cpu (flex)")),
        DeviceChoice::Auto => Ok(gpu().unwrap_or_else(|_| (Device::flex(), "cpu (flex)"))),
        DeviceChoice::Wgpu => gpu(),
    }
}

#[cfg(feature = "wgpu")]
fn gpu() -> Result<(Device, &'static str)> {
    let device = Device::wgpu_options()
        .init()
        .map_err(|e| anyhow::anyhow!("no usable wgpu adapter: {e:?}"))?;
    Ok((device, "gpu (wgpu)"))
}

#[cfg(not(feature = "wgpu"))]
fn gpu() -> Result<(Device, &'static str)> {
    anyhow::bail!(
        "--device wgpu: this trainer was built without GPU support; rebuild it with \
         `cargo build --release -p resonance-trainer --features wgpu` (25+ minutes of compile)"
    )
}
