//! Business rules per domain, independent of GraphQL: functions taking `&impl ConnectionTrait`.

pub mod audit;
pub mod insights;
pub mod loyalty;
pub mod metrics;
pub mod privacy;
pub mod rfm;
pub mod segments;
