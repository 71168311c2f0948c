//! Customer satisfaction (CSAT): a score of 1 to 5 and an optional comment
//! of at most 2000 characters, given once a ticket is SOLVED or CLOSED, and
//! only once.

use c360_entity::enums::TicketStatus;
use c360_entity::ticket;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::json;

use super::status::name;
use super::{Done, finish, reachable};
use crate::auth::Principal;
use crate::domain::text;
use crate::error::{AppError, AppResult};
use crate::events::payload;
use crate::service::Rules;

/// Records the customer's CSAT (1-5 and a comment): once, and only for a
/// SOLVED or CLOSED ticket.
pub async fn rate(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    ticket_id: i64,
    score: i32,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> AppResult<ticket::Model> {
    csat_score("score", score)?;
    let comment = csat_comment(comment)?;
    let ticket = reachable(db, principal, ticket_id).await?;
    if !matches!(ticket.status, TicketStatus::Solved | TicketStatus::Closed) {
        return Err(AppError::Conflict(format!(
            "ticket {ticket_id} is {}; satisfaction is rated once it is solved",
            name(ticket.status)
        )));
    }
    if ticket.satisfaction_score.is_some() {
        return Err(AppError::Conflict(format!(
            "ticket {ticket_id} was already rated"
        )));
    }
    let now = now.trunc_subsecs(0);
    let mut active: ticket::ActiveModel = ticket.into();
    active.satisfaction_score = Set(Some(score));
    active.satisfaction_comment = Set(comment);
    active.satisfaction_at = Set(Some(now));
    active.updated_at = Set(now);
    let updated = active.update(db).await?;
    let done = Done {
        action: "ticket.rate",
        details: json!({ "score": score }),
        events: vec![payload::ticket_rated(&updated)],
    };
    finish(db, rules, principal, &updated, done, now).await?;
    Ok(updated)
}

/// A score of 1 to 5; BAD_USER_INPUT naming `field` otherwise.
pub(super) fn csat_score(field: &str, score: i32) -> AppResult<()> {
    if (1..=5).contains(&score) {
        Ok(())
    } else {
        Err(AppError::bad_input(
            field,
            format!("{field} is 1 to 5, not {score}"),
        ))
    }
}

/// The comment trimmed, at most 2000 characters; blank is no comment.
pub(super) fn csat_comment(comment: Option<String>) -> AppResult<Option<String>> {
    let Some(comment) = comment else {
        return Ok(None);
    };
    let comment = text::at_most("comment", comment.trim(), 2_000)?;
    Ok(Some(comment.to_owned()).filter(|c| !c.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_counted_in_characters() {
        let comment = "日".repeat(2_000);
        assert_eq!(
            csat_comment(Some(format!(" {comment} "))).ok(),
            Some(Some(comment.clone()))
        );
        assert!(csat_comment(Some(format!("{comment}日"))).is_err());
        assert_eq!(csat_comment(Some("  ".into())).ok(), Some(None));
        assert_eq!(csat_comment(None).ok(), Some(None));
    }

    #[test]
    fn scores_are_one_to_five() {
        assert!(csat_score("score", 1).is_ok());
        assert!(csat_score("score", 5).is_ok());
        assert!(csat_score("score", 0).is_err());
        assert!(csat_score("score", 6).is_err());
    }
}
