//! Privacy requests (STAFF or `privacy:write`): a customer's data export and
//! erasure. The rules live in `service::privacy`; access in `auth`.

use async_graphql::{Context, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::{identity, state};
use super::ids::{Kind, decode, encode};
use crate::auth::require_privacy;
use crate::error::AppError;
use crate::service::{audit, privacy};

fn not_found(id: &ID) -> AppError {
    AppError::NotFound(format!("no customer has the id `{}`", id.as_str()))
}

#[derive(Default)]
pub struct PrivacyQuery;

#[Object]
impl PrivacyQuery {
    /// Every record the store holds on the customer, one array per table, as
    /// one JSON document. STAFF or `privacy:write`; audited.
    async fn customer_data_export(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Json<serde_json::Value>> {
        let principal = require_privacy(identity(ctx))?;
        let customer_id = decode("id", Kind::Customer, &id)?;
        let app = state(ctx)?;
        // The primary, not a replica: the export is audited as it is read,
        // and must hold every write made before the request.
        let db = &app.store.conn;
        let document = privacy::export(db, customer_id, app.clock.now())
            .await?
            .ok_or_else(|| not_found(&id))?;
        audit::record(
            db,
            principal,
            "customer.export",
            id.as_str(),
            Some(customer_id),
            serde_json::json!({}),
            app.clock.now(),
        )
        .await?;
        Ok(Json(document))
    }
}

/// The outcome of an erasure.
#[derive(SimpleObject)]
pub struct CustomerErasePayload {
    /// The erased customer; its orders and figures remain, anonymous.
    pub customer_id: ID,
    pub erased_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct PrivacyMutation;

#[Object]
impl PrivacyMutation {
    /// Irreversibly removes or redacts the customer's personal data in every
    /// table, in one transaction, keeping anonymous orders and metrics so
    /// aggregates stay right. STAFF or `privacy:write`; audited.
    async fn customer_erase(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<CustomerErasePayload> {
        let principal = require_privacy(identity(ctx))?;
        let customer_id = decode("id", Kind::Customer, &id)?;
        let target = encode(Kind::Customer, customer_id);
        let app = state(ctx)?;
        let db = &app.store.conn;
        let erased_at =
            privacy::erase(db, principal, customer_id, target.as_str(), app.clock.now())
                .await?
                .ok_or_else(|| not_found(&id))?;
        Ok(CustomerErasePayload {
            customer_id: target,
            erased_at,
        })
    }
}
