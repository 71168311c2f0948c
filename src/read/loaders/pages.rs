//! Child lists paged per parent: the [`ChildList`] description of each
//! to-many relation, [`PageLoader`] (one statement per level: first pages
//! walk each parent's index ([`super::walk`]), later pages rank rows with
//! `ROW_NUMBER() OVER (PARTITION BY parent ...)`; handed to the
//! [`Combiner`] on PostgreSQL) and [`CountLoader`] for `totalCount`.

use std::any::TypeId;
use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use async_graphql::dataloader::Loader;
use c360_entity::{
    loyalty_transaction, nps_response, order, order_line, referral, review, store_credit_entry,
    ticket, ticket_message,
};
use rustc_hash::FxHashMap;
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Func, Order, Query, SelectStatement, SimpleExpr, WindowStatement,
};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, FromQueryResult, Statement,
    StatementBuilder, Value, Values,
};

use super::{LoadError, walk};
use crate::error::AppError;
use crate::read::columns::{Columns, Partial};
use crate::read::combine::{Combiner, JsonRows, Relation};
use crate::read::pagination::{Cursor, Direction, Key, KeyKind, SortValue, seek_after};

/// Count statements' text by their loader's type, backend (PostgreSQL or
/// not), number of parents and whether rows come as JSON (combined), up to
/// [`CACHED_PARENTS`] parents; `None` where the values could not be
/// rebuilt. A few hundred short entries at most.
type CountSqlKey = (TypeId, bool, usize, bool);
const CACHED_PARENTS: usize = 128;
static COUNT_SQL: LazyLock<Mutex<FxHashMap<CountSqlKey, Option<Arc<str>>>>> =
    LazyLock::new(Mutex::default);

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageKey {
    pub parent: i64,
    pub first: u64,
    pub after: Option<Cursor>,
    /// The columns its reader reads: a combined statement writes only
    /// those (and the keys, which paging reads), `Columns::ALL` for the
    /// executor, whose fields read any.
    pub columns: Columns,
}

/// The key's numbers mixed into one write, the cursor (on later pages
/// only) after it: a DataLoader hashes every key several times with std's
/// SipHash, whose cost grows with each write, and a field-by-field hash of
/// a list's keys cost it a twentieth of its instructions.
impl std::hash::Hash for PageKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mixed =
            self.parent as u64 ^ self.first.rotate_left(48) ^ self.columns.bits().rotate_left(24);
        state.write_u64(mixed);
        if let Some(after) = &self.after {
            after.hash(state);
        }
    }
}

/// The same page of each of a level's parents, asked for at once by a
/// written list (`graphql::leaves::pages_and_below`); answered with the
/// pages in the order of `parents`. A DataLoader hashes each key several
/// times with std's SipHash and clones its value for each caller: one key
/// for the level in place of a key per parent took 7 % of the benchmark's
/// list's instructions off (`bench/callgrind-profile.sh --list`). Requests of one level are batched as
/// before, so that two places asking for a list share its statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagesKey {
    pub parents: Arc<[i64]>,
    pub first: u64,
    pub after: Option<Cursor>,
    pub columns: Columns,
}

/// The parents' number and ends, and the arguments: equal keys hash alike,
/// and keys of one level seldom share all of these.
impl std::hash::Hash for PagesKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let ends = match (self.parents.first(), self.parents.last()) {
            (Some(&a), Some(&b)) => a as u64 ^ (b as u64).rotate_left(32),
            _ => 0,
        };
        state.write_u64(
            ends ^ (self.parents.len() as u64).rotate_left(16)
                ^ self.first.rotate_left(48)
                ^ self.columns.bits().rotate_left(24),
        );
        if let Some(after) = &self.after {
            after.hash(state);
        }
    }
}

/// One parent's page.
#[derive(Debug, Clone)]
pub struct Page<M> {
    pub rows: Vec<M>,
    pub has_next: bool,
}

impl<M: Clone> Page<M> {
    /// The page a load answered, as its own: a DataLoader hands each key's
    /// value to every request that asked for it by cloning it, so pages go
    /// out shared; the one caller holding a page (the usual case: the batch's
    /// map is gone by the time a caller runs) takes its rows as they are,
    /// rather than a copy of every row and its strings.
    pub fn take(page: Option<Arc<Page<M>>>) -> Page<M> {
        match page {
            Some(page) => Arc::try_unwrap(page).unwrap_or_else(|shared| (*shared).clone()),
            None => Page::default(),
        }
    }
}

/// No rows, and none after.
impl<M> Default for Page<M> {
    fn default() -> Self {
        Page {
            rows: Vec::new(),
            has_next: false,
        }
    }
}

/// Pages read ahead of their keys ([`PageLoader::prime`],
/// [`PageLoader::prime_below`]), taken by the first load that asks for
/// them. Shared with whatever must drop them when their rows change within
/// the request (a loyalty settlement, for the ledger).
pub type Primed<M> = Arc<Mutex<FxHashMap<PageKey, Page<M>>>>;

pub struct PageLoader<R: ChildList> {
    pub(super) db: DatabaseConnection,
    /// Set on PostgreSQL: statements go out one level at a time.
    pub(super) combiner: Option<Arc<Combiner>>,
    pub(super) primed: Primed<R::Model>,
    /// The parents, page sizes and list above whose lists below were
    /// already read ahead ([`PageLoader::prime_below`]), so that a later
    /// level does not read them again.
    pub(super) primed_below: Mutex<HashSet<(TypeId, i64, u64, u64)>>,
    pub(super) _rel: PhantomData<R>,
}

/// The columns a page statement gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Shape {
    /// The entity's columns.
    Columns,
    /// What a combined statement reads (`read::combine`): each row as one
    /// JSON array of the entity's columns in the model's order (`j`), and,
    /// from a window statement, its rank (`rn`), by which the combined
    /// statement orders. An array
    /// rather than `row_to_json`'s object: PostgreSQL writes no names, and
    /// measured on a list's pages that took a third off what writing the
    /// rows as JSON cost it. Columns not among the given ones (nor the
    /// keys) are not written ([`crate::read::columns`]).
    Combined(Columns),
}

impl Shape {
    /// [`Shape::Combined`] with `columns` for a statement read through the
    /// combiner, [`Shape::Columns`] (every column) for one read on its own.
    fn read(combined: bool, columns: Columns) -> Shape {
        if combined {
            Shape::Combined(columns)
        } else {
            Shape::Columns
        }
    }
}

/// `written` and the columns paging reads: the parent, the sort key and
/// the id.
pub(super) fn with_keys<R: ChildList>(written: Columns) -> Columns {
    let written = written
        .with::<R::Entity>(R::parent_col())
        .with::<R::Entity>(R::id_col());
    match R::sort_col() {
        Some(sort) => written.with::<R::Entity>(sort),
        None => written,
    }
}

impl<R: ChildList> PageLoader<R> {
    fn statement(
        parents: &[i64],
        first: u64,
        after: Option<&Cursor>,
        shape: Shape,
    ) -> SelectStatement {
        let parents = R::parent_col().is_in(parents.iter().copied());
        Self::statement_where(parents, first, after, shape)
    }

    /// [`Self::statement`] for the parents `parents` selects.
    fn statement_where(
        parents: SimpleExpr,
        first: u64,
        after: Option<&Cursor>,
        shape: Shape,
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
            .and_where(parents);
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
        match shape {
            Shape::Columns => {
                outer.columns(columns());
            }
            Shape::Combined(written) => {
                let written = with_keys::<R>(written);
                let values = columns()
                    .enumerate()
                    .filter(|(at, _)| written.has(*at))
                    .map(|(_, column)| Expr::col(column));
                let array = Func::cust("json_build_array").args(values);
                outer
                    .expr_as(
                        Expr::expr(array).cast_as(Alias::new("text")),
                        Alias::new("j"),
                    )
                    .column(Alias::new("rn"));
            }
        }
        outer
            .from_subquery(inner, Alias::new("paged"))
            .and_where(Expr::col(Alias::new("rn")).lte(first as i64 + 1));
        // A combined statement orders its rows itself.
        if !matches!(shape, Shape::Combined(_)) {
            outer.order_by(Alias::new("rn"), Order::Asc);
        }
        outer.to_owned()
    }

    /// The first pages of `parents`, shaped as `shape`, rows unranked: one
    /// index walk per parent ([`walk::first_pages`]).
    fn first_pages(backend: DbBackend, parents: &[i64], first: u64, shape: Shape) -> Statement {
        walk::first_pages::<R>(backend, parents, first, shape)
    }

    /// Whether statements go out one level at a time, so that reading a
    /// page ahead costs no statement of its own.
    pub fn combining(&self) -> bool {
        self.combiner.as_ref().is_some_and(|c| c.active())
    }

    /// Reads the first pages of `parents` ahead of their keys and keeps
    /// them, for the level that asks for them later (a profile's lists,
    /// read beside the customer's own statement). Only when the level goes
    /// out as one statement; see [`Self::prime_below`]. `columns` as in
    /// the [`PageKey`] that will ask for them.
    pub async fn prime(
        &self,
        parents: &[i64],
        first: u64,
        columns: Columns,
    ) -> Result<(), LoadError> {
        let Some(combiner) = self.combiner.as_ref().filter(|c| c.active()) else {
            return Ok(());
        };
        let backend = self.db.get_database_backend();
        let stmt = Self::first_pages(backend, parents, first, Shape::Combined(columns));
        let rows = self.run(Some(combiner), stmt, false, columns).await?;
        let mut pages = paged_by_parent::<R>(rows, first);
        let mut primed = self.primed.lock().unwrap_or_else(PoisonError::into_inner);
        primed.reserve(parents.len());
        for &parent in parents {
            let page = pages.remove(&parent).unwrap_or_default();
            let key = PageKey {
                parent,
                first,
                after: None,
                columns,
            };
            primed.insert(key, page);
        }
        Ok(())
    }

    /// [`Self::prime`] for the parents whose ids `parents`, a query reading
    /// `relation`, gives (the customers of a page, read in the same
    /// statement): keeps the pages of the parents with rows. Once the
    /// parents are known, [`Self::prime_empty`] keeps an empty page for
    /// the others; only after this succeeded, or their lists would read as
    /// empty.
    pub async fn prime_of(
        &self,
        relation: &Relation,
        parents: &str,
        first: u64,
        columns: Columns,
    ) -> Result<(), LoadError> {
        let combiner = self.active_combiner()?;
        let stmt = walk::first_pages_of::<R>(parents, first, Shape::Combined(columns));
        let json = combiner.keys_reading(relation, stmt).await?;
        let pages = paged_by_parent::<R>(read_json::<R>(&json, columns)?, first);
        self.keep_first(pages, first, columns);
        Ok(())
    }

    /// Keeps an empty first page for each of `parents` with none read
    /// ahead: after [`Self::prime_of`] read their pages, those without rows.
    pub fn prime_empty(&self, parents: &[i64], first: u64, columns: Columns) {
        let mut primed = self.primed.lock().unwrap_or_else(PoisonError::into_inner);
        // Grown once for the level, not doubled and rehashed on the way.
        primed.reserve(parents.len());
        for &parent in parents {
            let key = PageKey {
                parent,
                first,
                after: None,
                columns,
            };
            primed.entry(key).or_default();
        }
    }

    /// [`Self::prime_below`] below the items of the parents whose ids
    /// `grand`, a query reading `relation`, gives, as in
    /// [`Self::prime_of`]. Once the parents are known,
    /// [`Self::primed_below_of`] notes them as read ahead.
    pub async fn prime_below_of<A: ChildList>(
        &self,
        relation: &Relation,
        grand: &str,
        above_first: u64,
        first: u64,
    ) -> Result<(), LoadError> {
        let combiner = self.active_combiner()?;
        let shape = Shape::Combined(Columns::ALL);
        let stmt = walk::first_pages_below_of::<A, R>(grand, above_first, first, shape);
        let json = combiner.keys_reading(relation, stmt).await?;
        let pages = paged_by_parent::<R>(read_json::<R>(&json, Columns::ALL)?, first);
        self.keep_first(pages, first, Columns::ALL);
        Ok(())
    }

    /// Notes the lists below `grand`'s items as read ahead, after
    /// [`Self::prime_below_of`] read them.
    pub fn primed_below_of<A: ChildList>(&self, grand: &[i64], above_first: u64, first: u64) {
        let mut done = self
            .primed_below
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let above = TypeId::of::<A>();
        done.extend(grand.iter().map(|&g| (above, g, above_first, first)));
    }

    fn active_combiner(&self) -> Result<&Arc<Combiner>, LoadError> {
        self.combiner
            .as_ref()
            .filter(|c| c.active())
            .ok_or_else(|| {
                Arc::new(AppError::Internal(anyhow::anyhow!(
                    "reading ahead needs the level's statements combined"
                )))
            })
    }

    /// Keeps first pages read ahead, by parent, for the keys that will ask
    /// for them with `first` and `columns`.
    fn keep_first(&self, pages: FxHashMap<i64, Page<R::Model>>, first: u64, columns: Columns) {
        let mut primed = self.primed.lock().unwrap_or_else(PoisonError::into_inner);
        primed.reserve(pages.len());
        primed.extend(pages.into_iter().map(|(parent, page)| {
            let key = PageKey {
                parent,
                first,
                after: None,
                columns,
            };
            (key, page)
        }));
    }

    /// Reads, in one statement, the first pages of `R` below the first
    /// `above_first` items of each of `grand`'s pages of `A`, and keeps
    /// them: the items' own page requests, once their pages are read, are
    /// answered from these. On PostgreSQL the statement goes out with the
    /// rest of the level that reads `A`'s pages, or with an earlier one
    /// that read those pages ahead ([`Self::prime`]); each parent's lists
    /// below are read ahead once.
    ///
    /// Only when the level goes out as one statement (see
    /// `Config::combine_pages`), where this costs no statement of its own:
    /// apart, it would be one more statement, run even for parents with no
    /// items, whose lists below are never asked for.
    ///
    /// Only items with at least one row below are kept; the others (none
    /// below) are read by their own statement as before. Their every column
    /// is read: the lists below (an order's lines, a ticket's messages)
    /// ask for their pages with `Columns::ALL`.
    pub async fn prime_below<A: ChildList>(
        &self,
        grand: &[i64],
        above_first: u64,
        first: u64,
    ) -> Result<(), LoadError> {
        let Some(combiner) = self.combiner.as_ref().filter(|c| c.active()) else {
            return Ok(());
        };
        let grand: Vec<i64> = {
            let mut done = self
                .primed_below
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let above = TypeId::of::<A>();
            grand
                .iter()
                .copied()
                .filter(|&g| done.insert((above, g, above_first, first)))
                .collect()
        };
        if grand.is_empty() {
            return Ok(());
        }
        let stmt = walk::first_pages_below::<A, R>(
            &grand,
            above_first,
            first,
            Shape::Combined(Columns::ALL),
        );
        let rows = self.run(Some(combiner), stmt, false, Columns::ALL).await?;
        self.keep_first(paged_by_parent::<R>(rows, first), first, Columns::ALL);
        Ok(())
    }

    /// The rows of one page statement.
    async fn rows(
        &self,
        parents: &[i64],
        first: u64,
        after: Option<&Cursor>,
        columns: Columns,
    ) -> Result<Vec<R::Model>, LoadError> {
        let combiner = self.combiner.as_ref().filter(|c| c.active());
        let shape = Shape::read(combiner.is_some(), columns);
        let backend = self.db.get_database_backend();
        // Later pages are rare, and each has its own cursor: they keep the
        // window statement, whose rows come ranked.
        let (stmt, ranked) = match after {
            None => (Self::first_pages(backend, parents, first, shape), false),
            Some(_) => (
                StatementBuilder::build(&Self::statement(parents, first, after, shape), &backend),
                true,
            ),
        };
        self.run(combiner, stmt, ranked, columns).await
    }

    /// Runs `stmt` through `combiner` when one is given, `ranked` telling
    /// whether it gives each row's rank (`rn`); its rows written with
    /// `columns`.
    async fn run(
        &self,
        combiner: Option<&Arc<Combiner>>,
        stmt: Statement,
        ranked: bool,
        columns: Columns,
    ) -> Result<Vec<R::Model>, LoadError> {
        let Some(combiner) = combiner else {
            // The statement selects the entity's columns in order.
            return crate::db::read_models_in_order::<R::Model>(&self.db, stmt)
                .await
                .map_err(|e| Arc::new(AppError::from(e)));
        };
        let json = match ranked {
            true => combiner.rows(stmt).await?,
            false => combiner.rows_unordered(stmt).await?,
        };
        read_json::<R>(&json, columns)
    }
}

/// The rows of a combined statement as `R`'s models, written with `columns`.
fn read_json<R: ChildList>(json: &JsonRows, columns: Columns) -> Result<Vec<R::Model>, LoadError> {
    // Each row is an array of the model's fields in their order, those
    // not asked for left out. With every column written, serde_json reads
    // it alone, a little faster.
    let written = with_keys::<R>(columns);
    match written == Columns::ALL {
        true => json.read(PhantomData::<R::Model>::default),
        false => json.read(|| Partial::<R::Model>::new(written)),
    }
    .map_err(Arc::new)
}

/// A statement's text kept by `key` when rebuilding its values with
/// `values` gives exactly what sea-query bound, in order; later calls bind
/// new values to it. Parent lists longer than [`CACHED_PARENTS`] are built
/// each time.
fn kept(
    backend: DbBackend,
    key: CountSqlKey,
    values: impl Fn() -> Values,
    build: impl FnOnce() -> SelectStatement,
) -> Statement {
    if key.2 > CACHED_PARENTS {
        return StatementBuilder::build(&build(), &backend);
    }
    let cached = COUNT_SQL
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
        .cloned();
    if let Some(Some(sql)) = cached {
        return Statement::from_sql_and_values(backend, &*sql, values());
    }
    let stmt = StatementBuilder::build(&build(), &backend);
    let reusable = stmt.values.as_ref() == Some(&values());
    COUNT_SQL
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key, reusable.then(|| Arc::from(stmt.sql.as_str())));
    stmt
}

/// `rows` as each parent's page of `first`, in the list's order: one row
/// past it tells that a next page exists. Rows may come in any order (a
/// first page's walk gives them unranked), and each parent's few are
/// sorted here.
fn paged_by_parent<R: ChildList>(
    rows: Vec<R::Model>,
    first: u64,
) -> FxHashMap<i64, Page<R::Model>> {
    // Sized once: at most a parent a row, and growing it rehashes every page.
    let mut pages: FxHashMap<i64, Page<R::Model>> =
        FxHashMap::with_capacity_and_hasher(rows.len(), Default::default());
    for row in rows {
        pages.entry(R::parent_of(&row)).or_default().rows.push(row);
    }
    for page in pages.values_mut() {
        page.rows.sort_by(|a, b| list_order::<R>(a, b));
        if page.rows.len() as u64 > first {
            page.rows.truncate(first as usize);
            page.has_next = true;
        }
    }
    pages
}

/// The order of `R`'s rows within a parent: by sort key, then id, in the
/// list's direction (every list's sort key is a non-null time).
fn list_order<R: ChildList>(a: &R::Model, b: &R::Model) -> std::cmp::Ordering {
    let (a, b) = (R::cursor_of(a), R::cursor_of(b));
    let key = |c: &Cursor| match c.key {
        SortValue::Time(t) => Some(t),
        _ => None,
    };
    let ascending = key(&a).cmp(&key(&b)).then(a.id.cmp(&b.id));
    match R::DIRECTION {
        Direction::Asc => ascending,
        Direction::Desc => ascending.reverse(),
    }
}

impl<R: ChildList> PageLoader<R> {
    /// The pages `keys` ask for: those read ahead, and the rest in one
    /// statement per page size, cursor and columns (keys of one level share
    /// them, so mostly one).
    async fn pages<'k>(
        &self,
        keys: impl Iterator<Item = &'k PageKey>,
    ) -> Result<FxHashMap<PageKey, Page<R::Model>>, LoadError> {
        // Sized for the keys, a level's parents: growing it rehashes them.
        let mut out = FxHashMap::with_capacity_and_hasher(keys.size_hint().0, Default::default());
        let mut groups: FxHashMap<(u64, Option<&Cursor>, Columns), Vec<i64>> = FxHashMap::default();
        {
            let mut primed = self.primed.lock().unwrap_or_else(PoisonError::into_inner);
            for key in keys {
                match primed.remove(key) {
                    Some(page) => {
                        out.insert(key.clone(), page);
                    }
                    None => groups
                        .entry((key.first, key.after.as_ref(), key.columns))
                        .or_default()
                        .push(key.parent),
                }
            }
        }
        for ((first, after, columns), parents) in groups {
            let rows = self.rows(&parents, first, after, columns).await?;
            let mut pages = paged_by_parent::<R>(rows, first);
            for parent in parents {
                let page = pages.remove(&parent).unwrap_or_default();
                let key = PageKey {
                    parent,
                    first,
                    after: after.cloned(),
                    columns,
                };
                out.insert(key, page);
            }
        }
        Ok(out)
    }
}

impl<R: ChildList> Loader<PageKey> for PageLoader<R> {
    type Value = Arc<Page<R::Model>>;
    type Error = LoadError;

    async fn load(&self, keys: &[PageKey]) -> Result<HashMap<PageKey, Self::Value>, Self::Error> {
        let pages = self.pages(keys.iter()).await?;
        Ok(pages
            .into_iter()
            .map(|(k, page)| (k, Arc::new(page)))
            .collect())
    }
}

impl<R: ChildList> Loader<PagesKey> for PageLoader<R> {
    type Value = Arc<Vec<Page<R::Model>>>;
    type Error = LoadError;

    async fn load(&self, keys: &[PagesKey]) -> Result<HashMap<PagesKey, Self::Value>, Self::Error> {
        let each = |key: &PagesKey| {
            let key = key.clone();
            (0..key.parents.len()).map(move |at| PageKey {
                parent: key.parents[at],
                first: key.first,
                after: key.after.clone(),
                columns: key.columns,
            })
        };
        let wanted: Vec<PageKey> = keys.iter().flat_map(each).collect();
        if let ([key], [one]) = (keys, wanted.as_slice()) {
            // One parent (a profile's list): nothing to share out.
            let page = self.pages(std::iter::once(one)).await?.remove(one);
            let pages = Arc::new(vec![page.unwrap_or_default()]);
            return Ok(HashMap::from([(key.clone(), pages)]));
        }
        // A parent asked for twice in the level (two places, or twice in
        // one key: two customers referred by one) is read once, and its
        // page copied for all but its last request.
        let mut uses: FxHashMap<&PageKey, u32> =
            FxHashMap::with_capacity_and_hasher(wanted.len(), Default::default());
        for key in &wanted {
            *uses.entry(key).or_default() += 1;
        }
        let mut pages = self.pages(uses.keys().copied()).await?;
        let mut wanted = wanted.iter();
        let mut out = HashMap::with_capacity(keys.len());
        for key in keys {
            let level = wanted
                .by_ref()
                .take(key.parents.len())
                .map(|one| {
                    let left = uses.get_mut(one).map_or(0, |n| {
                        *n -= 1;
                        *n
                    });
                    match left {
                        0 => pages.remove(one).unwrap_or_default(),
                        _ => pages.get(one).cloned().unwrap_or_default(),
                    }
                })
                .collect();
            out.insert(key.clone(), Arc::new(level));
        }
        Ok(out)
    }
}

/// Counts a child table per parent (`totalCount`, only when asked).
///
/// When the request's levels go out as one statement, a count joins its
/// level like a page ([`Combiner`]), and one read ahead with the pages
/// ([`CountLoader::prime`]: a profile's `orders { totalCount }` beside the
/// customer) is taken by the load that asks for it: otherwise the count
/// was a statement of its own, one round trip after the rest.
pub struct CountLoader<R> {
    pub(super) db: DatabaseConnection,
    /// Set on PostgreSQL: statements go out one level at a time.
    pub(super) combiner: Option<Arc<Combiner>>,
    pub(super) primed: Mutex<FxHashMap<i64, i64>>,
    pub(super) _rel: PhantomData<R>,
}

#[derive(Debug, FromQueryResult)]
struct ParentCount {
    parent: i64,
    n: i64,
}

impl<R: ChildList> CountLoader<R> {
    /// Counts `parents` ahead of their keys, in the statement of the level
    /// under way, and keeps the counts for the load that asks for them.
    /// Only when the level goes out as one statement, where this costs no
    /// statement of its own; a failure leaves the counts to their load.
    pub async fn prime(&self, parents: &[i64]) {
        let Some(combiner) = self.combiner.as_ref().filter(|c| c.active()) else {
            return;
        };
        if let Ok(counts) = self.combined(combiner, parents).await {
            let mut primed = self.primed.lock().unwrap_or_else(PoisonError::into_inner);
            // A parent without rows has no group: its count is 0.
            primed.extend(parents.iter().map(|&p| (p, 0)));
            primed.extend(counts);
        }
    }

    /// The statement counting `parents`, its rows as `[parent, n]` JSON
    /// texts in a column `j` when `json` (a combined level's shape).
    ///
    /// The text is kept by this loader's type and the number of parents:
    /// only the parents change between requests, and building it through an
    /// entity's `find` (every column selected, then cleared) cost a profile
    /// asking for `totalCount` 2 % of its instructions.
    fn statement(&self, parents: &[i64], json: bool) -> Statement {
        let backend = self.db.get_database_backend();
        let key = (
            TypeId::of::<Self>(),
            backend == DbBackend::Postgres,
            parents.len(),
            json,
        );
        let values = || Values(parents.iter().map(|&p| Value::BigInt(Some(p))).collect());
        kept(backend, key, values, || {
            let mut select = Query::select();
            if json {
                let pair = Func::cust("json_build_array")
                    .arg(Expr::col(R::parent_col()))
                    .arg(R::id_col().into_expr().count());
                select.expr_as(
                    Expr::expr(pair).cast_as(Alias::new("text")),
                    Alias::new("j"),
                );
            } else {
                select
                    .expr_as(Expr::col(R::parent_col()), Alias::new("parent"))
                    .expr_as(R::id_col().into_expr().count(), Alias::new("n"));
            }
            select
                .from(R::Entity::default())
                .and_where(R::parent_col().is_in(parents.iter().copied()))
                .group_by_col(R::parent_col())
                .to_owned()
        })
    }

    /// The counts of `parents` with a row, through the level's statement.
    async fn combined(
        &self,
        combiner: &Combiner,
        parents: &[i64],
    ) -> Result<Vec<(i64, i64)>, LoadError> {
        let rows = combiner
            .rows_unordered(self.statement(parents, true))
            .await?;
        rows.read(PhantomData::<(i64, i64)>::default)
            .map_err(Arc::new)
    }
}

impl<R: ChildList> Loader<i64> for CountLoader<R> {
    type Value = i64;
    type Error = LoadError;

    async fn load(&self, parents: &[i64]) -> Result<HashMap<i64, i64>, Self::Error> {
        let mut out: HashMap<i64, i64> = HashMap::with_capacity(parents.len());
        let rest: Vec<i64> = {
            let mut primed = self.primed.lock().unwrap_or_else(PoisonError::into_inner);
            parents
                .iter()
                .copied()
                .filter(|p| match primed.remove(p) {
                    Some(n) => {
                        out.insert(*p, n);
                        false
                    }
                    None => true,
                })
                .collect()
        };
        if rest.is_empty() {
            return Ok(out);
        }
        let counts = match self.combiner.as_ref().filter(|c| c.active()) {
            Some(combiner) => self.combined(combiner, &rest).await?,
            None => crate::db::read_models::<ParentCount>(&self.db, self.statement(&rest, false))
                .await
                .map_err(|e| Arc::new(AppError::from(e)))?
                .into_iter()
                .map(|c| (c.parent, c.n))
                .collect(),
        };
        out.extend(rest.iter().map(|p| (*p, 0)));
        out.extend(counts);
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
    CustomerStoreCredit => store_credit_entry.customer_id(CustomerId), sort CreatedAt Desc;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows that come in any order are paged in the list's order: newest
    /// first for orders, the one past the page marking a next page.
    #[test]
    fn unranked_rows_are_paged_in_the_lists_order() {
        let at =
            |s: i64| chrono::DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default();
        let order = |id: i64, customer_id: i64, placed: i64| order::Model {
            id,
            customer_id,
            order_number: format!("C360-{id}"),
            external_ref: None,
            status: c360_entity::enums::OrderStatus::Paid,
            channel: c360_entity::enums::OrderChannel::OnlineStore,
            currency: "USD".into(),
            subtotal: 0,
            discount: 0,
            tax: 0,
            total: 0,
            refunded: 0,
            placed_at: at(placed),
            created_at: at(0),
            updated_at: at(0),
        };
        let rows = vec![
            order(1, 7, 10),
            order(2, 8, 5),
            order(3, 7, 30),
            order(4, 7, 30),
            order(5, 7, 20),
        ];
        let pages = paged_by_parent::<CustomerOrders>(rows, 3);
        let ids = |p: &Page<order::Model>| p.rows.iter().map(|o| o.id).collect::<Vec<_>>();
        assert_eq!(ids(&pages[&7]), [4, 3, 5]);
        assert!(pages[&7].has_next);
        assert_eq!(ids(&pages[&8]), [2]);
        assert!(!pages[&8].has_next);
    }

    /// A combined page writes the columns asked for and the keys paging
    /// reads, and nothing for the rest.
    #[test]
    fn a_combined_page_writes_only_the_columns_asked_for() {
        let asked = Columns::of::<order::Entity>([order::Column::Total, order::Column::Currency]);
        let stmt = StatementBuilder::build(
            &PageLoader::<CustomerOrders>::statement(&[1], 5, None, Shape::Combined(asked)),
            &DbBackend::Postgres,
        );
        let array = stmt
            .sql
            .split("json_build_array(")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .expect("an array of columns");
        assert_eq!(
            array,
            r#""id", "customer_id", "currency", "total", "placed_at""#
        );
    }
}
