//! Building many listeners' graphs: batches checked against the store (a re-run skips what is
//! done), LLM calls on a bounded pool of threads, and every answer stored as it arrives, so a
//! killed run loses no paid answer.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::Result;
use resonance_shared::interest::InterestGraph;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::llm::{Usage, price_per_million};
use crate::prompt::PROMPT_VERSION;
use crate::store::GraphStore;
use crate::summary::{self, Listen};
use crate::{BuildError, Built, FailureRecord, GraphRecord, Provider};

/// How a run goes.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// The end of the summarised window, RFC 3339 (recorded with each graph).
    pub as_of: String,
    /// Days of history summarised.
    pub since_days: u32,
    /// Listeners per batch: one store read finds those already done.
    pub batch_size: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Rebuild graphs that are already done.
    pub force: bool,
}

/// Where a run reports its progress (a progress bar in the binary).
pub trait Progress {
    /// `listeners` more are done (built, failed or skipped); `usage` is the total so far.
    fn advance(&self, listeners: u64, usage: Usage);
    /// A listener failed; `line` says why.
    fn warn(&self, line: &str);
}

/// A [`Progress`] that reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn advance(&self, _: u64, _: Usage) {}
    fn warn(&self, _: &str) {}
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Graphs built and stored.
    pub built: usize,
    /// Listeners whose stored graph was this run's work already.
    pub skipped: usize,
    /// Listeners who kept their previous graph (the reasons are in the store).
    pub failed: usize,
    /// Tokens spent, failures included.
    pub input_tokens: u64,
    /// Tokens answered, failures included.
    pub output_tokens: u64,
    /// USD at list prices; `None` offline or for an unlisted model.
    pub cost_usd: Option<f64>,
    /// Why the run stopped early (a bad key, a bad model name).
    pub fatal: Option<String>,
    /// The last graph built (a one-listener run prints it).
    #[serde(skip)]
    pub last_graph: Option<InterestGraph>,
}

/// Builds and stores the graphs of `users` (each with their listens in the window). Stops at a
/// fatal provider error (in [`Report::fatal`]) or a store error (returned).
pub fn run(
    users: &[(&str, Vec<Listen<'_>>)],
    provider: &Provider,
    store: &mut dyn GraphStore,
    options: &BatchOptions,
    progress: &dyn Progress,
) -> Result<Report> {
    let mut ledger = Ledger::new(provider, options, progress);
    // An LLM answer takes seconds and costs tokens: store each as it arrives. Offline graphs
    // are stored a batch at a time.
    let store_each = !matches!(provider, Provider::Offline);
    for batch in users.chunks(options.batch_size.max(1)) {
        let ids: Vec<&str> = batch.iter().map(|(u, _)| *u).collect();
        let stored = store.graph_records(&ids)?;
        let jobs: Vec<&(&str, Vec<Listen<'_>>)> = batch
            .iter()
            .zip(&stored)
            .filter(|(_, record)| options.force || !record.as_ref().is_some_and(|r| ledger.done(r)))
            .map(|(job, _)| job)
            .collect();
        let skipped = batch.len() - jobs.len();
        ledger.report.skipped += skipped;
        progress.advance(skipped as u64, ledger.usage);
        let worked = build_concurrently(&jobs, provider, options, |user, outcome| {
            ledger.record(user, outcome);
            if store_each {
                ledger.flush(store)?;
                resonance_failpoint::reached("interest-graph-stored");
            }
            Ok(())
        });
        ledger.flush(store)?;
        worked?;
        if ledger.report.fatal.is_some() {
            break;
        }
    }
    let mut report = ledger.report;
    report.input_tokens = ledger.usage.input_tokens;
    report.output_tokens = ledger.usage.output_tokens;
    report.cost_usd = match provider {
        Provider::Offline => None,
        Provider::Llm(_) => price_per_million(provider.model()).map(|(input, output)| {
            report.input_tokens as f64 * input / 1e6 + report.output_tokens as f64 * output / 1e6
        }),
    };
    Ok(report)
}

/// What a run has done so far, and the outcomes not yet stored.
struct Ledger<'a> {
    provider: &'a Provider,
    options: &'a BatchOptions,
    progress: &'a dyn Progress,
    report: Report,
    usage: Usage,
    good: Vec<(String, GraphRecord)>,
    bad: Vec<(String, FailureRecord)>,
}

impl<'a> Ledger<'a> {
    fn new(provider: &'a Provider, options: &'a BatchOptions, progress: &'a dyn Progress) -> Self {
        Ledger {
            provider,
            options,
            progress,
            report: Report::default(),
            usage: Usage::default(),
            good: Vec::new(),
            bad: Vec::new(),
        }
    }

    /// Whether `record` is this run's work already: same prompt, provider, model and window.
    fn done(&self, record: &GraphRecord) -> bool {
        record.prompt_version == PROMPT_VERSION
            && record.provider == self.provider.name()
            && record.model == self.provider.model()
            && record.as_of == self.options.as_of
            && record.since_days == self.options.since_days
    }

    fn record(&mut self, user: String, outcome: Result<Built, BuildError>) {
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
                self.report.built += 1;
                self.report.last_graph = Some(built.graph.clone());
                self.good.push((
                    user,
                    GraphRecord {
                        graph: built.graph,
                        provider,
                        model,
                        prompt_version: PROMPT_VERSION.to_string(),
                        created_at: now,
                        as_of: self.options.as_of.clone(),
                        since_days: self.options.since_days,
                        input_tokens: built.usage.input_tokens,
                        output_tokens: built.usage.output_tokens,
                        answers: built.answers,
                    },
                ));
            }
            Err(BuildError::Failed { message, usage }) => {
                self.usage += usage;
                self.report.failed += 1;
                self.progress.warn(&format!("warning: {user}: {message}"));
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
                self.report.fatal.get_or_insert(message);
            }
        }
        self.progress.advance(1, self.usage);
    }

    /// Stores the outcomes recorded since the last flush, at once.
    fn flush(&mut self, store: &mut dyn GraphStore) -> Result<()> {
        store.save_graphs(&self.good, &self.bad)?;
        self.good.clear();
        self.bad.clear();
        Ok(())
    }
}

/// What one batch's workers produced.
type Outcome = (String, Result<Built, BuildError>);

/// Builds the graphs of `jobs` on `concurrency` threads, handing each outcome to `on_outcome`
/// as it completes. Stops taking new jobs after a fatal error or when `on_outcome` fails
/// (whose error is returned).
fn build_concurrently(
    jobs: &[&(&str, Vec<Listen<'_>>)],
    provider: &Provider,
    options: &BatchOptions,
    mut on_outcome: impl FnMut(String, Result<Built, BuildError>) -> Result<()>,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    // A rendezvous channel: a worker waits until its answer is taken before it asks for the
    // next, so an answer the provider was paid for waits on at most one store per worker and a
    // killed run loses at most one answer per worker, however slow the store is.
    let (sender, receiver) = mpsc::sync_channel::<Outcome>(0);
    std::thread::scope(|scope| {
        for _ in 0..options.concurrency.max(1).min(jobs.len()) {
            let sender = sender.clone();
            let (next, stop) = (&next, &stop);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some((user, listens)) = jobs.get(next.fetch_add(1, Ordering::Relaxed))
                    else {
                        break;
                    };
                    let s = summary::summarise(listens, options.since_days);
                    let outcome = crate::build(provider, &s);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryGraphStore;
    use crate::summary::tests::track;

    fn options() -> BatchOptions {
        BatchOptions {
            as_of: "2026-01-01T00:00:00Z".into(),
            since_days: 90,
            batch_size: 2,
            concurrency: 2,
            force: false,
        }
    }

    #[test]
    fn offline_run_stores_every_graph_and_a_rerun_skips_them() {
        let tracks = [
            track("t1", "Artist A", "rock", 0.8),
            track("t2", "Artist B", "jazz", 0.3),
        ];
        let listens: Vec<Listen<'_>> = tracks
            .iter()
            .enumerate()
            .map(|(i, t)| Listen {
                track: t,
                kind: resonance_shared::events::EventKind::Play,
                age_days: i as f64,
                hour: Some(20),
                device: None,
            })
            .collect();
        let users = vec![
            ("u1", listens.clone()),
            ("u2", listens.clone()),
            ("u3", listens),
        ];
        let mut store = MemoryGraphStore::default();
        let first = run(&users, &Provider::Offline, &mut store, &options(), &Silent).unwrap();
        assert_eq!((first.built, first.skipped, first.failed), (3, 0, 0));
        assert_eq!(store.graphs.len(), 3);
        assert_eq!(store.graphs["u2"].provider, "offline");
        let again = run(&users, &Provider::Offline, &mut store, &options(), &Silent).unwrap();
        assert_eq!((again.built, again.skipped), (0, 3));
        let forced = BatchOptions {
            force: true,
            ..options()
        };
        let rebuilt = run(&users, &Provider::Offline, &mut store, &forced, &Silent).unwrap();
        assert_eq!(rebuilt.built, 3);
    }
}
