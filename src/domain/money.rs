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
/// (`1250` USD is `"12.50"`), never rounded.
///
/// Written digit by digit rather than through `format!`: a page of orders
/// writes one amount a row, and the formatting machinery cost more than the
/// rest of writing the row.
pub fn format_minor(minor: i64, currency: &str) -> String {
    let digits = minor_digits(currency) as usize;
    let mut abs = minor.unsigned_abs();
    // From the last digit back: at most 20 digits, a point and a sign.
    let mut buf = [0u8; 22];
    let mut at = buf.len();
    let mut written = 0;
    // Every fractional digit, and at least one before the point.
    while abs > 0 || written <= digits {
        if written == digits && digits > 0 {
            at -= 1;
            buf[at] = b'.';
        }
        at -= 1;
        buf[at] = b'0' + (abs % 10) as u8;
        abs /= 10;
        written += 1;
    }
    if minor < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    // Digits, a point and a sign: ASCII, which is always UTF-8.
    std::str::from_utf8(&buf[at..]).map_or_else(|_| String::new(), str::to_owned)
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
        assert_eq!(format_minor(7, "KWD"), "0.007");
        assert_eq!(format_minor(-100, "USD"), "-1.00");
        assert_eq!(format_minor(-3, "JPY"), "-3");
        assert_eq!(format_minor(1_000_000, "USD"), "10000.00");
    }

    proptest::proptest! {
        /// Every amount is written as `format!` writes it.
        #[test]
        fn amounts_are_written_as_format_writes_them(
            minor in proptest::num::i64::ANY,
            currency in proptest::sample::select(vec!["USD", "JPY", "KWD"]),
        ) {
            let digits = minor_digits(currency);
            let sign = if minor < 0 { "-" } else { "" };
            let abs = minor.unsigned_abs();
            let expected = if digits == 0 {
                format!("{sign}{abs}")
            } else {
                let scale = 10u64.pow(digits);
                format!("{sign}{}.{:0width$}", abs / scale, abs % scale, width = digits as usize)
            };
            proptest::prop_assert_eq!(format_minor(minor, currency), expected);
        }
    }
}
