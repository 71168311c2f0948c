//! Net Promoter Score answers.

use async_graphql::{Enum, ID, Object};
use c360_entity::nps_response;
use chrono::{DateTime, Utc};

use super::context::begin_write;
use super::enums::NpsChannel;
use super::ids::{Kind, decode, encode};
use super::leaves::{Env, Leaf, Scalar};
use crate::auth::Domain;
use crate::read::columns::Columns;
use crate::service::nps;

/// How an NPS answer counts: PROMOTER 9-10, PASSIVE 7-8, DETRACTOR 0-6.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::domain::nps::Category")]
pub enum NpsCategory {
    Promoter,
    Passive,
    Detractor,
}

pub struct NpsResponse(pub nps_response::Model);

#[Object]
impl NpsResponse {
    pub async fn id(&self) -> ID {
        encode(Kind::NpsResponse, self.0.id)
    }
    async fn customer_id(&self) -> ID {
        encode(Kind::Customer, self.0.customer_id)
    }
    /// 0 (not at all likely to recommend) to 10 (extremely likely).
    async fn score(&self) -> i32 {
        self.0.score
    }
    async fn category(&self) -> NpsCategory {
        crate::domain::nps::Category::of(self.0.score).into()
    }
    async fn comment(&self) -> Option<&str> {
        self.0.comment.as_deref()
    }
    async fn channel(&self) -> NpsChannel {
        self.0.channel.into()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(Clone, Copy)]
pub enum NpsResponseField {
    Id,
    CustomerId,
    Score,
    Category,
    Comment,
    Channel,
    CreatedAt,
}

impl Leaf for NpsResponse {
    type Field = NpsResponseField;
    fn field(name: &str) -> Option<NpsResponseField> {
        use NpsResponseField as F;
        Some(match name {
            "id" => F::Id,
            "customerId" => F::CustomerId,
            "score" => F::Score,
            "category" => F::Category,
            "comment" => F::Comment,
            "channel" => F::Channel,
            "createdAt" => F::CreatedAt,
            _ => return None,
        })
    }
    fn value<'a>(&'a self, _env: &'a Env<'_>, field: NpsResponseField) -> Scalar<'a> {
        use NpsResponseField as F;
        let r = &self.0;
        match field {
            F::Id => Scalar::Id(Kind::NpsResponse, r.id),
            F::CustomerId => Scalar::Id(Kind::Customer, r.customer_id),
            F::Score => Scalar::Int(r.score.into()),
            F::Category => {
                Scalar::name_of(NpsCategory::from(crate::domain::nps::Category::of(r.score)))
            }
            F::Comment => r.comment.as_deref().into(),
            F::Channel => Scalar::name_of(NpsChannel::from(r.channel)),
            F::CreatedAt => Scalar::Time(r.created_at),
        }
    }
    fn columns(fields: &[NpsResponseField]) -> Columns {
        use NpsResponseField as F;
        use nps_response::Column as C;
        let each = |field: &NpsResponseField| match field {
            F::Id => C::Id,
            F::CustomerId => C::CustomerId,
            F::Score | F::Category => C::Score,
            F::Comment => C::Comment,
            F::Channel => C::Channel,
            F::CreatedAt => C::CreatedAt,
        };
        Columns::of::<nps_response::Entity>(fields.iter().map(each))
    }
}

/// NPS writes: a CUSTOMER answers for itself, a PARTNER needs `customers:write`.
#[derive(Default)]
pub struct NpsMutation;

#[Object]
impl NpsMutation {
    /// Records an NPS answer (score 0-10, optional comment).
    async fn nps_record(
        &self,
        ctx: &async_graphql::Context<'_>,
        customer_id: ID,
        score: i32,
        comment: Option<String>,
        #[graphql(default_with = "NpsChannel::Web")] channel: NpsChannel,
    ) -> async_graphql::Result<NpsResponse> {
        let write = begin_write(ctx, Domain::Customers).await?;
        let customer = decode("customerId", Kind::Customer, &customer_id)?;
        let answer = nps::record(
            &write.txn,
            write.rules,
            write.principal,
            customer,
            score,
            comment,
            channel.into(),
            write.now,
        )
        .await?;
        write.commit(NpsResponse(answer)).await
    }
}
