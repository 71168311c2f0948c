//! Free text from callers: lengths are counted in characters, as the
//! messages say, never in bytes (`é` is one character and two bytes).

use crate::error::{AppError, AppResult};

/// The length of `value` in characters.
pub fn chars(value: &str) -> usize {
    value.chars().count()
}

/// `value`, trimmed, when it is 1 to `max` characters long; otherwise
/// BAD_USER_INPUT naming `field`.
pub fn required(field: &str, value: &str, max: usize) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() || chars(value) > max {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be 1 to {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// `value` when it is at most `max` characters long; otherwise
/// BAD_USER_INPUT naming `field`.
pub fn at_most<'a>(field: &str, value: &'a str, max: usize) -> AppResult<&'a str> {
    if chars(value) > max {
        return Err(AppError::bad_input(
            field,
            format!("{field} is at most {max} characters"),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_count_characters_not_bytes() {
        let name = "é".repeat(50);
        assert_eq!(required("name", &name, 50).ok(), Some(name.clone()));
        assert!(required("name", &format!("{name}é"), 50).is_err());
        assert!(required("name", "   ", 50).is_err());
        assert!(at_most("comment", &"日".repeat(2000), 2000).is_ok());
        assert!(at_most("comment", &"日".repeat(2001), 2000).is_err());
    }
}
