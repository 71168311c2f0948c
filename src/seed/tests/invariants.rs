//! What every seeded store must satisfy, whatever the seed and rules,
//! recounted in SQL that runs on SQLite and PostgreSQL.

use c360_entity::enums::LoyaltyTransactionState;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveEnum, ConnectionTrait, DatabaseConnection, Statement};

use super::{EMAILS, column, now, rules, scalar, scalar_of, stmt};
use crate::domain::orders::NOT_COUNTED;
use crate::error::AppError;
use crate::seed::{SeedOptions, SeedReport, run};

/// Loyalty accounts whose balances differ from their ledger's sums.
pub fn balances_off(db: &DatabaseConnection) -> Statement {
    let cancelled = LoyaltyTransactionState::Cancelled.to_value();
    stmt(
        db,
        &format!(
            "SELECT COUNT(*) FROM loyalty_accounts a WHERE
               a.points_available <> (SELECT COALESCE(SUM(points), 0) FROM loyalty_transactions t
                 WHERE t.customer_id = a.customer_id AND t.state = 'AVAILABLE')
            OR a.points_pending <> (SELECT COALESCE(SUM(points), 0) FROM loyalty_transactions t
                 WHERE t.customer_id = a.customer_id AND t.state = 'PENDING')
            OR a.points_lifetime_earned <> (SELECT COALESCE(SUM(points), 0) FROM loyalty_transactions t
                 WHERE t.customer_id = a.customer_id AND t.points > 0 AND t.state <> '{cancelled}'
                   AND t.kind IN ('EARN', 'ADJUST', 'REFERRAL_BONUS'))"
        ),
    )
}

/// Customers whose metrics row is missing or differs from a recount; the
/// base currency is bound, the status not counted is an enum constant.
pub fn metrics_off(db: &DatabaseConnection, base_currency: &str) -> Statement {
    let not_counted = NOT_COUNTED.to_value();
    let sql = format!(
        "SELECT COUNT(*) FROM customers c LEFT JOIN customer_metrics m ON m.customer_id = c.id
         WHERE m.customer_id IS NULL
            OR m.orders_count <> (SELECT COUNT(*) FROM orders o
                 WHERE o.customer_id = c.id AND o.status <> '{not_counted}' AND o.currency = $1)
            OR m.net_spend <> (SELECT COALESCE(SUM(o.total - o.refunded), 0) FROM orders o
                 WHERE o.customer_id = c.id AND o.status <> '{not_counted}' AND o.currency = $1)
            OR m.cancelled_count <> (SELECT COUNT(*) FROM orders o
                 WHERE o.customer_id = c.id AND o.status = '{not_counted}')
            OR m.last_order_at IS DISTINCT FROM (SELECT MAX(o.placed_at) FROM orders o
                 WHERE o.customer_id = c.id AND o.status <> '{not_counted}' AND o.currency = $1)
            OR m.tickets_count <> (SELECT COUNT(*) FROM tickets t WHERE t.customer_id = c.id)
            OR m.open_tickets <> (SELECT COUNT(*) FROM tickets t
                 WHERE t.customer_id = c.id AND t.status NOT IN ('SOLVED', 'CLOSED'))
            OR m.csat_count <> (SELECT COUNT(t.satisfaction_score) FROM tickets t
                 WHERE t.customer_id = c.id)
            OR m.reviews_count <> (SELECT COUNT(*) FROM reviews r WHERE r.customer_id = c.id)
            OR m.last_nps_score IS DISTINCT FROM (SELECT n.score FROM nps_responses n
                 WHERE n.customer_id = c.id ORDER BY n.created_at DESC, n.id DESC LIMIT 1)"
    );
    Statement::from_sql_and_values(db.get_database_backend(), sql, [base_currency.into()])
}

/// Everything a seeded store must satisfy, in SQL that runs on SQLite and PostgreSQL.
pub async fn check_store(db: &DatabaseConnection, report: &SeedReport, customers: i64) {
    assert_eq!(report.customers, customers as u64);
    assert_eq!(
        scalar(db, "SELECT COUNT(*) FROM customers").await,
        customers
    );

    // Every table is populated and the report counts every row.
    let tables = [
        "customers",
        "customer_tags",
        "customer_metrics",
        "orders",
        "order_lines",
        "tickets",
        "ticket_messages",
        "reviews",
        "referrals",
        "loyalty_accounts",
        "loyalty_transactions",
        "nps_responses",
        "clv_fits",
        "customer_clv",
        "product_affinities",
        "customer_interests",
    ];
    let mut total = 0;
    for table in tables {
        let n = scalar(db, &format!("SELECT COUNT(*) FROM {table}")).await;
        assert!(n > 0, "{table} is empty");
        total += n;
    }
    assert_eq!(report.rows, total as u64);
    let orders = scalar(db, "SELECT COUNT(*) FROM orders").await;
    // The purchase process (`seed::PURCHASES`) gives about six orders a
    // customer over the three years of sign-ups, with a heavy tail: a few
    // customers order weekly for years.
    assert!(
        (3 * customers..=12 * customers).contains(&orders),
        "about 6 orders per customer, got {orders} for {customers}"
    );

    // Balances equal the ledger's sums; no account is overdrawn.
    let off = scalar_of(db, balances_off(db)).await;
    assert_eq!(off, 0, "accounts whose balances differ from the ledger");
    assert_eq!(
        scalar(db, "SELECT COUNT(*) FROM loyalty_accounts").await,
        customers
    );
    let overdrawn = "SELECT COUNT(*) FROM loyalty_accounts WHERE points_available < 0";
    assert_eq!(scalar(db, overdrawn).await, 0);
    for kind in ["EARN", "REDEEM", "REFERRAL_BONUS"] {
        let sql = format!("SELECT COUNT(*) FROM loyalty_transactions WHERE kind = '{kind}'");
        assert!(scalar(db, &sql).await > 0, "no {kind} rows");
    }

    // Metrics equal a recount from the raw tables, for every customer.
    let off = scalar_of(db, metrics_off(db, &rules().base_currency)).await;
    assert_eq!(off, 0, "customers whose metrics differ from a recount");
    assert_eq!(
        scalar(db, "SELECT COUNT(*) FROM customer_metrics").await,
        customers
    );

    // First-reply minutes recomputed in Rust from the stored timestamps:
    // checks the backend's date arithmetic on the stored encoding.
    let rows = db
        .query_all_raw(stmt(
            db,
            "SELECT customer_id, created_at, first_reply_at FROM tickets
             WHERE first_reply_at IS NOT NULL",
        ))
        .await
        .expect("tickets");
    let mut expected = std::collections::BTreeMap::<i64, (i64, i64)>::new();
    for row in &rows {
        let customer: i64 = row.try_get_by_index(0).expect("customer_id");
        let created: DateTime<Utc> = row.try_get_by_index(1).expect("created_at");
        let replied: DateTime<Utc> = row.try_get_by_index(2).expect("first_reply_at");
        let entry = expected.entry(customer).or_default();
        entry.0 += (replied - created).num_minutes();
        entry.1 += 1;
    }
    assert!(expected.values().any(|(sum, _)| *sum > 0));
    let rows = db
        .query_all_raw(stmt(
            db,
            "SELECT customer_id, first_reply_minutes_sum, first_reply_count
             FROM customer_metrics WHERE first_reply_count > 0",
        ))
        .await
        .expect("metrics");
    let mut got = std::collections::BTreeMap::<i64, (i64, i64)>::new();
    for row in &rows {
        let customer: i64 = row.try_get_by_index(0).expect("customer_id");
        let sum: i64 = row.try_get_by_index(1).expect("sum");
        let count: i64 = row.try_get_by_index(2).expect("count");
        got.insert(customer, (sum, count));
    }
    assert_eq!(got, expected, "first-reply minutes per customer");

    // Every order's total is its lines less the discount plus tax.
    let off = scalar(
        db,
        "SELECT COUNT(*) FROM orders o WHERE
           o.subtotal <> (SELECT SUM(l.quantity * l.unit_price) FROM order_lines l
             WHERE l.order_id = o.id)
        OR o.total <> o.subtotal - o.discount + o.tax",
    )
    .await;
    assert_eq!(off, 0, "orders whose total differs from their lines");

    // Every seeded line carries its product's category.
    let categories = crate::seed::catalog::CATEGORIES
        .iter()
        .flat_map(|family| family.iter().map(|p| format!("'{}'", p.category)))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
        .join(", ");
    let off = scalar(
        db,
        &format!(
            "SELECT COUNT(*) FROM order_lines WHERE category IS NULL OR category NOT IN ({categories})"
        ),
    )
    .await;
    assert_eq!(off, 0, "order lines without a catalogue category");

    // Verified reviews point at a kept purchase of the sku.
    let off = scalar(
        db,
        "SELECT COUNT(*) FROM reviews r WHERE r.verified_purchase AND NOT EXISTS (
           SELECT 1 FROM order_lines l JOIN orders o ON o.id = l.order_id
           WHERE o.customer_id = r.customer_id AND l.sku = r.product_sku
             AND o.status IN ('PAID', 'FULFILLED', 'PARTIALLY_REFUNDED'))",
    )
    .await;
    assert_eq!(off, 0, "verified reviews without a purchase");

    // Referrers are earlier customers who signed up before inviting.
    let off = scalar(
        db,
        "SELECT COUNT(*) FROM referrals f JOIN customers r ON r.id = f.customer_id
         LEFT JOIN customers e ON e.id = f.referee_customer_id
         WHERE r.created_at > f.invited_at
            OR (e.id IS NOT NULL AND (e.created_at < f.invited_at OR e.id <= r.id))",
    )
    .await;
    assert_eq!(off, 0, "referrals out of order");

    // Emails are lower-case; instants are whole seconds (spot check).
    assert!(
        column::<String>(db, EMAILS)
            .await
            .iter()
            .all(|e| *e == e.to_lowercase())
    );
    let instants = column::<DateTime<Utc>>(db, "SELECT placed_at FROM orders").await;
    assert!(instants.iter().all(|t| t.timestamp_subsec_nanos() == 0));

    // Seeding again is refused.
    let again = run(db, &SeedOptions::new(rules(), now())).await;
    assert!(matches!(again, Err(AppError::Conflict(_))), "{again:?}");
}
