//! Publishing a folder atomically: fill a temporary sibling, then rename it into place, so a
//! crash or an error halfway never leaves a half-written folder where a good one was.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Creates `out` with the files `fill` writes into the staging folder it is given. An existing
/// non-empty `out` is replaced only with `replace` (and only once `fill` succeeded).
pub fn publish_dir(
    out: &Path,
    replace: bool,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let occupied = out.exists()
        && (!out.is_dir()
            || fs::read_dir(out)
                .map(|mut d| d.next().is_some())
                .unwrap_or(true));
    if occupied && !replace {
        bail!(
            "{} already exists and is not empty; pass --force to replace it",
            out.display()
        );
    }
    let name = out
        .file_name()
        .with_context(|| format!("{} does not name a folder", out.display()))?
        .to_string_lossy()
        .into_owned();
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    if let Err(e) = fill(&staging) {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    if out.exists() {
        let retired = parent.join(format!(".{name}.old-{}", std::process::id()));
        fs::rename(out, &retired)
            .with_context(|| format!("cannot move {} aside", out.display()))?;
        fs::rename(&staging, out)
            .with_context(|| format!("cannot rename {} into place", staging.display()))?;
        fs::remove_dir_all(&retired)
            .with_context(|| format!("cannot remove {}", retired.display()))?;
    } else {
        fs::rename(&staging, out)
            .with_context(|| format!("cannot rename {} into place", staging.display()))?;
    }
    Ok(())
}

/// Writes a file through a buffer and flushes it to disk.
pub fn write_file(
    path: &Path,
    body: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut writer = BufWriter::new(file);
    body(&mut writer).with_context(|| format!("cannot write {}", path.display()))?;
    writer.flush()?;
    let file = writer.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
        .with_context(|| format!("cannot flush {}", path.display()))?;
    Ok(())
}

/// Replaces the small text file `path` atomically (write a sibling, then rename): a pointer.
pub fn switch_pointer(path: &Path, value: &str) -> Result<()> {
    let staging = path.with_extension(format!("partial-{}", std::process::id()));
    write_file(&staging, |w| Ok(w.write_all(value.as_bytes())?))?;
    fs::rename(&staging, path).with_context(|| format!("cannot switch {}", path.display()))
}
