//! Listeners' encoder states (`resonance_shared::state`): stored per model, in Redis and at the
//! edge, written only for the listeners whose history changed.
//!
//! ```text
//! rsn:model:{m}:state:{user}   the state value (Redis and the edge), deleted with the model
//! rsn:states:{m}               Redis hash: user → fingerprint of the history its state encoded
//! rsn:edge:states:{m}          Redis hash: user → the fingerprint the mirror wrote to the edge
//! ```
//!
//! `materialize` compares each listener's history fingerprint with `rsn:states:{m}` and
//! encodes only the changed ones; the mirror compares the two hashes and copies only the
//! states the edge lacks. A state is checked against the listener's value where it is read
//! (its fingerprint), so a state that arrives early, late or not at all never scores another
//! history: the edge runs the model instead.

use std::collections::HashMap;

use anyhow::{Context, Result};
use resonance_shared::keys;

use crate::sinks::EdgeSink;
use crate::store::FeatureStore;
use crate::values::Records;

/// Redis's record of a model's stored states.
pub fn index_key(model: &str) -> String {
    format!("rsn:states:{model}")
}

/// The mirror's record of the states it wrote to the edge for a model.
pub fn edge_index_key(model: &str) -> String {
    format!("rsn:edge:states:{model}")
}

/// One listener's state, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedState {
    /// The listener.
    pub user: String,
    /// The fingerprint of the history it encoded.
    pub fingerprint: String,
    /// `UserState::encode`'s text.
    pub value: String,
}

/// What copying states to the edge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MirroredStates {
    /// States written.
    pub written: usize,
    /// States the edge held already.
    pub unchanged: usize,
}

impl FeatureStore {
    /// The fingerprint of each listener's stored state for `model`.
    pub fn state_index(&mut self, model: &str) -> Result<HashMap<String, String>> {
        self.hash(&index_key(model))
    }

    /// Writes `states` of `model` and their index entries, `batch` a pipeline.
    pub fn write_states(
        &mut self,
        model: &str,
        states: &[EncodedState],
        batch: usize,
    ) -> Result<()> {
        let url = self.url().to_string();
        let index = index_key(model);
        for chunk in states.chunks(batch.max(1)) {
            let mut pipe = redis::pipe();
            for state in chunk {
                pipe.set(keys::model_state_key(model, &state.user), &state.value)
                    .ignore()
                    // After the value: an index entry always has its state.
                    .hset(&index, &state.user, &state.fingerprint)
                    .ignore();
            }
            pipe.exec(self.connection())
                .with_context(|| format!("Redis at {url}: writing states of model {model}"))?;
        }
        Ok(())
    }

    /// Copies to the edge the states of `model` it lacks (by the two records), `batch` a
    /// write, and records them.
    pub fn mirror_states(
        &mut self,
        model: &str,
        sink: &dyn EdgeSink,
        batch: usize,
    ) -> Result<MirroredStates> {
        let (stored, at_edge) = (index_key(model), edge_index_key(model));
        let records = Records {
            stored: &stored,
            at_edge: &at_edge,
            failpoint: Some(resonance_failpoint::mirror::STATES_BATCH),
        };
        let key_of = |user: &str| keys::model_state_key(model, user);
        // Deleted with the model, and by `trainer forget` at the edge too.
        let copied = self.copy_changed(records, &key_of, false, sink, batch)?;
        Ok(MirroredStates {
            written: copied.written,
            unchanged: copied.unchanged,
        })
    }
}
