//! The read path: everything that turns a request's reads into SQL. Batched
//! loaders (one statement per relation and level), the customer's to-one rows
//! read in its own statement, a level's statements combined into one on
//! PostgreSQL, keyset pagination, and the request driver that runs the
//! loaders beside the resolvers.
//!
//! Below `graphql`, beside `service`: it knows tables and the caller's
//! customer scope, never GraphQL types.

pub mod combine;
pub mod driver;
pub mod joined;
pub mod loaders;
pub mod pagination;
