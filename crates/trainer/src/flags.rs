//! Flag groups several commands share, flattened into each (`#[command(flatten)]`), so a flag
//! is written once: its name, default, environment variable and help.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use resonance_data::read::BadRowPolicy;
use resonance_data::{self as data, Dataset};
use resonance_featurestore::sinks::EdgeSink;
use resonance_featurestore::sinks::cloudflare::CloudflareKv;
use resonance_featurestore::sinks::worker::WorkerSink;
use resonance_featurestore::store::FeatureStore;
use resonance_featurestore::views;
use resonance_registry::ModelArtifact;
use resonance_shared::{features, versioned};

/// `--data`: the dataset a command reads.
#[derive(Args, Debug, Clone)]
pub struct DataFlag {
    /// The dataset folder (catalogue.csv, events.csv). No default: a job that forgets it must
    /// not read another world (scripts/demo.sh passes data/synth).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
}

impl DataFlag {
    /// Loads and validates the dataset; a bad row stops the command.
    pub fn load(&self) -> Result<Dataset> {
        Ok(data::load(&self.data, BadRowPolicy::Stop)?.0)
    }
}

/// `--models`: the models folder `trainer export` writes.
#[derive(Args, Debug, Clone)]
pub struct ModelsFlag {
    /// The models folder written by `trainer export` (`<models>/CURRENT` names the current one).
    #[arg(long, value_name = "DIR")]
    pub models: PathBuf,
}

/// `--models` and `--model-version`: one exported model.
#[derive(Args, Debug, Clone)]
pub struct ModelChoiceFlags {
    #[command(flatten)]
    pub models: ModelsFlag,
    /// The model version (default: the one `<models>/CURRENT` names).
    #[arg(long, value_name = "VERSION")]
    pub model_version: Option<String>,
}

impl ModelChoiceFlags {
    /// Opens the model, every file checked against its manifest.
    pub fn open(&self) -> Result<ModelArtifact> {
        ModelArtifact::open(&self.models.models, self.model_version.as_deref())
    }
}

/// `--redis-url`: the feature store.
#[derive(Args, Debug, Clone)]
pub struct RedisFlag {
    /// The feature store (Redis), e.g. redis://127.0.0.1:6379/0. No default: a job must say
    /// which store it writes.
    #[arg(long, env = "REDIS_URL", value_name = "URL")]
    pub redis_url: Option<String>,
}

impl RedisFlag {
    /// Connects (with a short timeout and a PING), naming the URL on failure.
    pub fn connect(&self) -> Result<FeatureStore> {
        let url = self.redis_url.as_deref().with_context(|| {
            crate::config::missing_secret(
                "redis_url",
                "the feature store",
                "REDIS_URL (e.g. redis://127.0.0.1:6379/0)",
                "--redis-url",
            )
        })?;
        FeatureStore::connect(url)
    }
}

/// `--worker`: a Worker's base URL.
#[derive(Args, Debug, Clone)]
pub struct WorkerFlag {
    /// The Worker's base URL, e.g. http://127.0.0.1:8787 for `wrangler dev`. No default: a job
    /// must say which edge it writes.
    #[arg(long, env = "RESONANCE_WORKER_URL", value_name = "URL")]
    pub worker: Option<String>,
}

impl WorkerFlag {
    /// The URL, or an error saying how to give it.
    pub fn require(&self) -> Result<&str> {
        self.worker
            .as_deref()
            .context("the Worker is needed: set RESONANCE_WORKER_URL (or --worker URL)")
    }
}

/// `--token`: the Worker's admin token.
#[derive(Args, Debug, Clone)]
pub struct AdminTokenFlag {
    /// The Worker's admin token.
    #[arg(long, env = "RESONANCE_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl AdminTokenFlag {
    /// The token, or an error saying how to give it.
    pub fn require(&self) -> Result<&str> {
        self.token.as_deref().with_context(|| {
            crate::config::missing_secret(
                "token",
                "the Worker's admin token",
                "RESONANCE_ADMIN_TOKEN",
                "--token",
            )
        })
    }
}

/// `--service-token`: the token the music service's backend calls `/v1/rerank` with.
#[derive(Args, Debug, Clone)]
pub struct ServiceTokenFlag {
    /// The Worker's service token (its SERVICE_TOKEN or SERVICE_TOKEN_NEXT secret).
    #[arg(long, env = "RESONANCE_SERVICE_TOKEN", hide_env_values = true)]
    pub service_token: Option<String>,
}

impl ServiceTokenFlag {
    /// The token, or an error saying how to give it.
    pub fn require(&self) -> Result<&str> {
        self.service_token.as_deref().with_context(|| {
            crate::config::missing_secret(
                "service_token",
                "the Worker's service token",
                "RESONANCE_SERVICE_TOKEN (scripts/worker.sh keeps the local one in .dev.vars)",
                "--service-token",
            )
        })
    }
}

/// Where the edge KV is written: the sink kind and, for the Worker, its URL and admin token.
#[derive(Args, Debug, Clone)]
pub struct SinkFlags {
    /// Where to write.
    #[arg(long, value_enum, default_value_t = SinkKind::Worker)]
    pub sink: SinkKind,
    /// `--sink worker`: where the Worker listens.
    #[command(flatten)]
    pub worker: WorkerFlag,
    /// `--sink worker`: the admin token.
    #[command(flatten)]
    pub token: AdminTokenFlag,
}

/// How the mirror writes the edge: the sink, and how long superseded states stay there.
#[derive(Args, Debug, Clone)]
pub struct EdgeFlags {
    #[command(flatten)]
    pub sink: SinkFlags,
    /// How long a superseded feature version or model stays at the edge before the mirror
    /// deletes it, in seconds: at least KV's propagation (about 60 s) + its read cache (60 s)
    /// + the Worker's caches (60 s) + its pointer check (5 s).
    #[arg(long, value_name = "SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(0..=7 * 86_400))]
    pub grace: u64,
}

/// The edge KV's writers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SinkKind {
    /// The Worker's authenticated bulk endpoints (`--worker`, RESONANCE_ADMIN_TOKEN).
    Worker,
    /// The Cloudflare KV REST API (CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_KV_NAMESPACE_ID,
    /// CLOUDFLARE_API_TOKEN).
    Cloudflare,
}

impl SinkFlags {
    /// The sink, checked to answer, and the feature version the edge serves when it says.
    pub fn connect(&self) -> Result<(Box<dyn EdgeSink>, Option<u64>)> {
        Ok(match self.sink {
            SinkKind::Worker => {
                let sink = WorkerSink::new(self.worker.require()?, self.token.require()?)?;
                let live = sink.health()?.features_version;
                (Box::new(sink), live)
            }
            SinkKind::Cloudflare => (Box::new(CloudflareKv::from_env()?), None),
        })
    }
}

/// `--as-of`, `--feature-version` and `--layout`: which instant the views describe, and under
/// which version and layout they are written.
#[derive(Args, Debug, Clone)]
pub struct SnapshotFlags {
    /// The end of every feature window: RFC 3339 or unix seconds (default: the last event).
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// The feature version to write (default: the current unix time; `materialize`: or one
    /// above the newest version in Redis, when that is higher).
    #[arg(long, value_name = "N")]
    pub feature_version: Option<u64>,
    #[command(flatten)]
    pub layout: LayoutFlag,
}

/// `--layout`, for every command that writes a feature version (`materialize`, `daily`,
/// `retrain`; `rollback` writes in the live version's). [`LayoutFlag::or`] gives the default,
/// layout 3.
#[derive(Args, Debug, Clone, Copy)]
pub struct LayoutFlag {
    /// The layout of the stored values. 3 (the default through Redis: `materialize`, `daily`,
    /// `retrain`, `rollback`) writes one key per listener and track for every version, only
    /// when its value changed (`rsn:user:{id}`); 2 writes every value
    /// again in each version and keeps each track's embedding once per model
    /// (`rsn:model:{m}:embedding:{id}`); 1 puts the embedding in every version's track values,
    /// for an edge whose Worker predates layout 2 (upgrade the Worker, then drop this flag).
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(i64::from(features::OLDEST_SCHEMA)..=i64::from(versioned::VERSIONED_LAYOUT)))]
    pub layout: Option<u32>,
}

impl LayoutFlag {
    /// The layout asked for, else the command's `default`.
    pub fn or(self, default: u32) -> u32 {
        self.layout.unwrap_or(default)
    }
}

impl SnapshotFlags {
    /// The instant (unix seconds) every window ends at.
    pub fn as_of(&self, dataset: &Dataset) -> Result<i64> {
        views::resolve_as_of(self.as_of.as_deref(), dataset)
    }
}
