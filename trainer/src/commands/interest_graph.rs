//! `trainer interest-graph`: build listeners' interest graphs with an LLM (or offline) and
//! store them in Redis, where the next `trainer materialize` picks them up.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::{ArgGroup, Args};
use indicatif::{ProgressBar, ProgressStyle};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::data::{self, read::BadRowPolicy};
use crate::features;
use crate::interest::llm::{LlmClient, LlmConfig, ProviderKind, Usage, price_per_million};
use crate::interest::prompt::{self, PROMPT_VERSION};
use crate::interest::summary::{self, Listen};
use crate::interest::{self, BuildError, FailureRecord, GraphRecord, Provider};
use crate::store::FeatureStore;
use resonance_shared::interest::InterestGraph;

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
    /// The dataset folder (catalogue.csv, events.csv).
    #[arg(long, value_name = "DIR", default_value = "data/synth")]
    pub data: PathBuf,
    /// Who writes the graphs (default: anthropic if ANTHROPIC_API_KEY is set, else openai if
    /// OPENAI_API_KEY is, else offline).
    #[arg(long, value_enum)]
    pub provider: Option<ProviderKind>,
    /// The model (default: claude-haiku-4-5 for anthropic, gpt-4.1-mini for openai; required
    /// for openai-compatible).
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// The API's base URL (default: the provider's; ANTHROPIC_BASE_URL, OPENAI_BASE_URL or
    /// OPENAI_COMPATIBLE_BASE_URL).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Days of history to summarise, ending at --as-of (1–3650).
    #[arg(long, value_name = "DAYS", default_value_t = 90)]
    pub since_days: u32,
    /// The end of the window: RFC 3339 or unix seconds (default: the last event).
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Listeners per batch: one Redis read finds those already done. LLM answers are stored
    /// as they arrive, offline graphs a batch at a time (1–10000).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub batch_size: usize,
    /// Requests in flight at once (1–64).
    #[arg(long, value_name = "K", default_value_t = 4)]
    pub concurrency: usize,
    /// The answer's token limit (64–16384).
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_tokens: u32,
    /// Seconds to wait for one answer (1–600).
    #[arg(long, value_name = "S", default_value_t = 60)]
    pub timeout_secs: u64,
    /// Tries per request before the listener is recorded as failed (1–10).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_attempts: u32,
    /// The first retry's wait in milliseconds; doubled per try, with jitter (10–60000).
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub backoff_ms: u64,
    /// Rebuild listeners already done with this prompt version, provider, model and window.
    #[arg(long)]
    pub force: bool,
    /// Print the prompt for the first listener and exit; calls nothing, stores nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Redis to store the graphs in.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379/0")]
    pub redis_url: String,
}

const EXAMPLES: &str = "Examples:
  trainer interest-graph --all-users                    offline unless a key is set
  trainer interest-graph --user-id u00042 --provider anthropic
  trainer interest-graph --user-id u00042 --dry-run     the prompt, nothing sent
  trainer interest-graph --all-users --provider openai-compatible \\
      --base-url http://127.0.0.1:11434/v1 --model llama3.1:8b --concurrency 2";

fn check_range<T: PartialOrd + std::fmt::Display>(flag: &str, v: T, lo: T, hi: T) -> Result<()> {
    if v < lo || v > hi {
        bail!("{flag} must be {lo}–{hi}, got {v}");
    }
    Ok(())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn provider(args: &InterestGraphArgs) -> Result<Provider> {
    let kind = args
        .provider
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
        max_attempts: args.max_attempts,
        max_tokens: args.max_tokens,
        backoff: Duration::from_millis(args.backoff_ms),
    })?))
}

/// What one batch's workers produced.
type Outcome = (String, Result<interest::Built, BuildError>);

pub fn run(args: InterestGraphArgs) -> Result<()> {
    check_range("--since-days", args.since_days, 1, 3650)?;
    check_range("--batch-size", args.batch_size, 1, 10_000)?;
    check_range("--concurrency", args.concurrency, 1, 64)?;
    check_range("--max-tokens", args.max_tokens, 64, 16_384)?;
    check_range("--timeout-secs", args.timeout_secs, 1, 600)?;
    check_range("--max-attempts", args.max_attempts, 1, 10)?;
    check_range("--backoff-ms", args.backoff_ms, 10, 60_000)?;
    if args.provider == Some(ProviderKind::Offline)
        && (args.model.is_some() || args.base_url.is_some())
    {
        bail!("--provider offline takes no --model or --base-url");
    }
    let provider = provider(&args)?;
    let began = Instant::now();
    let (dataset, _) = data::load(&args.data, BadRowPolicy::Stop)?;
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
                args.data.display()
            );
        };
        listens = [(user.as_str(), theirs)].into();
    }
    let users: Vec<(&str, Vec<Listen<'_>>)> = listens.into_iter().collect();
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
    let mut store = FeatureStore::connect(&args.redis_url)?;
    println!(
        "interest graphs for {} listeners ({} days to {as_of_text}), provider {}, model {}, prompt {PROMPT_VERSION}",
        users.len(),
        args.since_days,
        provider.name(),
        provider.model()
    );

    let bar = ProgressBar::new(users.len() as u64).with_style(
        ProgressStyle::with_template(
            "graphs {bar:30} {pos}/{len} listeners  {per_sec}  ETA {eta}  {msg}",
        )
        .expect("the template is valid"),
    );
    let mut ledger = Ledger::new(&provider, as_of_text.clone(), args.since_days, &bar);
    // An LLM answer takes seconds and costs tokens: store each as it arrives, so a killed run
    // loses none. Offline graphs are stored a batch at a time.
    let store_each = !matches!(provider, Provider::Offline);
    for batch in users.chunks(args.batch_size) {
        let ids: Vec<&str> = batch.iter().map(|(u, _)| *u).collect();
        let stored = store.graph_records(&ids)?;
        let jobs: Vec<&(&str, Vec<Listen<'_>>)> = batch
            .iter()
            .zip(&stored)
            .filter(|(_, record)| args.force || !record.as_ref().is_some_and(|r| ledger.done(r)))
            .map(|(job, _)| job)
            .collect();
        ledger.skipped += batch.len() - jobs.len();
        bar.inc((batch.len() - jobs.len()) as u64);
        let worked = run_batch(&jobs, &provider, &args, |user, outcome| {
            ledger.record(user, outcome);
            if store_each {
                ledger.flush(&mut store)?;
                crate::failpoint::reached("interest-graph-stored");
            }
            Ok(())
        });
        ledger.flush(&mut store)?;
        worked?;
        if ledger.fatal.is_some() {
            break;
        }
    }
    bar.finish_and_clear();
    ledger.report(began.elapsed().as_secs_f64())?;
    if let (Some(graph), Some(_)) = (&ledger.last_graph, &args.user_id) {
        println!("{}", serde_json::to_string_pretty(graph)?);
    }
    if let Some(message) = ledger.fatal {
        bail!("stopped: {message}");
    }
    if ledger.failed > 0 {
        bail!(
            "{} listeners failed and kept their previous graph; the reasons are in Redis \
             (HGETALL {}); a re-run retries only them",
            ledger.failed,
            interest::FAILURES
        );
    }
    if ledger.built > 0 {
        println!(
            "stored in Redis; `trainer materialize` publishes them with the next feature version"
        );
    }
    Ok(())
}

/// What a run has done so far, and the outcomes not yet stored.
struct Ledger<'a> {
    provider: &'a Provider,
    as_of: String,
    since_days: u32,
    bar: &'a ProgressBar,
    built: usize,
    skipped: usize,
    failed: usize,
    usage: Usage,
    fatal: Option<String>,
    /// The last graph built (a `--user-id` run prints it).
    last_graph: Option<InterestGraph>,
    good: Vec<(String, GraphRecord)>,
    bad: Vec<(String, FailureRecord)>,
}

impl<'a> Ledger<'a> {
    fn new(provider: &'a Provider, as_of: String, since_days: u32, bar: &'a ProgressBar) -> Self {
        Ledger {
            provider,
            as_of,
            since_days,
            bar,
            built: 0,
            skipped: 0,
            failed: 0,
            usage: Usage::default(),
            fatal: None,
            last_graph: None,
            good: Vec::new(),
            bad: Vec::new(),
        }
    }

    /// Whether `record` is this run's work already: same prompt, provider, model and window.
    fn done(&self, record: &GraphRecord) -> bool {
        record.prompt_version == PROMPT_VERSION
            && record.provider == self.provider.name()
            && record.model == self.provider.model()
            && record.as_of == self.as_of
            && record.since_days == self.since_days
    }

    fn record(&mut self, user: String, outcome: Result<interest::Built, BuildError>) {
        let now = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        let (provider, model) = (
            self.provider.name().to_string(),
            self.provider.model().to_string(),
        );
        match outcome {
            Ok(built) => {
                self.usage += built.usage;
                self.built += 1;
                self.last_graph = Some(built.graph.clone());
                self.good.push((
                    user,
                    GraphRecord {
                        graph: built.graph,
                        provider,
                        model,
                        prompt_version: PROMPT_VERSION.to_string(),
                        created_at: now,
                        as_of: self.as_of.clone(),
                        since_days: self.since_days,
                        input_tokens: built.usage.input_tokens,
                        output_tokens: built.usage.output_tokens,
                        answers: built.answers,
                    },
                ));
            }
            Err(BuildError::Failed { message, usage }) => {
                self.usage += usage;
                self.failed += 1;
                self.bar.println(format!("warning: {user}: {message}"));
                self.bad.push((
                    user,
                    FailureRecord {
                        error: message,
                        provider,
                        model,
                        prompt_version: PROMPT_VERSION.to_string(),
                        at: now,
                    },
                ));
            }
            Err(BuildError::Fatal(message)) => {
                self.fatal.get_or_insert(message);
            }
        }
        self.bar.inc(1);
        self.bar.set_message(format!(
            "{} tokens in, {} out",
            self.usage.input_tokens, self.usage.output_tokens
        ));
    }

    /// Stores the outcomes recorded since the last flush, in one round trip.
    fn flush(&mut self, store: &mut FeatureStore) -> Result<()> {
        store.save_graphs(&self.good, &self.bad)?;
        self.good.clear();
        self.bad.clear();
        Ok(())
    }

    /// Counts, tokens and the cost at list prices.
    fn report(&self, seconds: f64) -> Result<()> {
        let provider = self.provider;
        let usage = self.usage;
        let cost = match (provider, price_per_million(provider.model())) {
            (Provider::Offline, _) => "no cost (offline)".to_string(),
            (_, Some((input, output))) => format!(
                "${:.4} at ${input}/${output} per million tokens",
                usage.input_tokens as f64 * input / 1e6 + usage.output_tokens as f64 * output / 1e6
            ),
            (_, None) => format!("cost unknown (no price listed for {})", provider.model()),
        };
        println!(
            "{} built, {} already done (skipped), {} failed in {seconds:.1} s; \
             tokens: {} in, {} out; {cost}",
            self.built, self.skipped, self.failed, usage.input_tokens, usage.output_tokens,
        );
        Ok(())
    }
}

/// Builds the graphs of `jobs` on `--concurrency` threads, handing each outcome to
/// `on_outcome` as it completes. Stops taking new jobs after a fatal error or when
/// `on_outcome` fails (whose error is returned).
fn run_batch(
    jobs: &[&(&str, Vec<Listen<'_>>)],
    provider: &Provider,
    args: &InterestGraphArgs,
    mut on_outcome: impl FnMut(String, Result<interest::Built, BuildError>) -> Result<()>,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (sender, receiver) = mpsc::channel::<Outcome>();
    std::thread::scope(|scope| {
        for _ in 0..args.concurrency.min(jobs.len()) {
            let sender = sender.clone();
            let (next, stop) = (&next, &stop);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some((user, listens)) = jobs.get(next.fetch_add(1, Ordering::Relaxed))
                    else {
                        break;
                    };
                    let s = summary::summarise(listens, args.since_days);
                    let outcome = interest::build(provider, &s);
                    if matches!(outcome, Err(BuildError::Fatal(_))) {
                        stop.store(true, Ordering::Relaxed);
                    }
                    if sender.send((user.to_string(), outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        for (user, outcome) in receiver.iter() {
            if let Err(e) = on_outcome(user, outcome) {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(())
    })
}
