//! Timestamps of rows read as JSON (PostgreSQL's `row_to_json`, which
//! writes RFC 3339 with the offset): parsed by chrono's RFC 3339 parser.
//! chrono's own `Deserialize` goes through its general format parser, and
//! that cost a page of 50 customers with their lists a sixth of its
//! request's instructions. Anything that parser does not take is read as
//! chrono reads it.

use std::fmt;

use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserializer;
use serde::de::{Error, Visitor};

/// A `DateTime<Utc>` field.
pub fn utc<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    deserializer.deserialize_str(Utc3339)
}

/// An `Option<DateTime<Utc>>` field; give it `#[serde(default)]` as well.
pub fn utc_opt<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    deserializer.deserialize_option(Maybe)
}

fn parse<E: Error>(text: &str) -> Result<DateTime<Utc>, E> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| text.parse::<DateTime<FixedOffset>>())
        .map(|t| t.with_timezone(&Utc))
        .map_err(E::custom)
}

struct Utc3339;

impl Visitor<'_> for Utc3339 {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 timestamp")
    }

    fn visit_str<E: Error>(self, text: &str) -> Result<DateTime<Utc>, E> {
        parse(text)
    }
}

struct Maybe;

impl<'de> Visitor<'de> for Maybe {
    type Value = Option<DateTime<Utc>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 timestamp or null")
    }

    fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        utc(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Row {
        #[serde(deserialize_with = "utc")]
        at: DateTime<Utc>,
        #[serde(default, deserialize_with = "utc_opt")]
        until: Option<DateTime<Utc>>,
    }

    /// Every form PostgreSQL writes, and the looser ones chrono takes, give
    /// the instant chrono's own reading gives.
    #[test]
    fn timestamps_read_as_chrono_reads_them() {
        for text in [
            "2026-03-01T10:00:00+00:00",
            "2026-03-01T10:00:00.123456+00:00",
            "2026-03-01T12:30:00.5+02:30",
            "2026-03-01T10:00:00Z",
            "2026-03-01 10:00:00+00:00",
        ] {
            let json = format!(r#"{{"at": "{text}", "until": "{text}"}}"#);
            let row: Row = serde_json::from_str(&json).expect("a row with timestamps");
            let chrono: DateTime<Utc> =
                serde_json::from_str(&format!("\"{text}\"")).expect("chrono reads it");
            assert_eq!(row.at, chrono, "{text}");
            assert_eq!(row.until, Some(chrono), "{text}");
        }
        let row: Row =
            serde_json::from_str(r#"{"at": "2026-03-01T10:00:00Z", "until": null}"#).expect("null");
        assert_eq!(row.until, None);
        let row: Row = serde_json::from_str(r#"{"at": "2026-03-01T10:00:00Z"}"#).expect("absent");
        assert_eq!(row.until, None);
        assert!(serde_json::from_str::<Row>(r#"{"at": "yesterday"}"#).is_err());
    }
}
