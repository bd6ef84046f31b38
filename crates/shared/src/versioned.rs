//! Values written when they change (layout 3, `docs/DESIGN.md` §4 "Layout 3").
//!
//! In layouts 1 and 2 every feature version holds a whole copy of every entity
//! (`rsn:v{N}:user:{id}`), so a day costs one write per listener and track, changed or not.
//! In layout 3 an entity has one key for all versions (`rsn:user:{id}`, `rsn:track:{id}`),
//! holding its value *as of* each version a reader may still ask for:
//!
//! ```text
//! {"schema":3,"entries":[{"since":9,"value":{…views…}},{"since":5,"value":{…}}]}
//! ```
//!
//! Entries are newest first. A reader of version N takes the newest entry with `since` ≤ N
//! ([`Versioned::at`]); a `null` value means the entity is not stored from `since` on (a
//! listener removed), and no entry ≤ N means it did not exist yet. A writer adds an entry
//! only when the value changed ([`fingerprint`] against the one it recorded), and keeps of
//! the older entries just those a held version still reads ([`Versioned::with`]): readers of
//! the live, the previous and every version the edge still holds read exactly the value of
//! their own version, before, during and after the write of the next one.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::features::DecodeError;

/// The feature layout whose entity values are [`Versioned`].
pub const VERSIONED_LAYOUT: u32 = 3;

/// The schema of the entity values an entry holds: those of layout 2 (embeddings in the
/// model's namespace), without their own `schema` field.
pub const ENTRY_VALUE_SCHEMA: u32 = 2;

/// An entity's value from one version on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry<T> {
    /// The first version this value belongs to.
    pub since: u64,
    /// The value; `None`: not stored from `since` on.
    pub value: Option<T>,
}

/// An entity's values by version, newest first (`since` strictly decreasing).
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    entries: Vec<Entry<T>>,
}

impl<T> Default for Versioned<T> {
    fn default() -> Self {
        Versioned {
            entries: Vec::new(),
        }
    }
}

impl<T> Versioned<T> {
    /// The entries, newest first.
    pub fn entries(&self) -> &[Entry<T>] {
        &self.entries
    }

    /// The value as of `version`: the newest entry with `since` ≤ `version`.
    pub fn at(&self, version: u64) -> Option<&T> {
        self.entries
            .iter()
            .find(|e| e.since <= version)
            .and_then(|e| e.value.as_ref())
    }

    /// The newest entry.
    pub fn newest(&self) -> Option<&Entry<T>> {
        self.entries.first()
    }

    /// The entity's value from `since` on, in front of the older entries that a version of
    /// `held` below `since` still reads (the newest entry ≤ it); entries at or after `since`
    /// (a run that died before its switch, its number taken again) are replaced.
    pub fn with(self, since: u64, value: Option<T>, held: &[u64]) -> Self {
        let older: Vec<Entry<T>> = self
            .entries
            .into_iter()
            .filter(|e| e.since < since)
            .collect();
        // A held version reads the newest older entry at or before it.
        let read: Vec<u64> = held
            .iter()
            .filter(|&&h| h < since)
            .filter_map(|&h| older.iter().find(|e| e.since <= h).map(|e| e.since))
            .collect();
        let mut entries = vec![Entry { since, value }];
        entries.extend(older.into_iter().filter(|e| read.contains(&e.since)));
        Versioned { entries }
    }

    /// Whether no version of `held` reads a value here, nor any version after the newest
    /// entry: the key can be deleted.
    pub fn is_dead(&self, held: &[u64]) -> bool {
        let newest_is_none = self.newest().is_none_or(|e| e.value.is_none());
        newest_is_none && held.iter().all(|&h| self.at(h).is_none())
    }
}

#[derive(Serialize)]
struct StoredRef<'a, T> {
    schema: u32,
    entries: &'a [Entry<T>],
}

#[derive(Deserialize)]
struct StoredRaw {
    schema: Option<u64>,
    entries: Option<Vec<RawEntry>>,
}

#[derive(Deserialize)]
struct RawEntry {
    since: u64,
    value: serde_json::Value,
}

/// The stored text of `versioned`.
pub fn encode<T: Serialize>(versioned: &Versioned<T>) -> String {
    serde_json::to_string(&StoredRef {
        schema: VERSIONED_LAYOUT,
        entries: &versioned.entries,
    })
    .expect("feature values are plain data and always serialise")
}

/// The text of one entry's value, as [`encode`] writes it inside the entries (what
/// [`fingerprint`] is taken of).
pub fn encode_value<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("feature values are plain data and always serialise")
}

/// A value's fingerprint: the first 16 bytes of SHA-256 of its [`encode_value`] text, as
/// hex. A writer compares it with the one it recorded to know whether the value changed.
pub fn fingerprint(value_text: &str) -> String {
    hex::encode(&Sha256::digest(value_text.as_bytes())[..16])
}

fn malformed(field: impl Into<String>, message: impl Into<String>) -> DecodeError {
    DecodeError::Malformed {
        field: field.into(),
        message: message.into(),
    }
}

/// The entries of a stored value, checked: schema 3, `since` > 0 and strictly decreasing.
fn raw_entries(text: &str) -> Result<Vec<RawEntry>, DecodeError> {
    let stored: StoredRaw =
        serde_json::from_str(text).map_err(|e| malformed(".", e.to_string()))?;
    match stored.schema {
        None => return Err(DecodeError::MissingSchema),
        Some(s) if s == u64::from(VERSIONED_LAYOUT) => {}
        Some(found) => {
            return Err(DecodeError::NotVersioned {
                found: u32::try_from(found).unwrap_or(u32::MAX),
            });
        }
    }
    let entries = stored
        .entries
        .ok_or_else(|| malformed("entries", "is missing"))?;
    for (i, pair) in entries.windows(2).enumerate() {
        if pair[1].since >= pair[0].since {
            return Err(malformed(
                format!("entries[{}].since", i + 1),
                format!(
                    "{} is not below {}: entries are newest first",
                    pair[1].since, pair[0].since
                ),
            ));
        }
    }
    if entries.last().is_some_and(|e| e.since == 0) {
        return Err(malformed(
            format!("entries[{}].since", entries.len() - 1),
            "is 0: versions start at 1",
        ));
    }
    Ok(entries)
}

fn decode_entry<T: DeserializeOwned>(
    i: usize,
    raw: serde_json::Value,
) -> Result<Option<T>, DecodeError> {
    if raw.is_null() {
        return Ok(None);
    }
    serde_path_to_error::deserialize(raw)
        .map(Some)
        .map_err(|e| {
            malformed(
                format!("entries[{i}].value.{}", e.path()),
                e.inner().to_string(),
            )
        })
}

/// The value as of `version` in a stored text (only that entry takes the view's shape);
/// `None` when the entity is not stored in `version`.
pub fn decode_at<T: DeserializeOwned>(text: &str, version: u64) -> Result<Option<T>, DecodeError> {
    let mut entries = raw_entries(text)?;
    match entries.iter().position(|e| e.since <= version) {
        Some(i) => decode_entry(i, entries.swap_remove(i).value),
        None => Ok(None),
    }
}

/// Every entry of a stored text. With `T` = `serde_json::Value` a writer keeps the older
/// values as they are, without knowing their shape.
pub fn decode<T: DeserializeOwned>(text: &str) -> Result<Versioned<T>, DecodeError> {
    let entries = raw_entries(text)?
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            Ok(Entry {
                since: e.since,
                value: decode_entry(i, e.value)?,
            })
        })
        .collect::<Result<_, DecodeError>>()?;
    Ok(Versioned { entries })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{UserFeatures, UserRecentHistory};

    fn user(track: &str) -> UserFeatures {
        UserFeatures {
            history: UserRecentHistory {
                tracks: vec![track.into()],
                skipped: vec![],
            },
            ..Default::default()
        }
    }

    #[test]
    fn a_reader_takes_the_newest_entry_at_or_before_its_version() {
        let v = Versioned::default()
            .with(3, Some("a"), &[])
            .with(5, Some("b"), &[3])
            .with(8, None, &[5]);
        assert_eq!(v.at(2), None, "before the entity existed");
        assert_eq!(
            v.at(4),
            None,
            "3 was read by no held version when 8 was written"
        );
        assert_eq!(v.at(5), Some(&"b"));
        assert_eq!(v.at(7), Some(&"b"), "unchanged from 5 to 7");
        assert_eq!(v.at(8), None, "removed at 8");
        assert_eq!(v.at(100), None);
    }

    #[test]
    fn a_write_keeps_exactly_what_held_versions_read() {
        // The entity changes in 2, 5, 6 and 9; each write names the versions held then. When
        // 9 is written the edge still serves 4 (previous) and 6 (live).
        let v = Versioned::default()
            .with(2, Some(2), &[])
            .with(5, Some(5), &[3, 4])
            .with(6, Some(6), &[4, 5])
            .with(9, Some(9), &[4, 6]);
        let kept: Vec<u64> = v.entries().iter().map(|e| e.since).collect();
        // 4 reads the entry of 2 (the newest ≤ 4), 6 reads 6's; 5's is read by no one.
        assert_eq!(kept, vec![9, 6, 2]);
        assert_eq!(v.at(4), Some(&2));
        assert_eq!(v.at(6), Some(&6));
        assert_eq!(v.at(9), Some(&9));
        // A run of 9 that died is written again as 9: its entry is replaced, not doubled.
        let again = v.with(9, Some(90), &[4, 6]);
        assert_eq!(again.at(9), Some(&90));
        assert_eq!(again.entries().len(), 3);
    }

    #[test]
    fn a_removed_entity_is_dead_once_no_held_version_reads_it() {
        let v = Versioned::default()
            .with(2, Some("x"), &[])
            .with(7, None, &[2]);
        assert!(!v.is_dead(&[2, 7]), "2 still reads it");
        assert!(v.is_dead(&[7]));
        assert!(!Versioned::default().with(7, Some("y"), &[]).is_dead(&[]));
    }

    #[test]
    fn values_round_trip_and_a_reader_decodes_only_its_entry() {
        let v = Versioned::default()
            .with(3, Some(user("a")), &[])
            .with(5, Some(user("b")), &[3]);
        let text = encode(&v);
        assert!(
            text.starts_with(r#"{"schema":3,"entries":[{"since":5,"#),
            "{text}"
        );
        assert_eq!(decode::<UserFeatures>(&text).unwrap(), v);
        assert_eq!(
            decode_at::<UserFeatures>(&text, 4).unwrap(),
            Some(user("a"))
        );
        assert_eq!(decode_at::<UserFeatures>(&text, 2).unwrap(), None);
        // A writer keeps older values raw, and writes them back unchanged.
        let raw: Versioned<serde_json::Value> = decode(&text).unwrap();
        let text2 = encode(&raw.with(6, None, &[5]));
        assert_eq!(
            decode_at::<UserFeatures>(&text2, 5).unwrap(),
            Some(user("b"))
        );
        assert_eq!(decode_at::<UserFeatures>(&text2, 6).unwrap(), None);
    }

    #[test]
    fn bad_values_name_the_field() {
        let err = |text: &str| decode_at::<UserFeatures>(text, 9).unwrap_err();
        assert_eq!(err(r#"{"entries":[]}"#), DecodeError::MissingSchema);
        let old = err(r#"{"schema":2,"history":{"tracks":[]}}"#);
        assert_eq!(old, DecodeError::NotVersioned { found: 2 });
        assert!(old.to_string().contains("layout 3"), "{old}");
        let order =
            err(r#"{"schema":3,"entries":[{"since":4,"value":null},{"since":6,"value":null}]}"#);
        assert!(
            matches!(&order, DecodeError::Malformed { field, .. } if field == "entries[1].since"),
            "{order}"
        );
        let shape =
            err(r#"{"schema":3,"entries":[{"since":4,"value":{"history":{"tracks":[1]}}}]}"#);
        assert!(
            matches!(&shape, DecodeError::Malformed { field, .. } if field == "entries[0].value.history.tracks[0]"),
            "{shape}"
        );
    }

    #[test]
    fn the_fingerprint_follows_the_value() {
        let a = fingerprint(&encode_value(&user("a")));
        assert_eq!(a.len(), 32);
        assert_eq!(a, fingerprint(&encode_value(&user("a"))));
        assert_ne!(a, fingerprint(&encode_value(&user("b"))));
    }
}
