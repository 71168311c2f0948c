//! Gives every error in a response an `extensions.code` and tells the HTTP
//! layer whether the request failed before execution (parse, validation,
//! variables), which GraphQL-over-HTTP answers with 4xx.

use async_graphql::{Response, Value};

use crate::error::AppError;

/// How a request ended, for the status code and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Executed with no errors.
    Ok,
    /// Executed; some fields have errors.
    PartialErrors,
    /// Rejected before execution: the document or variables are invalid.
    Invalid,
    /// Rejected before execution for its size or depth.
    TooComplex,
    /// Cancelled at the deadline.
    Timeout,
}

impl Outcome {
    /// The outcome's name in metrics and the access log.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::PartialErrors => "field_errors",
            Outcome::Invalid => "invalid",
            Outcome::TooComplex => "too_complex",
            Outcome::Timeout => "timeout",
        }
    }

    /// How bad it is, for the worst outcome of a batch.
    pub fn severity(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::PartialErrors => 1,
            Outcome::Invalid | Outcome::TooComplex => 2,
            Outcome::Timeout => 3,
        }
    }
}

/// Fills in missing codes and classifies the response.
pub fn classify(response: &mut Response) -> Outcome {
    if response.errors.is_empty() {
        return Outcome::Ok;
    }
    let executed = response.data != Value::Null;
    let mut outcome = Outcome::PartialErrors;
    for err in &mut response.errors {
        let has_code = err
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        // An AppError that reached the client through `?`: its own code and
        // extensions, shaped where every AppError is (`error.rs`), which also
        // logs internal failures and keeps their details from the client.
        let from_app = err.source::<AppError>().map(AppError::to_server_error);
        if let (false, Some(shaped)) = (has_code, from_app) {
            err.message = shaped.message;
            err.extensions = shaped.extensions;
        } else if !has_code {
            let code = if err.message.starts_with("Query is too complex") {
                "QUERY_TOO_COMPLEX"
            } else if (!executed && err.path.is_empty())
                || err.message.starts_with("Failed to parse")
                || err.message.starts_with("Invalid value")
                // An argument's value of the wrong type at execution, e.g. a
                // nullable variable left out where the argument is non-null
                // (async-graphql then passes null rather than the default).
                || err.message.starts_with("Expected input type")
            {
                "BAD_USER_INPUT"
            } else {
                tracing::error!(message = %err.message, "uncoded GraphQL error");
                err.message = "internal error".into();
                "INTERNAL"
            };
            err.extensions
                .get_or_insert_with(Default::default)
                .set("code", code);
        }
        let code = err.extensions.as_ref().and_then(|e| e.get("code")).cloned();
        if !executed && err.path.is_empty() {
            outcome = match code {
                Some(Value::String(c)) if c == "QUERY_TOO_COMPLEX" => Outcome::TooComplex,
                Some(Value::String(c)) if c == "TIMEOUT" => Outcome::Timeout,
                _ if outcome == Outcome::PartialErrors => Outcome::Invalid,
                _ => outcome,
            };
        }
    }
    outcome
}
