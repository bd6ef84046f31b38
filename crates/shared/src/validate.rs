//! Validation helpers whose errors name the offending field.
//!
//! Every input that crosses a boundary (a CSV row, an HTTP body, a stored feature value) is
//! checked with these helpers, so a user always learns *which* field is wrong and why.

use std::fmt;

/// Longest identifier (user or track id) accepted anywhere, in bytes.
pub const MAX_ID_BYTES: usize = 128;

/// A value that failed validation: the field's name (a path such as `candidates[3]`) and what is
/// wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name or path, such as `candidates[3]` or `context.hour`.
    pub field: String,
    /// What is wrong with it, for a person.
    pub message: String,
}

impl FieldError {
    /// A validation error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// An identifier: non-empty, at most [`MAX_ID_BYTES`] bytes, no whitespace or control
/// characters (they would break CSV rows, log lines and feature-store keys).
pub fn id(field: &str, value: &str) -> Result<(), FieldError> {
    id_in(|| field.to_string(), value)
}

/// [`id`] for a field whose name is built only when the value is bad (`candidates[{i}]`: a
/// request holds hundreds).
pub fn id_in(field: impl FnOnce() -> String, value: &str) -> Result<(), FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field(), "must not be empty"));
    }
    if value.len() > MAX_ID_BYTES {
        return Err(FieldError::new(
            field(),
            format!("is {} bytes long; the limit is {MAX_ID_BYTES}", value.len()),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(
            field(),
            format!(
                "contains the character {c:?}; ids may not hold whitespace or control characters"
            ),
        ));
    }
    Ok(())
}

/// A finite number in `[0, 1]`.
pub fn unit_interval(field: &str, value: f32) -> Result<(), FieldError> {
    if !value.is_finite() || !(0.0..=1.0).contains(&value) {
        return Err(FieldError::new(field, format!("{value} is outside [0, 1]")));
    }
    Ok(())
}

/// A finite number in `[min, max]`.
pub fn in_range(field: &str, value: f32, min: f32, max: f32) -> Result<(), FieldError> {
    if !value.is_finite() || value < min || value > max {
        return Err(FieldError::new(
            field,
            format!("{value} is outside [{min}, {max}]"),
        ));
    }
    Ok(())
}

/// A finite, non-negative number.
pub fn non_negative(field: &str, value: f32) -> Result<(), FieldError> {
    if !value.is_finite() || value < 0.0 {
        return Err(FieldError::new(
            field,
            format!("{value} must be a finite number ≥ 0"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_with_the_field_named() {
        assert!(id("user_id", "u42").is_ok());
        assert_eq!(id("user_id", "").unwrap_err().field, "user_id");
        assert!(
            id("track_id", "a b")
                .unwrap_err()
                .message
                .contains("whitespace")
        );
        assert!(
            id("track_id", &"x".repeat(129))
                .unwrap_err()
                .message
                .contains("129 bytes")
        );
    }

    #[test]
    fn ranges_reject_nan_and_out_of_range() {
        assert!(unit_interval("energy", 0.0).is_ok());
        assert!(unit_interval("energy", 1.0).is_ok());
        assert!(unit_interval("energy", 1.01).is_err());
        assert!(unit_interval("energy", f32::NAN).is_err());
        assert!(in_range("tempo", 300.0, 20.0, 260.0).is_err());
        assert!(non_negative("plays", -1.0).is_err());
    }
}
