//! Flags several commands share are validated alike in each: a `--layout` this build does
//! not write is refused by every command that writes a feature version, naming the flag,
//! before anything is read or connected; `publish`, which writes whole versions, refuses
//! layout 3 (written only where values changed, against Redis's records) and says what to run.

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
    for command in ["materialize", "publish", "retrain"] {
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
fn publish_refuses_layout_3_and_names_the_commands_that_write_it() {
    // The refusal comes before anything is read: the folders need not exist.
    let out = trainer(&[
        "publish",
        "--data",
        "no-such-data",
        "--models",
        "no-such-models",
        "--layout",
        "3",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "publish --layout 3 must fail: {stderr}"
    );
    assert!(
        stderr.contains("--layout 3") && stderr.contains("trainer materialize --layout 3"),
        "publish --layout 3: {stderr}"
    );
}
