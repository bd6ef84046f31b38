//! `trainer rollback`: the previous model live again at the edge, with its embeddings, in one
//! command: the registry's rollback, then the daily job.

use anyhow::{Context, Result, bail};
use clap::Args;
use resonance_registry::catalog::{self, AuditEntry};

use super::daily::{self, DailyArgs};

/// Put the model that was live before the live one back at the edge, with its embeddings.
///
/// The model to leave is the one that serves at the edge (the mirror's record; Redis's live
/// version before any mirror), not what `<models>/CURRENT` says; the one to return to is the
/// model that was current before it, from `<models>/audit.jsonl`. `CURRENT` is moved to it
/// (an audit entry: who, when, why), then the daily job runs with these flags: a new feature
/// version with the returning model's embeddings and listener states, made live in Redis,
/// mirrored to the edge and made live there in one switch. Redis and the edge are checked
/// before anything moves. A run that stops midway leaves the edge serving one whole state,
/// the old or the new; running `trainer rollback` again finishes the job (it does not move
/// `CURRENT` a second time). Once done, a second rollback returns to the model rolled back
/// from. `trainer models rollback` moves `CURRENT` only.
#[derive(Args)]
pub struct RollbackArgs {
    /// Why (recorded in the audit trail).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Say which model would go live, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub job: DailyArgs,
}

pub fn run(args: RollbackArgs) -> Result<()> {
    let models = args.job.materialize.models.models.clone();
    let mut store = args.job.materialize.redis.connect()?;
    args.job.edge.sink.connect()?;
    // What serves: the edge's live model as the mirror recorded it, else Redis's.
    let serving = match store.edge_state()?.live_model {
        Some(model) => model,
        None => match store.live_state()? {
            Some(live) => live.model,
            None => bail!(
                "Redis at {} has no live feature version: nothing to roll back",
                store.url()
            ),
        },
    };
    drop(store);
    let target = catalog::rollback_target(&models, &serving)?;
    let current = catalog::current(&models)?;
    let resuming = current.as_deref() == Some(target.as_str());
    if !resuming && current.as_deref() != Some(serving.as_str()) {
        bail!(
            "{} names {}, but the model serving is {serving}: a move not yet published is \
             pending; run `trainer daily` to put it live, or `trainer models promote` to choose \
             another",
            models.join("CURRENT").display(),
            current.as_deref().unwrap_or("nothing"),
        );
    }
    if args.dry_run {
        println!(
            "would roll back {serving} → {target}: a new feature version with {target}'s \
             embeddings, live in Redis and at the edge (dry run: nothing changed)"
        );
        return Ok(());
    }
    if resuming {
        println!(
            "CURRENT already names {target} (an earlier rollback stopped before publishing): \
             publishing it"
        );
    } else {
        let mut entry = AuditEntry::now("rollback", &target, Some(serving.clone()));
        entry.reason = args.reason;
        catalog::make_current(&models, &entry)?;
    }
    daily::run(args.job).with_context(|| {
        format!(
            "CURRENT names {target}, which may not be live at the edge yet (it serves one whole \
             state, the old or the new); run `trainer rollback` again to finish"
        )
    })?;
    println!("rolled back {serving} → {target}: live in Redis and at the edge");
    Ok(())
}
