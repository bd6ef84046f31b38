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
