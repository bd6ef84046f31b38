//! Reading delimited files row by row with errors that say `file:line: field: what is wrong`.
//!
//! A reader either stops at the first bad row ([`BadRowPolicy::Stop`], the default) or skips
//! bad rows, counting them per field and keeping the first few messages for the report
//! ([`BadRowPolicy::Skip`]). Structural problems (an empty file, missing columns) always stop.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use flate2::read::MultiGzDecoder;
use resonance_shared::FieldError;

/// What to do with a row that fails validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadRowPolicy {
    /// Fail on the first bad row (the default).
    #[default]
    Stop,
    /// Skip bad rows, counting them in the [`ReadReport`].
    Skip,
}

/// How many example messages a report keeps.
const KEPT_EXAMPLES: usize = 10;

/// One bad row.
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    /// The file the row is in.
    pub file: PathBuf,
    /// The row's line number in the file, from 1 (the header is line 1).
    pub line: u64,
    /// The offending field and what is wrong with it.
    pub error: FieldError,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.error)
    }
}

impl std::error::Error for RowError {}

/// What reading one file found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadReport {
    /// Data rows read, bad ones included (the header is not counted).
    pub rows: u64,
    /// Rows that validated and were kept.
    pub accepted: u64,
    /// Skipped rows per offending field.
    pub skipped_by_field: BTreeMap<String, u64>,
    /// The first few skipped rows' messages.
    pub examples: Vec<String>,
}

impl ReadReport {
    /// Rows skipped under [`BadRowPolicy::Skip`], all fields together.
    pub fn skipped(&self) -> u64 {
        self.skipped_by_field.values().sum()
    }

    /// Records a bad row, or returns it as the error under [`BadRowPolicy::Stop`].
    pub fn reject(&mut self, policy: BadRowPolicy, error: RowError) -> Result<()> {
        match policy {
            BadRowPolicy::Stop => Err(anyhow::Error::new(error).context(
                "stopped at the first bad row (pass --skip-bad to skip and count bad rows instead)",
            )),
            BadRowPolicy::Skip => {
                *self
                    .skipped_by_field
                    .entry(error.error.field.clone())
                    .or_default() += 1;
                if self.examples.len() < KEPT_EXAMPLES {
                    self.examples.push(error.to_string());
                }
                Ok(())
            }
        }
    }

    /// A few lines for the terminal.
    pub fn summary(&self, what: &str) -> String {
        let mut out = format!("{what}: {} rows, {} accepted", self.rows, self.accepted);
        if self.skipped() > 0 {
            let by_field: Vec<_> = self
                .skipped_by_field
                .iter()
                .map(|(field, n)| format!("{field}: {n}"))
                .collect();
            out.push_str(&format!(
                ", {} skipped ({})",
                self.skipped(),
                by_field.join(", ")
            ));
            for example in &self.examples {
                out.push_str(&format!("\n    {example}"));
            }
        }
        out
    }
}

/// The layout of a delimited file.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// The byte between fields: `,` or a tab.
    pub delimiter: u8,
    /// RecBole headers name columns as `name:type`; strip the `:type`.
    pub strip_type_suffix: bool,
}

impl Dialect {
    /// Comma-separated with plain headers: the canonical format.
    pub const CSV: Dialect = Dialect {
        delimiter: b',',
        strip_type_suffix: false,
    };
    /// RecBole's atomic files (`.inter`, `.item`): tab-separated, headers typed as `name:type`.
    pub const RECBOLE: Dialect = Dialect {
        delimiter: b'\t',
        strip_type_suffix: true,
    };
}

/// A delimited file opened for reading, with its header resolved to column positions.
pub struct DelimitedFile {
    /// The file, for error messages.
    pub path: PathBuf,
    reader: csv::Reader<Box<dyn Read>>,
    header: Vec<String>,
}

impl DelimitedFile {
    /// Opens `path` (gunzipping `*.gz`) and reads its header.
    pub fn open(path: &Path, dialect: Dialect) -> Result<Self> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let raw: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
            Box::new(MultiGzDecoder::new(BufReader::new(file)))
        } else {
            Box::new(BufReader::new(file))
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(dialect.delimiter)
            .flexible(false)
            // RecBole's token_seq columns may hold stray quotes; only CSV quotes.
            .quoting(dialect.delimiter == b',')
            .from_reader(raw);
        let header = reader
            .headers()
            .with_context(|| format!("{}:1: cannot read the header", path.display()))?
            .iter()
            .map(|h| {
                let h = h.trim().trim_start_matches('\u{feff}');
                let h = if dialect.strip_type_suffix {
                    h.split(':').next().unwrap_or(h)
                } else {
                    h
                };
                h.to_ascii_lowercase()
            })
            .collect::<Vec<_>>();
        if header.iter().all(|h| h.is_empty()) {
            bail!(
                "{}: the file is empty (expected a header line naming the columns)",
                path.display()
            );
        }
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            header,
        })
    }

    /// The position of the first column named any of `names`.
    pub fn column(&self, names: &[&str]) -> Option<usize> {
        names
            .iter()
            .find_map(|n| self.header.iter().position(|h| h == n))
    }

    /// Like [`Self::column`], but a missing column is an error naming what was expected.
    pub fn require(&self, what: &str, names: &[&str]) -> Result<usize> {
        self.column(names).with_context(|| {
            format!(
                "{}:1: missing column `{what}` (looked for {}; the header has {})",
                self.path.display(),
                names.join(", "),
                self.header.join(", ")
            )
        })
    }

    /// Calls `each(line, record)` for every data row. A row with the wrong number of fields
    /// is a bad row like any other; an unreadable file is an error.
    pub fn for_each_row(
        &mut self,
        report: &mut ReadReport,
        policy: BadRowPolicy,
        mut each: impl FnMut(u64, &csv::StringRecord, &mut ReadReport) -> Result<()>,
    ) -> Result<()> {
        let mut record = csv::StringRecord::new();
        loop {
            match self.reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    report.rows += 1;
                    let line = record.position().map_or(0, |p| p.line());
                    each(line, &record, report)?;
                }
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    match e.kind() {
                        csv::ErrorKind::UnequalLengths {
                            expected_len, len, ..
                        } => {
                            report.rows += 1;
                            let error = FieldError::new(
                                "row",
                                format!("has {len} fields, the header has {expected_len}"),
                            );
                            report.reject(
                                policy,
                                RowError {
                                    file: self.path.clone(),
                                    line,
                                    error,
                                },
                            )?;
                        }
                        _ => {
                            return Err(anyhow::Error::new(e)).with_context(|| {
                                format!("{}:{line}: cannot read the row", self.path.display())
                            });
                        }
                    }
                }
            }
        }
        if report.rows == 0 {
            bail!("{}: has a header but no rows", self.path.display());
        }
        Ok(())
    }
}

/// A cell by column, trimmed; missing optional columns read as "".
pub fn cell(record: &csv::StringRecord, column: Option<usize>) -> &str {
    column.and_then(|c| record.get(c)).unwrap_or("").trim()
}

/// Parses a cell, naming the field on failure. Empty means `None`.
pub fn parse_optional<T: std::str::FromStr>(
    field: &str,
    text: &str,
) -> Result<Option<T>, FieldError>
where
    T::Err: fmt::Display,
{
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<T>()
        .map(Some)
        .map_err(|e| FieldError::new(field, format!("{text:?} is not valid: {e}")))
}

/// Parses a required cell, naming the field on failure.
pub fn parse_required<T: std::str::FromStr>(field: &str, text: &str) -> Result<T, FieldError>
where
    T::Err: fmt::Display,
{
    parse_optional(field, text)?.ok_or_else(|| FieldError::new(field, "is empty"))
}
