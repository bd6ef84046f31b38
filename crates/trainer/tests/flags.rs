//! Flags several commands share are validated alike in each: a `--layout` this build does
//! not write is refused by every command that writes a feature version, naming the flag,
//! before anything is read or connected. The retired `publish` refuses whatever it is given
//! and names the one path to live.

use std::process::{Command, Output};

fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .env_remove("REDIS_URL")
        .env_remove("RESONANCE_CONFIG")
        .output()
        .expect("the trainer runs")
}

#[test]
fn every_command_that_writes_a_feature_version_refuses_a_layout_it_cannot_write() {
    for command in ["materialize", "daily", "retrain"] {
        for layout in ["0", "4"] {
            let out = trainer(&[command, "--layout", layout]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{command} --layout {layout}: {stderr}"
            );
            assert!(
                stderr.contains("--layout") && stderr.contains("1..=3"),
                "{command} --layout {layout}: {stderr}"
            );
        }
        let help = trainer(&[command, "--help"]);
        assert!(
            String::from_utf8_lossy(&help.stdout).contains("--layout <N>"),
            "{command} --help teaches --layout"
        );
    }
}

#[test]
fn publish_is_retired_and_names_the_one_path_to_live() {
    // Its old flags are not a usage error: a cron line that still calls it learns what to run.
    let out = trainer(&[
        "publish",
        "--data",
        "data/synth",
        "--models",
        "model",
        "--worker",
        "http://127.0.0.1:8787",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("retired") && stderr.contains("trainer daily"),
        "{stderr}"
    );
    assert!(stderr.contains("trainer mirror --full"), "{stderr}");
    // And it is no longer taught.
    let help = trainer(&["--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        !help
            .lines()
            .any(|line| line.trim_start().starts_with("publish ")),
        "{help}"
    );
}
