//! `trainer rerank`: ask a running Worker to rerank candidates for one listener, and show the
//! answer next to what the catalogue knows of each track.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use resonance_shared::api::RerankResponse;
use serde_json::json;

use crate::flags::{DataFlag, ServiceTokenFlag, WorkerFlag};
use resonance_data::candidates;

/// Rerank a sample for one listener through a Worker's `POST /v1/rerank` and print it.
///
/// The candidates are the catalogue's most played tracks that the listener has not played,
/// plus a few of their own recent ones, the way a service would send "tracks we might play
/// next". The table shows each track's final score and its transformer and heuristic parts.
/// It calls as the music service's backend does, with the service token.
#[derive(Args)]
pub struct RerankArgs {
    /// The dataset the Worker's features came from (for names and candidates).
    #[command(flatten)]
    pub data: DataFlag,
    #[command(flatten)]
    pub worker: WorkerFlag,
    #[command(flatten)]
    pub service_token: ServiceTokenFlag,
    /// The listener (default: the one with the most events).
    #[arg(long, value_name = "ID")]
    pub user: Option<String>,
    /// How many candidates to send (1–500).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub candidates: usize,
    /// The listener's local hour, for the context signals.
    #[arg(long, value_name = "H", default_value_t = 20)]
    pub hour: u8,
    /// Rows of the answer to print.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub show: usize,
    /// Also write the request body to FILE (for load generators: bench/worker.sh).
    #[arg(long, value_name = "FILE")]
    pub request_out: Option<PathBuf>,
}

pub fn run(args: RerankArgs) -> Result<()> {
    if args.candidates == 0 || args.candidates > 500 {
        bail!("--candidates must be 1–500, got {}", args.candidates);
    }
    let token = args.service_token.require()?;
    let dataset = args.data.load()?;
    let user = match &args.user {
        Some(u) => u.clone(),
        None => candidates::busiest_listeners(&dataset, 1)
            .pop()
            .context("the dataset has no events")?,
    };
    let candidates = candidates::sample_candidates(&dataset, &user, args.candidates);
    let body = json!({
        "user_id": user,
        "candidates": candidates,
        "context": { "hour": args.hour },
    });
    if let Some(path) = &args.request_out {
        std::fs::write(path, body.to_string())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let url = format!("{}/v1/rerank", args.worker.require()?.trim_end_matches('/'));
    let began = Instant::now();
    let response = reqwest::blocking::Client::new()
        .post(&url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .with_context(|| {
            format!("cannot reach the Worker at {url} (start it with scripts/worker.sh start)")
        })?;
    let round_trip = began.elapsed();
    let status = response.status();
    let text = response.text()?;
    if !status.is_success() {
        bail!("POST {url}: {status}: {text}");
    }
    let answer: RerankResponse =
        serde_json::from_str(&text).with_context(|| format!("unexpected answer: {text}"))?;

    let tracks: HashMap<&str, _> = dataset
        .catalogue
        .iter()
        .map(|t| (t.track_id.as_str(), t))
        .collect();
    // Written at once; a reader that stops early (`| head`) is not an error.
    let mut out = String::new();
    writeln!(
        out,
        "reranked {} candidates for {user} with model {} on {} in {:.1} ms (round trip {:.1} ms)",
        candidates.len(),
        answer.model_version.as_deref().unwrap_or("none"),
        answer.backend,
        answer.timing_ms,
        round_trip.as_secs_f64() * 1000.0
    )?;
    writeln!(
        out,
        "{:>4}  {:<10} {:<28} {:<22} {:<12} {:>7} {:>11} {:>9}",
        "rank", "track", "title", "artist", "genre", "score", "transformer", "heuristic"
    )?;
    for (i, r) in answer.ranked.iter().take(args.show).enumerate() {
        let t = tracks.get(r.track_id.as_str());
        let cut = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        writeln!(
            out,
            "{:>4}  {:<10} {:<28} {:<22} {:<12} {:>7.3} {:>11} {:>9.3}",
            i + 1,
            cut(&r.track_id, 10),
            cut(t.map_or("?", |t| t.title.as_str()), 28),
            cut(t.map_or("?", |t| t.artist.as_str()), 22),
            cut(t.map_or("?", |t| t.genre.as_str()), 12),
            r.score,
            r.transformer.map_or("-".into(), |v| format!("{v:.3}")),
            r.heuristic
        )?;
    }
    let d = &answer.degraded;
    if d.unknown_user || !d.unknown_tracks.is_empty() || d.model_unavailable || d.features_partial {
        writeln!(out, "degraded: {}", serde_json::to_string(d)?)?;
    }
    match std::io::stdout().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
