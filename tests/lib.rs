//! # resonance-e2e
//!
//! End-to-end tests across the parts of Resonance, against the real binaries (and, as later
//! parts land, real Redis, real workerd and real Chromium). Run by `scripts/test.sh`.
//!
//! This library holds only what the tests share: finding the binaries the workspace built,
//! and starting a real Worker ([`wrangler`]).

pub mod wrangler;

use std::path::PathBuf;
use std::process::{Command, Output};

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
