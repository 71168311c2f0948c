//! Integration tests through real HTTP, each on a fresh SQLite file and, when
//! `C360_TEST_POSTGRES_URL` is set, on a fresh PostgreSQL database.

mod helpers;

mod access_log;
mod access_matrix;
mod batching;
mod cli;
mod event_stream;
mod events;
mod exposure;
mod federation;
mod graphiql;
mod http_spec;
mod import;
mod insights;
mod introspection;
mod jwks;
mod limits;
mod period_insights;
mod privacy;
mod properties;
mod proxy;
mod rate_limits;
mod read_api;
mod replicas;
mod rfm;
mod scheduler;
mod seed;
mod segment_differential;
mod segments;
mod served;
mod shared_rate_limits;
mod subscriptions;
mod text_lengths;
mod traces;
mod tracked_segments;
mod trusted_documents;
mod webhooks;
mod writes_customers;
mod writes_loyalty;
mod writes_orders;
mod writes_referrals;
mod writes_reviews;
mod writes_tickets;
