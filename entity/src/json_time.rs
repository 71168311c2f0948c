//! Timestamps of rows read as JSON (PostgreSQL's `json_build_array`, which
//! writes RFC 3339 with the offset). The one form PostgreSQL writes,
//! `YYYY-MM-DDTHH:MM:SS[.fraction]±HH:MM`, is read field by field
//! ([`exact`]); anything else goes to chrono's RFC 3339 parser, and what
//! that does not take is read as chrono's own `Deserialize` reads it.
//! chrono's general format parser cost a page of 50 customers with their
//! lists a sixth of its request's instructions, and its RFC 3339 parser
//! still a twentieth: a page holds about a thousand timestamps.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeDelta, Utc};
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

/// The epoch as PostgreSQL writes it: what a column a statement leaves out
/// reads as (`c360::read::columns`), several hundred times on a page of
/// customers with their lists, and known without reading it field by field.
pub const EPOCH: &str = "1970-01-01T00:00:00+00:00";

fn parse<E: Error>(text: &str) -> Result<DateTime<Utc>, E> {
    if text == EPOCH {
        return Ok(DateTime::UNIX_EPOCH);
    }
    if let Some(at) = exact(text.as_bytes()) {
        return Ok(at);
    }
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| text.parse::<DateTime<FixedOffset>>())
        .map(|t| t.with_timezone(&Utc))
        .map_err(E::custom)
}

/// `YYYY-MM-DDTHH:MM:SS`, an optional fraction of one to nine digits, and
/// `Z` or an offset `±HH:MM`: the instant, or `None` for any other text
/// (and for a leap second or an impossible date or offset, which chrono
/// then judges).
fn exact(text: &[u8]) -> Option<DateTime<Utc>> {
    if text.len() < 20
        || [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')]
            .iter()
            .any(|&(at, c)| text[at] != c)
    {
        return None;
    }
    let digit = |at: usize| -> Option<u32> {
        let d = text.get(at)?.wrapping_sub(b'0');
        (d < 10).then_some(u32::from(d))
    };
    let two = |at: usize| Some(digit(at)? * 10 + digit(at + 1)?);
    let year = two(0)? * 100 + two(2)?;
    let date = NaiveDate::from_ymd_opt(year as i32, two(5)?, two(8)?)?;
    let mut at = 19;
    let mut nanos = 0;
    if text[at] == b'.' {
        let mut scale = 1_000_000_000;
        at += 1;
        while let Some(d) = digit(at) {
            if scale == 1 {
                return None;
            }
            scale /= 10;
            nanos += d * scale;
            at += 1;
        }
        if scale == 1_000_000_000 {
            return None;
        }
    }
    let time = NaiveTime::from_hms_nano_opt(two(11)?, two(14)?, two(17)?, nanos)?;
    let offset = match *text.get(at)? {
        b'Z' if text.len() == at + 1 => 0,
        sign @ (b'+' | b'-') if text.len() == at + 6 && text[at + 3] == b':' => {
            let (hours, minutes) = (two(at + 1)?, two(at + 4)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = i64::from(hours * 3600 + minutes * 60);
            if sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let local = date.and_time(time);
    let utc = if offset == 0 {
        local
    } else {
        local.checked_sub_signed(TimeDelta::seconds(offset))?
    };
    Some(utc.and_utc())
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
            EPOCH,
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

    /// The field-by-field reading agrees with chrono's RFC 3339 parser on
    /// every form PostgreSQL writes and on near misses, which it leaves to
    /// chrono (a leap second, an impossible date, hour or offset, a fraction
    /// of more than nine digits, another separator).
    #[test]
    fn the_exact_form_reads_as_chrono_reads_it() {
        let fractions = [
            "",
            ".5",
            ".123",
            ".123456",
            ".000001",
            ".999999999",
            ".1234567891",
        ];
        let offsets = [
            "+00:00", "Z", "-05:00", "+05:30", "+23:59", "-23:59", "+24:00", "+01:60", "z",
            "+0100", "",
        ];
        let stamps = [
            "2026-03-01T10:00:00",
            "1970-01-01T00:00:00",
            "0001-01-01T00:00:00",
            "9999-12-31T23:59:59",
            "2024-02-29T12:34:56",
            "2025-02-29T12:34:56",
            "2000-02-29T00:00:00",
            "1900-02-29T00:00:00",
            "1900-03-01T00:00:00",
            "2100-02-28T23:59:59",
            "0000-03-01T00:00:00",
            "0000-01-01T00:00:00",
            "1969-12-31T23:59:59",
            "2026-01-31T00:00:00",
            "2026-06-31T00:00:00",
            "2026-00-10T00:00:00",
            "2026-03-00T00:00:00",
            "2026-13-01T00:00:00",
            "2026-04-31T00:00:00",
            "2026-03-01T24:00:00",
            "2026-03-01T10:60:00",
            "2016-12-31T23:59:60",
            "2026-03-01 10:00:00",
            "2026-03-01t10:00:00",
            "2026-3-01T10:00:00",
            "+2026-03-01T10:00:0",
        ];
        for stamp in stamps {
            for fraction in fractions {
                for offset in offsets {
                    let text = format!("{stamp}{fraction}{offset}");
                    let chrono = DateTime::parse_from_rfc3339(&text).map(|t| t.with_timezone(&Utc));
                    if let Some(at) = exact(text.as_bytes()) {
                        assert_eq!(Ok(at), chrono.clone(), "{text}");
                    }
                    let ours = parse::<serde_json::Error>(&text).ok();
                    match chrono {
                        Ok(at) => assert_eq!(ours, Some(at), "{text}"),
                        Err(_) => assert_eq!(
                            ours,
                            text.parse::<DateTime<FixedOffset>>()
                                .ok()
                                .map(|t| t.with_timezone(&Utc)),
                            "{text}"
                        ),
                    }
                }
            }
        }
        // The forms PostgreSQL writes take the exact path.
        for text in [
            EPOCH,
            "2026-03-01T10:00:00+00:00",
            "2026-03-01T10:00:00.123456+00:00",
            "2026-03-01T10:00:00.5-03:30",
        ] {
            assert!(exact(text.as_bytes()).is_some(), "{text}");
        }
    }
}
