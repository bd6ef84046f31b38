//! `trainer models`: the registry over a models folder (`resonance_registry::catalog`):
//! list, show, promote through the gate, roll back, stage beside the live model, each move in
//! the audit trail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use resonance_registry::catalog::{self, AuditEntry, ModelSummary};
use resonance_registry::retention;
use resonance_shared::keys::FeatureVersion;

use crate::flags::RedisFlag;

/// Inspect the exported models, and move `CURRENT` between them (with a gate and an audit trail).
///
/// Stages: a version is a *candidate* once exported; *current* when `<models>/CURRENT` names
/// it (the model the next `trainer materialize` takes its embeddings from); *live* at the
/// edge once a version materialized with it is mirrored, and *previous* after that (what
/// `trainer rollback` returns to); *staged* when `models stage` put it at the edge beside the
/// live one, serving no traffic. `trainer status` shows what is live where. Every move is
/// appended to `<models>/audit.jsonl`: who, when, from which version, why, and the gate's
/// figures.
#[derive(Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Every exported version with its shape, data and NDCG@10 (hybrid and SASRec, full catalogue).
    List(ListArgs),
    /// One version, with the audit entries that name it.
    Show(ShowArgs),
    /// Make a version current, if it is not worse than the current one by more than
    /// --max-regression (hybrid NDCG@10, full catalogue, same data and split).
    Promote(PromoteArgs),
    /// Make the version current before the current one current again (from the audit trail);
    /// `CURRENT` only: `trainer rollback` also puts it live at the edge, in one command.
    Rollback(RollbackArgs),
    /// Put a version at the edge beside the live model, serving no traffic (see `stage --help`).
    Stage(super::staging::StageArgs),
    /// Take the staged version away from the edge.
    Unstage(super::staging::UnstageArgs),
    /// Delete the versions and run folders nothing needs any more (see `gc --help`).
    Gc(GcArgs),
}

/// `--models`.
#[derive(Args)]
pub struct ModelsDir {
    /// The models folder `trainer export` writes.
    #[arg(long, value_name = "DIR")]
    pub models: PathBuf,
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub dir: ModelsDir,
    /// Where the edge stages come from (live, previous, staged): the mirror's record in
    /// Redis. Without it, only candidate and current.
    #[command(flatten)]
    pub redis: RedisFlag,
    /// Print JSON on stdout (each version with its `stages`).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ShowArgs {
    /// The version.
    #[arg(value_name = "VERSION")]
    pub model: String,
    #[command(flatten)]
    pub dir: ModelsDir,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The gate's flags, shared by `export` and `promote`.
#[derive(Args, Clone)]
pub struct GateFlags {
    /// The largest drop in NDCG@10 (absolute, hybrid scorer, full catalogue) that still passes.
    #[arg(long, value_name = "X", default_value_t = 0.02)]
    pub max_regression: f64,
    /// Why (recorded in the audit trail).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Args)]
pub struct PromoteArgs {
    /// The version to make current.
    #[arg(value_name = "VERSION")]
    pub model: String,
    #[command(flatten)]
    pub dir: ModelsDir,
    #[command(flatten)]
    pub gate: GateFlags,
    /// Promote even if the gate refuses (say why with --reason).
    #[arg(long, requires = "reason")]
    pub force: bool,
    /// Say what would happen, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub dir: ModelsDir,
    /// Why (recorded in the audit trail).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Say what would happen, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Delete exported versions and run folders that nothing needs.
///
/// Kept: the current version, the one `rollback` would return to, the newest --keep, and
/// every model a state still names (Redis's live and previous versions and its staged model,
/// and the models the edge holds, from the mirror's record), since re-materializing one needs its embeddings
/// from disk. With --runs, a run folder is kept while a kept version came from it or it is
/// one of the newest --keep runs. Each deleted version is recorded in the audit trail.
#[derive(Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub dir: ModelsDir,
    /// The runs folder to collect too (the parent of `trainer train --out`, e.g. runs).
    #[arg(long, value_name = "DIR")]
    pub runs: Option<PathBuf>,
    /// Versions (and runs) kept besides those a state needs, newest first.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub keep: usize,
    #[command(flatten)]
    pub redis: RedisFlag,
    /// Decide without Redis (only the folder's own record: current and the rollback target).
    #[arg(long)]
    pub offline: bool,
    /// Why (recorded in the audit trail).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Say what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the plan as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ModelsArgs) -> Result<()> {
    match args.command {
        ModelsCommand::Gc(a) => gc(a)?,
        ModelsCommand::Stage(a) => super::staging::stage(a)?,
        ModelsCommand::Unstage(a) => super::staging::unstage(a)?,
        ModelsCommand::List(a) => {
            let models = catalog::list(&a.dir.models)?;
            let stages = super::staging::stages(&models, &a.redis);
            if a.json {
                let listed: Vec<serde_json::Value> = models
                    .iter()
                    .zip(&stages)
                    .map(|(m, stages)| {
                        let mut shown = serde_json::to_value(m)?;
                        shown["stages"] = serde_json::json!(stages);
                        Ok(shown)
                    })
                    .collect::<Result<_>>()?;
                println!("{}", serde_json::to_string_pretty(&listed)?);
            } else {
                for (m, stages) in models.iter().zip(&stages) {
                    println!("{}  {}", line(m), stages.join(", "));
                }
                if models.is_empty() {
                    println!("no model in {}", a.dir.models.display());
                }
            }
        }
        ModelsCommand::Show(a) => {
            let summary = catalog::show(&a.dir.models, &a.model)?;
            let history: Vec<AuditEntry> = catalog::audit(&a.dir.models)?
                .into_iter()
                .filter(|e| e.version == a.model || e.from.as_deref() == Some(&a.model))
                .collect();
            if a.json {
                let shown = serde_json::json!({ "model": summary, "audit": history });
                println!("{}", serde_json::to_string_pretty(&shown)?);
            } else {
                println!("{}", line(&summary));
                println!("  data {:?}, {:?} users", summary.data, summary.users);
                println!(
                    "  run {}, parent {}",
                    summary.run.as_deref().unwrap_or("unknown"),
                    summary.parent.as_deref().unwrap_or("none")
                );
                for e in history {
                    println!(
                        "  {} {} by {}: {} (from {}){}",
                        e.at,
                        e.action,
                        e.actor,
                        e.version,
                        e.from.as_deref().unwrap_or("none"),
                        e.reason.map_or(String::new(), |r| format!(": {r}"))
                    );
                }
            }
        }
        ModelsCommand::Promote(a) => {
            let mut entry = AuditEntry::now("promote", &a.model, None);
            entry.reason = a.gate.reason.clone();
            entry.forced = a.force;
            if a.dry_run {
                return dry_run(&a.dir.models, &entry, &a.gate);
            }
            promote_checked(&a.dir.models, entry, &a.gate, a.force)?;
        }
        ModelsCommand::Rollback(a) => {
            let Some(current) = catalog::current(&a.dir.models)? else {
                bail!(
                    "{} names no model: nothing to roll back",
                    a.dir.models.join("CURRENT").display()
                );
            };
            let target = catalog::rollback_target(&a.dir.models, &current)?;
            let mut entry = AuditEntry::now("rollback", &target, Some(current.clone()));
            entry.reason = a.reason;
            if a.dry_run {
                println!("would roll back {current} → {target} (dry run: nothing changed)");
                return Ok(());
            }
            catalog::make_current(&a.dir.models, &entry)?;
            println!(
                "rolled back {current} → {target}: CURRENT names {target}; it goes live at the edge \
                 with the next `trainer daily` (`trainer rollback` does both in one command)"
            );
        }
    }
    Ok(())
}

fn line(m: &ModelSummary) -> String {
    let figure = |x: Option<f64>| x.map_or("–".into(), |x| format!("{x:.4}"));
    format!(
        "{} {:<20} {}  d {} L {}  {} tracks  NDCG@10 hybrid {} sasrec {}",
        if m.current { "*" } else { " " },
        m.version,
        m.created_at.get(..19).unwrap_or(&m.created_at),
        m.d_model,
        m.max_len,
        m.num_items,
        figure(m.hybrid_ndcg_at_10),
        figure(m.sasrec_ndcg_at_10)
    )
}

fn dry_run(models: &Path, entry: &AuditEntry, gate: &GateFlags) -> Result<()> {
    let candidate = catalog::show(models, &entry.version)?;
    match catalog::current(models)? {
        Some(current) => {
            let outcome = run_gate(models, &candidate, &current, gate.max_regression)?;
            println!(
                "{} → {}: NDCG@10 {:.4} vs {:.4} ({}): the gate would {} (dry run: nothing changed)",
                current,
                entry.version,
                outcome.candidate,
                outcome.current,
                outcome.current_scored,
                if outcome.passed { "pass" } else { "refuse" }
            );
        }
        None => println!(
            "would make {} current (dry run: nothing changed)",
            entry.version
        ),
    }
    Ok(())
}

/// The gate: the candidate's figure from its evaluation, the current model's on the same
/// held-out split (its own evaluation when that is of the same split, else scored now on the
/// candidate's data and as-of).
fn run_gate(
    models: &Path,
    candidate: &ModelSummary,
    current: &str,
    max_regression: f64,
) -> Result<catalog::GateOutcome> {
    let current = catalog::show(models, current)?;
    catalog::check_shape(candidate, &current)?;
    let candidate_ndcg = catalog::candidate_figure(candidate)?;
    if catalog::same_split(candidate, &current)
        && let Some(figure) = current.hybrid_ndcg_at_10
    {
        return Ok(catalog::decide(
            candidate_ndcg,
            figure,
            "its evaluation",
            max_regression,
        ));
    }
    let data = candidate
        .data
        .as_deref()
        .map(PathBuf::from)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "model {} does not say which data it was evaluated on",
                candidate.version
            )
        })?;
    eprintln!(
        "scoring the current model {} on {}'s held-out split ({}) for the gate …",
        current.version,
        candidate.version,
        data.display()
    );
    let manifest = catalog::manifest(models, &current.version)?;
    let (model, vocabulary) =
        resonance_train::export::load_exported(&models.join(&current.version), &manifest)?;
    let policy = resonance_train::sequences::SequencePolicy {
        include_skips: manifest.hyperparameters.include_skips,
    };
    let (figure, users) = resonance_train::evaluation::hybrid_ndcg_on(
        &model,
        vocabulary,
        policy,
        &data,
        candidate.as_of,
        super::eval::SAMPLING_SEED,
        manifest.mix.unwrap_or_default(),
    )?;
    Ok(catalog::decide(
        candidate_ndcg,
        figure,
        &format!("re-scored on the candidate's split, {users} users"),
        max_regression,
    ))
}

/// Makes `entry.version` current when the gate passes (or `force`), recording the move;
/// otherwise fails with both figures, leaving `CURRENT` as it was.
pub fn promote_checked(
    models: &Path,
    mut entry: AuditEntry,
    gate: &GateFlags,
    force: bool,
) -> Result<()> {
    let candidate = catalog::show(models, &entry.version)?;
    let current = catalog::current(models)?;
    entry.from = current.clone();
    if current.as_deref() == Some(entry.version.as_str()) {
        println!("{} is current already", entry.version);
        return Ok(());
    }
    if let Some(current) = &current {
        match run_gate(models, &candidate, current, gate.max_regression) {
            Ok(outcome) => {
                entry.gate = Some(serde_json::to_value(&outcome)?);
                println!(
                    "gate: {} NDCG@10 {:.4} (hybrid, full catalogue) against {:.4} for {current} ({})",
                    entry.version, outcome.candidate, outcome.current, outcome.current_scored
                );
                if !outcome.passed && !force {
                    bail!(
                        "the gate refuses {}: NDCG@10 {:.4} against {:.4} for the current {current}, a drop \
                         of {:.4} > --max-regression {}; it stays a candidate (`trainer models promote {} \
                         --force --reason …` overrides)",
                        entry.version,
                        outcome.candidate,
                        outcome.current,
                        outcome.current - outcome.candidate,
                        outcome.max_regression,
                        entry.version
                    );
                }
            }
            Err(e) if force => eprintln!("warning: {e:#}; promoting anyway (--force)"),
            Err(e) => return Err(e),
        }
    }
    catalog::make_current(models, &entry)?;
    println!(
        "{} is current (was {}); it goes live with the next `trainer materialize` and `trainer mirror`",
        entry.version,
        current.as_deref().unwrap_or("none")
    );
    Ok(())
}

/// The models Redis and the edge still name, each with why.
fn needed_by_states(redis: &RedisFlag) -> Result<BTreeMap<String, String>> {
    let mut store = redis.connect()?;
    let mut needed = BTreeMap::new();
    let mut add = |model: Option<String>, why: String| {
        if let Some(model) = model {
            needed.entry(model).or_insert(why);
        }
    };
    if let Some(live) = store.live_state()? {
        let version = live.version;
        add(
            Some(live.model),
            format!("live in Redis (version {version})"),
        );
    }
    if let Some(previous) = store.previous()? {
        let model = store
            .meta(FeatureVersion(previous))?
            .and_then(|m| m.model_version);
        add(model, format!("previous in Redis (version {previous})"));
    }
    let edge = store.edge_state()?;
    add(edge.live_model, "live at the edge".into());
    add(edge.previous_model, "previous at the edge".into());
    add(edge.staged_model, "staged at the edge".into());
    add(store.staged()?, "staged in Redis".into());
    for model in store.edge_models()? {
        add(Some(model), "held at the edge".into());
    }
    Ok(needed)
}

fn gc(args: GcArgs) -> Result<()> {
    let protected = if args.offline {
        BTreeMap::new()
    } else {
        needed_by_states(&args.redis)
            .context("gc asks Redis which models its states need (--offline decides without)")?
    };
    let plan = retention::plan(
        &args.dir.models,
        args.runs.as_deref(),
        resonance_train::run::RUN_FILE,
        args.keep,
        &protected,
    )?;
    if !args.dry_run {
        retention::apply(&args.dir.models, &plan, args.reason.as_deref())?;
    }
    if args.json {
        let shown = serde_json::json!({ "dryRun": args.dry_run, "plan": plan });
        println!("{}", serde_json::to_string_pretty(&shown)?);
        return Ok(());
    }
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for (kind, decisions) in [("model", &plan.models), ("run", &plan.runs)] {
        for d in decisions {
            if d.kept() {
                println!("kept {kind} {}: {}", d.name, d.kept_because.join(", "));
            } else {
                println!("{verb} {kind} {}", d.name);
            }
        }
    }
    Ok(())
}
