//! Checked documents, kept by their text.
//!
//! A frontend sends the same few documents over and over, with new
//! variables. Counting tokens, parsing, and counting aliases and root fields
//! is the same work each time, so its result is kept per distinct text and
//! operation name; a repeated document costs a map lookup and a clone of its
//! syntax tree. Only documents that pass the limits are kept, and the map is
//! emptied when full, so a caller sending ever-new documents costs memory no
//! larger than `CAPACITY` documents of at most `max_document_bytes`.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use async_graphql::Name;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument};

use super::limits::{DocumentLimits, check_document, uses_introspection};
use super::validated::Validations;
use crate::error::AppError;

/// Distinct documents kept.
const CAPACITY: usize = 1_000;

/// A document that passed the limits.
#[derive(Debug)]
pub struct Checked {
    pub doc: ExecutableDocument,
    /// Whether the selected operation reads `__schema` or `__type`.
    pub introspection: bool,
    /// Whether it has run, as a trusted document, after full validation.
    pub validated: AtomicBool,
    /// Its validation results by the shape of the variables.
    pub validations: Validations,
    /// The name of its operation when it has one operation and that is
    /// named: the operation that runs when a request names none.
    pub sole_operation: Option<Name>,
}

/// The checked documents of one text, by operation name.
type ByOperation = Vec<(Option<String>, Arc<Checked>)>;

/// Checked documents by text, then by operation name.
#[derive(Debug, Default)]
pub struct DocumentCache {
    entries: Mutex<HashMap<String, ByOperation>>,
}

impl DocumentCache {
    /// The checked document for `query`; `Ok(None)` when it does not parse
    /// (the executor reports where it breaks).
    pub fn check(
        &self,
        query: &str,
        operation_name: Option<&str>,
        limits: &DocumentLimits,
    ) -> Result<Option<Arc<Checked>>, AppError> {
        if let Some(hit) = self.get(query, operation_name) {
            return Ok(Some(hit));
        }
        let Some(doc) = check_document(query, operation_name, limits)? else {
            return Ok(None);
        };
        let sole_operation = match &doc.operations {
            DocumentOperations::Multiple(named) if named.len() == 1 => named.keys().next().cloned(),
            _ => None,
        };
        let checked = Arc::new(Checked {
            introspection: uses_introspection(&doc, operation_name),
            validated: AtomicBool::new(false),
            validations: Validations::default(),
            sole_operation,
            doc,
        });
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries
            .entry(query.to_owned())
            .or_default()
            .push((operation_name.map(str::to_owned), checked.clone()));
        Ok(Some(checked))
    }

    fn get(&self, query: &str, operation_name: Option<&str>) -> Option<Arc<Checked>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(query)?
            .iter()
            .find(|(name, _)| name.as_deref() == operation_name)
            .map(|(_, checked)| checked.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> DocumentLimits {
        DocumentLimits {
            max_bytes: 1_000,
            max_tokens: 100,
            max_aliases: 2,
            max_root_fields: 3,
            max_depth: 5,
        }
    }

    #[test]
    fn a_repeated_document_is_the_kept_one() {
        let cache = DocumentCache::default();
        let first = cache.check("{ a b }", None, &limits()).ok().flatten();
        let again = cache.check("{ a b }", None, &limits()).ok().flatten();
        assert!(matches!((&first, &again), (Some(a), Some(b)) if Arc::ptr_eq(a, b)));
        let named = cache.check("{ a b }", Some("Q"), &limits()).ok().flatten();
        assert!(matches!((&first, &named), (Some(a), Some(b)) if !Arc::ptr_eq(a, b)));
    }

    #[test]
    fn a_document_of_one_named_operation_knows_its_name() {
        let cache = DocumentCache::default();
        let sole = |query: &str| {
            let checked = cache.check(query, None, &limits()).ok().flatten();
            checked.and_then(|c| c.sole_operation.as_ref().map(|n| n.to_string()))
        };
        assert_eq!(sole("query Page { a }").as_deref(), Some("Page"));
        assert_eq!(sole("{ a }"), None);
        assert_eq!(sole("query A { a } query B { b }"), None);
    }

    #[test]
    fn refusals_and_unparsable_documents_are_not_kept() {
        let cache = DocumentCache::default();
        assert!(cache.check("{ a b c d }", None, &limits()).is_err());
        assert!(cache.check("{ a b c d }", None, &limits()).is_err());
        assert!(matches!(cache.check("{ a", None, &limits()), Ok(None)));
        assert!(cache.entries.lock().map(|e| e.is_empty()).unwrap_or(false));
        let introspects = cache.check("{ __schema { types { name } } }", None, &limits());
        assert!(matches!(introspects, Ok(Some(c)) if c.introspection));
    }
}
