//! The README's schedule, run as written: its `resonance.toml` written where the lines `cd`,
//! its weekly cron line (`trainer retrain`: train, eval, export through the gate, materialize,
//! mirror) and then its daily one (`trainer daily`: materialize, mirror), in a copy of the
//! layout the file names (`data/live`, `model/`, `runs/`), against a real redis-server and a
//! real Worker, with the environment the README names (REDIS_URL, RESONANCE_WORKER_URL over
//! the file's worker_url, RESONANCE_ADMIN_TOKEN). A line that stops working in the README
//! fails here; so does a config file with a mistyped key or an unset secret, before it writes.
//! A week the gate refuses publishes nothing, and a rollback with no previous model says so.

use std::path::Path;
use std::process::Command;

use resonance_e2e::fixture::{fixture, s};
use resonance_e2e::redis::RedisServer;
use resonance_e2e::wrangler::{ADMIN_TOKEN, Wrangler, repo_root};
use resonance_e2e::{status_of, trainer_path};

/// The text of the README's first fenced block of `kind` that contains `marker`.
fn readme_block(kind: &str, marker: &str) -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    readme
        .split(&format!("```{kind}\n"))
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .find(|block| block.contains(marker))
        .unwrap_or_else(|| panic!("README.md has no ```{kind} block with {marker:?}"))
        .lines()
        .map(str::trim_start)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The commands of the README's ```cron block, in order.
fn cron_lines() -> Vec<String> {
    readme_block("cron", "trainer")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().skip(5).collect::<Vec<_>>().join(" "))
        .collect()
}

/// Runs `line` as cron would on the README's host (`srv` standing for /srv/resonance).
fn run_line(line: &str, srv: &Path, redis: &RedisServer, worker: &Wrangler) {
    let out = try_line(line, srv, redis, worker);
    assert!(
        out.status.success(),
        "{line}\nfailed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn try_line(
    line: &str,
    srv: &Path,
    redis: &RedisServer,
    worker: &Wrangler,
) -> std::process::Output {
    let line = line.replace("cd /srv/resonance", &format!("cd {}", s(srv)));
    let bin = trainer_path().parent().unwrap().to_path_buf();
    Command::new("sh")
        .args(["-c", &line])
        .env(
            "PATH",
            format!("{}:{}", s(&bin), std::env::var("PATH").unwrap_or_default()),
        )
        .env("REDIS_URL", &redis.url)
        .env("RESONANCE_WORKER_URL", &worker.url)
        .env("RESONANCE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env_remove("RESONANCE_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn the_readme_schedule_runs_as_written() {
    let lines = cron_lines();
    assert!(lines.len() >= 2, "{lines:?}");
    let (daily, weekly) = (&lines[0], &lines[1]);
    assert!(daily.contains("trainer daily") && weekly.contains("trainer retrain"));
    let config = readme_block("toml", "resonance.toml");

    let srv = tempfile::TempDir::new().unwrap();
    let data = srv.path().join("data/live");
    std::fs::create_dir_all(&data).unwrap();
    for file in ["catalogue.csv", "events.csv"] {
        std::fs::copy(fixture().data.join(file), data.join(file)).unwrap();
    }
    let redis = RedisServer::start();
    let worker = Wrangler::start(&[("POINTER_CHECK_SECONDS", "0")]);

    // A mistyped key, or a secret whose variable is not set, is named before anything is
    // written.
    let file = srv.path().join("resonance.toml");
    for (broken, named) in [
        (config.replace("grace_seconds", "grace_secs"), "grace_secs"),
        (
            config.replace(
                "admin_token_env = \"RESONANCE_ADMIN_TOKEN\"",
                "admin_token_env = \"PROD_ADMIN_TOKEN\"",
            ),
            "PROD_ADMIN_TOKEN",
        ),
    ] {
        assert_ne!(
            broken, config,
            "the README's file has the key this test changes"
        );
        std::fs::write(&file, broken).unwrap();
        let out = try_line(daily, srv.path(), &redis, &worker);
        let error = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && error.contains(named), "{error}");
        assert_eq!(redis.cli(&["EXISTS", "rsn:current"]), "0", "{error}");
    }
    std::fs::write(&file, &config).unwrap();

    // The first week: no model yet, so the export is current at once, and goes live.
    run_line(weekly, srv.path(), &redis, &worker);
    let model = std::fs::read_to_string(srv.path().join("model/CURRENT")).unwrap();
    let after_week = worker.health();
    assert_eq!(after_week["status"], "ok", "{after_week}");
    assert_eq!(after_week["modelVersion"], model.trim(), "{after_week}");
    let week_version = after_week["featuresVersion"].as_u64().unwrap();
    assert_eq!(redis.cli(&["GET", "rsn:current"]), week_version.to_string());

    // The next day: a new feature version, the same model.
    run_line(daily, srv.path(), &redis, &worker);
    let after_day = worker.health();
    assert_eq!(after_day["modelVersion"], model.trim(), "{after_day}");
    assert!(after_day["featuresVersion"].as_u64().unwrap() > week_version);
    let status = status_of(&redis.url, &worker.url);
    assert_eq!(status["problems"], serde_json::json!([]), "{status}");
    assert_eq!(
        status["edge"]["recorded"]["previous"], week_version,
        "{status}"
    );

    // A week whose model the gate refuses (a negative allowance demands an improvement)
    // stops before it publishes: CURRENT, Redis and the edge stay as they were.
    let live = redis.cli(&["GET", "rsn:current"]);
    let refused = format!("{weekly} --epochs 1 --max-regression=-1");
    let out = try_line(&refused, srv.path(), &redis, &worker);
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{error}");
    assert!(
        error.contains("retrain stopped before publishing"),
        "{error}"
    );
    assert!(error.contains("the gate refuses"), "{error}");
    assert_eq!(
        std::fs::read_to_string(srv.path().join("model/CURRENT")).unwrap(),
        model
    );
    assert_eq!(redis.cli(&["GET", "rsn:current"]), live);
    let after_refusal = worker.health();
    for field in ["featuresVersion", "modelVersion", "status"] {
        assert_eq!(after_refusal[field], after_day[field], "{after_refusal}");
    }

    // With one model ever current, there is nothing to roll back to: said, nothing moves.
    let out = try_line(
        "cd /srv/resonance && trainer rollback --reason test",
        srv.path(),
        &redis,
        &worker,
    );
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{error}");
    assert!(
        error.contains("no previous model to roll back to"),
        "{error}"
    );
    assert_eq!(redis.cli(&["GET", "rsn:current"]), live);
}
