//! Integration tests through real HTTP, each on a fresh SQLite file and, when
//! `C360_TEST_POSTGRES_URL` is set, on a fresh PostgreSQL database.

mod helpers;

mod batching;
mod cli;
mod http_spec;
mod properties;
mod read_api;
mod writes_customers;
mod writes_loyalty;
mod writes_orders;
mod writes_referrals;
mod writes_reviews;
mod writes_tickets;
