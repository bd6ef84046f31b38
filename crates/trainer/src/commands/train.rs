//! `trainer train`: learn SASRec from a dataset folder into a run folder.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use resonance_sasrec::SasRecConfig;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::choices::{DeviceArg, LossArg};
use resonance_data::{self as data, read::BadRowPolicy};
use resonance_train::device;
use resonance_train::run::{self, FinishedRun, RunInfo};
use resonance_train::sequences::{SequencePolicy, Sequences, Vocabulary};
use resonance_train::train::{self, TrainOptions};

/// Train SASRec (self-attentive sequential recommendation) on a dataset's listening histories.
///
/// Each user's interactions form a sequence; the last one is held out for testing and the
/// second-last for validation (leave-one-out). Every position learns to score the track that
/// came next above one sampled track the user never played. After each epoch the model is
/// validated (NDCG@10 against 100 sampled tracks); training stops early when that stops
/// improving, and the best epoch's weights are kept.
///
/// Writes a run folder: weights (sasrec.bpk), vocabulary, per-epoch metrics (metrics.jsonl)
/// and the training curve (training_curve.svg). Then run `trainer eval` and `trainer export`.
#[derive(Args)]
pub struct TrainArgs {
    /// The dataset folder (catalogue.csv, events.csv).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Train only on events up to this instant (RFC 3339 or unix seconds; default: all), so a
    /// backfill or a replayed day never sees its future; `trainer eval` then reads the same.
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// The run folder to write (default: runs/sasrec; `trainer retrain`: <runs>/<model version>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace `--out` if it already holds a run.
    #[arg(long)]
    pub force: bool,
    /// Passes over the training data (at most; early stopping may end sooner).
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Training windows per optimiser step.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Tracks of history the model reads (L).
    #[arg(long, default_value_t = 50)]
    pub max_seq_len: usize,
    /// Embedding and hidden size (d).
    #[arg(long, default_value_t = 128)]
    pub d_model: usize,
    /// Attention heads (must divide --d-model).
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    /// Self-attention blocks.
    #[arg(long, default_value_t = 2)]
    pub layers: usize,
    /// Dropout rate.
    #[arg(long, default_value_t = 0.2)]
    pub dropout: f64,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Seed of the initial weights, the shuffling and the negatives.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Stop after this many epochs without a better validation NDCG@10.
    #[arg(long, default_value_t = 3)]
    pub patience: usize,
    /// The objective: the paper's BCE with one negative, or a sampled softmax.
    #[arg(long, value_enum, default_value = "bce")]
    pub loss: LossArg,
    /// Negatives per batch for `--loss sampled-softmax`.
    #[arg(long, default_value_t = 256)]
    pub negatives: usize,
    /// Where to train.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceArg,
    /// Count skips as interactions (for datasets whose "skips" are low ratings, e.g. MovieLens).
    #[arg(long)]
    pub include_skips: bool,
    /// Skip and count malformed rows instead of stopping at the first one.
    #[arg(long)]
    pub skip_bad: bool,
}

pub fn run(args: TrainArgs) -> Result<()> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs/sasrec"));
    train_into(&args, &out)
}

/// Trains with `args` and writes the run into `out`.
pub fn train_into(args: &TrainArgs, out: &std::path::Path) -> Result<()> {
    anyhow::ensure!(args.epochs >= 1, "--epochs must be at least 1");
    anyhow::ensure!(
        (1..=65_536).contains(&args.batch_size),
        "--batch-size must be 1–65536"
    );
    anyhow::ensure!(
        args.lr.is_finite() && args.lr > 0.0,
        "--lr must be a positive number"
    );
    anyhow::ensure!(args.patience >= 1, "--patience must be at least 1");
    let policy = if args.skip_bad {
        BadRowPolicy::Skip
    } else {
        BadRowPolicy::Stop
    };
    let (mut dataset, _) = data::load(&args.data, policy)?;
    let as_of = match &args.as_of {
        Some(text) => {
            let as_of = resonance_featurestore::views::resolve_as_of(Some(text), &dataset)?;
            dataset.events.retain(|e| e.timestamp <= as_of);
            Some(as_of)
        }
        None => None,
    };
    let vocabulary = Vocabulary::from_catalogue(&dataset);
    let sequence_policy = SequencePolicy {
        include_skips: args.include_skips,
    };
    let sequences = Sequences::build(&dataset, vocabulary, sequence_policy);
    anyhow::ensure!(
        !sequences.users.is_empty(),
        "{}: no user has the 3 interactions the leave-one-out split needs ({} users dropped)",
        args.data.display(),
        sequences.dropped_short_users
    );
    let config = SasRecConfig::new(sequences.vocabulary.num_items())
        .with_max_len(args.max_seq_len)
        .with_d_model(args.d_model)
        .with_heads(args.heads)
        .with_layers(args.layers)
        .with_dropout(args.dropout);
    config
        .check()
        .map_err(|e| anyhow::anyhow!("--{}", e.replace('_', "-")))?;
    anyhow::ensure!(
        (1..=100_000).contains(&args.negatives),
        "--negatives must be 1–100000"
    );
    let options = TrainOptions {
        loss: args.loss.into(),
        negatives: args.negatives,
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.lr,
        seed: args.seed,
        patience: args.patience,
    };
    let (device, device_name) = device::select(args.device.into())?;
    let windows = resonance_train::batches::windows(&sequences.users, args.max_seq_len).len();
    eprintln!(
        "training SASRec (d={}, {} heads, {} blocks, L={}) on {device_name}: {} users ({} dropped with < 3 interactions), {} tracks, {windows} windows",
        args.d_model,
        args.heads,
        args.layers,
        args.max_seq_len,
        sequences.users.len(),
        sequences.dropped_short_users,
        sequences.vocabulary.num_items()
    );
    let outcome = train::train(&config, &sequences, &options, &device, |e| {
        eprintln!(
            "epoch {:>3}: loss {:.4}  validation HR@10 {:.4} NDCG@10 {:.4}  {:.1} s  {:.0} sequences/s",
            e.epoch,
            e.train_loss,
            e.validation_hr_at_10,
            e.validation_ndcg_at_10,
            e.seconds,
            e.sequences_per_second
        );
    })?;
    let info = RunInfo {
        data: args.data.clone(),
        as_of,
        model: config,
        options,
        policy: sequence_policy,
        device: device_name.to_string(),
        users: sequences.users.len(),
        dropped_short_users: sequences.dropped_short_users,
        training_windows: windows,
        epochs_run: outcome.epochs.len(),
        best_epoch: outcome.best_epoch,
        created_at: OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .context("formatting the time")?,
    };
    run::save(
        out,
        args.force,
        FinishedRun {
            info: &info,
            vocabulary: &sequences.vocabulary,
            model: &outcome.model,
            epochs: &outcome.epochs,
        },
    )?;
    println!(
        "wrote {} (best epoch {} of {}); next: trainer eval --run {}",
        out.display(),
        outcome.best_epoch,
        outcome.epochs.len(),
        out.display()
    );
    Ok(())
}
