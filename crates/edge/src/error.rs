//! What can go wrong at the edge, in the core's own terms; the Worker maps each to an HTTP
//! status and the error envelope (`{"error": {code, message, field?}}`).

use resonance_shared::validate::FieldError;

/// Why the core gave no answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EdgeError {
    /// The request is invalid at a field.
    #[error("{0}")]
    Invalid(FieldError),
    /// The feature store did not answer (no read at all, or not the pointer).
    #[error("{0}")]
    FeaturesUnavailable(String),
    /// A stored value this reader cannot read: never guessed at.
    #[error("{0}")]
    FeaturesIncompatible(String),
    /// No feature version is live.
    #[error("no feature version is live; run `trainer daily` to put one live")]
    FeaturesNotPublished,
    /// A switch to a feature version whose meta is missing.
    #[error("feature version {version} is incomplete or absent: {key} is missing")]
    FeaturesIncomplete {
        /// The version asked for.
        version: u64,
        /// Its meta key, which marks it complete.
        key: String,
    },
    /// No model serves (none published, or the published one does not load).
    #[error("no model is published, or the published one does not load (see /health)")]
    ModelNotLoaded,
    /// A switch to a model that is not published.
    #[error("{0}")]
    ModelNotFound(String),
    /// A switch to a model that is published but does not verify or load.
    #[error("{0}")]
    ModelInvalid(String),
    /// A KV write failed.
    #[error("{0}")]
    KvUnavailable(String),
}

impl EdgeError {
    /// The stable code of the error envelope.
    pub fn code(&self) -> &'static str {
        match self {
            EdgeError::Invalid(_) => "invalid_field",
            EdgeError::FeaturesUnavailable(_) => "features_unavailable",
            EdgeError::FeaturesIncompatible(_) => "features_incompatible",
            EdgeError::FeaturesNotPublished => "features_not_published",
            EdgeError::FeaturesIncomplete { .. } => "features_not_found",
            EdgeError::ModelNotLoaded => "model_not_loaded",
            EdgeError::ModelNotFound(_) => "model_not_found",
            EdgeError::ModelInvalid(_) => "model_invalid",
            EdgeError::KvUnavailable(_) => "kv_unavailable",
        }
    }
}

impl From<FieldError> for EdgeError {
    fn from(e: FieldError) -> Self {
        EdgeError::Invalid(e)
    }
}
