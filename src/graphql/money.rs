//! Money as the API shows it: a decimal string and an ISO 4217 code, from
//! integer minor units (never a float).

use async_graphql::SimpleObject;

/// An amount of money.
#[derive(Debug, Clone, PartialEq, Eq, SimpleObject)]
pub struct Money {
    /// Decimal amount in major units, e.g. `"12.50"`; exact, never rounded.
    pub amount: String,
    /// ISO 4217 currency code, e.g. `USD`.
    pub currency_code: String,
}

/// Digits after the decimal point for a currency (ISO 4217 exponent).
pub fn minor_digits(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

impl Money {
    pub fn from_minor(minor: i64, currency: &str) -> Money {
        let digits = minor_digits(currency);
        let sign = if minor < 0 { "-" } else { "" };
        let abs = minor.unsigned_abs();
        let amount = if digits == 0 {
            format!("{sign}{abs}")
        } else {
            let scale = 10u64.pow(digits);
            format!(
                "{sign}{}.{:0width$}",
                abs / scale,
                abs % scale,
                width = digits as usize
            )
        };
        Money {
            amount,
            currency_code: currency.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_format_exactly() {
        assert_eq!(Money::from_minor(1250, "USD").amount, "12.50");
        assert_eq!(Money::from_minor(-5, "EUR").amount, "-0.05");
        assert_eq!(Money::from_minor(1250, "JPY").amount, "1250");
        assert_eq!(Money::from_minor(1250, "KWD").amount, "1.250");
        assert_eq!(
            Money::from_minor(i64::MIN, "USD").amount,
            "-92233720368547758.08"
        );
    }
}
