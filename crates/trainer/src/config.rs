//! `resonance.toml`: one deployment's folders and stores, so its cron lines need no flags
//! (in the spirit of Feast's `feature_store.yaml` and `wrangler.toml`).
//!
//! ```toml
//! data = "data/live"                 # --data        (paths are relative to this file)
//! models = "model"                   # --models
//! runs = "runs"                      # --runs        (retrain's run folders, models gc)
//! [redis]
//! url_env = "REDIS_URL"              # or url = "redis://127.0.0.1:6379/0"
//! [edge]
//! sink = "worker"                    # or "cloudflare" (CLOUDFLARE_* variables)
//! worker_url = "https://resonance.example.workers.dev"
//! admin_token_env = "RESONANCE_ADMIN_TOKEN"
//! service_token_env = "RESONANCE_SERVICE_TOKEN"
//! grace_seconds = 600
//! ```
//!
//! Found at `--config FILE`, else `$RESONANCE_CONFIG`, else `./resonance.toml` when there is
//! one. Secrets are never in the file, only the names of the variables that hold them. A
//! value counts in this order: the flag, its environment variable, the file, the flag's own
//! default. The file only fills flags' defaults (clap's, set before parsing), so every
//! command validates what it gets the same way whichever source it came from.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};
use clap::{Arg, Command};
use serde::Deserialize;

/// The file looked for in the working folder when neither `--config` nor `$RESONANCE_CONFIG`
/// names one.
pub const DEFAULT_FILE: &str = "resonance.toml";

/// The file's contents, paths resolved against its folder.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `--data`.
    pub data: Option<PathBuf>,
    /// `--models`.
    pub models: Option<PathBuf>,
    /// `--runs`.
    pub runs: Option<PathBuf>,
    #[serde(default)]
    pub redis: RedisSection,
    #[serde(default)]
    pub edge: EdgeSection,
}

/// `[redis]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSection {
    /// `--redis-url` (a URL with a password belongs in a variable: `url_env`).
    pub url: Option<String>,
    /// The variable that holds the URL (instead of REDIS_URL).
    pub url_env: Option<String>,
}

/// `[edge]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeSection {
    /// `--sink`.
    pub sink: Option<Sink>,
    /// `--worker`.
    pub worker_url: Option<String>,
    /// The variable that holds the Worker's admin token (instead of RESONANCE_ADMIN_TOKEN).
    pub admin_token_env: Option<String>,
    /// The variable that holds the service token (instead of RESONANCE_SERVICE_TOKEN).
    pub service_token_env: Option<String>,
    /// `--grace`.
    pub grace_seconds: Option<u64>,
}

/// `edge.sink`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sink {
    Worker,
    Cloudflare,
}

/// Which file key names which secret's variable, for the messages of a missing secret.
static SECRET_VARIABLES: OnceLock<BTreeMap<&'static str, (&'static str, String)>> = OnceLock::new();

impl Config {
    /// Finds and reads the file (none: an empty config), naming the file and key of an error.
    pub fn discover(args: &[OsString]) -> Result<(Self, Option<PathBuf>)> {
        let named = flag_value(args, "--config")
            .or_else(|| std::env::var_os("RESONANCE_CONFIG").filter(|v| !v.is_empty()))
            .map(PathBuf::from);
        let path = match named {
            Some(path) => path,
            None if Path::new(DEFAULT_FILE).is_file() => PathBuf::from(DEFAULT_FILE),
            None => return Ok((Self::default(), None)),
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        let config = Self::parse(&text, path.parent().unwrap_or(Path::new("")))
            .with_context(|| format!("{}", path.display()))?;
        Ok((config, Some(path)))
    }

    /// Parses `text`; relative paths are taken from `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<Self> {
        let mut config: Config = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        for path in [&mut config.data, &mut config.models, &mut config.runs]
            .into_iter()
            .flatten()
        {
            if path.is_relative() {
                *path = dir.join(&*path);
            }
        }
        for (key, name) in [
            ("redis.url_env", &config.redis.url_env),
            ("edge.admin_token_env", &config.edge.admin_token_env),
            ("edge.service_token_env", &config.edge.service_token_env),
        ] {
            if let Some(name) = name
                && (name.is_empty() || name.contains(['=', '\0']))
            {
                bail!("{key}: {name:?} is not a variable name");
            }
        }
        if config.redis.url.is_some() && config.redis.url_env.is_some() {
            bail!("redis: say url or url_env, not both");
        }
        Ok(config)
    }

    /// `cmd` with this file's values as the defaults of the flags they stand for, in every
    /// subcommand. Paths fill only flags a command requires (`eval --data` defaults to the
    /// run's own data, not the deployment's).
    pub fn apply(&self, cmd: Command) -> Command {
        let cmd = cmd.mut_args(|arg| self.apply_arg(arg));
        cmd.mut_subcommands(|sub| self.apply(sub))
    }

    fn apply_arg(&self, arg: Arg) -> Arg {
        let path = |arg: Arg, value: &Option<PathBuf>| match value {
            Some(value) if arg.is_required_set() => arg
                .required(false)
                .default_value(value.display().to_string()),
            _ => arg,
        };
        let text = |arg: Arg, value: Option<String>| match value {
            Some(value) => arg.default_value(value),
            None => arg,
        };
        let env = |arg: Arg, name: &Option<String>| match name {
            Some(name) => arg.env(name.clone()),
            None => arg,
        };
        match arg.get_id().as_str() {
            "data" => path(arg, &self.data),
            "models" => path(arg, &self.models),
            "runs" => match &self.runs {
                Some(runs) => arg
                    .required(false)
                    .default_value(runs.display().to_string()),
                None => arg,
            },
            "redis_url" => env(text(arg, self.redis.url.clone()), &self.redis.url_env),
            "worker" => text(arg, self.edge.worker_url.clone()),
            "sink" => text(
                arg,
                self.edge.sink.map(|s| match s {
                    Sink::Worker => "worker".into(),
                    Sink::Cloudflare => "cloudflare".into(),
                }),
            ),
            "grace" => text(arg, self.edge.grace_seconds.map(|g| g.to_string())),
            "token" => env(arg, &self.edge.admin_token_env),
            "service_token" => env(arg, &self.edge.service_token_env),
            _ => arg,
        }
    }

    /// Remembers which variables this file named for the secrets, for [`missing_secret`].
    pub fn remember_secrets(&self) {
        let mut named = BTreeMap::new();
        let mut add = |flag, key, name: &Option<String>| {
            if let Some(name) = name {
                named.insert(flag, (key, name.clone()));
            }
        };
        add("redis_url", "redis.url_env", &self.redis.url_env);
        add("token", "edge.admin_token_env", &self.edge.admin_token_env);
        add(
            "service_token",
            "edge.service_token_env",
            &self.edge.service_token_env,
        );
        let _ = SECRET_VARIABLES.set(named);
    }
}

/// The message for a secret a command needs and did not get: the variable the config file
/// named for it, else `default_variable`, and the flag.
pub fn missing_secret(flag_id: &str, what: &str, default_variable: &str, flag: &str) -> String {
    match SECRET_VARIABLES.get().and_then(|named| named.get(flag_id)) {
        Some((key, variable)) => format!(
            "{what} is needed: {key} in the config file names {variable}, which is not set \
             (or pass {flag})"
        ),
        None => format!("{what} is needed: set {default_variable} (or {flag})"),
    }
}

/// The value of `--flag VALUE` or `--flag=VALUE` in `args`, before clap has parsed them.
fn flag_value(args: &[OsString], flag: &str) -> Option<OsString> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if text == flag {
            return args.next().cloned();
        }
        if let Some(value) = text.strip_prefix(&format!("{flag}=")) {
            return Some(value.into());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_key_is_named() {
        let e = Config::parse(
            "data = \"d\"\n[edge]\nworkr_url = \"x\"\n",
            Path::new("/srv"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("workr_url"), "{e}");
        let e = Config::parse("[edge]\nsink = \"s3\"\n", Path::new("/srv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("s3") && e.contains("worker"), "{e}");
        let e = Config::parse(
            "[redis]\nurl = \"redis://a\"\nurl_env = \"B\"\n",
            Path::new("/"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not both"), "{e}");
    }

    #[test]
    fn paths_are_relative_to_the_file() {
        let config = Config::parse(
            "data = \"data/live\"\nmodels = \"/abs/model\"\n",
            Path::new("/srv/r"),
        )
        .unwrap();
        assert_eq!(config.data.unwrap(), Path::new("/srv/r/data/live"));
        assert_eq!(config.models.unwrap(), Path::new("/abs/model"));
    }

    #[test]
    fn the_flag_value_is_found_in_both_forms() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            flag_value(
                &args(&["trainer", "--config", "a.toml", "status"]),
                "--config"
            ),
            Some("a.toml".into())
        );
        assert_eq!(
            flag_value(&args(&["trainer", "status", "--config=b.toml"]), "--config"),
            Some("b.toml".into())
        );
        assert_eq!(flag_value(&args(&["trainer", "status"]), "--config"), None);
    }
}
