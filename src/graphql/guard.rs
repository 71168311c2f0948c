//! Field guards: each domain's fields declare the domain they belong to, and
//! the access rules in `auth` decide, so no resolver checks roles by hand.

use async_graphql::{Context, Guard};

use super::context::identity;
use crate::auth::{Domain, require_domain};

/// Allows the field when the caller may read the domain; otherwise the field
/// is null with UNAUTHENTICATED or FORBIDDEN and the rest of the response stands.
pub struct Reads(pub Domain);

impl Guard for Reads {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        require_domain(identity(ctx), self.0)?;
        Ok(())
    }
}
