//! PII masking for callers without `pii:read`: enough left to recognise a
//! record on a support call, not enough to contact the person.

/// `jane.doe@example.com` → `j***@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// `+1 415 555 1234` → `***-***-1234`.
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("***-***-{tail}")
}

/// `Jane` → `J.`
pub fn mask_name(name: &str) -> String {
    match name.chars().next() {
        Some(first) => format!("{first}."),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_what_identifies_a_record() {
        assert_eq!(mask_email("jane.doe@example.com"), "j***@example.com");
        assert_eq!(mask_email("broken"), "***");
        assert_eq!(mask_phone("+1 (415) 555-1234"), "***-***-1234");
        assert_eq!(mask_phone("12"), "***-***-12");
        assert_eq!(mask_name("Émile"), "É.");
        assert_eq!(mask_name(""), "");
    }
}
