//! What a resolver needs from the request: the caller, the loaders and the
//! state, fetched without `unwrap` so a missing piece is an error, not a panic.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use async_graphql::{Context, context::ContextBase};
use sea_orm::DatabaseConnection;

use crate::app::AppState;
pub use crate::auth::sees_pii;
use crate::auth::{
    CustomerScope, Domain, Identity, Principal, audits_pii_read, require_domain,
    visible_customer_ids,
};
use crate::db::replicas::Reader;
use crate::error::AppError;
use crate::read::loaders::Loaders;

pub fn identity<'a, T>(ctx: &ContextBase<'a, T>) -> &'a Identity {
    ctx.data_opt::<Identity>().unwrap_or(&Identity::Anonymous)
}

/// The caller, once it is allowed to read `domain`.
pub fn authorize<'a>(ctx: &Context<'a>, domain: Domain) -> async_graphql::Result<&'a Principal> {
    Ok(require_domain(identity(ctx), domain)?)
}

pub fn loaders<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Loaders> {
    ctx.data::<Loaders>()
        .map_err(|_| AppError::Internal(anyhow::anyhow!("request loaders missing")).into())
}

pub fn state<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a AppState> {
    ctx.data::<AppState>()
        .map_err(|_| AppError::Internal(anyhow::anyhow!("application state missing")).into())
}

/// The connection the request reads from, chosen once by `App::reader`: a
/// replica for a query when one is in use, else the primary. Operations
/// over WebSocket carry none and read the primary.
pub fn reader<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a DatabaseConnection> {
    match ctx.data_opt::<Reader>() {
        Some(reader) => Ok(&reader.0.conn),
        None => Ok(&state(ctx)?.store.conn),
    }
}

pub fn scope_of(principal: &Principal) -> CustomerScope {
    visible_customer_ids(principal)
}

/// The customers whose PII one request showed unmasked to a caller whose reads
/// are audited; written as `pii.read` rows, in one statement, when it ends.
#[derive(Clone, Default)]
pub struct PiiReads(Arc<Mutex<BTreeSet<i64>>>);

impl PiiReads {
    /// The customers noted so far, forgetting them: a request audits them
    /// as it answers, a subscription as it sends each event.
    pub fn take(&self) -> Vec<i64> {
        let mut set = match self.0.lock() {
            Ok(set) => set,
            Err(poisoned) => poisoned.into_inner(),
        };
        std::mem::take(&mut *set).into_iter().collect()
    }
}

/// Notes that `principal` read customer `customer_id`'s PII unmasked.
pub fn note_pii_read<T>(ctx: &ContextBase<'_, T>, principal: &Principal, customer_id: i64) {
    if !audits_pii_read(principal) {
        return;
    }
    if let Ok(reads) = ctx.data::<PiiReads>() {
        match reads.0.lock() {
            Ok(mut set) => set.insert(customer_id),
            Err(poisoned) => poisoned.into_inner().insert(customer_id),
        };
    }
}

/// Checks that the caller may write `domain` and opens the write's transaction.
pub use crate::service::Write;

pub async fn begin_write<'a>(
    ctx: &Context<'a>,
    domain: Domain,
) -> async_graphql::Result<Write<'a>> {
    let principal = crate::auth::require_domain_write(identity(ctx), domain)?;
    let app = state(ctx)?;
    Ok(Write::begin(&app.store.conn, principal, &app.rules, &app.clock).await?)
}
