//! Segments: the catalogue of the segment language for editors, and the
//! members of a query, paged by keyset over customer id.

use async_graphql::{Context, Enum, Object, SimpleObject};
use c360_entity::customer;
use sea_orm::sea_query::Condition;
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};

use super::connection::{Conn, Total};
use super::context::{authorize, sees_pii, state};
use super::customer::Customer;
use super::pagination::{Cursor, KeyKind, SortValue, decode_cursor, page_size};
use crate::auth::Domain;
use crate::config::parse_timezone;
use crate::error::AppError;
use crate::segment::catalogue::{
    ANNIVERSARY_OF, ANNIVERSARY_OPS, ATTRIBUTES, Attr, FUNCTIONS, Func, OpKind, Type, attribute,
    operators,
};
use crate::segment::{Env, compile, customers_joined, parse};

/// Today in the request's time zone, or the store's.
pub fn segment_env(ctx: &Context<'_>, timezone: Option<&str>) -> async_graphql::Result<Env> {
    let config = &state(ctx)?.config;
    let tz = match timezone {
        Some(name) => parse_timezone(name).map_err(|m| AppError::bad_input("timezone", m))?,
        None => config.timezone,
    };
    Ok(Env::now(tz, &config.base_currency))
}

/// Parses, checks and compiles a query; filtering by email needs PII access.
pub fn segment_condition(text: &str, pii: bool, env: &Env) -> Result<Condition, AppError> {
    let expr = parse(text, super::money::minor_digits(&env.base_currency))?;
    if !pii && expr.mentions(Attr::Email) {
        return Err(AppError::Forbidden(
            "segments on `email` need the `pii:read` scope".into(),
        ));
    }
    compile(&expr, env)
}

/// The value type of a segment attribute or field.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentValueType {
    /// A whole number.
    Integer,
    /// An amount in major units of the base currency (`500` means 500.00).
    Money,
    /// A calendar day: `2026-01-31`, `today`, `yesterday`, `-7d`, `-3w`, `-6m`, `+1y`.
    Date,
    /// One of `values`, quoted (`'GOLD'`).
    Enum,
    /// A quoted string.
    Text,
    /// A list tested with CONTAINS / NOT CONTAINS.
    List,
}

impl From<Type> for SegmentValueType {
    fn from(t: Type) -> Self {
        match t {
            Type::Integer => SegmentValueType::Integer,
            Type::Money => SegmentValueType::Money,
            Type::Date => SegmentValueType::Date,
            Type::Enum => SegmentValueType::Enum,
            Type::Text => SegmentValueType::Text,
            Type::List => SegmentValueType::List,
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

fn catalogue() -> Vec<SegmentFilter> {
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

/// Customers matching `cond`, by ascending id after `after`.
pub async fn members_page(
    ctx: &Context<'_>,
    cond: Condition,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Conn<Customer>> {
    let size = page_size("first", first)?;
    let after = decode_cursor("after", after.as_deref(), KeyKind::IdOnly)?;
    let mut query = customers_joined().filter(cond.clone());
    if let Some(c) = &after {
        query = query.filter(customer::Column::Id.gt(c.id));
    }
    let db = &state(ctx)?.store.conn;
    let mut rows = query
        .order_by_asc(customer::Column::Id)
        .limit(size + 1)
        .all(db)
        .await
        .map_err(AppError::from)?;
    let has_next = rows.len() as u64 > size;
    rows.truncate(size as usize);
    let mut conn = Conn::with_additional_fields(after.is_some(), has_next, Total::Customers(cond));
    conn.edges.extend(rows.into_iter().map(|c| {
        async_graphql::connection::Edge::new(Cursor::new(SortValue::None, c.id), Customer(c))
    }));
    Ok(conn)
}

#[derive(Default)]
pub struct SegmentQuery;

#[Object]
impl SegmentQuery {
    /// The segment language's attributes and functions with their types,
    /// operators and allowed values, for editors to offer completion.
    async fn segment_filters(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<SegmentFilter>> {
        authorize(ctx, Domain::Segments)?;
        Ok(catalogue())
    }

    /// Members of an unsaved segment query, by ascending id. An invalid query
    /// is `BAD_USER_INPUT` with `line`, `column` and `suggestion` in the extensions.
    async fn segment_members(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "A segment query, e.g. `loyalty_tier = 'GOLD' AND last_order_date < -90d`."
        )]
        query: String,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the edge to start after.")] after: Option<String>,
        #[graphql(desc = "IANA time zone that dates are calendar days in; default the store's.")]
        timezone: Option<String>,
    ) -> async_graphql::Result<Conn<Customer>> {
        let principal = authorize(ctx, Domain::Segments)?;
        authorize(ctx, Domain::Customers)?;
        let env = segment_env(ctx, timezone.as_deref())?;
        let cond = segment_condition(&query, sees_pii(principal), &env)?;
        members_page(ctx, cond, first, after).await
    }
}
