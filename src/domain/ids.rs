//! Global object ids (`gid://c360/Customer/42`): self-describing, stable, and
//! the same in every API response, audit row and export, so `node(id)` can
//! route them. One codec for every kind, segments included.

use crate::error::{AppError, AppResult};

const PREFIX: &str = "gid://c360/";

/// The kinds of object that carry a global id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Customer,
    Order,
    Ticket,
    Review,
    Referral,
    NpsResponse,
    LoyaltyTransaction,
    Segment,
    StoreCreditEntry,
}

impl Kind {
    const ALL: [Kind; 9] = [
        Kind::Customer,
        Kind::Order,
        Kind::Ticket,
        Kind::Review,
        Kind::Referral,
        Kind::NpsResponse,
        Kind::LoyaltyTransaction,
        Kind::Segment,
        Kind::StoreCreditEntry,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Customer => "Customer",
            Kind::Order => "Order",
            Kind::Ticket => "Ticket",
            Kind::Review => "Review",
            Kind::Referral => "Referral",
            Kind::NpsResponse => "NpsResponse",
            Kind::LoyaltyTransaction => "LoyaltyTransaction",
            Kind::Segment => "Segment",
            Kind::StoreCreditEntry => "StoreCreditEntry",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The global id of row `id` of `kind`.
pub fn gid(kind: Kind, id: i64) -> String {
    let mut gid = Vec::with_capacity(PREFIX.len() + 24);
    write_gid(&mut gid, kind, id);
    // Only ASCII was written.
    String::from_utf8(gid).unwrap_or_default()
}

/// [`gid`] written at the end of `out`: pushed piece by piece, since every
/// row a page writes has one, and `format!` costs several times as much.
pub fn write_gid(out: &mut Vec<u8>, kind: Kind, id: i64) {
    let kind = kind.as_str();
    let mut id_text = itoa::Buffer::new();
    let id_text = id_text.format(id);
    out.reserve(PREFIX.len() + kind.len() + 1 + id_text.len());
    out.extend_from_slice(PREFIX.as_bytes());
    out.extend_from_slice(kind.as_bytes());
    out.push(b'/');
    out.extend_from_slice(id_text.as_bytes());
}

/// Splits a global id into kind and row id.
pub fn decode_any(field: &str, id: &str) -> AppResult<(Kind, i64)> {
    let malformed = || {
        AppError::bad_input(
            field,
            format!("`{id}` is not a c360 id; ids look like `gid://c360/Customer/42`"),
        )
    };
    let rest = id.strip_prefix(PREFIX).ok_or_else(malformed)?;
    let (kind, num) = rest.split_once('/').ok_or_else(malformed)?;
    let kind = Kind::parse(kind).ok_or_else(malformed)?;
    let num: i64 = num.parse().map_err(|_| malformed())?;
    if num <= 0 {
        return Err(malformed());
    }
    Ok((kind, num))
}

/// Decodes an id that must be of `kind`.
pub fn decode(field: &str, kind: Kind, id: &str) -> AppResult<i64> {
    let (found, num) = decode_any(field, id).map_err(|_| {
        AppError::bad_input(
            field,
            format!(
                "`{id}` is not a {} id; they look like `{}`",
                kind.as_str(),
                gid(kind, 42)
            ),
        )
    })?;
    if found != kind {
        return Err(AppError::bad_input(
            field,
            format!(
                "`{id}` is a {} id; a {} id is expected here",
                found.as_str(),
                kind.as_str()
            ),
        ));
    }
    Ok(num)
}

/// A row id written either as a global id of `kind` or as a bare positive
/// number, as people write them in files and URL paths.
pub fn decode_lenient(field: &str, kind: Kind, id: &str) -> AppResult<i64> {
    match id.trim().parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => decode(field, kind, id.trim()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_other_shapes() {
        assert_eq!(gid(Kind::Order, 7), "gid://c360/Order/7");
        assert_eq!(
            decode("id", Kind::Order, "gid://c360/Order/7").ok(),
            Some(7)
        );
        assert_eq!(
            decode("id", Kind::Segment, "gid://c360/Segment/3").ok(),
            Some(3)
        );
        for bad in [
            "",
            "7",
            "gid://c360/Order/",
            "gid://c360/Order/x",
            "gid://c360/Nope/1",
            "gid://c360/Order/-1",
        ] {
            assert!(decode_any("id", bad).is_err(), "{bad}");
        }
        assert!(decode("id", Kind::Customer, "gid://c360/Order/7").is_err());
        assert_eq!(decode_lenient("id", Kind::Customer, " 12 ").ok(), Some(12));
        assert!(decode_lenient("id", Kind::Customer, "0").is_err());
    }
}
