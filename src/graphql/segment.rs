//! Segments: the catalogue of the segment language for editors, and the
//! members of a query, paged by keyset over customer id.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use c360_entity::{customer, customer_metrics as cm, loyalty_account as la, segment};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Condition;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::connection::{Conn, Total};
use super::context::{authorize, identity, sees_pii, state};
use super::customer::Customer;
use super::ids::{Kind, decode, encode};
use super::money::Money;
use crate::auth::{Domain, require_domain_write};
use crate::config::parse_timezone;
use crate::domain::money::minor_digits;
use crate::domain::nps::{DETRACTOR_MAX, PROMOTER_MIN};
use crate::error::AppError;
use crate::read::joined;
use crate::read::pagination::{Cursor, KeyKind, SortValue, decode_cursor, page_size};
use crate::segment::catalogue::{
    ANNIVERSARY_OF, ANNIVERSARY_OPS, ATTRIBUTES, Attr, FUNCTIONS, Func, OpKind, Type, attribute,
    operators,
};
use crate::segment::{Env, compile, customers_joined, parse};
use crate::service::segments::{self as service, SegmentFields};

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
    let expr = parse(text, minor_digits(&env.base_currency))?;
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
    // `first: 0` with no `pageInfo` asks for the count alone: no members
    // and nothing to probe for, so no statement beyond the count.
    if size == 0 && !ctx.look_ahead().field("pageInfo").exists() {
        return Ok(Conn::with_additional_fields(
            after.is_some(),
            false,
            Total::Customers(cond),
        ));
    }
    let mut query = customers_joined().filter(cond.clone());
    if let Some(c) = &after {
        query = query.filter(customer::Column::Id.gt(c.id));
    }
    let db = &state(ctx)?.store.conn;
    let query = query.order_by_asc(customer::Column::Id).limit(size + 1);
    let mut rows = joined::fetch(
        db,
        query,
        super::customer::joins_of_connection(&ctx.look_ahead()),
    )
    .await?;
    let has_next = rows.len() as u64 > size;
    rows.truncate(size as usize);
    let mut conn = Conn::with_additional_fields(after.is_some(), has_next, Total::Customers(cond));
    conn.edges.extend(rows.into_iter().map(|(c, joined)| {
        async_graphql::connection::Edge::new(
            Cursor::new(SortValue::None, c.id),
            Customer(c, joined),
        )
    }));
    Ok(conn)
}

#[derive(Default)]
pub struct SegmentQuery;

#[derive(Default)]
pub struct SavedSegmentQuery;

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

fn segment_gid(id: i64) -> ID {
    encode(Kind::Segment, id)
}

fn decode_segment_id(field: &str, id: &ID) -> Result<i64, AppError> {
    decode(field, Kind::Segment, id)
}

/// A saved segment: a named query in the segment language.
pub struct Segment(segment::Model);

#[Object]
impl Segment {
    async fn id(&self) -> ID {
        segment_gid(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The query in the segment language, as saved (it was checked on save).
    async fn query(&self) -> &str {
        &self.0.query
    }
    /// Subject of the token that created it.
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// Current members, by ascending id.
    async fn members(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Customer>> {
        authorize(ctx, Domain::Customers)?;
        let cond = self.condition(ctx)?;
        members_page(ctx, cond, first, after).await
    }

    /// Number of current members (one statement).
    async fn count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        let cond = self.condition(ctx)?;
        let db = &state(ctx)?.store.conn;
        Ok(customers_joined()
            .filter(cond)
            .count(db)
            .await
            .map_err(AppError::from)? as i64)
    }

    /// Aggregates over the current members, in one statement.
    async fn statistics(&self, ctx: &Context<'_>) -> async_graphql::Result<SegmentStatistics> {
        let cond = self.condition(ctx)?;
        let st = state(ctx)?;
        statistics(&st.store.conn, cond, &st.config.base_currency)
            .await
            .map_err(Into::into)
    }
}

impl Segment {
    fn condition(&self, ctx: &Context<'_>) -> async_graphql::Result<Condition> {
        let principal = authorize(ctx, Domain::Segments)?;
        let env = segment_env(ctx, None)?;
        Ok(segment_condition(&self.0.query, sees_pii(principal), &env)?)
    }
}

/// Figures over a segment's members. Money is in the base currency.
#[derive(SimpleObject, Debug)]
pub struct SegmentStatistics {
    /// Members.
    pub customers: i64,
    /// Sum of lifetime values (net spend: orders not cancelled, less refunds).
    pub total_lifetime_value: Money,
    /// `totalLifetimeValue ÷ customers`, rounded half away from zero to the minor unit; zero without members.
    pub average_lifetime_value: Money,
    /// Orders not cancelled, summed over members.
    pub orders: i64,
    /// Available loyalty points, summed over members.
    pub points: i64,
    /// Members whose latest NPS answer is 9-10 / 0-6, and members who ever answered.
    pub promoters: i64,
    pub detractors: i64,
    pub nps_respondents: i64,
    /// `% promoters − % detractors` over respondents' latest answers, -100 to 100; null without respondents.
    pub nps: Option<f64>,
}

#[derive(Debug, FromQueryResult)]
struct StatsRow {
    customers: i64,
    ltv: Option<i64>,
    orders: Option<i64>,
    points: Option<i64>,
    promoters: Option<i64>,
    detractors: Option<i64>,
    respondents: Option<i64>,
}

async fn statistics(
    db: &DatabaseConnection,
    cond: Condition,
    currency: &str,
) -> Result<SegmentStatistics, AppError> {
    use sea_orm::sea_query::{Expr as Sql, ExprTrait, Func};
    let score = || Sql::col((cm::Entity, cm::Column::LastNpsScore));
    let count_when = |e: sea_orm::sea_query::Expr| Func::sum(Sql::case(e, 1i64).finally(0i64));
    let sum = |c: sea_orm::sea_query::Expr| Func::sum(Func::coalesce([c, Sql::val(0i64)]));
    // SUM over an empty set is NULL, and PostgreSQL widens SUM(bigint) to
    // numeric: casting back to BIGINT keeps one row type on both stores.
    let big = |f: sea_orm::sea_query::FunctionCall| Sql::from(f).cast_as("BIGINT");
    let row = customers_joined()
        .select_only()
        .expr_as(
            Sql::col((customer::Entity, customer::Column::Id)).count(),
            "customers",
        )
        .expr_as(
            big(sum(Sql::col((cm::Entity, cm::Column::NetSpend)))),
            "ltv",
        )
        .expr_as(
            big(sum(Sql::col((cm::Entity, cm::Column::OrdersCount)))),
            "orders",
        )
        .expr_as(
            big(sum(Sql::col((la::Entity, la::Column::PointsAvailable)))),
            "points",
        )
        .expr_as(big(count_when(score().gte(PROMOTER_MIN))), "promoters")
        .expr_as(big(count_when(score().lte(DETRACTOR_MAX))), "detractors")
        .expr_as(big(count_when(score().is_not_null())), "respondents")
        .filter(cond)
        .into_model::<StatsRow>()
        .one(db)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("aggregate returned no row")))?;
    let ltv = row.ltv.unwrap_or(0);
    let respondents = row.respondents.unwrap_or(0);
    let (promoters, detractors) = (row.promoters.unwrap_or(0), row.detractors.unwrap_or(0));
    Ok(SegmentStatistics {
        customers: row.customers,
        total_lifetime_value: Money::from_minor(ltv, currency),
        average_lifetime_value: Money::from_minor(div_round(ltv, row.customers), currency),
        orders: row.orders.unwrap_or(0),
        points: row.points.unwrap_or(0),
        promoters,
        detractors,
        nps_respondents: respondents,
        nps: (respondents > 0)
            .then(|| (promoters - detractors) as f64 * 100.0 / respondents as f64),
    })
}

/// `a ÷ b` rounded half away from zero; 0 when `b` is 0.
fn div_round(a: i64, b: i64) -> i64 {
    if b == 0 {
        return 0;
    }
    let (q, r) = (a / b, a % b);
    if 2 * r.abs() >= b.abs() {
        q + a.signum() * b.signum()
    } else {
        q
    }
}

#[Object]
impl SavedSegmentQuery {
    /// Saved segments, by ascending id.
    async fn segments(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, Segment>> {
        authorize(ctx, Domain::Segments)?;
        let size = page_size("first", first)?;
        let after = decode_cursor("after", after.as_deref(), KeyKind::IdOnly)?;
        let mut query = segment::Entity::find();
        if let Some(c) = &after {
            query = query.filter(segment::Column::Id.gt(c.id));
        }
        let db = &state(ctx)?.store.conn;
        let mut rows = query
            .order_by_asc(segment::Column::Id)
            .limit(size + 1)
            .all(db)
            .await
            .map_err(AppError::from)?;
        let has_next = rows.len() as u64 > size;
        rows.truncate(size as usize);
        let mut conn = Connection::new(after.is_some(), has_next);
        conn.edges.extend(
            rows.into_iter()
                .map(|s| Edge::new(Cursor::new(SortValue::None, s.id), Segment(s))),
        );
        Ok(conn)
    }

    /// A saved segment by id; null when it does not exist.
    async fn segment(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Segment>> {
        authorize(ctx, Domain::Segments)?;
        let id = decode_segment_id("id", &id)?;
        let db = &state(ctx)?.store.conn;
        Ok(segment::Entity::find_by_id(id)
            .one(db)
            .await
            .map_err(AppError::from)?
            .map(Segment))
    }
}

/// A segment to create.
#[derive(InputObject, Debug)]
pub struct SegmentCreateInput {
    /// Unique, 1 to 120 characters.
    pub name: String,
    pub description: Option<String>,
    /// A segment query; checked on save.
    pub query: String,
}

/// Fields to change; omitted fields stay as they are.
#[derive(InputObject, Debug)]
pub struct SegmentUpdateInput {
    pub name: Option<String>,
    /// Null clears it.
    pub description: MaybeUndefined<String>,
    pub query: Option<String>,
}

#[derive(Default)]
pub struct SegmentMutation;

#[Object]
impl SegmentMutation {
    /// Saves a segment (STAFF, or a partner with `segments:write`). An invalid
    /// query is `BAD_USER_INPUT` with its line, column and suggestion; a taken name `CONFLICT`.
    async fn segment_create(
        &self,
        ctx: &Context<'_>,
        input: SegmentCreateInput,
    ) -> async_graphql::Result<Segment> {
        let principal = require_domain_write(identity(ctx), Domain::Segments)?;
        let st = state(ctx)?;
        let fields = SegmentFields {
            name: Some(input.name),
            description: Some(input.description),
            query: Some(input.query),
        };
        let digits = minor_digits(&st.config.base_currency);
        Ok(Segment(
            service::create(&st.store.conn, principal, fields, digits, st.clock.now()).await?,
        ))
    }

    /// Changes a saved segment; the query is checked again.
    async fn segment_update(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: SegmentUpdateInput,
    ) -> async_graphql::Result<Segment> {
        let principal = require_domain_write(identity(ctx), Domain::Segments)?;
        let id = decode_segment_id("id", &id)?;
        let st = state(ctx)?;
        let fields = SegmentFields {
            name: input.name,
            description: match input.description {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(v) => Some(Some(v)),
            },
            query: input.query,
        };
        let digits = minor_digits(&st.config.base_currency);
        Ok(Segment(
            service::update(&st.store.conn, principal, id, fields, digits, st.clock.now()).await?,
        ))
    }

    /// Deletes a saved segment and returns its id.
    async fn segment_delete(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let principal = require_domain_write(identity(ctx), Domain::Segments)?;
        let raw = decode_segment_id("id", &id)?;
        service::delete(&state(ctx)?.store.conn, principal, raw, state(ctx)?.clock.now()).await?;
        Ok(id)
    }
}
