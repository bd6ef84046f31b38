//! `trainer eval`'s work: every scorer over a trained run's test split, under both protocols,
//! written to the run's `evaluation.json` (which `trainer export` copies into the manifest).
//!
//! The scorers: SASRec, most-popular, the shared heuristic without and with interest graphs
//! (the offline builder on each test history, so nothing of the held-out track leaks in), and
//! the hybrid the edge serves (SASRec and the heuristic with graphs, each standardised over
//! the catalogue), also without graphs. The hybrid's mix is first chosen on the validation
//! split ([`crate::mix`]) and written as `mix`, the model's default at the edge; where it is
//! not 0.7 / 0.3, the default mix is scored too (`hybrid-default-mix`), for comparison.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use burn::tensor::Device;
use resonance_data::atomic::write_file;
use resonance_data::read::BadRowPolicy;
use resonance_shared::catalogue::Track;
use resonance_shared::mixer::MixWeights;
use serde_json::json;

use crate::baselines::{Heuristic, Hybrid, MostPopular, offline_graphs};
use crate::evaluate::{self, FullScorer, ProtocolMetrics, SAMPLED_NEGATIVES, Split};
use crate::mix::{self, MixChoice};
use crate::run::{self, EVALUATION_FILE};
use crate::scorer::SasRecScorer;
use crate::sequences::Sequences;

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// The run folder written by `trainer train`.
    pub run: PathBuf,
    /// The dataset (default: the one the run was trained on).
    pub data: Option<PathBuf>,
    /// Seed of the sampled negatives.
    pub seed: u64,
    /// Skip malformed rows instead of stopping.
    pub policy: BadRowPolicy,
    /// The hybrid's mix; `None` tunes it on the validation split ([`mix::tune`]).
    pub mix: Option<MixWeights>,
}

/// The name progress reports the grid of mixes under.
pub const TUNING: &str = "mix (validation)";

/// Where the evaluated hybrid's mix came from.
enum MixTuning {
    /// Given (`trainer eval --mix`).
    Fixed(MixWeights),
    /// Chosen on the validation split.
    Tuned(MixChoice),
}

impl MixTuning {
    fn weights(&self) -> MixWeights {
        match self {
            MixTuning::Fixed(weights) => *weights,
            MixTuning::Tuned(choice) => choice.chosen,
        }
    }

    /// `evaluation.json`'s `mix_tuning`: how the mix was chosen, and the grid's figures.
    fn describe(&self) -> serde_json::Value {
        match self {
            MixTuning::Fixed(_) => json!({ "source": "given (trainer eval --mix)" }),
            MixTuning::Tuned(choice) => json!({
                "source": "tuned",
                "split": "validation: each user's second-to-last interaction, history = everything before it",
                "criterion": "full_catalogue ndcg_at_10, then sampled_100 ndcg_at_10, then the heuristic share nearest 0.3",
                "grid": choice.grid,
            }),
        }
    }
}

/// The test split, as evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitSize {
    /// Users with a test interaction.
    pub users: usize,
    /// Tracks in the run's vocabulary.
    pub tracks: usize,
    /// Users with fewer than 3 interactions.
    pub dropped_short_users: usize,
    /// Events of tracks outside the vocabulary.
    pub dropped_unknown_tracks: usize,
}

/// Where an evaluation reports as it goes (the binary prints a table and progress bars).
pub trait EvalProgress {
    /// The split is known; scoring starts.
    fn split(&mut self, size: SplitSize);
    /// Scorer `name` starts on `users` users.
    fn scorer_started(&mut self, name: &str, users: usize);
    /// `users` more users are scored.
    fn advanced(&mut self, users: usize);
    /// Scorer `name` is done.
    fn scorer_finished(&mut self, name: &str, metrics: &ProtocolMetrics, seconds: f64);
    /// The grid of mixes is scored and one chosen (started as scorer [`TUNING`]).
    fn mix_chosen(&mut self, choice: &MixChoice, seconds: f64);
}

/// Evaluates every scorer and writes `evaluation.json`; returns its path and its content.
pub fn evaluate_run(
    options: &EvalOptions,
    progress: &mut dyn EvalProgress,
) -> Result<(PathBuf, serde_json::Value)> {
    let loaded = run::load(&options.run, &Device::flex())?;
    let data_dir = options
        .data
        .clone()
        .unwrap_or_else(|| loaded.info.data.clone());
    let (mut dataset, _) = resonance_data::load(&data_dir, options.policy)?;
    if let Some(as_of) = loaded.info.as_of {
        dataset.events.retain(|e| e.timestamp <= as_of);
    }
    let sequences = Sequences::build(&dataset, loaded.vocabulary.clone(), loaded.info.policy);
    anyhow::ensure!(
        !sequences.users.is_empty(),
        "{}: no user with 3 interactions to evaluate",
        data_dir.display()
    );
    let num_items = sequences.vocabulary.num_items();
    let counts = sequences.train_counts();
    let rows = vocabulary_tracks(&sequences, &dataset.catalogue, &data_dir)?;
    let graphs = offline_graphs(sequences.users.iter().map(|u| u.test().0.to_vec()), &rows);
    let with_graphs = || Heuristic::new(&rows, &counts).with_graphs(graphs.clone());
    let hybrid = |heuristic, weights| Hybrid {
        model: SasRecScorer::new(loaded.model.clone()),
        heuristic,
        weights,
    };
    progress.split(SplitSize {
        users: sequences.users.len(),
        tracks: num_items,
        dropped_short_users: sequences.dropped_short_users,
        dropped_unknown_tracks: sequences.dropped_unknown_tracks,
    });
    // The validation graphs are built on each validation history, as the test's are on each
    // test history, so the tuning sees no more than the scoring will.
    let tuning = match options.mix {
        Some(weights) => MixTuning::Fixed(weights),
        None => {
            let validation_graphs = offline_graphs(
                sequences.users.iter().map(|u| u.validation().0.to_vec()),
                &rows,
            );
            let mut grid_hybrid = hybrid(
                Heuristic::new(&rows, &counts).with_graphs(validation_graphs),
                MixWeights::default(),
            );
            let started = Instant::now();
            progress.scorer_started(TUNING, sequences.users.len());
            let choice = mix::tune(
                &mut grid_hybrid,
                &sequences.users,
                num_items,
                options.seed,
                |n| progress.advanced(n),
            )?;
            progress.mix_chosen(&choice, started.elapsed().as_secs_f64());
            MixTuning::Tuned(choice)
        }
    };
    let chosen = tuning.weights();
    let mut scorers: Vec<(&str, Box<dyn FullScorer>)> = vec![
        ("sasrec", Box::new(SasRecScorer::new(loaded.model.clone()))),
        ("most_popular", Box::new(MostPopular::new(&counts))),
        ("heuristic", Box::new(Heuristic::new(&rows, &counts))),
        ("heuristic+graph", Box::new(with_graphs())),
        ("hybrid", Box::new(hybrid(with_graphs(), chosen))),
        (
            "hybrid-no-graph",
            Box::new(hybrid(Heuristic::new(&rows, &counts), chosen)),
        ),
    ];
    if chosen != MixWeights::default() {
        scorers.push((
            "hybrid-default-mix",
            Box::new(hybrid(with_graphs(), MixWeights::default())),
        ));
    }
    let mut results = serde_json::Map::new();
    for (name, scorer) in scorers.iter_mut() {
        let started = Instant::now();
        progress.scorer_started(name, sequences.users.len());
        let metrics = evaluate::evaluate(
            scorer.as_mut(),
            &sequences.users,
            num_items,
            Split::Test,
            options.seed,
            256,
            |n| progress.advanced(n),
        )?;
        progress.scorer_finished(name, &metrics, started.elapsed().as_secs_f64());
        results.insert(name.to_string(), serde_json::to_value(metrics)?);
    }
    let evaluation = json!({
        "split": "test: each user's last interaction, history = everything before it (leave-one-out)",
        "protocols": {
            "sampled_100": format!("target ranked against {SAMPLED_NEGATIVES} uniformly sampled tracks the user never interacted with (Kang & McAuley 2018); seed {}", options.seed),
            "full_catalogue": "target ranked against every catalogue track not in the user's history",
            "ties": "count against the target",
        },
        "data": data_dir,
        "as_of": loaded.info.as_of,
        "users": sequences.users.len(),
        "dropped_short_users": sequences.dropped_short_users,
        "dropped_unknown_track_events": sequences.dropped_unknown_tracks,
        "results": results,
        "mix": chosen,
        "mix_tuning": tuning.describe(),
    });
    let path = options.run.join(EVALUATION_FILE);
    write_file(&path, |w| Ok(serde_json::to_writer_pretty(w, &evaluation)?))?;
    Ok((path, evaluation))
}

/// The catalogue row of each vocabulary track, in index order (from 1).
fn vocabulary_tracks<'a>(
    sequences: &Sequences,
    catalogue: &'a [Track],
    data_dir: &Path,
) -> Result<Vec<&'a Track>> {
    let by_id: HashMap<&str, &Track> = catalogue.iter().map(|t| (t.track_id.as_str(), t)).collect();
    sequences.vocabulary.idx_to_track[1..]
        .iter()
        .map(|id| {
            by_id.get(id.as_str()).copied().ok_or_else(|| {
                anyhow::anyhow!(
                    "track {id} of the run's vocabulary is missing from {}; evaluate on the training data",
                    data_dir.display()
                )
            })
        })
        .collect()
}

/// The gate's figure for an exported model: the hybrid scorer the edge serves (with graphs,
/// mixed by `weights`, the model's own default), NDCG@10 over the full catalogue, on the test split of `data_dir` up to `as_of` (the
/// candidate's split, so two models are compared on the same held-out interactions). Users
/// whose test track is outside this model's vocabulary drop out; the count says how many
/// were scored.
pub fn hybrid_ndcg_on(
    model: &resonance_sasrec::SasRec,
    vocabulary: crate::sequences::Vocabulary,
    policy: crate::sequences::SequencePolicy,
    data_dir: &Path,
    as_of: Option<i64>,
    seed: u64,
    weights: MixWeights,
) -> Result<(f64, usize)> {
    let (mut dataset, _) = resonance_data::load(data_dir, BadRowPolicy::Stop)?;
    if let Some(as_of) = as_of {
        dataset.events.retain(|e| e.timestamp <= as_of);
    }
    let sequences = Sequences::build(&dataset, vocabulary, policy);
    anyhow::ensure!(
        !sequences.users.is_empty(),
        "{}: no user with 3 interactions to evaluate",
        data_dir.display()
    );
    let counts = sequences.train_counts();
    let rows = vocabulary_tracks(&sequences, &dataset.catalogue, data_dir)?;
    let graphs = offline_graphs(sequences.users.iter().map(|u| u.test().0.to_vec()), &rows);
    let mut hybrid = Hybrid {
        model: SasRecScorer::new(model.clone()),
        heuristic: Heuristic::new(&rows, &counts).with_graphs(graphs),
        weights,
    };
    let metrics = evaluate::evaluate(
        &mut hybrid,
        &sequences.users,
        sequences.vocabulary.num_items(),
        Split::Test,
        seed,
        256,
        |_| {},
    )?;
    let full = serde_json::to_value(metrics)?;
    let ndcg = full["full_catalogue"]["ndcg_at_10"]
        .as_f64()
        .ok_or_else(|| anyhow::anyhow!("the evaluation has no full-catalogue NDCG@10"))?;
    Ok((ndcg, sequences.users.len()))
}
