//! Global ids as GraphQL `ID`s; the codec is `domain::ids`.

pub use crate::domain::ids::{Kind, decode, decode_any};

pub fn encode(kind: Kind, id: i64) -> async_graphql::ID {
    async_graphql::ID(crate::domain::ids::gid(kind, id))
}
