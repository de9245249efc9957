//! Organization slugs (names follow `core::names`).

/// The readable part of a slug: lower-case ASCII letters and digits joined by single dashes
/// (at most 40 characters). A random suffix makes it unique.
pub fn slug_base(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "org".to_string()
    } else {
        slug.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::names::validate_name;

    #[test]
    fn names_and_slugs() {
        assert_eq!(validate_name("  Acme  ").unwrap(), "Acme");
        assert!(validate_name(" ").is_err());
        assert!(validate_name(&"x".repeat(101)).is_err());
        assert_eq!(slug_base("Acme, Inc. (EU)"), "acme-inc-eu");
        assert_eq!(slug_base("日本"), "org");
        assert!(slug_base(&"ab ".repeat(50)).len() <= 41);
    }
}
