//! `trainer eval`: test a trained run against the baselines, under both protocols.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use burn::tensor::Device;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use resonance_data::{self as data, read::BadRowPolicy};
use resonance_data::atomic::write_file;
use resonance_train::baselines::{Heuristic, Hybrid, MostPopular, offline_graphs};
use resonance_train::evaluate::{self, FullScorer, ProtocolMetrics, SAMPLED_NEGATIVES, Split};
use resonance_train::run::{self, EVALUATION_FILE};
use resonance_train::scorer::SasRecScorer;
use resonance_train::sequences::Sequences;

/// Evaluate a trained run on the held-out test interactions (each user's last), with HR@10 and
/// NDCG@10 under two protocols: the SASRec paper's (the target against 100 sampled tracks the
/// user never played) and the full catalogue (every track not already in the history).
/// The most-popular and heuristic baselines are scored on the same split for comparison; the
/// heuristic also with interest graphs (the offline builder on each test history, so nothing
/// of the held-out track leaks in), and the hybrid the edge serves (0.7 SASRec + 0.3 heuristic
/// with graphs, each standardised over the catalogue).
/// Writes evaluation.json into the run folder; `trainer export` copies it into the manifest.
#[derive(Args)]
pub struct EvalArgs {
    /// The run folder written by `trainer train`.
    #[arg(long, value_name = "DIR", default_value = "runs/sasrec")]
    pub run: PathBuf,
    /// The dataset folder (default: the one the run was trained on).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Seed of the sampled negatives.
    #[arg(long, default_value_t = 2018)]
    pub seed: u64,
    /// Skip and count malformed rows instead of stopping at the first one.
    #[arg(long)]
    pub skip_bad: bool,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let loaded = run::load(&args.run, &Device::flex())?;
    let data_dir = args
        .data
        .clone()
        .unwrap_or_else(|| loaded.info.data.clone());
    let policy = if args.skip_bad {
        BadRowPolicy::Skip
    } else {
        BadRowPolicy::Stop
    };
    let (dataset, _) = data::load(&data_dir, policy)?;
    let sequences = Sequences::build(&dataset, loaded.vocabulary.clone(), loaded.info.policy);
    anyhow::ensure!(
        !sequences.users.is_empty(),
        "{}: no user with 3 interactions to evaluate",
        data_dir.display()
    );
    let num_items = sequences.vocabulary.num_items();
    let counts = sequences.train_counts();
    let by_id: std::collections::HashMap<&str, &resonance_shared::catalogue::Track> = dataset
        .catalogue
        .iter()
        .map(|t| (t.track_id.as_str(), t))
        .collect();
    let rows: Vec<_> = sequences.vocabulary.idx_to_track[1..]
        .iter()
        .map(|id| {
            by_id.get(id.as_str()).copied().ok_or_else(|| {
                anyhow::anyhow!("track {id} of the run's vocabulary is missing from {}; evaluate on the training data", data_dir.display())
            })
        })
        .collect::<Result<_>>()?;

    let graphs = offline_graphs(sequences.users.iter().map(|u| u.test().0.to_vec()), &rows);
    let with_graphs = || Heuristic::new(&rows, &counts).with_graphs(graphs.clone());
    let mut scorers: Vec<(&str, Box<dyn FullScorer>)> = vec![
        ("sasrec", Box::new(SasRecScorer::new(loaded.model.clone()))),
        ("most_popular", Box::new(MostPopular::new(&counts))),
        ("heuristic", Box::new(Heuristic::new(&rows, &counts))),
        ("heuristic+graph", Box::new(with_graphs())),
        (
            "hybrid",
            Box::new(Hybrid {
                model: SasRecScorer::new(loaded.model.clone()),
                heuristic: with_graphs(),
                weights: Default::default(),
            }),
        ),
        (
            "hybrid-no-graph",
            Box::new(Hybrid {
                model: SasRecScorer::new(loaded.model.clone()),
                heuristic: Heuristic::new(&rows, &counts),
                weights: Default::default(),
            }),
        ),
    ];
    let mut results = serde_json::Map::new();
    println!(
        "test split: {} users, {} tracks ({} users with < 3 interactions and {} events of tracks \
         outside the run's vocabulary dropped)",
        sequences.users.len(),
        num_items,
        sequences.dropped_short_users,
        sequences.dropped_unknown_tracks
    );
    println!(
        "{:<16} {:>22} {:>22}",
        "", "sampled-100 HR / NDCG", "full HR / NDCG"
    );
    for (name, scorer) in scorers.iter_mut() {
        let started = Instant::now();
        let bar = ProgressBar::new(sequences.users.len() as u64).with_style(
            ProgressStyle::with_template(&format!(
                "{name:<16} {{bar:30}} {{pos}}/{{len}} users  ETA {{eta}}"
            ))
            .expect("valid template"),
        );
        let m: ProtocolMetrics = evaluate::evaluate(
            scorer.as_mut(),
            &sequences.users,
            num_items,
            Split::Test,
            args.seed,
            256,
            |n| bar.inc(n as u64),
        )?;
        bar.finish_and_clear();
        println!(
            "{name:<16} {:>10.4} / {:<10.4} {:>10.4} / {:<10.4} ({:.1} s)",
            m.sampled_100.hr_at_10,
            m.sampled_100.ndcg_at_10,
            m.full_catalogue.hr_at_10,
            m.full_catalogue.ndcg_at_10,
            started.elapsed().as_secs_f64()
        );
        results.insert(name.to_string(), serde_json::to_value(m)?);
    }
    let evaluation = json!({
        "split": "test: each user's last interaction, history = everything before it (leave-one-out)",
        "protocols": {
            "sampled_100": format!("target ranked against {SAMPLED_NEGATIVES} uniformly sampled tracks the user never interacted with (Kang & McAuley 2018); seed {}", args.seed),
            "full_catalogue": "target ranked against every catalogue track not in the user's history",
            "ties": "count against the target",
        },
        "data": data_dir,
        "users": sequences.users.len(),
        "dropped_short_users": sequences.dropped_short_users,
        "dropped_unknown_track_events": sequences.dropped_unknown_tracks,
        "results": results,
    });
    let path = args.run.join(EVALUATION_FILE);
    write_file(&path, |w| Ok(serde_json::to_writer_pretty(w, &evaluation)?))?;
    println!("wrote {}", path.display());
    Ok(())
}
