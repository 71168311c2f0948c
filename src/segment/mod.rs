//! The segment language: text such as
//! `amount_spent >= 500 AND last_order_date < -90d` is tokenised ([`lexer`]),
//! parsed and checked against the [`catalogue`] ([`parser`]) into an [`ast::Expr`],
//! and compiled ([`compile`]) into one parameterised SQL condition. The typed
//! `filter` input of `customers` builds the same AST. Nothing is ever ignored:
//! an unknown name, a wrong operator or a bad value is an error that names its
//! line and column and suggests the nearest valid word.

pub mod ast;
pub mod catalogue;
pub mod compile;
pub mod lexer;
pub mod parser;

pub use ast::Expr;
pub use compile::{Env, compile, customers_joined};
pub use lexer::Pos;
pub use parser::parse;

/// A query that does not parse or check, with where and what instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (line {line}, column {column}){}", suggestion.as_ref().map(|s| format!("; did you mean {s}?")).unwrap_or_default())]
pub struct SegmentError {
    pub message: String,
    pub line: u32,
    pub column: u32,
    pub suggestion: Option<String>,
}

impl SegmentError {
    pub fn new(pos: Pos, message: impl Into<String>) -> SegmentError {
        SegmentError {
            message: message.into(),
            line: pos.line,
            column: pos.column,
            suggestion: None,
        }
    }

    pub fn suggest(mut self, suggestion: impl Into<String>) -> SegmentError {
        self.suggestion = Some(suggestion.into());
        self
    }

    pub fn suggest_opt(mut self, suggestion: Option<String>) -> SegmentError {
        self.suggestion = suggestion;
        self
    }
}

/// Parses, checks and compiles a query for the store's base currency and `env`.
pub fn condition(
    text: &str,
    env: &Env,
) -> Result<sea_orm::sea_query::Condition, crate::error::AppError> {
    let digits = crate::domain::money::minor_digits(&env.base_currency);
    let expr = parse(text, digits)?;
    compile(&expr, env)
}
