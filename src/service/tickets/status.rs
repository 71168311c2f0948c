//! Ticket statuses: which moves are allowed (see the module face for the
//! story), their API names in messages, and agents changing a status
//! (SOLVED sets `solved_at`, reopening clears it).

use c360_entity::enums::TicketStatus;
use c360_entity::ticket;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::json;

use super::{Done, finish, reachable};
use crate::auth::{Principal, Role};
use crate::error::{AppError, AppResult};
use crate::events::payload;
use crate::service::Rules;

/// A status as the API spells it.
pub(super) fn name(status: TicketStatus) -> &'static str {
    match status {
        TicketStatus::New => "NEW",
        TicketStatus::Open => "OPEN",
        TicketStatus::Pending => "PENDING",
        TicketStatus::Hold => "HOLD",
        TicketStatus::Solved => "SOLVED",
        TicketStatus::Closed => "CLOSED",
    }
}

/// Whether a ticket may go from `from` to `to`.
pub fn may_move(from: TicketStatus, to: TicketStatus) -> bool {
    use TicketStatus::*;
    if from == to || to == New || from == Closed {
        return false;
    }
    match from {
        New | Open | Pending | Hold => to != Closed,
        Solved => matches!(to, Open | Closed),
        Closed => false,
    }
}

/// Changes a ticket's status (agents only). SOLVED sets `solved_at`;
/// reopening clears it.
pub async fn set_status(
    db: &impl ConnectionTrait,
    rules: &Rules,
    principal: &Principal,
    ticket_id: i64,
    status: TicketStatus,
    now: DateTime<Utc>,
) -> AppResult<ticket::Model> {
    let ticket = reachable(db, principal, ticket_id).await?;
    if principal.role == Role::Customer {
        return Err(AppError::Forbidden(
            "ticket status is changed by agents".into(),
        ));
    }
    let from = ticket.status;
    if !may_move(from, status) {
        return Err(AppError::Conflict(format!(
            "ticket {ticket_id} is {}; it cannot become {}",
            name(from),
            name(status)
        )));
    }
    let now = now.trunc_subsecs(0);
    let mut active: ticket::ActiveModel = ticket.into();
    active.status = Set(status);
    if status == TicketStatus::Solved {
        active.solved_at = Set(Some(now));
    } else if from == TicketStatus::Solved && status == TicketStatus::Open {
        active.solved_at = Set(None);
    }
    active.updated_at = Set(now);
    let updated = active.update(db).await?;
    let done = Done {
        action: "ticket.status",
        details: json!({ "from": from, "to": status }),
        events: if status == TicketStatus::Solved {
            vec![payload::ticket_solved(&updated)]
        } else {
            Vec::new()
        },
    };
    finish(db, rules, principal, &updated, done, now).await?;
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_returns_to_new_or_leaves_closed() {
        use TicketStatus::*;
        let all = [New, Open, Pending, Hold, Solved, Closed];
        for s in all {
            assert!(!may_move(s, New), "{s:?} -> NEW");
            assert!(!may_move(Closed, s), "CLOSED -> {s:?}");
            assert!(!may_move(s, s), "{s:?} -> itself");
        }
        assert!(may_move(New, Open));
        assert!(may_move(Pending, Solved));
        assert!(may_move(Solved, Open));
        assert!(may_move(Solved, Closed));
        assert!(!may_move(Open, Closed));
        assert!(!may_move(Solved, Pending));
    }
}
