//! NPS answers: a 0-10 score with an optional comment; the customer's
//! `last_nps_score` follows in the same transaction.

use c360_entity::enums::NpsChannel;
use c360_entity::nps_response;
use chrono::{SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::json;

use super::{Rules, audit, metrics, owner};
use crate::auth::Principal;
use crate::error::{AppError, AppResult};

pub async fn record(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    customer_id: i64,
    score: i32,
    comment: Option<String>,
    channel: NpsChannel,
) -> AppResult<nps_response::Model> {
    if !(0..=10).contains(&score) {
        return Err(AppError::bad_input(
            "score",
            format!("score is 0 to 10, not {score}"),
        ));
    }
    let comment = comment
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    if comment.as_ref().is_some_and(|c| c.len() > 2_000) {
        return Err(AppError::bad_input(
            "comment",
            "comment is at most 2000 characters",
        ));
    }
    owner::writable_customer(db, principal, customer_id).await?;
    let answer = nps_response::ActiveModel {
        customer_id: Set(customer_id),
        score: Set(score),
        comment: Set(comment),
        channel: Set(channel),
        created_at: Set(Utc::now().trunc_subsecs(0)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    metrics::refresh_for(db, &rules.base_currency, &[customer_id]).await?;
    audit::record(
        db,
        principal,
        "nps.record",
        &format!("gid://c360/NpsResponse/{}", answer.id),
        Some(customer_id),
        json!({ "score": score }),
    )
    .await?;
    Ok(answer)
}
