//! A listener's stored encoder state, and the history rule every reader applies to it.
//!
//! SASRec scores a candidate as `candidate · user_state`, where `user_state` is the encoder's
//! last output over the listener's history. The trainer computes it offline, for the live
//! model, for every listener whose history changed, and stores it in the model's namespace
//! (`rsn:model:{m}:state:{user_id}`, [`crate::keys::model_state_key`]); the edge then scores a
//! rerank with one dot product per candidate and reads no history track at all.
//!
//! A state is only valid for the history it encoded. It records a fingerprint of that history
//! ([`history_fingerprint`] of the stored history's last L ids), and a reader uses it only
//! when the fingerprint of the listener's value it reads matches: a state of yesterday's
//! history, of a listener forgotten and re-created, or arriving before the version that wrote
//! it, is never used for another history (the model runs instead, as it would without one).
//!
//! A request may bring the tracks just played (`RerankRequest::recent_tracks`); the session's
//! history is the stored one followed by those it lacks ([`session_history`]). When that adds
//! a track, the stored state is of a shorter history and the model runs.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::features::{encode_embedding, parse_embedding};
use crate::validate::FieldError;

/// The layout of a stored state value.
pub const STATE_SCHEMA: u32 = 1;

/// The most recent tracks a request may bring (the seed model's L).
pub const MAX_RECENT_TRACKS: usize = 50;

/// A stored state as JSON: `{"schema":1,"history":"…","tracks":12,"state":"<base64 f32>"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredState {
    /// [`STATE_SCHEMA`].
    pub schema: u32,
    /// [`history_fingerprint`] of the stored history's last L ids, which it encoded.
    pub history: String,
    /// How many of them had an embedding in the model and were encoded.
    pub tracks: usize,
    /// `user_state`, d little-endian f32 as base64 (`features::encode_embedding`).
    pub state: String,
}

/// A state as a reader uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct UserState {
    /// The fingerprint of the history it encoded.
    pub history: String,
    /// How many history tracks it encoded.
    pub tracks: usize,
    /// The encoder's output, `[d]`.
    pub state: Vec<f32>,
}

impl UserState {
    /// The stored text of this state.
    pub fn encode(&self) -> String {
        serde_json::to_string(&StoredState {
            schema: STATE_SCHEMA,
            history: self.history.clone(),
            tracks: self.tracks,
            state: encode_embedding(&self.state),
        })
        .expect("a state serialises")
    }

    /// Reads a stored state of width `dim`; the error names what is wrong.
    pub fn decode(text: &str, dim: usize) -> Result<Self, FieldError> {
        let state = Self::parse(text)?;
        if state.state.len() != dim {
            return Err(FieldError::new(
                "state",
                format!(
                    "holds {} floats, not {dim} (the model's d)",
                    state.state.len()
                ),
            ));
        }
        Ok(state)
    }

    /// Reads a stored state of any width (the admin route, which knows no model's d).
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let stored: StoredState = serde_json::from_str(text)
            .map_err(|e| FieldError::new("state", format!("is not a stored state: {e}")))?;
        if stored.schema != STATE_SCHEMA {
            return Err(FieldError::new(
                "schema",
                format!(
                    "state schema {} is not {STATE_SCHEMA}, the one this reader knows",
                    stored.schema
                ),
            ));
        }
        let state =
            parse_embedding(&stored.state).map_err(|e| FieldError::new("state", e.message))?;
        Ok(UserState {
            history: stored.history,
            tracks: stored.tracks,
            state,
        })
    }
}

/// The last `max_len` ids of a stored history: what the model reads.
pub fn history_tail(history: &[String], max_len: usize) -> &[String] {
    &history[history.len().saturating_sub(max_len)..]
}

/// A fingerprint of a history (the ids in order): the first 16 bytes of SHA-256 over the ids,
/// each followed by a newline (ids hold no whitespace), as 32 hex digits. The same on every
/// target, unlike `std`'s hasher.
pub fn history_fingerprint(ids: &[impl AsRef<str>]) -> String {
    let mut hasher = Sha256::new();
    for id in ids {
        hasher.update(id.as_ref().as_bytes());
        hasher.update(b"\n");
    }
    // hex, not format! per byte: a stored-state rerank takes this fingerprint every time.
    hex::encode(&hasher.finalize()[..16])
}

/// The session's history: `stored` followed by the `recent` tracks it lacks, and how many
/// those are. `recent` (oldest first) usually begins with plays the stored history already
/// ends with; the longest such overlap is dropped, so a replayed track is never lost and a
/// list already stored adds nothing.
pub fn session_history<'a>(stored: &'a [String], recent: &'a [String]) -> (Vec<&'a str>, usize) {
    let overlap = (0..=recent.len().min(stored.len()))
        .rev()
        .find(|k| stored.ends_with(&recent[..*k]))
        .unwrap_or(0);
    let new = &recent[overlap..];
    let history = stored
        .iter()
        .chain(new)
        .map(String::as_str)
        .collect::<Vec<_>>();
    (history, new.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fingerprints_name_the_ids_in_order() {
        let a = history_fingerprint(&ids(&["t1", "t2"]));
        assert_eq!(a.len(), 32);
        assert_eq!(a, history_fingerprint(&["t1", "t2"]));
        assert_ne!(a, history_fingerprint(&ids(&["t2", "t1"])));
        // The separator keeps ids apart: "t1","t2" is not "t1t2".
        assert_ne!(a, history_fingerprint(&ids(&["t1t2"])));
        assert_ne!(a, history_fingerprint(&[] as &[&str]));
        // Pinned: the trainer and every Worker compute the same text.
        assert_eq!(
            history_fingerprint(&[] as &[&str]),
            "e3b0c44298fc1c149afbf4c8996fb924"
        );
    }

    #[test]
    fn the_session_appends_only_what_the_stored_history_lacks() {
        let stored = ids(&["a", "b", "c"]);
        let case = |recent: &[&str]| {
            let recent = ids(recent);
            let (history, new) = session_history(&stored, &recent);
            (history.join(","), new)
        };
        assert_eq!(case(&[]), ("a,b,c".into(), 0));
        assert_eq!(case(&["b", "c"]), ("a,b,c".into(), 0));
        assert_eq!(case(&["c", "d"]), ("a,b,c,d".into(), 1));
        assert_eq!(case(&["d", "e"]), ("a,b,c,d,e".into(), 2));
        // A replay of the last track is a new play, not an overlap of two.
        assert_eq!(case(&["c", "c"]), ("a,b,c,c".into(), 1));
        assert_eq!(case(&["a", "b", "c", "d"]), ("a,b,c,d".into(), 1));
        let (history, new) = session_history(&[], &stored);
        assert_eq!((history.join(","), new), ("a,b,c".into(), 3));
    }

    #[test]
    fn states_round_trip_and_bad_ones_name_the_problem() {
        let state = UserState {
            history: history_fingerprint(&["t1"]),
            tracks: 1,
            state: vec![0.5, -1.25, 3.0],
        };
        let text = state.encode();
        assert_eq!(UserState::decode(&text, 3).unwrap(), state);
        assert_eq!(UserState::decode(&text, 4).unwrap_err().field, "state");
        let newer = text.replace("\"schema\":1", "\"schema\":2");
        assert_eq!(UserState::decode(&newer, 3).unwrap_err().field, "schema");
        assert_eq!(UserState::decode("[1,2]", 3).unwrap_err().field, "state");
    }
}
