//! The one error type of c360 and the `extensions.code` each variant carries.
//!
//! Client mistakes say what to change; database and internal failures are
//! logged with their details and reach the client as `INTERNAL` with none.
//!
//! The JSON of an error is shaped here once: [`ErrorExtensions::extend`]
//! for errors inside a GraphQL response, [`AppError::body`] and
//! `IntoResponse` for errors that end a request before GraphQL runs.

use async_graphql::ErrorExtensions;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::{DbErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// `UNAUTHENTICATED` (HTTP 401 before execution): no valid token.
    #[error("{0}")]
    Unauthenticated(String),
    /// `FORBIDDEN`: the token is valid but lacks the role or scope.
    #[error("{0}")]
    Forbidden(String),
    /// `BAD_USER_INPUT`: a malformed id, cursor, argument or value; `field` names the input.
    #[error("{message}")]
    BadUserInput {
        message: String,
        field: Option<String>,
    },
    /// `NOT_FOUND`: the object does not exist or is not visible to the caller.
    #[error("{0}")]
    NotFound(String),
    /// `CONFLICT`: the write collides with existing state (a unique key, a transition).
    #[error("{0}")]
    Conflict(String),
    /// `RATE_LIMITED` (HTTP 429 with `Retry-After`).
    #[error("rate limit exceeded; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// `UNAVAILABLE` (HTTP 503 with `Retry-After: 1`): a service the request
    /// needs is down; the same request may succeed a moment later.
    #[error("{0}")]
    Unavailable(String),
    /// `QUERY_TOO_COMPLEX`: depth, complexity or size over the configured limit.
    #[error("{0}")]
    QueryTooComplex(String),
    /// `PERSISTED_QUERY_NOT_FOUND`: the request names a document by hash or
    /// `documentId` that the server does not hold. HTTP 200, as Apollo
    /// Client expects before it sends the text (a 400 would make it stop
    /// using persisted queries).
    #[error("{0}")]
    PersistedQueryNotFound(String),
    /// `PERSISTED_QUERY_NOT_IN_LIST`: the caller's role may run only trusted
    /// documents, and this one is not in the manifest.
    #[error("{0}")]
    PersistedQueryNotInList(String),
    /// `TIMEOUT`: the request ran past its deadline and was cancelled.
    #[error("the request took longer than {0} ms and was cancelled")]
    Timeout(u64),
    /// `BAD_USER_INPUT` with `line`, `column` and `suggestion`: a segment query
    /// that does not parse or check.
    #[error("{0}")]
    Segment(#[from] crate::segment::SegmentError),
    /// `INTERNAL`: a database failure; logged, never shown.
    #[error("internal error")]
    Database(#[source] DbErr),
    /// `INTERNAL`: anything else unexpected; logged, never shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

/// The code of the error a response was ended with, kept in the response's
/// extensions for the access log.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

impl AppError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::BadUserInput {
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// BAD_USER_INPUT about the request as a whole rather than one field.
    pub fn invalid(message: impl Into<String>) -> Self {
        AppError::BadUserInput {
            message: message.into(),
            field: None,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::BadUserInput { .. } | AppError::Segment(_) => "BAD_USER_INPUT",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::Conflict(_) => "CONFLICT",
            AppError::RateLimited { .. } => "RATE_LIMITED",
            AppError::Unavailable(_) => "UNAVAILABLE",
            AppError::QueryTooComplex(_) => "QUERY_TOO_COMPLEX",
            AppError::PersistedQueryNotFound(_) => "PERSISTED_QUERY_NOT_FOUND",
            AppError::PersistedQueryNotInList(_) => "PERSISTED_QUERY_NOT_IN_LIST",
            AppError::Timeout(_) => "TIMEOUT",
            AppError::Database(_) | AppError::Internal(_) => "INTERNAL",
        }
    }
}

impl AppError {
    /// The HTTP status of a request that this error ends before GraphQL
    /// runs (errors inside a GraphQL response leave the status alone).
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::BadUserInput { .. } | AppError::Segment(_) => StatusCode::BAD_REQUEST,
            AppError::QueryTooComplex(_) | AppError::PersistedQueryNotInList(_) => {
                StatusCode::BAD_REQUEST
            }
            AppError::PersistedQueryNotFound(_) => StatusCode::OK,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            AppError::Database(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// This error as a GraphQL error object, with its `extensions` and no
    /// `locations`: it belongs to no place in the document.
    pub fn to_server_error(&self) -> async_graphql::ServerError {
        let mut error = self
            .extend()
            .into_server_error(async_graphql::Pos::default());
        error.locations.clear();
        error
    }

    /// `{"errors": [<this error>]}`, the body of a request it ends.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "errors": [self.to_server_error()] })
    }

    /// The response for a request this error ends: `status`, the body as
    /// `content_type`, and `Retry-After` when it says when to come back.
    pub fn respond(&self, status: StatusCode, content_type: &'static str) -> Response {
        let mut response = (status, self.body().to_string()).into_response();
        response.extensions_mut().insert(ErrorCode(self.code()));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        match self {
            AppError::RateLimited { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            AppError::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
            }
            _ => {}
        }
        response
    }
}

/// A request ended by an error outside GraphQL: its status and
/// `application/json`.
impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.respond(self.status(), "application/json")
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                AppError::Conflict("a record with the same unique key already exists".into())
            }
            _ => AppError::Database(err),
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> Self {
        AppError::Internal(err)
    }
}

/// Resolvers return `AppError` with `?`: async-graphql keeps it as the error's
/// source, and `graphql::classify` reads the code from there. Explicit
/// conversions (loader errors shared by many fields) go through `extend`.
impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        match self {
            AppError::Database(err) => tracing::error!(error = %err, "database error"),
            AppError::Internal(err) => tracing::error!(error = ?err, "internal error"),
            _ => {}
        }
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| {
            ext.set("code", self.code());
            match self {
                AppError::BadUserInput { field: Some(f), .. } => ext.set("field", f.as_str()),
                AppError::Segment(e) => {
                    ext.set("field", "query");
                    ext.set("line", e.line);
                    ext.set("column", e.column);
                    if let Some(s) = &e.suggestion {
                        ext.set("suggestion", s.as_str());
                    }
                }
                AppError::RateLimited { retry_after_secs } => {
                    ext.set("retryAfter", *retry_after_secs)
                }
                _ => {}
            }
        })
    }
}
