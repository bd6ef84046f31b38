//! Layout 3 in Redis and at the edge: one key per entity for every version, written when the
//! entity's value changes (`resonance_shared::versioned`).
//!
//! ```text
//! rsn:user:{id}, rsn:track:{id}   the entity's values by version (Redis and the edge)
//! rsn:fp:user, rsn:fp:track       Redis hash: id → fingerprint of the newest value ("-": removed)
//! rsn:edge:fp:user, …:track       Redis hash: id → the fingerprint the mirror wrote to the edge
//! rsn:values:newest               the highest version whose entries were written
//! ```
//!
//! `materialize` fingerprints every entity's value and writes only those that differ from
//! `rsn:fp:*`, each with the entries the held versions still read (Redis's live and previous,
//! and every version the edge holds); the mirror compares the two records and copies only
//! what the edge lacks. Each batch writes values and fingerprints in one transaction, so a
//! fingerprint always describes its value's newest entry: a run killed halfway leaves entries
//! of a version that never went live, which no reader selects, and the next run (a higher
//! version) finds them by fingerprint, rewriting exactly what differs.

use std::collections::{BTreeSet, HashMap, HashSet};

use anyhow::{Context, Result};
use redis::Commands;
use resonance_shared::api::KvWrite;
use resonance_shared::features::FeatureSetMeta;
use resonance_shared::keys::{self, Entity, FeatureVersion};
use resonance_shared::versioned::{self, Versioned};
use serde_json::Value;

use crate::sinks::EdgeSink;
use crate::store::{FeatureStore, Published};

/// The highest version whose entries were written (set before the first): versions only
/// increase above it too (`FeatureStore::newest_version`).
pub const NEWEST_ENTRIES: &str = "rsn:values:newest";

/// The fingerprint a removed entity keeps in Redis's record until no held version reads it.
pub const REMOVED: &str = "-";

/// Redis's record of the fingerprints of one kind of entity's values.
pub fn fingerprints_key(entity: Entity) -> String {
    format!("rsn:fp:{}", entity.as_str())
}

/// The mirror's record of the fingerprints it wrote to the edge.
pub fn edge_fingerprints_key(entity: Entity) -> String {
    format!("rsn:edge:fp:{}", entity.as_str())
}

/// One entity's value of a version as a writer has it: the text of
/// `versioned::encode_value` (layout 2's shape, without a schema field).
pub struct EntityValue {
    /// User or track.
    pub entity: Entity,
    /// Its id.
    pub id: String,
    /// The value's text.
    pub text: String,
}

/// What copying one kind of fingerprinted values to the edge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Copied {
    /// Values written.
    pub written: usize,
    /// Values the edge held already.
    pub unchanged: usize,
    /// Keys deleted at the edge (gone from Redis).
    pub deleted: usize,
    /// Bytes of the keys and values written.
    pub bytes: usize,
}

/// Two records of one kind of value: what Redis stores, and what the mirror wrote to the edge.
pub struct Records<'a> {
    /// Redis's record (key → fingerprint).
    pub stored: &'a str,
    /// The mirror's record of the edge.
    pub at_edge: &'a str,
    /// The failpoint reached after each batch the sink took, if any.
    pub failpoint: Option<&'static str>,
}

impl FeatureStore {
    /// A hash (HSCAN, so Redis is never blocked by a big one).
    pub(crate) fn hash(&mut self, key: &str) -> Result<HashMap<String, String>> {
        let url = self.url().to_string();
        let iter: redis::Iter<(String, String)> = self
            .connection()
            .hscan(key)
            .with_context(|| format!("Redis at {url}: reading {key}"))?;
        iter.collect::<Result<_, _>>()
            .with_context(|| format!("Redis at {url}: reading {key}"))
    }

    /// The layout-3 entity keys the mirror wrote to the edge (its records' sizes).
    pub fn edge_value_keys(&mut self) -> Result<usize> {
        self.recorded_values(edge_fingerprints_key)
    }

    /// How many entity values the records `record_of` names (Redis's own, or the edge's).
    fn recorded_values(&mut self, record_of: fn(Entity) -> String) -> Result<usize> {
        let url = self.url().to_string();
        let mut total = 0;
        for entity in [Entity::User, Entity::Track] {
            let key = record_of(entity);
            let n: usize = self
                .connection()
                .hlen(&key)
                .with_context(|| format!("Redis at {url}: reading {key}"))?;
            total += n;
        }
        Ok(total)
    }

    /// The versions a reader may still ask for: Redis's live and previous, and every version
    /// the edge holds.
    pub fn held_versions(&mut self) -> Result<BTreeSet<u64>> {
        let mut held = self.mirrored_versions()?;
        held.extend(self.current()?.map(|v| v.0));
        held.extend(self.previous()?);
        Ok(held)
    }

    /// Whether any of `versions` is of layout 3 (reads the entities' values keys); a version
    /// whose meta Redis lacks counts as one, so nothing is deleted on a guess.
    fn reads_values(&mut self, versions: BTreeSet<u64>) -> Result<bool> {
        for version in versions {
            let layout = self.meta(FeatureVersion(version))?.map(|m| m.layout);
            if layout.is_none_or(|layout| layout >= versioned::VERSIONED_LAYOUT) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The ids one record names, sorted.
    fn record_ids(&mut self, record: &str) -> Result<Vec<String>> {
        let mut ids: Vec<String> = self.hash(record)?.into_keys().collect();
        ids.sort();
        Ok(ids)
    }

    /// Deletes layout 3's values from Redis once no version a reader may ask for is of
    /// layout 3 (an edge moved back to layout 2), with their records; returns the keys
    /// deleted. The next `--layout 3` then writes every value again, as on its first day.
    pub(crate) fn drop_unread_values(&mut self) -> Result<usize> {
        // Two HLENs before any meta is read: this runs at every switch and every clean-up
        // (an idle `mirror --follow` cleans up about once a second), nearly always on none.
        if self.recorded_values(fingerprints_key)? == 0 {
            return Ok(0);
        }
        let held = self.held_versions()?;
        if self.reads_values(held)? {
            return Ok(0);
        }
        let url = self.url().to_string();
        let mut deleted = 0;
        for entity in [Entity::User, Entity::Track] {
            let record = fingerprints_key(entity);
            let ids = self.record_ids(&record)?;
            for chunk in ids.chunks(1000) {
                let names: Vec<String> = chunk
                    .iter()
                    .map(|id| keys::values_key(entity, id))
                    .collect();
                let _: () = redis::pipe()
                    .atomic()
                    .unlink(&names)
                    .ignore()
                    .hdel(&record, chunk)
                    .ignore()
                    .query(self.connection())
                    .with_context(|| format!("Redis at {url}: deleting unread values"))?;
                deleted += names.len();
            }
        }
        Ok(deleted)
    }

    /// The edge's layout-3 values, once no version the edge holds is of layout 3: their
    /// keys (from the mirror's records, never by listing the KV), to delete there before
    /// [`FeatureStore::forget_edge_values`]. Empty while one is, or none was written.
    pub fn edge_values_unread(&mut self) -> Result<Vec<String>> {
        if self.edge_value_keys()? == 0 {
            return Ok(Vec::new());
        }
        let at_edge = self.mirrored_versions()?;
        if self.reads_values(at_edge)? {
            return Ok(Vec::new());
        }
        let mut names = Vec::new();
        for entity in [Entity::User, Entity::Track] {
            let ids = self.record_ids(&edge_fingerprints_key(entity))?;
            names.extend(ids.iter().map(|id| keys::values_key(entity, id)));
        }
        Ok(names)
    }

    /// Forgets the mirror's records of the edge's layout-3 values (after deleting them there).
    pub fn forget_edge_values(&mut self) -> Result<()> {
        let url = self.url().to_string();
        let records = [Entity::User, Entity::Track].map(edge_fingerprints_key);
        let _: () = self
            .connection()
            .del(&records)
            .with_context(|| format!("Redis at {url}: forgetting the edge's values"))?;
        Ok(())
    }

    /// Writes `version` of layout 3: the values that changed since the newest one written,
    /// a tombstone for each entity gone, its meta; then makes it live as
    /// [`FeatureStore::publish`] does. `progress` is told how many entities each batch
    /// checked.
    pub fn publish_changed(
        &mut self,
        version: FeatureVersion,
        values: Vec<EntityValue>,
        meta: &FeatureSetMeta,
        batch: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<Published> {
        let previous = self.check_newer(version)?;
        let held: Vec<u64> = self.held_versions()?.into_iter().collect();
        let url = self.url().to_string();
        let _: () = self
            .connection()
            .set(NEWEST_ENTRIES, version.0)
            .with_context(|| format!("Redis at {url}: recording {NEWEST_ENTRIES}"))?;
        let mut keys = 0;
        let mut bytes = 0;
        let mut changed = [0, 0];
        for (kind, entity) in [Entity::User, Entity::Track].into_iter().enumerate() {
            let record = fingerprints_key(entity);
            let known = self.hash(&record)?;
            let mut present = HashSet::new();
            // (id, the new value's text and fingerprint; None: removed)
            let mut changes: Vec<(String, Option<(String, String)>)> = Vec::new();
            for value in values.iter().filter(|v| v.entity == entity) {
                present.insert(value.id.as_str());
                let fingerprint = versioned::fingerprint(&value.text);
                if known.get(&value.id) != Some(&fingerprint) {
                    changes.push((value.id.clone(), Some((value.text.clone(), fingerprint))));
                }
            }
            // Gone: a tombstone, or (already one) the key's deletion once no one reads it.
            for id in known.keys().filter(|id| !present.contains(id.as_str())) {
                changes.push((id.clone(), None));
            }
            changes.sort_by(|a, b| a.0.cmp(&b.0));
            changed[kind] = changes.len();
            for chunk in changes.chunks(batch.max(1)) {
                let (k, b) = self.write_values(entity, version, chunk, &known, &held)?;
                keys += k;
                bytes += b;
                progress(chunk.len());
                resonance_failpoint::reached("materialize-batch");
            }
        }
        bytes += self.write_meta(version, meta)?;
        let _: () = self
            .connection()
            .persist(version.meta_key())
            .context("making the meta persistent")?;
        let (deleted, models_deleted) = self.switch_to(version, previous, meta)?;
        Ok(Published {
            keys: keys + 1,
            bytes,
            previous: previous.map(|v| v.0),
            deleted,
            models_deleted,
            changed: Some((changed[0], changed[1])),
        })
    }

    /// One batch of changes of one kind, in one transaction: each value gets its entry of
    /// `version` (keeping what `held` reads), or is deleted once nothing reads it. Returns
    /// the keys written and their bytes.
    fn write_values(
        &mut self,
        entity: Entity,
        version: FeatureVersion,
        changes: &[(String, Option<(String, String)>)],
        known: &HashMap<String, String>,
        held: &[u64],
    ) -> Result<(usize, usize)> {
        let url = self.url().to_string();
        let record = fingerprints_key(entity);
        let names: Vec<String> = changes
            .iter()
            .map(|(id, _)| keys::values_key(entity, id))
            .collect();
        let stored: Vec<Option<String>> = self
            .connection()
            .mget(&names)
            .with_context(|| format!("Redis at {url}: reading {}s' values", entity.as_str()))?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        let (mut keys, mut bytes) = (0, 0);
        for ((name, (id, change)), old) in names.iter().zip(changes).zip(stored) {
            let old: Versioned<Value> = match old {
                Some(text) => versioned::decode(&text)
                    .with_context(|| format!("Redis at {url}: reading {name}"))?,
                None => Versioned::default(),
            };
            let (value, fingerprint) = match change {
                Some((text, fingerprint)) => {
                    (Some(serde_json::from_str(text)?), fingerprint.as_str())
                }
                // A removed entity already marked: only its deletion may be due.
                None if known.get(id).map(String::as_str) == Some(REMOVED) => {
                    if old.is_dead(held) {
                        pipe.del(name).ignore().hdel(&record, id).ignore();
                    }
                    continue;
                }
                None => (None, REMOVED),
            };
            let next = old.with(version.0, value, held);
            if next.is_dead(held) {
                pipe.del(name).ignore().hdel(&record, id).ignore();
                continue;
            }
            let text = versioned::encode(&next);
            keys += 1;
            bytes += name.len() + text.len();
            pipe.set(name, text)
                .ignore()
                .hset(&record, id, fingerprint)
                .ignore();
        }
        // A batch of entities already marked gone, none yet deletable, writes nothing (and
        // Redis refuses an empty pipeline).
        if !pipe.is_empty() {
            pipe.exec(self.connection())
                .with_context(|| format!("Redis at {url}: writing {}s' values", entity.as_str()))?;
        }
        Ok((keys, bytes))
    }

    /// Copies to the edge the values whose fingerprint in `records.stored` differs from the
    /// mirror's record of the edge (`key_of` names a value's key), `batch` a write, and
    /// records each batch after the sink took it; with `delete_gone`, a value the edge holds
    /// that Redis no longer records is deleted there. The record is read before the values,
    /// and a batch of values and fingerprints is written in one transaction, so a value
    /// copied is never older than the fingerprint recorded for it (at worst newer: copied
    /// again next time).
    pub fn copy_changed(
        &mut self,
        records: Records<'_>,
        key_of: &dyn Fn(&str) -> String,
        delete_gone: bool,
        sink: &dyn EdgeSink,
        batch: usize,
    ) -> Result<Copied> {
        let stored = self.hash(records.stored)?;
        let at_edge = self.hash(records.at_edge)?;
        let mut changed: Vec<(&String, &String)> = stored
            .iter()
            .filter(|(id, fingerprint)| at_edge.get(*id) != Some(fingerprint))
            .collect();
        changed.sort();
        let url = self.url().to_string();
        let mut copied = Copied {
            unchanged: stored.len() - changed.len(),
            ..Default::default()
        };
        for chunk in changed.chunks(batch.max(1)) {
            let names: Vec<String> = chunk.iter().map(|(id, _)| key_of(id)).collect();
            let values: Vec<Option<String>> = self
                .connection()
                .mget(&names)
                .with_context(|| format!("Redis at {url}: reading values to copy"))?;
            let mut written = Vec::new();
            let writes: Vec<KvWrite> = names
                .into_iter()
                .zip(values)
                .zip(chunk)
                .filter_map(|((key, value), (id, fingerprint))| {
                    // Gone since the record was read (`trainer forget`): not copied.
                    let value = value?;
                    written.push((id.as_str(), fingerprint.as_str()));
                    Some(KvWrite {
                        key,
                        value,
                        base64: false,
                        expiration_ttl: None,
                    })
                })
                .collect();
            if writes.is_empty() {
                continue;
            }
            sink.write(&writes)?;
            copied.written += writes.len();
            copied.bytes += writes
                .iter()
                .map(|w| w.key.len() + w.value.len())
                .sum::<usize>();
            let _: () = self
                .connection()
                .hset_multiple(records.at_edge, &written)
                .with_context(|| format!("Redis at {url}: recording {}", records.at_edge))?;
            if let Some(point) = records.failpoint {
                resonance_failpoint::reached(point);
            }
        }
        if delete_gone {
            let mut gone: Vec<&String> = at_edge
                .keys()
                .filter(|id| !stored.contains_key(*id))
                .collect();
            gone.sort();
            for chunk in gone.chunks(batch.max(1)) {
                let names: Vec<String> = chunk.iter().map(|id| key_of(id)).collect();
                sink.delete(&names)?;
                copied.deleted += names.len();
                let _: () = self
                    .connection()
                    .hdel(records.at_edge, chunk)
                    .with_context(|| format!("Redis at {url}: recording {}", records.at_edge))?;
            }
        }
        Ok(copied)
    }

    /// Copies layout 3's changed values of both kinds to the edge (before a switch).
    pub fn mirror_values(&mut self, sink: &dyn EdgeSink, batch: usize) -> Result<Copied> {
        let mut total = Copied::default();
        for entity in [Entity::User, Entity::Track] {
            let (stored, at_edge) = (fingerprints_key(entity), edge_fingerprints_key(entity));
            let records = Records {
                stored: &stored,
                at_edge: &at_edge,
                failpoint: Some(resonance_failpoint::mirror::BATCH),
            };
            let key_of = move |id: &str| keys::values_key(entity, id);
            let copied = self.copy_changed(records, &key_of, true, sink, batch)?;
            total.written += copied.written;
            total.unchanged += copied.unchanged;
            total.deleted += copied.deleted;
            total.bytes += copied.bytes;
        }
        Ok(total)
    }
}
