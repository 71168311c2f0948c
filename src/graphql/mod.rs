//! The GraphQL schema: one module per domain, merged into one `Query`, and
//! the per-request execution that attaches the caller and its loaders.

mod connection;
mod context;
mod customer;
mod driver;
mod enums;
mod errors;
mod guard;
mod ids;
mod limits;
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

use async_graphql::{EmptyMutation, EmptySubscription, MergedObject, Schema, SchemaBuilder};

use crate::app::AppState;
use crate::auth::{CustomerScope, Identity, visible_customer_ids};
use crate::error::AppError;

pub use errors::{Outcome, classify};
pub use limits::{DocumentLimits, check_document, count_tokens};
pub use money::Money;
pub use pagination::MAX_PAGE_SIZE;

#[derive(MergedObject, Default)]
pub struct Query(customer::CustomerQuery, node::NodeQuery);

pub type C360Schema = Schema<Query, EmptyMutation, EmptySubscription>;

fn builder() -> SchemaBuilder<Query, EmptyMutation, EmptySubscription> {
    Schema::build(Query::default(), EmptyMutation, EmptySubscription)
}

/// The schema the server runs, with the configured limits and the state attached.
pub fn schema(app: AppState) -> C360Schema {
    builder()
        .limit_depth(app.config.max_depth)
        .limit_complexity(app.config.max_complexity)
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
    let mut request = request.data(identity).data(loaders);
    let limits = DocumentLimits::from_config(&app.config);
    match check_document(&request.query, request.operation_name.as_deref(), &limits) {
        Ok(Some(doc)) => request.set_parsed_query(doc),
        Ok(None) => {}
        Err(err) => return error_response(&err),
    }
    let deadline = app.config.request_timeout;
    match tokio::time::timeout(deadline, tasks.drive(schema.execute(request))).await {
        Ok(mut response) => {
            explain_limits(&mut response, &app.config);
            response
        }
        Err(_) => error_response(&AppError::Timeout(deadline.as_millis() as u64)),
    }
}

/// A response that is one coded error and no data.
fn error_response(err: &AppError) -> async_graphql::Response {
    async_graphql::Response::from_errors(vec![
        async_graphql::ErrorExtensions::extend(err)
            .into_server_error(async_graphql::Pos::default()),
    ])
}

/// async-graphql words its depth and cost refusals without the limits; say
/// which limit was hit and what to change.
fn explain_limits(response: &mut async_graphql::Response, config: &crate::config::Config) {
    for err in &mut response.errors {
        let message = match err.message.as_str() {
            "Query is too complex." => format!(
                "the query costs more than {}: every field costs 1 and a list costs its page size \
                 (`first`, default 20) times what each element selects; ask for smaller pages or fewer nested lists",
                config.max_complexity
            ),
            "Query is nested too deep." => format!(
                "the query is nested deeper than {} levels",
                config.max_depth
            ),
            _ => continue,
        };
        err.message = message;
        err.extensions
            .get_or_insert_with(Default::default)
            .set("code", "QUERY_TOO_COMPLEX");
    }
}
