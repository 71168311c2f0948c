//! Lists whose items hold only values of their own rows and lists below them
//! (orders and their lines, tickets and their messages, ledger rows, reviews,
//! referrals, NPS answers, and pages of customers: `customer::written`),
//! written into the response as one JSON text instead of resolved field by
//! field.
//!
//! async-graphql resolves every field of every item as a future of its own,
//! with a context, an extension hook and a `Value` to hold the result, and the
//! response is serialised from those values afterwards. For the items of these
//! lists that is most of a profile page's fields, and none of them needs it:
//! each field is a value of the row, with no error; what depends on the
//! caller (a PII mask, a guard) is decided once for the list ([`Env`],
//! [`Leaf::writable`]), and a guard that refuses sends the list to the
//! executor, which answers with the error. A
//! connection of such items whose selection is plain fields (no fragment or
//! directive below it, no argument but a list's page, each response key once)
//! is written here from the rows in one pass, in the order the selection asks
//! for, through the same scalar and enum conversions the executor uses;
//! async-graphql splices the text into the response as it serialises it
//! (`raw_value`). A list below the items (an order's lines) is loaded for
//! every item of every page of the level at once, through the same loaders,
//! so a request runs the statements the executor would. Any other selection,
//! a bad page argument or a failed load goes to the executor, which answers
//! it as before; `--leaf-json false` sends every list there. A differential
//! test asks both ways and requires the same answers.
//!
//! Each leaf type lists its fields twice, once for the executor (its
//! `#[Object]`) and once here ([`Leaf`]); the differential test selects every
//! field of every leaf type, so the two cannot drift apart unnoticed.

use std::borrow::Cow;

use async_graphql::connection::{CursorType, Edge, EmptyFields, PageInfo};
use async_graphql::dataloader::DataLoader;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::EnumType;
use async_graphql::{ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value};
use async_graphql_value::RAW_VALUE_TOKEN;
use futures_util::future::{BoxFuture, join_all};

use std::sync::{Arc, Mutex};

use async_graphql::context::ContextBase;
use chrono::{DateTime, Utc};

use super::connection::{Conn, Total, conn_of};
use super::context::{identity as identity_of, note_pii_read, sees_pii};
use super::money::Money;
use crate::app::AppState;
use crate::auth::{Identity, Principal};
use crate::domain::ids::Kind;
use crate::read::columns::Columns;
use crate::read::combine::Relation;
use crate::read::loaders::{ChildList, CountLoader, PageLoader, PagesKey};
use crate::read::pagination::{Cursor, decode_cursor, page_size};

/// A field's value as a leaf writes it.
pub enum Scalar<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
    Null,
    /// A value as async-graphql converts it.
    Value(Value),
    /// A row's global id, written without building an `ID` first.
    Id(Kind, i64),
    /// A timestamp, written as async-graphql writes a `DateTime`.
    Time(DateTime<Utc>),
    /// An enum's value, by its GraphQL name ([`Scalar::name_of`]).
    Name(&'static str),
    Money(&'a Money),
    /// An amount in minor units of a currency, shown as `Money`.
    Minor(i64, &'a str),
    /// An object of values (`Satisfaction`): its type name and its fields.
    Object(&'static str, Vec<(&'static str, Scalar<'a>)>),
    /// An object of values computed when asked for, by field name (`None`:
    /// not one of its fields).
    Fields(&'static str, FieldsOf<'a>),
}

/// The fields of a [`Scalar::Fields`] object, by name.
pub type FieldsOf<'a> = Box<dyn Fn(&str) -> Option<Scalar<'a>> + Send + 'a>;

/// What a leaf's values may depend on besides its own row, read once for a
/// whole list: the caller and the request's instant.
pub struct Env<'c> {
    pub state: &'c AppState,
    /// The caller, when it sees PII unmasked.
    pub pii: Option<&'c Principal>,
    pub now: DateTime<Utc>,
    /// Customers whose PII was written unmasked, noted for the audit once
    /// the list is written.
    shown: Mutex<Vec<i64>>,
}

impl<'c> Env<'c> {
    fn of<T>(ctx: &ContextBase<'c, T>) -> Option<Env<'c>> {
        let state = ctx.data::<AppState>().ok()?;
        let pii = match identity_of(ctx) {
            Identity::Authenticated(p) if sees_pii(p) => Some(p),
            _ => None,
        };
        Some(Env {
            state,
            pii,
            now: state.clock.now(),
            shown: Mutex::new(Vec::new()),
        })
    }

    /// Whether the caller sees customer `customer`'s PII unmasked; when it
    /// does, the read is noted for the audit.
    pub fn shows(&self, customer: i64) -> bool {
        if self.pii.is_none() {
            return false;
        }
        if let Ok(mut shown) = self.shown.lock() {
            shown.push(customer);
        }
        true
    }

    /// Notes the PII shown for the audit, as the executor's fields do.
    fn audit<T>(self, ctx: &ContextBase<'_, T>) {
        let Some(principal) = self.pii else { return };
        let shown = self.shown.into_inner().unwrap_or_else(|p| p.into_inner());
        for customer in shown {
            note_pii_read(ctx, principal, customer);
        }
    }
}

impl<'a> From<Option<&'a str>> for Scalar<'a> {
    fn from(v: Option<&'a str>) -> Scalar<'a> {
        v.map_or(Scalar::Null, Scalar::Str)
    }
}

impl Scalar<'_> {
    /// An enum's value by its name, as async-graphql writes it, without
    /// the `Value` (and the name's copy) async-graphql makes for it.
    pub fn name_of<'s, T: EnumType>(value: T) -> Scalar<'s> {
        let item = T::items().iter().find(|item| item.value == value);
        item.map_or(Scalar::Null, |item| Scalar::Name(item.name))
    }

    /// An optional value as async-graphql converts it.
    pub fn of(v: Option<impl async_graphql::InputType>) -> Self {
        v.map_or(Scalar::Null, |v| Scalar::Value(v.to_value()))
    }

    /// An optional timestamp.
    pub fn time<'s>(v: Option<DateTime<Utc>>) -> Scalar<'s> {
        v.map_or(Scalar::Null, Scalar::Time)
    }
}

/// An output type whose fields are values of the item itself, or lists below
/// it that [`Leaf::children`] writes.
pub trait Leaf: OutputType + Sized {
    /// A field of this type, as named in a selection.
    type Field: Copy + Send + Sync;
    /// The field called `name`, or `None` for one that needs the executor.
    fn field(name: &str) -> Option<Self::Field>;
    /// Whether the object value `field` has a field `name`, when selected.
    fn has(_field: Self::Field, _name: &str) -> bool {
        true
    }
    fn value<'a>(&'a self, env: &'a Env<'_>, field: Self::Field) -> Scalar<'a>;
    /// The columns of its rows that `value` reads for `fields`, for a page
    /// statement to write only those (`read::columns`); every column unless
    /// the type says otherwise. The keys paging reads are added by the
    /// statement. The differential test selects each field alone, so a
    /// column missing here shows as a wrong answer there.
    fn columns(_fields: &[Self::Field]) -> Columns {
        Columns::ALL
    }
    /// Whether `fields` can be written for `items` as they are, checked
    /// before anything below them is loaded; `false` leaves the whole page
    /// to the executor (a field the caller may not read, a value the rows
    /// read do not hold).
    fn writable(
        _ctx: &ContextSelectionSet<'_>,
        _env: &Env<'_>,
        _items: &[&Self],
        _fields: &[Self::Field],
    ) -> bool {
        true
    }
    /// Whether `name` is a list below each item that `children` writes.
    fn has_children(_name: &str) -> bool {
        false
    }
    /// The list `field` below each of `items`, written, loaded for all of
    /// them at once; `None` leaves the whole page to the executor.
    fn children<'a>(
        _ctx: &'a ContextSelectionSet<'a>,
        _field: &'a Positioned<Field>,
        _items: Vec<&'a Self>,
    ) -> BoxFuture<'a, Option<Vec<JsonText>>> {
        Box::pin(async { None })
    }
}

/// A connection of leaves: the executor's connection type to the schema, a
/// JSON text to the response when its selection allows.
pub struct Leaves<N: OutputType>(pub Conn<N>);

impl<N: Leaf> OutputType for Leaves<N> {
    fn type_name() -> Cow<'static, str> {
        Conn::<N>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        Conn::<N>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let state = ctx.data::<AppState>().ok();
        let plan = state
            .filter(|state| state.config.leaf_json)
            .and_then(|_| plan_connection::<N>(&field.node.selection_set.node));
        let written = match &plan {
            Some(plan) => write_pages(ctx, field, plan, std::slice::from_ref(&self.0)).await,
            None => None,
        };
        splice_or_resolve(ctx, field, written, &self.0).await
    }
}

/// The connection `field` below each of `parents`, written: one page
/// statement for all of them through `loader` (and one count statement when
/// `totalCount` is selected). `None` when its arguments or selection need
/// the executor, or a statement failed: the executor then answers as usual.
pub async fn pages_below<R, N>(
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
    loader: &DataLoader<PageLoader<R>>,
    parents: &[i64],
    total: impl Fn(i64) -> Total,
    node: impl Fn(usize, R::Model) -> N,
) -> Option<Vec<JsonText>>
where
    R: ChildList,
    N: Leaf,
{
    pages_and_below::<R, R, N>(ctx, field, loader, None, parents, total, node).await
}

/// A list below the items of a page that can be read with the page itself:
/// its field's name and its loader.
pub struct Below<'l, B: ChildList>(pub &'static str, pub &'l DataLoader<PageLoader<B>>);

/// [`pages_below`], with the first pages of the list `below` under the
/// items, when selected, read beside the items' own pages rather than after
/// them (`PageLoader::prime_below`).
pub async fn pages_and_below<R, B, N>(
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
    loader: &DataLoader<PageLoader<R>>,
    below: Option<Below<'_, B>>,
    parents: &[i64],
    total: impl Fn(i64) -> Total,
    node: impl Fn(usize, R::Model) -> N,
) -> Option<Vec<JsonText>>
where
    R: ChildList,
    B: ChildList,
    N: Leaf,
{
    let plan = plan_connection::<N>(&field.node.selection_set.node)?;
    let (first, after) = page_args::<R>(ctx, field)?;
    let columns = columns_of::<N>(&plan);
    let key = PagesKey {
        parents: Arc::from(parents),
        first,
        after: after.clone(),
        columns,
    };
    let prime = async {
        if after.is_none() {
            read_below::<R, B, _>(ctx, &plan, below, parents, first).await;
        }
    };
    let (pages, ()) = futures_util::join!(loader.load_one(key), prime);
    let pages = pages.ok()??;
    let pages = Arc::try_unwrap(pages).unwrap_or_else(|shared| (*shared).clone());
    let conns: Vec<Conn<N>> = parents
        .iter()
        .zip(pages)
        .enumerate()
        .map(|(i, (&parent, page))| {
            conn_of::<R, N>(page, after.is_some(), total(parent), |row| node(i, row))
        })
        .collect();
    write_pages(ctx, field, &plan, &conns).await
}

/// Reads ahead, for `parents` not yet loaded, the first pages `field` asks
/// for, their counts when `totalCount` is selected and `count` is given,
/// and the pages of the
/// list `below` under their items when selected, so that they go out with
/// the level that reads the parents themselves (a profile's lists beside
/// the customer's own statement). Nothing when the page is not a first
/// page, the selection is not one [`pages_and_below`] writes, or the level
/// is not combined; a failure leaves the lists to their own statements,
/// which report it.
pub async fn read_ahead<R, B, N>(
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
    (loader, count): (
        &DataLoader<PageLoader<R>>,
        Option<&DataLoader<CountLoader<R>>>,
    ),
    below: Option<Below<'_, B>>,
    parents: &[i64],
) where
    R: ChildList,
    B: ChildList,
    N: Leaf,
{
    if !loader.loader().combining() {
        return;
    }
    let Some(plan) = plan_connection::<N>(&field.node.selection_set.node) else {
        return;
    };
    let Some((first, None)) = page_args::<R>(ctx, field) else {
        return;
    };
    let lists = read_below::<R, B, _>(ctx, &plan, below, parents, first);
    let columns = columns_of::<N>(&plan);
    let counted = plan
        .iter()
        .any(|(_, field)| matches!(field, ConnField::TotalCount));
    let counts = async {
        if let Some(count) = count.filter(|_| counted) {
            count.loader().prime(parents).await;
        }
    };
    let _ = futures_util::join!(
        loader.loader().prime(parents, first, columns),
        lists,
        counts
    );
}

/// What to keep once the parents of lists read ahead by [`read_ahead_of`]
/// are known: given their ids, an empty page for each without rows, and
/// the lists below their items noted as read.
pub type KeepPrimed<'l> = Box<dyn FnOnce(&[i64]) + Send + 'l>;

/// [`read_ahead`] for the parents whose ids `parents`, a query reading
/// `relation`, gives: the customers of a page read in the same statement
/// (`customers::PageQuery::read_combined`), so that the page and the first
/// pages of its customers' lists, and of the lists below their items, are
/// one statement. Counts are left to their load. `None` when nothing was
/// read ahead (the same cases as [`read_ahead`], or a failure: the lists
/// then go to their own statements, which report it).
pub async fn read_ahead_of<'l, R, B, N>(
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
    loader: &'l DataLoader<PageLoader<R>>,
    below: Option<Below<'l, B>>,
    (relation, parents): (&Relation, &str),
) -> Option<KeepPrimed<'l>>
where
    R: ChildList,
    B: ChildList,
    N: Leaf,
{
    if !loader.loader().combining() {
        return None;
    }
    let plan = plan_connection::<N>(&field.node.selection_set.node)?;
    let Some((first, None)) = page_args::<R>(ctx, field) else {
        return None;
    };
    let columns = columns_of::<N>(&plan);
    let below = below.and_then(|Below(name, below)| {
        let children = children_of(node_fields(&plan));
        let child = children.iter().find(|f| f.node.name.node == name)?;
        match page_args::<B>(ctx, child)? {
            (child_first, None) => Some((below, child_first)),
            _ => None,
        }
    });
    let lists = loader.loader().prime_of(relation, parents, first, columns);
    let lower = async {
        let (below, child_first) = below?;
        let read = below
            .loader()
            .prime_below_of::<R>(relation, parents, first, child_first);
        read.await.ok().map(|()| (below, child_first))
    };
    let (lists, lower) = futures_util::join!(lists, lower);
    lists.ok()?;
    Some(Box::new(move |ids: &[i64]| {
        loader.loader().prime_empty(ids, first, columns);
        if let Some((below, child_first)) = lower {
            below.loader().primed_below_of::<R>(ids, first, child_first);
        }
    }))
}

/// The columns of `N`'s rows a page of the executor's list field (the
/// field `ctx` resolves) needs: those its selection reads when the page
/// will be written ([`Leaves`]), so that a page read ahead for it
/// ([`read_ahead`], beside a customer the writer leaves to the executor)
/// is the one asked for; every column when the executor will resolve it.
/// A written page falls back to the executor only when a count fails, and
/// the executor then reads the same fields.
pub fn page_columns<N: Leaf>(ctx: &async_graphql::Context<'_>) -> Columns {
    let writes = ctx
        .data::<AppState>()
        .is_ok_and(|state| state.config.leaf_json);
    let plan = writes
        .then(|| plan_connection::<N>(&ctx.item.node.selection_set.node))
        .flatten();
    plan.map_or(Columns::ALL, |plan| columns_of::<N>(&plan))
}

/// The columns the items of pages written by `plan` read: every one when a
/// list below them is selected, since building an item's lists may read
/// any (an order's currency prices its lines).
fn columns_of<N: Leaf>(plan: &[(Name, ConnField<'_, N::Field>)]) -> Columns {
    let mut values = Vec::new();
    for field in node_fields(plan) {
        match field {
            NodeField::Value(f) | NodeField::Object(f, _) => values.push(*f),
            NodeField::Children(_) => return Columns::ALL,
            NodeField::Typename => {}
        }
    }
    N::columns(&values)
}

/// Reads ahead the first pages of the list `below` under the items of the
/// first pages of `first` of `parents`, when `plan` selects it as a first
/// page (`PageLoader::prime_below`). A failure leaves the lists to their own
/// statement, which reports it.
async fn read_below<R: ChildList, B: ChildList, F>(
    ctx: &ContextSelectionSet<'_>,
    plan: &[(Name, ConnField<'_, F>)],
    below: Option<Below<'_, B>>,
    parents: &[i64],
    first: u64,
) {
    let Some(Below(name, below)) = below else {
        return;
    };
    let children = children_of(node_fields(plan));
    let Some(child) = children.iter().find(|f| f.node.name.node == name) else {
        return;
    };
    if let Some((child_first, None)) = page_args::<B>(ctx, child) {
        let _ = below
            .loader()
            .prime_below::<R>(parents, first, child_first)
            .await;
    }
}

/// The page size and cursor `field` asks for, `None` when either is not
/// one the executor would accept (it then answers with the error).
fn page_args<R: ChildList>(
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
) -> Option<(u64, Option<Cursor>)> {
    let args = ctx.with_field(field);
    let first = args.param_value::<Option<i32>>("first", None).ok()?.1;
    let after = args.param_value::<Option<String>>("after", None).ok()?.1;
    let first = page_size("first", first).ok()?;
    let after = decode_cursor("after", after.as_deref(), R::KEY).ok()?;
    Some((first, after))
}

/// The object `field` of each of `items` (`None`: null), written by its
/// selection, with what is below them loaded for all of them at once.
/// `None` when the selection needs the executor or a statement failed.
pub async fn objects_below<N: Leaf>(
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
    items: &[Option<&N>],
) -> Option<Vec<JsonText>> {
    let plan = plan_node::<N>(&field.node.selection_set.node)?;
    let env = Env::of(ctx)?;
    let present: Vec<&N> = items.iter().flatten().copied().collect();
    let fields = || plan.iter().map(|(_, f)| f);
    if !N::writable(ctx, &env, &present, &values_of(fields())) {
        return None;
    }
    let below = children_of(fields());
    let children = load_children(ctx, below, present).await?;
    let mut texts = Vec::with_capacity(items.len());
    let mut i = 0;
    for item in items {
        let Some(item) = item else {
            texts.push(b"null".to_vec());
            continue;
        };
        let mut out = Out {
            buf: Vec::with_capacity(256),
            children: &children,
            offset: 0,
            env: &env,
        };
        out.node(i, *item, &plan).ok()?;
        i += 1;
        texts.push(out.buf);
    }
    env.audit(ctx);
    Some(texts)
}

/// An object of a [`Leaf`] type: the type itself to the schema, a JSON text
/// to the response when its selection allows.
pub struct Written<N>(pub N);

impl<N: Leaf> OutputType for Written<N> {
    fn type_name() -> Cow<'static, str> {
        N::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        N::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let state = ctx.data::<AppState>().ok();
        let written = match state {
            Some(state) if state.config.leaf_json => {
                objects_below(ctx, field, &[Some(&self.0)]).await
            }
            _ => None,
        };
        splice_or_resolve(ctx, field, written, &self.0).await
    }
}

/// Writes each of `conns` by `plan`, after loading, for all of them at once,
/// their counts and the lists below their items.
async fn write_pages<N: Leaf>(
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
    plan: &[(Name, ConnField<'_, N::Field>)],
    conns: &[Conn<N>],
) -> Option<Vec<JsonText>> {
    let env = Env::of(ctx)?;
    let items: Vec<&N> = conns
        .iter()
        .flat_map(|c| c.edges.iter().map(|e| &e.node))
        .collect();
    if !N::writable(ctx, &env, &items, &values_of(node_fields(plan))) {
        return None;
    }
    let counted = plan.iter().any(|(_, f)| matches!(f, ConnField::TotalCount));
    let count_ctx = ctx.with_field(field);
    let totals = async {
        if !counted {
            return Some(Vec::new());
        }
        let counts = join_all(conns.iter().map(|c| c.additional_fields.count(&count_ctx))).await;
        counts
            .into_iter()
            .map(Result::ok)
            .collect::<Option<Vec<i64>>>()
    };
    let below: Vec<&Positioned<Field>> = children_of(node_fields(plan));
    let (totals, children) = futures_util::join!(totals, load_children(ctx, below, items));
    let (totals, children) = (totals?, children?);
    let mut offset = 0;
    let mut texts = Vec::with_capacity(conns.len());
    for (i, conn) in conns.iter().enumerate() {
        // Room for the items' own fields (a customer of the benchmark's
        // list writes about 400 bytes) and the lists below them, copied in
        // as they are: a buffer grown as it fills is copied each time.
        let items = offset..offset + conn.edges.len();
        let below: usize = children
            .iter()
            .map(|(_, texts)| {
                texts
                    .get(items.clone())
                    .map_or(0, |t| t.iter().map(Vec::len).sum())
            })
            .sum();
        let mut out = Out {
            buf: Vec::with_capacity(256 + 512 * conn.edges.len() + below),
            children: &children,
            offset,
            env: &env,
        };
        out.connection(conn, plan, totals.get(i).copied()).ok()?;
        offset += conn.edges.len();
        texts.push(out.buf);
    }
    env.audit(ctx);
    Some(texts)
}

/// Each field of `below`, written for every one of `items`, loaded for all
/// of them at once; `None` when any of them needs the executor.
async fn load_children<'a, N: Leaf>(
    ctx: &'a ContextSelectionSet<'a>,
    below: Vec<&'a Positioned<Field>>,
    items: Vec<&'a N>,
) -> Option<Vec<(&'a Positioned<Field>, Vec<JsonText>)>> {
    let texts = join_all(below.iter().map(|f| N::children(ctx, f, items.clone()))).await;
    below
        .into_iter()
        .zip(texts)
        .map(|(f, texts)| texts.map(|t| (f, t)))
        .collect()
}

/// `written` spliced into the response, or, when there is none, `inner` as
/// the executor answers it; counted either way.
async fn splice_or_resolve<T: OutputType>(
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
    written: Option<Vec<JsonText>>,
    inner: &T,
) -> ServerResult<Value> {
    if let Ok(state) = ctx.data::<AppState>() {
        state.metrics.leaf_list(written.is_some());
    }
    // Checked as UTF-8 here, once for the whole text, rather than as each
    // list below it was written.
    match written
        .and_then(|mut texts| texts.pop())
        .and_then(|text| String::from_utf8(text).ok())
    {
        Some(text) => Ok(raw(text)),
        None => OutputType::resolve(inner, ctx, field).await,
    }
}

/// A JSON text the response serialiser writes as it is.
fn raw(json: String) -> Value {
    let mut object = async_graphql::indexmap::IndexMap::with_capacity(1);
    object.insert(Name::new(RAW_VALUE_TOKEN), Value::String(json));
    Value::Object(object)
}

/// `response` as JSON, exactly as `serde_json::to_string` writes it, but
/// with each spliced text ([`raw`]) copied as it is. async-graphql's
/// serialiser clones every spliced text and parses it again before it
/// writes it, a twentieth of a list's instructions; these texts were
/// written here, as JSON.
pub fn response_json(response: &async_graphql::Response) -> serde_json::Result<String> {
    // Sized for the spliced texts, most of a list's response, so that the
    // buffer is not grown and copied again and again as they go in.
    let mut out = Vec::with_capacity(8 * 1024 + spliced_len(&response.data));
    out.extend_from_slice(br#"{"data":"#);
    write_value(&mut out, &response.data)?;
    if !response.extensions.is_empty() {
        out.extend_from_slice(br#","extensions":{"#);
        for (i, (key, value)) in response.extensions.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, key)?;
            out.push(b':');
            write_value(&mut out, value)?;
        }
        out.push(b'}');
    }
    if !response.errors.is_empty() {
        out.extend_from_slice(br#","errors":"#);
        serde_json::to_writer(&mut out, &response.errors)?;
    }
    out.push(b'}');
    String::from_utf8(out).map_err(|e| serde::ser::Error::custom(e.to_string()))
}

/// A GraphQL name as a JSON string: a response key of a selection (an
/// alias or a field's name, as the parser admitted it) or an enum value's
/// name, `[_A-Za-z][_0-9A-Za-z]*`, which never needs escaping. Copied as
/// it is, without serde_json's escaping, which cost a list a twentieth of
/// its instructions, most of them on keys; a check of each byte cost as
/// much again.
fn write_name(out: &mut Vec<u8>, name: &str) {
    out.reserve(name.len() + 2);
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.push(b'"');
}

/// The length of the spliced texts in `value`.
fn spliced_len(value: &Value) -> usize {
    match value {
        Value::Object(object) => match object.get(RAW_VALUE_TOKEN) {
            Some(Value::String(text)) if object.len() == 1 => text.len(),
            _ => object.values().map(spliced_len).sum(),
        },
        Value::List(items) => items.iter().map(spliced_len).sum(),
        _ => 0,
    }
}

fn write_value(out: &mut Vec<u8>, value: &Value) -> serde_json::Result<()> {
    match value {
        Value::Object(object) => {
            if object.len() == 1
                && let Some(Value::String(text)) = object.get(RAW_VALUE_TOKEN)
            {
                out.extend_from_slice(text.as_bytes());
                return Ok(());
            }
            out.push(b'{');
            for (i, (key, value)) in object.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // A key of any object, a `JSON` scalar's among them.
                serde_json::to_writer(&mut *out, key.as_str())?;
                out.push(b':');
                write_value(out, value)?;
            }
            out.push(b'}');
        }
        Value::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar)?,
    }
    Ok(())
}

enum ConnField<'s, F> {
    Typename,
    TotalCount,
    PageInfo(Vec<(Name, PageInfoField)>),
    Edges(Vec<(Name, EdgeField<'s, F>)>),
    Nodes(Vec<(Name, NodeField<'s, F>)>),
}

enum PageInfoField {
    Typename,
    HasPreviousPage,
    HasNextPage,
    StartCursor,
    EndCursor,
}

enum EdgeField<'s, F> {
    Typename,
    Cursor,
    Node(Vec<(Name, NodeField<'s, F>)>),
}

enum NodeField<'s, F> {
    Typename,
    Value(F),
    /// A field whose value is an object of values, with its selection.
    Object(F, Vec<(Name, SubField)>),
    /// A list below the item, written by `Leaf::children`.
    Children(&'s Positioned<Field>),
}

enum SubField {
    Typename,
    /// A field of the object; an object itself when it has a selection.
    Named(Name, Vec<(Name, SubField)>),
}

/// The fields of `set` as `each` plans them, or `None` when the selection
/// needs the executor: a fragment or a directive, a response key given twice
/// (the executor merges those), or a field `each` does not plan.
fn plan_fields<'s, T>(
    set: &'s SelectionSet,
    mut each: impl FnMut(&'s Positioned<Field>) -> Option<T>,
) -> Option<Vec<(Name, T)>> {
    let mut planned: Vec<(Name, T)> = Vec::with_capacity(set.items.len());
    for item in &set.items {
        let Selection::Field(field) = &item.node else {
            return None;
        };
        if !field.node.directives.is_empty() {
            return None;
        }
        let key = &field.node.response_key().node;
        if planned.iter().any(|(k, _)| k == key) {
            return None;
        }
        let plan = each(field)?;
        planned.push((key.clone(), plan));
    }
    Some(planned)
}

/// A field with no arguments, by name.
fn plain(field: &Positioned<Field>) -> Option<&str> {
    field
        .node
        .arguments
        .is_empty()
        .then_some(field.node.name.node.as_str())
}

fn plan_connection<N: Leaf>(set: &SelectionSet) -> Option<Vec<(Name, ConnField<'_, N::Field>)>> {
    plan_fields(set, |field| match plain(field)? {
        "__typename" => Some(ConnField::Typename),
        "totalCount" => Some(ConnField::TotalCount),
        "pageInfo" => plan_fields(&field.node.selection_set.node, |field| {
            match plain(field)? {
                "__typename" => Some(PageInfoField::Typename),
                "hasPreviousPage" => Some(PageInfoField::HasPreviousPage),
                "hasNextPage" => Some(PageInfoField::HasNextPage),
                "startCursor" => Some(PageInfoField::StartCursor),
                "endCursor" => Some(PageInfoField::EndCursor),
                _ => None,
            }
        })
        .map(ConnField::PageInfo),
        "edges" => plan_fields(&field.node.selection_set.node, |field| {
            match plain(field)? {
                "__typename" => Some(EdgeField::Typename),
                "cursor" => Some(EdgeField::Cursor),
                "node" => plan_node::<N>(&field.node.selection_set.node).map(EdgeField::Node),
                _ => None,
            }
        })
        .map(ConnField::Edges),
        "nodes" => plan_node::<N>(&field.node.selection_set.node).map(ConnField::Nodes),
        _ => None,
    })
}

fn plan_node<N: Leaf>(set: &SelectionSet) -> Option<Vec<(Name, NodeField<'_, N::Field>)>> {
    plan_fields(set, |field| {
        let name = field.node.name.node.as_str();
        if N::has_children(name) {
            return Some(NodeField::Children(field));
        }
        if plain(field)? == "__typename" {
            return Some(NodeField::Typename);
        }
        let value = N::field(name)?;
        let sub = &field.node.selection_set.node;
        if sub.items.is_empty() {
            return Some(NodeField::Value(value));
        }
        let sub = plan_object(sub)?;
        sub.iter()
            .all(|(_, f)| match f {
                SubField::Named(name, _) => N::has(value, name),
                SubField::Typename => true,
            })
            .then_some(NodeField::Object(value, sub))
    })
}

/// The selection of an object value: plain fields, objects of them.
fn plan_object(set: &SelectionSet) -> Option<Vec<(Name, SubField)>> {
    plan_fields(set, |field| {
        let name = plain(field)?;
        let sub = &field.node.selection_set.node;
        Some(match name {
            "__typename" => SubField::Typename,
            _ if sub.items.is_empty() => SubField::Named(field.node.name.node.clone(), Vec::new()),
            _ => SubField::Named(field.node.name.node.clone(), plan_object(sub)?),
        })
    })
}

/// The fields `plan` selects on its items, through `nodes` and `edges.node`.
fn node_fields<'p, 's, F>(
    plan: &'p [(Name, ConnField<'s, F>)],
) -> impl Iterator<Item = &'p NodeField<'s, F>> {
    plan.iter()
        .flat_map(|(_, field)| -> Vec<&'p [(Name, NodeField<'s, F>)]> {
            match field {
                ConnField::Nodes(node) => vec![node.as_slice()],
                ConnField::Edges(edge) => edge
                    .iter()
                    .filter_map(|(_, f)| match f {
                        EdgeField::Node(node) => Some(node.as_slice()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            }
        })
        .flat_map(|node| node.iter().map(|(_, f)| f))
}

/// The value fields among `fields`.
fn values_of<'p, 's: 'p, F: Copy + 'p>(
    fields: impl Iterator<Item = &'p NodeField<'s, F>>,
) -> Vec<F> {
    fields
        .filter_map(|f| match f {
            NodeField::Value(f) | NodeField::Object(f, _) => Some(*f),
            _ => None,
        })
        .collect()
}

/// The fields below the items among `fields`, in the order they appear.
fn children_of<'p, 's: 'p, F: 'p>(
    fields: impl Iterator<Item = &'p NodeField<'s, F>>,
) -> Vec<&'s Positioned<Field>> {
    fields
        .filter_map(|f| match f {
            NodeField::Children(field) => Some(*field),
            _ => None,
        })
        .collect()
}

/// A list written as JSON: UTF-8, made of `str`s and ASCII, kept as bytes
/// until it is spliced into the response.
pub type JsonText = Vec<u8>;

/// What stops writing: the executor answers instead.
struct Bail;

/// A `Money`'s amount as a written list has it: text already formatted, or
/// minor units written straight into the response.
#[derive(Clone, Copy)]
enum Amount<'a> {
    Text(&'a str),
    Minor(i64),
}

/// The response text of one connection, built as serde_json builds the rest
/// of the response, with the written lists below its items.
struct Out<'c> {
    buf: Vec<u8>,
    env: &'c Env<'c>,
    /// Each list below the items, written for every item of the level.
    children: &'c [(&'c Positioned<Field>, Vec<JsonText>)],
    /// Where this connection's items start among the level's items.
    offset: usize,
}

impl<'c> Out<'c> {
    fn put(&mut self, value: &(impl serde::Serialize + ?Sized)) -> Result<(), Bail> {
        serde_json::to_writer(&mut self.buf, value).map_err(|_| Bail)
    }

    fn object<T>(
        &mut self,
        fields: &[(Name, T)],
        mut each: impl FnMut(&mut Self, &T) -> Result<(), Bail>,
    ) -> Result<(), Bail> {
        self.buf.push(b'{');
        for (i, (key, field)) in fields.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            write_name(&mut self.buf, key);
            self.buf.push(b':');
            each(self, field)?;
        }
        self.buf.push(b'}');
        Ok(())
    }

    fn cursor(&mut self, cursor: Option<&Cursor>) -> Result<(), Bail> {
        match cursor {
            Some(c) => self.put(&c.encode_cursor()),
            None => self.put(&()),
        }
    }

    fn connection<N: Leaf>(
        &mut self,
        conn: &Conn<N>,
        plan: &[(Name, ConnField<'_, N::Field>)],
        total: Option<i64>,
    ) -> Result<(), Bail> {
        self.object(plan, |out, field| match field {
            ConnField::Typename => out.put(&*Conn::<N>::type_name()),
            ConnField::TotalCount => out.put(&total.ok_or(Bail)?),
            ConnField::PageInfo(fields) => out.object(fields, |out, field| match field {
                PageInfoField::Typename => out.put(&*<PageInfo as OutputType>::type_name()),
                PageInfoField::HasPreviousPage => out.put(&conn.has_previous_page),
                PageInfoField::HasNextPage => out.put(&conn.has_next_page),
                PageInfoField::StartCursor => out.cursor(conn.edges.first().map(|e| &e.cursor)),
                PageInfoField::EndCursor => out.cursor(conn.edges.last().map(|e| &e.cursor)),
            }),
            ConnField::Edges(fields) => out.list(conn, |out, i, edge| {
                out.object(fields, |out, field| match field {
                    EdgeField::Typename => {
                        out.put(&*<Edge<Cursor, N, EmptyFields> as OutputType>::type_name())
                    }
                    EdgeField::Cursor => out.cursor(Some(&edge.cursor)),
                    EdgeField::Node(plan) => out.node(i, &edge.node, plan),
                })
            }),
            ConnField::Nodes(plan) => out.list(conn, |out, i, edge| out.node(i, &edge.node, plan)),
        })
    }

    fn list<N: Leaf>(
        &mut self,
        conn: &Conn<N>,
        mut each: impl FnMut(&mut Self, usize, &Edge<Cursor, N, EmptyFields>) -> Result<(), Bail>,
    ) -> Result<(), Bail> {
        self.buf.push(b'[');
        for (i, edge) in conn.edges.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            each(self, i, edge)?;
        }
        self.buf.push(b']');
        Ok(())
    }

    /// Item `i` of this connection.
    fn node<N: Leaf>(
        &mut self,
        i: usize,
        node: &N,
        plan: &[(Name, NodeField<'_, N::Field>)],
    ) -> Result<(), Bail> {
        self.object(plan, |out, field| match field {
            NodeField::Typename => out.put(&*N::type_name()),
            NodeField::Value(f) => out.scalar(node.value(out.env, *f)),
            NodeField::Object(f, sub) => out.object_value(node.value(out.env, *f), sub),
            NodeField::Children(field) => {
                let (_, texts) = out
                    .children
                    .iter()
                    .find(|(f, _)| std::ptr::eq(*f, *field))
                    .ok_or(Bail)?;
                let text = texts.get(out.offset + i).ok_or(Bail)?;
                out.buf.extend_from_slice(text);
                Ok(())
            }
        })
    }

    fn object_value(&mut self, value: Scalar<'_>, sub: &[(Name, SubField)]) -> Result<(), Bail> {
        match value {
            Scalar::Null => self.put(&()),
            Scalar::Money(m) => self.money(Amount::Text(&m.amount), &m.currency_code, sub),
            Scalar::Minor(minor, currency) => self.money(Amount::Minor(minor), currency, sub),
            Scalar::Object(typename, mut fields) => self.object(sub, |out, field| match field {
                SubField::Typename => out.put(typename),
                SubField::Named(name, sub) => {
                    let at = fields.iter().position(|(n, _)| *n == name.as_str());
                    let (_, value) = fields.swap_remove(at.ok_or(Bail)?);
                    out.field_value(value, sub)
                }
            }),
            Scalar::Fields(typename, fields) => self.object(sub, |out, field| match field {
                SubField::Typename => out.put(typename),
                SubField::Named(name, sub) => out.field_value(fields(name).ok_or(Bail)?, sub),
            }),
            _ => Err(Bail),
        }
    }

    /// A field of an object value: a scalar, or an object with its selection.
    fn field_value(&mut self, value: Scalar<'_>, sub: &[(Name, SubField)]) -> Result<(), Bail> {
        if sub.is_empty() {
            self.scalar(value)
        } else {
            self.object_value(value, sub)
        }
    }

    fn money(
        &mut self,
        amount: Amount<'_>,
        currency: &str,
        sub: &[(Name, SubField)],
    ) -> Result<(), Bail> {
        self.object(sub, |out, field| match field {
            SubField::Typename => out.put(&*<Money as OutputType>::type_name()),
            SubField::Named(name, sub) if sub.is_empty() => match name.as_str() {
                "amount" => match amount {
                    Amount::Text(text) => out.put(text),
                    // Digits, a point and a sign: nothing to escape.
                    Amount::Minor(minor) => {
                        out.buf.push(b'"');
                        crate::domain::money::write_minor(&mut out.buf, minor, currency);
                        out.buf.push(b'"');
                        Ok(())
                    }
                },
                "currencyCode" => out.put(currency),
                _ => Err(Bail),
            },
            SubField::Named(..) => Err(Bail),
        })
    }

    fn scalar(&mut self, value: Scalar<'_>) -> Result<(), Bail> {
        match value {
            Scalar::Str(s) => self.put(s),
            Scalar::Int(n) => self.put(&n),
            Scalar::Bool(b) => self.put(&b),
            Scalar::Null => self.put(&()),
            Scalar::Value(v) => self.put(&v),
            // `gid://c360/Kind/n` and RFC 3339: nothing to escape.
            Scalar::Id(kind, id) => {
                self.buf.push(b'"');
                crate::domain::ids::write_gid(&mut self.buf, kind, id);
                self.buf.push(b'"');
                Ok(())
            }
            Scalar::Time(at) => {
                self.buf.push(b'"');
                self.buf.extend_from_slice(at.to_rfc3339().as_bytes());
                self.buf.push(b'"');
                Ok(())
            }
            Scalar::Name(name) => {
                write_name(&mut self.buf, name);
                Ok(())
            }
            // An object selected without fields cannot pass validation.
            Scalar::Money(_) | Scalar::Minor(..) | Scalar::Object(..) | Scalar::Fields(..) => {
                Err(Bail)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{Response, ServerError};

    /// The response writer writes what async-graphql's serialiser writes,
    /// spliced texts, escapes, numbers, extensions and errors included.
    #[test]
    fn responses_are_written_as_serde_writes_them() {
        let spliced = r#"{"edges":[{"node":{"sku":"LIP-001","name":"Rosé \"matte\"\n"}}]}"#;
        let mut customer = async_graphql::indexmap::IndexMap::new();
        customer.insert(Name::new("id"), Value::String("Q3VzdG9tZXI6MQ==".into()));
        customer.insert(Name::new("orders"), raw(spliced.to_owned()));
        customer.insert(
            Name::new("tags"),
            Value::List(vec![Value::String("vip\t\u{1F600}".into()), Value::Null]),
        );
        customer.insert(Name::new("points"), Value::Number((-42).into()));
        customer.insert(Name::new("ratio"), Value::from(0.25));
        customer.insert(Name::new("verified"), Value::Boolean(true));
        // A `JSON` scalar's object: its keys are any text.
        let mut data = async_graphql::indexmap::IndexMap::new();
        data.insert(Name::new("say \"hi\"\n\u{7}"), Value::Number(1.into()));
        data.insert(Name::new("plain_key9"), Value::Null);
        customer.insert(Name::new("data"), Value::Object(data));
        customer.insert(Name::new("tier"), Value::Enum(Name::new("GOLD")));
        let mut data = async_graphql::indexmap::IndexMap::new();
        data.insert(Name::new("customer"), Value::Object(customer));
        let mut response = Response::new(Value::Object(data));
        assert_eq!(
            response_json(&response).expect("written"),
            serde_json::to_string(&response).expect("serialised")
        );
        response
            .extensions
            .insert("cost".into(), Value::Number(12.into()));
        response.errors.push(ServerError::new("not allowed", None));
        let written = response_json(&response).expect("written");
        assert_eq!(
            written,
            serde_json::to_string(&response).expect("serialised")
        );
        let parsed: serde_json::Value = serde_json::from_str(&written).expect("JSON");
        assert_eq!(
            parsed["data"]["customer"]["orders"]["edges"][0]["node"]["name"],
            "Rosé \"matte\"\n"
        );
        assert_eq!(parsed["errors"][0]["message"], "not allowed");
    }
}
