//! `trainer status`: what is live in Redis and at the edge, and whether they agree (the
//! engine is `resonance_featurestore::status`).

use anyhow::Result;
use clap::Args;
use resonance_featurestore::sinks::worker::WorkerSink;
use resonance_featurestore::status::{self, Status, VersionInfo};

use crate::flags::RedisFlag;

/// Show the live state in Redis and at the edge, their ages and sizes, and whether they agree.
///
/// Reads Redis (the live and previous feature versions with the model each names, every
/// version and model held, the staged model), the mirror's record of the edge (its live,
/// previous and staged state,
/// the versions and models it holds there), the mirror's lag on `rsn:changes`, and the count
/// of failed interest graphs; with --worker, also what that Worker says it serves
/// (`/health`). Exits with status 1 when anything disagrees (each problem is listed), so a
/// cron job or a probe can alert on it.
#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub redis: RedisFlag,
    /// A Worker to ask what it serves (its `/health`; no token needed).
    #[arg(long, value_name = "URL")]
    pub worker: Option<String>,
    /// Print the status as JSON on stdout instead of the prose lines.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: StatusArgs) -> Result<()> {
    let mut store = args.redis.connect()?;
    let health = match &args.worker {
        Some(url) => Some(WorkerSink::new(url, "")?.health()?),
        None => None,
    };
    let status = status::read(&mut store, health)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print(&status);
    }
    if !status.problems.is_empty() {
        anyhow::bail!(
            "{} problem(s): Redis and the edge disagree",
            status.problems.len()
        );
    }
    Ok(())
}

fn describe(v: &Option<VersionInfo>) -> String {
    match v {
        None => "none".into(),
        Some(v) => format!(
            "version {} with model {} (as of {}, made {} ago; {} keys{})",
            v.version,
            v.model.as_deref().unwrap_or("none"),
            v.as_of,
            v.age_seconds.map_or("?".into(), human),
            v.keys,
            v.bytes.map_or(String::new(), |b| format!(
                ", {:.1} MiB",
                b as f64 / 1048576.0
            ))
        ),
    }
}

fn human(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

fn print(status: &Status) {
    let edge = &status.edge;
    println!("Redis     live: {}", describe(&status.redis.live));
    println!("      previous: {}", describe(&status.redis.previous));
    println!(
        "          holds versions {:?}, models {:?}; staged {}",
        status.redis.versions,
        status.redis.models,
        status.redis.staged.as_deref().unwrap_or("none")
    );
    let show = |v: Option<u64>, m: &Option<String>| match v {
        Some(v) => format!("version {v} with model {}", m.as_deref().unwrap_or("none")),
        None => "none".into(),
    };
    println!(
        "edge      live: {} (as last mirrored)",
        show(edge.recorded.live, &edge.recorded.live_model)
    );
    println!(
        "      previous: version {}; rollback model {}",
        edge.recorded
            .previous
            .map_or("none".into(), |v| v.to_string()),
        edge.recorded.previous_model.as_deref().unwrap_or("none")
    );
    println!(
        "        staged: model {} (serving no traffic)",
        edge.recorded.staged_model.as_deref().unwrap_or("none")
    );
    println!(
        "          holds versions {:?} ({} keys), models {:?}",
        edge.versions_held, edge.feature_keys_held, edge.models_held
    );
    if let Some(health) = &edge.worker {
        println!(
            "Worker    {}: version {} with model {}",
            health.status,
            health
                .features_version
                .map_or("none".into(), |v| v.to_string()),
            health.model_version.as_deref().unwrap_or("none")
        );
    }
    match &status.mirror {
        Some(m) => println!(
            "mirror    {} pending, {} not yet delivered",
            m.pending,
            m.lag.map_or("?".into(), |l| l.to_string())
        ),
        None => println!("mirror    never joined rsn:changes"),
    }
    println!("interest graphs: {} failed", status.failed_interest_graphs);
    if status.problems.is_empty() {
        println!("agree: yes");
    }
    for problem in &status.problems {
        println!("problem: {problem}");
    }
}
