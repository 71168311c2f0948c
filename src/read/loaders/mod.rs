//! Batched loading: one statement per relation and level, keyed by every
//! parent at that level, with each parent's page size applied in SQL.
//!
//! To-many relations page with one index walk per parent for first pages
//! ([`walk`]) and `ROW_NUMBER() OVER (PARTITION BY parent ...)` for later
//! ones; to-one relations load by key,
//! unless the customer's own statement already read them (`joined`). On
//! PostgreSQL a level's page statements may go out as one (`combine`).
//! Every loader is created per request and carries the caller's customer
//! scope, so a CUSTOMER token never loads another customer's rows.
//!
//! One file per kind of loader: [`pages`] (child lists and their counts;
//! first pages' statements in [`walk`]),
//! [`customers`] (customers and rows keyed by customer), [`loyalty`]
//! (accounts and tier-window spend, which read the clock) and [`by_id`].
//! This module holds the per-request set of them, [`Loaders`].

mod by_id;
mod credit;
mod customers;
mod loyalty;
mod pages;
mod walk;

use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use c360_entity::{
    customer_clv, customer_metrics, customer_rfm, loyalty_transaction, nps_response, order,
    referral, review, ticket,
};
use sea_orm::DatabaseConnection;

use super::combine::Combiner;
use super::driver::RequestTasks;
use crate::auth::CustomerScope;
use crate::domain::Clock;
use crate::error::AppError;
use crate::service::Rules;

pub use by_id::ById;
pub use credit::CreditBalanceLoader;
pub use customers::{
    ByCustomer, CustomerKey, CustomerKeyed, CustomerLoader, ReferredByLoader, TagsLoader,
};
pub use loyalty::{LoyaltyLoader, TrailingSpendLoader, settlement_due};
pub use pages::{
    ChildList, CountLoader, CustomerLoyaltyTransactions, CustomerNpsResponses, CustomerOrders,
    CustomerReferrals, CustomerReviews, CustomerStoreCredit, CustomerTickets, OrderLines, Page,
    PageKey, PageLoader, PagesKey, Primed, TicketMessages,
};

/// Errors a loader hands to every waiting resolver.
pub type LoadError = Arc<AppError>;
/// Every loader of one request.
pub struct Loaders {
    pub customers: DataLoader<CustomerLoader>,
    pub stats: DataLoader<ByCustomer<customer_metrics::Entity>>,
    /// Trailing-12-month net spend per currency, for the next-tier fields.
    pub trailing_spend: DataLoader<TrailingSpendLoader>,
    pub loyalty: DataLoader<LoyaltyLoader>,
    pub rfm: DataLoader<ByCustomer<customer_rfm::Entity>>,
    /// Lifetime-value predictions as of the last refresh.
    pub clv: DataLoader<ByCustomer<customer_clv::Entity>>,
    pub tags: DataLoader<TagsLoader>,
    pub referred_by: DataLoader<ReferredByLoader>,
    pub orders: DataLoader<PageLoader<CustomerOrders>>,
    pub order_lines: DataLoader<PageLoader<OrderLines>>,
    pub tickets: DataLoader<PageLoader<CustomerTickets>>,
    pub ticket_messages: DataLoader<PageLoader<TicketMessages>>,
    pub reviews: DataLoader<PageLoader<CustomerReviews>>,
    pub referrals: DataLoader<PageLoader<CustomerReferrals>>,
    pub loyalty_transactions: DataLoader<PageLoader<CustomerLoyaltyTransactions>>,
    pub nps_responses: DataLoader<PageLoader<CustomerNpsResponses>>,
    pub order_count: DataLoader<CountLoader<CustomerOrders>>,
    pub order_line_count: DataLoader<CountLoader<OrderLines>>,
    pub ticket_count: DataLoader<CountLoader<CustomerTickets>>,
    pub ticket_message_count: DataLoader<CountLoader<TicketMessages>>,
    pub review_count: DataLoader<CountLoader<CustomerReviews>>,
    pub referral_count: DataLoader<CountLoader<CustomerReferrals>>,
    pub loyalty_transaction_count: DataLoader<CountLoader<CustomerLoyaltyTransactions>>,
    pub nps_response_count: DataLoader<CountLoader<CustomerNpsResponses>>,
    pub order_by_id: DataLoader<ById<order::Entity>>,
    pub ticket_by_id: DataLoader<ById<ticket::Entity>>,
    pub review_by_id: DataLoader<ById<review::Entity>>,
    pub referral_by_id: DataLoader<ById<referral::Entity>>,
    pub nps_by_id: DataLoader<ById<nps_response::Entity>>,
    pub loyalty_transaction_by_id: DataLoader<ById<loyalty_transaction::Entity>>,
    /// Store credit balances per currency, expired credit written off first.
    pub store_credit_balances: DataLoader<CreditBalanceLoader>,
    pub store_credit_entries: DataLoader<PageLoader<CustomerStoreCredit>>,
    pub store_credit_entry_count: DataLoader<CountLoader<CustomerStoreCredit>>,
    pub store_credit_entry_by_id: DataLoader<ById<c360_entity::store_credit_entry::Entity>>,
    /// The parts of `Customer.yearInReview`, keyed by (customer, year).
    pub year: crate::read::year_review::YearLoaders,
    /// `Customer.interests` and `Customer.recommendedProducts`.
    pub interests: crate::read::interests::InterestLoaders,
}

/// The most keys one batch takes: a full page of parents times a full page of
/// children, so that a level is always one statement.
const MAX_BATCH: usize = 100 * 100;

impl Loaders {
    /// Where the request's statements are combined, one level at a time,
    /// when they are (PostgreSQL; see `Config::combine_pages`).
    pub fn combiner(&self) -> Option<&Arc<Combiner>> {
        self.customers
            .loader()
            .combiner
            .as_ref()
            .filter(|c| c.active())
    }

    /// The loaders of one request, reading from `db` (a replica for a
    /// query, see `App::reader`); settling a loyalty account or reviewing
    /// its tier (under `rules`) writes, so it goes to `primary`.
    pub fn new(
        db: &DatabaseConnection,
        primary: &DatabaseConnection,
        scope: CustomerScope,
        tasks: &RequestTasks,
        delay: std::time::Duration,
        clock: &Clock,
        rules: &Rules,
    ) -> Loaders {
        fn dl<T: Send + Sync + 'static>(
            loader: T,
            tasks: &RequestTasks,
            delay: std::time::Duration,
        ) -> DataLoader<T> {
            DataLoader::new(loader, tasks.spawner())
                .delay(delay)
                .max_batch_size(MAX_BATCH)
        }
        macro_rules! paged {
            () => {
                paged!(Default::default())
            };
            ($primed:expr) => {
                dl(
                    PageLoader {
                        db: db.clone(),
                        combiner: tasks.combiner(),
                        primed: $primed,
                        primed_below: Default::default(),
                        _rel: PhantomData,
                    },
                    tasks,
                    delay,
                )
            };
        }
        // A settlement writes the ledger: the loyalty loader drops what was
        // read of it ahead.
        let ledger_ahead: Primed<loyalty_transaction::Model> = Default::default();
        macro_rules! counted {
            () => {
                dl(
                    CountLoader {
                        db: db.clone(),
                        combiner: tasks.combiner(),
                        primed: Default::default(),
                        _rel: PhantomData,
                    },
                    tasks,
                    delay,
                )
            };
        }
        macro_rules! by_id {
            () => {
                dl(
                    ById {
                        db: db.clone(),
                        _e: PhantomData,
                    },
                    tasks,
                    delay,
                )
            };
        }
        Loaders {
            customers: dl(
                CustomerLoader {
                    db: db.clone(),
                    scope,
                    combiner: tasks.combiner(),
                    primed: Default::default(),
                },
                tasks,
                delay,
            ),
            trailing_spend: dl(
                TrailingSpendLoader {
                    db: db.clone(),
                    clock: clock.clone(),
                },
                tasks,
                delay,
            ),
            stats: dl(
                ByCustomer {
                    db: db.clone(),
                    _e: PhantomData,
                },
                tasks,
                delay,
            ),
            loyalty: dl(
                LoyaltyLoader {
                    db: db.clone(),
                    primary: primary.clone(),
                    clock: clock.clone(),
                    rules: rules.clone(),
                    ledger_ahead: ledger_ahead.clone(),
                },
                tasks,
                delay,
            ),
            rfm: dl(
                ByCustomer {
                    db: db.clone(),
                    _e: PhantomData,
                },
                tasks,
                delay,
            ),
            clv: dl(
                ByCustomer {
                    db: db.clone(),
                    _e: PhantomData,
                },
                tasks,
                delay,
            ),
            tags: dl(TagsLoader { db: db.clone() }, tasks, delay),
            referred_by: dl(ReferredByLoader { db: db.clone() }, tasks, delay),
            orders: paged!(),
            order_lines: paged!(),
            tickets: paged!(),
            ticket_messages: paged!(),
            reviews: paged!(),
            referrals: paged!(),
            loyalty_transactions: paged!(ledger_ahead),
            nps_responses: paged!(),
            order_count: counted!(),
            order_line_count: counted!(),
            ticket_count: counted!(),
            ticket_message_count: counted!(),
            review_count: counted!(),
            referral_count: counted!(),
            loyalty_transaction_count: counted!(),
            nps_response_count: counted!(),
            order_by_id: by_id!(),
            ticket_by_id: by_id!(),
            review_by_id: by_id!(),
            referral_by_id: by_id!(),
            nps_by_id: by_id!(),
            loyalty_transaction_by_id: by_id!(),
            store_credit_balances: dl(
                CreditBalanceLoader {
                    db: db.clone(),
                    primary: primary.clone(),
                    clock: clock.clone(),
                },
                tasks,
                delay,
            ),
            store_credit_entries: paged!(),
            store_credit_entry_count: counted!(),
            store_credit_entry_by_id: by_id!(),
            year: crate::read::year_review::YearLoaders::new(
                db,
                &rules.base_currency,
                tasks,
                delay,
            ),
            interests: crate::read::interests::InterestLoaders::new(db, rules, tasks, delay),
        }
    }
}
