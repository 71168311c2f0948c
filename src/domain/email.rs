//! Email addresses: the one rule for what is an address, and its normal form.

use crate::error::{AppError, AppResult};

/// Trimmed and lower-cased; at most 254 bytes, one `@`, a non-empty local
/// part, a dotted domain, no whitespace, and no `*` (a masked address such
/// as `j***@example.com` is never taken for a real one).
pub fn normalise(field: &str, email: &str) -> AppResult<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c == '*')
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email)
    } else {
        Err(AppError::bad_input(
            field,
            format!("`{email}` is not an email address such as jane@example.com"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn addresses_are_normalised_or_refused() {
        assert_eq!(
            normalise("email", " Jane@Example.COM ").ok().as_deref(),
            Some("jane@example.com")
        );
        for bad in [
            "",
            "jane",
            "@x.com",
            "a@b",
            "a@.com",
            "a@b.",
            "a@b@c.com",
            "j***@x.com",
            "a b@x.com",
        ] {
            assert!(normalise("email", bad).is_err(), "{bad}");
        }
        assert!(normalise("email", &format!("{}@x.com", "a".repeat(250))).is_err());
    }
}
