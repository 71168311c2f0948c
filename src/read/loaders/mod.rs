//! Batched loading: one statement per relation and level, keyed by every
//! parent at that level, with each parent's page size applied in SQL.
//!
//! To-many relations page with one index walk per parent for first pages
//! ([`walk`]) and `ROW_NUMBER() OVER (PARTITION BY parent ...)` for later
//! ones; to-one relations load by key,
//! unless the customer's own statement already read them (`joined`). On
//! PostgreSQL a level's page statements may go out as one (`combine`).
//! Every loader is made per request, the first time it is asked for, and
//! carries the caller's customer scope, so a CUSTOMER token never loads
//! another customer's rows.
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
use std::sync::{Arc, OnceLock};

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
    pub customers: Lazy<DataLoader<CustomerLoader>>,
    pub stats: Lazy<DataLoader<ByCustomer<customer_metrics::Entity>>>,
    /// Trailing-12-month net spend per currency, for the next-tier fields.
    pub trailing_spend: Lazy<DataLoader<TrailingSpendLoader>>,
    pub loyalty: Lazy<DataLoader<LoyaltyLoader>>,
    pub rfm: Lazy<DataLoader<ByCustomer<customer_rfm::Entity>>>,
    /// Lifetime-value predictions as of the last refresh.
    pub clv: Lazy<DataLoader<ByCustomer<customer_clv::Entity>>>,
    pub tags: Lazy<DataLoader<TagsLoader>>,
    pub referred_by: Lazy<DataLoader<ReferredByLoader>>,
    pub orders: Lazy<DataLoader<PageLoader<CustomerOrders>>>,
    pub order_lines: Lazy<DataLoader<PageLoader<OrderLines>>>,
    pub tickets: Lazy<DataLoader<PageLoader<CustomerTickets>>>,
    pub ticket_messages: Lazy<DataLoader<PageLoader<TicketMessages>>>,
    pub reviews: Lazy<DataLoader<PageLoader<CustomerReviews>>>,
    pub referrals: Lazy<DataLoader<PageLoader<CustomerReferrals>>>,
    pub loyalty_transactions: Lazy<DataLoader<PageLoader<CustomerLoyaltyTransactions>>>,
    pub nps_responses: Lazy<DataLoader<PageLoader<CustomerNpsResponses>>>,
    pub order_count: Lazy<DataLoader<CountLoader<CustomerOrders>>>,
    pub order_line_count: Lazy<DataLoader<CountLoader<OrderLines>>>,
    pub ticket_count: Lazy<DataLoader<CountLoader<CustomerTickets>>>,
    pub ticket_message_count: Lazy<DataLoader<CountLoader<TicketMessages>>>,
    pub review_count: Lazy<DataLoader<CountLoader<CustomerReviews>>>,
    pub referral_count: Lazy<DataLoader<CountLoader<CustomerReferrals>>>,
    pub loyalty_transaction_count: Lazy<DataLoader<CountLoader<CustomerLoyaltyTransactions>>>,
    pub nps_response_count: Lazy<DataLoader<CountLoader<CustomerNpsResponses>>>,
    pub order_by_id: Lazy<DataLoader<ById<order::Entity>>>,
    pub ticket_by_id: Lazy<DataLoader<ById<ticket::Entity>>>,
    pub review_by_id: Lazy<DataLoader<ById<review::Entity>>>,
    pub referral_by_id: Lazy<DataLoader<ById<referral::Entity>>>,
    pub nps_by_id: Lazy<DataLoader<ById<nps_response::Entity>>>,
    pub loyalty_transaction_by_id: Lazy<DataLoader<ById<loyalty_transaction::Entity>>>,
    /// Store credit balances per currency, expired credit written off first.
    pub store_credit_balances: Lazy<DataLoader<CreditBalanceLoader>>,
    pub store_credit_entries: Lazy<DataLoader<PageLoader<CustomerStoreCredit>>>,
    pub store_credit_entry_count: Lazy<DataLoader<CountLoader<CustomerStoreCredit>>>,
    pub store_credit_entry_by_id: Lazy<DataLoader<ById<c360_entity::store_credit_entry::Entity>>>,
    /// The parts of `Customer.yearInReview`, keyed by (customer, year).
    pub year: Lazy<crate::read::year_review::YearLoaders>,
    /// `Customer.interests` and `Customer.recommendedProducts`.
    pub interests: Lazy<crate::read::interests::InterestLoaders>,
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
    /// its tier (under `rules`) writes, so it goes to `primary`. Each is
    /// made the first time it is asked for ([`Lazy`]).
    pub fn new(
        db: &DatabaseConnection,
        primary: &DatabaseConnection,
        scope: CustomerScope,
        tasks: &RequestTasks,
        delay: std::time::Duration,
        clock: &Clock,
        rules: &Rules,
    ) -> Loaders {
        let sources = Arc::new(Sources {
            db: db.clone(),
            primary: primary.clone(),
            scope,
            tasks: tasks.clone(),
            delay,
            clock: clock.clone(),
            rules: rules.clone(),
            // A settlement writes the ledger: the loyalty loader drops what
            // was read of it ahead.
            ledger_ahead: Default::default(),
        });
        let s = &sources;
        macro_rules! paged {
            () => {
                paged!(|_| Default::default())
            };
            ($primed:expr) => {
                lazy(s, |s| {
                    s.dl(PageLoader {
                        db: s.db.clone(),
                        combiner: s.tasks.combiner(),
                        primed: $primed(s),
                        primed_below: Default::default(),
                        _rel: PhantomData,
                    })
                })
            };
        }
        macro_rules! counted {
            () => {
                lazy(s, |s| {
                    s.dl(CountLoader {
                        db: s.db.clone(),
                        combiner: s.tasks.combiner(),
                        primed: Default::default(),
                        _rel: PhantomData,
                    })
                })
            };
        }
        macro_rules! by_id {
            () => {
                lazy(s, |s| {
                    s.dl(ById {
                        db: s.db.clone(),
                        _e: PhantomData,
                    })
                })
            };
        }
        macro_rules! by_customer {
            () => {
                lazy(s, |s| {
                    s.dl(ByCustomer {
                        db: s.db.clone(),
                        _e: PhantomData,
                    })
                })
            };
        }
        Loaders {
            customers: lazy(s, |s| {
                s.dl(CustomerLoader {
                    db: s.db.clone(),
                    scope: s.scope,
                    combiner: s.tasks.combiner(),
                    primed: Default::default(),
                })
            }),
            trailing_spend: lazy(s, |s| {
                s.dl(TrailingSpendLoader {
                    db: s.db.clone(),
                    clock: s.clock.clone(),
                })
            }),
            stats: by_customer!(),
            loyalty: lazy(s, |s| {
                s.dl(LoyaltyLoader {
                    db: s.db.clone(),
                    primary: s.primary.clone(),
                    clock: s.clock.clone(),
                    rules: s.rules.clone(),
                    ledger_ahead: s.ledger_ahead.clone(),
                })
            }),
            rfm: by_customer!(),
            clv: by_customer!(),
            tags: lazy(s, |s| s.dl(TagsLoader { db: s.db.clone() })),
            referred_by: lazy(s, |s| s.dl(ReferredByLoader { db: s.db.clone() })),
            orders: paged!(),
            order_lines: paged!(),
            tickets: paged!(),
            ticket_messages: paged!(),
            reviews: paged!(),
            referrals: paged!(),
            loyalty_transactions: paged!(|s: &Sources| s.ledger_ahead.clone()),
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
            store_credit_balances: lazy(s, |s| {
                s.dl(CreditBalanceLoader {
                    db: s.db.clone(),
                    primary: s.primary.clone(),
                    clock: s.clock.clone(),
                })
            }),
            store_credit_entries: paged!(),
            store_credit_entry_count: counted!(),
            store_credit_entry_by_id: by_id!(),
            year: lazy(s, |s| {
                crate::read::year_review::YearLoaders::new(
                    &s.db,
                    &s.rules.base_currency,
                    &s.tasks,
                    s.delay,
                )
            }),
            interests: lazy(s, |s| {
                crate::read::interests::InterestLoaders::new(&s.db, &s.rules, &s.tasks, s.delay)
            }),
        }
    }
}

/// What a request's loaders are made from.
struct Sources {
    db: DatabaseConnection,
    primary: DatabaseConnection,
    scope: CustomerScope,
    tasks: RequestTasks,
    delay: std::time::Duration,
    clock: Clock,
    rules: Rules,
    ledger_ahead: Primed<loyalty_transaction::Model>,
}

impl Sources {
    fn dl<T: Send + Sync + 'static>(&self, loader: T) -> DataLoader<T> {
        DataLoader::new(loader, self.tasks.spawner())
            .delay(self.delay)
            .max_batch_size(MAX_BATCH)
    }
}

/// One of a request's loaders, made the first time it is asked for. A
/// request uses a few of the forty-odd kinds; making and dropping every
/// one of them was 3 % of a profile's instructions in the gateway.
pub struct Lazy<T> {
    made: OnceLock<T>,
    make: fn(&Sources) -> T,
    sources: Arc<Sources>,
}

fn lazy<T>(sources: &Arc<Sources>, make: fn(&Sources) -> T) -> Lazy<T> {
    Lazy {
        made: OnceLock::new(),
        make,
        sources: sources.clone(),
    }
}

impl<T> std::ops::Deref for Lazy<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.made.get_or_init(|| (self.make)(&self.sources))
    }
}
