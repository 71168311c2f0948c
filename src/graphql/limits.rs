//! Limits on the GraphQL document itself, checked before it is validated or
//! run: its size in bytes, its number of lexical tokens, its aliases, the
//! root fields and the depth of the operation, and the shape of any
//! introspection it asks for. Cost (where a connection's `first` multiplies
//! what it selects) is checked by async-graphql's validation with the limit
//! set on the schema; see `page_cost`.
//!
//! Introspection has rules of its own rather than the depth limit: the
//! ecosystem's standard query (graphql-js `getIntrospectionQuery()`, which
//! GraphiQL, graphql-codegen and schema registries send) nests `ofType` nine
//! levels deep, past any depth a data query needs, while the schema is
//! finite, so what a hostile introspection exploits is repetition and the
//! cycles between types and their fields. The rules are those of graphql-js's
//! `MaxIntrospectionDepthRule` and graphql-java's good-faith introspection:
//! `__schema` once, a few `__type`, list-of-type fields (`fields`,
//! `inputFields`, `interfaces`, `possibleTypes`) nested at most twice, and
//! `ofType` nested no deeper than in the standard query, plus one.

use std::collections::{HashMap, HashSet};

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
    /// Nesting of fields, counting an introspection root field as one level.
    pub max_depth: usize,
}

impl DocumentLimits {
    pub fn from_config(config: &Config) -> Self {
        DocumentLimits {
            max_bytes: config.max_document_bytes,
            max_tokens: config.max_tokens,
            max_aliases: config.max_aliases,
            max_root_fields: config.max_root_fields,
            max_depth: config.max_depth,
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
        Shape::of(&doc, &operation.selection_set.node).check(limits.max_depth)?;
    }
    Ok(Some(doc))
}

/// `__schema` fields one operation may select.
const MAX_SCHEMA_FIELDS: usize = 1;
/// `__type` fields one operation may select.
const MAX_TYPE_FIELDS: usize = 5;
/// Nesting of `fields`, `inputFields`, `interfaces` and `possibleTypes`
/// (graphql-js refuses a third level).
const MAX_TYPE_LIST_NESTING: usize = 2;
/// `ofType` fields along one path: the standard query reads nine.
const MAX_OF_TYPE_CHAIN: usize = 10;

/// The measures of a selection set that the depth and introspection rules
/// bound. Counts saturate: a fragment spread many times multiplies them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Shape {
    /// Levels of fields; an introspection root field counts as one.
    depth: usize,
    schema_fields: usize,
    type_fields: usize,
    /// Within introspection: the deepest nesting of list-of-type fields.
    type_lists: usize,
    /// Within introspection: the most `ofType` fields along one path.
    of_type_chain: usize,
}

impl Shape {
    fn of(doc: &ExecutableDocument, set: &SelectionSet) -> Shape {
        ShapeWalk {
            doc,
            fragments: HashMap::new(),
            on_path: HashSet::new(),
        }
        .set(set, Mode::Data)
    }

    /// Combines the shapes of two selections of the same set.
    fn beside(self, other: Shape) -> Shape {
        Shape {
            depth: self.depth.max(other.depth),
            schema_fields: self.schema_fields.saturating_add(other.schema_fields),
            type_fields: self.type_fields.saturating_add(other.type_fields),
            type_lists: self.type_lists.max(other.type_lists),
            of_type_chain: self.of_type_chain.max(other.of_type_chain),
        }
    }

    fn check(self, max_depth: usize) -> Result<(), AppError> {
        let refuse = |what: String| Err(too_complex(what));
        if self.depth > max_depth {
            return refuse(format!(
                "the query is nested deeper than {max_depth} levels"
            ));
        }
        if self.schema_fields > MAX_SCHEMA_FIELDS {
            return refuse(format!(
                "the operation reads `__schema` {} times; once is enough",
                self.schema_fields
            ));
        }
        if self.type_fields > MAX_TYPE_FIELDS {
            return refuse(format!(
                "the operation reads `__type` {} times; the limit is {MAX_TYPE_FIELDS}",
                self.type_fields
            ));
        }
        if self.type_lists > MAX_TYPE_LIST_NESTING {
            return refuse(format!(
                "the introspection nests `fields`, `inputFields`, `interfaces` or `possibleTypes` \
                 {} levels deep; the limit is {MAX_TYPE_LIST_NESTING}: read each type once through `__schema {{ types }}`",
                self.type_lists
            ));
        }
        if self.of_type_chain > MAX_OF_TYPE_CHAIN {
            return refuse(format!(
                "the introspection nests `ofType` {} levels deep; the limit is {MAX_OF_TYPE_CHAIN}",
                self.of_type_chain
            ));
        }
        Ok(())
    }
}

/// Where a selection set sits: in data, or inside `__schema`/`__type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Mode {
    Data,
    Introspection,
}

/// Measures selection sets, each fragment once per mode (spreads reuse the
/// measure, so a document of fragments spread many times costs its size).
struct ShapeWalk<'a> {
    doc: &'a ExecutableDocument,
    fragments: HashMap<(&'a str, Mode), Shape>,
    /// Fragments being measured: a cycle measures as empty here and is
    /// refused by validation.
    on_path: HashSet<&'a str>,
}

impl<'a> ShapeWalk<'a> {
    fn set(&mut self, set: &'a SelectionSet, mode: Mode) -> Shape {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(f) => self.field(&f.node, mode),
                Selection::InlineFragment(f) => self.set(&f.node.selection_set.node, mode),
                Selection::FragmentSpread(s) => {
                    self.fragment(s.node.fragment_name.node.as_str(), mode)
                }
            })
            .fold(Shape::default(), Shape::beside)
    }

    fn fragment(&mut self, name: &'a str, mode: Mode) -> Shape {
        if let Some(shape) = self.fragments.get(&(name, mode)) {
            return *shape;
        }
        let Some(fragment) = self.doc.fragments.get(name) else {
            return Shape::default();
        };
        if !self.on_path.insert(name) {
            return Shape::default();
        }
        let shape = self.set(&fragment.node.selection_set.node, mode);
        self.on_path.remove(name);
        self.fragments.insert((name, mode), shape);
        shape
    }

    fn field(&mut self, field: &'a async_graphql::parser::types::Field, mode: Mode) -> Shape {
        let name = field.name.node.as_str();
        let children = &field.selection_set.node;
        match (mode, name) {
            (Mode::Data, "__schema" | "__type") => {
                let inner = self.set(children, Mode::Introspection);
                Shape {
                    depth: 1,
                    schema_fields: inner
                        .schema_fields
                        .saturating_add(usize::from(name == "__schema")),
                    type_fields: inner
                        .type_fields
                        .saturating_add(usize::from(name == "__type")),
                    ..inner
                }
            }
            (Mode::Data, _) => {
                let inner = self.set(children, Mode::Data);
                Shape {
                    depth: inner.depth.saturating_add(1),
                    ..inner
                }
            }
            (Mode::Introspection, _) => {
                let inner = self.set(children, Mode::Introspection);
                let lists = usize::from(matches!(
                    name,
                    "fields" | "inputFields" | "interfaces" | "possibleTypes"
                ));
                Shape {
                    type_lists: inner.type_lists.saturating_add(lists),
                    of_type_chain: inner
                        .of_type_chain
                        .saturating_add(usize::from(name == "ofType")),
                    ..inner
                }
            }
        }
    }
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

/// Whether the operation reads the schema at its root: `__schema`,
/// `__type`, or the federation's `_service`.
pub fn uses_introspection(doc: &ExecutableDocument, operation_name: Option<&str>) -> bool {
    fn any<'a>(
        doc: &'a ExecutableDocument,
        set: &'a SelectionSet,
        seen: &mut HashSet<&'a str>,
    ) -> bool {
        set.items.iter().any(|item| match &item.node {
            // `_service { sdl }` is the federation's way to read the schema.
            Selection::Field(f) => matches!(
                f.node.name.node.as_str(),
                "__schema" | "__type" | "_service"
            ),
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
