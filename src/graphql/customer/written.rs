//! Customers written as JSON text (`graphql::leaves`), a page of them
//! (`customers`, `segmentMembers`) or one (`customer`, `me`, the customers
//! at either end of a referral): their own values with the executor's PII
//! masks and audit, their figures from the row their statement joined, and
//! what is below them (lists, the loyalty account and its ledger, the
//! referral that brought them in) loaded for all of them at once. Whatever
//! needs more (a field the caller may not read, a loyalty account with
//! points due to settle, a figure from another table) leaves the page to the
//! executor.

use async_graphql::InputType as _;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::{Context, ContextSelectionSet, ErrorExtensions as _, Positioned};
use c360_entity::{customer, customer_metrics};
use futures_util::future::BoxFuture;
use sea_orm::DatabaseConnection;

use super::{Customer, joins_of};
use crate::app::AppState;
use crate::auth::{Domain, mask_email, mask_name, mask_phone, require_domain};
use crate::graphql::connection::Total;
use crate::graphql::context::identity;
use crate::graphql::enums::EmailMarketingState;
use crate::graphql::ids::Kind;
use crate::graphql::leaves::{
    Below, Env, JsonText, KeepPrimed, Leaf, Scalar, objects_below, pages_and_below, pages_below,
    read_ahead, read_ahead_of,
};
use crate::graphql::loyalty::{LoyaltyAccount, LoyaltyTransaction};
use crate::graphql::nps::{NpsCategory, NpsResponse};
use crate::graphql::order::Order;
use crate::graphql::referral::Referral;
use crate::graphql::review::Review;
use crate::graphql::stats::{
    Profile, average_first_reply_minutes, average_order_minor, csat_average,
};
use crate::graphql::ticket::Ticket;
use crate::read::combine::Relation;
use crate::read::customers::{CustomerRow, PageQuery};
use crate::read::loaders::{
    CustomerLoyaltyTransactions, CustomerNpsResponses, CustomerReferrals, CustomerReviews, Loaders,
    OrderLines, TicketMessages, settlement_due,
};
use crate::read::pagination::KeysetPage;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CustomerField {
    Id,
    ExternalRef,
    Email,
    FirstName,
    LastName,
    Phone,
    Birthday,
    Locale,
    Country,
    City,
    Tags,
    EmailMarketingState,
    ConsentUpdatedAt,
    SmsConsentState,
    SmsConsentUpdatedAt,
    PhoneConsentState,
    PhoneConsentUpdatedAt,
    CreatedAt,
    UpdatedAt,
    ErasedAt,
    Stats,
}

/// The fields of `CustomerStats` written from the joined figures; the rest
/// (lifetime-value predictions, RFM) read other tables.
const STATS: &[&str] = &[
    "ordersCount",
    "lifetimeValue",
    "grossSpend",
    "refunded",
    "firstOrderAt",
    "lastOrderAt",
    "openTickets",
    "ticketsCount",
    "reviewsCount",
    "lastNpsScore",
    "averageOrderValue",
    "lastNpsCategory",
    "csatAverage",
    "daysSinceLastOrder",
    "tenureDays",
    "nextBirthday",
    "nextSignupAnniversary",
    "averageFirstReplyMinutes",
];

impl Customer {
    /// What the calendar figures need: the customer's dates and today in
    /// the store's time zone.
    pub(super) fn profile(&self, tz: chrono_tz::Tz, now: chrono::DateTime<chrono::Utc>) -> Profile {
        Profile {
            added_at: self.0.created_at,
            birthday: self.0.birthday,
            today: now.with_timezone(&tz).date_naive(),
            tz,
        }
    }
}

impl Leaf for Customer {
    type Field = CustomerField;

    fn field(name: &str) -> Option<CustomerField> {
        use CustomerField as F;
        Some(match name {
            "id" => F::Id,
            "externalRef" => F::ExternalRef,
            "email" => F::Email,
            "firstName" => F::FirstName,
            "lastName" => F::LastName,
            "phone" => F::Phone,
            "birthday" => F::Birthday,
            "locale" => F::Locale,
            "country" => F::Country,
            "city" => F::City,
            "tags" => F::Tags,
            "emailMarketingState" => F::EmailMarketingState,
            "consentUpdatedAt" => F::ConsentUpdatedAt,
            "smsConsentState" => F::SmsConsentState,
            "smsConsentUpdatedAt" => F::SmsConsentUpdatedAt,
            "phoneConsentState" => F::PhoneConsentState,
            "phoneConsentUpdatedAt" => F::PhoneConsentUpdatedAt,
            "createdAt" => F::CreatedAt,
            "updatedAt" => F::UpdatedAt,
            "erasedAt" => F::ErasedAt,
            "stats" => F::Stats,
            _ => return None,
        })
    }

    fn has(field: CustomerField, name: &str) -> bool {
        field == CustomerField::Stats && STATS.contains(&name)
    }

    fn writable(
        _ctx: &ContextSelectionSet<'_>,
        _env: &Env<'_>,
        items: &[&Customer],
        fields: &[CustomerField],
    ) -> bool {
        fields.iter().all(|field| match field {
            CustomerField::Tags => items.iter().all(|c| c.1.tags.is_some()),
            CustomerField::Stats => items.iter().all(|c| c.1.metrics.is_some()),
            _ => true,
        })
    }

    fn value<'a>(&'a self, env: &'a Env<'_>, field: CustomerField) -> Scalar<'a> {
        use CustomerField as F;
        let c: &'a customer::Model = &self.0;
        let pii = |value: Option<&'a str>, mask: fn(&str) -> String| match value {
            Some(v) if env.shows(c.id) => Scalar::Str(v),
            Some(v) => Scalar::Value(mask(v).to_value()),
            None => Scalar::Null,
        };
        match field {
            F::Id => Scalar::Id(Kind::Customer, c.id),
            F::ExternalRef => c.external_ref.as_deref().into(),
            F::Email => pii(Some(&c.email), mask_email),
            F::FirstName => pii(c.first_name.as_deref(), mask_name),
            F::LastName => pii(c.last_name.as_deref(), mask_name),
            F::Phone => pii(c.phone.as_deref(), mask_phone),
            F::Birthday => match c.birthday {
                None => Scalar::Null,
                Some(day) => {
                    let full = day.format("%Y-%m-%d").to_string();
                    let shown = if env.shows(c.id) {
                        full
                    } else {
                        month_and_day(&full)
                    };
                    Scalar::Value(shown.to_value())
                }
            },
            F::Locale => c.locale.as_deref().into(),
            F::Country => c.country.as_deref().into(),
            F::City => c.city.as_deref().into(),
            F::Tags => match &self.1.tags {
                Some(tags) => Scalar::Value(tags.to_value()),
                None => Scalar::Null,
            },
            F::EmailMarketingState => {
                Scalar::name_of(EmailMarketingState::from(c.email_marketing_state))
            }
            F::ConsentUpdatedAt => Scalar::time(c.consent_updated_at),
            F::SmsConsentState => Scalar::name_of(EmailMarketingState::from(c.sms_consent_state)),
            F::SmsConsentUpdatedAt => Scalar::time(c.sms_consent_updated_at),
            F::PhoneConsentState => {
                Scalar::name_of(EmailMarketingState::from(c.phone_consent_state))
            }
            F::PhoneConsentUpdatedAt => Scalar::time(c.phone_consent_updated_at),
            F::CreatedAt => Scalar::Time(c.created_at),
            F::UpdatedAt => Scalar::Time(c.updated_at),
            F::ErasedAt => Scalar::time(c.erased_at),
            F::Stats => {
                let metrics = match &self.1.metrics {
                    Some(Some(m)) => std::borrow::Cow::Borrowed(m),
                    _ => std::borrow::Cow::Owned(super::empty_metrics(c.id)),
                };
                let profile = self.profile(env.state.config.timezone, env.now);
                let currency = env.state.config.base_currency.as_str();
                Scalar::Fields(
                    "CustomerStats",
                    Box::new(move |name| stats_value(&metrics, &profile, currency, name)),
                )
            }
        }
    }

    fn has_children(name: &str) -> bool {
        matches!(
            name,
            "orders"
                | "tickets"
                | "reviews"
                | "referralsMade"
                | "npsResponses"
                | "loyalty"
                | "referredBy"
        )
    }

    fn children<'a>(
        ctx: &'a ContextSelectionSet<'a>,
        field: &'a Positioned<Field>,
        customers: Vec<&'a Customer>,
    ) -> BoxFuture<'a, Option<Vec<JsonText>>> {
        Box::pin(async move {
            let loaders = ctx.data::<Loaders>().ok()?;
            let ids: Vec<i64> = customers.iter().map(|c| c.0.id).collect();
            // A list the caller may not read is null with FORBIDDEN: the
            // executor's guard answers that.
            let readable = |domain| require_domain(identity(ctx), domain).is_ok();
            match field.node.name.node.as_str() {
                "orders" if readable(Domain::Orders) => {
                    let node = |_, row| Order(row);
                    let lines = Some(Below("lines", &loaders.order_lines));
                    let (orders, total) = (&loaders.orders, Total::Orders);
                    pages_and_below(ctx, field, orders, lines, &ids, total, node).await
                }
                "tickets" if readable(Domain::Tickets) => {
                    let node = |_, row| Ticket(row);
                    let messages = Some(Below("messages", &loaders.ticket_messages));
                    let (tickets, total) = (&loaders.tickets, Total::Tickets);
                    pages_and_below(ctx, field, tickets, messages, &ids, total, node).await
                }
                "reviews" if readable(Domain::Reviews) => {
                    let node = |_, row| Review(row);
                    pages_below(ctx, field, &loaders.reviews, &ids, Total::Reviews, node).await
                }
                "referralsMade" if readable(Domain::Referrals) => {
                    let node = |_, row| Referral(row);
                    pages_below(ctx, field, &loaders.referrals, &ids, Total::Referrals, node).await
                }
                "npsResponses" => {
                    let node = |_, row| NpsResponse(row);
                    let total = Total::NpsResponses;
                    pages_below(ctx, field, &loaders.nps_responses, &ids, total, node).await
                }
                // An account with points or a tier due to settle goes
                // through the loader, which settles it.
                "loyalty" if readable(Domain::Loyalty) => {
                    let now = ctx.data::<AppState>().ok()?.clock.now();
                    let accounts = customers
                        .iter()
                        .map(|c| match &c.1.loyalty {
                            Some(Some(a)) if settlement_due(a, now) => None,
                            Some(account) => Some(account.clone().map(LoyaltyAccount)),
                            None => None,
                        })
                        .collect::<Option<Vec<_>>>()?;
                    let accounts: Vec<Option<&LoyaltyAccount>> =
                        accounts.iter().map(Option::as_ref).collect();
                    objects_below(ctx, field, &accounts).await
                }
                "referredBy" if readable(Domain::Referrals) => {
                    let referrals = customers
                        .iter()
                        .map(|c| c.1.referred_by.clone().map(|r| r.map(Referral)))
                        .collect::<Option<Vec<_>>>()?;
                    let referrals: Vec<Option<&Referral>> =
                        referrals.iter().map(Option::as_ref).collect();
                    objects_below(ctx, field, &referrals).await
                }
                _ => None,
            }
        })
    }
}

/// The first pages of the lists `customer` selects below the customer
/// `id` (its orders and their lines, tickets and their messages, reviews,
/// referrals, NPS answers, its loyalty ledger), read ahead beside the
/// customer's own statement when the request's levels go out as one
/// statement: a profile then reads its lists one level earlier, and the
/// written lists below take them from the loaders (`read_ahead`). Lists
/// the caller may not read are left to the guards, and a ledger whose
/// account settles is read again after it (`LoyaltyLoader`). The customer
/// who referred it, when asked for, is read ahead the same way
/// (`CustomerLoader::prime_referrer`).
pub(super) async fn read_ahead_below(ctx: &Context<'_>, id: i64) {
    let Ok(loaders) = ctx.data::<Loaders>() else {
        return;
    };
    if !loaders.orders.loader().combining() {
        return;
    }
    let readable = |domain| require_domain(identity(ctx), domain).is_ok();
    let set = ctx.with_selection_set(&ctx.item.node.selection_set);
    let set = &set;
    let ids = &[id][..];
    let mut reads: Vec<BoxFuture<'_, ()>> = Vec::new();
    for selection in &ctx.item.node.selection_set.node.items {
        let Selection::Field(field) = &selection.node else {
            continue;
        };
        match field.node.name.node.as_str() {
            "orders" if readable(Domain::Orders) => {
                let lines = Some(Below("lines", &loaders.order_lines));
                let orders = (&*loaders.orders, Some(&*loaders.order_count));
                let read = read_ahead::<_, OrderLines, Order>(set, field, orders, lines, ids);
                reads.push(Box::pin(read));
            }
            "tickets" if readable(Domain::Tickets) => {
                let messages = Some(Below("messages", &loaders.ticket_messages));
                let tickets = (&*loaders.tickets, Some(&*loaders.ticket_count));
                let read =
                    read_ahead::<_, TicketMessages, Ticket>(set, field, tickets, messages, ids);
                reads.push(Box::pin(read));
            }
            "reviews" if readable(Domain::Reviews) => {
                let reviews = (&*loaders.reviews, Some(&*loaders.review_count));
                let read = read_ahead::<_, CustomerReviews, Review>(set, field, reviews, None, ids);
                reads.push(Box::pin(read));
            }
            "referralsMade" if readable(Domain::Referrals) => {
                let made = (&*loaders.referrals, Some(&*loaders.referral_count));
                let read =
                    read_ahead::<_, CustomerReferrals, Referral>(set, field, made, None, ids);
                reads.push(Box::pin(read));
            }
            "npsResponses" => {
                let answers = (&*loaders.nps_responses, Some(&*loaders.nps_response_count));
                let read = read_ahead::<_, CustomerNpsResponses, NpsResponse>(
                    set, field, answers, None, ids,
                );
                reads.push(Box::pin(read));
            }
            "loyalty" if readable(Domain::Loyalty) => {
                if let Some(ledger) = sub_field(field, "transactions") {
                    reads.push(Box::pin(async move {
                        let account = ctx.with_selection_set(&field.node.selection_set);
                        // Not its count: a settlement due writes the ledger,
                        // and drops only the pages read ahead of it.
                        let rows = (&*loaders.loyalty_transactions, None);
                        read_ahead::<_, CustomerLoyaltyTransactions, LoyaltyTransaction>(
                            &account, ledger, rows, None, ids,
                        )
                        .await
                    }));
                }
            }
            "referredBy" if readable(Domain::Referrals) => {
                if let Some(referrer) = sub_field(field, "referrer") {
                    let referral = ctx.with_selection_set(&field.node.selection_set);
                    let joins = joins_of(ctx, &referral.with_field(referrer).look_ahead());
                    reads.push(Box::pin(async move {
                        let customers = loaders.customers.loader();
                        let _ = customers.prime_referrer(id, joins).await;
                    }));
                }
            }
            _ => {}
        }
    }
    futures_util::future::join_all(reads).await;
}

/// A page of customers (`customers`, the field `ctx` resolves): on
/// PostgreSQL, when the request's statements are combined, with the lists
/// below its customers in the same statement ([`read_ahead_of_page`]);
/// otherwise in a statement of its own.
pub(super) async fn read_page(
    ctx: &Context<'_>,
    db: &DatabaseConnection,
    query: PageQuery,
) -> async_graphql::Result<KeysetPage<CustomerRow>> {
    let combiner = ctx.data::<Loaders>().ok().and_then(Loaders::combiner);
    let Some(combiner) = combiner else {
        return Ok(query.read(db).await?);
    };
    let (relation, parents, page) = query.read_combined(combiner);
    let lists = read_ahead_of_page(ctx, &relation, &parents);
    let (page, keep) = futures_util::join!(page, lists);
    let page = page.map_err(|e| e.extend())?;
    let ids: Vec<i64> = page.edges.iter().map(|(_, (c, _))| c.id).collect();
    for keep in keep {
        keep(&ids);
    }
    Ok(page)
}

/// The first pages of the lists a page of customers selects below its
/// customers (as [`read_ahead_below`], but the referrer), read ahead in the
/// statement that reads the page itself: their parents are the ids
/// `parents`, a query reading the page's `relation`, gives
/// (`customers::PageQuery::read_combined`). `customers` is the page's
/// field (`customers`). Gives what to keep once the page's customers are
/// known ([`KeepPrimed`]).
async fn read_ahead_of_page<'c>(
    ctx: &'c Context<'c>,
    relation: &Relation,
    parents: &str,
) -> Vec<KeepPrimed<'c>> {
    let Ok(loaders) = ctx.data::<Loaders>() else {
        return Vec::new();
    };
    // Lists the executor resolves read every column, not those read here.
    let writes = ctx
        .data::<AppState>()
        .is_ok_and(|state| state.config.leaf_json);
    if !writes || !loaders.orders.loader().combining() {
        return Vec::new();
    }
    let Some(node) = page_node(&ctx.item.node.selection_set.node) else {
        return Vec::new();
    };
    let readable = |domain| require_domain(identity(ctx), domain).is_ok();
    let set = ctx.with_selection_set(&node.node.selection_set);
    let set = &set;
    let of = (relation, parents);
    let mut reads: Vec<BoxFuture<'_, Option<KeepPrimed<'c>>>> = Vec::new();
    for selection in &node.node.selection_set.node.items {
        let Selection::Field(field) = &selection.node else {
            continue;
        };
        match field.node.name.node.as_str() {
            "orders" if readable(Domain::Orders) => {
                let lines = Some(Below("lines", &loaders.order_lines));
                let orders = &loaders.orders;
                let read = read_ahead_of::<_, OrderLines, Order>(set, field, orders, lines, of);
                reads.push(Box::pin(read));
            }
            "tickets" if readable(Domain::Tickets) => {
                let messages = Some(Below("messages", &loaders.ticket_messages));
                let tickets = &loaders.tickets;
                let read =
                    read_ahead_of::<_, TicketMessages, Ticket>(set, field, tickets, messages, of);
                reads.push(Box::pin(read));
            }
            "reviews" if readable(Domain::Reviews) => {
                let reviews = &loaders.reviews;
                let read =
                    read_ahead_of::<_, CustomerReviews, Review>(set, field, reviews, None, of);
                reads.push(Box::pin(read));
            }
            "referralsMade" if readable(Domain::Referrals) => {
                let made = &loaders.referrals;
                let read =
                    read_ahead_of::<_, CustomerReferrals, Referral>(set, field, made, None, of);
                reads.push(Box::pin(read));
            }
            "npsResponses" => {
                let answers = &loaders.nps_responses;
                let read = read_ahead_of::<_, CustomerNpsResponses, NpsResponse>(
                    set, field, answers, None, of,
                );
                reads.push(Box::pin(read));
            }
            "loyalty" if readable(Domain::Loyalty) => {
                if let Some(ledger) = sub_field(field, "transactions") {
                    reads.push(Box::pin(async move {
                        let account = ctx.with_selection_set(&field.node.selection_set);
                        let rows = &loaders.loyalty_transactions;
                        read_ahead_of::<_, CustomerLoyaltyTransactions, LoyaltyTransaction>(
                            &account, ledger, rows, None, of,
                        )
                        .await
                    }));
                }
            }
            _ => {}
        }
    }
    futures_util::future::join_all(reads)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// The selection of a page's customers: its `edges { node }`, else its
/// `nodes`.
fn page_node(page: &SelectionSet) -> Option<&Positioned<Field>> {
    fn named<'s>(set: &'s SelectionSet, name: &str) -> Option<&'s Positioned<Field>> {
        set.items.iter().find_map(|s| match &s.node {
            Selection::Field(f) if f.node.name.node == name => Some(f),
            _ => None,
        })
    }
    let edges = named(page, "edges");
    let node = edges.and_then(|edges| named(&edges.node.selection_set.node, "node"));
    node.or_else(|| named(page, "nodes"))
}

/// The field `name` directly in `field`'s selection.
fn sub_field<'a>(field: &'a Positioned<Field>, name: &str) -> Option<&'a Positioned<Field>> {
    let items = field.node.selection_set.node.items.iter();
    items
        .filter_map(|s| match &s.node {
            Selection::Field(f) => Some(f),
            _ => None,
        })
        .find(|f| f.node.name.node == name)
}

/// A birthday without `pii:read`: month and day only (`--04-21`).
pub(super) fn month_and_day(full: &str) -> String {
    format!("--{}", full.get(5..).unwrap_or_default())
}

/// A field of `CustomerStats`, by the same definitions the executor's use.
fn stats_value<'a>(
    m: &customer_metrics::Model,
    profile: &Profile,
    currency: &'a str,
    name: &str,
) -> Option<Scalar<'a>> {
    let money = |minor| Scalar::Minor(minor, currency);
    Some(match name {
        "ordersCount" => Scalar::Int(m.orders_count),
        "lifetimeValue" => money(m.net_spend),
        "grossSpend" => money(m.gross_spend),
        "refunded" => money(m.refunded_total),
        "firstOrderAt" => Scalar::time(m.first_order_at),
        "lastOrderAt" => Scalar::time(m.last_order_at),
        "openTickets" => Scalar::Int(m.open_tickets),
        "ticketsCount" => Scalar::Int(m.tickets_count),
        "reviewsCount" => Scalar::Int(m.reviews_count),
        "lastNpsScore" => m
            .last_nps_score
            .map_or(Scalar::Null, |s| Scalar::Int(s.into())),
        "averageOrderValue" => average_order_minor(m).map_or(Scalar::Null, money),
        "lastNpsCategory" => Scalar::of(
            m.last_nps_score
                .map(|s| NpsCategory::from(crate::domain::nps::Category::of(s))),
        ),
        "csatAverage" => Scalar::of(csat_average(m)),
        "daysSinceLastOrder" => m
            .last_order_at
            .map_or(Scalar::Null, |at| Scalar::Int(profile.days_since(at))),
        "tenureDays" => Scalar::Int(profile.days_since(profile.added_at)),
        "nextBirthday" => Scalar::of(profile.next_birthday()),
        "nextSignupAnniversary" => Scalar::of(profile.next_signup_anniversary()),
        "averageFirstReplyMinutes" => Scalar::of(average_first_reply_minutes(m)),
        _ => return None,
    })
}
