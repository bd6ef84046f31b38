//! The feature store in Redis: versioned namespaces, pipelined writes, one atomic switch.
//!
//! ```text
//! rsn:v{N}:user:{id}    one schema-versioned value per entity: the edge KV's own encoding,
//! rsn:v{N}:track:{id}   so one GET reads all of an entity's views (one round trip)
//! rsn:v{N}:meta         FeatureSetMeta; written last, so its presence marks N complete
//! rsn:current           the live version: switching it is the publication (one SET)
//! rsn:versions          sorted set of complete versions
//! rsn:changes           stream, one entry per switch, for `trainer mirror --follow`
//! rsn:model:current     the live model (`trainer publish --model-only --to-redis`), whose
//! rsn:model:{v}:…       manifest and base64 chunks the mirror copies as they are
//! ```
//!
//! A publication writes version N in pipelines of `batch` keys, each key with a staging TTL,
//! so a run that dies halfway leaves nothing behind for long and never touches the live
//! version. Once every key and the meta are in, the keys are made persistent, the pointer is
//! switched and the change recorded in one MULTI/EXEC; then versions older than the
//! previous live one are deleted. The previous one stays until the next switch, so readers
//! holding it finish their work.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::{Commands, Connection};
use resonance_shared::features::FeatureSetMeta;
use resonance_shared::keys::{self, FeatureVersion};

/// The sorted set of complete versions.
pub const VERSIONS: &str = "rsn:versions";
/// The stream of publications.
pub const CHANGES: &str = "rsn:changes";
/// How long the keys of an unfinished version live.
pub const STAGING_TTL: Duration = Duration::from_secs(6 * 3600);

/// A model as the store holds it: its version, and its manifest and base64 chunks by key.
pub struct StoredModel {
    /// The model's version.
    pub version: String,
    /// Its KV pairs (`rsn:model:{v}:manifest`, `rsn:model:{v}:chunk:{i}`).
    pub pairs: Vec<(String, String)>,
}

/// What a change record announces.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A feature version went live.
    Features(FeatureVersion),
    /// A model went live.
    Model(String),
}

/// A connection to the feature store (one Redis).
pub struct FeatureStore {
    pub(crate) conn: Connection,
    pub(crate) url: String,
}

/// What a publication wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Published {
    /// Keys written, the meta included.
    pub keys: usize,
    /// Bytes of keys and values.
    pub bytes: usize,
    /// The version that was live before, now kept as the previous one.
    pub previous: Option<u64>,
    /// Versions deleted as older than the previous one.
    pub deleted: Vec<u64>,
}

impl FeatureStore {
    /// Connects to `url` (`redis://host:port/db`), with a short timeout and a PING.
    pub fn connect(url: &str) -> Result<Self> {
        let client = redis::Client::open(url)
            .with_context(|| format!("REDIS_URL: `{url}` is not a Redis URL"))?;
        let conn = client
            .get_connection_with_timeout(Duration::from_secs(5))
            .with_context(|| {
                format!("cannot connect to Redis at {url} (is redis-server running?)")
            })?;
        let mut store = Self {
            conn,
            url: url.to_string(),
        };
        // A Redis that just restarted answers LOADING while it reads its data back: wait.
        let began = std::time::Instant::now();
        loop {
            let pong: redis::RedisResult<String> = redis::cmd("PING").query(&mut store.conn);
            match pong {
                Ok(_) => return Ok(store),
                Err(e)
                    if e.kind()
                        == redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
                        && began.elapsed() < Duration::from_secs(60) =>
                {
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("Redis at {url} does not answer PING"));
                }
            }
        }
    }

    /// The URL connected to (for messages).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The connection, for the store's sibling modules.
    pub(crate) fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    fn context(&self, what: &str) -> String {
        format!("Redis at {}: {what}", self.url)
    }

    /// The live version, if any; a pointer that is not a version is an error, named.
    pub fn current(&mut self) -> Result<Option<FeatureVersion>> {
        let value: Option<String> = self
            .conn
            .get(keys::CURRENT_FEATURES)
            .with_context(|| self.context("reading the pointer"))?;
        value
            .map(|v| FeatureVersion::parse_pointer(&v).map_err(|e| anyhow::anyhow!("{e}")))
            .transpose()
    }

    /// Writes `pairs` (keys of `version`) and its meta, then makes the version live.
    /// `progress` is told how many keys each pipeline wrote.
    pub fn publish(
        &mut self,
        version: FeatureVersion,
        pairs: impl ExactSizeIterator<Item = (String, String)>,
        meta: &FeatureSetMeta,
        batch: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<Published> {
        let previous = self.current()?;
        if previous == Some(version) {
            bail!(
                "feature version {version} is already live; choose a new one (--feature-version)"
            );
        }
        let staging = STAGING_TTL.as_secs();
        let mut written: Vec<String> = Vec::with_capacity(pairs.len() + 1);
        let mut bytes = 0;
        let mut pipe = redis::pipe();
        let mut in_pipe = 0;
        for (key, value) in pairs {
            bytes += key.len() + value.len();
            pipe.set_ex(&key, value, staging).ignore();
            written.push(key);
            in_pipe += 1;
            if in_pipe == batch {
                pipe.exec(&mut self.conn)
                    .with_context(|| self.context("writing a batch"))?;
                progress(in_pipe);
                resonance_failpoint::reached("materialize-batch");
                pipe = redis::pipe();
                in_pipe = 0;
            }
        }
        let meta_key = version.meta_key();
        let meta_value = serde_json::to_string(meta)?;
        bytes += meta_key.len() + meta_value.len();
        pipe.set_ex(&meta_key, meta_value, staging).ignore();
        written.push(meta_key);
        pipe.exec(&mut self.conn)
            .with_context(|| self.context("writing the last batch"))?;
        progress(in_pipe);

        // Complete: keep every key, then switch and record it in one transaction.
        for chunk in written.chunks(batch) {
            let mut pipe = redis::pipe();
            for key in chunk {
                pipe.persist(key).ignore();
            }
            pipe.exec(&mut self.conn)
                .with_context(|| self.context("making the new version persistent"))?;
        }
        redis::pipe()
            .atomic()
            .set(keys::CURRENT_FEATURES, version.0.to_string())
            .ignore()
            .zadd(VERSIONS, version.0.to_string(), version.0 as f64)
            .ignore()
            .xadd(CHANGES, "*", &[("version", version.0.to_string())])
            .ignore()
            .exec(&mut self.conn)
            .with_context(|| self.context("switching rsn:current"))?;

        let deleted = match previous {
            Some(previous) => self.delete_older_than(previous)?,
            None => Vec::new(),
        };
        Ok(Published {
            keys: written.len(),
            bytes,
            previous: previous.map(|v| v.0),
            deleted,
        })
    }

    /// Deletes every complete version older than `keep` (and its keys).
    fn delete_older_than(&mut self, keep: FeatureVersion) -> Result<Vec<u64>> {
        let old: Vec<u64> = self
            .conn
            .zrangebyscore(VERSIONS, "-inf", format!("({}", keep.0))
            .with_context(|| self.context("listing versions"))?;
        for version in &old {
            let pattern = format!("{}*", FeatureVersion(*version).prefix());
            let keys = self.scan(&pattern)?;
            for chunk in keys.chunks(1000) {
                let _: () = redis::cmd("UNLINK")
                    .arg(chunk)
                    .query(&mut self.conn)
                    .with_context(|| self.context("deleting an old version"))?;
            }
            let _: () = self
                .conn
                .zrem(VERSIONS, version.to_string())
                .with_context(|| self.context("forgetting an old version"))?;
        }
        Ok(old)
    }

    /// Every key and value of a complete version, in batches of `batch` (SCAN, then MGET).
    pub fn read_version(
        &mut self,
        version: FeatureVersion,
        batch: usize,
        mut each: impl FnMut(Vec<(String, String)>) -> Result<()>,
    ) -> Result<usize> {
        let meta: Option<String> = self
            .conn
            .get(version.meta_key())
            .with_context(|| self.context("reading the meta key"))?;
        if meta.is_none() {
            bail!(
                "feature version {version} is incomplete in Redis: {} is missing",
                version.meta_key()
            );
        }
        let pattern = format!("{}*", version.prefix());
        let meta_key = version.meta_key();
        let mut keys: Vec<String> = self.scan(&pattern)?;
        keys.retain(|k| *k != meta_key);
        keys.sort();
        // The meta goes last, as on every sink: its presence marks the version complete.
        keys.push(version.meta_key());
        let mut count = 0;
        for chunk in keys.chunks(batch) {
            let values: Vec<Option<String>> = self
                .conn
                .mget(chunk)
                .with_context(|| self.context("reading values"))?;
            let pairs: Vec<(String, String)> = chunk
                .iter()
                .zip(values)
                .filter_map(|(k, v)| v.map(|v| (k.clone(), v)))
                .collect();
            if pairs.len() != chunk.len() {
                bail!(
                    "feature version {version} changed while it was read (a key vanished); run again"
                );
            }
            count += pairs.len();
            each(pairs)?;
        }
        Ok(count)
    }

    /// Every key matching `pattern` (SCAN, so Redis is never blocked).
    fn scan(&mut self, pattern: &str) -> Result<Vec<String>> {
        let url = self.url.clone();
        let keys: Result<Vec<String>, redis::RedisError> = self
            .conn
            .scan_match::<_, String>(pattern)
            .with_context(|| format!("Redis at {url}: scanning {pattern}"))?
            .collect();
        keys.with_context(|| format!("Redis at {url}: scanning {pattern}"))
    }

    /// Writes a model's keys (manifest, base64 chunks) and makes it the live model in one
    /// transaction with its change record; the edge verifies the checksum when it switches.
    pub fn publish_model(&mut self, version: &str, pairs: Vec<(String, String)>) -> Result<()> {
        let mut pipe = redis::pipe();
        for (key, value) in &pairs {
            pipe.set(key, value).ignore();
        }
        pipe.exec(&mut self.conn)
            .with_context(|| self.context("writing the model"))?;
        redis::pipe()
            .atomic()
            .set(keys::CURRENT_MODEL, version)
            .ignore()
            .xadd(CHANGES, "*", &[("model", version)])
            .ignore()
            .exec(&mut self.conn)
            .with_context(|| self.context("switching rsn:model:current"))
    }

    /// The live model's version and its keys and values (manifest, chunks), if Redis has one.
    pub fn current_model(&mut self) -> Result<Option<StoredModel>> {
        let version: Option<String> = self
            .conn
            .get(keys::CURRENT_MODEL)
            .with_context(|| self.context("reading the model pointer"))?;
        let Some(version) = version else {
            return Ok(None);
        };
        let mut model_keys = self.scan(&format!("rsn:model:{version}:*"))?;
        model_keys.sort();
        let values: Vec<Option<String>> = self
            .conn
            .mget(&model_keys)
            .with_context(|| self.context("reading the model"))?;
        let pairs = model_keys
            .into_iter()
            .zip(values)
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        Ok(Some(StoredModel { version, pairs }))
    }

    /// Joins `group` on the change stream (created at its start, so no publication is missed).
    pub fn join_changes(&mut self, group: &str) -> Result<()> {
        let created: redis::RedisResult<()> = self.conn.xgroup_create_mkstream(CHANGES, group, "0");
        match created {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(e).with_context(|| self.context("joining the change stream")),
        }
    }

    /// The next change records for `consumer`: its own unacknowledged ones when `pending`,
    /// else new ones (waiting up to a second). Each is (record id, version).
    pub fn read_changes(
        &mut self,
        group: &str,
        consumer: &str,
        pending: bool,
    ) -> Result<Vec<(String, Change)>> {
        let mut options = StreamReadOptions::default()
            .group(group, consumer)
            .count(10);
        if !pending {
            options = options.block(1000);
        }
        let start = if pending { "0" } else { ">" };
        let reply: Option<StreamReadReply> = self
            .conn
            .xread_options(&[CHANGES], &[start], &options)
            .with_context(|| self.context("reading the change stream"))?;
        let mut records = Vec::new();
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in key.ids {
                let version: Option<String> = entry.get("version");
                let model: Option<String> = entry.get("model");
                let change = match (version.and_then(|v| v.parse().ok()), model) {
                    (Some(v), _) => Change::Features(FeatureVersion(v)),
                    (None, Some(m)) => Change::Model(m),
                    _ => bail!("change record {} names no version and no model", entry.id),
                };
                records.push((entry.id, change));
            }
        }
        Ok(records)
    }

    /// Acknowledges a change record: its version is on the edge.
    pub fn ack_change(&mut self, group: &str, id: &str) -> Result<()> {
        let _: u64 = self
            .conn
            .xack(CHANGES, group, &[id])
            .with_context(|| self.context("acknowledging a change record"))?;
        Ok(())
    }

    /// One stored value (a user or track bundle, or the meta), in one round trip.
    pub fn get(&mut self, key: &str) -> Result<Option<String>> {
        self.conn
            .get(key)
            .with_context(|| self.context("reading a value"))
    }
}
