//! The records of each kind as a file spells them, with the same field names
//! in JSON Lines and CSV (camelCase, as in the GraphQL inputs; money in
//! minor units, times in RFC 3339), and how each is written through the
//! service rules.
//!
//! A record names its customer by exactly one of `customerId` (a number or
//! `gid://c360/Customer/N`), `customerEmail`, or `customerExternalRef` (with
//! `customerExternalSource`, defaulting to `--source`).

use std::fmt;

use c360_entity::enums::{
    AuthorKind, EmailMarketingState, NpsChannel, OrderChannel, OrderStatus, ReviewStatus,
    TicketChannel, TicketPriority, TicketStatus,
};
use c360_entity::{customer, customer_tag};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, de::DeserializeOwned};

use super::read::Numbered;
use crate::auth::Principal;
use crate::domain::ids::{Kind as IdKind, decode_lenient};
use crate::error::{AppError, AppResult};
use crate::service::customers::{self, NewCustomer, Profile};
use crate::service::orders::{self, NewLine, NewOrder};
use crate::service::{Outcome, Rules, nps, reviews, tickets};

/// What every record is written with.
pub struct Context {
    pub rules: Rules,
    pub principal: Principal,
    /// The system customers' external references belong to.
    pub source: String,
    /// When the import runs: what every record is stamped with and checked against.
    pub now: DateTime<Utc>,
}

/// A record of one kind, written as one unit: all of it or nothing.
pub trait Record: DeserializeOwned + Send {
    fn write(
        self,
        db: &impl ConnectionTrait,
        ctx: &Context,
    ) -> impl Future<Output = AppResult<Outcome>> + Send;
}

/// `customerId`, `customerEmail`, `customerExternalRef`: one of them names
/// the record's customer.
#[derive(Debug, Clone, Copy)]
struct CustomerRef<'a> {
    id: Option<&'a str>,
    email: Option<&'a str>,
    external_ref: Option<&'a str>,
    external_source: Option<&'a str>,
}

macro_rules! customer_ref {
    ($record:expr) => {
        CustomerRef {
            id: $record.customer_id.as_deref(),
            email: $record.customer_email.as_deref(),
            external_ref: $record.customer_external_ref.as_deref(),
            external_source: $record.customer_external_source.as_deref(),
        }
    };
}

impl CustomerRef<'_> {
    async fn resolve(self, db: &impl ConnectionTrait, ctx: &Context) -> AppResult<i64> {
        let found = match (self.id, self.email, self.external_ref) {
            (Some(id), None, None) => {
                let id = decode_lenient("customerId", IdKind::Customer, id)?;
                customer::Entity::find_by_id(id).one(db).await?
            }
            (None, Some(email), None) => {
                let email = customers::normalise_email(email).map_err(|_| {
                    AppError::bad_input(
                        "customerEmail",
                        format!("`{email}` is not an email address"),
                    )
                })?;
                customer::Entity::find()
                    .filter(customer::Column::Email.eq(email))
                    .one(db)
                    .await?
            }
            (None, None, Some(reference)) => {
                let source = self.external_source.unwrap_or(&ctx.source);
                customers::find_external(db, source, reference).await?
            }
            _ => {
                return Err(AppError::bad_input(
                    "customerId",
                    "name the customer with exactly one of customerId, customerEmail or customerExternalRef",
                ));
            }
        };
        let customer = found.ok_or_else(|| {
            AppError::NotFound(match (self.id, self.email, self.external_ref) {
                (Some(id), _, _) => format!("no customer with id {id}"),
                (_, Some(email), _) => format!("no customer with email {email}"),
                (_, _, Some(r)) => format!(
                    "no customer with externalRef `{r}` from `{}`",
                    self.external_source.unwrap_or(&ctx.source)
                ),
                _ => unreachable!("one reference is given"),
            })
        })?;
        if customer.erased_at.is_some() {
            return Err(AppError::Conflict(format!(
                "customer {} was erased; nothing more is recorded for it",
                customer.id
            )));
        }
        Ok(customer.id)
    }
}

fn required<T>(field: &str, value: Option<T>) -> AppResult<T> {
    value.ok_or_else(|| AppError::bad_input(field, format!("{field} is required")))
}

/// Refuses times ahead of the clock (beyond a few minutes of skew): history
/// is imported, not the future.
fn past(field: &str, at: Option<DateTime<Utc>>) -> AppResult<Option<DateTime<Utc>>> {
    match at {
        Some(t) if t > Utc::now() + chrono::TimeDelta::minutes(5) => Err(AppError::bad_input(
            field,
            format!("{field} {} is in the future", t.to_rfc3339()),
        )),
        other => Ok(other),
    }
}

// ---------------------------------------------------------------- customers

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomerRecord {
    external_ref: Option<String>,
    external_source: Option<String>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    birthday: Option<NaiveDate>,
    locale: Option<String>,
    country: Option<String>,
    city: Option<String>,
    email_marketing_state: Option<EmailMarketingState>,
    /// A list in JSON; `;`-separated in CSV.
    #[serde(default, deserialize_with = "tag_list")]
    tags: Vec<String>,
}

impl Record for CustomerRecord {
    /// Finds the customer by `externalRef` (with its source) or else by
    /// email; creates it when absent, otherwise changes only what differs
    /// (tags are added, never removed).
    async fn write(self, db: &impl ConnectionTrait, ctx: &Context) -> AppResult<Outcome> {
        let profile = Profile {
            email: self.email,
            first_name: self.first_name,
            last_name: self.last_name,
            phone: self.phone,
            birthday: self.birthday,
            locale: self.locale,
            country: self.country,
            city: self.city,
        }
        .validate(ctx.now)?;
        let tags = customers::normalise_tags(&self.tags)?;
        if let Some(state) = self.email_marketing_state {
            customers::validate_consent(state)?;
        }
        let source = self.external_source.unwrap_or_else(|| ctx.source.clone());
        let existing = match (&self.external_ref, &profile.email) {
            (Some(reference), _) => customers::find_external(db, &source, reference).await?,
            (None, Some(email)) => {
                customer::Entity::find()
                    .filter(customer::Column::Email.eq(email.as_str()))
                    .one(db)
                    .await?
            }
            (None, None) => {
                return Err(AppError::bad_input(
                    "email",
                    "a customer record needs an email or an externalRef",
                ));
            }
        };
        let Some(current) = existing else {
            customers::create(
                db,
                &ctx.rules,
                &ctx.principal,
                NewCustomer {
                    profile,
                    external: self.external_ref.map(|r| (source, r)),
                    consent: self.email_marketing_state,
                    tags,
                    referral_code: None,
                },
                ctx.now,
            )
            .await?;
            return Ok(Outcome::Created);
        };
        let id = current.id;
        let profile_changes = differs(&current, &profile);
        let held: Vec<String> = customer_tag::Entity::find()
            .select_only()
            .column(customer_tag::Column::Tag)
            .filter(customer_tag::Column::CustomerId.eq(id))
            .into_tuple()
            .all(db)
            .await?;
        let new_tags: Vec<String> = tags.into_iter().filter(|t| !held.contains(t)).collect();
        let consent = self
            .email_marketing_state
            .filter(|s| *s != current.email_marketing_state);
        if !profile_changes && new_tags.is_empty() && consent.is_none() {
            return Ok(Outcome::Unchanged);
        }
        if profile_changes {
            customers::update(db, &ctx.principal, id, profile, ctx.now).await?;
        }
        if !new_tags.is_empty() {
            customers::change_tags(db, &ctx.principal, id, &new_tags, true, ctx.now).await?;
        }
        if let Some(state) = consent {
            customers::set_consent(db, &ctx.principal, id, state, ctx.now).await?;
        }
        Ok(Outcome::Updated)
    }
}

/// Whether a given profile field differs from the stored one.
fn differs(current: &customer::Model, p: &Profile) -> bool {
    fn changes<T: PartialEq>(given: &Option<T>, stored: &Option<T>) -> bool {
        given.as_ref().is_some_and(|g| Some(g) != stored.as_ref())
    }
    p.email.as_ref().is_some_and(|e| *e != current.email)
        || changes(&p.first_name, &current.first_name)
        || changes(&p.last_name, &current.last_name)
        || changes(&p.phone, &current.phone)
        || changes(&p.birthday, &current.birthday)
        || changes(&p.locale, &current.locale)
        || changes(&p.country, &current.country)
        || changes(&p.city, &current.city)
}

// ------------------------------------------------------------------- orders

/// An order with its lines (JSON Lines).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderRecord {
    external_ref: Option<String>,
    order_number: Option<String>,
    #[serde(default, deserialize_with = "id_text")]
    customer_id: Option<String>,
    customer_email: Option<String>,
    customer_external_ref: Option<String>,
    customer_external_source: Option<String>,
    status: Option<OrderStatus>,
    channel: Option<OrderChannel>,
    currency: Option<String>,
    discount: Option<i64>,
    tax: Option<i64>,
    total: Option<i64>,
    /// The amount refunded, for REFUNDED and PARTIALLY_REFUNDED orders.
    refunded: Option<i64>,
    placed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    lines: Vec<LineRecord>,
}

/// The order fields of a CSV row, which every row of the order repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OrderHead {
    external_ref: Option<String>,
    order_number: Option<String>,
    customer_id: Option<String>,
    customer_email: Option<String>,
    customer_external_ref: Option<String>,
    customer_external_source: Option<String>,
    status: Option<OrderStatus>,
    channel: Option<OrderChannel>,
    currency: Option<String>,
    discount: Option<i64>,
    tax: Option<i64>,
    total: Option<i64>,
    refunded: Option<i64>,
    placed_at: Option<DateTime<Utc>>,
}

impl OrderRecord {
    fn new(head: OrderHead, lines: Vec<LineRecord>) -> OrderRecord {
        OrderRecord {
            external_ref: head.external_ref,
            order_number: head.order_number,
            customer_id: head.customer_id,
            customer_email: head.customer_email,
            customer_external_ref: head.customer_external_ref,
            customer_external_source: head.customer_external_source,
            status: head.status,
            channel: head.channel,
            currency: head.currency,
            discount: head.discount,
            tax: head.tax,
            total: head.total,
            refunded: head.refunded,
            placed_at: head.placed_at,
            lines,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LineRecord {
    sku: String,
    product_name: String,
    quantity: i32,
    unit_price: i64,
}

/// One CSV row: an order line with its order's fields repeated; consecutive
/// rows with the same `externalRef` are one order.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderCsvRow {
    external_ref: Option<String>,
    order_number: Option<String>,
    customer_id: Option<String>,
    customer_email: Option<String>,
    customer_external_ref: Option<String>,
    customer_external_source: Option<String>,
    status: Option<OrderStatus>,
    channel: Option<OrderChannel>,
    currency: Option<String>,
    discount: Option<i64>,
    tax: Option<i64>,
    total: Option<i64>,
    refunded: Option<i64>,
    placed_at: Option<DateTime<Utc>>,
    sku: Option<String>,
    product_name: Option<String>,
    quantity: Option<i32>,
    unit_price: Option<i64>,
}

impl OrderCsvRow {
    fn split(self) -> (OrderHead, Result<Option<LineRecord>, String>) {
        let head = OrderHead {
            external_ref: self.external_ref,
            order_number: self.order_number,
            customer_id: self.customer_id,
            customer_email: self.customer_email,
            customer_external_ref: self.customer_external_ref,
            customer_external_source: self.customer_external_source,
            status: self.status,
            channel: self.channel,
            currency: self.currency,
            discount: self.discount,
            tax: self.tax,
            total: self.total,
            refunded: self.refunded,
            placed_at: self.placed_at,
        };
        let line = match (self.sku, self.product_name, self.quantity, self.unit_price) {
            (None, None, None, None) => Ok(None),
            (Some(sku), Some(product_name), Some(quantity), Some(unit_price)) => {
                Ok(Some(LineRecord {
                    sku,
                    product_name,
                    quantity,
                    unit_price,
                }))
            }
            _ => Err("a line needs sku, productName, quantity and unitPrice".to_owned()),
        };
        (head, line)
    }
}

/// Groups CSV rows into orders: consecutive rows with the same non-empty
/// `externalRef` form one order, numbered by its first row. A row that
/// repeats the order with different order fields, or a bad row, rejects
/// the whole order.
pub fn group_order_rows(
    rows: impl Iterator<Item = Numbered<OrderCsvRow>>,
) -> impl Iterator<Item = Numbered<OrderRecord>> {
    let mut rows = rows.peekable();
    std::iter::from_fn(move || {
        let first = rows.next()?;
        let line = first.line;
        let row = match first.record {
            Ok(row) => row,
            Err(reason) => {
                return Some(Numbered {
                    line,
                    record: Err(reason),
                });
            }
        };
        let (head, first_line) = row.split();
        let mut error = first_line.as_ref().err().cloned();
        let mut lines: Vec<LineRecord> = first_line.ok().flatten().into_iter().collect();
        while let Some(next) = rows.peek() {
            let same = match (&next.record, &head.external_ref) {
                (Ok(r), Some(reference)) => r.external_ref.as_ref() == Some(reference),
                _ => false,
            };
            if !same {
                break;
            }
            let Some(Numbered {
                line: at,
                record: Ok(row),
            }) = rows.next()
            else {
                unreachable!("peeked an Ok row");
            };
            let (other, line_record) = row.split();
            if error.is_none() && other != head {
                error = Some(format!(
                    "line {at} repeats order `{}` with different order fields; repeat them unchanged on every line of an order",
                    head.external_ref.as_deref().unwrap_or_default()
                ));
            }
            match line_record {
                Ok(Some(l)) => lines.push(l),
                Ok(None) => {}
                Err(reason) => {
                    error.get_or_insert(format!("line {at}: {reason}"));
                }
            }
        }
        Some(Numbered {
            line,
            record: match error {
                Some(reason) => Err(reason),
                None => Ok(OrderRecord::new(head, lines)),
            },
        })
    })
}

/// What takes a stored order to the status a file gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Status(OrderStatus),
    Refund(i64),
}

/// The transitions from the stored `(status, refunded)` to the file's;
/// CONFLICT when the file's state cannot follow the stored one (an order
/// never goes back).
pub fn steps(from: (OrderStatus, i64), to: (OrderStatus, i64)) -> AppResult<Vec<Step>> {
    use OrderStatus::*;
    let (status, refunded) = from;
    let (target, target_refunded) = to;
    let refund = || {
        (target_refunded > refunded)
            .then_some(Step::Refund(target_refunded - refunded))
            .into_iter()
    };
    let steps: Option<Vec<Step>> = match (status, target) {
        (a, b) if a == b && refunded == target_refunded => Some(vec![]),
        (Pending, Paid) => Some(vec![Step::Status(Paid)]),
        (Pending, Fulfilled) => Some(vec![Step::Status(Paid), Step::Status(Fulfilled)]),
        (Paid, Fulfilled) => Some(vec![Step::Status(Fulfilled)]),
        (Pending | Paid, Cancelled) => Some(vec![Step::Status(Cancelled)]),
        (Pending, PartiallyRefunded | Refunded) => Some(
            std::iter::once(Step::Status(Paid))
                .chain(refund())
                .collect(),
        ),
        (Paid | Fulfilled | PartiallyRefunded, PartiallyRefunded | Refunded)
            if target_refunded > refunded =>
        {
            Some(refund().collect())
        }
        _ => None,
    };
    steps.ok_or_else(|| {
        AppError::Conflict(format!(
            "the stored order is {} (refunded {refunded}); it cannot become {} (refunded {target_refunded})",
            orders::status_name(status),
            orders::status_name(target)
        ))
    })
}

impl Record for OrderRecord {
    /// Ingests the order by `externalRef` (required: it is what makes a
    /// re-run one order), then moves it to the file's status through the
    /// ordinary transitions, so points, tiers and metrics follow the same
    /// rules as the API.
    async fn write(self, db: &impl ConnectionTrait, ctx: &Context) -> AppResult<Outcome> {
        let head = self;
        let external_ref = required("externalRef", head.external_ref.clone())?;
        let status = required("status", head.status)?;
        let currency = required("currency", head.currency.clone())?;
        let total = required("total", head.total)?;
        let refunded = match (status, head.refunded) {
            (OrderStatus::Refunded, Some(r)) if r != total => {
                return Err(AppError::bad_input(
                    "refunded",
                    format!("a REFUNDED order refunded its total ({total}), not {r}"),
                ));
            }
            (OrderStatus::Refunded, _) => total,
            (OrderStatus::PartiallyRefunded, Some(r)) if r > 0 && r < total => r,
            (OrderStatus::PartiallyRefunded, _) => {
                return Err(AppError::bad_input(
                    "refunded",
                    format!(
                        "a PARTIALLY_REFUNDED order needs refunded between 1 and {}",
                        total - 1
                    ),
                ));
            }
            (_, None | Some(0)) => 0,
            (_, Some(r)) => {
                return Err(AppError::bad_input(
                    "refunded",
                    format!(
                        "refunded is {r} but the status is {}; only refunded orders refund",
                        orders::status_name(status)
                    ),
                ));
            }
        };
        let customer_id = customer_ref!(head).resolve(db, ctx).await?;
        let first_status = match status {
            OrderStatus::Pending | OrderStatus::Cancelled => OrderStatus::Pending,
            _ => OrderStatus::Paid,
        };
        let ingested = orders::ingest(
            db,
            &ctx.rules,
            &ctx.principal,
            NewOrder {
                customer_id,
                external_ref: Some(external_ref),
                order_number: head.order_number,
                status: first_status,
                channel: head.channel.unwrap_or(OrderChannel::OnlineStore),
                currency,
                discount: head.discount.unwrap_or(0),
                tax: head.tax.unwrap_or(0),
                total,
                placed_at: past("placedAt", head.placed_at)?,
                lines: head
                    .lines
                    .into_iter()
                    .map(|l| NewLine {
                        sku: l.sku,
                        product_name: l.product_name,
                        quantity: l.quantity,
                        unit_price: l.unit_price,
                    })
                    .collect(),
            },
            ctx.now,
        )
        .await?;
        let order = ingested.order;
        let steps = steps((order.status, order.refunded), (status, refunded))?;
        let changed = !steps.is_empty();
        for step in steps {
            match step {
                Step::Status(s) => {
                    orders::set_status(db, &ctx.rules, &ctx.principal, order.id, s, ctx.now)
                        .await?;
                }
                Step::Refund(amount) => {
                    orders::refund(db, &ctx.rules, &ctx.principal, order.id, amount, ctx.now)
                        .await?;
                }
            }
        }
        Ok(match (ingested.created, changed) {
            (true, _) => Outcome::Created,
            (false, true) => Outcome::Updated,
            (false, false) => Outcome::Unchanged,
        })
    }
}

// ------------------------------------------------------------------ tickets

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TicketRecord {
    external_ref: Option<String>,
    #[serde(default, deserialize_with = "id_text")]
    customer_id: Option<String>,
    customer_email: Option<String>,
    customer_external_ref: Option<String>,
    customer_external_source: Option<String>,
    subject: Option<String>,
    status: Option<TicketStatus>,
    priority: Option<TicketPriority>,
    channel: Option<TicketChannel>,
    created_at: Option<DateTime<Utc>>,
    first_reply_at: Option<DateTime<Utc>>,
    solved_at: Option<DateTime<Utc>>,
    satisfaction_score: Option<i32>,
    satisfaction_comment: Option<String>,
    /// The customer's opening message (CSV, or JSON without `messages`).
    body: Option<String>,
    /// The conversation, oldest first (JSON Lines).
    #[serde(default)]
    messages: Vec<MessageRecord>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MessageRecord {
    author_kind: AuthorKind,
    author_name: Option<String>,
    body: String,
    created_at: Option<DateTime<Utc>>,
}

impl Record for TicketRecord {
    async fn write(self, db: &impl ConnectionTrait, ctx: &Context) -> AppResult<Outcome> {
        let customer_id = customer_ref!(self).resolve(db, ctx).await?;
        let mut messages: Vec<tickets::ImportedMessage> = self
            .messages
            .into_iter()
            .map(|m| tickets::ImportedMessage {
                author: m.author_kind,
                author_name: m.author_name,
                body: m.body,
                at: m.created_at,
            })
            .collect();
        if let Some(body) = self.body {
            messages.insert(
                0,
                tickets::ImportedMessage {
                    author: AuthorKind::Customer,
                    author_name: None,
                    body,
                    at: self.created_at,
                },
            );
        }
        tickets::import(
            db,
            &ctx.rules,
            &ctx.principal,
            tickets::ImportedTicket {
                external_ref: required("externalRef", self.external_ref)?,
                customer_id,
                subject: required("subject", self.subject)?,
                status: self.status.unwrap_or(TicketStatus::New),
                priority: self.priority.unwrap_or(TicketPriority::Normal),
                channel: self.channel.unwrap_or(TicketChannel::Email),
                created_at: past("createdAt", self.created_at)?,
                first_reply_at: past("firstReplyAt", self.first_reply_at)?,
                solved_at: past("solvedAt", self.solved_at)?,
                satisfaction: self
                    .satisfaction_score
                    .map(|score| (score, self.satisfaction_comment)),
                messages,
            },
            ctx.now,
        )
        .await
    }
}

// ------------------------------------------------------------------ reviews

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReviewRecord {
    #[serde(default, deserialize_with = "id_text")]
    customer_id: Option<String>,
    customer_email: Option<String>,
    customer_external_ref: Option<String>,
    customer_external_source: Option<String>,
    sku: Option<String>,
    rating: Option<i32>,
    title: Option<String>,
    body: Option<String>,
    status: Option<ReviewStatus>,
    created_at: Option<DateTime<Utc>>,
    /// The order the review is about, by the order's `externalRef`.
    order_external_ref: Option<String>,
}

impl Record for ReviewRecord {
    /// One review per customer and sku: a record for a reviewed sku updates
    /// that review.
    async fn write(self, db: &impl ConnectionTrait, ctx: &Context) -> AppResult<Outcome> {
        let customer_id = customer_ref!(self).resolve(db, ctx).await?;
        reviews::import(
            db,
            &ctx.rules,
            &ctx.principal,
            reviews::ImportedReview {
                customer_id,
                sku: required("sku", self.sku)?,
                rating: required("rating", self.rating)?,
                title: self.title,
                body: self.body,
                status: self.status.unwrap_or(ReviewStatus::Pending),
                created_at: past("createdAt", self.created_at)?,
                order_external_ref: self.order_external_ref,
            },
            ctx.now,
        )
        .await
    }
}

// ---------------------------------------------------------------------- nps

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NpsRecord {
    external_ref: Option<String>,
    #[serde(default, deserialize_with = "id_text")]
    customer_id: Option<String>,
    customer_email: Option<String>,
    customer_external_ref: Option<String>,
    customer_external_source: Option<String>,
    score: Option<i32>,
    comment: Option<String>,
    channel: Option<NpsChannel>,
    created_at: Option<DateTime<Utc>>,
}

impl Record for NpsRecord {
    async fn write(self, db: &impl ConnectionTrait, ctx: &Context) -> AppResult<Outcome> {
        let customer_id = customer_ref!(self).resolve(db, ctx).await?;
        nps::import(
            db,
            &ctx.rules,
            &ctx.principal,
            nps::ImportedAnswer {
                external_ref: required("externalRef", self.external_ref)?,
                customer_id,
                score: required("score", self.score)?,
                comment: self.comment,
                channel: self.channel.unwrap_or(NpsChannel::Email),
                created_at: past("createdAt", self.created_at)?,
            },
            ctx.now,
        )
        .await
    }
}

// ------------------------------------------------------------ field formats

/// Tags as a list (JSON) or one `;`-separated string (CSV).
fn tag_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct Tags;
    impl<'de> Visitor<'de> for Tags {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of tags or a `;`-separated string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.split(';')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(Tags)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(tag) = seq.next_element::<String>()? {
                out.push(tag);
            }
            Ok(out)
        }
    }
    d.deserialize_option(Tags)
}

/// An id given as a JSON number or a string.
fn id_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct Id;
    impl<'de> Visitor<'de> for Id {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a customer id (a number or gid://c360/Customer/N)")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok((!v.trim().is_empty()).then(|| v.trim().to_owned()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(Id)
        }
    }
    d.deserialize_option(Id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    #[test]
    fn orders_move_forward_only() {
        assert_eq!(steps((Pending, 0), (Pending, 0)).ok(), Some(vec![]));
        assert_eq!(
            steps((Pending, 0), (Fulfilled, 0)).ok(),
            Some(vec![Step::Status(Paid), Step::Status(Fulfilled)])
        );
        assert_eq!(
            steps((Paid, 0), (PartiallyRefunded, 300)).ok(),
            Some(vec![Step::Refund(300)])
        );
        assert_eq!(
            steps((PartiallyRefunded, 300), (Refunded, 1000)).ok(),
            Some(vec![Step::Refund(700)])
        );
        assert_eq!(
            steps((Pending, 0), (Refunded, 1000)).ok(),
            Some(vec![Step::Status(Paid), Step::Refund(1000)])
        );
        for (from, to) in [
            ((Fulfilled, 0), (Paid, 0)),
            ((Cancelled, 0), (Paid, 0)),
            ((Refunded, 1000), (PartiallyRefunded, 300)),
            ((PartiallyRefunded, 500), (PartiallyRefunded, 300)),
            ((Fulfilled, 0), (Cancelled, 0)),
        ] {
            assert!(steps(from, to).is_err(), "{from:?} -> {to:?}");
        }
    }
}
