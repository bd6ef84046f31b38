//! The registry's view of a models folder: every exported version with its metrics and
//! lineage, the `CURRENT` pointer moved only through [`promote`] (with the gate) and an audit
//! trail of who moved it, when and why (`<models>/audit.jsonl`, one JSON object a line).
//!
//! `CURRENT` names the model the next `trainer materialize` carries its embeddings from: a
//! model is live at the edge once a version materialized with it is mirrored, so promoting
//! or rolling back here is followed by the daily job (`trainer rollback` runs it itself).

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use resonance_data::atomic::switch_pointer;
use resonance_shared::keys::validate_model_version;
use resonance_shared::manifest::ModelManifest;
use serde::{Deserialize, Serialize};

use crate::{CURRENT_POINTER, MANIFEST_FILE};

/// The audit trail, beside the versions.
pub const AUDIT_FILE: &str = "audit.jsonl";
/// The scorer the edge serves, whose NDCG@10 the gate compares.
pub const GATE_SCORER: &str = "hybrid";
/// The protocol the gate compares (every catalogue track ranked).
pub const GATE_PROTOCOL: &str = "full_catalogue";

/// One exported version, as its manifest describes it (files are not re-hashed here).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelSummary {
    /// The version.
    pub version: String,
    /// When it was exported (RFC 3339).
    pub created_at: String,
    /// Whether `CURRENT` names it.
    pub current: bool,
    /// d, L, layers, heads.
    pub d_model: usize,
    /// The history length.
    pub max_len: usize,
    /// Tracks in its vocabulary.
    pub num_items: usize,
    /// The dataset it was trained and evaluated on (`metrics.data`).
    pub data: Option<String>,
    /// The evaluation split (`metrics.split`).
    pub split: Option<String>,
    /// Events up to this instant were read (unix seconds; `metrics.as_of`), when it was set.
    pub as_of: Option<i64>,
    /// Users evaluated.
    pub users: Option<u64>,
    /// NDCG@10 of the hybrid scorer (the one the edge serves), full catalogue.
    pub hybrid_ndcg_at_10: Option<f64>,
    /// NDCG@10 of SASRec alone, full catalogue.
    pub sasrec_ndcg_at_10: Option<f64>,
    /// The run it was exported from (lineage; absent for models exported before it was kept).
    pub run: Option<String>,
    /// The model current when it was exported: the one it was trained to replace.
    pub parent: Option<String>,
}

impl ModelSummary {
    fn of(manifest: &ModelManifest, current: bool) -> Self {
        let metrics = &manifest.metrics;
        let ndcg = |scorer: &str| metrics["results"][scorer][GATE_PROTOCOL]["ndcg_at_10"].as_f64();
        ModelSummary {
            version: manifest.version.clone(),
            created_at: manifest.created_at.clone(),
            current,
            d_model: manifest.hyperparameters.d_model,
            max_len: manifest.hyperparameters.max_len,
            num_items: manifest.num_items,
            data: metrics["data"].as_str().map(String::from),
            split: metrics["split"].as_str().map(String::from),
            as_of: metrics["as_of"].as_i64(),
            users: metrics["users"].as_u64(),
            hybrid_ndcg_at_10: ndcg(GATE_SCORER),
            sasrec_ndcg_at_10: ndcg("sasrec"),
            run: manifest.lineage.as_ref().map(|l| l.run.clone()),
            parent: manifest.lineage.as_ref().and_then(|l| l.parent.clone()),
        }
    }
}

/// The version `CURRENT` names, if any.
pub fn current(models: &Path) -> Result<Option<String>> {
    let path = models.join(CURRENT_POINTER);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Reads one version's manifest.
pub fn manifest(models: &Path, version: &str) -> Result<ModelManifest> {
    validate_model_version(version).map_err(|e| anyhow::anyhow!("model version: {e}"))?;
    let path = models.join(version).join(MANIFEST_FILE);
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "model {version} is not in {}: {} is missing",
            models.display(),
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{}: malformed", path.display()))
}

/// Every version in `models`, oldest first.
pub fn list(models: &Path) -> Result<Vec<ModelSummary>> {
    let current = current(models)?;
    let mut found = Vec::new();
    let entries = fs::read_dir(models)
        .with_context(|| format!("cannot read the models folder {}", models.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if !entry.file_type()?.is_dir()
            || validate_model_version(&name).is_err()
            || !entry.path().join(MANIFEST_FILE).exists()
        {
            continue;
        }
        let manifest = manifest(models, &name)?;
        found.push(ModelSummary::of(
            &manifest,
            current.as_deref() == Some(&name),
        ));
    }
    found.sort_by(|a, b| (&a.created_at, &a.version).cmp(&(&b.created_at, &b.version)));
    Ok(found)
}

/// One version's summary.
pub fn show(models: &Path, version: &str) -> Result<ModelSummary> {
    let current = current(models)?;
    Ok(ModelSummary::of(
        &manifest(models, version)?,
        current.as_deref() == Some(version),
    ))
}

/// What the gate decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateOutcome {
    /// The candidate's hybrid NDCG@10 (full catalogue), from its evaluation.
    pub candidate: f64,
    /// The current model's, on the candidate's held-out split.
    pub current: f64,
    /// How the current model's figure was had: `its evaluation` (same data, as-of and users)
    /// or `re-scored on the candidate's split`.
    pub current_scored: String,
    /// The largest drop allowed.
    pub max_regression: f64,
    /// Whether the candidate passes.
    pub passed: bool,
}

/// Refuses a candidate of another d or L than the current model: the features hold d-float
/// embeddings and the edge's caches L tracks of history, one shape at a time.
pub fn check_shape(candidate: &ModelSummary, current: &ModelSummary) -> Result<()> {
    if (candidate.d_model, candidate.max_len) != (current.d_model, current.max_len) {
        bail!(
            "model {} has d = {}, L = {}; the current model {} has d = {}, L = {}: the features \
             and the edge's caches are sized for one shape at a time",
            candidate.version,
            candidate.d_model,
            candidate.max_len,
            current.version,
            current.d_model,
            current.max_len
        );
    }
    Ok(())
}

/// Whether the two evaluations are of the same held-out split (same data, as-of, split and
/// users), so their figures compare as they are.
pub fn same_split(candidate: &ModelSummary, current: &ModelSummary) -> bool {
    (
        &candidate.data,
        candidate.as_of,
        &candidate.split,
        candidate.users,
    ) == (&current.data, current.as_of, &current.split, current.users)
}

/// The candidate's own figure (the scorer the edge serves, full catalogue).
pub fn candidate_figure(candidate: &ModelSummary) -> Result<f64> {
    candidate.hybrid_ndcg_at_10.with_context(|| {
        format!(
            "model {} has no {GATE_SCORER} {GATE_PROTOCOL} NDCG@10 in its metrics: evaluate its run \
             (`trainer eval`) before exporting",
            candidate.version
        )
    })
}

/// The gate's decision on the two figures.
pub fn decide(
    candidate: f64,
    current: f64,
    current_scored: &str,
    max_regression: f64,
) -> GateOutcome {
    GateOutcome {
        candidate,
        current,
        current_scored: current_scored.into(),
        max_regression,
        passed: candidate >= current - max_regression,
    }
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// When (RFC 3339).
    pub at: String,
    /// Who (`$USER`, else `unknown`).
    pub actor: String,
    /// `export`, `promote`, `rollback` (they move `CURRENT`), `stage`, `unstage`, or `gc`
    /// (the version was deleted).
    pub action: String,
    /// The version made current (staged, unstaged, deleted).
    pub version: String,
    /// The version current (staged) before.
    pub from: Option<String>,
    /// Why (`--reason`).
    pub reason: Option<String>,
    /// The gate's figures, when it ran.
    pub gate: Option<serde_json::Value>,
    /// Whether the gate was overridden.
    pub forced: bool,
}

impl AuditEntry {
    /// An entry for `action` now, by the current user.
    pub fn now(action: &str, version: &str, from: Option<String>) -> Self {
        use time::format_description::well_known::Rfc3339;
        AuditEntry {
            at: time::OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .unwrap_or_default(),
            actor: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
            action: action.into(),
            version: version.into(),
            from,
            reason: None,
            gate: None,
            forced: false,
        }
    }
}

/// The audit trail, oldest first.
pub fn audit(models: &Path) -> Result<Vec<AuditEntry>> {
    let path = models.join(AUDIT_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: malformed", path.display(), i + 1))
        })
        .collect()
}

/// Makes `entry.version` current and appends `entry` to the audit trail (the pointer first:
/// an entry never claims a move that did not happen).
pub fn make_current(models: &Path, entry: &AuditEntry) -> Result<()> {
    manifest(models, &entry.version)?;
    switch_pointer(&models.join(CURRENT_POINTER), &entry.version)?;
    record(models, entry)
}

/// Appends `entry` to the audit trail.
pub fn record(models: &Path, entry: &AuditEntry) -> Result<()> {
    let path = models.join(AUDIT_FILE);
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    writeln!(file, "{}", serde_json::to_string(entry)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The audit actions that move `CURRENT` (`stage`, `unstage` and `gc` do not).
pub const MOVES: [&str; 3] = ["export", "promote", "rollback"];

/// The version a rollback returns to: the one current before the last move to `current`.
pub fn rollback_target(models: &Path, current: &str) -> Result<String> {
    audit(models)?
        .iter()
        .rev()
        .filter(|e| MOVES.contains(&e.action.as_str()))
        .find(|e| e.version == current && e.from.as_deref().is_some_and(|f| f != current))
        .and_then(|e| e.from.clone())
        .with_context(|| {
            format!(
                "no previous model to roll back to: the audit trail ({}) records no move to {current} \
                 from another version",
                models.join(AUDIT_FILE).display()
            )
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A summary of `version` with `ndcg` as its hybrid figure (also for `retention`'s tests).
    pub(crate) fn summary(version: &str, ndcg: f64) -> ModelSummary {
        ModelSummary {
            version: version.into(),
            created_at: "2026-12-01T00:00:00Z".into(),
            current: false,
            d_model: 32,
            max_len: 20,
            num_items: 500,
            data: Some("data/live".into()),
            split: Some("leave-one-out".into()),
            as_of: None,
            users: Some(200),
            hybrid_ndcg_at_10: Some(ndcg),
            sasrec_ndcg_at_10: None,
            run: None,
            parent: None,
        }
    }

    #[test]
    fn the_gate_refuses_a_drop_beyond_the_allowance_and_another_shape() {
        assert!(decide(0.385, 0.40, "its evaluation", 0.02).passed);
        let refused = decide(0.37, 0.40, "its evaluation", 0.02);
        assert!(!refused.passed);
        assert_eq!((refused.candidate, refused.current), (0.37, 0.40));
        let current = summary("a", 0.40);
        let mut other_shape = summary("c", 0.5);
        other_shape.d_model = 64;
        let e = check_shape(&other_shape, &current).unwrap_err().to_string();
        assert!(e.contains("d = 64") && e.contains("d = 32"), "{e}");
        assert!(same_split(&summary("b", 0.3), &current));
        let mut later = summary("d", 0.5);
        later.as_of = Some(1);
        assert!(
            !same_split(&later, &current),
            "another as-of is another split"
        );
        let mut unevaluated = summary("e", 0.0);
        unevaluated.hybrid_ndcg_at_10 = None;
        assert!(candidate_figure(&unevaluated).is_err());
    }

    #[test]
    fn a_rollback_returns_to_the_version_current_before_and_says_when_there_is_none() {
        let dir = tempfile::TempDir::new().unwrap();
        for version in ["a", "b"] {
            fs::create_dir_all(dir.path().join(version)).unwrap();
            fs::write(dir.path().join(version).join(MANIFEST_FILE), "{}").unwrap();
        }
        let e = rollback_target(dir.path(), "a").unwrap_err().to_string();
        assert!(e.contains("no previous model"), "{e}");
        // make_current checks the manifest parses: write the trail by hand here.
        let mut trail = String::new();
        for entry in [
            AuditEntry::now("export", "a", None),
            AuditEntry::now("export", "b", Some("a".into())),
            // Staging names a version and the one staged before: not a move of CURRENT.
            AuditEntry::now("stage", "b", Some("c".into())),
        ] {
            trail += &serde_json::to_string(&entry).unwrap();
            trail.push('\n');
        }
        fs::write(dir.path().join(AUDIT_FILE), trail).unwrap();
        assert_eq!(rollback_target(dir.path(), "b").unwrap(), "a");
        assert!(rollback_target(dir.path(), "a").is_err());
        assert_eq!(audit(dir.path()).unwrap().len(), 3);
    }
}
