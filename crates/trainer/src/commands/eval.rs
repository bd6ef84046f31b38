//! `trainer eval`: test a trained run against the baselines, under both protocols.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use resonance_data::read::BadRowPolicy;
use resonance_shared::mixer::MixWeights;
use resonance_train::evaluate::ProtocolMetrics;
use resonance_train::evaluation::{self, EvalOptions, EvalProgress, SplitSize};
use resonance_train::mix::MixChoice;

/// The seed of the sampled negatives unless `--seed` says (the gate's re-scoring uses it too).
pub const SAMPLING_SEED: u64 = 2018;

/// Evaluate a trained run on the held-out test interactions (each user's last), with HR@10 and
/// NDCG@10 under two protocols: the SASRec paper's (the target against 100 sampled tracks the
/// user never played) and the full catalogue (every track not already in the history).
/// The most-popular and heuristic baselines are scored on the same split for comparison; the
/// heuristic also with interest graphs (the offline builder on each test history, so nothing
/// of the held-out track leaks in), and the hybrid the edge serves (SASRec and the heuristic
/// with graphs, each standardised over the catalogue, then mixed).
///
/// The mix is tuned first: eleven mixes, from SASRec alone to the heuristic alone, are scored
/// on the validation split (each user's second-to-last interaction), and the one with the best
/// full-catalogue NDCG@10 is kept. It becomes the model's default at the edge once exported;
/// `--mix` sets it instead.
///
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
    #[arg(long, default_value_t = SAMPLING_SEED)]
    pub seed: u64,
    /// Skip and count malformed rows instead of stopping at the first one.
    #[arg(long)]
    pub skip_bad: bool,
    /// The hybrid's mix as TRANSFORMER,HEURISTIC (e.g. 0.7,0.3: the edge's default), instead
    /// of tuning it on the validation split.
    #[arg(long, value_name = "T,H", value_parser = parse_mix)]
    pub mix: Option<MixWeights>,
}

/// `T,H`: two finite non-negative weights, not both 0.
fn parse_mix(text: &str) -> Result<MixWeights, String> {
    let (t, h) = text
        .split_once(',')
        .ok_or_else(|| format!("{text:?}: expected TRANSFORMER,HEURISTIC, such as 0.7,0.3"))?;
    let weight = |name: &str, v: &str| {
        v.trim()
            .parse::<f32>()
            .map_err(|_| format!("the {name} weight {v:?} is not a number"))
    };
    let mix = MixWeights {
        transformer: weight("transformer", t)?,
        heuristic: weight("heuristic", h)?,
    };
    mix.validate()
        .map_err(|e| format!("{}: {}", e.field, e.message))?;
    Ok(mix)
}

/// Evaluates the run, printing a table as each scorer finishes.
pub fn run(args: EvalArgs) -> Result<()> {
    let options = EvalOptions {
        run: args.run,
        data: args.data,
        seed: args.seed,
        policy: if args.skip_bad {
            BadRowPolicy::Skip
        } else {
            BadRowPolicy::Stop
        },
        mix: args.mix,
    };
    let (path, _) = evaluation::evaluate_run(&options, &mut Table { bar: None })?;
    println!("wrote {}", path.display());
    Ok(())
}

/// The table on stdout, a progress bar per scorer on stderr.
struct Table {
    bar: Option<ProgressBar>,
}

impl EvalProgress for Table {
    fn split(&mut self, size: SplitSize) {
        println!(
            "test split: {} users, {} tracks ({} users with < 3 interactions and {} events of \
             tracks outside the run's vocabulary dropped)",
            size.users, size.tracks, size.dropped_short_users, size.dropped_unknown_tracks
        );
        println!(
            "{:<16} {:>22} {:>22}",
            "", "sampled-100 HR / NDCG", "full HR / NDCG"
        );
    }

    fn scorer_started(&mut self, name: &str, users: usize) {
        self.bar = Some(
            ProgressBar::new(users as u64).with_style(
                ProgressStyle::with_template(&format!(
                    "{name:<16} {{bar:30}} {{pos}}/{{len}} users  ETA {{eta}}"
                ))
                .expect("valid template"),
            ),
        );
    }

    fn advanced(&mut self, users: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(users as u64);
        }
    }

    fn scorer_finished(&mut self, name: &str, m: &ProtocolMetrics, seconds: f64) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        println!(
            "{name:<16} {:>10.4} / {:<10.4} {:>10.4} / {:<10.4} ({seconds:.1} s)",
            m.sampled_100.hr_at_10,
            m.sampled_100.ndcg_at_10,
            m.full_catalogue.hr_at_10,
            m.full_catalogue.ndcg_at_10,
        );
    }

    fn mix_chosen(&mut self, choice: &MixChoice, seconds: f64) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        println!(
            "mix tuned on the validation split ({seconds:.1} s): heuristic share, then sampled-100 / full NDCG@10"
        );
        for trial in &choice.grid {
            let mark = if trial.weights == choice.chosen {
                "  <- chosen"
            } else {
                ""
            };
            println!(
                "  {:>4.2} {:>10.4} / {:<10.4}{mark}",
                trial.weights.heuristic,
                trial.metrics.sampled_100.ndcg_at_10,
                trial.metrics.full_catalogue.ndcg_at_10,
            );
        }
        println!(
            "the hybrid below mixes {:.2} transformer + {:.2} heuristic",
            choice.chosen.transformer, choice.chosen.heuristic
        );
    }
}
