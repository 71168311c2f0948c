//! `segmentFilters`: the attributes and functions of the segment language
//! with their types, operators and allowed values, for editors.

use async_graphql::{Enum, SimpleObject};

use crate::segment::catalogue::{
    ANNIVERSARY_OF, ANNIVERSARY_OPS, ATTRIBUTES, Attr, FUNCTIONS, Func, OpKind, Type, attribute,
    operators,
};

/// The value type of a segment attribute or field.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentValueType {
    /// A whole number.
    Integer,
    /// An amount in major units of the base currency (`500` means 500.00).
    Money,
    /// A number with decimals (`0.8`), compared with <, <=, >, >= and BETWEEN.
    Number,
    /// A calendar day: `2026-01-31`, `today`, `yesterday`, `-7d`, `-3w`, `-6m`, `+1y`.
    Date,
    /// One of `values`, quoted (`'GOLD'`).
    Enum,
    /// A quoted string.
    Text,
    /// A list tested with CONTAINS / NOT CONTAINS.
    List,
    /// `true` or `false`, unquoted.
    Boolean,
}

impl From<Type> for SegmentValueType {
    fn from(t: Type) -> Self {
        match t {
            Type::Integer => SegmentValueType::Integer,
            Type::Money => SegmentValueType::Money,
            Type::Number => SegmentValueType::Number,
            Type::Date => SegmentValueType::Date,
            Type::Enum => SegmentValueType::Enum,
            Type::Text => SegmentValueType::Text,
            Type::List => SegmentValueType::List,
            Type::Boolean => SegmentValueType::Boolean,
        }
    }
}

/// An attribute or function of the segment language.
#[derive(SimpleObject, Debug)]
pub struct SegmentFilter {
    /// As written in a query, e.g. `amount_spent` or `products_purchased`.
    pub name: String,
    /// Whether this is a function (`products_purchased MATCHES (...)`, `anniversary(...)`).
    pub function: bool,
    /// The value type (for `anniversary`, the type of its bounds).
    pub value_type: SegmentValueType,
    /// Operators accepted, e.g. `>=`, `BETWEEN`, `NOT IN`, `IS NULL`, `MATCHES`.
    pub operators: Vec<String>,
    /// Allowed values of an enum attribute.
    pub values: Vec<String>,
    /// Attributes a function takes as argument (`anniversary(birthday)`).
    pub arguments: Vec<String>,
    /// Fields inside `MATCHES (...)`.
    pub fields: Vec<SegmentField>,
    pub description: String,
}

/// A field of `MATCHES (...)`.
#[derive(SimpleObject, Debug)]
pub struct SegmentField {
    pub name: String,
    pub value_type: SegmentValueType,
    pub operators: Vec<String>,
    /// Computed over all matching orders (`count`, `sum_amount`) rather than tested on each.
    pub aggregate: bool,
    pub description: String,
}

fn op_names(ops: &[OpKind]) -> Vec<String> {
    ops.iter().map(|o| o.text().to_owned()).collect()
}

pub fn catalogue() -> Vec<SegmentFilter> {
    let attrs = ATTRIBUTES.iter().map(|a| SegmentFilter {
        name: a.name.into(),
        function: false,
        value_type: a.ty.into(),
        operators: op_names(&a.operators()),
        values: a.values.iter().map(|v| v.to_string()).collect(),
        arguments: Vec::new(),
        fields: Vec::new(),
        description: a.description.into(),
    });
    let funcs = FUNCTIONS.iter().map(|f| SegmentFilter {
        name: f.name.into(),
        function: true,
        value_type: SegmentValueType::Date,
        operators: match f.func {
            Func::Anniversary => op_names(ANNIVERSARY_OPS),
            _ => op_names(&[OpKind::Matches]),
        },
        values: Vec::new(),
        arguments: match f.func {
            Func::Anniversary => ANNIVERSARY_OF
                .iter()
                .map(|a: &Attr| attribute(*a).name.to_owned())
                .collect(),
            _ => Vec::new(),
        },
        fields: f
            .fields
            .iter()
            .map(|s| SegmentField {
                name: s.name.into(),
                value_type: s.ty.into(),
                operators: op_names(&operators(s.ty, false)),
                aggregate: s.aggregate,
                description: s.description.into(),
            })
            .collect(),
        description: f.description.into(),
    });
    attrs.chain(funcs).collect()
}
