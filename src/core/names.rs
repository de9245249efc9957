//! The one rule for the display names of stations, accounts, organizations and users:
//! trimmed, at most 100 characters; required names are not empty.

use crate::core::error::GatewayError;

/// The longest name, in characters.
const MAX_NAME_CHARS: usize = 100;

/// A trimmed name of 1–100 characters.
pub fn validate_name(raw: &str) -> Result<String, GatewayError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(GatewayError::InvalidRequest(
            "`name` must be 1–100 characters".into(),
        ));
    }
    Ok(name.to_string())
}

/// A trimmed name of at most 100 characters, which may be empty.
pub fn validate_optional_name(raw: &str) -> Result<String, GatewayError> {
    let name = raw.trim();
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(GatewayError::InvalidRequest(
            "`name` must be at most 100 characters".into(),
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_counted_in_characters() {
        assert_eq!(validate_name("  Relay  ").unwrap(), "Relay");
        assert_eq!(
            validate_name(&"é".repeat(100)).unwrap().chars().count(),
            100
        );
        for bad in ["", "   ", &"x".repeat(101)] {
            let err = validate_name(bad).unwrap_err();
            assert_eq!((err.status(), err.message().contains("1–100")), (400, true));
        }
        assert_eq!(validate_optional_name("  ").unwrap(), "");
        assert_eq!(validate_optional_name(&" y".repeat(50)).unwrap().len(), 99);
        assert!(validate_optional_name(&"x".repeat(101))
            .unwrap_err()
            .message()
            .contains("at most 100"));
    }
}
