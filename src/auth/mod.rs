//! Who is calling and what they may see: token verification, the per-request
//! `Principal`, the access checks every resolver goes through, and PII masking.

mod access;
mod jwks;
mod mask;
mod principal;
mod token;

pub use access::{
    CustomerScope, Domain, WEBHOOKS_WRITE, audience, audits_pii_read, may_introspect,
    require_domain, require_domain_write, require_privacy, require_webhooks, sees_pii,
    visible_customer_ids,
};
pub use jwks::Jwks;
pub use mask::{mask_email, mask_name, mask_phone};
pub use principal::{Identity, Principal, Role};
pub use token::{Claims, TokenIssuer, TokenVerifier};
