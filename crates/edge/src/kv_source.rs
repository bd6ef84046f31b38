//! Features from the edge KV: one value per entity, read through the isolate's caches, with
//! cache misses fetched by KV's bulk get ([`BULK_GET_KEYS`] keys a call), all calls concurrent.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures_util::future::join_all;
use resonance_shared::features::{TrackFeatures, UserFeatures};
use resonance_shared::keys::{Entity, FeatureVersion};

use crate::cache::TtlCache;
use crate::kv::{BULK_GET_KEYS, Kv};
use crate::source::{FeatureSource, SourceError, TrackLookup, decode_track, decode_value};

/// KV's edge cache for reads, in seconds (60 is Cloudflare's minimum).
pub const KV_CACHE_TTL_SECONDS: u64 = 60;

/// Decoded values of one isolate, by key (`None`: the key is not stored).
pub struct FeatureCaches {
    /// Users by key.
    pub users: RefCell<TtlCache<String, Option<Arc<UserFeatures>>>>,
    /// Tracks by key.
    pub tracks: RefCell<TtlCache<String, Option<Arc<TrackFeatures>>>>,
}

impl FeatureCaches {
    /// At most `capacity` entries of each kind, each for `ttl_ms`.
    pub fn new(capacity: usize, ttl_ms: f64) -> Self {
        FeatureCaches {
            users: RefCell::new(TtlCache::new(capacity, ttl_ms)),
            tracks: RefCell::new(TtlCache::new(capacity, ttl_ms)),
        }
    }

    /// Forgets every value.
    pub fn clear(&self) {
        self.users.borrow_mut().clear();
        self.tracks.borrow_mut().clear();
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
    /// Milliseconds, for the caches.
    pub now: f64,
}

impl<K: Kv> FeatureSource for KvSource<'_, K> {
    async fn version(&self) -> Result<Option<FeatureVersion>, SourceError> {
        Ok(self.version)
    }

    async fn user(&self, id: &str) -> Result<Option<Arc<UserFeatures>>, SourceError> {
        let Some(version) = self.version else {
            return Ok(None);
        };
        let key = version.entity_key(Entity::User, id);
        if let Some(hit) = self.caches.users.borrow_mut().get(&key, self.now) {
            return Ok(hit);
        }
        let text = self
            .kv
            .get_text(&key, Some(KV_CACHE_TTL_SECONDS))
            .await
            .map_err(|e| SourceError::Unavailable(e.to_string()))?;
        let user = match text {
            Some(text) => Some(Arc::new(decode_value::<UserFeatures>(&key, &text)?)),
            None => None,
        };
        self.caches
            .users
            .borrow_mut()
            .insert(key, user.clone(), self.now);
        Ok(user)
    }

    async fn tracks(&self, ids: &[&str]) -> Vec<TrackLookup> {
        let Some(version) = self.version else {
            return ids.iter().map(|_| Ok(None)).collect();
        };
        let keys: Vec<String> = ids
            .iter()
            .map(|id| version.entity_key(Entity::Track, id))
            .collect();
        let mut found: HashMap<&str, TrackLookup> = HashMap::new();
        let mut misses: Vec<&str> = Vec::new();
        let mut asked: HashSet<&str> = HashSet::new();
        {
            let mut cache = self.caches.tracks.borrow_mut();
            for key in &keys {
                match cache.get(key, self.now) {
                    Some(hit) => {
                        found.insert(key, Ok(hit));
                    }
                    None if asked.insert(key) => misses.push(key),
                    None => {}
                }
            }
        }
        let batches = join_all(misses.chunks(BULK_GET_KEYS).map(|batch| async move {
            let result = self
                .kv
                .get_text_bulk(batch, Some(KV_CACHE_TTL_SECONDS))
                .await;
            (batch, result)
        }))
        .await;
        let mut cache = self.caches.tracks.borrow_mut();
        for (batch, result) in batches {
            match result {
                Ok(mut values) => {
                    for key in batch {
                        let lookup = match values.remove(*key).flatten() {
                            Some(text) => decode_track(key, &text).map(|t| Some(Arc::new(t))),
                            None => Ok(None),
                        };
                        // A miss is cached too: a key not yet visible (KV is eventually
                        // consistent) is asked for again after the TTL, never filled in.
                        if let Ok(track) = &lookup {
                            cache.insert(key.to_string(), track.clone(), self.now);
                        }
                        found.insert(key, lookup);
                    }
                }
                Err(e) => {
                    for key in batch {
                        found.insert(key, Err(SourceError::Unavailable(e.to_string())));
                    }
                }
            }
        }
        // `get`, not `remove`: an id asked for twice gets its answer twice.
        keys.iter()
            .map(|key| found.get(key.as_str()).cloned().unwrap_or(Ok(None)))
            .collect()
    }
}
