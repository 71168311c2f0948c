//! Tiers from spend: the trailing-window net spend in the base currency,
//! and the tier it leads to, written on the account.

use c360_entity::enums::LoyaltyTier;
use c360_entity::{loyalty_account, order};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ActiveEnum, ConnectionTrait};

use super::balances::scalar_i64;
use crate::domain::orders::SPENDING;
use crate::domain::tiers::{self, tier_for_spend};
use crate::error::AppResult;
use crate::service::Rules;

/// Net spend of the trailing twelve months in the base currency: paid,
/// fulfilled and (partially) refunded orders placed within the tier window
/// (`domain::tiers::WINDOW`), `total - refunded`.
pub async fn trailing_spend(
    db: &impl ConnectionTrait,
    rules: &Rules,
    customer_id: i64,
    now: DateTime<Utc>,
) -> AppResult<i64> {
    use order::Column as O;
    let select = Query::select()
        .expr(Expr::cust(
            r#"CAST(COALESCE(SUM("total" - "refunded"), 0) AS BIGINT)"#,
        ))
        .from(order::Entity)
        .and_where(Expr::col(O::CustomerId).eq(customer_id))
        .and_where(Expr::col(O::Currency).eq(rules.base_currency.as_str()))
        .and_where(Expr::col(O::Status).is_in(SPENDING.map(|s| s.to_value())))
        .and_where(Expr::col(O::PlacedAt).gte(tiers::window_start(now)))
        .to_owned();
    scalar_i64(db, &select).await
}

/// Sets the customer's tier from their trailing-12-month net spend.
pub async fn refresh_tier(
    db: &impl ConnectionTrait,
    rules: &Rules,
    customer_id: i64,
    now: DateTime<Utc>,
) -> AppResult<LoyaltyTier> {
    let tier = tier_for_spend(
        trailing_spend(db, rules, customer_id, now).await?,
        &rules.tiers,
    );
    let update = Query::update()
        .table(loyalty_account::Entity)
        .value(loyalty_account::Column::Tier, tier.to_value())
        .and_where(Expr::col(loyalty_account::Column::CustomerId).eq(customer_id))
        .to_owned();
    db.execute(&update).await?;
    Ok(tier)
}
