//! Saved segments: the `Segment` object (its members, count and figures),
//! the `segments`/`segment` roots and the writes that save them. A tracked
//! segment's members, count and figures are read from its kept membership
//! (`service::segments::tracking`), the others' from its query, now.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};
use c360_entity::segment;
use chrono::{DateTime, Utc};

use super::stats::SegmentStatistics;
use super::{Members, members_page, segment_env};
use crate::auth::{Domain, require_domain_write};
use crate::error::AppError;
use crate::graphql::connection::keyset;
use crate::graphql::context::{authorize, identity, reader, sees_pii, state};
use crate::graphql::customer::Customer;
use crate::graphql::ids::{Kind, decode, encode};
use crate::graphql::leaves::Leaves;
use crate::read::customer_filter::Matching;
use crate::read::pagination::{ById, Cursor};
use crate::read::{customers, segments};
use crate::service::segments::{self as service, SegmentFields};

fn segment_gid(id: i64) -> ID {
    encode(Kind::Segment, id)
}

fn decode_segment_id(field: &str, id: &ID) -> Result<i64, AppError> {
    decode(field, Kind::Segment, id)
}

/// A saved segment: a named query in the segment language.
pub struct Segment(segment::Model);

#[Object]
impl Segment {
    async fn id(&self) -> ID {
        segment_gid(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The query in the segment language, as saved (it was checked on save).
    async fn query(&self) -> &str {
        &self.0.query
    }
    /// Subject of the token that created it.
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// Whether its membership is kept: re-evaluated on every scheduler pass
    /// (and by `segmentRefresh`), each change told as `segment.entered` or
    /// `segment.exited`, and read by `members`, `count` and `statistics`.
    async fn tracked(&self) -> bool {
        self.0.tracked
    }
    /// When the kept membership was last evaluated; null when not tracked.
    async fn evaluated_at(&self) -> Option<DateTime<Utc>> {
        self.0.evaluated_at
    }

    /// Members by ascending id: the kept membership when tracked (as of
    /// `evaluatedAt`), else the customers the query selects now.
    async fn members(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Leaves<Customer>> {
        authorize(ctx, Domain::Customers)?;
        members_page(ctx, self.source(ctx)?, first, after).await
    }

    /// Number of members (one statement).
    async fn count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        let db = reader(ctx)?;
        Ok(match self.source(ctx)? {
            Members::Matching(matching) => customers::count(db, &matching).await?,
            Members::Kept(id) => segments::kept_count(db, id).await?,
        })
    }

    /// Aggregates over the members, in one statement.
    async fn statistics(&self, ctx: &Context<'_>) -> async_graphql::Result<SegmentStatistics> {
        let st = state(ctx)?;
        let db = reader(ctx)?;
        let figures = match self.source(ctx)? {
            Members::Matching(matching) => segments::figures(db, &matching).await?,
            Members::Kept(id) => segments::kept_figures(db, id).await?,
        };
        Ok(SegmentStatistics::new(figures, &st.config.base_currency))
    }
}

impl Segment {
    /// Whose members the segment's reads cover: the kept membership when
    /// tracked, else the query's members as of today by the app's clock.
    /// Either way the caller must be allowed to run the query (a query on
    /// `email` needs PII access).
    fn source(&self, ctx: &Context<'_>) -> async_graphql::Result<Members> {
        let principal = authorize(ctx, Domain::Segments)?;
        let env = segment_env(ctx, None)?;
        let matching = Matching::segment(&self.0.query, sees_pii(principal), &env)?;
        Ok(if self.0.tracked {
            Members::Kept(self.0.id)
        } else {
            Members::Matching(matching)
        })
    }
}

#[derive(Default)]
pub struct SavedSegmentQuery;

#[Object]
impl SavedSegmentQuery {
    /// Saved segments, by ascending id.
    async fn segments(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, Segment>> {
        authorize(ctx, Domain::Segments)?;
        let page = ById::new(first, after.as_deref())?;
        let db = reader(ctx)?;
        let rows = segments::saved(db, &page).await?;
        Ok(keyset(rows, EmptyFields, Segment))
    }

    /// A saved segment by id; null when it does not exist.
    async fn segment(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Segment>> {
        authorize(ctx, Domain::Segments)?;
        let id = decode_segment_id("id", &id)?;
        let db = reader(ctx)?;
        Ok(segments::saved_by_id(db, id).await?.map(Segment))
    }
}

/// A segment to create.
#[derive(InputObject, Debug)]
pub struct SegmentCreateInput {
    /// Unique, 1 to 120 characters.
    pub name: String,
    pub description: Option<String>,
    /// A segment query; checked on save.
    pub query: String,
    /// Keep its membership and tell each change as `segment.entered` /
    /// `segment.exited` (default false). The customers already in it are
    /// kept without being told.
    pub tracked: Option<bool>,
}

/// Fields to change; omitted fields stay as they are.
#[derive(InputObject, Debug)]
pub struct SegmentUpdateInput {
    pub name: Option<String>,
    /// Null clears it.
    pub description: MaybeUndefined<String>,
    pub query: Option<String>,
    /// Turning it on keeps the current members without telling them;
    /// turning it off drops the kept membership without telling exits.
    pub tracked: Option<bool>,
}

#[derive(Default)]
pub struct SegmentMutation;

#[Object]
impl SegmentMutation {
    /// Saves a segment (STAFF, or a partner with `segments:write`). An invalid
    /// query is `BAD_USER_INPUT` with its line, column and suggestion; a taken name `CONFLICT`.
    async fn segment_create(
        &self,
        ctx: &Context<'_>,
        input: SegmentCreateInput,
    ) -> async_graphql::Result<Segment> {
        let principal = require_domain_write(identity(ctx), Domain::Segments)?;
        let st = state(ctx)?;
        let fields = SegmentFields {
            name: Some(input.name),
            description: Some(input.description),
            query: Some(input.query),
            tracked: input.tracked,
        };
        let env = segment_env(ctx, None)?;
        Ok(Segment(
            service::create(&st.store.conn, principal, fields, &env, st.clock.now()).await?,
        ))
    }

    /// Changes a saved segment; the query is checked again.
    async fn segment_update(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: SegmentUpdateInput,
    ) -> async_graphql::Result<Segment> {
        let principal = require_domain_write(identity(ctx), Domain::Segments)?;
        let id = decode_segment_id("id", &id)?;
        let st = state(ctx)?;
        let fields = SegmentFields {
            name: input.name,
            description: match input.description {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(v) => Some(Some(v)),
            },
            query: input.query,
            tracked: input.tracked,
        };
        let env = segment_env(ctx, None)?;
        Ok(Segment(
            service::update(&st.store.conn, principal, id, fields, &env, st.clock.now()).await?,
        ))
    }

    /// Re-evaluates a tracked segment now, as the next scheduler pass would,
    /// and tells who entered and left. NOT_FOUND for an unknown segment,
    /// CONFLICT for one that is not tracked.
    async fn segment_refresh(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Segment> {
        let principal = require_domain_write(identity(ctx), Domain::Segments)?;
        let id = decode_segment_id("id", &id)?;
        let st = state(ctx)?;
        let env = segment_env(ctx, None)?;
        let (saved, _) =
            service::refresh(&st.store.conn, principal, id, &env, st.clock.now()).await?;
        Ok(Segment(saved))
    }

    /// Deletes a saved segment and returns its id.
    async fn segment_delete(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let principal = require_domain_write(identity(ctx), Domain::Segments)?;
        let raw = decode_segment_id("id", &id)?;
        service::delete(
            &state(ctx)?.store.conn,
            principal,
            raw,
            state(ctx)?.clock.now(),
        )
        .await?;
        Ok(id)
    }
}
