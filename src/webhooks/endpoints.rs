//! Managing endpoints: who may (STAFF, or a PARTNER holding
//! `webhooks:write`, which sees only its own: others' are not found),
//! what is valid (a URL the address policy accepts, known event types the
//! owner may receive, one endpoint per owner and URL), secrets and their
//! rotation, and the delivery log with retry and replay.

use c360_entity::{event, webhook_delivery, webhook_endpoint};
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::Value;

use super::Status;
use super::address::{self, Policy};
use super::dispatch::{Subscription, delivery_row, insert_deliveries, owner_identity};
use super::signing::generate_secret;
use crate::app::App;
use crate::auth::{Identity, Principal, Role, require_domain, require_webhooks};
use crate::db::begin_write;
use crate::error::{AppError, AppResult};
use crate::events::EventType;
use crate::read::pagination::{ById, KeysetPage};

/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_OVERLAP: TimeDelta = TimeDelta::hours(24);

/// Events replayed per transaction.
const REPLAY_BATCH: u64 = 1_000;

/// What a create or update sets; `None` leaves a field as it is (on
/// create: no types means every type, no description an empty one).
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
}

/// The caller, who must be STAFF or a PARTNER with `webhooks:write`.
pub fn manager(identity: &Identity) -> AppResult<&Principal> {
    require_webhooks(identity)
}

fn not_found(id: i64) -> AppError {
    AppError::NotFound(format!("no webhook endpoint {id}"))
}

/// Endpoint `id`, if `principal` may manage it; NOT_FOUND otherwise, the
/// same as for an id that does not exist.
pub async fn find(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: i64,
) -> AppResult<webhook_endpoint::Model> {
    let mut query = webhook_endpoint::Entity::find_by_id(id);
    if principal.role != Role::Staff {
        query = query
            .filter(webhook_endpoint::Column::OwnerRole.eq(principal.role.to_string()))
            .filter(webhook_endpoint::Column::OwnerSubject.eq(&principal.subject));
    }
    query.one(db).await?.ok_or_else(|| not_found(id))
}

/// Checks `types` against the catalogue and what `owner` may receive.
fn check_types(owner: &Identity, types: &[String]) -> AppResult<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(types.len());
    for (i, name) in types.iter().enumerate() {
        let field = format!("eventTypes[{i}]");
        let t = EventType::parse(name.trim()).ok_or_else(|| {
            AppError::bad_input(
                &field,
                format!(
                    "`{name}` is not an event type; the types are: {}",
                    EventType::names()
                ),
            )
        })?;
        if let Err(e) = require_domain(owner, t.domain()) {
            return Err(AppError::bad_input(
                &field,
                format!("`{name}` cannot be received: {e}"),
            ));
        }
        if !out.iter().any(|o| o == t.name()) {
            out.push(t.name().to_owned());
        }
    }
    Ok(out)
}

/// Checks a URL's form and addresses; its canonical text.
async fn check_url(app: &App, url: &str) -> AppResult<String> {
    let policy = Policy::from_config(&app.config);
    let parsed = address::parse("url", url, policy)?;
    address::resolve("url", &parsed, policy).await?;
    Ok(parsed.to_string())
}

fn check_description(description: &str) -> AppResult<String> {
    let d = description.trim();
    if d.chars().count() > 500 {
        return Err(AppError::bad_input(
            "description",
            "the description is longer than 500 characters",
        ));
    }
    Ok(d.to_owned())
}

async fn refuse_duplicate(
    db: &impl ConnectionTrait,
    subject: &str,
    url: &str,
    except: Option<i64>,
) -> AppResult<()> {
    let mut query = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::OwnerSubject.eq(subject))
        .filter(webhook_endpoint::Column::Url.eq(url));
    if let Some(id) = except {
        query = query.filter(webhook_endpoint::Column::Id.ne(id));
    }
    if query.count(db).await? > 0 {
        return Err(AppError::Conflict(format!(
            "an endpoint for `{url}` is registered already"
        )));
    }
    Ok(())
}

/// Registers an endpoint owned by `principal`, receiving the events
/// committed from now on. The endpoint holds its secret.
pub async fn create(
    app: &App,
    principal: &Principal,
    changes: Changes,
) -> AppResult<webhook_endpoint::Model> {
    let owner = Identity::Authenticated(principal.clone());
    let url = check_url(app, changes.url.as_deref().unwrap_or_default()).await?;
    let types = check_types(&owner, &changes.event_types.unwrap_or_default())?;
    let description = check_description(changes.description.as_deref().unwrap_or_default())?;
    let db = &app.store.conn;
    refuse_duplicate(db, &principal.subject, &url, None).await?;
    let now = app.clock.now_secs();
    // IMMEDIATE on SQLite, as every transaction here that reads, then
    // writes: a deferred one fails at once when a write commits between.
    let txn = begin_write(db).await?;
    // The cursor starts at the end of the outbox: an endpoint receives
    // what happens after it exists (replay reaches further back).
    let start: Option<i64> = event::Entity::find()
        .select_only()
        .column_as(event::Column::Position.max(), "max")
        .into_tuple::<Option<i64>>()
        .one(&txn)
        .await?
        .flatten();
    let row = webhook_endpoint::ActiveModel {
        owner_role: Set(principal.role.to_string()),
        owner_subject: Set(principal.subject.clone()),
        owner_scopes: Set(principal
            .scopes
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")),
        url: Set(url),
        description: Set(description),
        event_types: Set(Value::from(types)),
        secret: Set(generate_secret()?),
        position: Set(start.unwrap_or(0)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    let created = webhook_endpoint::Entity::insert(row)
        .exec_with_returning(&txn)
        .await
        .map_err(duplicate)?;
    txn.commit().await?;
    Ok(created)
}

/// A unique-key failure as the duplicate it is.
fn duplicate(e: sea_orm::DbErr) -> AppError {
    match AppError::from(e) {
        AppError::Conflict(_) => {
            AppError::Conflict("an endpoint for this URL is registered already".into())
        }
        other => other,
    }
}

/// Changes an endpoint's URL, types or description.
pub async fn update(
    app: &App,
    principal: &Principal,
    id: i64,
    changes: Changes,
) -> AppResult<webhook_endpoint::Model> {
    let db = &app.store.conn;
    let endpoint = find(db, principal, id).await?;
    let mut row = webhook_endpoint::ActiveModel {
        id: Set(id),
        updated_at: Set(app.clock.now_secs()),
        ..Default::default()
    };
    if let Some(url) = changes.url {
        let url = check_url(app, &url).await?;
        refuse_duplicate(db, &endpoint.owner_subject, &url, Some(id)).await?;
        row.url = Set(url);
    }
    if let Some(types) = changes.event_types {
        row.event_types = Set(Value::from(check_types(
            &owner_identity(&endpoint),
            &types,
        )?));
    }
    if let Some(d) = changes.description {
        row.description = Set(check_description(&d)?);
    }
    webhook_endpoint::Entity::update(row)
        .exec(db)
        .await
        .map_err(duplicate)
}

/// Disables (with `reason`) or enables an endpoint. Enabling starts a new
/// run of health: its pending deliveries go out again.
pub async fn set_disabled(
    app: &App,
    principal: &Principal,
    id: i64,
    reason: Option<String>,
) -> AppResult<webhook_endpoint::Model> {
    let db = &app.store.conn;
    find(db, principal, id).await?;
    let now = app.clock.now_secs();
    let enabling = reason.is_none();
    let row = webhook_endpoint::ActiveModel {
        id: Set(id),
        disabled_at: Set(reason.as_ref().map(|_| now)),
        disabled_reason: Set(reason),
        failing_since: Set(None),
        updated_at: Set(now),
        ..Default::default()
    };
    let txn = begin_write(db).await?;
    let endpoint = webhook_endpoint::Entity::update(row).exec(&txn).await?;
    if enabling {
        // What waits goes out now, not at its backed-off retry: an
        // endpoint disabled for failing has retries up to 10 hours away,
        // and each holds back every later event of its customer.
        webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(now))
            .filter(webhook_delivery::Column::EndpointId.eq(id))
            .filter(webhook_delivery::Column::Status.eq(Status::Pending.as_str()))
            .filter(webhook_delivery::Column::NextAttemptAt.gt(now))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(endpoint)
}

/// Deletes an endpoint and its delivery log.
pub async fn delete(app: &App, principal: &Principal, id: i64) -> AppResult<()> {
    let txn = begin_write(&app.store.conn).await?;
    find(&txn, principal, id).await?;
    webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::EndpointId.eq(id))
        .exec(&txn)
        .await?;
    webhook_endpoint::Entity::delete_by_id(id)
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// A new secret; the old one keeps signing for [`ROTATION_OVERLAP`], so
/// receivers can switch without missing a delivery.
pub async fn rotate_secret(
    app: &App,
    principal: &Principal,
    id: i64,
) -> AppResult<webhook_endpoint::Model> {
    let db = &app.store.conn;
    let endpoint = find(db, principal, id).await?;
    let now = app.clock.now_secs();
    let row = webhook_endpoint::ActiveModel {
        id: Set(id),
        secret: Set(generate_secret()?),
        previous_secret: Set(Some(endpoint.secret)),
        previous_secret_expires_at: Set(Some(now + ROTATION_OVERLAP)),
        updated_at: Set(now),
        ..Default::default()
    };
    Ok(webhook_endpoint::Entity::update(row).exec(db).await?)
}

/// A page of the endpoints `principal` manages, oldest first.
pub async fn list(
    app: &App,
    principal: &Principal,
    page: &ById,
) -> AppResult<KeysetPage<webhook_endpoint::Model>> {
    let mut query = webhook_endpoint::Entity::find();
    if principal.role != Role::Staff {
        query = query
            .filter(webhook_endpoint::Column::OwnerRole.eq(principal.role.to_string()))
            .filter(webhook_endpoint::Column::OwnerSubject.eq(&principal.subject));
    }
    if let Some(c) = &page.after {
        query = query.filter(webhook_endpoint::Column::Id.gt(c.id));
    }
    let rows = query
        .order_by_asc(webhook_endpoint::Column::Id)
        .limit(page.size + 1)
        .all(&app.store.conn)
        .await?;
    Ok(page.cut(rows, |e| e.id))
}

/// An endpoint's health beside its settings.
#[derive(Debug, Clone)]
pub struct Health {
    /// The status of the delivery attempted last, if any was.
    pub last_status: Option<Status>,
    /// Its HTTP status.
    pub last_http_status: Option<i32>,
    pub pending: u64,
}

pub async fn health(db: &impl ConnectionTrait, endpoint_id: i64) -> AppResult<Health> {
    let last = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id))
        .filter(webhook_delivery::Column::Attempts.gt(0))
        .order_by_desc(webhook_delivery::Column::Id)
        .one(db)
        .await?;
    let pending = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id))
        .filter(webhook_delivery::Column::Status.eq(Status::Pending.as_str()))
        .count(db)
        .await?;
    Ok(Health {
        last_status: last.as_ref().and_then(|d| Status::parse(&d.status)),
        last_http_status: last.and_then(|d| d.last_status),
        pending,
    })
}

/// A page of an endpoint's deliveries, newest first.
pub async fn deliveries(
    app: &App,
    principal: &Principal,
    endpoint_id: i64,
    status: Option<Status>,
    page: &ById,
) -> AppResult<KeysetPage<webhook_delivery::Model>> {
    let db = &app.store.conn;
    find(db, principal, endpoint_id).await?;
    let mut query = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id));
    if let Some(s) = status {
        query = query.filter(webhook_delivery::Column::Status.eq(s.as_str()));
    }
    if let Some(c) = &page.after {
        query = query.filter(webhook_delivery::Column::Id.lt(c.id));
    }
    let rows = query
        .order_by_desc(webhook_delivery::Column::Id)
        .limit(page.size + 1)
        .all(db)
        .await?;
    Ok(page.cut(rows, |d| d.id))
}

/// Makes a delivery PENDING and due now, with a fresh schedule.
pub async fn retry(
    app: &App,
    principal: &Principal,
    delivery_id: i64,
) -> AppResult<webhook_delivery::Model> {
    let db = &app.store.conn;
    let delivery = webhook_delivery::Entity::find_by_id(delivery_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no webhook delivery {delivery_id}")))?;
    find(db, principal, delivery.endpoint_id)
        .await
        .map_err(|_| AppError::NotFound(format!("no webhook delivery {delivery_id}")))?;
    requeue(app.clock.now_secs())
        .filter(webhook_delivery::Column::Id.eq(delivery_id))
        .exec(db)
        .await?;
    webhook_delivery::Entity::find_by_id(delivery_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no webhook delivery {delivery_id}")))
}

/// An update that makes deliveries PENDING, due at `now`, with a fresh
/// schedule; leased ones (being sent) are left to their sender.
fn requeue(now: DateTime<Utc>) -> sea_orm::UpdateMany<webhook_delivery::Entity> {
    webhook_delivery::Entity::update_many()
        .col_expr(
            webhook_delivery::Column::Status,
            Expr::value(Status::Pending.as_str()),
        )
        .col_expr(webhook_delivery::Column::Attempts, Expr::value(0))
        .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(now))
        .col_expr(
            webhook_delivery::Column::DeliveredAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(
            Condition::any()
                .add(webhook_delivery::Column::LeaseUntil.is_null())
                .add(webhook_delivery::Column::LeaseUntil.lte(now)),
        )
}

/// Queues again every event at or after `since` up to the endpoint's
/// cursor that it subscribes to: deliveries that exist start over, the
/// missing ones (events from before the endpoint existed) are created.
/// The number of deliveries queued.
pub async fn replay(
    app: &App,
    principal: &Principal,
    id: i64,
    since: DateTime<Utc>,
) -> AppResult<u64> {
    let db = &app.store.conn;
    let endpoint = find(db, principal, id).await?;
    let subscription = Subscription::of(&endpoint);
    let now = app.clock.now_secs();
    let mut after = 0i64;
    let mut queued = 0u64;
    loop {
        let txn = begin_write(db).await?;
        let events = event::Entity::find()
            .filter(event::Column::OccurredAt.gte(since))
            .filter(event::Column::Position.gt(after))
            .filter(event::Column::Position.lte(endpoint.position))
            .order_by_asc(event::Column::Position)
            .limit(REPLAY_BATCH)
            .all(&txn)
            .await?;
        let Some(last) = events.last().and_then(|e| e.position) else {
            break;
        };
        let wanted: Vec<&event::Model> = events
            .iter()
            .filter(|e| subscription.wants(&e.event_type))
            .collect();
        let ids: Vec<String> = wanted.iter().map(|e| e.id.clone()).collect();
        insert_deliveries(
            &txn,
            wanted
                .iter()
                .map(|e| delivery_row(id, e, now, now))
                .collect(),
        )
        .await?;
        let updated = requeue(now)
            .filter(webhook_delivery::Column::EndpointId.eq(id))
            .filter(webhook_delivery::Column::EventId.is_in(ids))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        queued += updated.rows_affected;
        after = last;
        if (events.len() as u64) < REPLAY_BATCH {
            break;
        }
    }
    Ok(queued)
}
