//! A customer's to-one rows read in the customer's own statement.
//!
//! Metrics, the loyalty account, the tags and the referral that brought a
//! customer in each belong to exactly one customer. When a selection asks for
//! them, the statement that reads the customers reads them too (left joins
//! and correlated subqueries on indexed keys), instead of one batched
//! statement per relation a level further down: the README profile takes
//! four statements fewer. They are the same snapshot as the customer row,
//! so they are exactly as fresh as a statement of their own would be.

use c360_entity::enums::ReferralStatus;
use c360_entity::{customer, customer_metrics, customer_tag, loyalty_account, referral};
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, IntoColumnRef, JoinType, Query, QueryStatementBuilder, SelectStatement,
    SimpleExpr,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityName, EntityTrait, FromQueryResult,
    IdenStatic, Iterable, QueryResult, QueryTrait, Select, Statement, StatementBuilder,
};

use crate::error::AppError;

/// Which to-one rows to read beside each customer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Joins {
    pub metrics: bool,
    pub loyalty: bool,
    pub tags: bool,
    pub referred_by: bool,
}

impl std::ops::BitOr for Joins {
    type Output = Joins;
    fn bitor(self, other: Joins) -> Joins {
        Joins {
            metrics: self.metrics || other.metrics,
            loyalty: self.loyalty || other.loyalty,
            tags: self.tags || other.tags,
            referred_by: self.referred_by || other.referred_by,
        }
    }
}

/// The rows read beside a customer: `None` when not read, `Some(None)` when
/// read and absent.
#[derive(Clone, Debug, Default)]
pub struct Joined {
    pub metrics: Option<Option<customer_metrics::Model>>,
    pub loyalty: Option<Option<loyalty_account::Model>>,
    pub tags: Option<Vec<String>>,
    pub referred_by: Option<Option<referral::Model>>,
}

const METRICS: &str = "m_";
const LOYALTY: &str = "l_";
const REFERRAL: &str = "r_";
const REFERRED_BY: &str = "referred_by";
const TAGS: &str = "tags_json";

/// Runs `select`, a statement over `customers`, with `joins`' columns added,
/// and reads each row as a customer and its joined rows. The statement must
/// already left-join `customer_metrics` and `loyalty_accounts` when `joins`
/// asks for them (`segment::customers_joined` joins both).
pub async fn fetch<C: ConnectionTrait>(
    db: &C,
    select: Select<customer::Entity>,
    joins: Joins,
) -> Result<Vec<(customer::Model, Joined)>, AppError> {
    let stmt = statement(select, joins, db.get_database_backend());
    read_rows(&db.query_all_raw(stmt).await?, joins)
}

/// The statement [`fetch`] runs.
pub fn statement(
    select: Select<customer::Entity>,
    joins: Joins,
    backend: DatabaseBackend,
) -> Statement {
    let mut stmt = select.into_query();
    add_columns(&mut stmt, joins, backend);
    StatementBuilder::build(&stmt, &backend)
}

/// Reads the rows of [`statement`] as customers and their joined rows.
pub fn read_rows(
    rows: &[QueryResult],
    joins: Joins,
) -> Result<Vec<(customer::Model, Joined)>, AppError> {
    rows.iter()
        .map(|row| read(row, joins).map_err(AppError::from))
        .collect()
}

/// Reads a row of [`statement`] given as one JSON object of its columns
/// (as a combined statement answers, `read::combine`).
pub fn read_json(text: &str, joins: Joins) -> Result<(customer::Model, Joined), AppError> {
    let bad = |e: serde_json::Error| {
        AppError::Internal(anyhow::anyhow!("reading a customer's row as JSON: {e}"))
    };
    let row: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(bad)?;
    // The columns of one joined row, their prefix taken off; absent when
    // its key column is null, as in `optional`.
    let part = |prefix: &str, key: &str| -> Option<serde_json::Value> {
        let key = format!("{prefix}{key}");
        if row.get(&key).is_none_or(serde_json::Value::is_null) {
            return None;
        }
        let columns = row.iter().filter_map(|(name, value)| {
            Some((name.strip_prefix(prefix)?.to_owned(), value.clone()))
        });
        Some(serde_json::Value::Object(columns.collect()))
    };
    fn of<M: serde::de::DeserializeOwned>(
        value: Option<serde_json::Value>,
    ) -> Result<Option<M>, serde_json::Error> {
        value.map(serde_json::from_value).transpose()
    }
    let mut joined = Joined::default();
    if joins.metrics {
        joined.metrics = Some(of(part(METRICS, "customer_id")).map_err(bad)?);
    }
    if joins.loyalty {
        joined.loyalty = Some(of(part(LOYALTY, "customer_id")).map_err(bad)?);
    }
    if joins.tags {
        let mut tags: Vec<String> = match row.get(TAGS) {
            Some(serde_json::Value::String(text)) => serde_json::from_str(text).map_err(bad)?,
            _ => Vec::new(),
        };
        tags.sort_unstable();
        joined.tags = Some(tags);
    }
    if joins.referred_by {
        joined.referred_by = Some(of(part(REFERRAL, "id")).map_err(bad)?);
    }
    let customer = serde_json::from_value(serde_json::Value::Object(row)).map_err(bad)?;
    Ok((customer, joined))
}

fn add_columns(stmt: &mut SelectStatement, joins: Joins, backend: DatabaseBackend) {
    if joins.metrics {
        prefixed::<customer_metrics::Entity>(stmt, customer_metrics::Entity.table_name(), METRICS);
    }
    if joins.loyalty {
        prefixed::<loyalty_account::Entity>(stmt, loyalty_account::Entity.table_name(), LOYALTY);
    }
    if joins.tags {
        // One JSON array per customer: tags may hold any character, so no
        // separator would be safe. PostgreSQL gives NULL for no rows.
        let aggregate = match backend {
            DatabaseBackend::Postgres => r#"json_agg("customer_tags"."tag")::text"#,
            _ => r#"json_group_array("customer_tags"."tag")"#,
        };
        let tags = Query::select()
            .expr(Expr::cust(aggregate))
            .from(customer_tag::Entity)
            .and_where(
                Expr::col((customer_tag::Entity, customer_tag::Column::CustomerId))
                    .equals((customer::Entity, customer::Column::Id)),
            )
            .to_owned();
        stmt.expr_as(
            Expr::SubQuery(None, Box::new(tags.into_sub_query_statement())),
            TAGS,
        );
    }
    if joins.referred_by {
        let first = first_referral(
            Expr::col((referral::Entity, referral::Column::RefereeCustomerId))
                .equals((customer::Entity, customer::Column::Id)),
        );
        stmt.join_as(
            JoinType::LeftJoin,
            referral::Entity,
            Alias::new(REFERRED_BY),
            Expr::col((Alias::new(REFERRED_BY), referral::Column::Id)).eq(Expr::SubQuery(
                None,
                Box::new(first.into_sub_query_statement()),
            )),
        );
        prefixed::<referral::Entity>(stmt, REFERRED_BY, REFERRAL);
    }
}

/// The id of the referral that brought a customer in: the first attribution
/// that was not rejected, as `ReferredByLoader` picks it; `referee` says
/// whose.
fn first_referral(referee: SimpleExpr) -> SelectStatement {
    Query::select()
        .expr(referral::Column::Id.into_expr().min())
        .from(referral::Entity)
        .and_where(referee)
        .and_where(referral::Column::Status.ne(ReferralStatus::Rejected))
        .to_owned()
}

/// [`first_referral`] of the customer `referee`.
pub fn first_referral_of(referee: i64) -> SelectStatement {
    first_referral(referral::Column::RefereeCustomerId.eq(referee))
}

/// Selects every column of `E` from `table` as `<prefix><column>`.
fn prefixed<E: EntityTrait>(stmt: &mut SelectStatement, table: &str, prefix: &str) {
    for col in E::Column::iter() {
        let name = col.as_str();
        stmt.expr_as(
            Expr::col((Alias::new(table), Alias::new(name)).into_column_ref()),
            Alias::new(format!("{prefix}{name}")),
        );
    }
}

fn read(row: &QueryResult, joins: Joins) -> Result<(customer::Model, Joined), DbErr> {
    let customer = customer::Model::from_query_result(row, "")?;
    let mut joined = Joined::default();
    if joins.metrics {
        joined.metrics = Some(optional::<customer_metrics::Model>(
            row,
            METRICS,
            "customer_id",
        )?);
    }
    if joins.loyalty {
        joined.loyalty = Some(optional::<loyalty_account::Model>(
            row,
            LOYALTY,
            "customer_id",
        )?);
    }
    if joins.tags {
        let json: Option<String> = row.try_get("", TAGS)?;
        let mut tags: Vec<String> = match json {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| DbErr::Type(format!("customer tags as JSON: {e}")))?,
            None => Vec::new(),
        };
        tags.sort_unstable();
        joined.tags = Some(tags);
    }
    if joins.referred_by {
        joined.referred_by = Some(optional::<referral::Model>(row, REFERRAL, "id")?);
    }
    Ok((customer, joined))
}

/// A left-joined row: absent when its key column is NULL. Any other
/// failure to read it is an error, not an absence.
fn optional<M: FromQueryResult>(
    row: &QueryResult,
    prefix: &str,
    key: &str,
) -> Result<Option<M>, DbErr> {
    let present: Option<i64> = row.try_get(prefix, key)?;
    match present {
        Some(_) => M::from_query_result(row, prefix).map(Some),
        None => Ok(None),
    }
}
