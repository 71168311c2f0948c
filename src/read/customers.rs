//! The customer list: customers a [`Matching`] selects, paged by keyset over
//! a sort key and id in either direction ([`PageRequest`], [`page`]); a
//! customer by email; and how many customers a selection holds.

use c360_entity::{customer, customer_metrics};
use sea_orm::sea_query::{ColumnRef, Expr as SqlExpr, IntoColumnRef, NullOrdering, Order};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IdenStatic, PaginatorTrait, QueryFilter, QueryOrder,
    Select,
};

use super::columns::Columns;
use super::combine::{Combiner, Relation};
use super::customer_filter::Matching;
use super::joined::{self, Joined, Joins};
use super::loaders::LoadError;
use super::pagination::{
    Cursor, Direction, Key, KeyKind, KeysetPage, SortValue, decode_cursor, page_size, seek_after,
    seek_before,
};
use crate::auth::CustomerScope;
use crate::error::{AppError, AppResult};
use crate::segment::customers_joined;

/// A customer and the to-one rows its statement read beside it.
pub type CustomerRow = (customer::Model, Joined);

/// What the customer list can be sorted by; ties are broken by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    /// When the customer was added.
    CreatedAt,
    /// Net spend; NULL for a customer without a metrics row.
    LifetimeValue,
    /// Most recent order; NULL without orders.
    LastOrderDate,
}

impl SortField {
    fn key_kind(self) -> KeyKind {
        match self {
            SortField::CreatedAt => KeyKind::Time,
            SortField::LifetimeValue => KeyKind::NullableInt,
            SortField::LastOrderDate => KeyKind::NullableTime,
        }
    }

    /// Metrics keys are NULL for a customer without a metrics row.
    fn nullable(self) -> bool {
        self != SortField::CreatedAt
    }

    fn column(self) -> ColumnRef {
        match self {
            SortField::CreatedAt => {
                (customer::Entity, customer::Column::CreatedAt).into_column_ref()
            }
            SortField::LifetimeValue => {
                (customer_metrics::Entity, customer_metrics::Column::NetSpend).into_column_ref()
            }
            SortField::LastOrderDate => (
                customer_metrics::Entity,
                customer_metrics::Column::LastOrderAt,
            )
                .into_column_ref(),
        }
    }

    /// The column of its statement's output a page is ordered by, before
    /// the id.
    fn output_column(self) -> String {
        match self {
            SortField::CreatedAt => customer::Column::CreatedAt.as_str().to_owned(),
            SortField::LifetimeValue => joined::metrics_column(customer_metrics::Column::NetSpend),
            SortField::LastOrderDate => {
                joined::metrics_column(customer_metrics::Column::LastOrderAt)
            }
        }
    }

    /// The page's ORDER BY over the columns of its statement's output
    /// (`joined::fetch`): the order [`page`] gives in SQL.
    fn output_order(self, walk: Direction, backward: bool) -> String {
        let column = self.output_column();
        let dir = match walk {
            Direction::Asc => "ASC",
            Direction::Desc => "DESC",
        };
        let nulls = match (self.nullable(), backward) {
            (false, _) => "",
            (true, true) => " NULLS FIRST",
            (true, false) => " NULLS LAST",
        };
        format!(r#""{column}" {dir}{nulls}, "id" {dir}"#)
    }

    fn cursor(self, c: &customer::Model, m: Option<&customer_metrics::Model>) -> Cursor {
        let key = match self {
            SortField::CreatedAt => SortValue::Time(c.created_at),
            SortField::LifetimeValue => m.map_or(SortValue::Null, |m| SortValue::Int(m.net_spend)),
            SortField::LastOrderDate => m
                .and_then(|m| m.last_order_at)
                .map_or(SortValue::Null, SortValue::Time),
        };
        Cursor::new(key, c.id)
    }
}

/// A page of the customer list asked for: `first`/`after` walk forwards,
/// `last`/`before` backwards, checked against the sort order.
#[derive(Debug, Clone)]
pub struct PageRequest {
    field: SortField,
    direction: Direction,
    size: u64,
    backward: bool,
    after: Option<Cursor>,
    before: Option<Cursor>,
}

impl PageRequest {
    /// Checks the paging arguments; errors name the argument.
    pub fn new(
        first: Option<i32>,
        after: Option<&str>,
        last: Option<i32>,
        before: Option<&str>,
        field: SortField,
        direction: Direction,
    ) -> AppResult<PageRequest> {
        let key = field.key_kind();
        if first.is_some() && last.is_some() {
            return Err(AppError::bad_input(
                "last",
                "pass either `first` or `last`, not both",
            ));
        }
        let backward = last.is_some() || (before.is_some() && after.is_none() && first.is_none());
        let size = if backward {
            page_size("last", last)?
        } else {
            page_size("first", first)?
        };
        Ok(PageRequest {
            field,
            direction,
            size,
            backward,
            after: decode_cursor("after", after, key)?,
            before: decode_cursor("before", before, key)?,
        })
    }
}

/// One page of the customers `matching` selects, in one statement that also
/// reads the to-one rows `joins` asks for.
pub async fn page(
    db: &impl ConnectionTrait,
    request: &PageRequest,
    matching: &Matching,
    joins: Joins,
) -> AppResult<KeysetPage<CustomerRow>> {
    PageQuery::new(request, matching, joins).read(db).await
}

/// The statement of a page of customers, read on its own ([`page`]) or in
/// the request's combined statement ([`PageQuery::read_combined`]).
pub struct PageQuery {
    query: Select<customer::Entity>,
    joins: Joins,
    /// The page's order over the statement's output columns.
    order: String,
    field: SortField,
    size: u64,
    backward: bool,
    after: bool,
    before: bool,
}

impl PageQuery {
    pub fn new(request: &PageRequest, matching: &Matching, joins: Joins) -> PageQuery {
        let PageRequest {
            field,
            direction: dir,
            size,
            backward,
            ref after,
            ref before,
        } = *request;
        let id_col = (customer::Entity, customer::Column::Id);
        let sort_col = field.column();
        let sort_key = Key {
            column: sort_col.clone(),
            nullable: field.nullable(),
        };
        let mut query = customers_joined().filter(matching.condition());
        if let Some(c) = after {
            query = query.filter(seek_after(Some(sort_key.clone()), id_col, dir, c));
        }
        if let Some(c) = before {
            query = query.filter(seek_before(Some(sort_key.clone()), id_col, dir, c));
        }
        // Walking backwards reads the order reversed (NULLs first) and flips the page.
        let walk = if backward { dir.reverse() } else { dir };
        let sql_order = match walk {
            Direction::Asc => Order::Asc,
            Direction::Desc => Order::Desc,
        };
        query = if sort_key.nullable {
            let nulls = if backward {
                NullOrdering::First
            } else {
                NullOrdering::Last
            };
            query.order_by_with_nulls(SqlExpr::col(sort_col), sql_order.clone(), nulls)
        } else {
            // An explicit NULLS clause would keep PostgreSQL from walking the
            // (created_at, id) index backwards.
            query.order_by(SqlExpr::col(sort_col), sql_order.clone())
        };
        query = query.order_by(SqlExpr::col(id_col), sql_order);
        // Cursors on a metrics key need the metrics row, with its sort column.
        let joins = match sort_key.nullable {
            true => Joins {
                metrics: Some(Columns::ALL),
                ..joins
            },
            false => joins,
        };
        PageQuery {
            query,
            joins,
            order: field.output_order(walk, backward),
            field,
            size,
            backward,
            after: after.is_some(),
            before: before.is_some(),
        }
    }

    /// The page, in a statement of its own.
    pub async fn read(self, db: &impl ConnectionTrait) -> AppResult<KeysetPage<CustomerRow>> {
        let limit = self.size + 1;
        let rows = joined::fetch(db, self.query.clone(), self.joins, &self.order, limit).await?;
        Ok(self.page_of(rows))
    }

    /// The page on PostgreSQL, read in the request's next combined
    /// statement as a relation (`joined::fetch_combined`); with it, a query
    /// giving the ids of the page's customers in its order, for statements
    /// handed in beside it to read their lists by (`PageLoader::prime_of`).
    pub fn read_combined<'c>(
        self,
        combiner: &'c Combiner,
    ) -> (
        Relation,
        String,
        impl Future<Output = Result<KeysetPage<CustomerRow>, LoadError>> + Send + use<'c>,
    ) {
        let limit = self.size + 1;
        let sort = self.field.output_column();
        let (relation, rows) = joined::fetch_combined(
            combiner,
            self.query.clone(),
            self.joins,
            (&self.order, &sort),
            limit,
        );
        // The page's own rows, not the one past it that tells a next exists.
        let ids = format!(
            r#"SELECT "id" FROM {} ORDER BY {} LIMIT {}"#,
            relation.name(),
            self.order,
            self.size
        );
        (relation, ids, async move { Ok(self.page_of(rows.await?)) })
    }

    /// The statement's rows, one past the page when there is a next, as the
    /// page.
    fn page_of(&self, mut rows: Vec<CustomerRow>) -> KeysetPage<CustomerRow> {
        let has_more = rows.len() as u64 > self.size;
        rows.truncate(self.size as usize);
        if self.backward {
            rows.reverse();
        }
        let (has_previous, has_next) = if self.backward {
            (has_more, self.before)
        } else {
            (self.after, has_more)
        };
        let field = self.field;
        let edges = rows
            .into_iter()
            .map(|(c, joined)| {
                let metrics = joined.metrics.as_ref().and_then(Option::as_ref);
                (field.cursor(&c, metrics), (c, joined))
            })
            .collect();
        KeysetPage {
            edges,
            has_previous,
            has_next,
        }
    }
}

/// The customer with this (normalised) address, if `scope` lets the caller see it.
pub async fn by_email(
    db: &impl ConnectionTrait,
    email: &str,
    scope: CustomerScope,
) -> AppResult<Option<customer::Model>> {
    let mut query = customer::Entity::find().filter(customer::Column::Email.eq(email));
    if let CustomerScope::Only(own) = scope {
        query = query.filter(customer::Column::Id.eq(own));
    }
    Ok(query.one(db).await?)
}

/// How many customers `matching` selects (one statement).
pub async fn count(db: &impl ConnectionTrait, matching: &Matching) -> AppResult<i64> {
    // Conditions may read metrics and loyalty columns: count over the joins.
    let n = customers_joined()
        .filter(matching.condition())
        .count(db)
        .await?;
    Ok(n as i64)
}
