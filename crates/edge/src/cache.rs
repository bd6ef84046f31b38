//! A bounded cache whose entries also expire: the per-isolate cache of the Worker, where an
//! isolate lives for minutes to hours and the store behind it changes underneath.
//!
//! Time is passed in (milliseconds), so the cache works the same under the Worker's clock,
//! the browser's and a test's.

use std::borrow::Borrow;
use std::hash::Hash;
use std::num::NonZeroUsize;

use lru::LruCache;

/// An LRU cache of at most a capacity of entries, each valid for a TTL (its own, or the
/// cache's).
pub struct TtlCache<K: Hash + Eq, V: Clone> {
    /// Each value with the instant it expires. Hashed with foldhash: a rerank looks up a few
    /// hundred keys per request, and SipHash's cost showed in the Worker's profile.
    entries: LruCache<K, (V, f64), foldhash::fast::RandomState>,
    ttl_ms: f64,
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    /// Holds at most `capacity` entries (at least one), each for `ttl_ms` milliseconds.
    pub fn new(capacity: usize, ttl_ms: f64) -> Self {
        let capacity = NonZeroUsize::new(capacity.max(1)).expect("capacity is at least 1");
        Self {
            entries: LruCache::with_hasher(capacity, foldhash::fast::RandomState::default()),
            ttl_ms,
        }
    }

    /// The value stored for `key` (or a borrowed form of it, such as `&str` for `String`) if
    /// it is younger than the TTL at `now_ms`.
    pub fn get<Q>(&mut self, key: &Q, now_ms: f64) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.entries.get(key) {
            Some((value, expires)) if now_ms < *expires => Some(value.clone()),
            Some(_) => {
                self.entries.pop(key);
                None
            }
            None => None,
        }
    }

    /// Stores `value` for `key` as of `now_ms`, for the cache's TTL (evicting the least
    /// recently used).
    pub fn insert(&mut self, key: K, value: V, now_ms: f64) {
        self.insert_for(key, value, now_ms, self.ttl_ms);
    }

    /// Stores `value` for `key` as of `now_ms`, for `ttl_ms`.
    pub fn insert_for(&mut self, key: K, value: V, now_ms: f64, ttl_ms: f64) {
        self.entries.put(key, (value, now_ms + ttl_ms));
    }

    /// Entries held, expired ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl() {
        let mut cache = TtlCache::new(4, 100.0);
        cache.insert("a", 1, 0.0);
        assert_eq!(cache.get(&"a", 99.0), Some(1));
        assert_eq!(cache.get(&"a", 100.0), None);
        assert!(cache.is_empty(), "an expired entry is dropped when seen");
    }

    #[test]
    fn an_entry_can_have_its_own_ttl() {
        let mut cache = TtlCache::new(4, 100.0);
        cache.insert_for("long", 1, 0.0, 1000.0);
        cache.insert("short", 2, 0.0);
        assert_eq!(cache.get(&"short", 100.0), None);
        assert_eq!(cache.get(&"long", 999.0), Some(1));
        assert_eq!(cache.get(&"long", 1000.0), None);
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let mut cache = TtlCache::new(2, 1e9);
        cache.insert("a", 1, 0.0);
        cache.insert("b", 2, 0.0);
        assert_eq!(cache.get(&"a", 1.0), Some(1));
        cache.insert("c", 3, 1.0);
        assert_eq!(cache.get(&"b", 1.0), None);
        assert_eq!(cache.get(&"a", 1.0), Some(1));
        assert_eq!(cache.len(), 2);
    }
}
