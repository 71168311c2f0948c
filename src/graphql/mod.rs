//! The GraphQL schema: one module per domain, merged into one `Query`, and
//! the per-request execution that attaches the caller and its loaders.

mod connection;
mod context;
mod customer;
mod customer_write;
mod driver;
mod enums;
mod errors;
mod guard;
mod ids;
mod loaders;
mod loyalty;
mod money;
mod node;
mod nps;
mod order;
mod pagination;
mod referral;
mod review;
mod stats;
mod ticket;

use async_graphql::{EmptySubscription, MergedObject, Schema, SchemaBuilder};

use crate::app::AppState;
use crate::auth::{CustomerScope, Identity, visible_customer_ids};
use crate::error::AppError;

pub use errors::{Outcome, classify};
pub use money::Money;
pub use money::minor_digits;
pub use pagination::MAX_PAGE_SIZE;

#[derive(MergedObject, Default)]
pub struct Query(customer::CustomerQuery, node::NodeQuery);

/// Every write, one object per domain.
#[derive(MergedObject, Default)]
pub struct Mutation(
    order::OrderMutation,
    loyalty::LoyaltyMutation,
    customer_write::CustomerMutation,
    ticket::TicketMutation,
    review::ReviewMutation,
    nps::NpsMutation,
    referral::ReferralMutation,
);

pub type C360Schema = Schema<Query, Mutation, EmptySubscription>;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
}

/// The schema the server runs, with the configured limits and the state attached.
pub fn schema(app: AppState) -> C360Schema {
    builder()
        .limit_depth(app.config.max_depth)
        .data(app)
        .finish()
}

/// The SDL clients see (what `c360 schema` prints and `schema.graphql` holds).
pub fn sdl() -> String {
    builder().finish().sdl()
}

/// Runs one GraphQL request as `identity`, within the request deadline.
pub async fn execute(
    schema: &C360Schema,
    app: &AppState,
    identity: Identity,
    request: async_graphql::Request,
) -> async_graphql::Response {
    let scope = match &identity {
        Identity::Authenticated(p) => visible_customer_ids(p),
        // Anonymous callers read nothing; the guards say so before any loader runs.
        Identity::Anonymous => CustomerScope::Only(0),
    };
    let tasks = driver::RequestTasks::default();
    let loaders = loaders::Loaders::new(&app.store.conn, scope, &tasks, app.config.loader_delay);
    let request = request.data(identity).data(loaders);
    let deadline = app.config.request_timeout;
    match tokio::time::timeout(deadline, tasks.drive(schema.execute(request))).await {
        Ok(response) => response,
        Err(_) => {
            let err = AppError::Timeout(deadline.as_millis() as u64);
            async_graphql::Response::from_errors(vec![
                async_graphql::ErrorExtensions::extend(&err)
                    .into_server_error(async_graphql::Pos::default()),
            ])
        }
    }
}
