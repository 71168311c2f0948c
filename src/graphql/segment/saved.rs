//! Saved segments: the `Segment` object (its members, count and figures),
//! the `segments`/`segment` roots and the writes that save them.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};
use c360_entity::segment;
use chrono::{DateTime, Utc};

use super::stats::SegmentStatistics;
use super::{members_page, segment_env};
use crate::auth::{Domain, require_domain_write};
use crate::domain::money::minor_digits;
use crate::error::AppError;
use crate::graphql::connection::{Conn, keyset};
use crate::graphql::context::{authorize, identity, sees_pii, state};
use crate::graphql::customer::Customer;
use crate::graphql::ids::{Kind, decode, encode};
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

    /// Current members, by ascending id.
    async fn members(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Customer>> {
        authorize(ctx, Domain::Customers)?;
        let matching = self.members_matching(ctx)?;
        members_page(ctx, matching, first, after).await
    }

    /// Number of current members (one statement).
    async fn count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        let matching = self.members_matching(ctx)?;
        let db = &state(ctx)?.store.conn;
        Ok(customers::count(db, &matching).await?)
    }

    /// Aggregates over the current members, in one statement.
    async fn statistics(&self, ctx: &Context<'_>) -> async_graphql::Result<SegmentStatistics> {
        let matching = self.members_matching(ctx)?;
        let st = state(ctx)?;
        let figures = segments::figures(&st.store.conn, &matching).await?;
        Ok(SegmentStatistics::new(figures, &st.config.base_currency))
    }
}

impl Segment {
    /// The members, as of today by the app's clock.
    fn members_matching(&self, ctx: &Context<'_>) -> async_graphql::Result<Matching> {
        let principal = authorize(ctx, Domain::Segments)?;
        let env = segment_env(ctx, None)?;
        Ok(Matching::segment(&self.0.query, sees_pii(principal), &env)?)
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
        let db = &state(ctx)?.store.conn;
        let rows = segments::saved(db, &page).await?;
        Ok(keyset(rows, EmptyFields, Segment))
    }

    /// A saved segment by id; null when it does not exist.
    async fn segment(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Segment>> {
        authorize(ctx, Domain::Segments)?;
        let id = decode_segment_id("id", &id)?;
        let db = &state(ctx)?.store.conn;
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
}

/// Fields to change; omitted fields stay as they are.
#[derive(InputObject, Debug)]
pub struct SegmentUpdateInput {
    pub name: Option<String>,
    /// Null clears it.
    pub description: MaybeUndefined<String>,
    pub query: Option<String>,
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
        };
        let digits = minor_digits(&st.config.base_currency);
        Ok(Segment(
            service::create(&st.store.conn, principal, fields, digits, st.clock.now()).await?,
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
        };
        let digits = minor_digits(&st.config.base_currency);
        Ok(Segment(
            service::update(
                &st.store.conn,
                principal,
                id,
                fields,
                digits,
                st.clock.now(),
            )
            .await?,
        ))
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
