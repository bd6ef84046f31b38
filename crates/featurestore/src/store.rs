//! The feature store in Redis: versioned namespaces, pipelined writes, one atomic switch.
//!
//! ```text
//! rsn:v{N}:user:{id}    one schema-versioned value per entity: the edge KV's own encoding,
//! rsn:v{N}:track:{id}   so one GET reads all of an entity's views (one round trip)
//! rsn:v{N}:meta         FeatureSetMeta; written last, so its presence marks N complete
//! rsn:current           the live version: switching it is the publication (one SET); the
//!                       live model is the one its meta names (`model_version`)
//! rsn:versions          sorted set of complete versions
//! rsn:changes           stream, one entry per switch, for `trainer mirror --follow` (≈1,000 kept)
//! rsn:models            sorted set of the models written here, score = when
//! rsn:model:{v}:…       a model's manifest and base64 chunks, written by the materialize that
//!                       first uses it; the mirror copies them as they are
//! ```
//!
//! A publication writes version N in pipelines of `batch` keys, each key with a staging TTL,
//! so a run that dies halfway leaves nothing behind for long and never touches the live
//! version. Versions only increase: N must be above every version Redis knows, whatever the
//! host's clock says. Once every key and the meta are in, the keys are made persistent, the
//! pointer is switched and the change recorded in one MULTI/EXEC; then every other version is
//! deleted except the previous live one (readers holding it finish their work) and those the
//! edge still holds (`rsn:mirrored`: the mirror deletes them there first, then here).

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
/// Entries the change stream keeps (about: trimmed with `MAXLEN ~`). Each is only a wake-up
/// for the mirror, which always copies the live state, so old entries carry nothing.
pub const CHANGES_KEPT: usize = 1000;
/// The version live before the live one (kept by pruning).
pub const PREVIOUS: &str = "rsn:previous";
/// The sorted set of models written to Redis.
pub const MODELS: &str = "rsn:models";
/// How long the keys of an unfinished version live.
pub const STAGING_TTL: Duration = Duration::from_secs(6 * 3600);

/// A model as the store holds it: its version, and its manifest and base64 chunks by key.
pub struct StoredModel {
    /// The model's version.
    pub version: String,
    /// Its KV pairs (`rsn:model:{v}:manifest`, `rsn:model:{v}:chunk:{i}`).
    pub pairs: Vec<(String, String)>,
}

/// The state Redis serves: the live version, the model its meta names, and its layout.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveState {
    /// `rsn:current`.
    pub version: FeatureVersion,
    /// The model whose embeddings it uses.
    pub model: String,
    /// The schema of its values (`FeatureSetMeta::layout`).
    pub layout: u32,
}

/// What a change record announces.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A feature version went live.
    Features(FeatureVersion),
    /// A model went live on its own: written by an older trainer; the model now goes live
    /// with the feature version that names it.
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
    /// Versions deleted (neither the new one, the previous one, nor held by the edge).
    pub deleted: Vec<u64>,
    /// Models deleted from Redis: named by no version it keeps and not held by the edge.
    pub models_deleted: Vec<String>,
    /// Layout 3: the users and the tracks whose value was written (changed, new or gone).
    pub changed: Option<(usize, usize)>,
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

    /// The URL connected to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The connection, for the store's sibling modules.
    pub(crate) fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    pub(crate) fn context(&self, what: &str) -> String {
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
        let previous = self.check_newer(version)?;
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
        // Redis refuses an empty pipeline: a key count that is a multiple of the batch (3,000
        // users and 10,000 tracks in 1,000s) leaves nothing for the last one.
        if !pipe.is_empty() {
            pipe.exec(&mut self.conn)
                .with_context(|| self.context("writing the last batch"))?;
            progress(in_pipe);
        }
        bytes += self.write_meta(version, meta)?;
        written.push(version.meta_key());

        // Complete: keep every key, then switch and record it in one transaction.
        for chunk in written.chunks(batch) {
            let mut pipe = redis::pipe();
            for key in chunk {
                pipe.persist(key).ignore();
            }
            pipe.exec(&mut self.conn)
                .with_context(|| self.context("making the new version persistent"))?;
        }
        let (deleted, models_deleted) = self.switch_to(version, previous, meta)?;
        Ok(Published {
            keys: written.len(),
            bytes,
            previous: previous.map(|v| v.0),
            deleted,
            models_deleted,
            changed: None,
        })
    }

    /// Refuses `version` unless it is above every version Redis knows; returns the live one.
    pub(crate) fn check_newer(
        &mut self,
        version: FeatureVersion,
    ) -> Result<Option<FeatureVersion>> {
        let previous = self.current()?;
        let newest = self.newest_version()?;
        if let Some(newest) = newest.filter(|n| version.0 <= *n) {
            bail!(
                "--feature-version {version} is not newer than {newest}, the newest version Redis \
                 knows (live: {}): versions only increase, so readers and pruning can order them; \
                 leave --feature-version out to take the next one",
                previous.map_or("none".into(), |v| v.to_string())
            );
        }
        Ok(previous)
    }

    /// Writes `version`'s meta with the staging TTL (the caller persists it before the
    /// switch); returns the bytes written.
    pub(crate) fn write_meta(
        &mut self,
        version: FeatureVersion,
        meta: &FeatureSetMeta,
    ) -> Result<usize> {
        let meta_key = version.meta_key();
        let meta_value = serde_json::to_string(meta)?;
        let bytes = meta_key.len() + meta_value.len();
        let _: () = self
            .conn
            .set_ex(&meta_key, meta_value, STAGING_TTL.as_secs())
            .with_context(|| self.context("writing the meta"))?;
        Ok(bytes)
    }

    /// Makes `version` (described by `meta`) live in one transaction (its previous:
    /// `previous`) and records the change; a staged model its meta names is live now, no
    /// longer staged. Then prunes versions and models. Returns what the prune deleted.
    pub(crate) fn switch_to(
        &mut self,
        version: FeatureVersion,
        previous: Option<FeatureVersion>,
        meta: &FeatureSetMeta,
    ) -> Result<(Vec<u64>, Vec<String>)> {
        let model = meta.model_version.as_deref();
        let staged_goes_live = model.is_some() && self.staged()?.as_deref() == model;
        let mut switch = redis::pipe();
        switch.atomic();
        if let Some(previous) = previous {
            switch.set(PREVIOUS, previous.0.to_string()).ignore();
        }
        if staged_goes_live {
            switch.del(crate::staging::STAGED).ignore();
        }
        switch
            .set(keys::CURRENT_FEATURES, version.0.to_string())
            .ignore()
            .zadd(VERSIONS, version.0.to_string(), version.0 as f64)
            .ignore()
            .xadd_maxlen(
                CHANGES,
                redis::streams::StreamMaxlen::Approx(CHANGES_KEPT),
                "*",
                &[("version", version.0.to_string())],
            )
            .ignore()
            .exec(&mut self.conn)
            .with_context(|| self.context("switching rsn:current"))?;
        let deleted = self.prune(version, previous)?;
        let models_deleted = self.prune_models()?;
        self.drop_unread_values()?;
        Ok((deleted, models_deleted))
    }

    /// The version live before the live one, if Redis recorded it.
    pub fn previous(&mut self) -> Result<Option<u64>> {
        let value: Option<String> = self
            .conn
            .get(PREVIOUS)
            .with_context(|| self.context("reading rsn:previous"))?;
        Ok(value.and_then(|v| v.parse().ok()))
    }

    /// The highest version Redis knows: live, complete, or held by the edge.
    pub fn newest_version(&mut self) -> Result<Option<u64>> {
        let mut newest = self.current()?.map(|v| v.0);
        for set in [VERSIONS, crate::erasure::MIRRORED] {
            let top: Vec<u64> = self
                .conn
                .zrevrange(set, 0, 0)
                .with_context(|| self.context("reading the newest version"))?;
            newest = newest.max(top.first().copied());
        }
        // Layout 3's entries of a run that died before its switch: a later version must be
        // above them, or a reader of it would skip them for older ones.
        let entries: Option<u64> = self
            .conn
            .get(crate::values::NEWEST_ENTRIES)
            .with_context(|| self.context("reading the newest version"))?;
        Ok(newest.max(entries))
    }

    /// The version to write when none is asked for: the unix time `now`, or one above the
    /// newest version Redis knows when that is higher (a host whose clock is behind).
    pub fn next_version(&mut self, now: i64) -> Result<FeatureVersion> {
        let newest = self.newest_version()?.unwrap_or(0);
        Ok(FeatureVersion((now.max(1) as u64).max(newest + 1)))
    }

    /// Deletes every complete version but `live`, `previous` and those the edge still holds
    /// (the mirror deletes those there first, [`FeatureStore::drop_version`]).
    fn prune(
        &mut self,
        live: FeatureVersion,
        previous: Option<FeatureVersion>,
    ) -> Result<Vec<u64>> {
        let complete: Vec<u64> = self
            .conn
            .zrange(VERSIONS, 0, -1)
            .with_context(|| self.context("listing versions"))?;
        let at_edge = self.mirrored_versions()?;
        let mut deleted = Vec::new();
        for version in complete {
            if version == live.0
                || Some(version) == previous.map(|v| v.0)
                || at_edge.contains(&version)
            {
                continue;
            }
            self.drop_version(FeatureVersion(version))?;
            deleted.push(version);
        }
        Ok(deleted)
    }

    /// Deletes one version's keys (SCAN, UNLINK) and forgets it.
    pub fn drop_version(&mut self, version: FeatureVersion) -> Result<()> {
        let keys = self.version_keys(version)?;
        for chunk in keys.chunks(1000) {
            let _: () = redis::cmd("UNLINK")
                .arg(chunk)
                .query(&mut self.conn)
                .with_context(|| self.context("deleting an old version"))?;
        }
        let _: () = self
            .conn
            .zrem(VERSIONS, version.0.to_string())
            .with_context(|| self.context("forgetting an old version"))?;
        Ok(())
    }

    /// Every key of a version, its meta first.
    pub fn version_keys(&mut self, version: FeatureVersion) -> Result<Vec<String>> {
        let meta = version.meta_key();
        let mut keys = self.scan(&format!("{}*", version.prefix()))?;
        keys.retain(|k| *k != meta);
        keys.sort();
        keys.insert(0, meta);
        Ok(keys)
    }

    /// The meta of `version`, if Redis holds it.
    pub fn meta(&mut self, version: FeatureVersion) -> Result<Option<FeatureSetMeta>> {
        let text: Option<String> = self
            .conn
            .get(version.meta_key())
            .with_context(|| self.context("reading a meta key"))?;
        text.map(|t| {
            serde_json::from_str(&t)
                .with_context(|| format!("{} is not a feature-set meta", version.meta_key()))
        })
        .transpose()
    }

    /// The live feature version and the model its meta names.
    pub fn live_state(&mut self) -> Result<Option<LiveState>> {
        let Some(version) = self.current()? else {
            return Ok(None);
        };
        let meta = self.meta(version)?.with_context(|| {
            format!("rsn:current names version {version}, whose meta is missing in Redis")
        })?;
        let model = meta
            .model_version
            .with_context(|| format!("the meta of the live version {version} names no model"))?;
        Ok(Some(LiveState {
            version,
            model,
            layout: meta.layout,
        }))
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
    pub(crate) fn scan(&mut self, pattern: &str) -> Result<Vec<String>> {
        let url = self.url.clone();
        let keys: Result<Vec<String>, redis::RedisError> = self
            .conn
            .scan_match::<_, String>(pattern)
            .with_context(|| format!("Redis at {url}: scanning {pattern}"))?
            .collect();
        keys.with_context(|| format!("Redis at {url}: scanning {pattern}"))
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
