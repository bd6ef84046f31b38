//! The CPU engine: SASRec's exported ONNX graph, run by tract-onnx (the Worker, the browser's
//! CPU module, native tests). Behind the `tract` feature, so the browser's WebGPU module is
//! built without it.
//!
//! Loading checks and types the graph (a few ms); tract's optimisation, four fifths of the
//! plan's cost, waits for the first forward pass, so an isolate's answers from stored states
//! (most) never wait for it; the first answer that runs the model pays it instead.

use std::sync::{Arc, Mutex, OnceLock};

use tract_onnx::prelude::{
    Datum, Framework, InferenceFact, InferenceModelExt, IntoRunnable, TDim, Tensor, TypedModel,
    TypedRunnableModel, tvec,
};
use tract_onnx::tract_core::internal::DimLike;
use tract_onnx::tract_hir::infer::Factoid;

use crate::model::{ModelError, ModelOutput, SequenceScorer, check_inputs};

/// The exported graph, typed for batch 1 and any number of candidates, optimised on first use.
pub struct TractModel {
    /// The typed graph, until [`TractModel::plan`] takes it to optimise.
    typed: Mutex<Option<TypedModel>>,
    /// The optimised plan, or why it could not be built (kept: every later call says the same).
    plan: OnceLock<Result<Arc<TypedRunnableModel>, String>>,
    max_len: usize,
    d_model: usize,
}

impl TractModel {
    /// Loads an exported `sasrec.onnx` and reads L and d from its `history` input.
    pub fn from_onnx(bytes: &[u8]) -> Result<Self, ModelError> {
        let load = |e: tract_onnx::prelude::TractError| ModelError::Load(format!("{e:#}"));
        let mut model = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .map_err(load)?;
        let history = model.input_fact(0).map_err(load)?;
        let dims: Vec<Option<usize>> = history
            .shape
            .dims()
            .map(|d| d.concretize().and_then(|d| d.to_usize().ok()))
            .collect();
        let (max_len, d_model) = match dims.as_slice() {
            [_, Some(l), Some(d)] => (*l, *d),
            _ => {
                return Err(ModelError::Load(format!(
                    "the first input must be history [batch, L, d] with fixed L and d, found {:?}",
                    history.shape
                )));
            }
        };
        // One listener per call: a batch of 1 lets tract specialise every shape but C.
        let candidates = model.symbols.sym("C");
        let fact = |shape: Vec<TDim>| InferenceFact::dt_shape(f32::datum_type(), shape);
        model
            .set_input_fact(0, fact(vec![1.into(), max_len.into(), d_model.into()]))
            .map_err(load)?;
        model
            .set_input_fact(1, fact(vec![1.into(), max_len.into()]))
            .map_err(load)?;
        model
            .set_input_fact(2, fact(vec![1.into(), candidates.into(), d_model.into()]))
            .map_err(load)?;
        let outputs = model.output_outlets().map_err(load)?.len();
        if outputs < 2 {
            return Err(ModelError::Load(format!(
                "the graph has {outputs} output(s); scores and user_state are expected \
                 (re-export the model with this version of the trainer)"
            )));
        }
        // Typing checks every shape and operator now, so a graph that cannot run is refused
        // at load; what is left to the first forward pass is optimisation.
        let typed = model.into_typed().map_err(load)?;
        Ok(Self {
            typed: Mutex::new(Some(typed)),
            plan: OnceLock::new(),
            max_len,
            d_model,
        })
    }

    /// Builds the optimised plan now, if it was not already: the trainer calls it before
    /// encoding listeners on several threads. The Worker does not: its first model run builds it.
    pub fn prepare(&self) -> Result<(), ModelError> {
        self.plan().map(|_| ())
    }

    /// Whether the optimised plan has been built.
    pub fn is_prepared(&self) -> bool {
        self.plan.get().is_some_and(|p| p.is_ok())
    }

    fn plan(&self) -> Result<&Arc<TypedRunnableModel>, ModelError> {
        self.plan
            .get_or_init(|| {
                let typed = self
                    .typed
                    .lock()
                    .map_err(|_| "a thread building the plan panicked".to_string())?
                    .take()
                    .ok_or_else(|| "an earlier attempt to build the plan panicked".to_string())?;
                typed
                    .into_optimized()
                    .and_then(|m| m.into_runnable())
                    .map_err(|e| format!("optimising the graph: {e:#}"))
            })
            .as_ref()
            .map_err(|e| ModelError::Load(e.clone()))
    }
}

impl SequenceScorer for TractModel {
    fn max_len(&self) -> usize {
        self.max_len
    }

    fn d_model(&self) -> usize {
        self.d_model
    }

    fn backend(&self) -> &'static str {
        "tract-cpu"
    }

    /// Built, or failed to build (a run then fails at once, without waiting).
    fn is_ready(&self) -> bool {
        self.plan.get().is_some()
    }

    async fn score(
        &self,
        history: &[f32],
        mask: &[f32],
        candidates: &[f32],
    ) -> Result<ModelOutput, ModelError> {
        self.forward(history, mask, candidates)
    }
}

impl TractModel {
    /// [`SequenceScorer::score`], synchronously (tract runs on the calling thread): the
    /// trainer encodes listeners' states with it.
    pub fn forward(
        &self,
        history: &[f32],
        mask: &[f32],
        candidates: &[f32],
    ) -> Result<ModelOutput, ModelError> {
        let (len, d) = (self.max_len, self.d_model);
        check_inputs(len, d, history, mask, candidates)?;
        let count = candidates.len() / d;
        let run = |e: tract_onnx::prelude::TractError| ModelError::Run(format!("{e:#}"));
        let outputs = self
            .plan()?
            .run(tvec![
                Tensor::from_shape(&[1, len, d], history)
                    .map_err(run)?
                    .into(),
                Tensor::from_shape(&[1, len], mask).map_err(run)?.into(),
                Tensor::from_shape(&[1, count, d], candidates)
                    .map_err(run)?
                    .into(),
            ])
            .map_err(run)?;
        let read = |i: usize| -> Result<Vec<f32>, ModelError> {
            let view = outputs
                .get(i)
                .ok_or_else(|| ModelError::Run(format!("the graph has no output {i}")))?
                .to_plain_array_view::<f32>()
                .map_err(run)?;
            Ok(view.iter().copied().collect())
        };
        let output = ModelOutput {
            scores: read(0)?,
            user_state: read(1)?,
        };
        if output.scores.len() != count || output.user_state.len() != d {
            return Err(ModelError::Shape(format!(
                "the graph returned {} scores and a state of {} for {count} candidates and d = {d}",
                output.scores.len(),
                output.user_state.len()
            )));
        }
        Ok(output)
    }
}
