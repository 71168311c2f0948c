//! Saved segments: a name and a query in the segment language, checked on
//! every save so a stored segment always compiles. Each write is audited in
//! its own transaction. A segment may be tracked: its membership is then
//! kept and re-evaluated, and the changes told as events ([`tracking`]).

pub mod tracking;

use c360_entity::segment;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, EntityTrait, Set, TransactionSession, TransactionTrait};
use serde_json::json;

use crate::auth::Principal;
use crate::domain::ids::{Kind, gid};
use crate::domain::text;
use crate::error::{AppError, AppResult};
use crate::segment::{Env, parse};
use crate::service::audit;

pub use tracking::Evaluation;

/// Longest accepted segment name.
pub const MAX_NAME_CHARS: usize = 120;

/// What a create or update sets; `None` leaves a field as it is on update.
#[derive(Debug, Clone, Default)]
pub struct SegmentFields {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub query: Option<String>,
    /// Keep the membership and tell its changes (see [`tracking`]).
    pub tracked: Option<bool>,
}

fn check_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || text::chars(name) > MAX_NAME_CHARS {
        return Err(AppError::bad_input(
            "input.name",
            format!("a segment name has 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(name.to_owned())
}

/// The query as it will be stored, once it parses and checks.
fn check_query(query: &str, money_digits: u32) -> AppResult<String> {
    parse(query, money_digits)?;
    Ok(query.trim().to_owned())
}

/// Saves a segment; a tracked one has its membership filled (silently) in
/// the same transaction, as of `env`'s day.
pub async fn create(
    db: &impl TransactionTrait,
    principal: &Principal,
    fields: SegmentFields,
    env: &Env,
    now: DateTime<Utc>,
) -> AppResult<segment::Model> {
    let name = check_name(fields.name.as_deref().unwrap_or_default())?;
    let query = check_query(fields.query.as_deref().unwrap_or_default(), digits(env))?;
    let now = now.trunc_subsecs(0);
    let txn = crate::db::begin_write(db).await?;
    let mut saved = segment::ActiveModel {
        name: Set(name),
        description: Set(fields.description.flatten()),
        query: Set(query),
        created_by: Set(principal.subject.clone()),
        created_at: Set(now),
        updated_at: Set(now),
        tracked: Set(fields.tracked.unwrap_or(false)),
        evaluated_at: Set(None),
        membership_version: Set(0),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    if saved.tracked {
        saved = tracking::reevaluate(&txn, saved, env, now).await?.0;
    }
    audit::record(
        &txn,
        principal,
        "segment.create",
        &target(saved.id),
        None,
        json!({ "name": saved.name, "query": saved.query, "tracked": saved.tracked }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// Changes a segment. Turning tracking on fills the membership (silently)
/// in the same transaction; turning it off drops the membership, telling no
/// exits. A new query of a tracked segment is evaluated at the next pass
/// (or `refresh`), which tells the difference.
pub async fn update(
    db: &impl TransactionTrait,
    principal: &Principal,
    id: i64,
    fields: SegmentFields,
    env: &Env,
    now: DateTime<Utc>,
) -> AppResult<segment::Model> {
    let txn = crate::db::begin_write(db).await?;
    let existing = tracking::lock(&txn, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("segment {id} does not exist")))?;
    let was_tracked = existing.tracked;
    let mut row: segment::ActiveModel = existing.into();
    if let Some(name) = &fields.name {
        row.name = Set(check_name(name)?);
    }
    if let Some(description) = fields.description {
        row.description = Set(description);
    }
    if let Some(query) = &fields.query {
        row.query = Set(check_query(query, digits(env))?);
    }
    let tracked = fields.tracked.unwrap_or(was_tracked);
    if tracked != was_tracked {
        row.tracked = Set(tracked);
        row.evaluated_at = Set(None);
    }
    row.updated_at = Set(now.trunc_subsecs(0));
    let mut saved = row.update(&txn).await?;
    match (was_tracked, tracked) {
        (false, true) => saved = tracking::reevaluate(&txn, saved, env, now).await?.0,
        (true, false) => tracking::forget(&txn, id).await?,
        _ => {}
    }
    audit::record(
        &txn,
        principal,
        "segment.update",
        &target(id),
        None,
        json!({ "name": saved.name, "query": saved.query, "tracked": saved.tracked }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// Re-evaluates a tracked segment now, as a scheduler pass would, telling
/// what changed. NOT_FOUND when it does not exist, CONFLICT when it is not
/// tracked.
pub async fn refresh(
    db: &impl TransactionTrait,
    principal: &Principal,
    id: i64,
    env: &Env,
    now: DateTime<Utc>,
) -> AppResult<(segment::Model, Evaluation)> {
    let txn = crate::db::begin_write(db).await?;
    let existing = tracking::lock(&txn, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("segment {id} does not exist")))?;
    if !existing.tracked {
        return Err(AppError::Conflict(format!(
            "segment {id} is not tracked; track it with segmentUpdate(input: {{ tracked: true }})"
        )));
    }
    let (saved, done) = tracking::reevaluate(&txn, existing, env, now).await?;
    audit::record(
        &txn,
        principal,
        "segment.refresh",
        &target(id),
        None,
        json!({ "entered": done.entered, "exited": done.exited }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok((saved, done))
}

/// Deletes a segment; a tracked one's membership goes with it (the
/// foreign key's cascade), telling no exits.
pub async fn delete(
    db: &impl TransactionTrait,
    principal: &Principal,
    id: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let txn = crate::db::begin_write(db).await?;
    let deleted = segment::Entity::delete_by_id(id).exec(&txn).await?;
    if deleted.rows_affected == 0 {
        return Err(AppError::NotFound(format!("segment {id} does not exist")));
    }
    audit::record(
        &txn,
        principal,
        "segment.delete",
        &target(id),
        None,
        json!({}),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

fn digits(env: &Env) -> u32 {
    crate::domain::money::minor_digits(&env.base_currency)
}

fn target(id: i64) -> String {
    gid(Kind::Segment, id)
}
