//! The training loop: Adam on the paper's loss (binary cross-entropy of each position's next
//! track against one sampled negative) or a sampled softmax, a validation pass after every
//! epoch, early stopping on validation NDCG@10, and the best epoch's weights kept.

use std::time::Instant;

use anyhow::Result;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Device;
use burn::tensor::activation::{log_sigmoid, log_softmax};
use burn::tensor::{Int, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use resonance_sasrec::{SasRec, SasRecConfig};
use serde::{Deserialize, Serialize};

use super::batches::{self, Batch};
use super::evaluate::{self, Split};
use super::scorer::SasRecScorer;
use super::sequences::Sequences;

/// The training objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// The paper's: binary cross-entropy of each position's next track against one sampled
    /// negative.
    Bce,
    /// Softmax cross-entropy of the next track against a set of uniformly sampled negatives
    /// shared by the batch (`--negatives`); more signal per step, so it learns faster.
    SampledSoftmax,
}

impl Loss {
    /// The loss in words, as recorded in the manifest.
    pub fn describe(&self, negatives: usize) -> String {
        match self {
            Loss::Bce => "binary cross-entropy, one sampled negative per position".into(),
            Loss::SampledSoftmax => {
                format!("sampled softmax, {negatives} uniform negatives shared per batch")
            }
        }
    }
}

/// How to train.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainOptions {
    /// The objective.
    pub loss: Loss,
    /// Negatives per batch for the sampled softmax.
    pub negatives: usize,
    /// Most epochs to train; early stopping may end sooner.
    pub epochs: usize,
    /// Training windows per step.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Seeds the initialisation and dropout, the shuffling, the negatives and the validation
    /// negatives.
    pub seed: u64,
    /// Stop after this many epochs without a better validation NDCG@10.
    pub patience: usize,
}

/// What one epoch did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The epoch, from 1.
    pub epoch: usize,
    /// The mean training loss over the epoch's steps.
    pub train_loss: f64,
    /// Validation HR@10 under the sampled-100 protocol.
    pub validation_hr_at_10: f64,
    /// Validation NDCG@10 under the sampled-100 protocol; what early stopping watches.
    pub validation_ndcg_at_10: f64,
    /// Wall-clock time of the epoch, validation included.
    pub seconds: f64,
    /// Training windows per second, validation excluded.
    pub sequences_per_second: f64,
}

/// What training produced.
pub struct TrainOutcome {
    /// The weights of the best validation epoch, ready for inference.
    pub model: SasRec,
    /// The epoch, from 1, whose weights `model` holds.
    pub best_epoch: usize,
    /// Every epoch run, in order.
    pub epochs: Vec<EpochRecord>,
}

fn int_tensor(values: Vec<i64>, batch: usize, len: usize, device: &Device) -> Tensor<2, Int> {
    Tensor::from_data(TensorData::new(values, [batch, len]), device)
}

/// Everything a loss needs besides the model and the batch.
struct LossContext<'a> {
    options: &'a TrainOptions,
    num_items: usize,
    len: usize,
    device: &'a Device,
}

/// The loss of one batch, averaged over real (non-padding) positions.
fn loss(model: &SasRec, batch: Batch, ctx: &LossContext<'_>, rng: &mut ChaCha8Rng) -> Tensor<1> {
    let (b, len, device) = (batch.size, ctx.len, ctx.device);
    let input = int_tensor(batch.input, b, len, device);
    let positive = int_tensor(batch.positive, b, len, device);
    let states = model.forward_ids(input); // [B, L, d]
    let real = positive
        .clone()
        .not_equal_elem(0)
        .float()
        .unsqueeze_dim::<3>(2); // [B, L, 1]
    let positive_logits = (states.clone() * model.item_embedding.forward(positive)).sum_dim(2); // [B, L, 1]
    let per_position = match ctx.options.loss {
        // −log σ(s⁺) − log σ(−s⁻)
        Loss::Bce => {
            let negative = int_tensor(batch.negative, b, len, device);
            let negative_logits = (states * model.item_embedding.forward(negative)).sum_dim(2);
            log_sigmoid(positive_logits) + log_sigmoid(negative_logits.neg())
        }
        // log softmax of the positive among [positive, K shared negatives]
        Loss::SampledSoftmax => {
            let (d, k) = (model.d_model(), ctx.options.negatives);
            let ids: Vec<i64> = (0..k)
                .map(|_| rng.random_range(1..=ctx.num_items as i64))
                .collect();
            let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [k]), device);
            let negatives = model.item_embedding.weight.val().select(0, ids); // [K, d]
            let negative_logits = states.reshape([b * len, d]).matmul(negatives.transpose()); // [B·L, K]
            let logits = Tensor::cat(
                vec![positive_logits.reshape([b * len, 1]), negative_logits],
                1,
            );
            log_softmax(logits, 1)
                .slice([0..b * len, 0..1])
                .reshape([b, len, 1])
        }
    };
    (per_position * real.clone()).sum().neg() / real.sum().clamp_min(1.0)
}

/// Trains SASRec on `sequences`, reporting each epoch to `on_epoch`.
pub fn train(
    config: &SasRecConfig,
    sequences: &Sequences,
    options: &TrainOptions,
    device: &Device,
    mut on_epoch: impl FnMut(&EpochRecord),
) -> Result<TrainOutcome> {
    config.check().map_err(anyhow::Error::msg)?;
    let num_items = sequences.vocabulary.num_items();
    let windows = batches::windows(&sequences.users, config.max_len);
    anyhow::ensure!(
        !windows.is_empty(),
        "no training examples: every user has fewer than 4 interactions (3 for the split, 1 to learn from)"
    );
    let seen = batches::interacted(&sequences.users);
    let training = device.clone().autodiff();
    training.seed(options.seed);
    // On the CPU, dropout masks drawn in bulk on the host cost a fraction of the backend's
    // per-element sampler; on a GPU the backend's stay on the device (see `dropout`).
    if *device == Device::flex() {
        resonance_sasrec::dropout::seed_host_masks(options.seed);
    } else {
        resonance_sasrec::dropout::backend_masks();
    }
    let mut model = config.init(&training);
    let mut optimizer = AdamConfig::new().with_beta_2(0.98).init();
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);

    let mut order: Vec<&batches::Window> = windows.iter().collect();
    let mut best: Option<(f64, usize, SasRec)> = None;
    let mut records = Vec::new();
    let steps = order.len().div_ceil(options.batch_size);
    let ctx = LossContext {
        options,
        num_items,
        len: config.max_len,
        device: &training,
    };
    for epoch in 1..=options.epochs {
        let started = Instant::now();
        order.shuffle(&mut rng);
        let bar = ProgressBar::new(steps as u64).with_style(
            ProgressStyle::with_template(&format!(
                "epoch {epoch:>3}/{} {{bar:25}} {{pos}}/{{len}} loss {{msg}}  {{per_sec}}  ETA {{eta}}",
                options.epochs
            ))
            .expect("the template is valid"),
        );
        let mut total_loss = 0.0;
        for chunk in order.chunks(options.batch_size) {
            let batch = batches::assemble(chunk, &seen, num_items, &mut rng);
            let loss = loss(&model, batch, &ctx, &mut rng);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(options.learning_rate, model, grads);
            let value = f64::from(loss.into_scalar::<f32>());
            anyhow::ensure!(
                value.is_finite(),
                "the loss diverged (NaN or infinite) in epoch {epoch}; try a lower --lr"
            );
            total_loss += value;
            bar.set_message(format!("{value:.4}"));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let train_seconds = started.elapsed().as_secs_f64();

        let valid = model.valid();
        let mut scorer = SasRecScorer::new(valid.clone());
        let validation = evaluate::evaluate(
            &mut scorer,
            &sequences.users,
            num_items,
            Split::Validation,
            options.seed,
            256,
            |_| {},
        )?;
        let record = EpochRecord {
            epoch,
            train_loss: total_loss / steps as f64,
            validation_hr_at_10: validation.sampled_100.hr_at_10,
            validation_ndcg_at_10: validation.sampled_100.ndcg_at_10,
            seconds: started.elapsed().as_secs_f64(),
            sequences_per_second: windows.len() as f64 / train_seconds,
        };
        on_epoch(&record);
        let ndcg = record.validation_ndcg_at_10;
        records.push(record);
        if best.as_ref().is_none_or(|(b, _, _)| ndcg > *b) {
            best = Some((ndcg, epoch, valid));
        } else if best
            .as_ref()
            .is_some_and(|(_, e, _)| epoch - e >= options.patience)
        {
            break;
        }
    }
    let (_, best_epoch, model) = best.expect("at least one epoch ran");
    Ok(TrainOutcome {
        model,
        best_epoch,
        epochs: records,
    })
}
