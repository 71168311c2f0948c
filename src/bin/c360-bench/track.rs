//! `segment-track`: the README's four-clause segment ([`SEGMENT`]) tracked
//! over the data set, each evaluation timed in-process, with no HTTP in
//! between (`service::segments::tracking`, the code a scheduler pass runs):
//!
//! 1. `fill`: `segmentCreate(tracked: true)`, which keeps the current
//!    members and tells nobody;
//! 2. `unchanged`: a pass over the same data (what every pass costs while
//!    nothing moves);
//! 3. `exits`: half the members (even ids) tagged `wholesale`, which the
//!    segment excludes, then a pass: each is told `segment.exited`;
//! 4. `swap`: those tags moved to the other half, then a pass: half are
//!    told `segment.entered`, the other half `segment.exited`.
//!
//! Tagging happens between the timed passes, straight in `customer_tags`.
//! Afterwards the tags added are removed and the segment deleted; the
//! events stay in the outbox (a few thousand rows), so the data set is the
//! seed's but for them.

use std::fmt;
use std::time::Instant;

use c360::auth::{Principal, Role};
use c360::config::Config;
use c360::domain::Clock;
use c360::segment::Env;
use c360::service::segments::{self, Evaluation, SegmentFields, tracking};
use c360_entity::{customer_tag, segment_member};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::StoreKind;
use crate::scenario::SEGMENT;
use crate::store::Prepared;

/// The tag the segment excludes.
const TAG: &str = "wholesale";

/// Rows per tag insert or delete.
const CHUNK: usize = 1_000;

/// One timed evaluation.
pub struct Step {
    pub store: StoreKind,
    pub name: &'static str,
    pub members: u64,
    pub entered: u64,
    pub exited: u64,
    pub secs: f64,
}

pub const HEADER: &str = "| store | step | members after | entered | exited | time ms | events/s |\n|---|---|---:|---:|---:|---:|---:|";

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = match self.store {
            StoreKind::Sqlite => "SQLite",
            StoreKind::Postgres => "PostgreSQL",
        };
        let told = self.entered + self.exited;
        let rate = if told == 0 {
            "–".to_owned()
        } else {
            format!("{:.0}", told as f64 / self.secs)
        };
        write!(
            f,
            "| {store} | {} | {} | {} | {} | {:.0} | {rate} |",
            self.name,
            self.members,
            self.entered,
            self.exited,
            self.secs * 1000.0
        )
    }
}

pub async fn run(prepared: &Prepared) -> anyhow::Result<Vec<Step>> {
    let store = prepared.connect(2).await?;
    let db = &store.conn;
    let config = Config::for_store(&prepared.url);
    let env = || {
        Env::at(
            Clock::system().now(),
            config.timezone,
            &config.base_currency,
        )
    };
    let staff = Principal {
        role: Role::Staff,
        subject: "c360-bench".to_owned(),
        scopes: Default::default(),
    };
    let name = "c360-bench segment-track";
    // A run that stopped half-way left its segment behind.
    if let Some(old) = c360_entity::segment::Entity::find()
        .filter(c360_entity::segment::Column::Name.eq(name))
        .one(db)
        .await?
    {
        segments::delete(db, &staff, old.id, Clock::system().now()).await?;
    }
    let mut steps = Vec::new();
    let mut record = |name, members: Vec<i64>, done: Evaluation, secs: f64| {
        steps.push(Step {
            store: prepared.kind,
            name,
            members: members.len() as u64,
            entered: done.entered,
            exited: done.exited,
            secs,
        });
        members
    };

    let fields = SegmentFields {
        name: Some(name.to_owned()),
        query: Some(SEGMENT.to_owned()),
        tracked: Some(true),
        ..Default::default()
    };
    let started = Instant::now();
    let saved = segments::create(db, &staff, fields, &env(), Clock::system().now()).await?;
    let secs = started.elapsed().as_secs_f64();
    let members = record(
        "fill",
        kept(db, saved.id).await?,
        Evaluation::default(),
        secs,
    );

    let evaluate = |step: &'static str| {
        let (id, env) = (saved.id, env());
        async move {
            let started = Instant::now();
            let done = tracking::evaluate(db, id, &env, Clock::system().now())
                .await?
                .ok_or_else(|| anyhow::anyhow!("the {step} pass found no tracked segment"))?;
            Ok::<_, anyhow::Error>((done, started.elapsed().as_secs_f64()))
        }
    };
    let (done, secs) = evaluate("unchanged").await?;
    record("unchanged", kept(db, saved.id).await?, done, secs);

    let (even, odd): (Vec<i64>, Vec<i64>) = members.iter().partition(|&&c| c % 2 == 0);
    tag(db, &even).await?;
    let (done, secs) = evaluate("exits").await?;
    record("exits", kept(db, saved.id).await?, done, secs);

    untag(db, &even).await?;
    tag(db, &odd).await?;
    let (done, secs) = evaluate("swap").await?;
    record("swap", kept(db, saved.id).await?, done, secs);

    untag(db, &odd).await?;
    segments::delete(db, &staff, saved.id, Clock::system().now()).await?;
    store.conn.close().await?;
    Ok(steps)
}

/// The kept members of segment `id`, by id.
async fn kept(db: &DatabaseConnection, id: i64) -> anyhow::Result<Vec<i64>> {
    Ok(segment_member::Entity::find()
        .select_only()
        .column(segment_member::Column::CustomerId)
        .filter(segment_member::Column::SegmentId.eq(id))
        .order_by_asc(segment_member::Column::CustomerId)
        .into_tuple()
        .all(db)
        .await?)
}

async fn tag(db: &DatabaseConnection, customers: &[i64]) -> anyhow::Result<()> {
    for chunk in customers.chunks(CHUNK) {
        let rows = chunk.iter().map(|&c| customer_tag::ActiveModel {
            customer_id: sea_orm::Set(c),
            tag: sea_orm::Set(TAG.to_owned()),
        });
        customer_tag::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

async fn untag(db: &DatabaseConnection, customers: &[i64]) -> anyhow::Result<()> {
    for chunk in customers.chunks(CHUNK) {
        customer_tag::Entity::delete_many()
            .filter(customer_tag::Column::CustomerId.is_in(chunk.iter().copied()))
            .filter(customer_tag::Column::Tag.eq(TAG))
            .exec(db)
            .await?;
    }
    Ok(())
}
