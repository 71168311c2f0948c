//! Money: integer minor units and an ISO 4217 code, never a float.

/// Digits after the decimal point for a currency (ISO 4217 exponent).
pub fn minor_digits(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// An amount in minor units written as an exact decimal in major units
/// (`1250` USD is `"12.50"`), never rounded. Digit by digit rather than
/// through `format!`: a page of 50 customers writes about a thousand
/// amounts, and the formatter's machinery cost it a thirtieth of its
/// instructions.
pub fn format_minor(minor: i64, currency: &str) -> String {
    let digits = minor_digits(currency) as usize;
    // |i64::MIN| has 19 digits; with a point, leading zeros and a sign an
    // amount takes at most 24 bytes for up to 3 minor digits.
    let mut text = [0u8; 24];
    let mut at = text.len();
    let mut rest = minor.unsigned_abs();
    let mut written = 0;
    // At least one digit before the point.
    while rest > 0 || written <= digits {
        if written == digits && digits > 0 {
            at -= 1;
            text[at] = b'.';
        }
        at -= 1;
        text[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        written += 1;
    }
    if minor < 0 {
        at -= 1;
        text[at] = b'-';
    }
    text[at..].iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_format_exactly() {
        assert_eq!(format_minor(1250, "USD"), "12.50");
        assert_eq!(format_minor(-5, "EUR"), "-0.05");
        assert_eq!(format_minor(1250, "JPY"), "1250");
        assert_eq!(format_minor(1250, "KWD"), "1.250");
        assert_eq!(format_minor(i64::MIN, "USD"), "-92233720368547758.08");
        assert_eq!(format_minor(i64::MIN, "KWD"), "-9223372036854775.808");
        assert_eq!(format_minor(i64::MAX, "JPY"), "9223372036854775807");
        assert_eq!(format_minor(0, "USD"), "0.00");
        assert_eq!(format_minor(0, "JPY"), "0");
    }

    /// The same text as the formatter's, for every number of minor digits.
    #[test]
    fn minor_units_format_as_the_formatter_writes_them() {
        let formatted = |minor: i64, digits: u32| {
            let sign = if minor < 0 { "-" } else { "" };
            let abs = minor.unsigned_abs();
            if digits == 0 {
                return format!("{sign}{abs}");
            }
            let scale = 10u64.pow(digits);
            format!(
                "{sign}{}.{:0width$}",
                abs / scale,
                abs % scale,
                width = digits as usize
            )
        };
        let mut amounts = vec![i64::MIN, i64::MIN + 1, i64::MAX, 0];
        for n in 0..19 {
            let p = 10i64.pow(n);
            amounts.extend([p - 1, p, p + 1, -p + 1, -p, -p - 1, p * 7 + 3]);
        }
        for minor in amounts {
            for (currency, digits) in [("JPY", 0), ("USD", 2), ("KWD", 3)] {
                assert_eq!(
                    format_minor(minor, currency),
                    formatted(minor, digits),
                    "{minor} {currency}"
                );
            }
        }
    }
}
