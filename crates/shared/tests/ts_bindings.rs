//! The web demo's TypeScript declarations, `web-demo/lib/generated/*.ts`, are generated from
//! the wire types here by ts-rs (with serde's renames). The test generates them afresh and
//! fails when the committed files differ; to regenerate them after changing a type:
//!
//! ```sh
//! RESONANCE_WRITE_TS=1 cargo test -p resonance-shared --features ts --test ts_bindings
//! ```
//!
//! The page's JSDoc imports these types and `tsc --checkJs` checks it (scripts/test.sh), so a
//! field renamed here fails the web demo's type check until the page follows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use resonance_shared::api::{ErrorBody, HealthResponse, RerankRequest, RerankResponse};
use resonance_shared::catalogue::Mood;
use resonance_shared::features::{TrackFeatures, UserFeatures};
use resonance_shared::interest::InterestGraph;
use ts_rs::{Config, ExportError, TS};

/// The types the page names; everything they refer to is exported with them.
fn export(cfg: &Config) -> Result<(), ExportError> {
    RerankRequest::export_all(cfg)?;
    RerankResponse::export_all(cfg)?;
    HealthResponse::export_all(cfg)?;
    ErrorBody::export_all(cfg)?;
    UserFeatures::export_all(cfg)?;
    TrackFeatures::export_all(cfg)?;
    InterestGraph::export_all(cfg)?;
    Mood::export_all(cfg)?;
    Ok(())
}

fn committed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web-demo/lib/generated")
}

/// File name → contents of the `.ts` files in `dir` (none when it does not exist).
fn ts_files(dir: &Path) -> BTreeMap<String, String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ts"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

#[test]
fn the_web_demo_types_match_the_rust_types() {
    let fresh = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ts-bindings");
    let _ = std::fs::remove_dir_all(&fresh);
    // JSON numbers reach JavaScript as `number`, never `bigint`.
    let cfg = Config::new().with_out_dir(&fresh).with_large_int("number");
    export(&cfg).expect("the bindings export");
    let generated = ts_files(&fresh);
    assert!(generated.contains_key("RerankResponse.ts"), "{generated:?}");

    let committed_dir = committed_dir();
    if std::env::var_os("RESONANCE_WRITE_TS").is_some_and(|v| v == "1") {
        for name in ts_files(&committed_dir).keys() {
            std::fs::remove_file(committed_dir.join(name)).unwrap();
        }
        std::fs::create_dir_all(&committed_dir).unwrap();
        for (name, text) in &generated {
            std::fs::write(committed_dir.join(name), text).unwrap();
        }
        println!(
            "wrote {} files to {}",
            generated.len(),
            committed_dir.display()
        );
        return;
    }

    let committed = ts_files(&committed_dir);
    let mut problems = Vec::new();
    for (name, text) in &generated {
        match committed.get(name) {
            None => problems.push(format!("{name} is missing")),
            Some(old) if old != text => problems.push(format!("{name} differs")),
            Some(_) => {}
        }
    }
    for name in committed.keys().filter(|n| !generated.contains_key(*n)) {
        problems.push(format!("{name} is no longer generated"));
    }
    assert!(
        problems.is_empty(),
        "web-demo/lib/generated/ is out of date with the Rust types ({}); regenerate it with\n  \
         RESONANCE_WRITE_TS=1 cargo test -p resonance-shared --features ts --test ts_bindings",
        problems.join(", ")
    );
}
