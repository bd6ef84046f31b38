//! Features from the Worker's KV binding: one value per entity, read through the isolate's
//! cache, with cache misses fetched by KV's bulk get (100 keys a call), all calls concurrent.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::join_all;
use resonance_edge::source::{FeatureSource, SourceError, TrackLookup, decode_track, decode_value};
use resonance_shared::features::UserFeatures;
use resonance_shared::keys::{Entity, FeatureVersion};
use worker::kv::KvStore;

use crate::isolate::{Isolate, KV_CACHE_TTL_SECONDS};

/// KV's bulk get takes at most 100 keys.
const BULK_GET_KEYS: usize = 100;

pub struct KvSource<'a> {
    pub kv: &'a KvStore,
    pub isolate: &'a Isolate,
    pub version: Option<FeatureVersion>,
    pub now: f64,
}

impl FeatureSource for KvSource<'_> {
    async fn version(&self) -> Result<Option<FeatureVersion>, SourceError> {
        Ok(self.version)
    }

    async fn user(&self, id: &str) -> Result<Option<Arc<UserFeatures>>, SourceError> {
        let Some(version) = self.version else {
            return Ok(None);
        };
        let key = version.entity_key(Entity::User, id);
        if let Some(hit) = self.isolate.users.borrow_mut().get(&key, self.now) {
            return Ok(hit);
        }
        let text = self
            .kv
            .get(&key)
            .cache_ttl(KV_CACHE_TTL_SECONDS)
            .text()
            .await
            .map_err(|e| SourceError::Unavailable(e.to_string()))?;
        let user = match text {
            Some(text) => Some(Arc::new(decode_value::<UserFeatures>(&key, &text)?)),
            None => None,
        };
        self.isolate
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
        let mut asked: std::collections::HashSet<&str> = std::collections::HashSet::new();
        {
            let mut cache = self.isolate.tracks.borrow_mut();
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
                .get_bulk(batch)
                .cache_ttl(KV_CACHE_TTL_SECONDS)
                .text()
                .await;
            (batch, result)
        }))
        .await;
        let mut cache = self.isolate.tracks.borrow_mut();
        for (batch, result) in batches {
            match result {
                Ok(mut values) => {
                    for key in batch {
                        let lookup = match values.remove(*key).flatten() {
                            Some(text) => decode_track(key, &text).map(|t| Some(Arc::new(t))),
                            None => Ok(None),
                        };
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
