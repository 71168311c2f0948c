//! Log events as JSON lines, for a log shipper.
//!
//! The line is the one `tracing_subscriber`'s JSON format writes with its
//! fields flattened and no spans: `timestamp`, `level`, the event's fields
//! in order (`message` among them), `target`. It is written straight into
//! one buffer: that format serialises through serde into an `io::Write`
//! adaptor that checks every piece it is handed as UTF-8, and the access
//! line of every request spent 4 % of a profile request's instructions
//! there (BENCHMARKS.md).

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The JSON line format, with `timer` writing each line's timestamp.
#[derive(Debug)]
pub struct JsonLines<T = SystemTime> {
    timer: T,
}

impl Default for JsonLines {
    fn default() -> JsonLines {
        JsonLines { timer: SystemTime }
    }
}

impl<S, N, T> FormatEvent<S, N> for JsonLines<T>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
    T: FormatTime,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut time = String::new();
        self.timer.format_time(&mut Writer::new(&mut time))?;
        let mut line = String::with_capacity(256);
        line.push_str(r#"{"timestamp":"#);
        string(&mut line, &time);
        line.push_str(r#","level":""#);
        line.push_str(meta.level().as_str());
        line.push('"');
        event.record(&mut Fields(&mut line));
        line.push_str(r#","target":"#);
        string(&mut line, meta.target());
        line.push_str("}\n");
        writer.write_str(&line)
    }
}

/// Writes each field as `,"name":value`.
struct Fields<'a>(&'a mut String);

impl Fields<'_> {
    fn key(&mut self, field: &Field) {
        self.0.push(',');
        string(self.0, field.name());
        self.0.push(':');
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        string(self.0, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        self.0.push('"');
        // Writing into a `String` cannot fail; a `Debug` that fails leaves
        // what it wrote, as serde's `collect_str` would not.
        let _ = write!(Escaped(self.0), "{value:?}");
        self.0.push('"');
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        self.0.push_str(itoa::Buffer::new().format(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        self.0.push_str(itoa::Buffer::new().format(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        // serde_json's own text for a float (`null` when not finite).
        match serde_json::to_string(&value) {
            Ok(text) => self.0.push_str(&text),
            Err(_) => self.0.push_str("null"),
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.0.push_str(if value { "true" } else { "false" });
    }
}

/// A `fmt::Write` that escapes what it is given as JSON string content.
struct Escaped<'a>(&'a mut String);

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape(self.0, s);
        Ok(())
    }
}

/// `s` as a JSON string.
fn string(out: &mut String, s: &str) {
    out.push('"');
    escape(out, s);
    out.push('"');
}

/// `s` escaped as serde_json escapes string content.
fn escape(out: &mut String, s: &str) {
    let mut plain = 0;
    for (at, byte) in s.bytes().enumerate() {
        let escaped = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[plain..at]);
        if escaped.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        } else {
            out.push_str(escaped);
        }
        plain = at + 1;
    }
    out.push_str(&s[plain..]);
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    /// A timestamp that needs no clock, and one character to escape.
    struct Fixed;

    impl FormatTime for Fixed {
        fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
            w.write_str("2026-12-04T05:22:18.898043Z\"")
        }
    }

    fn events() {
        tracing::info!(
            target: "c360::access",
            request_id = "01JX",
            method = %"POST",
            status = 200u64,
            delta = -42i64,
            duration_ms = 1.25f64,
            not_a_number = f64::NAN,
            ok = true,
            big = 1u128 << 100,
            text = "quote \" backslash \\ line\nreturn\r tab\t bell\u{7} del\u{7f} é 😀",
            "request"
        );
        tracing::warn!(error = ?"a \"debug\"\nvalue", "went {} way", "some");
        tracing::error!("no fields");
    }

    /// Every line is the one tracing_subscriber's JSON format writes.
    #[test]
    fn lines_are_those_of_tracing_subscribers_json() {
        let ours = Buffer::default();
        let theirs = Buffer::default();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(JsonLines { timer: Fixed })
                    .with_writer(ours.clone()),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_timer(Fixed)
                    .with_writer(theirs.clone()),
            );
        tracing::subscriber::with_default(subscriber, events);
        let ours = String::from_utf8(ours.0.lock().expect("ours").clone()).expect("UTF-8");
        let theirs = String::from_utf8(theirs.0.lock().expect("theirs").clone()).expect("UTF-8");
        assert_eq!(ours.lines().count(), 3);
        assert_eq!(ours, theirs);
        for line in ours.lines() {
            let parsed: serde_json::Value = serde_json::from_str(line).expect("JSON");
            assert!(parsed["level"].is_string(), "{line}");
        }
    }
}
