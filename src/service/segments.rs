//! Saved segments: a name and a query in the segment language, checked on
//! every save so a stored segment always compiles. Each write is audited in
//! its own transaction.

use c360_entity::segment;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, EntityTrait, Set, TransactionSession, TransactionTrait};
use serde_json::json;

use crate::auth::Principal;
use crate::domain::ids::{Kind, gid};
use crate::domain::text;
use crate::error::{AppError, AppResult};
use crate::segment::parse;
use crate::service::audit;

/// Longest accepted segment name.
pub const MAX_NAME_CHARS: usize = 120;

/// What a create or update sets; `None` leaves a field as it is on update.
#[derive(Debug, Clone, Default)]
pub struct SegmentFields {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub query: Option<String>,
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

pub async fn create(
    db: &impl TransactionTrait,
    principal: &Principal,
    fields: SegmentFields,
    money_digits: u32,
    now: DateTime<Utc>,
) -> AppResult<segment::Model> {
    let name = check_name(fields.name.as_deref().unwrap_or_default())?;
    let query = check_query(fields.query.as_deref().unwrap_or_default(), money_digits)?;
    let now = now.trunc_subsecs(0);
    let txn = crate::db::begin_write(db).await?;
    let saved = segment::ActiveModel {
        name: Set(name),
        description: Set(fields.description.flatten()),
        query: Set(query),
        created_by: Set(principal.subject.clone()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        principal,
        "segment.create",
        &target(saved.id),
        None,
        json!({ "name": saved.name, "query": saved.query }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

pub async fn update(
    db: &impl TransactionTrait,
    principal: &Principal,
    id: i64,
    fields: SegmentFields,
    money_digits: u32,
    now: DateTime<Utc>,
) -> AppResult<segment::Model> {
    let txn = crate::db::begin_write(db).await?;
    let existing = segment::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("segment {id} does not exist")))?;
    let mut row: segment::ActiveModel = existing.into();
    if let Some(name) = &fields.name {
        row.name = Set(check_name(name)?);
    }
    if let Some(description) = fields.description {
        row.description = Set(description);
    }
    if let Some(query) = &fields.query {
        row.query = Set(check_query(query, money_digits)?);
    }
    row.updated_at = Set(now.trunc_subsecs(0));
    let saved = row.update(&txn).await?;
    audit::record(
        &txn,
        principal,
        "segment.update",
        &target(id),
        None,
        json!({ "name": saved.name, "query": saved.query }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

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

fn target(id: i64) -> String {
    gid(Kind::Segment, id)
}
