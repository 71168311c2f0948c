//! Limits on the GraphQL document itself, checked before it is validated or
//! run: its size in bytes, its number of lexical tokens, its aliases and the
//! root fields of the operation. Depth and cost (where a connection's `first`
//! multiplies what it selects) are checked by async-graphql's validation with
//! the limits set on the schema; see `page_cost`.

use std::collections::HashSet;

use async_graphql::parser::types::{
    ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};

use crate::config::Config;
use crate::error::AppError;
use crate::read::pagination::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// The document limits of one server.
#[derive(Debug, Clone, Copy)]
pub struct DocumentLimits {
    pub max_bytes: usize,
    pub max_tokens: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
}

impl DocumentLimits {
    pub fn from_config(config: &Config) -> Self {
        DocumentLimits {
            max_bytes: config.max_document_bytes,
            max_tokens: config.max_tokens,
            max_aliases: config.max_aliases,
            max_root_fields: config.max_root_fields,
        }
    }
}

/// The cost of a connection field: its page size (what `first`, or `last`,
/// asks for; the default page when neither is given) times the cost of one
/// element, so `customers(first: 100) { orders(first: 100) { ... } }` costs
/// ten thousand times what one order costs. Page sizes above the maximum are
/// refused when the field runs; here they count as the maximum.
pub fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let page = match first {
        None => DEFAULT_PAGE_SIZE,
        Some(n) => u64::try_from(n).unwrap_or(0).min(MAX_PAGE_SIZE),
    };
    // An empty page still costs the connection itself.
    let page = usize::try_from(page.max(1)).unwrap_or(usize::MAX);
    page.saturating_mul(child_complexity).saturating_add(1)
}

fn too_complex(message: String) -> AppError {
    AppError::QueryTooComplex(message)
}

/// Checks `query` against the limits and returns the parsed document, so it
/// is not parsed twice. A document that does not parse is returned as `None`:
/// the executor reports where it breaks.
pub fn check_document(
    query: &str,
    operation_name: Option<&str>,
    limits: &DocumentLimits,
) -> Result<Option<ExecutableDocument>, AppError> {
    if query.len() > limits.max_bytes {
        return Err(too_complex(format!(
            "the query document is {} bytes; the limit is {} bytes",
            query.len(),
            limits.max_bytes
        )));
    }
    // Counted before parsing: the cost to refuse must stay below the cost to parse.
    let tokens = count_tokens(query, limits.max_tokens);
    if tokens > limits.max_tokens {
        return Err(too_complex(format!(
            "the query document has more than {} tokens; send a smaller document",
            limits.max_tokens
        )));
    }
    let Ok(doc) = async_graphql::parser::parse_query(query) else {
        return Ok(None);
    };
    let aliases = count_aliases(&doc);
    if aliases > limits.max_aliases {
        return Err(too_complex(format!(
            "the query document uses {aliases} aliases; the limit is {}",
            limits.max_aliases
        )));
    }
    if let Some(operation) = selected_operation(&doc, operation_name) {
        let mut seen = HashSet::new();
        let roots = count_fields(&doc, &operation.selection_set.node, &mut seen);
        if roots > limits.max_root_fields {
            return Err(too_complex(format!(
                "the operation selects {roots} root fields; the limit is {}; split it into several requests",
                limits.max_root_fields
            )));
        }
    }
    Ok(Some(doc))
}

fn selected_operation<'a>(
    doc: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'a OperationDefinition> {
    doc.operations
        .iter()
        .find(|(name, _)| match (operation_name, name) {
            (Some(wanted), Some(name)) => wanted == name.as_str(),
            (None, _) => true,
            (Some(_), None) => false,
        })
        .map(|(_, op)| &op.node)
}

/// Fields of a selection set, through the fragments it spreads (each once).
fn count_fields<'a>(
    doc: &'a ExecutableDocument,
    set: &'a SelectionSet,
    seen: &mut HashSet<&'a str>,
) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(f) => count_fields(doc, &f.node.selection_set.node, seen),
            Selection::FragmentSpread(s) => {
                let name = s.node.fragment_name.node.as_str();
                match doc.fragments.get(name) {
                    Some(fragment) if seen.insert(name) => {
                        count_fields(doc, &fragment.node.selection_set.node, seen)
                    }
                    _ => 0,
                }
            }
        })
        .sum()
}

/// Aliases written anywhere in the document.
fn count_aliases(doc: &ExecutableDocument) -> usize {
    fn walk(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(f) => {
                    usize::from(f.node.alias.is_some()) + walk(&f.node.selection_set.node)
                }
                Selection::InlineFragment(f) => walk(&f.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let operations: usize = doc
        .operations
        .iter()
        .map(|(_, op)| walk(&op.node.selection_set.node))
        .sum();
    let fragments: usize = doc
        .fragments
        .values()
        .map(|f| walk(&f.node.selection_set.node))
        .sum();
    operations + fragments
}

/// Lexical tokens of a GraphQL document (names, numbers, strings,
/// punctuators; whitespace, commas and comments are not tokens), counted up to
/// one past `stop_after`.
pub fn count_tokens(source: &str, stop_after: usize) -> usize {
    let bytes = source.as_bytes();
    let mut i = 0;
    let mut tokens = 0;
    while i < bytes.len() && tokens <= stop_after {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' => {
                tokens += 1;
                i = skip_string(bytes, i);
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                tokens += 1;
                i += 3;
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                tokens += 1;
                while i < bytes.len() && (bytes[i] == b'_' || bytes[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
            }
            b'-' | b'0'..=b'9' => {
                tokens += 1;
                i += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'.' | b'+' | b'-'))
                {
                    i += 1;
                }
            }
            _ => {
                // A punctuator, the BOM or a stray character: one token each;
                // the parser refuses what is not GraphQL.
                tokens += 1;
                i += source[i..].chars().next().map_or(1, char::len_utf8);
            }
        }
    }
    tokens
}

/// The index just past the string starting at `start` (block or plain).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    if bytes[start..].starts_with(b"\"\"\"") {
        let mut i = start + 3;
        while i < bytes.len() {
            if bytes[i..].starts_with(b"\\\"\"\"") {
                i += 4;
            } else if bytes[i..].starts_with(b"\"\"\"") {
                return i + 3;
            } else {
                i += 1;
            }
        }
        return i;
    }
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            b'\n' | b'\r' => return i,
            _ => i += 1,
        }
    }
    i
}

/// Whether the operation asks for `__schema` or `__type` at its root.
pub fn uses_introspection(doc: &ExecutableDocument, operation_name: Option<&str>) -> bool {
    fn any<'a>(
        doc: &'a ExecutableDocument,
        set: &'a SelectionSet,
        seen: &mut HashSet<&'a str>,
    ) -> bool {
        set.items.iter().any(|item| match &item.node {
            Selection::Field(f) => matches!(f.node.name.node.as_str(), "__schema" | "__type"),
            Selection::InlineFragment(f) => any(doc, &f.node.selection_set.node, seen),
            Selection::FragmentSpread(s) => {
                let name = s.node.fragment_name.node.as_str();
                match doc.fragments.get(name) {
                    Some(fragment) if seen.insert(name) => {
                        any(doc, &fragment.node.selection_set.node, seen)
                    }
                    _ => false,
                }
            }
        })
    }
    selected_operation(doc, operation_name)
        .is_some_and(|op| any(doc, &op.selection_set.node, &mut HashSet::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_counted_as_the_grammar_defines_them() {
        assert_eq!(count_tokens("{ a }", 100), 3);
        assert_eq!(
            count_tokens("query Q($x: Int = -1.5e3) { a(x: $x) }", 100),
            19
        );
        assert_eq!(count_tokens("# comment\n{ a, b, c }", 100), 5);
        assert_eq!(count_tokens(r#"{ a(s: "x \" { } y") }"#, 100), 8);
        assert_eq!(
            count_tokens("{ a(s: \"\"\"multi\n { line \"\"\") }", 100),
            8
        );
        assert_eq!(count_tokens("{ ...F } fragment F on Q { a }", 100), 11);
        assert_eq!(count_tokens(&"{ a }".repeat(1000), 10), 11);
    }

    #[test]
    fn page_cost_multiplies_and_stays_bounded() {
        assert_eq!(page_cost(Some(10), 5), 51);
        assert_eq!(page_cost(None, 5), 101);
        assert_eq!(page_cost(Some(i32::MAX), 5), 501);
        assert_eq!(page_cost(Some(-3), 5), 6);
        assert_eq!(page_cost(Some(100), usize::MAX), usize::MAX);
    }
}
