//! Batched loading: one statement per relation and level, keyed by every
//! parent at that level, with each parent's page size applied in SQL.
//!
//! To-many relations page with `ROW_NUMBER() OVER (PARTITION BY parent ...)`
//! (the same SQL on SQLite and PostgreSQL); to-one relations load by key,
//! unless the customer's own statement already read them (`joined`). On
//! PostgreSQL a level's page statements may go out as one (`combine`).
//! Every loader is created per request and carries the caller's customer
//! scope, so a CUSTOMER token never loads another customer's rows.

use std::collections::HashMap;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use c360_entity::enums::ReferralStatus;
use c360_entity::{
    customer, customer_metrics, customer_rfm, customer_tag, loyalty_account, loyalty_transaction,
    nps_response, order, order_line, referral, review, ticket, ticket_message,
};
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Func, Order, Query, SelectStatement, WindowStatement,
};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, ModelTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, StatementBuilder,
};

use super::combine::Combiner;
use super::driver::RequestTasks;
use super::joined::{self, Joined, Joins};
use super::pagination::{Cursor, Direction, Key, KeyKind, SortValue, seek_after};
use crate::auth::CustomerScope;
use crate::domain::Clock;
use crate::error::AppError;
use crate::segment::compile::{join_loyalty, join_metrics};

/// Errors a loader hands to every waiting resolver.
pub type LoadError = Arc<AppError>;

/// A child table paged per parent.
pub trait ChildList: Send + Sync + 'static {
    type Entity: EntityTrait<Model = Self::Model>;
    type Model: FromQueryResult + serde::de::DeserializeOwned + Clone + Send + Sync + 'static;
    /// Column holding the parent's id.
    fn parent_col() -> <Self::Entity as EntityTrait>::Column;
    /// Sort column, `None` to sort by id alone.
    fn sort_col() -> Option<<Self::Entity as EntityTrait>::Column>;
    fn id_col() -> <Self::Entity as EntityTrait>::Column;
    const DIRECTION: Direction;
    const KEY: KeyKind;
    fn parent_of(row: &Self::Model) -> i64;
    fn cursor_of(row: &Self::Model) -> Cursor;
}

/// One parent's page request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub parent: i64,
    pub first: u64,
    pub after: Option<Cursor>,
}

/// One parent's page.
#[derive(Debug, Clone)]
pub struct Page<M> {
    pub rows: Vec<M>,
    pub has_next: bool,
}

pub struct PageLoader<R> {
    db: DatabaseConnection,
    /// Set on PostgreSQL: statements go out one level at a time.
    combiner: Option<Arc<Combiner>>,
    _rel: PhantomData<R>,
}

impl<R: ChildList> PageLoader<R> {
    /// `ranked` adds the row's rank within its parent (`rn`) to the columns,
    /// which a combined statement orders by.
    fn statement(
        parents: &[i64],
        first: u64,
        after: Option<&Cursor>,
        ranked: bool,
    ) -> SelectStatement {
        let order = match R::DIRECTION {
            Direction::Asc => Order::Asc,
            Direction::Desc => Order::Desc,
        };
        let mut window = WindowStatement::partition_by(R::parent_col());
        if let Some(sort) = R::sort_col() {
            window.order_by(sort, order.clone());
        }
        window.order_by(R::id_col(), order);
        // Columns by name, never `*`: the row's width is then fixed by the
        // entity, not by the table as SQLite last prepared it.
        let columns = || <<R::Entity as EntityTrait>::Column as sea_orm::Iterable>::iter();
        let mut inner = Query::select();
        inner
            .columns(columns())
            .expr_window_as(Func::cust("ROW_NUMBER"), window, Alias::new("rn"))
            .from(R::Entity::default())
            .and_where(R::parent_col().is_in(parents.iter().copied()));
        if let Some(cursor) = after {
            inner.cond_where(seek_after(
                R::sort_col().map(Key::not_null),
                R::id_col(),
                R::DIRECTION,
                cursor,
            ));
        }
        // One extra row per parent tells whether a next page exists.
        let mut outer = Query::select();
        outer.columns(columns());
        if ranked {
            outer.column(Alias::new("rn"));
        }
        outer
            .from_subquery(inner, Alias::new("paged"))
            .and_where(Expr::col(Alias::new("rn")).lte(first as i64 + 1))
            .order_by(Alias::new("rn"), Order::Asc)
            .to_owned()
    }

    /// The rows of one page statement, ordered by rank within each parent.
    async fn rows(
        &self,
        parents: &[i64],
        first: u64,
        after: Option<&Cursor>,
    ) -> Result<Vec<R::Model>, LoadError> {
        let Some(combiner) = self.combiner.as_ref().filter(|c| c.active()) else {
            let stmt = StatementBuilder::build(
                &Self::statement(parents, first, after, false),
                &self.db.get_database_backend(),
            );
            return R::Entity::find()
                .from_raw_sql(stmt)
                .all(&self.db)
                .await
                .map_err(|e| Arc::new(AppError::from(e)));
        };
        let json = combiner
            .rows(Self::statement(parents, first, after, true))
            .await?;
        // Each object also holds `rn`, which the model does not read.
        json.iter()
            .map(|row| serde_json::from_str::<R::Model>(row))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                Arc::new(AppError::Internal(anyhow::anyhow!(
                    "reading a row of a combined statement: {e}"
                )))
            })
    }
}

impl<R: ChildList> Loader<PageKey> for PageLoader<R> {
    type Value = Page<R::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[PageKey]) -> Result<HashMap<PageKey, Self::Value>, Self::Error> {
        // Keys of one level share their arguments, so this is one group and
        // one statement; differing `first`/`after` get a statement each.
        let mut groups: HashMap<(u64, Option<&Cursor>), Vec<i64>> = HashMap::new();
        for key in keys {
            groups
                .entry((key.first, key.after.as_ref()))
                .or_default()
                .push(key.parent);
        }
        let mut out = HashMap::with_capacity(keys.len());
        for ((first, after), parents) in groups {
            let rows = self.rows(&parents, first, after).await?;
            let mut by_parent: HashMap<i64, Vec<R::Model>> = HashMap::new();
            for row in rows {
                by_parent.entry(R::parent_of(&row)).or_default().push(row);
            }
            for parent in parents {
                let mut rows = by_parent.remove(&parent).unwrap_or_default();
                let has_next = rows.len() as u64 > first;
                rows.truncate(first as usize);
                out.insert(
                    PageKey {
                        parent,
                        first,
                        after: after.cloned(),
                    },
                    Page { rows, has_next },
                );
            }
        }
        Ok(out)
    }
}

/// Counts a child table per parent (`totalCount`, only when asked).
pub struct CountLoader<R> {
    db: DatabaseConnection,
    _rel: PhantomData<R>,
}

#[derive(Debug, FromQueryResult)]
struct ParentCount {
    parent: i64,
    n: i64,
}

impl<R: ChildList> Loader<i64> for CountLoader<R> {
    type Value = i64;
    type Error = LoadError;

    async fn load(&self, parents: &[i64]) -> Result<HashMap<i64, i64>, Self::Error> {
        let counts = R::Entity::find()
            .select_only()
            .column_as(R::parent_col(), "parent")
            .column_as(R::id_col().count(), "n")
            .filter(R::parent_col().is_in(parents.iter().copied()))
            .group_by(R::parent_col())
            .into_model::<ParentCount>()
            .all(&self.db)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        let mut out: HashMap<i64, i64> = parents.iter().map(|p| (*p, 0)).collect();
        out.extend(counts.into_iter().map(|c| (c.parent, c.n)));
        Ok(out)
    }
}

// Newest first for a customer's records; conversations and lines read in order.
macro_rules! lists {
    ($( $name:ident => $module:ident . $field:ident ($parent:ident), sort $sort:ident $dir:ident; )*) => {$(
        pub struct $name;
        impl ChildList for $name {
            type Entity = $module::Entity;
            type Model = $module::Model;
            fn parent_col() -> $module::Column { $module::Column::$parent }
            fn sort_col() -> Option<$module::Column> { sort_col!($module, $sort) }
            fn id_col() -> $module::Column { $module::Column::Id }
            const DIRECTION: Direction = Direction::$dir;
            const KEY: KeyKind = key_kind!($sort);
            fn parent_of(row: &$module::Model) -> i64 { row.$field }
            fn cursor_of(row: &$module::Model) -> Cursor { cursor_of!(row, $sort) }
        }
    )*};
}

macro_rules! sort_col {
    ($module:ident, id) => {
        None
    };
    ($module:ident, $col:ident) => {
        Some($module::Column::$col)
    };
}

macro_rules! key_kind {
    (id) => {
        KeyKind::IdOnly
    };
    ($col:ident) => {
        KeyKind::Time
    };
}

macro_rules! cursor_of {
    ($row:ident, id) => {
        Cursor::new(SortValue::None, $row.id)
    };
    ($row:ident, $col:ident) => {
        Cursor::new(SortValue::Time(cursor_field!($row, $col)), $row.id)
    };
}

macro_rules! cursor_field {
    ($row:ident, PlacedAt) => {
        $row.placed_at
    };
    ($row:ident, CreatedAt) => {
        $row.created_at
    };
    ($row:ident, InvitedAt) => {
        $row.invited_at
    };
}

lists! {
    CustomerOrders => order.customer_id(CustomerId), sort PlacedAt Desc;
    OrderLines => order_line.order_id(OrderId), sort id Asc;
    CustomerTickets => ticket.customer_id(CustomerId), sort CreatedAt Desc;
    TicketMessages => ticket_message.ticket_id(TicketId), sort CreatedAt Asc;
    CustomerReviews => review.customer_id(CustomerId), sort CreatedAt Desc;
    CustomerReferrals => referral.customer_id(CustomerId), sort InvitedAt Desc;
    CustomerLoyaltyTransactions => loyalty_transaction.customer_id(CustomerId), sort CreatedAt Desc;
    CustomerNpsResponses => nps_response.customer_id(CustomerId), sort CreatedAt Desc;
}

/// A customer by id, with the to-one rows the selection asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CustomerKey {
    pub id: i64,
    pub joins: Joins,
}

/// Customers by id, within the caller's scope.
pub struct CustomerLoader {
    db: DatabaseConnection,
    scope: CustomerScope,
}

impl Loader<CustomerKey> for CustomerLoader {
    type Value = (customer::Model, Joined);
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[CustomerKey],
    ) -> Result<HashMap<CustomerKey, Self::Value>, Self::Error> {
        // Selections of one level usually ask for the same joins: one statement.
        let mut groups: HashMap<Joins, Vec<i64>> = HashMap::new();
        for key in keys {
            groups.entry(key.joins).or_default().push(key.id);
        }
        let mut out = HashMap::with_capacity(keys.len());
        for (joins, ids) in groups {
            let mut query = customer::Entity::find();
            if joins.metrics {
                join_metrics(QueryTrait::query(&mut query));
            }
            if joins.loyalty {
                join_loyalty(QueryTrait::query(&mut query));
            }
            let mut query = query.filter(customer::Column::Id.is_in(ids));
            if let CustomerScope::Only(own) = self.scope {
                query = query.filter(customer::Column::Id.eq(own));
            }
            let rows = joined::fetch(&self.db, query, joins)
                .await
                .map_err(Arc::new)?;
            out.extend(
                rows.into_iter()
                    .map(|(c, j)| (CustomerKey { id: c.id, joins }, (c, j))),
            );
        }
        Ok(out)
    }
}

/// Whether an account has points to settle or expire before it is shown.
pub fn settlement_due(
    account: &loyalty_account::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    account.settle_due_at.is_some_and(|at| at <= now)
}

/// Loyalty accounts by customer, settled when due: an account whose
/// `settle_due_at` has passed has its due PENDING points made AVAILABLE and
/// its expired points written off before it is shown (one transaction, then
/// one more read of those accounts), so a balance is never stale. An account
/// with nothing due costs no more than a plain read.
pub struct LoyaltyLoader {
    db: DatabaseConnection,
    clock: Clock,
}

impl Loader<i64> for LoyaltyLoader {
    type Value = loyalty_account::Model;
    type Error = LoadError;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, loyalty_account::Model>, Self::Error> {
        let find = |ids: Vec<i64>| {
            loyalty_account::Entity::find()
                .filter(loyalty_account::Column::CustomerId.is_in(ids))
                .all(&self.db)
        };
        let fail = |e: AppError| Arc::new(e);
        let mut rows = find(ids.to_vec()).await.map_err(|e| fail(e.into()))?;
        let now = self.clock.now();
        let due: Vec<i64> = rows
            .iter()
            .filter(|a| settlement_due(a, now))
            .map(|a| a.customer_id)
            .collect();
        if !due.is_empty() {
            let txn = crate::db::begin_write(&self.db)
                .await
                .map_err(|e| fail(e.into()))?;
            crate::service::loyalty::settle(&txn, now, &due)
                .await
                .map_err(fail)?;
            txn.commit().await.map_err(|e| fail(e.into()))?;
            rows.retain(|a| !due.contains(&a.customer_id));
            rows.extend(find(due).await.map_err(|e| fail(e.into()))?);
        }
        Ok(rows.into_iter().map(|a| (a.customer_id, a)).collect())
    }
}

/// Loads rows of a table with a unique `customer_id` column by customer.
pub struct ByCustomer<E> {
    db: DatabaseConnection,
    _e: PhantomData<E>,
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

/// Net spend (`total - refunded`) of paid orders placed in the tier window, per customer and currency: one grouped statement per batch. The
/// resolver picks the base currency, so the loader needs no configuration.
pub struct TrailingSpendLoader {
    db: DatabaseConnection,
    clock: Clock,
}

impl Loader<i64> for TrailingSpendLoader {
    type Value = Vec<(String, i64)>;
    type Error = LoadError;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Vec<(String, i64)>>, Self::Error> {
        use order::Column as O;
        let since = crate::domain::tiers::window_start(self.clock.now());
        let select =
            Query::select()
                .column(O::CustomerId)
                .column(O::Currency)
                .expr(Expr::cust(r#"CAST(SUM("total" - "refunded") AS BIGINT)"#))
                .from(order::Entity)
                .and_where(Expr::col(O::CustomerId).is_in(ids.iter().copied()))
                .and_where(Expr::col(O::Status).is_in(
                    crate::domain::orders::SPENDING.map(|s| sea_orm::ActiveEnum::to_value(&s)),
                ))
                .and_where(Expr::col(O::PlacedAt).gte(since))
                .group_by_col(O::CustomerId)
                .group_by_col(O::Currency)
                .to_owned();
        let rows = sea_orm::ConnectionTrait::query_all(&self.db, &select)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        let mut out: HashMap<i64, Vec<(String, i64)>> = HashMap::new();
        for row in rows {
            let parsed = (|| {
                Ok::<_, sea_orm::DbErr>((
                    row.try_get_by_index::<i64>(0)?,
                    row.try_get_by_index::<String>(1)?,
                    row.try_get_by_index::<i64>(2)?,
                ))
            })();
            let (customer, currency, spend) = parsed.map_err(|e| Arc::new(AppError::from(e)))?;
            out.entry(customer).or_default().push((currency, spend));
        }
        Ok(out)
    }
}

/// A customer's tags, sorted.
pub struct TagsLoader {
    db: DatabaseConnection,
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
    db: DatabaseConnection,
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

/// Orders and tickets by id, for `node(id)`.
pub struct ById<E> {
    db: DatabaseConnection,
    _e: PhantomData<E>,
}

impl<E> Loader<i64> for ById<E>
where
    E: EntityTrait + Send + Sync + 'static,
    E::Model: Clone + Send + Sync + 'static,
    E::PrimaryKey: sea_orm::PrimaryKeyTrait<ValueType = i64>,
{
    type Value = E::Model;
    type Error = LoadError;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, E::Model>, Self::Error> {
        use sea_orm::{Iterable, PrimaryKeyToColumn};
        let Some(pk) = E::PrimaryKey::iter().next() else {
            return Ok(HashMap::new());
        };
        let col = pk.into_column();
        let rows = E::find()
            .filter(col.is_in(ids.iter().copied()))
            .all(&self.db)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        Ok(rows
            .into_iter()
            .filter_map(|m| match m.get(col) {
                sea_orm::Value::BigInt(Some(id)) => Some((id, m)),
                _ => None,
            })
            .collect())
    }
}

/// Every loader of one request.
pub struct Loaders {
    pub customers: DataLoader<CustomerLoader>,
    pub stats: DataLoader<ByCustomer<customer_metrics::Entity>>,
    /// Trailing-12-month net spend per currency, for the next-tier fields.
    pub trailing_spend: DataLoader<TrailingSpendLoader>,
    pub loyalty: DataLoader<LoyaltyLoader>,
    pub rfm: DataLoader<ByCustomer<customer_rfm::Entity>>,
    pub tags: DataLoader<TagsLoader>,
    pub referred_by: DataLoader<ReferredByLoader>,
    pub orders: DataLoader<PageLoader<CustomerOrders>>,
    pub order_lines: DataLoader<PageLoader<OrderLines>>,
    pub tickets: DataLoader<PageLoader<CustomerTickets>>,
    pub ticket_messages: DataLoader<PageLoader<TicketMessages>>,
    pub reviews: DataLoader<PageLoader<CustomerReviews>>,
    pub referrals: DataLoader<PageLoader<CustomerReferrals>>,
    pub loyalty_transactions: DataLoader<PageLoader<CustomerLoyaltyTransactions>>,
    pub nps_responses: DataLoader<PageLoader<CustomerNpsResponses>>,
    pub order_count: DataLoader<CountLoader<CustomerOrders>>,
    pub order_line_count: DataLoader<CountLoader<OrderLines>>,
    pub ticket_count: DataLoader<CountLoader<CustomerTickets>>,
    pub ticket_message_count: DataLoader<CountLoader<TicketMessages>>,
    pub review_count: DataLoader<CountLoader<CustomerReviews>>,
    pub referral_count: DataLoader<CountLoader<CustomerReferrals>>,
    pub loyalty_transaction_count: DataLoader<CountLoader<CustomerLoyaltyTransactions>>,
    pub nps_response_count: DataLoader<CountLoader<CustomerNpsResponses>>,
    pub order_by_id: DataLoader<ById<order::Entity>>,
    pub ticket_by_id: DataLoader<ById<ticket::Entity>>,
    pub review_by_id: DataLoader<ById<review::Entity>>,
    pub referral_by_id: DataLoader<ById<referral::Entity>>,
    pub nps_by_id: DataLoader<ById<nps_response::Entity>>,
    pub loyalty_transaction_by_id: DataLoader<ById<loyalty_transaction::Entity>>,
}

/// The most keys one batch takes: a full page of parents times a full page of
/// children, so that a level is always one statement.
const MAX_BATCH: usize = 100 * 100;

impl Loaders {
    pub fn new(
        db: &DatabaseConnection,
        scope: CustomerScope,
        tasks: &RequestTasks,
        delay: std::time::Duration,
        clock: &Clock,
    ) -> Loaders {
        fn dl<T: Send + Sync + 'static>(
            loader: T,
            tasks: &RequestTasks,
            delay: std::time::Duration,
        ) -> DataLoader<T> {
            DataLoader::new(loader, tasks.spawner())
                .delay(delay)
                .max_batch_size(MAX_BATCH)
        }
        macro_rules! paged {
            () => {
                dl(
                    PageLoader {
                        db: db.clone(),
                        combiner: tasks.combiner(),
                        _rel: PhantomData,
                    },
                    tasks,
                    delay,
                )
            };
        }
        macro_rules! counted {
            () => {
                dl(
                    CountLoader {
                        db: db.clone(),
                        _rel: PhantomData,
                    },
                    tasks,
                    delay,
                )
            };
        }
        macro_rules! by_id {
            () => {
                dl(
                    ById {
                        db: db.clone(),
                        _e: PhantomData,
                    },
                    tasks,
                    delay,
                )
            };
        }
        Loaders {
            customers: dl(
                CustomerLoader {
                    db: db.clone(),
                    scope,
                },
                tasks,
                delay,
            ),
            trailing_spend: dl(
                TrailingSpendLoader {
                    db: db.clone(),
                    clock: clock.clone(),
                },
                tasks,
                delay,
            ),
            stats: dl(
                ByCustomer {
                    db: db.clone(),
                    _e: PhantomData,
                },
                tasks,
                delay,
            ),
            loyalty: dl(
                LoyaltyLoader {
                    db: db.clone(),
                    clock: clock.clone(),
                },
                tasks,
                delay,
            ),
            rfm: dl(
                ByCustomer {
                    db: db.clone(),
                    _e: PhantomData,
                },
                tasks,
                delay,
            ),
            tags: dl(TagsLoader { db: db.clone() }, tasks, delay),
            referred_by: dl(ReferredByLoader { db: db.clone() }, tasks, delay),
            orders: paged!(),
            order_lines: paged!(),
            tickets: paged!(),
            ticket_messages: paged!(),
            reviews: paged!(),
            referrals: paged!(),
            loyalty_transactions: paged!(),
            nps_responses: paged!(),
            order_count: counted!(),
            order_line_count: counted!(),
            ticket_count: counted!(),
            ticket_message_count: counted!(),
            review_count: counted!(),
            referral_count: counted!(),
            loyalty_transaction_count: counted!(),
            nps_response_count: counted!(),
            order_by_id: by_id!(),
            ticket_by_id: by_id!(),
            review_by_id: by_id!(),
            referral_by_id: by_id!(),
            nps_by_id: by_id!(),
            loyalty_transaction_by_id: by_id!(),
        }
    }
}
