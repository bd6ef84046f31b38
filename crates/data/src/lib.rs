//! Datasets on disk: a folder holding `catalogue.csv` and `events.csv` (optionally gzipped).
//!
//! Reading validates every row (see [`read`]); writing goes to a temporary folder beside the
//! destination that is renamed into place only when complete, so a crash or a bad input never
//! leaves a half-written dataset where a good one was.

pub mod atomic;
pub mod candidates;
pub mod catalogue_csv;
pub mod events_csv;
pub mod read;
pub mod stats;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use resonance_shared::catalogue::Track;
use resonance_shared::events::ListeningEvent;

use self::events_csv::EventReadOptions;
use self::read::{BadRowPolicy, Dialect, ReadReport};
use crate::atomic::{publish_dir, write_file};

/// The catalogue's file name in a dataset folder (or with `.gz`).
pub const CATALOGUE_FILE: &str = "catalogue.csv";
/// The events' file name in a dataset folder (or with `.gz`).
pub const EVENTS_FILE: &str = "events.csv";

/// A catalogue and the events over it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    /// Every track, validated, ids unique.
    pub catalogue: Vec<Track>,
    /// Sorted by (timestamp, user_id).
    pub events: Vec<ListeningEvent>,
}

/// What loading a dataset found, per file.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// What reading `catalogue.csv` found.
    pub catalogue: ReadReport,
    /// What reading `events.csv` found.
    pub events: ReadReport,
}

/// `dir/name`, or `dir/name.gz` when only the gzipped file exists.
fn find(dir: &Path, name: &str) -> Result<PathBuf> {
    let plain = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    if plain.exists() {
        Ok(plain)
    } else if gz.exists() {
        Ok(gz)
    } else {
        bail!(
            "{} has no {name} (nor {name}.gz); create one with `trainer data synth --out {}` or `trainer data import`",
            dir.display(),
            dir.display()
        )
    }
}

/// Loads and validates a dataset folder in the canonical format.
pub fn load(dir: &Path, policy: BadRowPolicy) -> Result<(Dataset, LoadReport)> {
    let (catalogue, catalogue_report) =
        catalogue_csv::read(&find(dir, CATALOGUE_FILE)?, Dialect::CSV, policy)?;
    let known: HashSet<String> = catalogue.iter().map(|t| t.track_id.clone()).collect();
    let (events, events_report) = events_csv::read(
        &find(dir, EVENTS_FILE)?,
        Dialect::CSV,
        EventReadOptions {
            policy,
            known_tracks: Some(&known),
            ..Default::default()
        },
    )?;
    Ok((
        Dataset { catalogue, events },
        LoadReport {
            catalogue: catalogue_report,
            events: events_report,
        },
    ))
}

/// Writes a dataset to `out` atomically (see [`atomic`]). An existing non-empty
/// `out` is replaced only with `replace`.
pub fn write_atomically(out: &Path, dataset: &Dataset, replace: bool) -> Result<()> {
    publish_dir(out, replace, |staging| {
        write_file(&staging.join(CATALOGUE_FILE), |w| {
            catalogue_csv::write(w, &dataset.catalogue)
        })?;
        write_file(&staging.join(EVENTS_FILE), |w| {
            events_csv::write(w, &dataset.events)
        })
    })
}
