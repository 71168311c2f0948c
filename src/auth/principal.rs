//! The caller of one request, as its verified token describes it.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// A shopper: sees only their own rows.
    Customer,
    /// An integration: sees the domains its scopes grant, PII masked without `pii:read`.
    Partner,
    /// Internal staff: sees everything.
    Staff,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Customer => "CUSTOMER",
            Role::Partner => "PARTNER",
            Role::Staff => "STAFF",
        })
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "CUSTOMER" => Ok(Role::Customer),
            "PARTNER" => Ok(Role::Partner),
            "STAFF" => Ok(Role::Staff),
            other => Err(format!(
                "unknown role `{other}`; expected CUSTOMER, PARTNER or STAFF"
            )),
        }
    }
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub role: Role,
    /// The token's `sub`; for a CUSTOMER, the customer's numeric id.
    pub subject: String,
    pub scopes: BTreeSet<String>,
}

impl Principal {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// The customer a CUSTOMER token speaks for; `None` for other roles or a
    /// subject that is not a customer id.
    pub fn customer_id(&self) -> Option<i64> {
        match self.role {
            Role::Customer => self.subject.parse().ok(),
            _ => None,
        }
    }
}

/// The identity attached to every request: a verified principal or nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Anonymous,
    Authenticated(Principal),
}
