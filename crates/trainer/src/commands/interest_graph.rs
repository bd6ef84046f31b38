//! `trainer interest-graph`: build listeners' interest graphs with an LLM (or offline) and
//! store them in Redis, where the next `trainer materialize` picks them up.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::{ArgGroup, Args};
use indicatif::{ProgressBar, ProgressStyle};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::choices::ProviderArg;
use crate::flags::{DataFlag, RedisFlag};
use resonance_featurestore::graphs::FAILURES;
use resonance_featurestore::views as features;
use resonance_http::RetryPolicy;
use resonance_interest::Provider;
use resonance_interest::batch::{self, BatchOptions, Progress};
use resonance_interest::llm::{LlmClient, LlmConfig, ProviderKind, Usage, price_per_million};
use resonance_interest::prompt::{self, PROMPT_VERSION};
use resonance_interest::summary::{self, Listen};

/// Build each listener's interest graph (top artists and genres with weights, themes, moods,
/// insights) from their recent history, and store it in Redis.
///
/// For each listener, the last `--since-days` of history is summarised (top artists and
/// genres with counts and time-decayed weights, audio-feature statistics, time of day,
/// devices, skips) and sent with a versioned prompt to the provider. The answer must have the
/// graph's exact shape and name only artists, genres and moods of the catalogue; a refused
/// answer is retried once with the error, then the listener is recorded as failed in
/// `rsn:interest:failed` and keeps their previous graph.
///
/// Providers: `anthropic` (ANTHROPIC_API_KEY), `openai` (OPENAI_API_KEY), `openai-compatible`
/// (any OpenAI-style server such as Ollama or vLLM: --base-url or
/// OPENAI_COMPATIBLE_BASE_URL; key OPENAI_COMPATIBLE_API_KEY, optional, so the OpenAI key
/// never goes to another server) and `offline` (a deterministic graph from the same summary, no network). The
/// default is the provider whose key is set, else `offline`.
///
/// Runs are resumable: listeners whose stored graph has this prompt version, provider, model
/// and window (--as-of, --since-days) are skipped (--force rebuilds them). Graphs reach the edge with the next
/// `trainer materialize` and `trainer mirror`.
#[derive(Args)]
#[command(group(ArgGroup::new("who").required(true).args(["user_id", "all_users"])))]
#[command(after_long_help = EXAMPLES)]
pub struct InterestGraphArgs {
    /// One listener.
    #[arg(long, value_name = "ID")]
    pub user_id: Option<String>,
    /// Every listener with history in the window.
    #[arg(long)]
    pub all_users: bool,
    #[command(flatten)]
    pub data: DataFlag,
    /// Who writes the graphs (default: anthropic if ANTHROPIC_API_KEY is set, else openai if
    /// OPENAI_API_KEY is, else offline).
    #[arg(long, value_enum)]
    pub provider: Option<ProviderArg>,
    /// The model (default: claude-haiku-4-5 for anthropic, gpt-4.1-mini for openai; required
    /// for openai-compatible).
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// The API's base URL (default: the provider's; ANTHROPIC_BASE_URL, OPENAI_BASE_URL or
    /// OPENAI_COMPATIBLE_BASE_URL).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Days of history to summarise, ending at --as-of (1–3650).
    #[arg(long, value_name = "DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub since_days: u32,
    /// The end of the window: RFC 3339 or unix seconds (default: the last event).
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Listeners per batch: one Redis read finds those already done. LLM answers are stored
    /// as they arrive, offline graphs a batch at a time (1–10000).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub batch_size: u64,
    /// Requests in flight at once (1–64).
    #[arg(long, value_name = "K", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub concurrency: u64,
    /// The answer's token limit (64–16384).
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(64..=16_384))]
    pub max_tokens: u32,
    /// Seconds to wait for one answer (1–600).
    #[arg(long, value_name = "S", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout_secs: u64,
    /// Tries per request before the listener is recorded as failed (1–10).
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub max_attempts: u32,
    /// The first retry's wait in milliseconds; doubled per try, with jitter (10–60000).
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub backoff_ms: u64,
    /// Rebuild listeners already done with this prompt version, provider, model and window.
    #[arg(long)]
    pub force: bool,
    /// Print the prompt for the first listener and exit; calls nothing, stores nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub redis: RedisFlag,
    /// Print a JSON summary of the run on stdout instead of the prose lines.
    #[arg(long)]
    pub json: bool,
}

const EXAMPLES: &str = "Examples:
  trainer interest-graph --all-users                    offline unless a key is set
  trainer interest-graph --user-id u00042 --provider anthropic
  trainer interest-graph --user-id u00042 --dry-run     the prompt, nothing sent
  trainer interest-graph --all-users --provider openai-compatible \\
      --base-url http://127.0.0.1:11434/v1 --model llama3.1:8b --concurrency 2";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn provider(args: &InterestGraphArgs) -> Result<Provider> {
    let kind =
        args.provider
            .map(ProviderKind::from)
            .unwrap_or(if env("ANTHROPIC_API_KEY").is_some() {
                ProviderKind::Anthropic
            } else if env("OPENAI_API_KEY").is_some() {
                ProviderKind::OpenAi
            } else {
                ProviderKind::Offline
            });
    if kind == ProviderKind::Offline {
        return Ok(Provider::Offline);
    }
    let (key_var, base_var) = match kind {
        ProviderKind::Anthropic => ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
        ProviderKind::OpenAi => ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
        _ => ("OPENAI_COMPATIBLE_API_KEY", "OPENAI_COMPATIBLE_BASE_URL"),
    };
    let api_key = env(key_var);
    if api_key.is_none() && kind != ProviderKind::OpenAiCompatible {
        bail!("--provider {}: {key_var} is not set", kind.name());
    }
    let base_url = args
        .base_url
        .clone()
        .or_else(|| env(base_var))
        .or_else(|| kind.default_base_url().map(str::to_string));
    let Some(base_url) = base_url else {
        bail!(
            "--provider openai-compatible needs --base-url (or {base_var}), e.g. http://127.0.0.1:11434/v1"
        );
    };
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        bail!("--base-url: `{base_url}` is not an http(s) URL");
    }
    let Some(model) = args
        .model
        .clone()
        .or_else(|| kind.default_model().map(str::to_string))
    else {
        bail!("--provider openai-compatible needs --model (the server's model name)");
    };
    Ok(Provider::Llm(LlmClient::new(LlmConfig {
        kind,
        base_url,
        api_key,
        model,
        timeout: Duration::from_secs(args.timeout_secs),
        max_tokens: args.max_tokens,
        retry: RetryPolicy {
            max_attempts: args.max_attempts,
            base: Duration::from_millis(args.backoff_ms),
            ..RetryPolicy::default()
        },
    })?))
}

/// Builds the graphs and stores them; the batch runner is `resonance_interest::batch`.
pub fn run(args: InterestGraphArgs) -> Result<()> {
    if args.provider == Some(ProviderArg::Offline)
        && (args.model.is_some() || args.base_url.is_some())
    {
        bail!("--provider offline takes no --model or --base-url");
    }
    let provider = provider(&args)?;
    let began = Instant::now();
    let dataset = args.data.load()?;
    let as_of = features::resolve_as_of(args.as_of.as_deref(), &dataset)?;
    let as_of_text = OffsetDateTime::from_unix_timestamp(as_of)?.format(&Rfc3339)?;
    let catalogue: HashMap<&str, _> = dataset
        .catalogue
        .iter()
        .map(|t| (t.track_id.as_str(), t))
        .collect();
    let mut listens = summary::listens_by_user(&dataset.events, &catalogue, as_of, args.since_days);
    if let Some(user) = &args.user_id {
        let Some(theirs) = listens.remove(user.as_str()) else {
            bail!(
                "--user-id {user}: no listening events in the {} days before {as_of_text} in {}",
                args.since_days,
                args.data.data.display()
            );
        };
        listens = [(user.as_str(), theirs)].into();
    }
    let mut users: Vec<(&str, Vec<Listen<'_>>)> = listens.into_iter().collect();
    if args.dry_run {
        let (user, theirs) = users
            .first()
            .ok_or_else(|| anyhow::anyhow!("no listeners"))?;
        let s = summary::summarise(theirs, args.since_days);
        println!(
            "# prompt {PROMPT_VERSION} for {user}\n\n## system\n{}\n\n## user\n{}",
            prompt::SYSTEM_PROMPT,
            prompt::user_message(&s)
        );
        return Ok(());
    }
    let mut store = args.redis.connect()?;
    // Listeners erased by `trainer forget` get no graph (no prompt leaves with their plays).
    let forgotten = store.forgotten()?;
    if let Some(user) = args.user_id.as_ref().filter(|u| forgotten.contains(*u)) {
        bail!("--user-id {user}: this listener was erased by `trainer forget` (rsn:forgotten)");
    }
    users.retain(|(user, _)| !forgotten.contains(*user));
    if !args.json {
        println!(
            "interest graphs for {} listeners ({} days to {as_of_text}), provider {}, model {}, prompt {PROMPT_VERSION}",
            users.len(),
            args.since_days,
            provider.name(),
            provider.model()
        );
    }
    let bar = Bar(ProgressBar::new(users.len() as u64).with_style(
        ProgressStyle::with_template(
            "graphs {bar:30} {pos}/{len} listeners  {per_sec}  ETA {eta}  {msg}",
        )
        .expect("the template is valid"),
    ));
    let options = BatchOptions {
        as_of: as_of_text,
        since_days: args.since_days,
        batch_size: args.batch_size as usize,
        concurrency: args.concurrency as usize,
        force: args.force,
    };
    let report = batch::run(&users, &provider, &mut store, &options, &bar)?;
    bar.0.finish_and_clear();
    let seconds = began.elapsed().as_secs_f64();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let cost = match (&provider, report.cost_usd) {
            (Provider::Offline, _) => "no cost (offline)".to_string(),
            (_, Some(usd)) => {
                let (input, output) = price_per_million(provider.model()).unwrap_or_default();
                format!("${usd:.4} at ${input}/${output} per million tokens")
            }
            (_, None) => format!("cost unknown (no price listed for {})", provider.model()),
        };
        println!(
            "{} built, {} already done (skipped), {} failed in {seconds:.1} s; \
             tokens: {} in, {} out; {cost}",
            report.built, report.skipped, report.failed, report.input_tokens, report.output_tokens,
        );
        if let (Some(graph), Some(_)) = (&report.last_graph, &args.user_id) {
            println!("{}", serde_json::to_string_pretty(graph)?);
        }
    }
    if let Some(message) = report.fatal {
        bail!("stopped: {message}");
    }
    if report.failed > 0 {
        bail!(
            "{} listeners failed and kept their previous graph; the reasons are in Redis \
             (HGETALL {FAILURES}); a re-run retries only them",
            report.failed,
        );
    }
    if report.built > 0 && !args.json {
        println!(
            "stored in Redis; `trainer materialize` publishes them with the next feature version"
        );
    }
    Ok(())
}

/// The progress bar, as the batch runner reports to it.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn advance(&self, listeners: u64, usage: Usage) {
        self.0.inc(listeners);
        self.0.set_message(format!(
            "{} tokens in, {} out",
            usage.input_tokens, usage.output_tokens
        ));
    }

    fn warn(&self, line: &str) {
        self.0.println(line);
    }
}
