//! Loaders keyed by customer: the customers themselves (within the caller's
//! scope, with the to-one rows a selection asks for), rows with a unique
//! `customer_id` ([`ByCustomer`]), tags and the referral that brought a
//! customer in.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use async_graphql::dataloader::Loader;
use c360_entity::enums::ReferralStatus;
use c360_entity::{customer, customer_clv, customer_metrics, customer_rfm, customer_tag, referral};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Statement, Value, Values,
};

use super::LoadError;
use crate::auth::CustomerScope;
use crate::error::AppError;
use crate::read::combine::Combiner;
use crate::read::joined::{self, Joined, Joins};
use crate::segment::compile::{join_loyalty, join_metrics};

/// A customer by id, with the to-one rows the selection asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CustomerKey {
    pub id: i64,
    pub joins: Joins,
}

/// Customers by id, within the caller's scope. On PostgreSQL, where a
/// level goes out as one statement, their statement goes with the level's
/// pages (a profile's lists read ahead beside it, `PageLoader::prime`).
pub struct CustomerLoader {
    pub(super) db: DatabaseConnection,
    pub(super) scope: CustomerScope,
    pub(super) combiner: Option<Arc<Combiner>>,
    /// Customers read ahead of their keys ([`CustomerLoader::prime_referrer`]),
    /// taken by the first load that asks for them.
    pub(super) primed: Mutex<HashMap<CustomerKey, (customer::Model, Joined)>>,
}

impl CustomerLoader {
    fn own(&self) -> Option<i64> {
        match self.scope {
            CustomerScope::Only(own) => Some(own),
            CustomerScope::All => None,
        }
    }

    /// Runs `stmt`, a statement of [`statement`]'s shape, through the
    /// level's combined statement when there is one.
    async fn rows(
        &self,
        stmt: Statement,
        joins: Joins,
    ) -> Result<Vec<(customer::Model, Joined)>, LoadError> {
        match self.combiner.as_ref().filter(|c| c.active()) {
            Some(combiner) => {
                let rows = combiner
                    .rows_unordered(joined::as_json(stmt, joins))
                    .await?;
                let row = joined::Row::new(joins);
                rows.read(|| row)
            }
            None => crate::db::read_all(&self.db, stmt)
                .await
                .map_err(AppError::from)
                .and_then(|rows| joined::read_rows(&rows, joins)),
        }
        .map_err(Arc::new)
    }

    /// Reads ahead, with `joins` and within the caller's scope, the customer
    /// who referred `referee` (the referrer of the referral `referredBy`
    /// answers), so that it goes out in the level that reads `referee`
    /// rather than a level later; kept for the load that asks for it. Only
    /// when the level goes out as one statement, where this costs no
    /// statement of its own.
    pub async fn prime_referrer(&self, referee: i64, joins: Joins) -> Result<(), LoadError> {
        if !self.combiner.as_ref().is_some_and(|c| c.active()) {
            return Ok(());
        }
        let backend = self.db.get_database_backend();
        let stmt = referrer_statement(backend, joins, referee, self.own());
        let rows = self.rows(stmt, joins).await?;
        let mut primed = self.primed.lock().unwrap_or_else(PoisonError::into_inner);
        primed.extend(
            rows.into_iter()
                .map(|(c, j)| (CustomerKey { id: c.id, joins }, (c, j))),
        );
        Ok(())
    }
}

impl Loader<CustomerKey> for CustomerLoader {
    type Value = (customer::Model, Joined);
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[CustomerKey],
    ) -> Result<HashMap<CustomerKey, Self::Value>, Self::Error> {
        let mut out = HashMap::with_capacity(keys.len());
        // Selections of one level usually join the same rows: one statement,
        // writing the columns any of them reads, answers every key.
        let mut groups: HashMap<Joins, (Joins, Vec<&CustomerKey>)> = HashMap::new();
        {
            let mut primed = self.primed.lock().unwrap_or_else(PoisonError::into_inner);
            for key in keys {
                match primed.remove(key) {
                    Some(found) => {
                        out.insert(*key, found);
                    }
                    None => {
                        let group = groups
                            .entry(key.joins.tables())
                            .or_insert((key.joins, Vec::new()));
                        group.0 = group.0 | key.joins;
                        group.1.push(key);
                    }
                }
            }
        }
        let backend = self.db.get_database_backend();
        let own = self.own();
        for (joins, group) in groups.into_values() {
            let mut ids: Vec<i64> = group.iter().map(|k| k.id).collect();
            ids.sort_unstable();
            ids.dedup();
            let stmt = by_ids(backend, joins, &ids, own, || {
                statement(backend, joins, &ids, own)
            });
            let mut rows: HashMap<i64, (customer::Model, Joined)> = self
                .rows(stmt, joins)
                .await?
                .into_iter()
                .map(|(c, j)| (c.id, (c, j)))
                .collect();
            // A row is copied only for an id asked for with two selections.
            let once = ids.len() == group.len();
            out.extend(group.into_iter().filter_map(|key| {
                let row = if once {
                    rows.remove(&key.id)
                } else {
                    rows.get(&key.id).cloned()
                };
                Some((*key, row?))
            }));
        }
        Ok(out)
    }
}

/// The text of [`CustomerLoader`]'s statement by joins, backend (PostgreSQL
/// or not), number of ids and whether the scope adds the caller's own id,
/// with the values bound before the ids (the referral status a join
/// compares with); `None` where the values could not be rebuilt. Only the
/// ids change between requests, and building the statement with sea-query,
/// with every joined column aliased, cost more than reading its row.
type CustomerSqlKey = (Joins, bool, usize, bool);
type CustomerSql = Option<(Arc<str>, Vec<Value>)>;
const CACHED_IDS: usize = 128;
static CUSTOMER_SQL: LazyLock<Mutex<HashMap<CustomerSqlKey, CustomerSql>>> =
    LazyLock::new(Mutex::default);

/// The customers `ids` with `joins`, within `own` when the caller is a
/// customer, built with sea-query.
fn statement(backend: DbBackend, joins: Joins, ids: &[i64], own: Option<i64>) -> Statement {
    let mut query = customer::Entity::find();
    if joins.metrics.is_some() {
        join_metrics(QueryTrait::query(&mut query));
    }
    if joins.loyalty.is_some() {
        join_loyalty(QueryTrait::query(&mut query));
    }
    let mut query = query.filter(customer::Column::Id.is_in(ids.iter().copied()));
    if let Some(own) = own {
        query = query.filter(customer::Column::Id.eq(own));
    }
    joined::statement(query, joins, backend)
}

/// [`CustomerLoader`]'s statement for `ids`, built by `build` the first time
/// and from [`CUSTOMER_SQL`] after.
fn by_ids(
    backend: DbBackend,
    joins: Joins,
    ids: &[i64],
    own: Option<i64>,
    build: impl FnOnce() -> Statement,
) -> Statement {
    let bound = || {
        ids.iter()
            .chain(own.as_ref())
            .map(|&id| Value::BigInt(Some(id)))
    };
    if ids.len() > CACHED_IDS {
        return build();
    }
    let key = (
        joins.tables(),
        backend == DbBackend::Postgres,
        ids.len(),
        own.is_some(),
    );
    let cached = CUSTOMER_SQL
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
        .cloned();
    if let Some(Some((sql, before))) = cached {
        let values = before.into_iter().chain(bound()).collect();
        return Statement::from_sql_and_values(backend, &*sql, Values(values));
    }
    let stmt = build();
    // Kept only when the statement ends with the ids and the own id, in order.
    let values = stmt.values.as_ref().map_or(&[][..], |v| v.0.as_slice());
    let split = values
        .len()
        .checked_sub(ids.len() + usize::from(own.is_some()));
    let reusable = split.filter(|&at| values[at..].iter().cloned().eq(bound()));
    CUSTOMER_SQL
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(
            key,
            reusable.map(|at| (Arc::from(stmt.sql.as_str()), values[..at].to_vec())),
        );
    stmt
}

/// The text of [`CustomerLoader::prime_referrer`]'s statement by joins,
/// backend (PostgreSQL or not) and whether the scope adds the caller's own
/// id, with its values and the places of the referee's id and of the own id
/// among them; `None` where those places could not be told.
type ReferrerSqlKey = (Joins, bool, bool);
#[derive(Clone)]
struct KeptReferrer {
    sql: Arc<str>,
    values: Vec<Value>,
    referee_at: Vec<usize>,
    own_at: Vec<usize>,
}
static REFERRER_SQL: LazyLock<Mutex<HashMap<ReferrerSqlKey, Option<KeptReferrer>>>> =
    LazyLock::new(Mutex::default);

/// The customer who referred `referee`, with `joins`, within `own` when the
/// caller is a customer: built with sea-query the first time, and after
/// from [`REFERRER_SQL`] with the ids put in their places.
fn referrer_statement(
    backend: DbBackend,
    joins: Joins,
    referee: i64,
    own: Option<i64>,
) -> Statement {
    let key = (
        joins.tables(),
        backend == DbBackend::Postgres,
        own.is_some(),
    );
    let cached = REFERRER_SQL
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
        .cloned();
    if let Some(Some(kept)) = cached {
        let mut values = kept.values;
        for at in kept.referee_at {
            values[at] = Value::BigInt(Some(referee));
        }
        if let Some(own) = own {
            for at in kept.own_at {
                values[at] = Value::BigInt(Some(own));
            }
        }
        return Statement::from_sql_and_values(backend, &*kept.sql, Values(values));
    }
    let build = |referee: i64, own: Option<i64>| referrer_built(backend, joins, referee, own);
    let stmt = build(referee, own);
    // The places of an id are those whose values change with it alone.
    let places = |other: Statement| -> Option<Vec<usize>> {
        let (a, b) = (stmt.values.as_ref()?, other.values.as_ref()?);
        (other.sql == stmt.sql && a.0.len() == b.0.len())
            .then(|| (0..a.0.len()).filter(|&i| a.0[i] != b.0[i]).collect())
    };
    let referee_at = places(build(referee.wrapping_add(1), own)).filter(|at| !at.is_empty());
    let own_at = match own {
        Some(id) => places(build(referee, Some(id.wrapping_add(1)))).filter(|at| !at.is_empty()),
        None => Some(Vec::new()),
    };
    let kept = referee_at
        .zip(own_at)
        .map(|(referee_at, own_at)| KeptReferrer {
            sql: Arc::from(stmt.sql.as_str()),
            values: stmt
                .values
                .as_ref()
                .map(|v| v.0.clone())
                .unwrap_or_default(),
            referee_at,
            own_at,
        });
    REFERRER_SQL
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key, kept);
    stmt
}

/// [`referrer_statement`] as sea-query builds it.
fn referrer_built(backend: DbBackend, joins: Joins, referee: i64, own: Option<i64>) -> Statement {
    let referrer = referral::Entity::find()
        .select_only()
        .column(referral::Column::CustomerId)
        .filter(referral::Column::Id.in_subquery(joined::first_referral_of(referee)))
        .into_query();
    let mut query = customer::Entity::find();
    if joins.metrics.is_some() {
        join_metrics(QueryTrait::query(&mut query));
    }
    if joins.loyalty.is_some() {
        join_loyalty(QueryTrait::query(&mut query));
    }
    let mut query = query.filter(customer::Column::Id.in_subquery(referrer));
    if let Some(own) = own {
        query = query.filter(customer::Column::Id.eq(own));
    }
    joined::statement(query, joins, backend)
}

/// Loads rows of a table with a unique `customer_id` column by customer.
pub struct ByCustomer<E> {
    pub(super) db: DatabaseConnection,
    pub(super) _e: PhantomData<E>,
}

pub trait CustomerKeyed: EntityTrait {
    fn customer_col() -> Self::Column;
    fn customer_of(model: &Self::Model) -> i64;
}

impl CustomerKeyed for customer_metrics::Entity {
    fn customer_col() -> Self::Column {
        customer_metrics::Column::CustomerId
    }
    fn customer_of(model: &Self::Model) -> i64 {
        model.customer_id
    }
}

impl CustomerKeyed for customer_rfm::Entity {
    fn customer_col() -> Self::Column {
        customer_rfm::Column::CustomerId
    }
    fn customer_of(model: &Self::Model) -> i64 {
        model.customer_id
    }
}

impl CustomerKeyed for customer_clv::Entity {
    fn customer_col() -> Self::Column {
        customer_clv::Column::CustomerId
    }
    fn customer_of(model: &Self::Model) -> i64 {
        model.customer_id
    }
}

impl<E> Loader<i64> for ByCustomer<E>
where
    E: CustomerKeyed + Send + Sync + 'static,
    E::Model: Clone + Send + Sync + 'static,
{
    type Value = E::Model;
    type Error = LoadError;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, E::Model>, Self::Error> {
        let rows = E::find()
            .filter(E::customer_col().is_in(ids.iter().copied()))
            .all(&self.db)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        Ok(rows.into_iter().map(|m| (E::customer_of(&m), m)).collect())
    }
}

/// A customer's tags, sorted.
pub struct TagsLoader {
    pub(super) db: DatabaseConnection,
}

impl Loader<i64> for TagsLoader {
    type Value = Vec<String>;
    type Error = LoadError;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Vec<String>>, Self::Error> {
        let rows = customer_tag::Entity::find()
            .filter(customer_tag::Column::CustomerId.is_in(ids.iter().copied()))
            .order_by_asc(customer_tag::Column::Tag)
            .all(&self.db)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        let mut out: HashMap<i64, Vec<String>> = ids.iter().map(|id| (*id, Vec::new())).collect();
        for row in rows {
            out.entry(row.customer_id).or_default().push(row.tag);
        }
        Ok(out)
    }
}

/// The referral that brought a customer in (by referee id), if any.
pub struct ReferredByLoader {
    pub(super) db: DatabaseConnection,
}

impl Loader<i64> for ReferredByLoader {
    type Value = referral::Model;
    type Error = LoadError;

    async fn load(&self, referees: &[i64]) -> Result<HashMap<i64, referral::Model>, Self::Error> {
        let rows = referral::Entity::find()
            .filter(referral::Column::RefereeCustomerId.is_in(referees.iter().copied()))
            .filter(referral::Column::Status.ne(ReferralStatus::Rejected))
            .order_by_asc(referral::Column::Id)
            .all(&self.db)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        let mut out = HashMap::new();
        for row in rows {
            if let Some(referee) = row.referee_customer_id {
                // The first attribution wins; later ones would have been rejected.
                out.entry(referee).or_insert(row);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::columns::Columns;

    /// Each backend, with no joins and with every one.
    fn shapes() -> impl Iterator<Item = (DbBackend, Joins)> {
        let all = Joins {
            metrics: Some(Columns::ALL),
            loyalty: Some(Columns::ALL),
            tags: true,
            referred_by: Some(Columns::ALL),
            ..Joins::default()
        };
        [DbBackend::Postgres, DbBackend::Sqlite]
            .into_iter()
            .flat_map(move |backend| [(backend, Joins::default()), (backend, all)])
    }

    /// A statement from the kept text is the one sea-query builds, for other
    /// ids, with every join and with and without the caller's own id.
    #[test]
    fn customer_statements_reuse_their_text_with_new_values() {
        for (backend, joins) in shapes() {
            for own in [None, Some(41)] {
                by_ids(backend, joins, &[7, 8], own, || {
                    statement(backend, joins, &[7, 8], own)
                });
                let key = (joins, backend == DbBackend::Postgres, 2, own.is_some());
                let kept = CUSTOMER_SQL
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&key)
                    .cloned();
                assert!(matches!(kept, Some(Some(_))), "{backend:?} {joins:?}: kept");
                let own = own.map(|o| o + 1);
                let reused = by_ids(backend, joins, &[1, 2], own, || {
                    unreachable!("the kept text is used")
                });
                let fresh = statement(backend, joins, &[1, 2], own);
                assert_eq!(reused.sql, fresh.sql);
                assert_eq!(reused.values, fresh.values);
            }
        }
    }

    /// The referrer's statement from the kept text is the one sea-query
    /// builds, for other ids, the own id equal to the referee's or not.
    #[test]
    fn referrer_statements_reuse_their_text_with_new_ids() {
        for (backend, joins) in shapes() {
            for own in [None, Some(7)] {
                referrer_statement(backend, joins, 7, own);
                let key = (joins, backend == DbBackend::Postgres, own.is_some());
                let kept = REFERRER_SQL
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&key)
                    .cloned();
                assert!(matches!(kept, Some(Some(_))), "{backend:?} {joins:?}: kept");
                for (referee, own) in [(1, own.map(|_| 2)), (3, own.map(|_| 3))] {
                    let reused = referrer_statement(backend, joins, referee, own);
                    let fresh = referrer_built(backend, joins, referee, own);
                    assert_eq!(reused.sql, fresh.sql);
                    assert_eq!(reused.values, fresh.values);
                }
            }
        }
    }
}
