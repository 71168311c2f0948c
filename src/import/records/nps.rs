//! NPS records: a survey tool's answers, found by `externalRef`, so an
//! edited answer updates the one imported before.

use c360_entity::enums::NpsChannel;
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::Deserialize;

use super::{Context, Record, id_text, required};
use crate::error::AppResult;
use crate::service::{Outcome, nps};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NpsRecord {
    external_ref: Option<String>,
    #[serde(default, deserialize_with = "id_text")]
    customer_id: Option<String>,
    customer_email: Option<String>,
    customer_external_ref: Option<String>,
    customer_external_source: Option<String>,
    score: Option<i32>,
    comment: Option<String>,
    channel: Option<NpsChannel>,
    created_at: Option<DateTime<Utc>>,
}

impl Record for NpsRecord {
    async fn write(self, db: &impl ConnectionTrait, ctx: &Context) -> AppResult<Outcome> {
        let customer_id = customer_ref!(self).resolve(db, ctx).await?;
        nps::import(
            db,
            &ctx.rules,
            &ctx.principal,
            nps::ImportedAnswer {
                external_ref: required("externalRef", self.external_ref)?,
                customer_id,
                score: required("score", self.score)?,
                comment: self.comment,
                channel: self.channel.unwrap_or(NpsChannel::Email),
                created_at: ctx.past("createdAt", self.created_at)?,
            },
            ctx.now,
        )
        .await
    }
}
