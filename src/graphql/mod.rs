//! The GraphQL schema: one module per domain, merged into one `Query`, and
//! the per-request execution that attaches the caller and its loaders.

mod clv;
mod cohorts;
mod connection;
mod context;
mod customer;
mod customer_write;
pub mod documents;
mod enums;
mod errors;
mod events;
mod federation;
mod follow_ups;
mod guard;
pub(crate) mod ids;
mod insights;
mod interests;
mod leaves;
mod limits;
mod loyalty;
pub(crate) mod money;
mod node;
mod nps;
mod order;
mod privacy;
mod referral;
mod review;
mod segment;
mod stats;
mod store_credit;
pub mod subscription;
mod ticket;
pub mod trusted;
pub mod validated;
mod webhooks;
mod year_review;

use std::sync::atomic::{AtomicU32, Ordering};

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{MergedObject, Name, Schema, SchemaBuilder};

use crate::app::AppState;
use crate::auth::{CustomerScope, Identity, may_introspect, visible_customer_ids};
use crate::error::AppError;
use crate::read::combine::Combiner;
use crate::read::driver::RequestTasks;
use crate::read::loaders::Loaders;

pub use crate::read::pagination::MAX_PAGE_SIZE;
pub use errors::{Outcome, classify};
pub use leaves::response_json;
pub use limits::{DocumentLimits, check_document, count_tokens};
pub use money::Money;

// Every read. The federation part stays last: async-graphql asks the parts
// for an entity from the last one up, and this one answers every `_entities`
// representation itself (see `federation`).
#[derive(MergedObject, Default)]
pub struct Query(
    customer::CustomerQuery,
    node::NodeQuery,
    privacy::PrivacyQuery,
    segment::SegmentQuery,
    segment::SavedSegmentQuery,
    insights::InsightsQuery,
    cohorts::CohortsQuery,
    review::ReviewSummaryQuery,
    events::EventsQuery,
    events::EventCatalogueQuery,
    follow_ups::FollowUpQuery,
    webhooks::WebhookQuery,
    federation::FederationQuery,
);

/// Every write, one object per domain.
#[derive(MergedObject, Default)]
pub struct Mutation(
    order::OrderMutation,
    loyalty::LoyaltyMutation,
    store_credit::StoreCreditMutation,
    customer_write::CustomerMutation,
    ticket::TicketMutation,
    follow_ups::FollowUpMutation,
    review::ReviewMutation,
    nps::NpsMutation,
    referral::ReferralMutation,
    privacy::PrivacyMutation,
    segment::SegmentMutation,
    webhooks::WebhookMutation,
);

pub type C360Schema = Schema<Query, Mutation, subscription::SubscriptionRoot>;

/// The schema with c360 as an Apollo Federation v2 subgraph: `_service { sdl }`
/// serves the federation SDL (`@link`, `@key`) and `_entities` resolves the
/// entities of `federation`.
fn builder() -> SchemaBuilder<Query, Mutation, subscription::SubscriptionRoot> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        subscription::SubscriptionRoot,
    )
    .enable_federation()
    .extension(validated::ValidateOnce)
}

/// The schema the server runs, with the configured limits and the state attached.
pub fn schema(app: AppState) -> C360Schema {
    builder()
        .limit_complexity(app.config.max_complexity)
        .data(app)
        .finish()
}

/// The schema for trusted documents that have passed validation once: only
/// the checks that depend on the variables (cost, fragment cycles) run
/// again; argument values are still checked where they are read.
pub fn trusted_schema(app: AppState) -> C360Schema {
    builder()
        .limit_complexity(app.config.max_complexity)
        .validation_mode(async_graphql::ValidationMode::Fast)
        .disable_suggestions()
        .data(app)
        .finish()
}

/// The same schema for callers who may not see it: no "did you mean"
/// suggestions in errors (introspection is refused per request).
pub fn quiet_schema(app: AppState) -> C360Schema {
    builder()
        .limit_complexity(app.config.max_complexity)
        .disable_suggestions()
        .data(app)
        .finish()
}

/// The SDL clients see (what `c360 schema` prints and `schema.graphql` holds).
pub fn sdl() -> String {
    // With `@specifiedBy`, as introspection reports it (graphql-js's
    // `buildClientSchema` keeps it, so the two compare equal).
    builder()
        .finish()
        .sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}

/// Runs one GraphQL request as `identity`, within the request deadline.
/// `schema` is the one the caller may see; see [`quiet_schema`]. For a
/// trusted document, `trusted` is the schema it runs on once it has passed
/// full validation; see [`trusted_schema`].
pub async fn execute(
    schema: &C360Schema,
    trusted: Option<&C360Schema>,
    app: &AppState,
    identity: Identity,
    request: async_graphql::Request,
) -> async_graphql::Response {
    execute_naming(schema, trusted, app, identity, request)
        .await
        .0
}

/// [`execute`], and the name of the operation that ran when the request
/// gave none and the document's one operation is named: what the access
/// log calls it.
pub async fn execute_naming(
    schema: &C360Schema,
    trusted: Option<&C360Schema>,
    app: &AppState,
    identity: Identity,
    mut request: async_graphql::Request,
) -> (async_graphql::Response, Option<Name>) {
    let scope = customer_scope(&identity);
    let checked_doc = match admit_document(app, &identity, &mut request) {
        Ok(checked) => checked,
        Err(refused) => return (error_response(&refused), None),
    };
    let named = match request.operation_name {
        None => checked_doc.as_ref().and_then(|c| c.sole_operation.clone()),
        Some(_) => None,
    };
    // Where the request reads, chosen once: a query may read a replica.
    let operation = checked_doc
        .as_ref()
        .and_then(|c| operation_type(&c.doc, request.operation_name.as_deref()));
    let reader = app.reader(&identity, operation == Some(OperationType::Query));
    let tasks = match reader.0.backend() {
        sea_orm::DatabaseBackend::Postgres => {
            RequestTasks::combining(Combiner::new(reader.0.clone()))
        }
        _ => RequestTasks::default(),
    };
    let loaders = Loaders::new(
        &reader.0.conn,
        &app.store.conn,
        scope,
        &tasks,
        app.config.loader_delay,
        &app.clock,
        &app.rules,
    );
    let pii_reads = context::PiiReads::default();
    let request = request
        .data(identity.clone())
        .data(loaders)
        .data(pii_reads.clone())
        .data(reader);
    let validated = checked_doc
        .as_ref()
        .is_some_and(|c| c.validated.load(Ordering::Relaxed));
    let schema = match trusted {
        Some(fast) if validated => fast,
        _ => schema,
    };
    // A document validated before with variables of the same shape is not
    // validated again; see `validated`. The trusted schema's lighter
    // validation is kept too: it reads of the variables only what the key
    // holds (the page sizes its cost adds up), and a trusted document always
    // runs on that schema once it has passed in full.
    let validation = match &checked_doc {
        Some(checked) => validated::variables_key(
            &checked.doc,
            request.operation_name.as_deref(),
            &request.variables,
        )
        .map(|key| (checked.clone(), key)),
        _ => None,
    };
    let outcome = validated::Outcome::default();
    let request = match &validation {
        Some((checked, key)) => match checked.validations.get(key) {
            Some(result) => request.data(validated::Prevalidated(result)),
            None => request.data(outcome.clone()),
        },
        None => request,
    };
    let deadline = app.config.request_timeout;
    let run = async {
        let _slot = app.executions.acquire().await;
        if let Some(combiner) = tasks.combiner() {
            let running = app.executions.running();
            let combine = app.config.combine_pages;
            combiner.set_active(combine.combines(running.into()));
            combiner.set_split(combine.splits(running.into()));
        }
        tasks.drive(schema.execute(request)).await
    };
    let ran = tokio::time::timeout(deadline, run).await;
    if operation == Some(OperationType::Mutation) {
        // The caller's next reads must see what it wrote.
        app.wrote(&identity);
    }
    if let (Some((checked, key)), Some(result)) = (validation, outcome.result()) {
        checked.validations.keep(key, result);
    }
    let mut response = match ran {
        Ok(mut response) => {
            explain_limits(&mut response, &app.config);
            // Executed, so the document passed validation: a trusted one
            // need not be validated in full again.
            if let (Some(_), Some(checked)) = (trusted, &checked_doc)
                && response.data != async_graphql::Value::Null
            {
                checked.validated.store(true, Ordering::Relaxed);
            }
            response
        }
        Err(_) => {
            let timeout = AppError::Timeout(deadline.as_millis() as u64);
            return (error_response(&timeout), named);
        }
    };
    audit_pii_reads(app, &identity, pii_reads.take(), &mut response).await;
    (response, named)
}

/// Whose records the caller may read. Anonymous callers read nothing; the
/// guards say so before any loader runs.
fn customer_scope(identity: &Identity) -> CustomerScope {
    match identity {
        Identity::Authenticated(p) => visible_customer_ids(p),
        Identity::Anonymous => CustomerScope::Only(0),
    }
}

/// Checks the document against the limits (cached by text) and the
/// introspection rule, and hands the parsed document to the request; the
/// error that refuses it otherwise.
fn admit_document(
    app: &AppState,
    identity: &Identity,
    request: &mut async_graphql::Request,
) -> Result<Option<std::sync::Arc<documents::Checked>>, AppError> {
    let limits = DocumentLimits::from_config(&app.config);
    match app
        .documents
        .check(&request.query, request.operation_name.as_deref(), &limits)
    {
        Ok(Some(checked))
            if checked.introspection
                && !may_introspect(identity, &app.config.introspection_audiences()) =>
        {
            Err(AppError::Forbidden(
                "introspection is not available to this caller; use the published schema.graphql"
                    .into(),
            ))
        }
        Ok(Some(checked)) => {
            request.set_parsed_query(checked.doc.clone());
            Ok(Some(checked))
        }
        Ok(None) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Writes the `pii.read` audit rows of the customers whose PII `response`
/// shows a caller whose reads are audited. Unaudited PII must not leave:
/// if the rows cannot be written, the data is withheld.
async fn audit_pii_reads(
    app: &AppState,
    identity: &Identity,
    customers: Vec<i64>,
    response: &mut async_graphql::Response,
) {
    let Identity::Authenticated(principal) = identity else {
        return;
    };
    if customers.is_empty() {
        return;
    }
    let reads: Vec<(i64, String)> = customers
        .into_iter()
        .map(|id| (id, ids::encode(ids::Kind::Customer, id).to_string()))
        .collect();
    if let Err(err) =
        crate::service::audit::record_pii_reads(&app.store.conn, principal, &reads, app.clock.now())
            .await
    {
        *response = error_response(&err);
    }
}

/// Runs one operation sent over WebSocket as `identity`: a subscription's
/// responses as its events come, or a query's or mutation's single one.
/// The document limits, introspection rule and PII audit are those of
/// [`execute`]; there is no deadline, since a subscription lasts as long
/// as the client wants it.
pub fn subscribe(
    schema: &C360Schema,
    app: &AppState,
    identity: Identity,
    request: async_graphql::Request,
) -> futures_util::stream::BoxStream<'static, async_graphql::Response> {
    use futures_util::StreamExt;
    let scope = customer_scope(&identity);
    // Everything over WebSocket reads the primary, which the feed follows.
    let tasks = RequestTasks::default();
    let loaders = Loaders::new(
        &app.store.conn,
        &app.store.conn,
        scope,
        &tasks,
        app.config.loader_delay,
        &app.clock,
        &app.rules,
    );
    let pii_reads = context::PiiReads::default();
    let mut request = request
        .data(identity.clone())
        .data(loaders)
        .data(pii_reads.clone());
    let mutation = match admit_document(app, &identity, &mut request) {
        Ok(checked) => checked.is_some_and(|c| {
            operation_type(&c.doc, request.operation_name.as_deref())
                == Some(OperationType::Mutation)
        }),
        Err(refused) => {
            let refused = error_response(&refused);
            return futures_util::stream::once(async { refused }).boxed();
        }
    };
    let app = app.clone();
    // Loader batches run while the stream is polled for its next response,
    // as `execute` drives them for a single one.
    let responses =
        futures_util::stream::unfold(schema.execute_stream(request), move |mut responses| {
            let tasks = tasks.clone();
            async move {
                tasks
                    .drive(responses.next())
                    .await
                    .map(|response| (response, responses))
            }
        });
    responses
        .then(move |mut response| {
            let (app, identity, pii_reads) = (app.clone(), identity.clone(), pii_reads.clone());
            async move {
                explain_limits(&mut response, &app.config);
                if mutation {
                    app.wrote(&identity);
                }
                audit_pii_reads(&app, &identity, pii_reads.take(), &mut response).await;
                response
            }
        })
        .boxed()
}

/// The type of the operation a document runs: the one named, or the first
/// (the executor refuses an unnamed choice among several).
fn operation_type(doc: &ExecutableDocument, name: Option<&str>) -> Option<OperationType> {
    doc.operations
        .iter()
        .find(|(op, _)| match (name, op) {
            (Some(wanted), Some(op)) => wanted == op.as_str(),
            (None, _) => true,
            (Some(_), None) => false,
        })
        .map(|(_, op)| op.node.ty)
}

/// Slots for executing GraphQL requests. A request waits for one after its
/// document is checked and before any resolver runs, so requests beyond the
/// limit hold nothing but their parsed document; the wait counts against the
/// request's deadline.
#[derive(Debug)]
pub struct Executions {
    slots: tokio::sync::Semaphore,
    max: u32,
    waiting: AtomicU32,
}

impl Executions {
    pub fn new(max: u32) -> Executions {
        Executions {
            slots: tokio::sync::Semaphore::new(max as usize),
            max,
            waiting: AtomicU32::new(0),
        }
    }

    async fn acquire(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        // Counted down on drop, also when the deadline cancels the wait.
        struct Waiting<'a>(&'a AtomicU32);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        // The semaphore is never closed; were it, running unbounded beats failing.
        self.slots.acquire().await.ok()
    }

    /// Requests executing now.
    pub fn running(&self) -> u32 {
        self.max
            .saturating_sub(self.slots.available_permits() as u32)
    }

    /// Requests waiting for a slot.
    pub fn waiting(&self) -> u32 {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// A response that is one coded error and no data.
fn error_response(err: &AppError) -> async_graphql::Response {
    async_graphql::Response::from_errors(vec![err.to_server_error()])
}

/// async-graphql words its cost refusal without the limit; say which limit
/// was hit and what to change. (Depth is checked with the document's other
/// limits, in `limits`.)
fn explain_limits(response: &mut async_graphql::Response, config: &crate::config::Config) {
    for err in &mut response.errors {
        let message = match err.message.as_str() {
            "Query is too complex." => format!(
                "the query costs more than {}: every field costs 1 and a list costs its page size \
                 (`first`, default 20) times what each element selects; ask for smaller pages or fewer nested lists",
                config.max_complexity
            ),
            _ => continue,
        };
        err.message = message;
        err.extensions
            .get_or_insert_with(Default::default)
            .set("code", "QUERY_TOO_COMPLEX");
    }
}
