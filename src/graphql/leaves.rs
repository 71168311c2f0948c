//! Lists whose items hold only values of their own row (order lines, ticket
//! messages, ledger rows, reviews, NPS answers), written into the response as
//! one JSON text instead of resolved field by field.
//!
//! async-graphql resolves every field of every item as a future of its own,
//! with a context, an extension hook and a `Value` to hold the result, and the
//! response is serialised from those values afterwards. For the items of these
//! lists that is most of a profile page's fields, and none of them needs it:
//! each field is a value of the row, with no loader, guard, mask or error.
//! A connection of such items whose selection is plain fields (no fragment,
//! directive or argument below it, each response key once) is written here
//! from the rows in one pass, in the order the selection asks for, through the
//! same scalar and enum conversions the executor uses; async-graphql splices
//! the text into the response as it serialises it (`raw_value`). Any other
//! selection goes to the executor as before, and `--leaf-json false` sends
//! every one there. A differential test asks both ways and requires the same
//! answers.
//!
//! Each leaf type lists its fields twice, once for the executor (its
//! `#[Object]`) and once here ([`Leaf`]); the differential test selects every
//! field of every leaf type, so the two cannot drift apart unnoticed.

use std::borrow::Cow;

use async_graphql::connection::{CursorType, Edge, EmptyFields, PageInfo};
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{
    ContextSelectionSet, Name, OutputType, Positioned, ServerError, ServerResult, Value,
};
use async_graphql_value::RAW_VALUE_TOKEN;

use super::connection::Conn;
use super::money::Money;
use crate::app::AppState;
use crate::read::pagination::Cursor;

/// A field's value as a leaf writes it.
pub enum Scalar<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
    Null,
    /// A value as async-graphql converts it: enums, timestamps, ids.
    Value(Value),
    Money(&'a Money),
}

impl<'a> From<Option<&'a str>> for Scalar<'a> {
    fn from(v: Option<&'a str>) -> Scalar<'a> {
        v.map_or(Scalar::Null, Scalar::Str)
    }
}

/// An output type whose fields are all values of the item itself.
pub trait Leaf: OutputType {
    /// A field of this type, as named in a selection.
    type Field: Copy + Send + Sync;
    /// The field called `name`, or `None` for one that needs the executor.
    fn field(name: &str) -> Option<Self::Field>;
    fn value(&self, field: Self::Field) -> Scalar<'_>;
}

/// A connection of leaves: the executor's connection type to the schema, a
/// JSON text to the response when its selection allows.
pub struct Leaves<N: OutputType>(pub Conn<N>);

impl<N: Leaf> OutputType for Leaves<N> {
    fn type_name() -> Cow<'static, str> {
        Conn::<N>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        Conn::<N>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let state = ctx.data::<AppState>().ok();
        let plan = state
            .filter(|state| state.config.leaf_json)
            .and_then(|_| plan_connection::<N>(&field.node.selection_set.node));
        if let Some(state) = state {
            state.metrics.leaf_list(plan.is_some());
        }
        if let Some(plan) = plan {
            let total = match plan.iter().any(|(_, f)| matches!(f, ConnField::TotalCount)) {
                // A failed count is answered by the executor, with the error
                // at the path it gives it.
                true => match self.0.additional_fields.count(&ctx.with_field(field)).await {
                    Ok(n) => Some(n),
                    Err(_) => return OutputType::resolve(&self.0, ctx, field).await,
                },
                false => None,
            };
            return write_connection(&self.0, &plan, total).map(raw);
        }
        OutputType::resolve(&self.0, ctx, field).await
    }
}

/// A JSON text the response serialiser writes as it is.
fn raw(json: String) -> Value {
    let mut object = async_graphql::indexmap::IndexMap::with_capacity(1);
    object.insert(Name::new(RAW_VALUE_TOKEN), Value::String(json));
    Value::Object(object)
}

enum ConnField<F> {
    Typename,
    TotalCount,
    PageInfo(Vec<(Name, PageInfoField)>),
    Edges(Vec<(Name, EdgeField<F>)>),
    Nodes(Vec<(Name, NodeField<F>)>),
}

enum PageInfoField {
    Typename,
    HasPreviousPage,
    HasNextPage,
    StartCursor,
    EndCursor,
}

enum EdgeField<F> {
    Typename,
    Cursor,
    Node(Vec<(Name, NodeField<F>)>),
}

enum NodeField<F> {
    Typename,
    Value(F),
    /// A field whose value is `Money`, with its selection.
    Money(F, Vec<(Name, MoneyField)>),
}

enum MoneyField {
    Typename,
    Amount,
    CurrencyCode,
}

/// The fields of `set` as `each` plans them, or `None` when the selection
/// needs the executor: a fragment, a directive or an argument, a response key
/// given twice (the executor merges those), or a field `each` does not know.
fn plan_fields<T>(
    set: &SelectionSet,
    mut each: impl FnMut(&str, &SelectionSet) -> Option<T>,
) -> Option<Vec<(Name, T)>> {
    let mut planned: Vec<(Name, T)> = Vec::with_capacity(set.items.len());
    for item in &set.items {
        let Selection::Field(field) = &item.node else {
            return None;
        };
        let field = &field.node;
        if !field.directives.is_empty() || !field.arguments.is_empty() {
            return None;
        }
        let key = &field.response_key().node;
        if planned.iter().any(|(k, _)| k == key) {
            return None;
        }
        let plan = each(field.name.node.as_str(), &field.selection_set.node)?;
        planned.push((key.clone(), plan));
    }
    Some(planned)
}

fn plan_connection<N: Leaf>(set: &SelectionSet) -> Option<Vec<(Name, ConnField<N::Field>)>> {
    plan_fields(set, |name, set| match name {
        "__typename" => Some(ConnField::Typename),
        "totalCount" => Some(ConnField::TotalCount),
        "pageInfo" => plan_fields(set, |name, _| match name {
            "__typename" => Some(PageInfoField::Typename),
            "hasPreviousPage" => Some(PageInfoField::HasPreviousPage),
            "hasNextPage" => Some(PageInfoField::HasNextPage),
            "startCursor" => Some(PageInfoField::StartCursor),
            "endCursor" => Some(PageInfoField::EndCursor),
            _ => None,
        })
        .map(ConnField::PageInfo),
        "edges" => plan_fields(set, |name, set| match name {
            "__typename" => Some(EdgeField::Typename),
            "cursor" => Some(EdgeField::Cursor),
            "node" => plan_node::<N>(set).map(EdgeField::Node),
            _ => None,
        })
        .map(ConnField::Edges),
        "nodes" => plan_node::<N>(set).map(ConnField::Nodes),
        _ => None,
    })
}

fn plan_node<N: Leaf>(set: &SelectionSet) -> Option<Vec<(Name, NodeField<N::Field>)>> {
    plan_fields(set, |name, set| {
        if name == "__typename" {
            return Some(NodeField::Typename);
        }
        let field = N::field(name)?;
        if set.items.is_empty() {
            return Some(NodeField::Value(field));
        }
        plan_fields(set, |name, _| match name {
            "__typename" => Some(MoneyField::Typename),
            "amount" => Some(MoneyField::Amount),
            "currencyCode" => Some(MoneyField::CurrencyCode),
            _ => None,
        })
        .map(|money| NodeField::Money(field, money))
    })
}

/// The response text, built as serde_json builds the rest of the response.
struct Out(Vec<u8>);

impl Out {
    fn put(&mut self, value: &(impl serde::Serialize + ?Sized)) -> ServerResult<()> {
        serde_json::to_writer(&mut self.0, value)
            .map_err(|e| ServerError::new(format!("writing a list: {e}"), None))
    }

    fn byte(&mut self, b: u8) {
        self.0.push(b);
    }

    /// Opens the next member of an object: a comma after the first, the key.
    fn key(&mut self, first: bool, key: &Name) -> ServerResult<()> {
        if !first {
            self.byte(b',');
        }
        self.put(key.as_str())?;
        self.byte(b':');
        Ok(())
    }

    fn object<T>(
        &mut self,
        fields: &[(Name, T)],
        mut each: impl FnMut(&mut Out, &T) -> ServerResult<()>,
    ) -> ServerResult<()> {
        self.byte(b'{');
        for (i, (key, field)) in fields.iter().enumerate() {
            self.key(i == 0, key)?;
            each(self, field)?;
        }
        self.byte(b'}');
        Ok(())
    }

    fn list<'i, T: 'i>(
        &mut self,
        items: impl Iterator<Item = &'i T>,
        mut each: impl FnMut(&mut Out, &'i T) -> ServerResult<()>,
    ) -> ServerResult<()> {
        self.byte(b'[');
        for (i, item) in items.enumerate() {
            if i > 0 {
                self.byte(b',');
            }
            each(self, item)?;
        }
        self.byte(b']');
        Ok(())
    }

    fn cursor(&mut self, cursor: Option<&Cursor>) -> ServerResult<()> {
        match cursor {
            Some(c) => self.put(&c.encode_cursor()),
            None => self.put(&()),
        }
    }

    fn node<N: Leaf>(
        &mut self,
        node: &N,
        plan: &[(Name, NodeField<N::Field>)],
    ) -> ServerResult<()> {
        self.object(plan, |out, field| match field {
            NodeField::Typename => out.put(&*N::type_name()),
            NodeField::Value(f) => out.scalar(node.value(*f)),
            NodeField::Money(f, money) => match node.value(*f) {
                Scalar::Money(m) => out.object(money, |out, field| match field {
                    MoneyField::Typename => out.put(&*<Money as OutputType>::type_name()),
                    MoneyField::Amount => out.put(&m.amount),
                    MoneyField::CurrencyCode => out.put(&m.currency_code),
                }),
                other => out.scalar(other),
            },
        })
    }

    fn scalar(&mut self, value: Scalar<'_>) -> ServerResult<()> {
        match value {
            Scalar::Str(s) => self.put(s),
            Scalar::Int(n) => self.put(&n),
            Scalar::Bool(b) => self.put(&b),
            Scalar::Null => self.put(&()),
            Scalar::Value(v) => self.put(&v),
            Scalar::Money(m) => self.put(&money_json(m)),
        }
    }
}

/// Money selected without a sub-selection cannot pass validation; this keeps
/// the writer total all the same.
fn money_json(m: &Money) -> serde_json::Value {
    serde_json::json!({ "amount": m.amount, "currencyCode": m.currency_code })
}

fn write_connection<N: Leaf>(
    conn: &Conn<N>,
    plan: &[(Name, ConnField<N::Field>)],
    total: Option<i64>,
) -> ServerResult<String> {
    let mut out = Out(Vec::with_capacity(256 + 128 * conn.edges.len()));
    out.object(plan, |out, field| match field {
        ConnField::Typename => out.put(&*Conn::<N>::type_name()),
        ConnField::TotalCount => out.put(&total),
        ConnField::PageInfo(fields) => out.object(fields, |out, field| match field {
            PageInfoField::Typename => out.put(&*<PageInfo as OutputType>::type_name()),
            PageInfoField::HasPreviousPage => out.put(&conn.has_previous_page),
            PageInfoField::HasNextPage => out.put(&conn.has_next_page),
            PageInfoField::StartCursor => out.cursor(conn.edges.first().map(|e| &e.cursor)),
            PageInfoField::EndCursor => out.cursor(conn.edges.last().map(|e| &e.cursor)),
        }),
        ConnField::Edges(fields) => out.list(conn.edges.iter(), |out, edge| {
            out.object(fields, |out, field| match field {
                EdgeField::Typename => {
                    out.put(&*<Edge<Cursor, N, EmptyFields> as OutputType>::type_name())
                }
                EdgeField::Cursor => out.cursor(Some(&edge.cursor)),
                EdgeField::Node(plan) => out.node(&edge.node, plan),
            })
        }),
        ConnField::Nodes(plan) => {
            out.list(conn.edges.iter(), |out, edge| out.node(&edge.node, plan))
        }
    })?;
    String::from_utf8(out.0).map_err(|e| ServerError::new(format!("writing a list: {e}"), None))
}
