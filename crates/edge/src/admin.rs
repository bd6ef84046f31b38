//! The admin side of the Worker, as plain logic: validating bulk writes before anything
//! reaches the KV, so a bad batch is refused whole with the index and field of its first
//! problem, and nothing of it is written. (The Worker checks the admin token first, with
//! `resonance-access`.)

use base64::Engine;
use resonance_shared::api::{ApiError, KvWrite};
use resonance_shared::features::{self, FeatureSetMeta, TrackFeatures, UserFeatures};
use resonance_shared::keys::{self, Entity, KeyKind};
use resonance_shared::validate::FieldError;
use resonance_shared::versioned;

use crate::publication;
use crate::source::decode_value;

/// Most pairs in one bulk write: a Worker invocation may make at most 1,000 KV operations.
/// (Cloudflare's REST bulk write takes 10,000; the mirror sizes its batches per sink.)
pub const MAX_BULK_PAIRS: usize = 1000;
/// Largest admin body, in bytes.
pub const MAX_ADMIN_BODY_BYTES: usize = 32 * 1024 * 1024;
/// KV's own key limit, in bytes.
pub const MAX_KEY_BYTES: usize = 512;

/// Parses a bulk delete body (Cloudflare's wire format: a JSON array of key names) and
/// checks every key: 1–[`MAX_BULK_PAIRS`] keys of the schema, pointers refused (a pointer
/// moves only through a switch). That no key belongs to the live state is checked by the
/// isolate, which knows it ([`crate::isolate::Isolate::bulk_delete`]).
pub fn parse_bulk_delete(body: &[u8]) -> Result<Vec<String>, ApiError> {
    let keys: Vec<String> = parse_json(body)?;
    if keys.is_empty() {
        return Err(ApiError::invalid(FieldError::new(
            "[]",
            "the batch is empty",
        )));
    }
    if keys.len() > MAX_BULK_PAIRS {
        return Err(ApiError::new(
            413,
            "too_many_pairs",
            format!("{} keys; at most {MAX_BULK_PAIRS} per request", keys.len()),
        ));
    }
    for (i, key) in keys.iter().enumerate() {
        let kind = keys::parse_key(key)
            .map_err(|e| ApiError::invalid(FieldError::new(format!("[{i}]"), e.message)))?;
        if kind.is_pointer() {
            return Err(ApiError::invalid(FieldError::new(
                format!("[{i}]"),
                format!("{key:?} is a pointer; pointers are never deleted"),
            )));
        }
    }
    Ok(keys)
}

/// A value ready for the KV.
#[derive(Debug, Clone, PartialEq)]
pub enum KvValue {
    /// A text value (features, manifests, pointers).
    Text(String),
    /// Bytes sent as base64 (model chunks).
    Bytes(Vec<u8>),
}

/// One pair of a bulk write, checked: a known key, a value that decodes.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedWrite {
    /// The key (its kind checked by `keys::parse_key`).
    pub key: String,
    /// The value, decoded from base64 when the pair said so.
    pub value: KvValue,
    /// Seconds until KV expires it, when given.
    pub expiration_ttl: Option<u64>,
}

/// Parses a bulk body and validates every pair against the key schema: entity values must
/// decode with the current schema version, pointers must name valid versions, model chunks
/// must be base64.
pub fn parse_bulk_write(body: &[u8]) -> Result<Vec<ValidatedWrite>, ApiError> {
    if body.len() > MAX_ADMIN_BODY_BYTES {
        return Err(ApiError::new(
            413,
            "body_too_large",
            format!(
                "the body is {} bytes; the limit is {MAX_ADMIN_BODY_BYTES}",
                body.len()
            ),
        ));
    }
    let writes: Vec<KvWrite> = parse_json(body)?;
    if writes.is_empty() {
        return Err(ApiError::invalid(FieldError::new(
            ".",
            "the array is empty",
        )));
    }
    if writes.len() > MAX_BULK_PAIRS {
        return Err(ApiError {
            status: 413,
            code: "too_many_pairs",
            message: format!(
                "{} pairs; the limit is {MAX_BULK_PAIRS} per request",
                writes.len()
            ),
            field: Some(".".into()),
        });
    }
    writes
        .into_iter()
        .enumerate()
        .map(|(i, w)| {
            validate_write(w).map_err(|e| {
                ApiError::invalid(FieldError::new(format!("[{i}].{}", e.field), e.message))
            })
        })
        .collect()
}

fn validate_write(write: KvWrite) -> Result<ValidatedWrite, FieldError> {
    let key_error = |message: String| FieldError::new("key", message);
    if write.key.len() > MAX_KEY_BYTES {
        return Err(key_error(format!(
            "is {} bytes; KV keys are at most {MAX_KEY_BYTES}",
            write.key.len()
        )));
    }
    if let Some(ttl) = write.expiration_ttl.filter(|t| *t < 60) {
        return Err(FieldError::new(
            "expiration_ttl",
            format!("{ttl} s is below KV's minimum of 60 s"),
        ));
    }
    let kind = keys::parse_key(&write.key).map_err(|e| key_error(e.message))?;
    if kind.is_pointer() {
        return Err(key_error(format!(
            "{:?} is a pointer: it moves only through PUT /admin/features/current, which \
             checks that the state it names is complete",
            write.key
        )));
    }
    let value = if write.base64 {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&write.value)
            .map_err(|e| FieldError::new("value", format!("is not valid base64: {e}")))?;
        KvValue::Bytes(bytes)
    } else {
        KvValue::Text(write.value)
    };
    check_value(&write.key, &kind, &value)?;
    Ok(ValidatedWrite {
        key: write.key,
        value,
        expiration_ttl: write.expiration_ttl,
    })
}

fn check_value(key: &str, kind: &KeyKind<'_>, value: &KvValue) -> Result<(), FieldError> {
    let value_error = |message: String| FieldError::new("value", message);
    let text = match (kind, value) {
        (KeyKind::ModelChunk { .. }, KvValue::Bytes(_)) => return Ok(()),
        (KeyKind::ModelChunk { .. }, KvValue::Text(_)) => {
            return Err(value_error(
                "model chunks are binary: send them with base64 = true".into(),
            ));
        }
        (_, KvValue::Bytes(_)) => {
            return Err(value_error("only model chunks may be binary".into()));
        }
        (_, KvValue::Text(text)) => text.as_str(),
    };
    let decode_error = |e: crate::source::SourceError| value_error(e.to_string());
    match kind {
        KeyKind::FeaturePointer | KeyKind::ModelPointer => unreachable!("refused above"),
        KeyKind::Entity {
            entity: Entity::User,
            ..
        } => {
            decode_value::<UserFeatures>(key, text).map_err(decode_error)?;
        }
        KeyKind::Entity {
            entity: Entity::Track,
            ..
        } => {
            let track: TrackFeatures = decode_value(key, text).map_err(decode_error)?;
            track
                .audio
                .validate()
                .map_err(|e| value_error(format!("audio.{e}")))?;
        }
        KeyKind::EntityValues {
            entity: Entity::User,
            ..
        } => {
            versioned::decode::<UserFeatures>(text).map_err(|e| value_error(e.to_string()))?;
        }
        KeyKind::EntityValues {
            entity: Entity::Track,
            ..
        } => {
            let values =
                versioned::decode::<TrackFeatures>(text).map_err(|e| value_error(e.to_string()))?;
            for (i, entry) in values.entries().iter().enumerate() {
                if let Some(track) = &entry.value {
                    track
                        .audio
                        .validate()
                        .map_err(|e| value_error(format!("entries[{i}].value.audio.{e}")))?;
                }
            }
        }
        KeyKind::FeatureMeta { version } => {
            let meta: FeatureSetMeta = serde_json::from_str(text)
                .map_err(|e| value_error(format!("is not a feature-set meta: {e}")))?;
            if meta.version != version.0 {
                return Err(value_error(format!(
                    "describes version {}, but the key is of version {version}",
                    meta.version
                )));
            }
        }
        KeyKind::ModelManifest { version } => {
            publication::parse_manifest(version, text).map_err(|e| value_error(e.to_string()))?;
        }
        KeyKind::ModelEmbedding { .. } => {
            features::parse_embedding(text).map_err(|e| value_error(e.to_string()))?;
        }
        KeyKind::ModelState { .. } => {
            resonance_shared::state::UserState::parse(text)
                .map_err(|e| value_error(e.to_string()))?;
        }
        KeyKind::ModelChunk { .. } => unreachable!("handled above"),
    }
    Ok(())
}

/// `PUT /admin/features/current` and `PUT /admin/model/current` bodies.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
/// The body of `PUT /admin/features/current`.
pub struct SwitchFeatures {
    /// The feature version to make live.
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
/// The body of `PUT /admin/model/current`.
pub struct SwitchModel {
    /// The model version to verify and make live.
    pub version: String,
}

/// Parses a small admin JSON body, naming the field on error.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let status_of = e.inner().classify();
        match status_of {
            serde_json::error::Category::Data => ApiError {
                status: 422,
                code: "invalid_field",
                message: e.inner().to_string(),
                field: Some(e.path().to_string()),
            },
            _ => ApiError::new(
                400,
                "malformed_json",
                format!("the body is not valid JSON: {}", e.inner()),
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_deletes_take_keys_of_the_schema_but_never_a_pointer() {
        let keys = parse_bulk_delete(
            br#"["rsn:v3:user:u1", "rsn:v3:track:t1", "rsn:v3:meta", "rsn:model:m1:chunk:0"]"#,
        )
        .unwrap();
        assert_eq!(keys.len(), 4);
        for (body, field) in [
            (r#"["rsn:v3:user:u1", "rsn:current"]"#, "[1]"),
            (r#"["rsn:model:current"]"#, "[0]"),
            (r#"["elsewhere"]"#, "[0]"),
        ] {
            let e = parse_bulk_delete(body.as_bytes()).unwrap_err();
            assert_eq!((e.status, e.field.as_deref()), (422, Some(field)), "{body}");
        }
        assert_eq!(parse_bulk_delete(b"[]").unwrap_err().status, 422);
        let many: Vec<String> = (0..=MAX_BULK_PAIRS)
            .map(|i| format!("rsn:v1:user:u{i}"))
            .collect();
        let body = serde_json::to_vec(&many).unwrap();
        assert_eq!(parse_bulk_delete(&body).unwrap_err().status, 413);
    }

    fn body(pairs: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&pairs).unwrap()
    }

    #[test]
    fn a_bulk_write_is_validated_pair_by_pair() {
        let user = resonance_shared::features::encode(&UserFeatures::default());
        let ok = parse_bulk_write(&body(serde_json::json!([
            {"key": "rsn:v2:user:u1", "value": user},
            {"key": "rsn:v2:meta", "value": r#"{"version":2,"as_of":"","created_at":"","users":1,"tracks":0,"model_version":"m1"}"#},
            {"key": "rsn:model:m1:chunk:0", "value": "AAEC", "base64": true},
        ])))
        .unwrap();
        assert_eq!(ok.len(), 3);
        assert_eq!(ok[2].value, KvValue::Bytes(vec![0, 1, 2]));

        let cases = [
            (
                serde_json::json!([{"key": "other", "value": "x"}]),
                "[0].key",
            ),
            (
                serde_json::json!([{"key": "rsn:v2:meta", "value": r#"{"version":3,"as_of":"","created_at":"","users":1,"tracks":0,"model_version":null}"#}]),
                "[0].value",
            ),
            // Pointers move only through the switches, which check what they name.
            (
                serde_json::json!([{"key": "rsn:v2:user:u1", "value": user}, {"key": "rsn:current", "value": "2"}]),
                "[1].key",
            ),
            (
                serde_json::json!([{"key": "rsn:model:current", "value": "m1"}]),
                "[0].key",
            ),
            (
                serde_json::json!([{"key": "rsn:v2:user:u1", "value": "{\"schema\":9}"}]),
                "[0].value",
            ),
            (
                serde_json::json!([{"key": "rsn:model:m1:chunk:0", "value": "AAEC"}]),
                "[0].value",
            ),
            (
                serde_json::json!([{"key": "rsn:model:m1:chunk:0", "value": "***", "base64": true}]),
                "[0].value",
            ),
            (
                serde_json::json!([{"key": "rsn:v2:user:u1", "value": user, "expiration_ttl": 5}]),
                "[0].expiration_ttl",
            ),
            (serde_json::json!([{"key": "rsn:v2:user:u1"}]), "[0]"),
            (serde_json::json!([]), "."),
        ];
        for (pairs, field) in cases {
            let e = parse_bulk_write(&body(pairs.clone())).unwrap_err();
            assert_eq!(e.status, 422, "{pairs}: {e}");
            assert!(
                e.field.as_deref().unwrap_or("").starts_with(field),
                "{pairs}: {e}"
            );
        }
        assert_eq!(parse_bulk_write(b"[{").unwrap_err().status, 400);
    }

    #[test]
    fn too_many_pairs_is_413() {
        let pairs: Vec<_> = (0..=MAX_BULK_PAIRS)
            .map(|_| serde_json::json!({"key": "rsn:model:m:chunk:0", "value": "AA==", "base64": true}))
            .collect();
        let e = parse_bulk_write(&serde_json::to_vec(&pairs).unwrap()).unwrap_err();
        assert_eq!(e.status, 413);
    }
}
