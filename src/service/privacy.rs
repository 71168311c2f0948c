//! Privacy requests: everything the store holds on one customer as a JSON
//! document, and erasure that redacts every piece of personal data in one
//! transaction while keeping the anonymous order and metric history, so
//! revenue, counts and segment figures stay right. The first erasure is a
//! `customer.erased` event; the outbox holds no personal data to redact
//! (`events::payload` keeps ids, statuses and money only).

use c360_entity::follow_up::{self, FollowUpState};
use c360_entity::{
    audit_event, customer, customer_metrics, customer_tag, loyalty_account, loyalty_transaction,
    nps_response, order, order_line, referral, review, store_credit_balance, store_credit_entry,
    ticket, ticket_message,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, Set, TransactionSession, TransactionTrait,
};
use serde_json::{Value as Json, json};

use super::audit;
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::events::{self, payload};

/// What replaces redacted free text.
pub const REDACTED: &str = "[erased]";

/// The address an erased customer keeps: unique (the column is), and on the
/// reserved `.invalid` domain so nothing is ever sent to it.
pub fn erased_email(customer_id: i64) -> String {
    format!("erased-{customer_id}@erased.invalid")
}

/// Every record on the customer, one array per table (one statement each),
/// or `None` when there is no such customer.
pub async fn export(
    db: &impl ConnectionTrait,
    customer_id: i64,
    now: DateTime<Utc>,
) -> AppResult<Option<Json>> {
    let Some(profile) = customer::Entity::find_by_id(customer_id)
        .into_json()
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    macro_rules! rows {
        ($entity:ident, $column:expr) => {
            Json::Array(
                $entity::Entity::find()
                    .filter($column.eq(customer_id))
                    .order_by_asc($entity::Column::Id)
                    .into_json()
                    .all(db)
                    .await?,
            )
        };
    }
    let tags = Json::Array(
        customer_tag::Entity::find()
            .filter(customer_tag::Column::CustomerId.eq(customer_id))
            .order_by_asc(customer_tag::Column::Tag)
            .into_json()
            .all(db)
            .await?,
    );
    let metrics = customer_metrics::Entity::find_by_id(customer_id)
        .into_json()
        .one(db)
        .await?;
    let follow_ups = Json::Array(
        follow_up::Entity::find()
            .filter(follow_up::Column::CustomerId.eq(customer_id))
            .order_by_asc(follow_up::Column::OrderId)
            .into_json()
            .all(db)
            .await?,
    );
    Ok(Some(json!({
        "exportedAt": now,
        "customer": profile,
        "tags": tags,
        "orders": rows!(order, order::Column::CustomerId),
        "orderLines": rows!(order_line, order_line::Column::CustomerId),
        "tickets": rows!(ticket, ticket::Column::CustomerId),
        "ticketMessages": rows!(ticket_message, ticket_message::Column::CustomerId),
        "reviews": rows!(review, review::Column::CustomerId),
        "referralsMade": rows!(referral, referral::Column::CustomerId),
        "referredBy": rows!(referral, referral::Column::RefereeCustomerId),
        "loyaltyAccount": rows!(loyalty_account, loyalty_account::Column::CustomerId),
        "loyaltyTransactions": rows!(loyalty_transaction, loyalty_transaction::Column::CustomerId),
        "storeCreditBalances": Json::Array(
            store_credit_balance::Entity::find()
                .filter(store_credit_balance::Column::CustomerId.eq(customer_id))
                .order_by_asc(store_credit_balance::Column::Currency)
                .into_json()
                .all(db)
                .await?,
        ),
        "storeCreditEntries": rows!(store_credit_entry, store_credit_entry::Column::CustomerId),
        "npsResponses": rows!(nps_response, nps_response::Column::CustomerId),
        "followUps": follow_ups,
        "metrics": metrics,
        "auditEvents": json_details(rows!(audit_event, audit_event::Column::CustomerId)),
    })))
}

/// SQLite hands JSON columns back as text; the export shows them as JSON on
/// every store.
fn json_details(mut events: Json) -> Json {
    if let Some(rows) = events.as_array_mut() {
        for row in rows {
            if let Some(details) = row.get_mut("details")
                && let Some(parsed) = details
                    .as_str()
                    .and_then(|text| serde_json::from_str::<Json>(text).ok())
            {
                *details = parsed;
            }
        }
    }
    events
}

/// Erases the customer's personal data everywhere, in one transaction with
/// its audit row. Orders, lines, loyalty balances and metrics stay (they hold
/// no personal data once the profile is redacted); `target` is the customer's
/// global id for the audit row. Returns when it was erased, `None` when
/// there is no such customer. Erasing again is harmless.
pub async fn erase<C>(
    db: &C,
    principal: &Principal,
    customer_id: i64,
    target: &str,
    now: DateTime<Utc>,
) -> AppResult<Option<DateTime<Utc>>>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::db::begin_write(db).await?;
    let Some(found) = customer::Entity::find_by_id(customer_id).one(&txn).await? else {
        return Ok(None);
    };
    let original_email = found.email.clone();
    let placeholder = erased_email(customer_id);
    // Erasing again changes nothing new, so it is told once.
    let first_erasure = found.erased_at.is_none();

    let mut profile = found.into_active_model();
    profile.email = Set(placeholder.clone());
    profile.first_name = Set(None);
    profile.last_name = Set(None);
    profile.phone = Set(None);
    profile.birthday = Set(None);
    profile.city = Set(None);
    profile.external_source = Set(None);
    profile.external_ref = Set(None);
    profile.email_marketing_state = Set(c360_entity::enums::EmailMarketingState::NotSubscribed);
    profile.consent_updated_at = Set(Some(now));
    profile.sms_consent_state = Set(c360_entity::enums::EmailMarketingState::NotSubscribed);
    profile.sms_consent_updated_at = Set(Some(now));
    profile.phone_consent_state = Set(c360_entity::enums::EmailMarketingState::NotSubscribed);
    profile.phone_consent_updated_at = Set(Some(now));
    profile.erased_at = Set(Some(now));
    profile.updated_at = Set(now);
    profile.update(&txn).await?;

    customer_tag::Entity::delete_many()
        .filter(customer_tag::Column::CustomerId.eq(customer_id))
        .exec(&txn)
        .await?;
    // Subjects and messages are free text the customer (or an agent quoting
    // them) wrote; names appear in them.
    ticket::Entity::update_many()
        .col_expr(ticket::Column::Subject, Expr::value(REDACTED))
        .col_expr(
            ticket::Column::SatisfactionComment,
            Expr::value(Option::<String>::None),
        )
        .filter(ticket::Column::CustomerId.eq(customer_id))
        .exec(&txn)
        .await?;
    ticket_message::Entity::update_many()
        .col_expr(ticket_message::Column::Body, Expr::value(REDACTED))
        .col_expr(
            ticket_message::Column::AuthorName,
            Expr::value(Option::<String>::None),
        )
        .filter(ticket_message::Column::CustomerId.eq(customer_id))
        .exec(&txn)
        .await?;
    review::Entity::update_many()
        .col_expr(review::Column::Title, Expr::value(Option::<String>::None))
        .col_expr(review::Column::Body, Expr::value(Option::<String>::None))
        .filter(review::Column::CustomerId.eq(customer_id))
        .exec(&txn)
        .await?;
    nps_response::Entity::update_many()
        .col_expr(
            nps_response::Column::Comment,
            Expr::value(Option::<String>::None),
        )
        .filter(nps_response::Column::CustomerId.eq(customer_id))
        .exec(&txn)
        .await?;
    // Follow-up comments are staff's notes on the customer; without consent
    // a follow-up still due is no longer made.
    follow_up::Entity::update_many()
        .col_expr(
            follow_up::Column::Comment,
            Expr::value(Option::<String>::None),
        )
        .filter(follow_up::Column::CustomerId.eq(customer_id))
        .exec(&txn)
        .await?;
    follow_up::Entity::update_many()
        .col_expr(
            follow_up::Column::State,
            Expr::value(FollowUpState::Skipped),
        )
        .filter(follow_up::Column::CustomerId.eq(customer_id))
        .filter(follow_up::Column::State.eq(FollowUpState::Due))
        .exec(&txn)
        .await?;
    // Invitations addressed to this customer, signed up or not.
    referral::Entity::update_many()
        .col_expr(
            referral::Column::RefereeEmail,
            Expr::value(placeholder.clone()),
        )
        .filter(
            Condition::any()
                .add(referral::Column::RefereeCustomerId.eq(customer_id))
                .add(referral::Column::RefereeEmail.eq(original_email.clone())),
        )
        .exec(&txn)
        .await?;
    // Other customers' ledger lines may name this one (a referral bonus).
    loyalty_transaction::Entity::update_many()
        .col_expr(
            loyalty_transaction::Column::Description,
            Expr::from(
                Func::cust("REPLACE")
                    .arg(Expr::col(loyalty_transaction::Column::Description))
                    .arg(original_email.clone())
                    .arg(placeholder.clone()),
            ),
        )
        .filter(loyalty_transaction::Column::Description.contains(&original_email))
        .exec(&txn)
        .await?;
    // Why credit was given is free text about the person; the amounts stay.
    store_credit_entry::Entity::update_many()
        .col_expr(store_credit_entry::Column::Reason, Expr::value(REDACTED))
        .filter(store_credit_entry::Column::CustomerId.eq(customer_id))
        .filter(store_credit_entry::Column::Reason.is_not_null())
        .exec(&txn)
        .await?;
    // A partner's retry key may be built from the address.
    store_credit_entry::Entity::update_many()
        .col_expr(
            store_credit_entry::Column::IdempotencyKey,
            Expr::from(
                Func::cust("REPLACE")
                    .arg(Expr::col(store_credit_entry::Column::IdempotencyKey))
                    .arg(original_email.clone())
                    .arg(placeholder.clone()),
            ),
        )
        .filter(store_credit_entry::Column::CustomerId.eq(customer_id))
        .filter(store_credit_entry::Column::IdempotencyKey.contains(&original_email))
        .exec(&txn)
        .await?;

    audit::record(
        &txn,
        principal,
        "customer.erase",
        target,
        Some(customer_id),
        json!({ "redacted": ["customers", "customer_tags", "tickets", "ticket_messages", "reviews", "nps_responses", "follow_ups", "referrals", "loyalty_transactions", "store_credit_entries"] }),
        now,
    )
    .await?;
    if first_erasure {
        events::emit(&txn, now, payload::customer_erased(customer_id, now)).await?;
    }
    txn.commit().await.map_err(AppError::from)?;
    Ok(Some(now))
}
