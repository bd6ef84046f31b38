//! The world the end-to-end tests share: a small synthetic world and a small model (d = 32,
//! L = 20), trained and exported once per test binary, and its publication into a Worker (through a
//! Redis of its own and the mirror, the one path to live).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use tempfile::TempDir;

use crate::redis::RedisServer;
use crate::wrangler::{ADMIN_TOKEN, Wrangler};
use crate::{trainer_ok, trainer_path};

pub const MODEL: &str = "w-1";
pub const FEATURES: u64 = 7;
/// Every window ends here (unix seconds): a day before the synthetic world's last event.
pub const AS_OF: &str = "2026-09-19T00:00:00Z";

pub struct Fixture {
    _dir: TempDir,
    pub data: PathBuf,
    pub models: PathBuf,
}

impl Fixture {
    /// The mix `trainer eval` tuned for the fixture's model (its manifest's; 0.7 / 0.3 without).
    pub fn mix(&self) -> resonance_shared::mixer::MixWeights {
        let text = std::fs::read_to_string(self.models.join(MODEL).join("manifest.json")).unwrap();
        let manifest: resonance_shared::manifest::ModelManifest =
            serde_json::from_str(&text).unwrap();
        manifest.mix.unwrap_or_default()
    }
}

pub fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// A small world and a small model (d = 32, L = 20), trained once for every test here.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = TempDir::new().unwrap();
        let (data, run, models) = (
            dir.path().join("data"),
            dir.path().join("run"),
            dir.path().join("model"),
        );
        trainer_ok(&[
            "data",
            "synth",
            "--users",
            "200",
            "--tracks",
            "500",
            "--days",
            "20",
            "--seed",
            "9",
            "--out",
            &s(&data),
        ]);
        train_small(&data, &run, &[]);
        trainer_ok(&["eval", "--run", &s(&run)]);
        trainer_ok(&[
            "export",
            "--run",
            &s(&run),
            "--models",
            &s(&models),
            "--model-version",
            MODEL,
        ]);
        Fixture {
            _dir: dir,
            data,
            models,
        }
    })
}

/// Trains the fixture's small model (d = 32, L = 20, 2 heads, 2 epochs) on `data` into `out`;
/// `extra` flags come last (a later flag overrides an earlier one).
pub fn train_small(data: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "train",
        "--data",
        &s(data),
        "--out",
        &s(out),
        "--device",
        "cpu",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--max-seq-len",
        "20",
        "--d-model",
        "32",
        "--heads",
        "2",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    args.extend(extra.iter().map(|a| a.to_string()));
    trainer_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

/// `trainer materialize --layout 2` of the fixture into Redis at the next version Redis
/// assigns, as of [`AS_OF`]; callers add flags and environment. Layout 2 (whole versions) is
/// what the tests of switching, pruning, forgetting and the sinks read key by key
/// (`rsn:v{N}:user:{id}`); the default layout (3) is run by the lifecycle, schedule and
/// changed-values tests.
pub fn materialize_latest(redis_url: &str) -> Command {
    let mut command = materialize_as_of(redis_url, AS_OF);
    command.args(["--layout", "2"]);
    command
}

/// `trainer materialize` of the fixture into Redis as of `as_of` (RFC 3339 or unix seconds),
/// in the default layout unless the caller adds `--layout`.
pub fn materialize_as_of(redis_url: &str, as_of: &str) -> Command {
    let f = fixture();
    let mut command = Command::new(trainer_path());
    command
        .args([
            "materialize",
            "--data",
            &s(&f.data),
            "--models",
            &s(&f.models),
        ])
        .args(["--as-of", as_of])
        .env("REDIS_URL", redis_url);
    command
}

/// `trainer mirror --full` from Redis to `worker` in batches of 100 keys; `abort_at`
/// (`point:n`, or empty) crashes the run midway.
pub fn mirror_command(redis_url: &str, worker: &Wrangler, abort_at: &str) -> Command {
    let mut command = Command::new(trainer_path());
    command
        .args(["mirror", "--full", "--worker", &worker.url])
        .args(["--batch-size", "100"])
        .env("REDIS_URL", redis_url)
        .env("RESONANCE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RESONANCE_ABORT_AT", abort_at);
    command
}

/// `trainer materialize --layout 2` of the fixture into Redis as `version`, as of [`AS_OF`];
/// callers add flags and environment.
pub fn materialize_command(redis_url: &str, version: u64) -> Command {
    let mut command = materialize_latest(redis_url);
    command.args(["--feature-version", &version.to_string()]);
    command
}

/// Puts the fixture's model and feature version [`FEATURES`] (layout 2, offline interest
/// graphs) live on `worker` the one way there is: `trainer materialize` into a Redis of its
/// own, then `trainer mirror --full`. The Redis goes when this returns; the Worker keeps
/// serving what was mirrored.
pub fn publish(worker: &Wrangler) {
    let redis = RedisServer::start();
    let out = materialize_command(&redis.url, FEATURES)
        .args(["--interest-graphs", "offline"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "trainer materialize failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(trainer_path())
        .args(["mirror", "--full", "--worker", &worker.url])
        .args(["--batch-size", "500"])
        .env("REDIS_URL", &redis.url)
        .env("RESONANCE_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "trainer mirror failed:\n{}\n--- wrangler ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        worker.log()
    );
}

/// A copy of the fixture's models folder, for a test that moves `CURRENT` or adds versions;
/// the folder lives as long as the returned guard.
pub fn scratch_models() -> (TempDir, PathBuf) {
    let scratch = TempDir::new().unwrap();
    let models = scratch.path().join("model");
    copy_dir(&fixture().models, &models);
    (scratch, models)
}

/// Copies a folder tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Exports version `from` of `models` again as version `to` (the same weights under another
/// name: a second version without a second training); returns its folder.
pub fn copy_model_as(models: &Path, from: &str, to: &str) -> PathBuf {
    let folder = models.join(to);
    copy_dir(&models.join(from), &folder);
    let manifest = std::fs::read_to_string(folder.join("manifest.json")).unwrap();
    let renamed = manifest.replacen(
        &format!("\"version\": \"{from}\""),
        &format!("\"version\": \"{to}\""),
        1,
    );
    assert_ne!(manifest, renamed, "the manifest names its version");
    std::fs::write(folder.join("manifest.json"), renamed).unwrap();
    folder
}
