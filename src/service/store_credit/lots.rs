//! Which credit is spent first, defined once: every debit (a redemption, an
//! expiry) takes from the unspent credits of its currency the one expiring
//! soonest, then the next; credit that never expires is spent last; between
//! credits expiring at the same instant, the older entry first. What is left
//! of a credit when its expiry passes is written off.
//!
//! The ledger is replayed in the order it was written (entry ids), so the
//! rule needs no column beyond the entries themselves. Expired credit is
//! written off before any later debit (see `ledger::settle`), so a debit
//! never reaches credit that had already expired.

use chrono::{DateTime, Utc};

/// An entry of one customer's ledger in one currency, as the replay sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Movement {
    pub entry_id: i64,
    /// Signed minor units.
    pub amount: i64,
    pub expires_at: Option<DateTime<Utc>>,
}

/// What is unspent of one credit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lot {
    pub entry_id: i64,
    pub expires_at: Option<DateTime<Utc>>,
    pub left: i64,
}

/// The unspent lots after `movements` (in the order they were written), in
/// spending order: soonest expiry first, never-expiring last.
pub fn unspent(movements: &[Movement]) -> Vec<Lot> {
    let mut lots: Vec<Lot> = Vec::new();
    for m in movements {
        if m.amount > 0 {
            let lot = Lot {
                entry_id: m.entry_id,
                expires_at: m.expires_at,
                left: m.amount,
            };
            let at = lots.partition_point(|l| spent_before(l, &lot));
            lots.insert(at, lot);
            continue;
        }
        let mut need = -m.amount;
        for lot in lots.iter_mut() {
            if need == 0 {
                break;
            }
            let take = Ord::min(lot.left, need);
            lot.left -= take;
            need -= take;
        }
        lots.retain(|l| l.left > 0);
    }
    lots
}

/// Whether `a` is spent before `b`.
fn spent_before(a: &Lot, b: &Lot) -> bool {
    match (a.expires_at, b.expires_at) {
        (Some(x), Some(y)) => (x, a.entry_id) < (y, b.entry_id),
        (Some(_), None) => true,
        (None, Some(_)) => false,
        (None, None) => a.entry_id < b.entry_id,
    }
}

/// Whether `lot` has expired at `now`.
pub fn expired(lot: &Lot, now: DateTime<Utc>) -> bool {
    lot.expires_at.is_some_and(|at| at <= now)
}

/// The soonest expiry among `lots` and what is unspent of the credit
/// expiring then; `None` when nothing left expires.
pub fn next_expiry(lots: &[Lot]) -> Option<(DateTime<Utc>, i64)> {
    let at = lots.iter().filter_map(|l| l.expires_at).min()?;
    let amount = lots
        .iter()
        .filter(|l| l.expires_at == Some(at))
        .map(|l| l.left)
        .sum();
    Some((at, amount))
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn day(n: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(n)
    }

    fn credit(id: i64, amount: i64, expires: Option<i64>) -> Movement {
        Movement {
            entry_id: id,
            amount,
            expires_at: expires.map(day),
        }
    }

    fn debit(id: i64, amount: i64) -> Movement {
        Movement {
            entry_id: id,
            amount: -amount,
            expires_at: None,
        }
    }

    fn left(lots: &[Lot]) -> Vec<(i64, i64)> {
        lots.iter().map(|l| (l.entry_id, l.left)).collect()
    }

    #[test]
    fn the_soonest_expiring_credit_is_spent_first_and_never_expiring_last() {
        // 50 never expiring, 40 expiring on day 20, 30 on day 10; spend 45.
        let ledger = [
            credit(1, 50, None),
            credit(2, 40, Some(20)),
            credit(3, 30, Some(10)),
            debit(4, 45),
        ];
        let lots = unspent(&ledger);
        assert_eq!(left(&lots), [(2, 25), (1, 50)]);
        assert_eq!(next_expiry(&lots), Some((day(20), 25)));
        assert!(!expired(&lots[0], day(19)) && expired(&lots[0], day(20)));
    }

    #[test]
    fn equal_expiries_spend_the_older_entry_first_and_sum_for_the_notice() {
        let ledger = [
            credit(1, 10, Some(5)),
            credit(2, 10, Some(5)),
            debit(3, 15),
            credit(4, 7, Some(5)),
        ];
        let lots = unspent(&ledger);
        assert_eq!(left(&lots), [(2, 5), (4, 7)]);
        assert_eq!(next_expiry(&lots), Some((day(5), 12)));
        assert_eq!(next_expiry(&unspent(&[credit(1, 10, None)])), None);
    }

    #[test]
    fn a_write_off_takes_exactly_what_had_expired() {
        // What expired on day 10 (the unspent 20 of entry 1) is written off
        // as a debit; entry 2 is untouched.
        let mut ledger = vec![
            credit(1, 50, Some(10)),
            credit(2, 30, Some(30)),
            debit(3, 30),
        ];
        let expired_now: i64 = unspent(&ledger)
            .iter()
            .filter(|l| expired(l, day(10)))
            .map(|l| l.left)
            .sum();
        assert_eq!(expired_now, 20);
        ledger.push(debit(4, expired_now));
        assert_eq!(left(&unspent(&ledger)), [(2, 30)]);
    }
}
