//! The read path: everything that turns a request's reads into SQL. Batched
//! loaders (one statement per relation and level), the customer's to-one rows
//! read in its own statement, a level's statements combined into one on
//! PostgreSQL (their pages writing only the columns a selection reads),
//! keyset pagination, and the request driver that runs the loaders beside
//! the resolvers. The root lists read here too: the customer
//! list and what selects its customers (`customers`, `customer_filter`),
//! segment members, figures and saved segments (`segments`), and product
//! review summaries (`review_summaries`).
//!
//! Below `graphql`, beside `service`: it knows tables and the caller's
//! customer scope, never GraphQL types.

pub mod columns;
pub mod combine;
pub mod customer_filter;
pub mod customers;
pub mod driver;
pub mod events;
pub mod follow_ups;
pub mod interests;
pub mod joined;
pub mod loaders;
pub mod pagination;
pub mod review_summaries;
pub mod segments;
pub mod year_review;

/// Each of `rows` read by `read`, stopping at the first error, into a
/// vector sized once. Collecting `Result`s cannot tell the count ahead, so
/// the vector doubled as it filled, moving every model read so far each
/// time: eight moves for a list's 250 orders.
pub(crate) fn read_each<R, T, E>(
    rows: &[R],
    mut read: impl FnMut(&R) -> Result<T, E>,
) -> Result<Vec<T>, E> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(read(row)?);
    }
    Ok(out)
}
