//! # resonance-e2e
//!
//! End-to-end tests across the parts of Resonance, against the real binaries and real
//! services: Redis, workerd (`wrangler dev`) and Chromium. Run by `scripts/test.sh`.
//!
//! This library holds only what the tests share: finding the binaries the workspace built,
//! the shared world ([`fixture`]), and starting a real Worker ([`wrangler`]) and a real Redis
//! ([`redis`]), and stand-ins for the paid LLM APIs ([`llm_stand_in`]).

pub mod fixture;
pub mod llm_stand_in;
pub mod redis;
pub mod wrangler;

use std::path::PathBuf;
use std::process::{Command, Output};

use resonance_shared::api::RerankResponse;

/// The `trainer` binary that `cargo test --workspace` built beside this test.
pub fn trainer_path() -> PathBuf {
    let path = assert_cmd::cargo::cargo_bin("trainer");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (or build -p resonance-trainer first)",
        path.display()
    );
    path
}

/// Runs the trainer and returns its output; panics with stderr if it fails.
pub fn trainer_ok(args: &[&str]) -> Output {
    let out = Command::new(trainer_path())
        .args(args)
        .output()
        .expect("the trainer runs");
    assert!(
        out.status.success(),
        "trainer {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Asserts a command succeeded (showing its stderr if not); its stdout.
pub fn succeeded(out: impl std::borrow::Borrow<Output>) -> String {
    let out = out.borrow();
    assert!(
        out.status.success(),
        "failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Asserts a command failed; its stderr.
pub fn failed(out: impl std::borrow::Borrow<Output>) -> String {
    let out = out.borrow();
    assert!(!out.status.success(), "should have failed");
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Same tracks in the same order (up to ties within `tolerance`), the same parts within
/// `tolerance`, the same model and degradations; engines may differ (compare `backend` apart).
pub fn assert_same_ranking(
    user: &str,
    got: &RerankResponse,
    expected: &RerankResponse,
    tolerance: f32,
) {
    assert_eq!(got.user_id, expected.user_id);
    assert_eq!(got.model_version, expected.model_version);
    assert_eq!(got.degraded, expected.degraded);
    assert_eq!(got.ranked.len(), expected.ranked.len());
    let by_id: std::collections::HashMap<&str, _> = expected
        .ranked
        .iter()
        .map(|r| (r.track_id.as_str(), r))
        .collect();
    for (i, (g, e)) in got.ranked.iter().zip(&expected.ranked).enumerate() {
        assert!(
            (g.score - e.score).abs() < tolerance,
            "{user}, position {i}: worker has {g:?}, native {e:?}"
        );
        let native = by_id[g.track_id.as_str()];
        assert!(
            (g.score - native.score).abs() < tolerance,
            "{g:?} vs {native:?}"
        );
        assert!(
            (g.heuristic - native.heuristic).abs() < tolerance,
            "{g:?} vs {native:?}"
        );
        match (g.transformer, native.transformer) {
            (Some(a), Some(b)) => assert!((a - b).abs() < tolerance, "{g:?} vs {native:?}"),
            (a, b) => assert_eq!(a, b, "{}", g.track_id),
        }
        assert_eq!(g.explanation.is_some(), native.explanation.is_some());
    }
}

/// `trainer status --json` against `redis_url` and the Worker at `worker_url`: its report
/// (the command must succeed, so Redis and the edge agree).
pub fn status_of(redis_url: &str, worker_url: &str) -> serde_json::Value {
    summary_of(status_output(redis_url, worker_url))
}

/// `trainer status --json --worker …`, succeeded or not (it exits 1 on a disagreement).
pub fn status_output(redis_url: &str, worker_url: &str) -> Output {
    Command::new(trainer_path())
        .args(["status", "--json", "--worker", worker_url])
        .env("REDIS_URL", redis_url)
        .output()
        .unwrap()
}

/// A command run with `--json` that must succeed: its standard output, parsed.
pub fn summary_of(out: impl std::borrow::Borrow<Output>) -> serde_json::Value {
    let printed = succeeded(out);
    serde_json::from_str(&printed)
        .unwrap_or_else(|e| panic!("not a JSON summary ({e}):\n{printed}"))
}
