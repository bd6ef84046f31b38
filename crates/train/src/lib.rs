//! Training, evaluating and exporting SASRec (the model itself lives in `resonance-sasrec`):
//!
//! - [`sequences`]: events → per-user item sequences, the vocabulary, the leave-one-out split;
//! - [`batches`]: training windows with one sampled negative per position;
//! - [`train`]: the loop (Adam, validation each epoch, early stopping, best weights kept);
//! - [`evaluate`]: HR@10 / NDCG@10 under the sampled-100 and full-catalogue protocols;
//! - [`evaluation`]: every scorer over a run's test split, written to `evaluation.json`;
//! - [`baselines`]: most-popular and the shared heuristic, on the same split;
//! - [`scorer`]: SASRec as a scorer of every track;
//! - [`run`]: the run folder (weights, vocabulary, per-epoch metrics, the training curve);
//! - [`export`]: the `model/<version>/` artifact with its manifest and ONNX graph;
//! - [`plot`]: the training-curve SVG;
//! - [`device`]: `--device auto|cpu|wgpu`.

pub mod baselines;
pub mod batches;
pub mod device;
pub mod evaluate;
pub mod evaluation;
pub mod export;
pub mod mix;
pub mod plot;
pub mod run;
pub mod scorer;
pub mod sequences;
pub mod train;
