//! Crash injection for the fault tests. `RESONANCE_ABORT_AT=<point>:<n>` aborts the process
//! the n-th time `<point>` is reached: SIGABRT, no cleanup and no destructors, as `kill -9`
//! at that instant would. Without the variable, [`reached`] only counts.

use std::collections::HashMap;
use std::sync::Mutex;

static COUNTS: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);

/// Marks that `point` was reached once more.
pub fn reached(point: &str) {
    let Ok(target) = std::env::var("RESONANCE_ABORT_AT") else {
        return;
    };
    let Some((name, n)) = target.split_once(':') else {
        return;
    };
    if name != point {
        return;
    }
    let mut counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    let count = counts
        .get_or_insert_with(HashMap::new)
        .entry(point.to_string())
        .or_default();
    *count += 1;
    if n.parse() == Ok(*count) {
        eprintln!("RESONANCE_ABORT_AT={target}: aborting at {point} #{count}");
        std::process::abort();
    }
}

/// The points a mirror to the edge passes (`trainer mirror`, `daily`, `retrain`, `rollback`),
/// in the order one run reaches them; [`mirror::ALL`] lets a test kill a mirror at each in
/// turn. A point is reached only when its step has work to do (a model to copy, states that
/// changed, superseded keys to delete).
pub mod mirror {
    /// After each write of a model's chunks or embeddings to the edge.
    pub const MODEL_BATCH: &str = "mirror-model-batch";
    /// After the edge verified and staged the model, before any listener state.
    pub const MODEL_STAGED: &str = "mirror-model-staged";
    /// After each batch of listener states is written and recorded.
    pub const STATES_BATCH: &str = "mirror-states-batch";
    /// After each batch of a feature version's values (layout 3: of changed values).
    pub const BATCH: &str = "mirror-batch";
    /// After the edge switched to the version, before the mirror records the switch.
    pub const SWITCHED: &str = "mirror-switched";
    /// After each batch of superseded keys is deleted from the edge.
    pub const COLLECT_BATCH: &str = "collect-batch";
    /// Every point above, in order.
    pub const ALL: &[&str] = &[
        MODEL_BATCH,
        MODEL_STAGED,
        STATES_BATCH,
        BATCH,
        SWITCHED,
        COLLECT_BATCH,
    ];
}
