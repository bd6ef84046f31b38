//! The values of the flags that pick one of a few ways, as clap sees them (the library
//! types carry no clap derives), each with its help and its library counterpart.

use clap::ValueEnum;
use resonance_featurestore::graphs::GraphSource;
use resonance_interest::llm::ProviderKind;
use resonance_train::device::DeviceChoice;
use resonance_train::train::Loss;

/// `--interest-graphs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphSourceArg {
    /// The graphs `trainer interest-graph` stored in Redis.
    Redis,
    /// Built now by the offline provider from the same data.
    Offline,
    /// No interest graphs.
    None,
}

impl From<GraphSourceArg> for GraphSource {
    fn from(arg: GraphSourceArg) -> Self {
        match arg {
            GraphSourceArg::Redis => GraphSource::Redis,
            GraphSourceArg::Offline => GraphSource::Offline,
            GraphSourceArg::None => GraphSource::None,
        }
    }
}

/// `--provider`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    /// Anthropic's Messages API (ANTHROPIC_API_KEY).
    Anthropic,
    /// OpenAI's Chat Completions (OPENAI_API_KEY).
    #[value(name = "openai")]
    OpenAi,
    /// Any OpenAI-style server (Ollama, vLLM): --base-url, OPENAI_COMPATIBLE_API_KEY optional.
    #[value(name = "openai-compatible")]
    OpenAiCompatible,
    /// A deterministic graph from the same summary, no network.
    Offline,
}

impl From<ProviderArg> for ProviderKind {
    fn from(arg: ProviderArg) -> Self {
        match arg {
            ProviderArg::Anthropic => ProviderKind::Anthropic,
            ProviderArg::OpenAi => ProviderKind::OpenAi,
            ProviderArg::OpenAiCompatible => ProviderKind::OpenAiCompatible,
            ProviderArg::Offline => ProviderKind::Offline,
        }
    }
}

/// `--device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    /// The GPU when a wgpu adapter exists (and the trainer was built with `--features wgpu`),
    /// else the CPU.
    Auto,
    /// burn's pure-Rust CPU backend (flex).
    Cpu,
    /// A GPU through wgpu (Vulkan, Metal, DX12); needs `--features wgpu`.
    Wgpu,
}

impl From<DeviceArg> for DeviceChoice {
    fn from(arg: DeviceArg) -> Self {
        match arg {
            DeviceArg::Auto => DeviceChoice::Auto,
            DeviceArg::Cpu => DeviceChoice::Cpu,
            DeviceArg::Wgpu => DeviceChoice::Wgpu,
        }
    }
}

/// `--loss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LossArg {
    /// The paper's: binary cross-entropy of each position's next track against one sampled
    /// negative.
    Bce,
    /// Softmax cross-entropy of the next track against a set of uniformly sampled negatives
    /// shared by the batch (`--negatives`); more signal per step, so it learns faster.
    SampledSoftmax,
}

impl From<LossArg> for Loss {
    fn from(arg: LossArg) -> Self {
        match arg {
            LossArg::Bce => Loss::Bce,
            LossArg::SampledSoftmax => Loss::SampledSoftmax,
        }
    }
}
