//! Datasets on disk: a folder holding `catalogue.csv` and `events.csv` (optionally gzipped).
//!
//! Reading validates every row (see [`read`]); writing goes to a temporary folder beside the
//! destination that is renamed into place only when complete, so a crash or a bad input never
//! leaves a half-written dataset where a good one was.

pub mod catalogue_csv;
pub mod events_csv;
pub mod read;
pub mod stats;

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use resonance_shared::catalogue::Track;
use resonance_shared::events::ListeningEvent;

use self::events_csv::EventReadOptions;
use self::read::{BadRowPolicy, Dialect, ReadReport};

pub const CATALOGUE_FILE: &str = "catalogue.csv";
pub const EVENTS_FILE: &str = "events.csv";

/// A catalogue and the events over it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    pub catalogue: Vec<Track>,
    /// Sorted by (timestamp, user_id).
    pub events: Vec<ListeningEvent>,
}

/// What loading a dataset found, per file.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub catalogue: ReadReport,
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

/// Writes a dataset to `out` atomically: into a temporary sibling folder first, then renamed.
/// An existing non-empty `out` is replaced only with `replace`.
pub fn write_atomically(out: &Path, dataset: &Dataset, replace: bool) -> Result<()> {
    let occupied = out.exists()
        && (!out.is_dir()
            || fs::read_dir(out)
                .map(|mut d| d.next().is_some())
                .unwrap_or(true));
    if occupied && !replace {
        bail!(
            "{} already exists and is not empty; pass --force to replace it",
            out.display()
        );
    }
    let name = out
        .file_name()
        .with_context(|| format!("{} does not name a folder", out.display()))?
        .to_string_lossy()
        .into_owned();
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir(&staging).with_context(|| format!("cannot create {}", staging.display()))?;

    let written = (|| -> Result<()> {
        write_file(&staging.join(CATALOGUE_FILE), |w| {
            catalogue_csv::write(w, &dataset.catalogue)
        })?;
        write_file(&staging.join(EVENTS_FILE), |w| {
            events_csv::write(w, &dataset.events)
        })?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    if out.exists() {
        let retired = parent.join(format!(".{name}.old-{}", std::process::id()));
        fs::rename(out, &retired)
            .with_context(|| format!("cannot move {} aside", out.display()))?;
        fs::rename(&staging, out)
            .with_context(|| format!("cannot rename {} into place", staging.display()))?;
        fs::remove_dir_all(&retired)
            .with_context(|| format!("cannot remove {}", retired.display()))?;
    } else {
        fs::rename(&staging, out)
            .with_context(|| format!("cannot rename {} into place", staging.display()))?;
    }
    Ok(())
}

fn write_file(path: &Path, body: impl FnOnce(&mut BufWriter<File>) -> Result<()>) -> Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut writer = BufWriter::new(file);
    body(&mut writer).with_context(|| format!("cannot write {}", path.display()))?;
    let file = writer.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
        .with_context(|| format!("cannot flush {}", path.display()))?;
    Ok(())
}
