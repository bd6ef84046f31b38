//! What `trainer models gc` may delete from the models folder and the runs folder.
//!
//! A version is kept when it is current, the version a rollback would return to, one of the
//! newest `keep`, or named by a state outside the folder (the caller passes those in:
//! Redis's live and previous versions' models, the models the edge still holds), since a
//! rollback or a re-materialize needs its embeddings from disk. A run folder is kept when a
//! kept version was exported from it or it is one of the newest `keep` runs (a refused
//! candidate's run stays for a look). Everything else goes; each deleted version is recorded
//! in the audit trail (`gc`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::catalog::{self, AuditEntry, ModelSummary};

/// One version or run folder, and why it stays (empty: it goes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The version, or the run folder's path.
    pub name: String,
    /// The reasons it is kept; none means it is deleted.
    pub kept_because: Vec<String>,
}

impl Decision {
    /// Whether it stays.
    pub fn kept(&self) -> bool {
        !self.kept_because.is_empty()
    }
}

/// What a collection keeps and deletes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Every exported version, oldest first.
    pub models: Vec<Decision>,
    /// Every run folder under the runs folder, oldest first (empty without one).
    pub runs: Vec<Decision>,
}

/// Decides for every version: `summaries` oldest first, `protected` = version → why a state
/// outside the folder needs it.
pub fn decide_models(
    summaries: &[ModelSummary],
    current: Option<&str>,
    rollback_target: Option<&str>,
    keep: usize,
    protected: &BTreeMap<String, String>,
) -> Vec<Decision> {
    let newest: BTreeSet<&str> = summaries
        .iter()
        .rev()
        .take(keep)
        .map(|s| s.version.as_str())
        .collect();
    summaries
        .iter()
        .map(|s| {
            let v = s.version.as_str();
            let mut why = Vec::new();
            if current == Some(v) {
                why.push("current".to_string());
            }
            if rollback_target == Some(v) {
                why.push("the rollback target".to_string());
            }
            if newest.contains(v) {
                why.push(format!("one of the newest {keep}"));
            }
            if let Some(reason) = protected.get(v) {
                why.push(reason.clone());
            }
            Decision {
                name: s.version.clone(),
                kept_because: why,
            }
        })
        .collect()
}

/// Plans a collection of `models` and, when given, `runs` (the folders in it holding
/// `run_marker`, a run's own file).
pub fn plan(
    models: &Path,
    runs: Option<&Path>,
    run_marker: &str,
    keep: usize,
    protected: &BTreeMap<String, String>,
) -> Result<Plan> {
    let summaries = catalog::list(models)?;
    let current = catalog::current(models)?;
    let rollback = match &current {
        Some(c) => catalog::rollback_target(models, c).ok(),
        None => None,
    };
    let decided = decide_models(
        &summaries,
        current.as_deref(),
        rollback.as_deref(),
        keep,
        protected,
    );
    let runs = match runs {
        Some(dir) => {
            let kept_runs: BTreeMap<PathBuf, String> = summaries
                .iter()
                .zip(&decided)
                .filter(|(_, d)| d.kept())
                .filter_map(|(s, _)| {
                    Some((identity(Path::new(s.run.as_ref()?)), s.version.clone()))
                })
                .collect();
            decide_runs(&run_folders(dir, run_marker)?, &kept_runs, keep)
        }
        None => Vec::new(),
    };
    Ok(Plan {
        models: decided,
        runs,
    })
}

/// Decides for every run folder (`folders` oldest first): kept when a kept version came
/// from it (`kept_runs`: its identity → the version) or it is one of the newest `keep`.
fn decide_runs(
    folders: &[PathBuf],
    kept_runs: &BTreeMap<PathBuf, String>,
    keep: usize,
) -> Vec<Decision> {
    let newest = folders.len().saturating_sub(keep);
    folders
        .iter()
        .enumerate()
        .map(|(i, folder)| {
            let mut why = Vec::new();
            if let Some(version) = kept_runs.get(&identity(folder)) {
                why.push(format!("model {version} came from it"));
            }
            if i >= newest {
                why.push(format!("one of the newest {keep} runs"));
            }
            Decision {
                name: folder.display().to_string(),
                kept_because: why,
            }
        })
        .collect()
}

/// A folder as one path whatever form it was named in (a relative lineage path and the
/// same folder listed here compare equal); as given when it no longer exists.
fn identity(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// The run folders in `dir` (those holding `marker`), oldest first by the marker's time.
fn run_folders(dir: &Path, marker: &str) -> Result<Vec<PathBuf>> {
    let mut found: Vec<(SystemTime, PathBuf)> = Vec::new();
    let entries = fs::read_dir(dir)
        .with_context(|| format!("cannot read the runs folder {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if let Ok(meta) = fs::metadata(path.join(marker)) {
            found.push((meta.modified()?, path));
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// Deletes what `plan` does not keep; each version deleted is recorded in the audit trail
/// with `reason`. The current version is never deleted, whatever the plan says.
pub fn apply(models: &Path, plan: &Plan, reason: Option<&str>) -> Result<()> {
    let current = catalog::current(models)?;
    for decision in plan.models.iter().filter(|d| !d.kept()) {
        if current.as_deref() == Some(decision.name.as_str()) {
            continue;
        }
        // The manifest first: a half-deleted version is never listed as whole.
        let dir = models.join(&decision.name);
        fs::remove_file(dir.join(crate::MANIFEST_FILE))
            .with_context(|| format!("cannot delete {}", dir.display()))?;
        fs::remove_dir_all(&dir).with_context(|| format!("cannot delete {}", dir.display()))?;
        let mut entry = AuditEntry::now("gc", &decision.name, None);
        entry.reason = reason.map(String::from);
        catalog::record(models, &entry)?;
    }
    for decision in plan.runs.iter().filter(|d| !d.kept()) {
        fs::remove_dir_all(&decision.name)
            .with_context(|| format!("cannot delete {}", decision.name))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(version: &str) -> ModelSummary {
        crate::catalog::tests::summary(version, 0.4)
    }

    #[test]
    fn the_current_the_rollback_target_the_newest_and_the_protected_stay() {
        let all: Vec<ModelSummary> = ["a", "b", "c", "d", "e"].map(summary).into();
        let protected = BTreeMap::from([("b".to_string(), "previous in Redis".to_string())]);
        let decided = decide_models(&all, Some("c"), Some("a"), 1, &protected);
        let kept: Vec<(&str, &[String])> = decided
            .iter()
            .map(|d| (d.name.as_str(), d.kept_because.as_slice()))
            .collect();
        assert_eq!(kept[0], ("a", &["the rollback target".to_string()][..]));
        assert_eq!(kept[1], ("b", &["previous in Redis".to_string()][..]));
        assert_eq!(kept[2], ("c", &["current".to_string()][..]));
        assert!(!decided[3].kept(), "d is neither: {:?}", decided[3]);
        assert_eq!(kept[4], ("e", &["one of the newest 1".to_string()][..]));
        // Keeping none of the newest still keeps what a state needs.
        let strict = decide_models(&all, Some("c"), None, 0, &BTreeMap::new());
        let kept: Vec<&str> = strict
            .iter()
            .filter(|d| d.kept())
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(kept, ["c"]);
    }

    #[test]
    fn a_run_stays_while_a_kept_model_came_from_it() {
        let folders: Vec<PathBuf> = ["runs/1", "runs/2", "runs/3"].map(PathBuf::from).into();
        let kept = BTreeMap::from([(PathBuf::from("runs/1"), "m1".to_string())]);
        let decided = decide_runs(&folders, &kept, 1);
        assert_eq!(decided[0].kept_because, ["model m1 came from it"]);
        assert!(!decided[1].kept());
        assert_eq!(decided[2].kept_because, ["one of the newest 1 runs"]);
    }
}
