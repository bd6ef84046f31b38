//! `trainer models stage | unstage`: put a candidate at the edge beside the live model,
//! serving no traffic, or take it away (the store's side is `resonance_featurestore::staging`);
//! and the stage of every version for `trainer models list`.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use resonance_featurestore::lock::{self, Lock};
use resonance_featurestore::publication;
use resonance_registry::ModelArtifact;
use resonance_registry::catalog::{self, AuditEntry, ModelSummary};

use super::models::ModelsDir;
use crate::flags::RedisFlag;

/// Stage a version: write it into Redis and name it staged, so the mirror puts it at the edge
/// beside the live model, loaded and verified there, serving no traffic (the A/B work routes
/// a share of listeners to it). It replaces the model staged before. It stops being staged
/// when it goes live (promote it, then `trainer daily`), or with `trainer models unstage`.
#[derive(Args)]
pub struct StageArgs {
    /// The version to stage.
    #[arg(value_name = "VERSION")]
    pub model: String,
    #[command(flatten)]
    pub common: StagingFlags,
}

/// Unstage: nothing is staged any more; the mirror deletes the edge's copy after its grace
/// period (unless the model is live or previous there).
#[derive(Args)]
pub struct UnstageArgs {
    #[command(flatten)]
    pub common: StagingFlags,
}

/// What `stage` and `unstage` share: the folder (for the audit trail), Redis, and the move's
/// flags.
#[derive(Args)]
pub struct StagingFlags {
    #[command(flatten)]
    pub dir: ModelsDir,
    #[command(flatten)]
    pub redis: RedisFlag,
    /// Why (recorded in the audit trail).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Say what would happen, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The publication lock's lease: staging writes one model (a few MiB) into Redis.
const LEASE: Duration = Duration::from_secs(600);

pub fn stage(args: StageArgs) -> Result<()> {
    let StageArgs {
        model,
        common:
            StagingFlags {
                dir,
                redis,
                reason,
                dry_run,
            },
    } = args;
    let artifact = ModelArtifact::open(&dir.models, Some(&model))?;
    if artifact.manifest.version != model {
        bail!(
            "{}/{}/manifest.json names version {}: a folder is staged under the version its \
             manifest names",
            dir.models.display(),
            model,
            artifact.manifest.version
        );
    }
    let mut store = redis.connect()?;
    // Not while a job publishes: its switch may make the staged model live.
    let _lock = Lock::take(store.url(), lock::MATERIALIZE, LEASE, Duration::ZERO)?;
    let live = store.live_state()?.context(
        "Redis has no live feature version (rsn:current): a model is staged beside a live \
         one; run `trainer daily` first",
    )?;
    if live.model == model {
        bail!(
            "{} is live already (feature version {}): there is nothing to stage",
            model,
            live.version
        );
    }
    if live.layout < 2 {
        bail!(
            "the live feature version {} is of layout {}, whose track values carry the live \
             model's embeddings, so a staged model could not be scored with them: materialize \
             with --layout 2 or 3 first",
            live.version,
            live.layout
        );
    }
    let before = store.staged()?;
    if before.as_deref() == Some(model.as_str()) {
        println!("{} is staged already", model);
        return Ok(());
    }
    let replacing = before
        .as_deref()
        .map_or(String::new(), |b| format!(", replacing {b}"));
    if dry_run {
        println!(
            "would stage {} beside the live {}{replacing} (dry run: nothing changed)",
            model, live.model
        );
        return Ok(());
    }
    let pairs = publication::model_pairs(&artifact)
        .into_iter()
        .map(|w| (w.key, w.value))
        .collect();
    store.write_model(&model, pairs)?;
    store.set_staged(Some(&model))?;
    let mut entry = AuditEntry::now("stage", &model, before);
    entry.reason = reason;
    catalog::record(&dir.models, &entry)?;
    println!(
        "staged {} beside the live {}{replacing}: `trainer mirror --full` (or a running \
         `mirror --follow`) puts it at the edge, loaded and verified, serving no traffic; \
         `trainer models promote {}` makes it current",
        model, live.model, model
    );
    Ok(())
}

pub fn unstage(args: UnstageArgs) -> Result<()> {
    let StagingFlags {
        dir,
        redis,
        reason,
        dry_run,
    } = args.common;
    let mut store = redis.connect()?;
    let _lock = Lock::take(store.url(), lock::MATERIALIZE, LEASE, Duration::ZERO)?;
    let Some(staged) = store.staged()? else {
        println!("nothing is staged");
        return Ok(());
    };
    if dry_run {
        println!("would unstage {staged} (dry run: nothing changed)");
        return Ok(());
    }
    store.set_staged(None)?;
    let mut entry = AuditEntry::now("unstage", &staged, None);
    entry.reason = reason;
    catalog::record(&dir.models, &entry)?;
    println!(
        "unstaged {staged}: the mirror deletes it from the edge after its grace period, unless \
         it is live or previous there"
    );
    Ok(())
}

/// Each version's stages: `current` (`CURRENT`), and, from Redis and the mirror's record,
/// `live`, `previous` and `staged` at the edge (`staged, not yet mirrored` while only Redis
/// names it, `unstaged, not yet mirrored` while only the edge does); `candidate` when none
/// applies. Without Redis (none named, or unreachable: said
/// on stderr), only the folder's stages.
pub fn stages(summaries: &[ModelSummary], redis: &RedisFlag) -> Vec<Vec<String>> {
    let read = || -> Result<_> {
        let mut store = redis.connect()?;
        Ok((store.edge_state()?, store.staged()?))
    };
    let (edge, staged) = match redis.redis_url {
        Some(_) => read().unwrap_or_else(|e| {
            eprintln!("warning: the edge stages are not shown: {e:#}");
            Default::default()
        }),
        None => Default::default(),
    };
    summaries
        .iter()
        .map(|m| {
            let v = Some(&m.version);
            let mut stages = Vec::new();
            if m.current {
                stages.push("current".to_string());
            }
            if edge.live_model.as_ref() == v {
                stages.push("live".into());
            } else if edge.staged_model.as_ref() == v && staged.as_ref() == v {
                stages.push("staged".into());
            } else if staged.as_ref() == v {
                stages.push("staged, not yet mirrored".into());
            } else if edge.staged_model.as_ref() == v {
                stages.push("unstaged, not yet mirrored".into());
            }
            if edge.previous_model.as_ref() == v {
                stages.push("previous".into());
            }
            if stages.is_empty() {
                stages.push("candidate".into());
            }
            stages
        })
        .collect()
}
