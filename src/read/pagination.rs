//! Relay pagination by keyset: opaque cursors holding the sort key and row id,
//! argument checks, and the SQL conditions that seek past a cursor.

use async_graphql::connection::CursorType;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Cond, Expr, ExprTrait, IntoColumnRef, Value};

use crate::error::{AppError, AppResult};

/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 100;
/// Page size when the client names none.
pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// The sort key part of a cursor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SortValue {
    /// Sorting by id alone.
    None,
    /// The row's sort key is NULL (such rows sort last).
    Null,
    Int(i64),
    Time(DateTime<Utc>),
}

impl SortValue {
    fn sql(&self) -> Option<Value> {
        match self {
            SortValue::None | SortValue::Null => None,
            SortValue::Int(v) => Some((*v).into()),
            SortValue::Time(t) => Some((*t).into()),
        }
    }
}

/// Where a page starts: the sort key and id of the row before it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub key: SortValue,
    pub id: i64,
}

impl Cursor {
    pub fn new(key: SortValue, id: i64) -> Self {
        Cursor { key, id }
    }
}

impl CursorType for Cursor {
    type Error = String;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let bad = || format!("`{s}` is not a cursor returned by this API");
        let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let mut parts = raw.splitn(3, '|');
        let (tag, key, id) = (parts.next(), parts.next(), parts.next());
        let id: i64 = id.and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let key = match (tag, key) {
            (Some("n"), Some("")) => SortValue::None,
            (Some("i"), Some(v)) => SortValue::Int(v.parse().map_err(|_| bad())?),
            (Some("z"), Some("")) => SortValue::Null,
            (Some("t"), Some(v)) => SortValue::Time(
                DateTime::parse_from_rfc3339(v)
                    .map_err(|_| bad())?
                    .with_timezone(&Utc),
            ),
            _ => return Err(bad()),
        };
        Ok(Cursor { key, id })
    }

    fn encode_cursor(&self) -> String {
        let raw = match &self.key {
            SortValue::None => format!("n||{}", self.id),
            SortValue::Int(v) => format!("i|{v}|{}", self.id),
            SortValue::Null => format!("z||{}", self.id),
            SortValue::Time(t) => format!("t|{}|{}", t.to_rfc3339(), self.id),
        };
        URL_SAFE_NO_PAD.encode(raw)
    }
}

/// The kinds of sort key a list's cursors may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    IdOnly,
    Time,
    NullableTime,
    NullableInt,
}

impl KeyKind {
    fn accepts(self, key: &SortValue) -> bool {
        matches!(
            (self, key),
            (KeyKind::IdOnly, SortValue::None)
                | (KeyKind::Time | KeyKind::NullableTime, SortValue::Time(_))
                | (
                    KeyKind::NullableTime | KeyKind::NullableInt,
                    SortValue::Null
                )
                | (KeyKind::NullableInt, SortValue::Int(_))
        )
    }
}

/// Decodes a cursor argument and checks it was made for a list sorted this way.
pub fn decode_cursor(
    field: &str,
    cursor: Option<&str>,
    kind: KeyKind,
) -> AppResult<Option<Cursor>> {
    let Some(raw) = cursor else { return Ok(None) };
    let cursor = Cursor::decode_cursor(raw).map_err(|msg| AppError::bad_input(field, msg))?;
    if !kind.accepts(&cursor.key) {
        return Err(AppError::bad_input(
            field,
            format!(
                "`{raw}` is a cursor of a list in another order; pass cursors back to the list and order they came from"
            ),
        ));
    }
    Ok(Some(cursor))
}

/// Checks a page size argument against the maximum.
pub fn page_size(field: &str, value: Option<i32>) -> AppResult<u64> {
    match value {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if n < 0 => Err(AppError::bad_input(
            field,
            format!("`{field}` must not be negative"),
        )),
        Some(n) if n as u64 > MAX_PAGE_SIZE => Err(AppError::bad_input(
            field,
            format!("`{field}` is {n}; the largest page is {MAX_PAGE_SIZE}"),
        )),
        Some(n) => Ok(n as u64),
    }
}

/// A page of a list sorted by id alone, read forwards: `first` and `after`,
/// checked.
#[derive(Debug, Clone)]
pub struct ById {
    pub size: u64,
    pub after: Option<Cursor>,
}

impl ById {
    pub fn new(first: Option<i32>, after: Option<&str>) -> AppResult<ById> {
        Ok(ById {
            size: page_size("first", first)?,
            after: decode_cursor("after", after, KeyKind::IdOnly)?,
        })
    }

    /// The page out of `rows`, fetched with `LIMIT size + 1` so the extra
    /// row tells whether another page follows; `id` is each row's key.
    pub fn cut<T>(&self, mut rows: Vec<T>, id: impl Fn(&T) -> i64) -> KeysetPage<T> {
        let has_next = rows.len() as u64 > self.size;
        rows.truncate(self.size as usize);
        KeysetPage {
            edges: rows
                .into_iter()
                .map(|row| (Cursor::new(SortValue::None, id(&row)), row))
                .collect(),
            has_previous: self.after.is_some(),
            has_next,
        }
    }
}

/// One page of a keyset list: each row with its cursor, and whether rows
/// lie before and after it.
#[derive(Debug, Clone)]
pub struct KeysetPage<T> {
    pub edges: Vec<(Cursor, T)>,
    pub has_previous: bool,
    pub has_next: bool,
}

/// The direction a keyset walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Asc,
    Desc,
}

impl Direction {
    pub fn reverse(self) -> Direction {
        match self {
            Direction::Asc => Direction::Desc,
            Direction::Desc => Direction::Asc,
        }
    }
}

/// The condition selecting rows strictly after `cursor` when rows are ordered
/// by (`sort`, `id`) in `dir`, NULL sort keys last.
pub fn seek_after<S, I>(sort: Option<Key<S>>, id: I, dir: Direction, cursor: &Cursor) -> Cond
where
    S: IntoColumnRef + Clone,
    I: IntoColumnRef + Clone,
{
    seek(sort, id, dir, cursor, true)
}

/// The condition selecting rows strictly before `cursor` in the same order.
pub fn seek_before<S, I>(sort: Option<Key<S>>, id: I, dir: Direction, cursor: &Cursor) -> Cond
where
    S: IntoColumnRef + Clone,
    I: IntoColumnRef + Clone,
{
    seek(sort, id, dir, cursor, false)
}

/// A sort column and whether it can hold NULL.
#[derive(Debug, Clone)]
pub struct Key<S> {
    pub column: S,
    pub nullable: bool,
}

impl<S> Key<S> {
    pub fn not_null(column: S) -> Self {
        Key {
            column,
            nullable: false,
        }
    }
}

fn seek<S, I>(sort: Option<Key<S>>, id: I, dir: Direction, cursor: &Cursor, after: bool) -> Cond
where
    S: IntoColumnRef + Clone,
    I: IntoColumnRef + Clone,
{
    let forward = (dir == Direction::Asc) == after;
    let past = |col: Expr, v: Expr| -> Expr { if forward { col.gt(v) } else { col.lt(v) } };
    let Some(Key {
        column: sort,
        nullable,
    }) = sort
    else {
        return Cond::all().add(past(Expr::col(id), Expr::val(cursor.id)));
    };
    if let (false, Some(v)) = (nullable, cursor.key.sql()) {
        // A row-value comparison is one index range on both stores.
        return Cond::all().add(past(
            Expr::tuple([Expr::col(sort), Expr::col(id)]),
            Expr::tuple([Expr::val(v), Expr::val(cursor.id)]),
        ));
    }
    let id_past = past(Expr::col(id), Expr::val(cursor.id));
    let null = Expr::col(sort.clone()).is_null();
    match (cursor.key.sql(), after) {
        // Past a NULL-keyed row come only NULL-keyed rows with a later id.
        (None, true) => Cond::all().add(null).add(id_past),
        // Before a NULL-keyed row: every keyed row, and NULL rows with an earlier id.
        (None, false) => Cond::any()
            .add(Expr::col(sort).is_not_null())
            .add(Cond::all().add(null).add(id_past)),
        (Some(v), after) => {
            let mut cond = Cond::any()
                .add(past(Expr::col(sort.clone()), Expr::val(v.clone())))
                .add(Cond::all().add(Expr::col(sort).eq(v)).add(id_past));
            if after {
                cond = cond.add(null);
            }
            cond
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        for c in [
            Cursor::new(SortValue::None, 1),
            Cursor::new(SortValue::Int(-5), 2),
            Cursor::new(SortValue::Null, 3),
            Cursor::new(SortValue::Time(t.unwrap_or_default()), 4),
        ] {
            assert_eq!(Cursor::decode_cursor(&c.encode_cursor()).ok(), Some(c));
        }
        assert!(Cursor::decode_cursor("garbage!").is_err());
        assert!(Cursor::decode_cursor(&URL_SAFE_NO_PAD.encode("i|x|1")).is_err());
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(page_size("first", None).ok(), Some(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size("first", Some(100)).ok(), Some(100));
        assert!(page_size("first", Some(101)).is_err());
        assert!(page_size("first", Some(-1)).is_err());
    }
}
