//! A customer's support tickets: subject, status by age, the conversation,
//! satisfaction ratings, and goodwill points for the unhappy or urgent.

use c360_entity::enums::{
    AuthorKind, LoyaltyTransactionKind, LoyaltyTransactionState, TicketChannel, TicketPriority,
    TicketStatus,
};
use rand::Rng;

use super::{
    CustomerGen, DAY, HOUR, LedgerEntry, MINUTE, PlacedOrder, between, pick, take, weighted,
};
use crate::seed::catalog;
use crate::seed::rows::{TicketMessageRow, TicketRow};

/// A gesture of the support team, not a configured rule: agents pick it.
const GOODWILL_POINTS: i64 = 200;

impl CustomerGen<'_> {
    pub(super) fn tickets(
        &mut self,
        first_name: &str,
        orders: &[PlacedOrder],
        ledger: &mut Vec<LedgerEntry>,
    ) {
        let n = weighted(
            &mut self.rng,
            &[(0usize, 55), (1, 25), (2, 10), (3, 5), (4, 3), (6, 2)],
        );
        for _ in 0..n {
            self.ticket(first_name, orders, ledger);
        }
    }

    fn ticket(&mut self, first_name: &str, orders: &[PlacedOrder], ledger: &mut Vec<LedgerEntry>) {
        let world = self.world;
        let id = take(&mut self.ids.ticket);
        let (subject, created_at) = if !orders.is_empty() && self.rng.random_bool(0.6) {
            let order = pick(&mut self.rng, orders);
            let template = pick(&mut self.rng, catalog::ORDER_TICKET_SUBJECTS);
            let at = self.after(order.placed_at, DAY..10 * DAY);
            (template.replace("{order}", &order.number), at)
        } else {
            let subject = pick(&mut self.rng, catalog::GENERIC_TICKET_SUBJECTS);
            let at = between(&mut self.rng, self.created_at, world.today - 1);
            ((*subject).to_owned(), at)
        };
        let age = world.today - created_at;
        use TicketStatus as S;
        let status = if age > 14 * DAY {
            weighted(&mut self.rng, &[(S::Solved, 70), (S::Closed, 30)])
        } else if age > 3 * DAY {
            weighted(
                &mut self.rng,
                &[
                    (S::Solved, 50),
                    (S::Open, 20),
                    (S::Pending, 15),
                    (S::Hold, 5),
                    (S::Closed, 10),
                ],
            )
        } else {
            weighted(
                &mut self.rng,
                &[
                    (S::New, 35),
                    (S::Open, 35),
                    (S::Pending, 20),
                    (S::Solved, 10),
                ],
            )
        };
        let priority = weighted(
            &mut self.rng,
            &[
                (TicketPriority::Low, 20),
                (TicketPriority::Normal, 60),
                (TicketPriority::High, 15),
                (TicketPriority::Urgent, 5),
            ],
        );
        let channel = weighted(
            &mut self.rng,
            &[
                (TicketChannel::Email, 45),
                (TicketChannel::Chat, 30),
                (TicketChannel::Web, 12),
                (TicketChannel::Phone, 8),
                (TicketChannel::Social, 5),
            ],
        );

        self.message(
            id,
            AuthorKind::Customer,
            None,
            format!("Hi, {subject} Thanks, {first_name}"),
            created_at,
        );
        let mut last = created_at;
        let mut first_reply_at = None;
        if status != S::New {
            // Reply times: most within the hour, a long tail over two days.
            let delay = match self.rng.random_range(0..100) {
                0..40 => self.rng.random_range(5 * MINUTE..HOUR),
                40..75 => self.rng.random_range(HOUR..8 * HOUR),
                _ => self.rng.random_range(8 * HOUR..48 * HOUR),
            };
            last = self.after_by(last, delay);
            first_reply_at = Some(last);
            self.agent_message(id, last);
            for _ in 0..self.rng.random_range(0..=2) {
                last = self.after(last, HOUR..20 * HOUR);
                let body = pick(&mut self.rng, catalog::CUSTOMER_FOLLOW_UPS);
                self.message(id, AuthorKind::Customer, None, (*body).to_owned(), last);
                last = self.after(last, 10 * MINUTE..8 * HOUR);
                self.agent_message(id, last);
            }
        }
        let solved_at =
            matches!(status, S::Solved | S::Closed).then(|| self.after(last, 10 * MINUTE..DAY));
        let (mut score, mut comment, mut rated_at) = (None, None, None);
        if let Some(solved) = solved_at
            && self.rng.random_bool(0.4)
        {
            let s = weighted(
                &mut self.rng,
                &[(1i32, 5), (2, 5), (3, 10), (4, 30), (5, 50)],
            );
            score = Some(s);
            if self.rng.random_bool(0.5) {
                comment = catalog::CSAT_COMMENTS
                    .iter()
                    .find(|(rating, _)| *rating == s)
                    .map(|(_, text)| *text);
            }
            rated_at = Some(self.after(solved, HOUR..2 * DAY));
        }
        // Unhappy or urgent customers sometimes get goodwill points.
        if let Some(solved) = solved_at
            && (score.is_some_and(|s| s <= 2) || priority == TicketPriority::Urgent)
            && self.rng.random_bool(0.5)
        {
            ledger.push(LedgerEntry {
                at: solved,
                kind: LoyaltyTransactionKind::Adjust,
                points: GOODWILL_POINTS,
                state: LoyaltyTransactionState::Available,
                order_id: None,
                key: format!("goodwill:ticket:{id}"),
                description: format!("Goodwill for ticket #{id}"),
                available_at: Some(solved),
                expires_at: self.world.expiry(solved),
            });
        }
        self.out.tickets.push(TicketRow {
            id,
            customer_id: self.id,
            subject,
            status,
            priority,
            channel,
            created_at,
            updated_at: rated_at.or(solved_at).unwrap_or(last),
            first_reply_at,
            solved_at,
            satisfaction_score: score,
            satisfaction_comment: comment,
            satisfaction_at: rated_at,
        });
    }

    fn agent_message(&mut self, ticket_id: i64, at: i64) {
        let agent = *pick(&mut self.rng, catalog::AGENT_NAMES);
        let body = pick(&mut self.rng, catalog::AGENT_REPLIES);
        self.message(
            ticket_id,
            AuthorKind::Agent,
            Some(agent),
            (*body).to_owned(),
            at,
        );
    }

    fn message(
        &mut self,
        ticket_id: i64,
        kind: AuthorKind,
        author: Option<&'static str>,
        body: String,
        at: i64,
    ) {
        self.out.messages.push(TicketMessageRow {
            id: take(&mut self.ids.message),
            ticket_id,
            customer_id: self.id,
            author_kind: kind,
            author_name: author,
            body,
            created_at: at,
        });
    }
}
