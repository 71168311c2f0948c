//! Money: integer minor units and an ISO 4217 code, never a float.

/// Digits after the decimal point for a currency (ISO 4217 exponent).
///
/// Matched as three bytes rather than as text: a page of orders asks once a
/// row, and a text match compared the code with every listed one in turn.
pub fn minor_digits(currency: &str) -> u32 {
    match currency.as_bytes() {
        b"BIF" | b"CLP" | b"DJF" | b"GNF" | b"ISK" | b"JPY" | b"KMF" | b"KRW" | b"PYG" | b"RWF"
        | b"UGX" | b"UYI" | b"VND" | b"VUV" | b"XAF" | b"XOF" | b"XPF" => 0,
        b"BHD" | b"IQD" | b"JOD" | b"KWD" | b"LYD" | b"OMR" | b"TND" => 3,
        _ => 2,
    }
}

/// An amount in minor units written as an exact decimal in major units
/// (`1250` USD is `"12.50"`), never rounded.
pub fn format_minor(minor: i64, currency: &str) -> String {
    let mut out = Vec::with_capacity(22);
    write_minor(&mut out, minor, currency);
    // Digits, a point and a sign: ASCII, which is always UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// [`format_minor`]'s text appended to `out`, as ASCII: a response being
/// written takes it without a `String` of its own.
///
/// Written digit by digit rather than through `format!`: a page of orders
/// writes one amount a row, and the formatting machinery cost more than the
/// rest of writing the row.
pub fn write_minor(out: &mut Vec<u8>, minor: i64, currency: &str) {
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
    out.extend_from_slice(&buf[at..]);
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
