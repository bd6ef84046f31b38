//! SASRec end to end through the CLI on a small synthetic world: it must beat both baselines
//! by a wide margin under both protocols; its export must be complete and self-consistent; the
//! ONNX graph must give burn's numbers in tract-onnx and in onnxruntime; and bad input (tiny
//! data, a corrupted or mismatched checkpoint, an occupied output folder) must fail clearly
//! without touching a good model.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use burn::tensor::Device;
use burn::tensor::{Int, Tensor, TensorData};
use resonance_shared::manifest::ModelManifest;
use resonance_train::run;
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tract_onnx::prelude::{
    Framework, InferenceModelExt, IntoRunnable, Tensor as TractTensor, tvec,
};

const TOLERANCE: f32 = 1e-4;

fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .output()
        .expect("the trainer runs")
}

fn ok(args: &[&str]) -> Output {
    let out = trainer(args);
    assert!(
        out.status.success(),
        "trainer {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn fails_with(args: &[&str], needle: &str) {
    let out = trainer(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "trainer {} should have failed",
        args.join(" ")
    );
    assert!(err.contains(needle), "expected {needle:?} in:\n{err}");
}

/// One small world, trained, evaluated and exported once for all the tests of this file.
struct Fixture {
    _dir: TempDir,
    data: PathBuf,
    run: PathBuf,
    models: PathBuf,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = TempDir::new().unwrap();
        let (data, run, models) = (
            dir.path().join("data"),
            dir.path().join("run"),
            dir.path().join("model"),
        );
        let s = |p: &Path| p.to_str().unwrap().to_string();
        ok(&[
            "data",
            "synth",
            "--users",
            "300",
            "--tracks",
            "600",
            "--days",
            "30",
            "--seed",
            "5",
            "--out",
            &s(&data),
        ]);
        ok(&[
            "train",
            "--data",
            &s(&data),
            "--out",
            &s(&run),
            "--device",
            "cpu",
            "--epochs",
            "12",
            "--batch-size",
            "64",
            "--max-seq-len",
            "20",
            "--d-model",
            "32",
            "--heads",
            "2",
            "--layers",
            "2",
            "--patience",
            "3",
        ]);
        ok(&["eval", "--run", &s(&run)]);
        ok(&[
            "export",
            "--run",
            &s(&run),
            "--models",
            &s(&models),
            "--model-version",
            "test-1",
        ]);
        Fixture {
            _dir: dir,
            data,
            run,
            models,
        }
    })
}

fn metric(results: &serde_json::Value, scorer: &str, protocol: &str, name: &str) -> f64 {
    results[scorer][protocol][name]
        .as_f64()
        .unwrap_or_else(|| panic!("no {scorer}.{protocol}.{name}"))
}

#[test]
fn sasrec_beats_both_baselines_by_a_wide_margin_on_both_protocols() {
    let f = fixture();
    let evaluation: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(f.run.join("evaluation.json")).unwrap()).unwrap();
    let results = &evaluation["results"];
    for protocol in ["sampled_100", "full_catalogue"] {
        let sasrec = metric(results, "sasrec", protocol, "ndcg_at_10");
        for baseline in ["most_popular", "heuristic"] {
            let other = metric(results, baseline, protocol, "ndcg_at_10");
            assert!(
                sasrec > 1.5 * other && sasrec - other > 0.05,
                "{protocol}: SASRec NDCG@10 {sasrec:.4} vs {baseline} {other:.4}"
            );
        }
    }
    // Interest graphs (built offline from each test history) must help the heuristic.
    for protocol in ["sampled_100", "full_catalogue"] {
        let plain = metric(results, "heuristic", protocol, "ndcg_at_10");
        let graph = metric(results, "heuristic+graph", protocol, "ndcg_at_10");
        assert!(
            graph > plain,
            "{protocol}: heuristic with graphs {graph:.4} vs without {plain:.4}"
        );
        for hybrid in ["hybrid", "hybrid-no-graph"] {
            assert!(metric(results, hybrid, protocol, "hr_at_10") > 0.0);
        }
    }
    assert!(f.run.join("training_curve.svg").exists());
    let epochs = fs::read_to_string(f.run.join("metrics.jsonl")).unwrap();
    assert!(epochs.lines().count() >= 2);
}

#[test]
fn the_sampled_softmax_loss_trains_too() {
    let f = fixture();
    let dir = TempDir::new().unwrap();
    let run = dir.path().join("run");
    ok(&[
        "train",
        "--data",
        f.data.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
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
        "--loss",
        "sampled-softmax",
        "--negatives",
        "64",
        "--lr",
        "0.002",
    ]);
    let epochs: Vec<serde_json::Value> = fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(epochs.len(), 2);
    let loss = |e: &serde_json::Value| e["train_loss"].as_f64().unwrap();
    assert!(
        loss(&epochs[1]) < loss(&epochs[0]),
        "the loss did not fall: {epochs:?}"
    );
    assert!(epochs[1]["validation_ndcg_at_10"].as_f64().unwrap() > 0.0);
}

#[test]
fn the_export_is_complete_and_self_consistent() {
    let f = fixture();
    let dir = f.models.join("test-1");
    assert_eq!(
        fs::read_to_string(f.models.join("CURRENT")).unwrap(),
        "test-1"
    );
    let manifest: ModelManifest =
        serde_json::from_str(&fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    manifest.validate().unwrap();
    assert_eq!(manifest.model, "sasrec");
    assert_eq!(manifest.num_items, 600);
    assert_eq!(manifest.hyperparameters.max_len, 20);
    assert!(manifest.metrics["results"]["sasrec"]["sampled_100"]["ndcg_at_10"].is_number());
    for (name, digest) in &manifest.files {
        let bytes = fs::read(dir.join(name)).unwrap();
        assert_eq!(bytes.len() as u64, digest.bytes, "{name}");
        assert_eq!(hex::encode(Sha256::digest(&bytes)), digest.sha256, "{name}");
    }
    let table = fs::read(dir.join("item_embeddings.f32")).unwrap();
    assert_eq!(table.len(), 601 * 32 * 4);
}

/// Real inputs: users' actual histories (full and cut short) and real candidates, as the
/// edge would gather them from the exported embedding table.
struct Inputs {
    batch: usize,
    candidates: usize,
    history: Vec<f32>,
    mask: Vec<f32>,
    cands: Vec<f32>,
}

fn real_inputs(f: &Fixture) -> (Inputs, Vec<f32>) {
    let loaded = run::load(&f.run, &Device::flex()).unwrap();
    let (len, d) = (loaded.model.max_len(), loaded.model.d_model());
    let table = loaded
        .model
        .item_embedding
        .weight
        .val()
        .try_into_vec_as::<f32>()
        .unwrap();
    let row = |i: usize| &table[i * d..(i + 1) * d];
    // Three histories: 20 real tracks, 5, and 1 (left-padded with zero vectors).
    let lengths = [20usize, 5, 1];
    let (mut history, mut mask, mut cands) = (vec![], vec![], vec![]);
    for (b, &n) in lengths.iter().enumerate() {
        for p in 0..len {
            let real = p >= len - n;
            mask.push(if real { 1.0 } else { 0.0 });
            let item = 1 + (b * 37 + p * 11) % 600;
            history.extend(if real {
                row(item).to_vec()
            } else {
                vec![0.0; d]
            });
        }
        for c in 0..50 {
            cands.extend_from_slice(row(1 + (b * 101 + c * 7) % 600));
        }
    }
    let device = Device::flex();
    let t3 = |v: &Vec<f32>, dims: [usize; 3]| {
        Tensor::<3>::from_data(TensorData::new(v.clone(), dims), &device)
    };
    let expected = loaded
        .model
        .score_candidates(
            t3(&history, [3, len, d]),
            Tensor::<2>::from_data(TensorData::new(mask.clone(), [3, len]), &device),
            t3(&cands, [3, 50, d]),
        )
        .try_into_vec_as::<f32>()
        .unwrap();
    // The ids path (training) agrees with the embeddings path (serving) on a full history.
    let ids: Vec<i64> = (0..len).map(|p| (1 + (p * 11) % 600) as i64).collect();
    let states = loaded.model.forward_ids(Tensor::<2, Int>::from_data(
        TensorData::new(ids, [1, len]),
        &device,
    ));
    assert_eq!(states.dims(), [1, len, d]);
    (
        Inputs {
            batch: 3,
            candidates: 50,
            history,
            mask,
            cands,
        },
        expected,
    )
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn tract_onnx_gives_burns_scores_on_the_exported_model() {
    let f = fixture();
    let (inputs, expected) = real_inputs(f);
    let bytes = fs::read(f.models.join("test-1/sasrec.onnx")).unwrap();
    let plan = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let (b, c, len, d) = (inputs.batch, inputs.candidates, 20, 32);
    let out = plan
        .run(tvec![
            TractTensor::from_shape(&[b, len, d], &inputs.history)
                .unwrap()
                .into(),
            TractTensor::from_shape(&[b, len], &inputs.mask)
                .unwrap()
                .into(),
            TractTensor::from_shape(&[b, c, d], &inputs.cands)
                .unwrap()
                .into(),
        ])
        .unwrap();
    let got: Vec<f32> = out[0]
        .to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect();
    let diff = max_diff(&expected, &got);
    println!("max |burn − tract| = {diff:e}");
    assert!(diff < TOLERANCE, "max |burn − tract| = {diff}");
}

/// onnxruntime is installed by scripts/test.sh into a virtual environment named by
/// RESONANCE_PYTHON, with RESONANCE_REQUIRE_ONNXRUNTIME=1; without them (a bare `cargo test`)
/// the test uses `python3` and, if it lacks onnxruntime, says so and returns.
#[test]
fn onnxruntime_gives_burns_scores_on_the_exported_model() {
    let python = std::env::var("RESONANCE_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_ort = Command::new(&python)
        .args(["-c", "import onnxruntime, numpy"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_ort {
        assert!(
            std::env::var_os("RESONANCE_REQUIRE_ONNXRUNTIME").is_none(),
            "onnxruntime is required but not importable"
        );
        eprintln!("python3 cannot import onnxruntime: skipping (scripts/test.sh installs it)");
        return;
    }
    let f = fixture();
    let (inputs, expected) = real_inputs(f);
    let (b, c, len, d) = (inputs.batch, inputs.candidates, 20, 32);
    let nest3 = |v: &[f32], rows: usize, cols: usize| -> Vec<Vec<Vec<f32>>> {
        v.chunks(rows * cols)
            .map(|m| m.chunks(cols).map(|r| r.to_vec()).collect())
            .collect()
    };
    let json = serde_json::json!({
        "history": nest3(&inputs.history, len, d),
        "mask": inputs.mask.chunks(len).map(|r| r.to_vec()).collect::<Vec<_>>(),
        "candidates": nest3(&inputs.cands, c, d),
    });
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("inputs.json");
    fs::write(&path, json.to_string()).unwrap();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/parity/onnxruntime_scores.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(f.models.join("test-1/sasrec.onnx"))
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scores: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<f32> = scores["scores"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
        })
        .collect();
    assert_eq!(got.len(), b * c);
    let diff = max_diff(&expected, &got);
    println!("max |burn − onnxruntime| = {diff:e}");
    assert!(diff < TOLERANCE, "max |burn − onnxruntime| = {diff}");
}

#[test]
fn bad_input_fails_clearly_and_never_overwrites_a_good_model() {
    let f = fixture();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let dir = TempDir::new().unwrap();
    // An occupied run folder is refused.
    fails_with(
        &[
            "train",
            "--data",
            &s(&f.data),
            "--out",
            &s(&f.run),
            "--epochs",
            "1",
        ],
        "already exists and is not empty",
    );
    // A version that exists is refused, and CURRENT is untouched.
    fails_with(
        &[
            "export",
            "--run",
            &s(&f.run),
            "--models",
            &s(&f.models),
            "--model-version",
            "test-1",
        ],
        "already exists",
    );
    assert_eq!(
        fs::read_to_string(f.models.join("CURRENT")).unwrap(),
        "test-1"
    );
    fails_with(
        &[
            "export",
            "--run",
            &s(&f.run),
            "--models",
            &s(&f.models),
            "--model-version",
            "../x",
        ],
        "--model-version",
    );
    // Bad hyperparameters name the flag.
    fails_with(
        &[
            "train",
            "--data",
            &s(&f.data),
            "--out",
            &s(&dir.path().join("r")),
            "--heads",
            "3",
        ],
        "--heads",
    );
    // A dataset where nobody has 3 interactions.
    let tiny = dir.path().join("tiny");
    fs::create_dir(&tiny).unwrap();
    fs::copy(f.data.join("catalogue.csv"), tiny.join("catalogue.csv")).unwrap();
    let first_track = fs::read_to_string(f.data.join("catalogue.csv"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    fs::write(tiny.join("events.csv"), format!("user_id,track_id,timestamp,event\nu1,{first_track},1788249600,play\nu1,{first_track},1788249700,play\n")).unwrap();
    fails_with(
        &[
            "train",
            "--data",
            &s(&tiny),
            "--out",
            &s(&dir.path().join("r")),
        ],
        "no user has the 3 interactions",
    );
    // A corrupted checkpoint, and one that does not match its description.
    let broken = dir.path().join("broken");
    fs::create_dir(&broken).unwrap();
    for name in ["run.json", "vocabulary.json", "evaluation.json"] {
        fs::copy(f.run.join(name), broken.join(name)).unwrap();
    }
    fs::write(broken.join("sasrec.bpk"), b"not a burnpack file").unwrap();
    fails_with(
        &["eval", "--run", &s(&broken)],
        "the checkpoint is corrupted or does not match",
    );
    fails_with(
        &["export", "--run", &s(&broken), "--models", &s(&f.models)],
        "the checkpoint is corrupted or does not match",
    );
    let run_json = fs::read_to_string(f.run.join("run.json"))
        .unwrap()
        .replace("\"d_model\": 32", "\"d_model\": 64");
    fs::write(broken.join("run.json"), run_json).unwrap();
    fs::copy(f.run.join("sasrec.bpk"), broken.join("sasrec.bpk")).unwrap();
    fails_with(
        &["eval", "--run", &s(&broken)],
        "does not match the hyperparameters",
    );
    assert_eq!(
        fs::read_to_string(f.models.join("CURRENT")).unwrap(),
        "test-1"
    );
    // Export needs an evaluation first.
    fs::remove_file(broken.join("evaluation.json")).unwrap();
    fails_with(
        &["export", "--run", &s(&broken), "--models", &s(&f.models)],
        "run `trainer eval",
    );
}
