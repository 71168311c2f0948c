//! What the store already holds before seeding: whether it has customers,
//! and the first free id of every table the seed assigns ids in.

use c360_entity::customer;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ConnectionTrait, DbBackend, EntityName, Statement};

use super::generate::NextIds;
use crate::error::{AppError, AppResult};

pub async fn ensure_empty(db: &impl ConnectionTrait) -> AppResult<()> {
    let probe = Query::select()
        .expr(Expr::val(1))
        .from(customer::Entity)
        .limit(1)
        .to_owned();
    if db.query_one(&probe).await?.is_some() {
        return Err(AppError::Conflict(
            "the store already holds customers; seed only fills an empty store \
             (run `c360 migrate fresh` first to start over)"
                .into(),
        ));
    }
    Ok(())
}

pub async fn next_customer_id(db: &impl ConnectionTrait) -> AppResult<i64> {
    Ok(max_id(db, customer::Entity.table_name()).await? + 1)
}

pub async fn next_ids(db: &impl ConnectionTrait) -> AppResult<NextIds> {
    use c360_entity::{
        loyalty_account, loyalty_transaction, nps_response, order, order_line, referral, review,
        ticket, ticket_message,
    };
    Ok(NextIds {
        account: max_id(db, loyalty_account::Entity.table_name()).await? + 1,
        order: max_id(db, order::Entity.table_name()).await? + 1,
        line: max_id(db, order_line::Entity.table_name()).await? + 1,
        ticket: max_id(db, ticket::Entity.table_name()).await? + 1,
        message: max_id(db, ticket_message::Entity.table_name()).await? + 1,
        review: max_id(db, review::Entity.table_name()).await? + 1,
        referral: max_id(db, referral::Entity.table_name()).await? + 1,
        ledger: max_id(db, loyalty_transaction::Entity.table_name()).await? + 1,
        nps: max_id(db, nps_response::Entity.table_name()).await? + 1,
    })
}

/// `MAX(id)` of a table, 0 when empty. Other tables may hold rows even when
/// `customers` is empty (say, from an import that failed half-way), so ids
/// continue after them instead of assuming 1.
async fn max_id(db: &impl ConnectionTrait, table: &str) -> AppResult<i64> {
    let backend = db.get_database_backend();
    let quoted = match backend {
        DbBackend::MySql => format!("`{table}`"),
        _ => format!("\"{table}\""),
    };
    // CAST keeps the type an integer on every backend; names are entity constants.
    let sql = format!("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) AS m FROM {quoted}");
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<i64>("", "m")?,
        None => 0,
    })
}
