//! Validation once per document and variables' shape.
//!
//! async-graphql validates every request in full, even a document it has
//! validated a thousand times; on the profile page that is a sixth of the
//! gateway's instructions per request (BENCHMARKS.md, "Where a request's
//! instructions go"). The outcome of validation depends on the document, the
//! operation and the variables, but on a variable's value only where the
//! rules read it: whether it is valid for its type, and the page sizes the
//! cost adds up. A `String`, `ID`, `DateTime` or `NaiveDate` variable (not a
//! list) whose value is a string is valid whatever the string (async-graphql's
//! date scalars check their text when the executor parses the argument, not
//! in validation), and no cost reads one, so its text is left out of the key;
//! every other value is in it as sent. A page of customers before an instant
//! is validated once, whatever the instant.
//!
//! A success is kept on the document's cache entry under that key and handed
//! back to the executor in place of running the rules again; a failure is
//! never kept, so errors are always the executor's own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
use async_graphql::parser::types::{BaseType, ExecutableDocument};
use async_graphql::{ServerError, ValidationResult, Variables};

/// Keys kept per document, beyond which its entries are dropped: a caller
/// sending ever-new page sizes costs no more than this.
const PER_DOCUMENT: usize = 64;

/// The longest key kept. Variables that carry more (an input object with
/// long text, a long list) are validated every time, so what is kept stays
/// within `PER_DOCUMENT` times this per cached document.
const MAX_KEY_BYTES: usize = 1_024;

/// Scalars whose validity in validation does not depend on a string's text.
const TEXT_FREE: &[&str] = &["String", "ID", "DateTime", "NaiveDate"];

/// Validation results of one document, by the key of their variables.
#[derive(Debug, Default)]
pub struct Validations(Mutex<HashMap<String, ValidationResult>>);

impl Validations {
    pub fn get(&self, key: &str) -> Option<ValidationResult> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).copied()
    }

    pub fn keep(&self, key: String, result: ValidationResult) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= PER_DOCUMENT {
            map.clear();
        }
        map.insert(key, result);
    }
}

/// What validation reads of `variables` for the operation `operation_name`
/// of `doc`, as a string; `None` when the operation is not in the document
/// or the key would be longer than `MAX_KEY_BYTES`.
pub fn variables_key(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
) -> Option<String> {
    let (_, operation) = doc
        .operations
        .iter()
        .find(|(name, _)| match operation_name {
            Some(wanted) => name.is_some_and(|n| n.as_str() == wanted),
            None => true,
        })?;
    let definitions = &operation.node.variable_definitions;
    let mut key = String::new();
    // `Variables` is ordered by name, so equal variables give equal keys.
    for (name, value) in variables.iter() {
        let text_free = definitions.iter().any(|d| {
            d.node.name.node == *name
                && matches!(&d.node.var_type.node.base, BaseType::Named(t) if TEXT_FREE.contains(&t.as_str()))
        }) && matches!(value, async_graphql::Value::String(_));
        key.push_str(name);
        if text_free {
            key.push_str(":string");
        } else {
            key.push('=');
            key.push_str(&value.to_string());
        }
        key.push('\n');
        if key.len() > MAX_KEY_BYTES {
            return None;
        }
    }
    Some(key)
}

/// A result kept for this request's document and variables: the executor
/// takes it instead of validating.
#[derive(Debug, Clone, Copy)]
pub struct Prevalidated(pub ValidationResult);

/// Where the executor leaves the result of a validation that ran, for the
/// caller to keep.
#[derive(Debug, Clone, Default)]
pub struct Outcome(Arc<OnceLock<ValidationResult>>);

impl Outcome {
    pub fn result(&self) -> Option<ValidationResult> {
        self.0.get().copied()
    }
}

/// The extension, on every schema: it acts only on requests that carry
/// [`Prevalidated`] or [`Outcome`].
pub struct ValidateOnce;

impl ExtensionFactory for ValidateOnce {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ValidateOnceExtension)
    }
}

struct ValidateOnceExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for ValidateOnceExtension {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        if let Some(Prevalidated(result)) = ctx.data_opt::<Prevalidated>() {
            return Ok(*result);
        }
        let result = next.run(ctx).await;
        if let (Ok(ok), Some(Outcome(slot))) = (&result, ctx.data_opt::<Outcome>()) {
            let _ = slot.set(*ok);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(doc: &str, vars: serde_json::Value) -> Option<String> {
        let doc = async_graphql::parser::parse_query(doc).ok()?;
        variables_key(&doc, None, &Variables::from_json(vars))
    }

    #[test]
    fn string_id_and_date_text_is_left_out_and_everything_else_is_kept() {
        let doc = "query Q($id: ID!, $s: String, $n: Int, $e: Tier, $l: [ID!], $t: DateTime) { a }";
        let a = key(
            doc,
            serde_json::json!({"id": "gid://c360/Customer/1", "s": "x", "n": 10}),
        );
        let b = key(
            doc,
            serde_json::json!({"id": "gid://c360/Customer/2", "s": "y", "n": 10}),
        );
        assert_eq!(a, b);
        assert!(a.is_some());
        let other_size = key(doc, serde_json::json!({"id": "1", "s": "x", "n": 11}));
        assert_ne!(a, other_size);
        let a_number_id = key(doc, serde_json::json!({"id": 7, "s": "x", "n": 10}));
        assert_ne!(a, a_number_id);
        let e1 = key(doc, serde_json::json!({"e": "GOLD"}));
        let e2 = key(doc, serde_json::json!({"e": "NOPE"}));
        assert_ne!(e1, e2);
        let l1 = key(doc, serde_json::json!({"l": ["1"]}));
        let l2 = key(doc, serde_json::json!({"l": ["2"]}));
        assert_ne!(l1, l2);
        let t1 = key(doc, serde_json::json!({"t": "2026-01-01T00:00:00Z"}));
        let t2 = key(doc, serde_json::json!({"t": "not a time"}));
        assert_eq!(t1, t2);
        assert_ne!(t1, key(doc, serde_json::json!({"t": 7})));
        let null_id = key(doc, serde_json::json!({"id": null}));
        assert_ne!(key(doc, serde_json::json!({"id": "1"})), null_id);
    }

    #[test]
    fn variables_too_long_to_keep_have_no_key() {
        let doc = "query Q($l: [ID!], $id: ID) { a }";
        let long_id = "x".repeat(5_000);
        assert!(key(doc, serde_json::json!({ "id": long_id })).is_some());
        let many: Vec<String> = (0..500).map(|i| i.to_string()).collect();
        assert!(key(doc, serde_json::json!({ "l": many })).is_none());
    }

    #[test]
    fn an_operation_not_in_the_document_has_no_key() {
        let doc =
            async_graphql::parser::parse_query("query A { a } query B { b }").expect("parses");
        let vars = Variables::default();
        assert!(variables_key(&doc, Some("C"), &vars).is_none());
        assert!(variables_key(&doc, Some("B"), &vars).is_some());
    }
}
