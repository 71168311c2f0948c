//! Money as the API shows it: a decimal string and an ISO 4217 code, from
//! integer minor units (`domain::money`).

use async_graphql::SimpleObject;

/// An amount of money.
#[derive(Debug, Clone, PartialEq, Eq, SimpleObject)]
pub struct Money {
    /// Decimal amount in major units, e.g. `"12.50"`; exact, never rounded.
    pub amount: String,
    /// ISO 4217 currency code, e.g. `USD`.
    pub currency_code: String,
}

impl Money {
    pub fn from_minor(minor: i64, currency: &str) -> Money {
        Money {
            amount: crate::domain::money::format_minor(minor, currency),
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
