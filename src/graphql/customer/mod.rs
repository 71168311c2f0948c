//! Customers: the profile and every related list. The root queries that
//! find customers are in [`query`]; the inputs of `customers` in [`filter`].

mod filter;
mod query;
mod written;

use async_graphql::context::ContextBase;
use async_graphql::{Context, ErrorExtensions, ID, Lookahead, Object};
use c360_entity::{customer, customer_metrics};
use chrono::{DateTime, Utc};

use super::connection::{Total, child_page, keyset};
use super::context::{identity, loaders, note_pii_read, sees_pii, state};
use super::enums::EmailMarketingState;
use super::guard::Reads;
use super::ids::{Kind, encode};
use super::interests::{CustomerInterests, ProductRecommendation};
use super::leaves::{Leaves, page_columns};
use super::limits::page_cost;
use super::loyalty::{LoyaltyAccount, account_columns};
use super::nps::NpsResponse;
use super::order::Order as OrderNode;
use super::referral::{Referral, referral_columns, referred_by};
use super::review::Review;
use super::stats::{CustomerStats, metrics_columns};
use super::store_credit::StoreCredit;
use super::ticket::Ticket;
use super::year_review::YearInReview;
use crate::app::AppState;
use crate::auth::{Domain, Identity, mask_email, mask_name, mask_phone};
use crate::read::columns::Columns;
use crate::read::customers::CustomerRow;
use crate::read::joined::{Joined, Joins};
use crate::read::loaders::{CustomerKey, settlement_due};
use crate::read::pagination::KeysetPage;

pub use query::CustomerQuery;

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
            joins: joins_of(ctx, &ctx.look_ahead()),
        };
        Ok(loaders(ctx)?
            .customers
            .load_one(key)
            .await
            .map_err(|e| e.extend())?
            .map(|(row, joined)| Customer(row, joined)))
    }

    /// [`Customer::load`] for a root field (`customer`, `me`): the lists
    /// it selects are read ahead beside it (`written::read_ahead_below`).
    pub async fn load_root(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<Customer>> {
        let (customer, ()) =
            futures_util::join!(Customer::load(ctx, id), written::read_ahead_below(ctx, id));
        customer
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
        Some(self.pii(ctx, &full, written::month_and_day))
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
    /// Consent to text messages (`customerSetConsent` with SMS).
    async fn sms_consent_state(&self) -> EmailMarketingState {
        self.0.sms_consent_state.into()
    }
    async fn sms_consent_updated_at(&self) -> Option<DateTime<Utc>> {
        self.0.sms_consent_updated_at
    }
    /// Consent to phone calls (`customerSetConsent` with PHONE).
    async fn phone_consent_state(&self) -> EmailMarketingState {
        self.0.phone_consent_state.into()
    }
    async fn phone_consent_updated_at(&self) -> Option<DateTime<Utc>> {
        self.0.phone_consent_updated_at
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
    ) -> async_graphql::Result<Option<Leaves<OrderNode>>> {
        let id = self.0.id;
        child_page(
            &loaders(ctx)?.orders,
            id,
            (first, after),
            page_columns::<OrderNode>(ctx),
            Total::Orders(id),
            OrderNode,
        )
        .await
        .map(|conn| Some(Leaves(conn)))
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
    ) -> async_graphql::Result<Option<Leaves<Ticket>>> {
        let id = self.0.id;
        child_page(
            &loaders(ctx)?.tickets,
            id,
            (first, after),
            page_columns::<Ticket>(ctx),
            Total::Tickets(id),
            Ticket,
        )
        .await
        .map(|conn| Some(Leaves(conn)))
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
    ) -> async_graphql::Result<Option<Leaves<Review>>> {
        let id = self.0.id;
        child_page(
            &loaders(ctx)?.reviews,
            id,
            (first, after),
            page_columns::<Review>(ctx),
            Total::Reviews(id),
            Review,
        )
        .await
        .map(|conn| Some(Leaves(conn)))
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
    ) -> async_graphql::Result<Option<Leaves<Referral>>> {
        let id = self.0.id;
        child_page(
            &loaders(ctx)?.referrals,
            id,
            (first, after),
            page_columns::<Referral>(ctx),
            Total::Referrals(id),
            Referral,
        )
        .await
        .map(|conn| Some(Leaves(conn)))
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
            Some(Some(account)) if !settlement_due(account, state(ctx)?.clock.now()) => {
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

    /// Store credit: balances per currency and the ledger behind them.
    #[graphql(guard = "Reads(Domain::Loyalty)")]
    async fn store_credit(&self) -> Option<StoreCredit> {
        Some(StoreCredit(self.0.id))
    }

    /// NPS answers, newest first.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn nps_responses(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Leaves<NpsResponse>> {
        let id = self.0.id;
        child_page(
            &loaders(ctx)?.nps_responses,
            id,
            (first, after),
            page_columns::<NpsResponse>(ctx),
            Total::NpsResponses(id),
            NpsResponse,
        )
        .await
        .map(Leaves)
    }

    /// The customer's calendar year in the store time zone, in figures:
    /// orders and spend, top products and categories, where the spend
    /// stands among the year's buyers, points and tier, reviews, tickets,
    /// NPS. The year in progress is allowed (`complete: false`); a year
    /// not yet begun, or before 1970, is BAD_USER_INPUT on `year`.
    async fn year_in_review(
        &self,
        ctx: &Context<'_>,
        year: i32,
    ) -> async_graphql::Result<YearInReview> {
        super::year_review::review(ctx, &self.0, year)
    }

    /// What the customer buys most: categories and products by their share
    /// of the customer's purchases, recent ones weighing more
    /// (`--interest-half-life`). `first` (1 to 50, default 5) of each list.
    #[graphql(
        complexity = "page_cost(first, child_complexity)",
        guard = "Reads(Domain::Orders)"
    )]
    async fn interests(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
    ) -> async_graphql::Result<Option<CustomerInterests>> {
        super::interests::interests(ctx, self.0.id, first)
            .await
            .map(Some)
    }

    /// Products the customer has not bought, bought by customers who bought
    /// what the customer did, best first, each with the purchases behind
    /// it; empty for a customer with no purchases and until the first
    /// `c360 insights refresh` (or scheduled refresh) builds the
    /// co-purchase table. `first`: 1 to 50, default 5.
    #[graphql(
        complexity = "page_cost(first, child_complexity)",
        guard = "Reads(Domain::Orders)"
    )]
    async fn recommended_products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
    ) -> async_graphql::Result<Option<Vec<ProductRecommendation>>> {
        super::interests::recommended(ctx, self.0.id, first)
            .await
            .map(Some)
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
        let profile = self.profile(state(ctx)?.config.timezone, state(ctx)?.clock.now());
        Ok(CustomerStats::new(metrics, currency).with_profile(profile))
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

/// A page of customers read with their to-one rows, as a connection.
pub fn connection(page: KeysetPage<CustomerRow>, total: Total) -> Leaves<Customer> {
    Leaves(keyset(page, total, |(row, joined)| Customer(row, joined)))
}

/// The to-one rows a `Customer` selection reads (fragments included,
/// aliases ignored), each with the columns its fields read. With
/// `--leaf-json false`, the general path, every column.
pub fn joins_of<T>(ctx: &ContextBase<'_, T>, customer: &Lookahead<'_>) -> Joins {
    let joins = Joins {
        own: read_columns(customer, customer_columns).unwrap_or(Columns::NONE),
        metrics: read_columns(&customer.field("stats"), metrics_columns),
        loyalty: read_columns(&customer.field("loyalty"), account_columns),
        tags: customer.field("tags").exists(),
        referred_by: read_columns(&customer.field("referredBy"), referral_columns),
    };
    match ctx.data::<AppState>() {
        Ok(state) if state.config.leaf_json => joins,
        _ => joins.tables(),
    }
}

/// The columns of `customers` the `Customer` field `name` reads besides
/// the id and the time it was added, which are always read; `None` for a
/// field not listed here, which reads every column. The lists and objects
/// below a customer read by its id.
fn customer_columns(name: &str) -> Option<Columns> {
    use customer::Column as C;
    let read: &[C] = match name {
        "externalRef" => &[C::ExternalRef],
        "email" => &[C::Email],
        "firstName" => &[C::FirstName],
        "lastName" => &[C::LastName],
        "phone" => &[C::Phone],
        "birthday" => &[C::Birthday],
        "locale" => &[C::Locale],
        "country" => &[C::Country],
        "city" => &[C::City],
        "emailMarketingState" => &[C::EmailMarketingState],
        "consentUpdatedAt" => &[C::ConsentUpdatedAt],
        "smsConsentState" => &[C::SmsConsentState],
        "smsConsentUpdatedAt" => &[C::SmsConsentUpdatedAt],
        "phoneConsentState" => &[C::PhoneConsentState],
        "phoneConsentUpdatedAt" => &[C::PhoneConsentUpdatedAt],
        "updatedAt" => &[C::UpdatedAt],
        "erasedAt" => &[C::ErasedAt],
        // The calendar figures count from the customer's own dates.
        "stats" => &[C::Birthday],
        "id"
        | "createdAt"
        | "tags"
        | "loyalty"
        | "storeCredit"
        | "orders"
        | "tickets"
        | "reviews"
        | "referralsMade"
        | "referredBy"
        | "npsResponses"
        | "interests"
        | "recommendedProducts" => &[],
        _ => return None,
    };
    Some(Columns::of::<customer::Entity>(read.iter().copied()))
}

/// The columns the fields selected on `object` read, by `of` (`None` from
/// it: a field it does not know, which reads every column); `None` when
/// `object` is not selected.
fn read_columns(object: &Lookahead<'_>, of: fn(&str) -> Option<Columns>) -> Option<Columns> {
    let selections = object.selection_fields();
    if selections.is_empty() {
        return None;
    }
    let columns = selections
        .iter()
        .flat_map(|selection| selection.selection_set())
        .filter(|field| field.name() != "__typename")
        .fold(Columns::NONE, |set, field| {
            set | of(field.name()).unwrap_or(Columns::ALL)
        });
    Some(columns)
}

/// What the customers of a connection's page read, through `edges.node`
/// and `nodes`.
pub fn joins_of_connection<T>(ctx: &ContextBase<'_, T>, connection: &Lookahead<'_>) -> Joins {
    joins_of(ctx, &connection.field("edges").field("node"))
        | joins_of(ctx, &connection.field("nodes"))
}
