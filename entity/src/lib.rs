//! sea-orm entities of the c360 store: one module per table, and how their
//! timestamps are read from rows written as JSON (`json_time`).
//!
//! Every customer-owned table carries `customer_id` (indexed; the shard key
//! if the store is ever distributed). Money is integer minor units, every
//! timestamp is UTC.

pub mod audit_event;
pub mod clv_fit;
pub mod customer;
pub mod customer_clv;
pub mod customer_interest;
pub mod customer_metrics;
pub mod customer_rfm;
pub mod customer_tag;
pub mod enums;
pub mod event;
pub mod event_consumer;
pub mod follow_up;
pub mod json_time;
pub mod loyalty_account;
pub mod loyalty_transaction;
pub mod nps_response;
pub mod order;
pub mod order_line;
pub mod product_affinity;
pub mod referral;
pub mod review;
pub mod segment;
pub mod segment_member;
pub mod store_credit_balance;
pub mod store_credit_entry;
pub mod ticket;
pub mod ticket_message;
pub mod webhook_delivery;
pub mod webhook_endpoint;
