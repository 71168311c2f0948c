//! The access rules (README § Access) in one place: which role and scope may read
//! which domain, and which customers' rows a caller may see.

use super::{Identity, Principal, Role};
use crate::error::{AppError, AppResult};

/// A part of the customer record guarded by its own scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// Profile, stats and NPS answers.
    Customers,
    Orders,
    Tickets,
    Reviews,
    Referrals,
    Loyalty,
    Segments,
}

impl Domain {
    fn write_scope(self) -> &'static str {
        match self {
            Domain::Customers => "customers:write",
            Domain::Orders => "orders:write",
            Domain::Tickets => "tickets:write",
            Domain::Reviews => "reviews:write",
            Domain::Referrals => "referrals:write",
            Domain::Loyalty => "loyalty:write",
            Domain::Segments => "segments:write",
        }
    }

    pub fn read_scope(self) -> &'static str {
        match self {
            Domain::Customers => "customers:read",
            Domain::Orders => "orders:read",
            Domain::Tickets => "tickets:read",
            Domain::Reviews => "reviews:read",
            Domain::Referrals => "referrals:read",
            Domain::Loyalty => "loyalty:read",
            Domain::Segments => "segments:read",
        }
    }
}

/// Checks that the caller may read `domain`, and returns the principal.
pub fn require_domain(identity: &Identity, domain: Domain) -> AppResult<&Principal> {
    let principal = match identity {
        Identity::Anonymous => {
            return Err(AppError::Unauthenticated(
                "this field needs a bearer token (Authorization: Bearer <jwt>)".into(),
            ));
        }
        Identity::Authenticated(principal) => principal,
    };
    let allowed = match principal.role {
        Role::Staff => true,
        Role::Customer => domain != Domain::Segments,
        Role::Partner => principal.has_scope(domain.read_scope()),
    };
    if allowed {
        Ok(principal)
    } else {
        Err(AppError::Forbidden(format!(
            "this field needs the `{}` scope",
            domain.read_scope()
        )))
    }
}

/// Checks that the caller may write `domain`, and returns the principal. A
/// CUSTOMER may write its own records (the service layer checks ownership);
/// a PARTNER needs the domain's `:write` scope; STAFF may write everything.
pub fn require_domain_write(identity: &Identity, domain: Domain) -> AppResult<&Principal> {
    let principal = match identity {
        Identity::Anonymous => {
            return Err(AppError::Unauthenticated(
                "this mutation needs a bearer token (Authorization: Bearer <jwt>)".into(),
            ));
        }
        Identity::Authenticated(principal) => principal,
    };
    let allowed = match principal.role {
        Role::Staff => true,
        Role::Customer => domain != Domain::Segments,
        Role::Partner => principal.has_scope(domain.write_scope()),
    };
    if allowed {
        Ok(principal)
    } else {
        Err(AppError::Forbidden(format!(
            "this mutation needs the `{}` scope",
            domain.write_scope()
        )))
    }
}

/// Checks that the caller may act on privacy requests (export and erase):
/// STAFF, or a PARTNER holding `privacy:write`.
pub fn require_privacy(identity: &Identity) -> AppResult<&Principal> {
    let Identity::Authenticated(principal) = identity else {
        return Err(AppError::Unauthenticated(
            "privacy requests need a bearer token (Authorization: Bearer <jwt>)".into(),
        ));
    };
    match principal.role {
        Role::Staff => Ok(principal),
        Role::Partner if principal.has_scope("privacy:write") => Ok(principal),
        _ => Err(AppError::Forbidden(
            "privacy requests need the STAFF role or the `privacy:write` scope".into(),
        )),
    }
}

/// The scope a PARTNER needs to manage its own webhook endpoints.
pub const WEBHOOKS_WRITE: &str = "webhooks:write";

/// Checks that the caller may manage webhook endpoints: STAFF (every
/// endpoint), or a PARTNER holding `webhooks:write` (its own; the service
/// checks ownership).
pub fn require_webhooks(identity: &Identity) -> AppResult<&Principal> {
    let Identity::Authenticated(principal) = identity else {
        return Err(AppError::Unauthenticated(
            "webhooks need a bearer token (Authorization: Bearer <jwt>)".into(),
        ));
    };
    match principal.role {
        Role::Staff => Ok(principal),
        Role::Partner if principal.has_scope(WEBHOOKS_WRITE) => Ok(principal),
        _ => Err(AppError::Forbidden(format!(
            "webhooks need the STAFF role or the `{WEBHOOKS_WRITE}` scope"
        ))),
    }
}

/// Whether reading unmasked PII leaves a `pii.read` audit row: for partners,
/// whose `pii:read` grant is what lets them see it. Staff reads are part of
/// their job and customers only ever read their own record.
pub fn audits_pii_read(principal: &Principal) -> bool {
    principal.role == Role::Partner && principal.has_scope("pii:read")
}

/// The customers whose rows a caller may see; applied in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerScope {
    All,
    Only(i64),
}

/// A CUSTOMER sees only itself; a token whose subject is not a customer id sees
/// nobody (id 0 is never assigned).
pub fn visible_customer_ids(principal: &Principal) -> CustomerScope {
    match principal.role {
        Role::Customer => CustomerScope::Only(principal.customer_id().unwrap_or(0)),
        Role::Partner | Role::Staff => CustomerScope::All,
    }
}

impl CustomerScope {
    pub fn allows(self, customer_id: i64) -> bool {
        match self {
            CustomerScope::All => true,
            CustomerScope::Only(id) => id == customer_id,
        }
    }
}

/// Whether the caller may see the schema (introspection and field
/// suggestions) given the configured audiences.
pub fn may_introspect(identity: &Identity, allowed: &[crate::config::Audience]) -> bool {
    allowed.contains(&audience(identity))
}

/// The kind of caller, for settings that differ by audience.
pub fn audience(identity: &Identity) -> crate::config::Audience {
    use crate::config::Audience;
    match identity {
        Identity::Anonymous => Audience::Anonymous,
        Identity::Authenticated(p) => match p.role {
            Role::Customer => Audience::Customer,
            Role::Partner => Audience::Partner,
            Role::Staff => Audience::Staff,
        },
    }
}

/// Whether the caller sees PII unmasked: staff, a customer (only ever its own
/// record), or a partner holding `pii:read`.
pub fn sees_pii(principal: &Principal) -> bool {
    match principal.role {
        Role::Staff | Role::Customer => true,
        Role::Partner => principal.has_scope("pii:read"),
    }
}
