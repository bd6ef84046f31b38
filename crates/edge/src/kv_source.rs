//! Features from the edge KV: one value per entity, read through the isolate's caches, with
//! cache misses fetched by KV's bulk get ([`BULK_GET_KEYS`] keys a call), all calls concurrent.
//!
//! Track values of layout 2 leave their embedding in the model's namespace: the misses'
//! embeddings are read in the same round of bulk gets as their values, from the model the state
//! names (never another), and the track is cached whole. A listener's stored encoder state
//! (`rsn:model:{m}:state:{id}`) is read like a user, and cached as long.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures_util::future::join_all;
use resonance_shared::features::{self, TrackFeatures, UserFeatures};
use resonance_shared::keys::{self, Entity, FeatureVersion};
use resonance_shared::state::UserState;
use resonance_shared::versioned;

use crate::cache::TtlCache;
use crate::kv::{BULK_GET_KEYS, Kv, KvError};
use crate::source::{
    FeatureSource, SourceError, TrackLookup, decode_entry, decode_track, decode_track_entry,
    decode_value,
};

/// KV's edge cache for reads, in seconds (60 is Cloudflare's minimum).
pub const KV_CACHE_TTL_SECONDS: u64 = 60;

/// How long an isolate keeps a whole track value: an hour. A version's values never change
/// (versions only increase, and a new state is a new version, keyed apart), so a track read
/// whole need not be read again while its version serves; expiring it with the users, every
/// 60 s and all at once (they were read in the same first seconds), made every isolate
/// re-read its whole catalogue in a burst, which was the tail of the latency. Misses and
/// tracks without their embedding (keys not yet visible: KV is eventually consistent) keep
/// the short TTL, and so do users, whom `trainer forget` deletes at the edge: another isolate
/// must stop serving them within it.
pub const WHOLE_TRACK_CACHE_MS: f64 = 3_600_000.0;

/// Decoded values of one isolate, by key (`None`: the key is not stored).
pub struct FeatureCaches {
    /// Users by key.
    pub users: RefCell<TtlCache<String, Option<Arc<UserFeatures>>>>,
    /// Tracks by key.
    pub tracks: RefCell<TtlCache<String, Option<Arc<TrackFeatures>>>>,
    /// Stored encoder states by key, as long as users (`trainer forget` deletes both).
    pub states: RefCell<TtlCache<String, Option<Arc<UserState>>>>,
}

impl FeatureCaches {
    /// At most `capacity` entries of each kind, each for `ttl_ms`.
    pub fn new(capacity: usize, ttl_ms: f64) -> Self {
        FeatureCaches {
            users: RefCell::new(TtlCache::new(capacity, ttl_ms)),
            tracks: RefCell::new(TtlCache::new(capacity, ttl_ms)),
            states: RefCell::new(TtlCache::new(capacity, ttl_ms)),
        }
    }

    /// Forgets every value.
    pub fn clear(&self) {
        self.users.borrow_mut().clear();
        self.tracks.borrow_mut().clear();
        self.states.borrow_mut().clear();
    }
}

/// A [`FeatureSource`] over a [`Kv`] at one feature version.
pub struct KvSource<'a, K: Kv> {
    /// The store.
    pub kv: &'a K,
    /// The isolate's caches.
    pub caches: &'a FeatureCaches,
    /// The version read; `None` reads nothing (no version is live).
    pub version: Option<FeatureVersion>,
    /// The model of the state (version, d), whose namespace holds the embeddings of layout 2;
    /// `None` while it cannot be served (tracks are then read without their embeddings).
    pub model: Option<(&'a str, usize)>,
    /// Whether that model keeps embeddings in its namespace (published with them), so a
    /// missed track's embedding is asked for with its value, in the same round trip.
    pub embeddings_apart: bool,
    /// The version's layout: from 3 an entity's values for every version are under one key
    /// (`resonance_shared::versioned`), the version's entry read from it.
    pub layout: u32,
    /// Milliseconds, for the caches.
    pub now: f64,
}

impl<K: Kv> KvSource<'_, K> {
    /// One value by key, from `cache` or else KV (cached either way, `None` included).
    async fn read_through<T>(
        &self,
        cache: &RefCell<TtlCache<String, Option<Arc<T>>>>,
        key: String,
        decode: impl FnOnce(&str, &str) -> Result<Option<T>, SourceError>,
    ) -> Result<Option<Arc<T>>, SourceError> {
        let cached = self.cache_key(&key).into_owned();
        if let Some(hit) = cache.borrow_mut().get(&cached, self.now) {
            return Ok(hit);
        }
        let text = self
            .kv
            .get_text(&key, Some(KV_CACHE_TTL_SECONDS))
            .await
            .map_err(|e| SourceError::Unavailable(e.to_string()))?;
        let value = match text {
            Some(text) => decode(&key, &text)?.map(Arc::new),
            None => None,
        };
        cache.borrow_mut().insert(cached, value.clone(), self.now);
        Ok(value)
    }

    fn versioned(&self) -> bool {
        self.layout >= versioned::VERSIONED_LAYOUT
    }

    /// The key of an entity's value read for the version.
    fn entity_key(&self, version: FeatureVersion, entity: Entity, id: &str) -> String {
        if self.versioned() {
            keys::values_key(entity, id)
        } else {
            version.entity_key(entity, id)
        }
    }

    /// The cache's key for a KV key: the key itself, whose value never changes while its
    /// version serves, except for layout 3's entity keys, which hold every version's value,
    /// cached for the one read.
    fn cache_key<'k>(&self, key: &'k str) -> Cow<'k, str> {
        match self
            .version
            .filter(|_| self.versioned() && !key.starts_with("rsn:model:"))
        {
            Some(version) => {
                // `{key}@{version}`, without format!: one per candidate of every rerank.
                let mut digits = itoa::Buffer::new();
                Cow::Owned(keys::concat(&[key, "@", digits.format(version.0)]))
            }
            None => Cow::Borrowed(key),
        }
    }

    /// The track id of `key`, a track's key as this source reads it.
    fn track_id<'k>(&self, version: FeatureVersion, key: &'k str) -> Option<&'k str> {
        if self.versioned() {
            return key.strip_prefix("rsn:track:");
        }
        track_id(version, key)
    }

    /// A track's value as read for the version (`None`: not stored in it).
    fn decode_track(
        &self,
        version: FeatureVersion,
        key: &str,
        text: &str,
    ) -> Result<Option<TrackFeatures>, SourceError> {
        if self.versioned() {
            decode_track_entry(key, text, version)
        } else {
            decode_track(key, text).map(Some)
        }
    }
}

impl<K: Kv> FeatureSource for KvSource<'_, K> {
    async fn version(&self) -> Result<Option<FeatureVersion>, SourceError> {
        Ok(self.version)
    }

    async fn user(&self, id: &str) -> Result<Option<Arc<UserFeatures>>, SourceError> {
        let Some(version) = self.version else {
            return Ok(None);
        };
        let key = self.entity_key(version, Entity::User, id);
        let versioned = self.versioned();
        self.read_through(&self.caches.users, key, |key, text| {
            if versioned {
                decode_entry(key, text, version)
            } else {
                decode_value(key, text).map(Some)
            }
        })
        .await
    }

    async fn user_state(
        &self,
        (model, dim): (&str, usize),
        id: &str,
    ) -> Result<Option<Arc<UserState>>, SourceError> {
        let key = keys::model_state_key(model, id);
        self.read_through(&self.caches.states, key, |key, text| {
            UserState::decode(text, dim)
                .map(Some)
                .map_err(|e| SourceError::Incompatible {
                    key: key.to_string(),
                    message: e.to_string(),
                })
        })
        .await
    }

    async fn tracks(&self, ids: &[&str]) -> Vec<TrackLookup> {
        let Some(version) = self.version else {
            return ids.iter().map(|_| Ok(None)).collect();
        };
        // A cache hit is answered in its place; only misses are keyed by map (a warm
        // isolate's rerank then builds none: bench/profile.sh).
        let mut answers: Vec<Option<TrackLookup>> = Vec::with_capacity(ids.len());
        let mut missed: Vec<(usize, String)> = Vec::new();
        {
            let mut cache = self.caches.tracks.borrow_mut();
            for (i, id) in ids.iter().enumerate() {
                let key = self.entity_key(version, Entity::Track, id);
                match cache.get(self.cache_key(&key).as_ref(), self.now) {
                    Some(hit) => answers.push(Some(Ok(hit))),
                    None => {
                        answers.push(None);
                        missed.push((i, key));
                    }
                }
            }
        }
        if !missed.is_empty() {
            // Each key once, in request order (which keys share a bulk call stays as it was).
            let mut asked = foldhash::HashSet::default();
            let misses: Vec<&str> = missed
                .iter()
                .map(|(_, key)| key.as_str())
                .filter(|key| asked.insert(*key))
                .collect();
            let found = self.read_misses(version, &misses).await;
            for (i, key) in &missed {
                // `get`, not `remove`: an id asked for twice gets its answer twice.
                answers[*i] = Some(found.get(key.as_str()).cloned().unwrap_or(Ok(None)));
            }
        }
        answers
            .into_iter()
            .map(|answer| answer.expect("every id is answered"))
            .collect()
    }
}

/// One bulk get's keys and what KV answered for them.
type BulkAnswer<'k> = (
    &'k [&'k str],
    Result<HashMap<String, Option<String>>, KvError>,
);

impl<K: Kv> KvSource<'_, K> {
    /// Reads the tracks of `misses` (distinct keys no cache holds) with their embeddings, in
    /// one round of bulk gets, and caches what was read.
    async fn read_misses<'k>(
        &self,
        version: FeatureVersion,
        misses: &[&'k str],
    ) -> foldhash::HashMap<&'k str, TrackLookup> {
        let mut found: foldhash::HashMap<&str, TrackLookup> =
            foldhash::HashMap::with_capacity_and_hasher(misses.len(), Default::default());
        // The misses' embeddings ride in the same round as their values.
        let embedding_keys: Vec<String> = match self.model {
            Some((model, _)) if self.embeddings_apart => misses
                .iter()
                .filter_map(|key| self.track_id(version, key))
                .map(|id| keys::model_embedding_key(model, id))
                .collect(),
            _ => Vec::new(),
        };
        let mut wanted: Vec<&str> = misses.to_vec();
        wanted.extend(embedding_keys.iter().map(String::as_str));
        let batches = self.bulk_get(&wanted).await;
        // `wanted` is the misses, then their embeddings' keys: a key's place says which.
        let mut prefetched: HashMap<String, Option<String>> = HashMap::new();
        let mut decoded: Vec<(&str, Result<Option<TrackFeatures>, SourceError>)> = Vec::new();
        let mut offset = 0;
        for (batch, result) in batches {
            let start = offset;
            offset += batch.len();
            match result {
                Ok(mut values) => {
                    for (j, key) in batch.iter().enumerate() {
                        let text = values.remove(*key).flatten();
                        let Some(&miss) = misses.get(start + j) else {
                            prefetched.insert(key.to_string(), text);
                            continue;
                        };
                        let lookup = match text {
                            Some(text) => self.decode_track(version, miss, &text),
                            None => Ok(None),
                        };
                        decoded.push((miss, lookup));
                    }
                }
                Err(e) => {
                    for &miss in misses.iter().skip(start).take(batch.len()) {
                        found.insert(miss, Err(SourceError::Unavailable(e.to_string())));
                    }
                }
            }
        }
        let unread = self
            .fill_embeddings(version, &mut decoded, prefetched)
            .await;
        let mut cache = self.caches.tracks.borrow_mut();
        for (key, lookup) in decoded {
            let lookup = lookup.map(|t| t.map(Arc::new));
            // A miss is cached too: a key not yet visible (KV is eventually consistent) is
            // asked for again after the TTL, never filled in. A track whose embedding could not
            // be asked for (no model, KV failed) is not cached: the next request asks again.
            if let Ok(track) = &lookup
                && !unread.contains(key)
            {
                let whole = track
                    .as_ref()
                    .is_some_and(|t| !(t.audio.embedded && t.audio.embedding.is_empty()));
                if whole {
                    cache.insert_for(
                        self.cache_key(key).into_owned(),
                        track.clone(),
                        self.now,
                        WHOLE_TRACK_CACHE_MS,
                    );
                } else {
                    cache.insert(self.cache_key(key).into_owned(), track.clone(), self.now);
                }
            }
            found.insert(key, lookup);
        }
        found
    }

    /// Reads `keys` with KV's bulk get, [`BULK_GET_KEYS`] a call, the calls concurrent.
    async fn bulk_get<'k>(&self, keys: &'k [&'k str]) -> Vec<BulkAnswer<'k>> {
        join_all(keys.chunks(BULK_GET_KEYS).map(|batch| async move {
            let result = self
                .kv
                .get_text_bulk(batch, Some(KV_CACHE_TTL_SECONDS))
                .await;
            (batch, result)
        }))
        .await
    }

    /// Puts the embeddings into the decoded tracks that keep theirs in the model's namespace
    /// (layout 2): from `prefetched` (read with the values), the rest read now. A key that is
    /// absent leaves the track without one (the rerank flags it); returns the keys whose
    /// embedding could not be asked for at all.
    async fn fill_embeddings<'k>(
        &self,
        version: FeatureVersion,
        decoded: &mut [(&'k str, Result<Option<TrackFeatures>, SourceError>)],
        prefetched: HashMap<String, Option<String>>,
    ) -> HashSet<&'k str> {
        let wanting = |(_, lookup): &(&str, Result<Option<TrackFeatures>, SourceError>)| matches!(lookup, Ok(Some(t)) if t.audio.embedded && t.audio.embedding.is_empty());
        let Some((model, dim)) = self.model else {
            return decoded.iter().filter(|d| wanting(d)).map(|d| d.0).collect();
        };
        let wanted: Vec<(usize, String)> = decoded
            .iter()
            .enumerate()
            .filter(|(_, d)| wanting(d))
            .filter_map(|(i, (key, _))| {
                let id = self.track_id(version, key)?;
                Some((i, keys::model_embedding_key(model, id)))
            })
            .collect();
        let names: Vec<&str> = wanted
            .iter()
            .map(|(_, k)| k.as_str())
            .filter(|k| !prefetched.contains_key(*k))
            .collect();
        let batches = self.bulk_get(&names).await;
        let mut texts: HashMap<&str, Option<String>> = HashMap::new();
        for (_, key) in &wanted {
            if let Some(text) = prefetched.get(key.as_str()) {
                texts.insert(key.as_str(), text.clone());
            }
        }
        let mut unread = HashSet::new();
        for (batch, result) in batches {
            match result {
                Ok(mut values) => {
                    for key in batch {
                        texts.insert(key, values.remove(*key).flatten());
                    }
                }
                Err(_) => unread.extend(batch.iter().copied()),
            }
        }
        let mut failed = HashSet::new();
        for (i, key) in &wanted {
            let entry = &mut decoded[*i];
            if unread.contains(key.as_str()) {
                failed.insert(entry.0);
                continue;
            }
            let Some(Some(text)) = texts.get(key.as_str()) else {
                continue;
            };
            match features::decode_embedding(text, dim) {
                Ok(row) => {
                    if let Ok(Some(track)) = &mut entry.1 {
                        track.audio.embedding = row;
                    }
                }
                Err(e) => {
                    entry.1 = Err(SourceError::Incompatible {
                        key: key.clone(),
                        message: e.to_string(),
                    })
                }
            }
        }
        failed
    }
}

/// The track id of `key`, a track key of `version`.
fn track_id(version: FeatureVersion, key: &str) -> Option<&str> {
    match version.parse_entity_key(key) {
        Ok((Entity::Track, id)) => Some(id),
        _ => None,
    }
}
