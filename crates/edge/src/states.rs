//! Listeners' encoder states, computed offline with the graph the edge runs (tract on the
//! exported ONNX), so a stored state scores exactly as the edge's model path would on the same
//! history, up to the last bits that native and wasm tract differ in.
//!
//! The history read is the edge's: the last L ids of the stored history
//! (`resonance_shared::state::history_tail`), those without an embedding in the model left
//! out, left-padded. The state records the fingerprint of those L ids, which the edge checks
//! against the listener's value it reads.

use std::sync::atomic::{AtomicUsize, Ordering};

use resonance_shared::state::{UserState, history_fingerprint, history_tail};

use crate::model::{ModelError, SequenceScorer, history_inputs};
use crate::tract::TractModel;

/// The state of `history` (a listener's stored history, oldest first); `None` when none of its
/// last L tracks has an embedding in the model (the edge then has no transformer score either).
pub fn encode_state<'e>(
    model: &TractModel,
    embedding: &impl Fn(&str) -> Option<&'e [f32]>,
    history: &[String],
) -> Result<Option<UserState>, ModelError> {
    let (len, d) = (model.max_len(), model.d_model());
    let tail = history_tail(history, len);
    let rows: Vec<&[f32]> = tail
        .iter()
        .filter_map(|id| embedding(id))
        .filter(|row| row.len() == d)
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let (input, mask) = history_inputs(len, d, &rows);
    // The graph scores at least one candidate; the state does not depend on which.
    let output = model.forward(&input, &mask, &vec![0.0; d])?;
    Ok(Some(UserState {
        history: history_fingerprint(tail),
        tracks: rows.len(),
        state: output.user_state,
    }))
}

/// [`encode_state`] for each `(user, history)`, on `threads` threads sharing the plan; calls
/// `progress` with the number encoded so far. The order of the answer is the listeners'.
pub fn encode_states<'a, 'e, E>(
    model: &TractModel,
    embedding: &E,
    listeners: &[(&'a str, &'a [String])],
    threads: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<(&'a str, UserState)>, ModelError>
where
    E: Fn(&str) -> Option<&'e [f32]> + Sync,
{
    // Once, before the threads, which would otherwise all wait on the first to need it.
    model.prepare()?;
    let done = AtomicUsize::new(0);
    let size = listeners.len().div_ceil(threads.max(1)).max(1);
    let parts: Vec<Result<Vec<(&'a str, UserState)>, ModelError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = listeners
            .chunks(size)
            .map(|part| {
                let done = &done;
                scope.spawn(move || {
                    let mut out = Vec::with_capacity(part.len());
                    for (user, history) in part {
                        if let Some(state) = encode_state(model, embedding, history)? {
                            out.push((*user, state));
                        }
                        progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("an encoding thread panicked"))
            .collect()
    });
    let mut states = Vec::with_capacity(listeners.len());
    for part in parts {
        states.extend(part?);
    }
    Ok(states)
}
