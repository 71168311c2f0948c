//! `node(id)`: any object by its global id, under the same access rules as
//! the field that would otherwise return it; and [`find`], the lookup behind
//! it, which the federation entities (`_entities`) share.

use async_graphql::{Context, ErrorExtensions, ID, Interface, Object};

use super::context::{authorize, loaders, scope_of};
use super::customer::Customer;
use super::ids::{Kind, decode_any};
use super::loyalty::LoyaltyTransaction;
use super::nps::NpsResponse;
use super::order::Order;
use super::referral::Referral;
use super::review::Review;
use super::store_credit::StoreCreditEntry;
use super::ticket::Ticket;
use crate::auth::Domain;

/// An object with a global id.
#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "Global id, e.g. `gid://c360/Customer/42`."
))]
pub enum Node {
    Customer(Box<Customer>),
    Order(Order),
    Ticket(Ticket),
    Review(Review),
    Referral(Referral),
    NpsResponse(NpsResponse),
    LoyaltyTransaction(LoyaltyTransaction),
    StoreCreditEntry(StoreCreditEntry),
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object by its global id; null when it does not exist or is not visible.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        let (kind, id) = decode_any("id", &id)?;
        if kind == Kind::Segment {
            return Err(crate::error::AppError::bad_input(
                "id",
                "a segment is not a node; read it with `segment(id)`",
            )
            .into());
        }
        find(ctx, kind, id).await
    }
}

/// The object of `kind` with row id `id`, under the access rules of the
/// field that would otherwise return it: the caller must be allowed to read
/// the kind's domain (FORBIDDEN otherwise), and a row outside the caller's
/// customer scope is `None`, as is a row that does not exist. Rows come
/// through the request's loaders, so lookups made together (many `node`
/// fields, or the representations of one `_entities`) are one statement per
/// kind. Shared by `node(id)` and the federation entities
/// ([`super::federation`]), so both answer alike.
///
/// Segments are not nodes (they have their own rules behind `segment(id)`):
/// `None`.
pub(super) async fn find(
    ctx: &Context<'_>,
    kind: Kind,
    id: i64,
) -> async_graphql::Result<Option<Node>> {
    let l = loaders(ctx)?;
    macro_rules! owned {
        ($domain:expr, $loader:ident, $variant:ident, $wrap:expr) => {{
            let principal = authorize(ctx, $domain)?;
            let row = l.$loader.load_one(id).await.map_err(|e| e.extend())?;
            row.filter(|r| scope_of(principal).allows(r.customer_id))
                .map(|r| Node::$variant($wrap(r)))
        }};
    }
    Ok(match kind {
        Kind::Segment => None,
        Kind::Customer => {
            authorize(ctx, Domain::Customers)?;
            Customer::load(ctx, id)
                .await?
                .map(|c| Node::Customer(Box::new(c)))
        }
        Kind::Order => owned!(Domain::Orders, order_by_id, Order, Order),
        Kind::Ticket => owned!(Domain::Tickets, ticket_by_id, Ticket, Ticket),
        Kind::Review => owned!(Domain::Reviews, review_by_id, Review, Review),
        Kind::Referral => owned!(Domain::Referrals, referral_by_id, Referral, Referral),
        Kind::NpsResponse => owned!(Domain::Customers, nps_by_id, NpsResponse, NpsResponse),
        Kind::LoyaltyTransaction => {
            owned!(
                Domain::Loyalty,
                loyalty_transaction_by_id,
                LoyaltyTransaction,
                LoyaltyTransaction
            )
        }
        Kind::StoreCreditEntry => {
            owned!(
                Domain::Loyalty,
                store_credit_entry_by_id,
                StoreCreditEntry,
                StoreCreditEntry
            )
        }
    })
}
