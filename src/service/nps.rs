//! NPS answers: a 0-10 score with an optional comment; the customer's
//! `last_nps_score` and the `nps.answered` event (with the score's
//! category) follow in the same transaction.

use c360_entity::enums::NpsChannel;
use c360_entity::nps_response;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use super::{Outcome, Rules, audit, metrics, owner};
use crate::auth::Principal;
use crate::domain::ids::{Kind, gid};
use crate::domain::text;
use crate::error::{AppError, AppResult};
use crate::events::{self, payload};

#[allow(clippy::too_many_arguments)]
pub async fn record(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    customer_id: i64,
    score: i32,
    comment: Option<String>,
    channel: NpsChannel,
    now: DateTime<Utc>,
) -> AppResult<nps_response::Model> {
    let comment = checked(score, comment)?;
    owner::writable_customer(db, principal, customer_id).await?;
    let answer = nps_response::ActiveModel {
        customer_id: Set(customer_id),
        score: Set(score),
        comment: Set(comment),
        channel: Set(channel),
        created_at: Set(now.trunc_subsecs(0)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    metrics::refresh_for(db, &rules.base_currency, &[customer_id], now).await?;
    audit::record(
        db,
        principal,
        "nps.record",
        &gid(Kind::NpsResponse, answer.id),
        Some(customer_id),
        json!({ "score": score }),
        now,
    )
    .await?;
    events::emit(db, now, payload::nps_answered(&answer)).await?;
    Ok(answer)
}

/// Checks the score; returns the trimmed comment (`None` when blank).
fn checked(score: i32, comment: Option<String>) -> AppResult<Option<String>> {
    if !(0..=10).contains(&score) {
        return Err(AppError::bad_input(
            "score",
            format!("score is 0 to 10, not {score}"),
        ));
    }
    let comment = comment
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    if let Some(c) = &comment {
        text::at_most("comment", c, 2_000)?;
    }
    Ok(comment)
}

/// An answer as a survey tool exported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedAnswer {
    /// The survey tool's id: importing it again updates this answer.
    pub external_ref: String,
    pub customer_id: i64,
    pub score: i32,
    pub comment: Option<String>,
    pub channel: NpsChannel,
    /// Defaults to now.
    pub created_at: Option<DateTime<Utc>>,
}

/// Writes an exported answer: a new `external_ref` adds it, a known one
/// updates it when anything differs.
pub async fn import(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    answer: ImportedAnswer,
    now: DateTime<Utc>,
) -> AppResult<Outcome> {
    let comment = checked(answer.score, answer.comment)?;
    let external_ref = text::required("externalRef", &answer.external_ref, 200)?;
    owner::writable_customer(db, principal, answer.customer_id).await?;
    let now = now.trunc_subsecs(0);
    let created_at = answer.created_at.map_or(now, |c| c.trunc_subsecs(0));
    let existing = nps_response::Entity::find()
        .filter(nps_response::Column::ExternalRef.eq(external_ref.as_str()))
        .one(db)
        .await?;
    let (row, outcome) = match existing {
        Some(current) => {
            if current.customer_id != answer.customer_id {
                return Err(AppError::Conflict(format!(
                    "answer `{external_ref}` belongs to customer {}, not {}",
                    current.customer_id, answer.customer_id
                )));
            }
            if current.score == answer.score
                && current.comment == comment
                && current.channel == answer.channel
                && (answer.created_at.is_none() || current.created_at == created_at)
            {
                return Ok(Outcome::Unchanged);
            }
            let mut active: nps_response::ActiveModel = current.into();
            active.score = Set(answer.score);
            active.comment = Set(comment);
            active.channel = Set(answer.channel);
            if answer.created_at.is_some() {
                active.created_at = Set(created_at);
            }
            (active.update(db).await?, Outcome::Updated)
        }
        None => (
            nps_response::ActiveModel {
                customer_id: Set(answer.customer_id),
                external_ref: Set(Some(external_ref)),
                score: Set(answer.score),
                comment: Set(comment),
                channel: Set(answer.channel),
                created_at: Set(created_at),
                ..Default::default()
            }
            .insert(db)
            .await?,
            Outcome::Created,
        ),
    };
    metrics::refresh_for(db, &rules.base_currency, &[row.customer_id], now).await?;
    audit::record(
        db,
        principal,
        "nps.import",
        &gid(Kind::NpsResponse, row.id),
        Some(row.customer_id),
        json!({ "score": row.score, "created": outcome == Outcome::Created }),
        now,
    )
    .await?;
    // A corrected answer is the same answer: told once, when it arrives.
    if outcome == Outcome::Created {
        events::emit(db, now, payload::nps_answered(&row)).await?;
    }
    Ok(outcome)
}
