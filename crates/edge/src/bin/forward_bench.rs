//! The CPU engine's forward pass, timed alone: load, plan, then one listener at a time (batch
//! 1, L history tracks, C candidates), the way the Worker runs it. Built natively and for
//! `wasm32-wasip1` (run by Node's WASI, the V8 that workerd embeds), so one binary measures
//! native tract against wasm tract, and one wasm build's flags (`+relaxed-simd`, the kernels'
//! opt-level) against another's. `bench/forward.sh` builds and runs the variants.
//!
//! The inputs are fixed pseudo-random embeddings, so every build sees the same ones:
//! `--write FILE` keeps the first runs' outputs (scores and user_state) and `--compare FILE`
//! prints the largest difference from them, the parity of one build with another.
//!
//! Usage: forward-bench MODEL.onnx [--runs N] [--candidates C] [--write F | --compare F]

use std::time::Instant;

use resonance_edge::{SequenceScorer, TractModel};

/// How many forward passes' outputs `--write` keeps and `--compare` checks.
const CHECKED: usize = 16;

struct Args {
    model: String,
    runs: usize,
    candidates: usize,
    write: Option<String>,
    compare: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        model: String::new(),
        runs: 2000,
        candidates: 100,
        write: None,
        compare: None,
    };
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "--runs" => parsed.runs = number(&value("--runs")?, "--runs")?,
            "--candidates" => parsed.candidates = number(&value("--candidates")?, "--candidates")?,
            "--write" => parsed.write = Some(value("--write")?),
            "--compare" => parsed.compare = Some(value("--compare")?),
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with('-') => return Err(format!("unknown flag {flag}")),
            path => parsed.model = path.to_string(),
        }
    }
    if parsed.model.is_empty() {
        return Err("the model's ONNX file is required".into());
    }
    if parsed.runs < CHECKED {
        return Err(format!("--runs must be at least {CHECKED}"));
    }
    Ok(parsed)
}

fn number(text: &str, flag: &str) -> Result<usize, String> {
    match text.parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "{flag} must be a positive whole number, got {text:?}"
        )),
    }
}

/// Embeddings in [-0.5, 0.5) from a fixed linear congruential sequence: the same on every
/// target, so two builds' outputs can be compared.
struct Inputs(u64);

impl Inputs {
    fn fill(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                self.0 = self
                    .0
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        if !e.is_empty() {
            eprintln!("error: {e}");
        }
        eprintln!(
            "usage: forward-bench MODEL.onnx [--runs N] [--candidates C] [--write F | --compare F]"
        );
        std::process::exit(2);
    });
    let fail = |what: &str, e: &dyn std::fmt::Display| -> ! {
        eprintln!("error: {what}: {e}");
        std::process::exit(1);
    };
    let bytes = std::fs::read(&args.model).unwrap_or_else(|e| fail(&args.model, &e));
    let began = Instant::now();
    let model = TractModel::from_onnx(&bytes).unwrap_or_else(|e| fail("loading", &e));
    let load_ms = began.elapsed().as_secs_f64() * 1e3;
    let began = Instant::now();
    model.prepare().unwrap_or_else(|e| fail("planning", &e));
    let plan_ms = began.elapsed().as_secs_f64() * 1e3;

    let (len, d) = (model.max_len(), model.d_model());
    // The checked runs each get their own inputs; the timed ones after reuse the last, as a
    // listener's repeated requests would.
    let mut inputs = Inputs(7);
    let sets: Vec<(Vec<f32>, Vec<f32>)> = (0..=CHECKED)
        .map(|_| (inputs.fill(len * d), inputs.fill(args.candidates * d)))
        .collect();
    let mask = vec![1.0; len];
    let mut times = Vec::with_capacity(args.runs);
    let mut checked = Vec::new();
    for run in 0..args.runs {
        let (history, candidates) = &sets[run.min(CHECKED)];
        let began = Instant::now();
        let out = model
            .forward(history, &mask, candidates)
            .unwrap_or_else(|e| fail("running", &e));
        times.push(began.elapsed().as_secs_f64() * 1e3);
        if run < CHECKED {
            checked.extend(out.scores.into_iter().chain(out.user_state));
        }
    }
    // The first pass pays one-off allocations; the rest are the steady state.
    let first_ms = times[0];
    let mut steady = times[1..].to_vec();
    steady.sort_by(f64::total_cmp);
    let mean = steady.iter().sum::<f64>() / steady.len() as f64;
    println!(
        "load {load_ms:.1} ms, plan {plan_ms:.1} ms, first forward {first_ms:.2} ms; \
         {} forwards (L = {len}, d = {d}, C = {}): p50 {:.3} ms, p90 {:.3}, p99 {:.3}, mean {mean:.3}",
        steady.len(),
        args.candidates,
        percentile(&steady, 0.5),
        percentile(&steady, 0.9),
        percentile(&steady, 0.99),
    );
    if let Some(path) = &args.write {
        let text: Vec<String> = checked.iter().map(|v| v.to_string()).collect();
        std::fs::write(path, text.join("\n")).unwrap_or_else(|e| fail(path, &e));
    }
    if let Some(path) = &args.compare {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| fail(path, &e));
        let reference: Vec<f32> = text
            .lines()
            .map(|l| l.parse().unwrap_or_else(|e| fail(path, &e)))
            .collect();
        if reference.len() != checked.len() {
            fail(path, &"holds outputs of another shape");
        }
        let worst = reference
            .iter()
            .zip(&checked)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        println!("largest difference from {path}: {worst:.2e} (over {CHECKED} forwards)");
    }
}
