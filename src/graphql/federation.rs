//! c360 as an Apollo Federation v2 subgraph: the entities a gateway may ask
//! c360 to resolve (`Customer`, `Order`, `Ticket`, `Review`, each keyed by
//! its global id) and the entities c360 only refers to (`Product`, owned by
//! a catalogue subgraph).
//!
//! async-graphql serves the protocol: `_service { sdl }` prints the schema
//! with `@link` to federation v2 and an `@key` per entity, and `_entities`
//! hands each representation to [`FederationQuery::find_entity`]. The rules
//! are `node(id)`'s, through the same lookup ([`super::node::find`]): the
//! caller must be allowed to read the kind's domain, rows outside its
//! customer scope are null, PII is masked by the same fields, and the rows of
//! one request come through its loaders (one statement per kind, however
//! many representations).
//!
//! What this module adds to async-graphql's `_entities`: a representation
//! that is not one of ours (unknown `__typename`, missing or malformed `id`,
//! an id of another kind) is `BAD_USER_INPUT` naming
//! `representations[i].<field>`, and an error that fails a representation
//! is reported for it alone (null in its slot, the error at `_entities.i`,
//! where a gateway finds whose it is) instead of failing every other
//! representation of the request with it. Errors of nullable fields inside
//! an entity (a Customer's FORBIDDEN `orders`) are async-graphql's own and
//! keep its path, `_entities.<field>`, without the index.

use std::borrow::Cow;

use async_graphql::registry::Registry;
use async_graphql::resolver_utils::ContainerType;
use async_graphql::{
    Context, ContextSelectionSet, ID, Object, ObjectType, OutputType, PathSegment, Positioned,
    ServerError, ServerResult, SimpleObject, Value, parser::types::Field,
};

use super::customer::Customer;
use super::ids::{Kind, decode, encode};
use super::node::{Node, find};
use super::order::Order;
use super::review::Review;
use super::ticket::Ticket;
use crate::error::AppError;

/// The kinds a gateway may resolve here (each has its resolver in
/// [`Entities`]); the GraphQL type of each is named as its kind.
const ENTITY_KINDS: [Kind; 4] = [Kind::Customer, Kind::Order, Kind::Ticket, Kind::Review];

/// A product, known here by its sku only: c360 records what was sold, the
/// product catalogue owns products. Through the federation gateway, the
/// catalogue answers the rest of it.
// `@key(fields: "sku", resolvable: false)`: a reference that c360 hands out
// and never resolves.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(unresolvable = "sku")]
pub struct Product {
    pub sku: String,
}

/// The federation part of `Query`: no fields of its own (async-graphql adds
/// `_service` and `_entities` to the root), only the entity lookups.
///
/// It must stay the last part of `Query`: async-graphql asks the merged
/// parts for an entity from the last one up, and the other parts answer a
/// representation without `__typename` with an error that carries no code.
#[derive(Default)]
pub struct FederationQuery(Entities);

/// The entity resolvers, as async-graphql declares them: each registers its
/// type's `@key(fields: "id")` and resolves a representation already checked
/// by [`FederationQuery::find_entity`]. One per kind of [`ENTITY_KINDS`].
/// `find` answers with the variant of the kind it is asked for, so the other
/// arms of each `match` never run.
#[derive(Default)]
struct Entities;

#[Object]
impl Entities {
    #[graphql(entity)]
    async fn customer_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<Customer>> {
        Ok(match entity(ctx, Kind::Customer, &id).await? {
            Some(Node::Customer(customer)) => Some(*customer),
            _ => None,
        })
    }

    #[graphql(entity)]
    async fn order_by_id(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Order>> {
        Ok(match entity(ctx, Kind::Order, &id).await? {
            Some(Node::Order(order)) => Some(order),
            _ => None,
        })
    }

    #[graphql(entity)]
    async fn ticket_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<Ticket>> {
        Ok(match entity(ctx, Kind::Ticket, &id).await? {
            Some(Node::Ticket(ticket)) => Some(ticket),
            _ => None,
        })
    }

    #[graphql(entity)]
    async fn review_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<Review>> {
        Ok(match entity(ctx, Kind::Review, &id).await? {
            Some(Node::Review(review)) => Some(review),
            _ => None,
        })
    }
}

/// The entity of `kind` that `id` names, exactly as `node(id)` would answer.
async fn entity(ctx: &Context<'_>, kind: Kind, id: &ID) -> async_graphql::Result<Option<Node>> {
    // Checked with its position in `find_entity`; decoded again here only
    // because async-graphql passes the resolver the raw key.
    let id = decode("id", kind, id)?;
    find(ctx, kind, id).await
}

/// Why a representation is not one of ours: the field of the representation
/// at fault (`None` for the representation as a whole) and what to change.
struct Invalid {
    field: Option<&'static str>,
    message: String,
}

impl Invalid {
    /// BAD_USER_INPUT naming the field at fault in the representation at
    /// `index` of `representations`.
    fn into_error(self, index: Option<usize>) -> ServerError {
        let at = index.map_or_else(
            || "representations".to_owned(),
            |i| format!("representations[{i}]"),
        );
        let field = match self.field {
            Some(part) => format!("{at}.{part}"),
            None => at,
        };
        AppError::bad_input(field, self.message).to_server_error()
    }
}

/// Checks that `params` is a representation c360 resolves: an object whose
/// `__typename` is one of the entity types and whose `id` is a global id of
/// that kind.
fn check(params: &Value) -> Result<(), Invalid> {
    let entities = || {
        ENTITY_KINDS
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Value::Object(fields) = params else {
        return Err(Invalid {
            field: None,
            message: "a representation is an object with `__typename` and `id`".into(),
        });
    };
    let kind = match fields.get("__typename") {
        Some(Value::String(name)) => ENTITY_KINDS
            .into_iter()
            .find(|k| k.as_str() == name)
            .ok_or_else(|| Invalid {
                field: Some("__typename"),
                message: format!(
                    "`{name}` is not an entity of this subgraph; its entities are {}",
                    entities()
                ),
            })?,
        _ => {
            return Err(Invalid {
                field: Some("__typename"),
                message: format!("`__typename` must name an entity: one of {}", entities()),
            });
        }
    };
    let Some(Value::String(id)) = fields.get("id") else {
        return Err(Invalid {
            field: Some("id"),
            message: format!(
                "`id` must be the {}'s global id as a string, e.g. `{}`",
                kind.as_str(),
                encode(kind, 42).as_str()
            ),
        });
    };
    decode("id", kind, id).map(drop).map_err(|err| Invalid {
        field: Some("id"),
        message: match err {
            AppError::BadUserInput { message, .. } => message,
            other => other.to_string(),
        },
    })
}

/// The index of `params` among the field's `representations`.
///
/// async-graphql hands `find_entity` one representation without its
/// position, so it is looked up, and only for a representation that failed:
/// the lookup reads the whole argument. Identical representations fail
/// alike; their errors all point at the first of them.
fn position(ctx: &Context<'_>, params: &Value) -> Option<usize> {
    let arguments = ctx.field().arguments().ok()?;
    let (_, representations) = arguments
        .iter()
        .find(|(name, _)| name.as_str() == "representations")?;
    match representations {
        Value::List(items) => items.iter().position(|item| item == params),
        _ => None,
    }
}

/// Reports `error` for the representation at `index` only: its slot in
/// `_entities` is null and the error's path names it (async-graphql leaves
/// the paths of entity errors at `_entities`).
fn report(ctx: &Context<'_>, index: Option<usize>, mut error: ServerError) -> Value {
    let field = ctx.field();
    let key = field.alias().unwrap_or_else(|| field.name()).to_owned();
    match (error.path.first(), index) {
        (Some(PathSegment::Field(first)), Some(i))
            if *first == key && !matches!(error.path.get(1), Some(PathSegment::Index(_))) =>
        {
            error.path.insert(1, PathSegment::Index(i));
        }
        (None, Some(i)) => error.path = vec![PathSegment::Field(key), PathSegment::Index(i)],
        (None, None) => error.path = vec![PathSegment::Field(key)],
        _ => {}
    }
    ctx.add_error(error);
    Value::Null
}

impl ContainerType for FederationQuery {
    async fn resolve_field(&self, ctx: &Context<'_>) -> ServerResult<Option<Value>> {
        self.0.resolve_field(ctx).await
    }

    /// Resolves one representation. Never `None`: async-graphql would then
    /// ask the other parts of `Query`, which know no entities and answer
    /// with uncoded errors. A representation that fails is null, with its
    /// error.
    async fn find_entity(&self, ctx: &Context<'_>, params: &Value) -> ServerResult<Option<Value>> {
        let resolved = match check(params) {
            Ok(()) => self
                .0
                .find_entity(ctx, params)
                .await
                .map_err(Failure::Resolver),
            Err(invalid) => Err(Failure::Invalid(invalid)),
        };
        let failure = match resolved {
            Ok(Some(value)) => return Ok(Some(value)),
            Ok(None) => Failure::Resolver(
                AppError::Internal(anyhow::anyhow!(
                    "no entity resolver took a checked representation: {params}"
                ))
                .to_server_error(),
            ),
            Err(failure) => failure,
        };
        // Only a representation that failed is looked for among the others.
        let index = position(ctx, params);
        let error = match failure {
            Failure::Invalid(invalid) => invalid.into_error(index),
            Failure::Resolver(error) => error,
        };
        Ok(Some(report(ctx, index, error)))
    }
}

/// Why a representation got no entity.
enum Failure {
    /// Not a representation of ours.
    Invalid(Invalid),
    /// Its resolver failed (access, store), or its selection did.
    Resolver(ServerError),
}

impl OutputType for FederationQuery {
    fn type_name() -> Cow<'static, str> {
        <Entities as OutputType>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Entities as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        OutputType::resolve(&self.0, ctx, field).await
    }
}

impl ObjectType for FederationQuery {}

#[cfg(test)]
mod tests {
    use async_graphql::value;

    use super::*;

    /// `None` when the representation passes, else the field at fault
    /// (`""` for the representation as a whole).
    fn fault(params: Value) -> Option<&'static str> {
        check(&params).err().map(|e| e.field.unwrap_or_default())
    }

    #[test]
    fn representations_of_our_entities_pass() {
        for (typename, id) in [
            ("Customer", "gid://c360/Customer/1"),
            ("Order", "gid://c360/Order/5"),
            ("Ticket", "gid://c360/Ticket/7"),
            ("Review", "gid://c360/Review/9"),
        ] {
            assert_eq!(fault(value!({ "__typename": typename, "id": id })), None);
        }
    }

    #[test]
    fn other_representations_name_the_field_at_fault() {
        let order = "gid://c360/Order/5";
        assert_eq!(fault(Value::Null), Some(""));
        assert_eq!(fault(value!([order])), Some(""));
        assert_eq!(fault(value!({ "id": order })), Some("__typename"));
        assert_eq!(
            fault(value!({ "__typename": 1, "id": order })),
            Some("__typename")
        );
        assert_eq!(
            fault(value!({ "__typename": "Product", "id": order })),
            Some("__typename")
        );
        assert_eq!(
            fault(value!({ "__typename": "Referral", "id": "gid://c360/Referral/5" })),
            Some("__typename")
        );
        assert_eq!(fault(value!({ "__typename": "Order" })), Some("id"));
        assert_eq!(
            fault(value!({ "__typename": "Order", "id": 5 })),
            Some("id")
        );
        assert_eq!(
            fault(value!({ "__typename": "Order", "id": "five" })),
            Some("id")
        );
        assert_eq!(
            fault(value!({ "__typename": "Order", "id": "gid://c360/Customer/1" })),
            Some("id")
        );
    }

    #[test]
    fn a_bad_representation_is_a_user_error_naming_its_place() {
        let invalid = check(&value!({ "__typename": "Order", "id": "gid://c360/Customer/1" }))
            .expect_err("refused");
        let error = invalid.into_error(Some(3));
        let extensions = error.extensions.expect("extensions");
        assert_eq!(extensions.get("code"), Some(&value!("BAD_USER_INPUT")));
        assert_eq!(
            extensions.get("field"),
            Some(&value!("representations[3].id"))
        );
        assert!(
            error.message.contains("Order id is expected"),
            "{}",
            error.message
        );
    }
}
