//! The staged model: a candidate published to the edge beside the live one, loaded and
//! verified there but serving no traffic (the A/B work routes a share of listeners to it).
//!
//! ```text
//! rsn:staged   the staged model's version (absent: none); its keys are in Redis like any
//!              model's (`rsn:model:{m}:*`: manifest, chunks, embeddings), kept by pruning
//! ```
//!
//! `trainer models stage` writes the model and the pointer, and a change record that wakes a
//! following mirror; the mirror copies the model to the edge, has the Worker verify it, and
//! records it as the edge's `stagedModel` (`crate::ledger`), which collection keeps. A staged
//! model that goes live (a version whose meta names it is switched live) is no longer staged:
//! the switch clears the pointer in the same transaction. Its listeners' states are written
//! when it goes live; until then a reader that scores with it runs the model.

use anyhow::{Context, Result};
use redis::Commands;

use crate::store::{CHANGES, CHANGES_KEPT, FeatureStore};

/// The staged model's version.
pub const STAGED: &str = "rsn:staged";

impl FeatureStore {
    /// The staged model, if any.
    pub fn staged(&mut self) -> Result<Option<String>> {
        let context = format!("Redis at {}: reading {STAGED}", self.url());
        self.connection().get(STAGED).context(context)
    }

    /// Names `model` staged (`None`: nothing), with a change record so a following mirror
    /// copies it (or lets the edge's copy go). The model's keys must be in Redis already
    /// ([`FeatureStore::write_model`]).
    pub fn set_staged(&mut self, model: Option<&str>) -> Result<()> {
        let live = self.current()?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        match model {
            Some(model) => pipe.set(STAGED, model).ignore(),
            None => pipe.del(STAGED).ignore(),
        };
        // With the live version: a mirror that predates staging takes the record for a
        // feature change and syncs what is live, which it does anyway. Nothing live, no
        // record: there is nothing a mirror could sync.
        if let Some(live) = live {
            pipe.xadd_maxlen(
                CHANGES,
                redis::streams::StreamMaxlen::Approx(CHANGES_KEPT),
                "*",
                &[
                    ("version", live.0.to_string()),
                    ("staged", model.unwrap_or_default().to_string()),
                ],
            )
            .ignore();
        }
        let context = format!("Redis at {}: writing {STAGED}", self.url());
        pipe.exec(self.connection()).context(context)
    }
}
