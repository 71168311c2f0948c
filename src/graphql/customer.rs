//! Customers: the profile, every related list, and the root queries that find them.

use async_graphql::{Context, Enum, ErrorExtensions, ID, InputObject, Object};
use c360_entity::{customer, customer_metrics};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr as SqlExpr, NullOrdering, Order};
use sea_orm::{ActiveEnum, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::connection::{Conn, Total, child_page};
use super::context::{authorize, identity, loaders, note_pii_read, scope_of, sees_pii, state};
use super::enums::EmailMarketingState;
use super::guard::Reads;
use super::ids::{Kind, decode, encode};
use super::limits::page_cost;
use super::loyalty::LoyaltyAccount;
use super::nps::NpsResponse;
use super::order::Order as OrderNode;
use super::referral::{Referral, referred_by};
use super::review::Review;
use super::segment::{segment_condition, segment_env};
use super::stats::{CustomerStats, Profile};
use super::ticket::Ticket;
use crate::auth::{CustomerScope, Domain, Identity, Role, mask_email, mask_name, mask_phone};
use crate::error::AppError;
use crate::read::joined::{self, Joined, Joins};
use crate::read::loaders::{CustomerKey, settlement_due};
use crate::read::pagination::{
    Cursor, Direction, Key, KeyKind, SortValue, decode_cursor, page_size, seek_after, seek_before,
};
use crate::segment::ast::{Attr, CmpOp, Expr, Pred, Test, Value};
use crate::segment::compile::compile;

/// A customer row, with the to-one rows its statement read beside it.
pub struct Customer(pub customer::Model, pub Joined);

impl From<customer::Model> for Customer {
    fn from(row: customer::Model) -> Customer {
        Customer(row, Joined::default())
    }
}

impl Customer {
    /// Loads a customer within the caller's scope (null when not visible),
    /// with the to-one rows the field's selection asks for.
    pub async fn load(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<Customer>> {
        let key = CustomerKey {
            id,
            joins: joins_of(&ctx.look_ahead()),
        };
        Ok(loaders(ctx)?
            .customers
            .load_one(key)
            .await
            .map_err(|e| e.extend())?
            .map(|(row, joined)| Customer(row, joined)))
    }

    fn pii<'a>(&self, ctx: &Context<'_>, value: &'a str, mask: fn(&str) -> String) -> String {
        match identity(ctx) {
            Identity::Authenticated(p) if sees_pii(p) => {
                note_pii_read(ctx, p, self.0.id);
                value.to_owned()
            }
            _ => mask(value),
        }
    }
}

#[Object]
impl Customer {
    pub async fn id(&self) -> ID {
        encode(Kind::Customer, self.0.id)
    }
    /// The id this customer has in the system it came from.
    async fn external_ref(&self) -> Option<&str> {
        self.0.external_ref.as_deref()
    }
    /// Masked (`j***@example.com`) without `pii:read`.
    async fn email(&self, ctx: &Context<'_>) -> String {
        self.pii(ctx, &self.0.email, mask_email)
    }
    /// Masked to an initial without `pii:read`.
    async fn first_name(&self, ctx: &Context<'_>) -> Option<String> {
        self.0
            .first_name
            .as_deref()
            .map(|v| self.pii(ctx, v, mask_name))
    }
    /// Masked to an initial without `pii:read`.
    async fn last_name(&self, ctx: &Context<'_>) -> Option<String> {
        self.0
            .last_name
            .as_deref()
            .map(|v| self.pii(ctx, v, mask_name))
    }
    /// Masked (`***-***-1234`) without `pii:read`.
    async fn phone(&self, ctx: &Context<'_>) -> Option<String> {
        self.0
            .phone
            .as_deref()
            .map(|v| self.pii(ctx, v, mask_phone))
    }
    /// ISO 8601 date (`1990-04-21`); without `pii:read`, month and day only (`--04-21`).
    async fn birthday(&self, ctx: &Context<'_>) -> Option<String> {
        let full = self.0.birthday.map(|d| d.format("%Y-%m-%d").to_string())?;
        Some(self.pii(ctx, &full, |d| {
            format!("--{}", d.get(5..).unwrap_or_default())
        }))
    }
    async fn locale(&self) -> Option<&str> {
        self.0.locale.as_deref()
    }
    /// ISO 3166-1 alpha-2.
    async fn country(&self) -> Option<&str> {
        self.0.country.as_deref()
    }
    async fn city(&self) -> Option<&str> {
        self.0.city.as_deref()
    }
    async fn tags(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        if let Some(tags) = &self.1.tags {
            return Ok(tags.clone());
        }
        Ok(loaders(ctx)?
            .tags
            .load_one(self.0.id)
            .await
            .map_err(|e| e.extend())?
            .unwrap_or_default())
    }
    async fn email_marketing_state(&self) -> EmailMarketingState {
        self.0.email_marketing_state.into()
    }
    async fn consent_updated_at(&self) -> Option<DateTime<Utc>> {
        self.0.consent_updated_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// Set once the customer's personal data was erased on request.
    async fn erased_at(&self) -> Option<DateTime<Utc>> {
        self.0.erased_at
    }

    /// Orders, newest first.
    #[graphql(
        complexity = "page_cost(first, child_complexity)",
        guard = "Reads(Domain::Orders)"
    )]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<Conn<OrderNode>>> {
        let id = self.0.id;
        child_page(
            &loaders(ctx)?.orders,
            id,
            first,
            after,
            Total::Orders(id),
            OrderNode,
        )
        .await
        .map(Some)
    }

    /// Support tickets, newest first.
    #[graphql(
        complexity = "page_cost(first, child_complexity)",
        guard = "Reads(Domain::Tickets)"
    )]
    async fn tickets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<Conn<Ticket>>> {
        let id = self.0.id;
        child_page(
            &loaders(ctx)?.tickets,
            id,
            first,
            after,
            Total::Tickets(id),
            Ticket,
        )
        .await
        .map(Some)
    }

    /// Product reviews, newest first.
    #[graphql(
        complexity = "page_cost(first, child_complexity)",
        guard = "Reads(Domain::Reviews)"
    )]
    async fn reviews(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<Conn<Review>>> {
        let id = self.0.id;
        child_page(
            &loaders(ctx)?.reviews,
            id,
            first,
            after,
            Total::Reviews(id),
            Review,
        )
        .await
        .map(Some)
    }

    /// Invitations this customer sent, newest first.
    #[graphql(
        complexity = "page_cost(first, child_complexity)",
        guard = "Reads(Domain::Referrals)"
    )]
    async fn referrals_made(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<Conn<Referral>>> {
        let id = self.0.id;
        child_page(
            &loaders(ctx)?.referrals,
            id,
            first,
            after,
            Total::Referrals(id),
            Referral,
        )
        .await
        .map(Some)
    }

    /// The referral that brought this customer in, if any.
    #[graphql(guard = "Reads(Domain::Referrals)")]
    async fn referred_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Referral>> {
        if let Some(joined) = &self.1.referred_by {
            return Ok(joined.clone().map(Referral));
        }
        referred_by(ctx, self.0.id).await
    }

    /// Loyalty balances, tier and ledger.
    #[graphql(guard = "Reads(Domain::Loyalty)")]
    async fn loyalty(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<LoyaltyAccount>> {
        // An account with points due to settle goes through the loader, which settles them.
        match &self.1.loyalty {
            Some(None) => return Ok(None),
            Some(Some(account)) if !settlement_due(account, Utc::now()) => {
                return Ok(Some(LoyaltyAccount(account.clone())));
            }
            _ => {}
        }
        Ok(loaders(ctx)?
            .loyalty
            .load_one(self.0.id)
            .await
            .map_err(|e| e.extend())?
            .map(LoyaltyAccount))
    }

    /// NPS answers, newest first.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn nps_responses(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<NpsResponse>> {
        let id = self.0.id;
        child_page(
            &loaders(ctx)?.nps_responses,
            id,
            first,
            after,
            Total::NpsResponses(id),
            NpsResponse,
        )
        .await
    }

    /// Figures kept in step with every write.
    async fn stats(&self, ctx: &Context<'_>) -> async_graphql::Result<CustomerStats> {
        let currency = &state(ctx)?.config.base_currency;
        let metrics = match &self.1.metrics {
            Some(joined) => joined.clone(),
            None => loaders(ctx)?
                .stats
                .load_one(self.0.id)
                .await
                .map_err(|e| e.extend())?,
        }
        .unwrap_or_else(|| empty_metrics(self.0.id));
        let tz = state(ctx)?.config.timezone;
        Ok(CustomerStats::new(metrics, currency).with_profile(Profile {
            added_at: self.0.created_at,
            birthday: self.0.birthday,
            today: Utc::now().with_timezone(&tz).date_naive(),
            tz,
        }))
    }
}

/// The figures of a customer with no activity yet.
fn empty_metrics(customer_id: i64) -> customer_metrics::Model {
    customer_metrics::Model {
        customer_id,
        orders_count: 0,
        gross_spend: 0,
        refunded_total: 0,
        net_spend: 0,
        refunds_count: 0,
        cancelled_count: 0,
        first_order_at: None,
        last_order_at: None,
        tickets_count: 0,
        open_tickets: 0,
        first_reply_minutes_sum: 0,
        first_reply_count: 0,
        csat_sum: 0,
        csat_count: 0,
        reviews_count: 0,
        last_nps_score: None,
        last_nps_at: None,
        updated_at: DateTime::<Utc>::UNIX_EPOCH,
    }
}

/// What `customers` can be sorted by.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CustomerSortField {
    /// When the customer was added.
    #[default]
    CreatedAt,
    /// Net spend; customers without orders last.
    LifetimeValue,
    /// Most recent order; customers without orders last.
    LastOrderDate,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortDirection {
    Asc,
    #[default]
    Desc,
}

/// Sort order of `customers`; ties are broken by id.
#[derive(InputObject, Debug, Clone, Copy, Default)]
pub struct CustomerOrder {
    #[graphql(default)]
    pub field: CustomerSortField,
    #[graphql(default)]
    pub direction: SortDirection,
}

/// Filters on a customer's own fields; all given conditions must hold.
#[derive(InputObject, Debug, Clone, Default)]
pub struct CustomerFilter {
    /// Exact address (case-insensitive). Needs `pii:read` for partners.
    pub email: Option<String>,
    /// Domain part of the address, e.g. `example.com`.
    pub email_domain: Option<String>,
    /// Any of these ISO 3166-1 alpha-2 codes.
    pub country: Option<Vec<String>>,
    /// Exact city name.
    pub city: Option<String>,
    /// Any of these consent states.
    pub email_marketing_state: Option<Vec<EmailMarketingState>>,
    /// Customers carrying this tag.
    pub tag: Option<String>,
    /// Added at or after this instant.
    pub created_after: Option<DateTime<Utc>>,
    /// Added before this instant.
    pub created_before: Option<DateTime<Utc>>,
}

impl CustomerFilter {
    /// The filter as a segment: every given field is one ANDed predicate.
    pub fn to_segment(&self, pii: bool) -> Result<Expr, AppError> {
        let pred = |attr: Attr, test: Test| Expr::Pred(Pred::Attr { attr, test });
        let text = |s: String| Value::Text(s);
        let mut terms = Vec::new();
        if let Some(email) = &self.email {
            if !pii {
                return Err(AppError::Forbidden(
                    "filtering by email needs the `pii:read` scope".into(),
                ));
            }
            let email = crate::domain::email::normalise("filter.email", email)?;
            terms.push(pred(Attr::Email, Test::Cmp(CmpOp::Eq, text(email))));
        }
        if let Some(domain) = &self.email_domain {
            let domain = domain.trim().trim_start_matches('@').to_lowercase();
            if domain.is_empty() || domain.contains(['@', '*', '%', '_']) {
                return Err(AppError::bad_input(
                    "filter.emailDomain",
                    "`emailDomain` must be a domain such as `example.com`",
                ));
            }
            terms.push(pred(Attr::EmailDomain, Test::Cmp(CmpOp::Eq, text(domain))));
        }
        if let Some(countries) = &self.country {
            let codes: Vec<String> = countries.iter().map(|c| c.trim().to_uppercase()).collect();
            if let Some(bad) = codes
                .iter()
                .find(|c| c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()))
            {
                return Err(AppError::bad_input(
                    "filter.country",
                    format!("`{bad}` is not an ISO 3166-1 alpha-2 country code such as `US`"),
                ));
            }
            terms.push(pred(
                Attr::Country,
                Test::In(codes.into_iter().map(text).collect()),
            ));
        }
        if let Some(city) = &self.city {
            terms.push(pred(
                Attr::City,
                Test::Cmp(CmpOp::Eq, text(city.trim().to_owned())),
            ));
        }
        if let Some(states) = &self.email_marketing_state {
            let states = states
                .iter()
                .map(|s| {
                    let state: c360_entity::enums::EmailMarketingState = (*s).into();
                    text(state.to_value())
                })
                .collect();
            terms.push(pred(Attr::EmailSubscriptionStatus, Test::In(states)));
        }
        if let Some(tag) = &self.tag {
            terms.push(pred(
                Attr::CustomerTags,
                Test::Contains(text(tag.trim().to_lowercase())),
            ));
        }
        if let Some(after) = self.created_after {
            terms.push(pred(
                Attr::CustomerAddedDate,
                Test::Cmp(CmpOp::Ge, Value::Instant(after)),
            ));
        }
        if let Some(before) = self.created_before {
            terms.push(pred(
                Attr::CustomerAddedDate,
                Test::Cmp(CmpOp::Lt, Value::Instant(before)),
            ));
        }
        Ok(Expr::And(terms))
    }
}

#[derive(Default)]
pub struct CustomerQuery;

#[Object]
impl CustomerQuery {
    /// A customer by id; null when it does not exist or the caller may not see it.
    async fn customer(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Customer>> {
        authorize(ctx, Domain::Customers)?;
        let id = decode("id", Kind::Customer, &id)?;
        Customer::load(ctx, id).await
    }

    /// A customer by email address (case-insensitive). Needs `pii:read` for partners.
    async fn customer_by_email(
        &self,
        ctx: &Context<'_>,
        email: String,
    ) -> async_graphql::Result<Option<Customer>> {
        let principal = authorize(ctx, Domain::Customers)?;
        if !sees_pii(principal) {
            return Err(AppError::Forbidden(
                "looking customers up by email needs the `pii:read` scope".into(),
            )
            .into());
        }
        let email = crate::domain::email::normalise("email", &email)?;
        let mut query = customer::Entity::find().filter(customer::Column::Email.eq(email));
        if let CustomerScope::Only(own) = scope_of(principal) {
            query = query.filter(customer::Column::Id.eq(own));
        }
        let db = &state(ctx)?.store.conn;
        Ok(query
            .one(db)
            .await
            .map_err(AppError::from)?
            .map(Customer::from))
    }

    /// The customer a CUSTOMER token speaks for.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Customer>> {
        let principal = authorize(ctx, Domain::Customers)?;
        if principal.role != Role::Customer {
            return Err(AppError::Forbidden(
                "`me` is for CUSTOMER tokens; use `customer(id)`".into(),
            )
            .into());
        }
        match principal.customer_id() {
            Some(id) => Customer::load(ctx, id).await,
            None => Ok(None),
        }
    }

    /// Customers, paginated by keyset. A CUSTOMER token sees only itself.
    #[graphql(complexity = "page_cost(first.or(last), child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn customers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size from the start, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the edge to start after.")] after: Option<String>,
        #[graphql(desc = "Page size from the end, at most 100.")] last: Option<i32>,
        #[graphql(desc = "Cursor of the edge to end before.")] before: Option<String>,
        filter: Option<CustomerFilter>,
        order_by: Option<CustomerOrder>,
        #[graphql(
            desc = "A segment query (see `segmentFilters`), ANDed with `filter`, e.g. `amount_spent >= 500 AND last_order_date < -90d`."
        )]
        query: Option<String>,
    ) -> async_graphql::Result<Conn<Customer>> {
        let principal = authorize(ctx, Domain::Customers)?;
        let order = order_by.unwrap_or_default();
        let key = match order.field {
            CustomerSortField::CreatedAt => KeyKind::Time,
            CustomerSortField::LifetimeValue => KeyKind::NullableInt,
            CustomerSortField::LastOrderDate => KeyKind::NullableTime,
        };
        if first.is_some() && last.is_some() {
            return Err(
                AppError::bad_input("last", "pass either `first` or `last`, not both").into(),
            );
        }
        let backward = last.is_some() || (before.is_some() && after.is_none() && first.is_none());
        let size = if backward {
            page_size("last", last)?
        } else {
            page_size("first", first)?
        };
        let after = decode_cursor("after", after.as_deref(), key)?;
        let before = decode_cursor("before", before.as_deref(), key)?;

        let pii = sees_pii(principal);
        let env = segment_env(ctx, None)?;
        let mut cond = compile(&filter.unwrap_or_default().to_segment(pii)?, &env)?;
        if let Some(text) = query {
            // The segment language is a segments feature: CUSTOMER tokens never use it.
            authorize(ctx, Domain::Segments)?;
            cond = cond.add(segment_condition(&text, pii, &env)?);
        }
        if let CustomerScope::Only(own) = scope_of(principal) {
            cond = cond.add(customer::Column::Id.eq(own));
        }
        let total = Total::Customers(cond.clone());

        let dir = match order.direction {
            SortDirection::Asc => Direction::Asc,
            SortDirection::Desc => Direction::Desc,
        };
        let id_col = (customer::Entity, customer::Column::Id);
        let sort_col = sort_column(order.field);
        let sort_key = Key {
            column: sort_col.clone(),
            // Metrics keys are NULL for a customer without a metrics row.
            nullable: order.field != CustomerSortField::CreatedAt,
        };
        let mut query = crate::segment::customers_joined().filter(cond);
        if let Some(c) = &after {
            query = query.filter(seek_after(Some(sort_key.clone()), id_col, dir, c));
        }
        if let Some(c) = &before {
            query = query.filter(seek_before(Some(sort_key.clone()), id_col, dir, c));
        }
        // Walking backwards reads the order reversed (NULLs first) and flips the page.
        let walk = if backward { dir.reverse() } else { dir };
        let sql_order = match walk {
            Direction::Asc => Order::Asc,
            Direction::Desc => Order::Desc,
        };
        query = if sort_key.nullable {
            let nulls = if backward {
                NullOrdering::First
            } else {
                NullOrdering::Last
            };
            query.order_by_with_nulls(SqlExpr::col(sort_col), sql_order.clone(), nulls)
        } else {
            // An explicit NULLS clause would keep PostgreSQL from walking the
            // (created_at, id) index backwards.
            query.order_by(SqlExpr::col(sort_col), sql_order.clone())
        };
        query = query
            .order_by(SqlExpr::col(id_col), sql_order)
            .limit(size + 1);
        // Cursors on a metrics key need the metrics row.
        let joins = joins_of_connection(&ctx.look_ahead())
            | Joins {
                metrics: sort_key.nullable,
                ..Joins::default()
            };
        let db = &state(ctx)?.store.conn;
        let mut rows = joined::fetch(db, query, joins).await?;
        let has_more = rows.len() as u64 > size;
        rows.truncate(size as usize);
        if backward {
            rows.reverse();
        }
        let (has_prev, has_next) = if backward {
            (has_more, before.is_some())
        } else {
            (after.is_some(), has_more)
        };
        let mut conn = Conn::with_additional_fields(has_prev, has_next, total);
        conn.edges.extend(rows.into_iter().map(|(c, joined)| {
            let metrics = joined.metrics.as_ref().and_then(Option::as_ref);
            let cursor = cursor_for(order.field, &c, metrics);
            async_graphql::connection::Edge::new(cursor, Customer(c, joined))
        }));
        Ok(conn)
    }
}

fn sort_column(field: CustomerSortField) -> sea_orm::sea_query::ColumnRef {
    use sea_orm::sea_query::IntoColumnRef;
    match field {
        CustomerSortField::CreatedAt => {
            (customer::Entity, customer::Column::CreatedAt).into_column_ref()
        }
        CustomerSortField::LifetimeValue => {
            (customer_metrics::Entity, customer_metrics::Column::NetSpend).into_column_ref()
        }
        CustomerSortField::LastOrderDate => (
            customer_metrics::Entity,
            customer_metrics::Column::LastOrderAt,
        )
            .into_column_ref(),
    }
}

fn cursor_for(
    field: CustomerSortField,
    c: &customer::Model,
    m: Option<&customer_metrics::Model>,
) -> Cursor {
    let key = match field {
        CustomerSortField::CreatedAt => SortValue::Time(c.created_at),
        CustomerSortField::LifetimeValue => {
            m.map_or(SortValue::Null, |m| SortValue::Int(m.net_spend))
        }
        CustomerSortField::LastOrderDate => m
            .and_then(|m| m.last_order_at)
            .map_or(SortValue::Null, SortValue::Time),
    };
    Cursor::new(key, c.id)
}

/// The to-one rows a `Customer` selection reads (fragments included, aliases ignored).
pub fn joins_of(customer: &async_graphql::Lookahead<'_>) -> Joins {
    Joins {
        metrics: customer.field("stats").exists(),
        loyalty: customer.field("loyalty").exists(),
        tags: customer.field("tags").exists(),
        referred_by: customer.field("referredBy").exists(),
    }
}

/// What the customers of a connection's page read, through `edges.node`
/// and `nodes`.
pub fn joins_of_connection(connection: &async_graphql::Lookahead<'_>) -> Joins {
    joins_of(&connection.field("edges").field("node")) | joins_of(&connection.field("nodes"))
}
