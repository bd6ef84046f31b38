//! Flags several commands share are validated alike in each: a `--layout` this build does
//! not write is refused by every command that writes a feature version, naming the flag,
//! before anything is read or connected.

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
        for layout in ["0", "3"] {
            let out = trainer(&[command, "--layout", layout]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{command} --layout {layout}: {stderr}"
            );
            assert!(
                stderr.contains("--layout") && stderr.contains("1..=2"),
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
