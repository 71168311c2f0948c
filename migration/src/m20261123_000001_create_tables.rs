//! The initial schema: every table of `c360-entity`, their foreign keys and indexes.

use sea_orm_migration::{prelude::*, schema::*};

/// Length of every enum column, as the `db_type` of `c360_entity::enums` declares it.
const ENUM_LEN: u32 = 24;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Parents before children, so every foreign key has its target.
        let tables = [
            customers(),
            segments(),
            customer_tags(),
            customer_metrics(),
            orders(),
            order_lines(),
            tickets(),
            ticket_messages(),
            reviews(),
            referrals(),
            loyalty_accounts(),
            loyalty_transactions(),
            nps_responses(),
            audit_events(),
        ];
        for table in tables {
            manager.create_table(table).await?;
        }
        for index in indexes() {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents; indexes go with their tables.
        let tables = [
            AuditEvents::Table.into_iden(),
            NpsResponses::Table.into_iden(),
            LoyaltyTransactions::Table.into_iden(),
            LoyaltyAccounts::Table.into_iden(),
            Referrals::Table.into_iden(),
            Reviews::Table.into_iden(),
            TicketMessages::Table.into_iden(),
            Tickets::Table.into_iden(),
            OrderLines::Table.into_iden(),
            Orders::Table.into_iden(),
            CustomerMetrics::Table.into_iden(),
            CustomerTags::Table.into_iden(),
            Segments::Table.into_iden(),
            Customers::Table.into_iden(),
        ];
        for table in tables {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }

    // SQLite runs DDL in transactions too; without one a failed `up` there
    // would leave half a schema behind and no record of it.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

fn customers() -> TableCreateStatement {
    Table::create()
        .table(Customers::Table)
        .col(big_pk_auto(Customers::Id))
        .col(string_null(Customers::ExternalSource))
        .col(string_null(Customers::ExternalRef))
        .col(string(Customers::Email))
        .col(string_null(Customers::FirstName))
        .col(string_null(Customers::LastName))
        .col(string_null(Customers::Phone))
        .col(date_null(Customers::Birthday))
        .col(string_null(Customers::Locale))
        .col(string_null(Customers::Country))
        .col(string_null(Customers::City))
        .col(string_len(Customers::EmailMarketingState, ENUM_LEN))
        .col(timestamp_with_time_zone_null(Customers::ConsentUpdatedAt))
        .col(timestamp_with_time_zone(Customers::CreatedAt))
        .col(timestamp_with_time_zone(Customers::UpdatedAt))
        .col(timestamp_with_time_zone_null(Customers::ErasedAt))
        .to_owned()
}

fn segments() -> TableCreateStatement {
    Table::create()
        .table(Segments::Table)
        .col(big_pk_auto(Segments::Id))
        .col(string(Segments::Name))
        .col(string_null(Segments::Description))
        .col(string(Segments::Query))
        .col(string(Segments::CreatedBy))
        .col(timestamp_with_time_zone(Segments::CreatedAt))
        .col(timestamp_with_time_zone(Segments::UpdatedAt))
        .to_owned()
}

fn customer_tags() -> TableCreateStatement {
    Table::create()
        .table(CustomerTags::Table)
        .col(big_integer(CustomerTags::CustomerId))
        .col(string(CustomerTags::Tag))
        .primary_key(
            Index::create()
                .col(CustomerTags::CustomerId)
                .col(CustomerTags::Tag),
        )
        .foreign_key(&mut owned_by_customer(
            CustomerTags::Table,
            CustomerTags::CustomerId,
        ))
        .to_owned()
}

fn customer_metrics() -> TableCreateStatement {
    Table::create()
        .table(CustomerMetrics::Table)
        .col(big_integer(CustomerMetrics::CustomerId).primary_key())
        .col(big_integer(CustomerMetrics::OrdersCount))
        .col(big_integer(CustomerMetrics::GrossSpend))
        .col(big_integer(CustomerMetrics::RefundedTotal))
        .col(big_integer(CustomerMetrics::NetSpend))
        .col(big_integer(CustomerMetrics::RefundsCount))
        .col(big_integer(CustomerMetrics::CancelledCount))
        .col(timestamp_with_time_zone_null(CustomerMetrics::FirstOrderAt))
        .col(timestamp_with_time_zone_null(CustomerMetrics::LastOrderAt))
        .col(big_integer(CustomerMetrics::TicketsCount))
        .col(big_integer(CustomerMetrics::OpenTickets))
        .col(big_integer(CustomerMetrics::FirstReplyMinutesSum))
        .col(big_integer(CustomerMetrics::FirstReplyCount))
        .col(big_integer(CustomerMetrics::CsatSum))
        .col(big_integer(CustomerMetrics::CsatCount))
        .col(big_integer(CustomerMetrics::ReviewsCount))
        .col(integer_null(CustomerMetrics::LastNpsScore))
        .col(timestamp_with_time_zone_null(CustomerMetrics::LastNpsAt))
        .col(timestamp_with_time_zone(CustomerMetrics::UpdatedAt))
        .foreign_key(&mut owned_by_customer(
            CustomerMetrics::Table,
            CustomerMetrics::CustomerId,
        ))
        .to_owned()
}

fn orders() -> TableCreateStatement {
    Table::create()
        .table(Orders::Table)
        .col(big_pk_auto(Orders::Id))
        .col(big_integer(Orders::CustomerId))
        .col(string(Orders::OrderNumber))
        .col(string_null(Orders::ExternalRef))
        .col(string_len(Orders::Status, ENUM_LEN))
        .col(string_len(Orders::Channel, ENUM_LEN))
        .col(string(Orders::Currency))
        .col(big_integer(Orders::Subtotal))
        .col(big_integer(Orders::Discount))
        .col(big_integer(Orders::Tax))
        .col(big_integer(Orders::Total))
        .col(big_integer(Orders::Refunded))
        .col(timestamp_with_time_zone(Orders::PlacedAt))
        .col(timestamp_with_time_zone(Orders::CreatedAt))
        .col(timestamp_with_time_zone(Orders::UpdatedAt))
        .foreign_key(&mut owned_by_customer(Orders::Table, Orders::CustomerId))
        .to_owned()
}

fn order_lines() -> TableCreateStatement {
    Table::create()
        .table(OrderLines::Table)
        .col(big_pk_auto(OrderLines::Id))
        .col(big_integer(OrderLines::OrderId))
        .col(big_integer(OrderLines::CustomerId))
        .col(string(OrderLines::Sku))
        .col(string(OrderLines::ProductName))
        .col(integer(OrderLines::Quantity))
        .col(big_integer(OrderLines::UnitPrice))
        .foreign_key(&mut references(
            (OrderLines::Table, OrderLines::OrderId),
            (Orders::Table, Orders::Id),
            ForeignKeyAction::Cascade,
        ))
        .foreign_key(&mut owned_by_customer(
            OrderLines::Table,
            OrderLines::CustomerId,
        ))
        .to_owned()
}

fn tickets() -> TableCreateStatement {
    Table::create()
        .table(Tickets::Table)
        .col(big_pk_auto(Tickets::Id))
        .col(big_integer(Tickets::CustomerId))
        .col(string(Tickets::Subject))
        .col(string_len(Tickets::Status, ENUM_LEN))
        .col(string_len(Tickets::Priority, ENUM_LEN))
        .col(string_len(Tickets::Channel, ENUM_LEN))
        .col(timestamp_with_time_zone(Tickets::CreatedAt))
        .col(timestamp_with_time_zone(Tickets::UpdatedAt))
        .col(timestamp_with_time_zone_null(Tickets::FirstReplyAt))
        .col(timestamp_with_time_zone_null(Tickets::SolvedAt))
        .col(integer_null(Tickets::SatisfactionScore))
        .col(string_null(Tickets::SatisfactionComment))
        .col(timestamp_with_time_zone_null(Tickets::SatisfactionAt))
        .foreign_key(&mut owned_by_customer(Tickets::Table, Tickets::CustomerId))
        .to_owned()
}

fn ticket_messages() -> TableCreateStatement {
    Table::create()
        .table(TicketMessages::Table)
        .col(big_pk_auto(TicketMessages::Id))
        .col(big_integer(TicketMessages::TicketId))
        .col(big_integer(TicketMessages::CustomerId))
        .col(string_len(TicketMessages::AuthorKind, ENUM_LEN))
        .col(string_null(TicketMessages::AuthorName))
        .col(string(TicketMessages::Body))
        .col(timestamp_with_time_zone(TicketMessages::CreatedAt))
        .foreign_key(&mut references(
            (TicketMessages::Table, TicketMessages::TicketId),
            (Tickets::Table, Tickets::Id),
            ForeignKeyAction::Cascade,
        ))
        .foreign_key(&mut owned_by_customer(
            TicketMessages::Table,
            TicketMessages::CustomerId,
        ))
        .to_owned()
}

fn reviews() -> TableCreateStatement {
    Table::create()
        .table(Reviews::Table)
        .col(big_pk_auto(Reviews::Id))
        .col(big_integer(Reviews::CustomerId))
        .col(string(Reviews::ProductSku))
        .col(big_integer_null(Reviews::OrderId))
        .col(integer(Reviews::Rating))
        .col(string_null(Reviews::Title))
        .col(string_null(Reviews::Body))
        .col(string_len(Reviews::Status, ENUM_LEN))
        .col(boolean(Reviews::VerifiedPurchase))
        .col(timestamp_with_time_zone(Reviews::CreatedAt))
        .col(timestamp_with_time_zone(Reviews::UpdatedAt))
        .foreign_key(&mut owned_by_customer(Reviews::Table, Reviews::CustomerId))
        // A review outlives the order it was verified against.
        .foreign_key(&mut references(
            (Reviews::Table, Reviews::OrderId),
            (Orders::Table, Orders::Id),
            ForeignKeyAction::SetNull,
        ))
        .to_owned()
}

fn referrals() -> TableCreateStatement {
    Table::create()
        .table(Referrals::Table)
        .col(big_pk_auto(Referrals::Id))
        .col(big_integer(Referrals::CustomerId))
        .col(string(Referrals::RefereeEmail))
        .col(big_integer_null(Referrals::RefereeCustomerId))
        .col(string(Referrals::Code))
        .col(string_len(Referrals::Status, ENUM_LEN))
        .col(string_null(Referrals::RejectionReason))
        .col(big_integer(Referrals::ReferrerRewardPoints))
        .col(big_integer(Referrals::RefereeRewardPoints))
        .col(timestamp_with_time_zone(Referrals::InvitedAt))
        .col(timestamp_with_time_zone_null(Referrals::SignedUpAt))
        .col(timestamp_with_time_zone_null(Referrals::ConvertedAt))
        .col(timestamp_with_time_zone_null(Referrals::RewardedAt))
        .col(timestamp_with_time_zone(Referrals::UpdatedAt))
        .foreign_key(&mut owned_by_customer(
            Referrals::Table,
            Referrals::CustomerId,
        ))
        // The referral belongs to the referrer; the referee leaving must not erase it.
        .foreign_key(&mut references(
            (Referrals::Table, Referrals::RefereeCustomerId),
            (Customers::Table, Customers::Id),
            ForeignKeyAction::SetNull,
        ))
        .to_owned()
}

fn loyalty_accounts() -> TableCreateStatement {
    Table::create()
        .table(LoyaltyAccounts::Table)
        .col(big_pk_auto(LoyaltyAccounts::Id))
        .col(big_integer(LoyaltyAccounts::CustomerId))
        .col(string(LoyaltyAccounts::ReferralCode))
        .col(string_len(LoyaltyAccounts::Tier, ENUM_LEN))
        .col(big_integer(LoyaltyAccounts::PointsAvailable))
        .col(big_integer(LoyaltyAccounts::PointsPending))
        .col(big_integer(LoyaltyAccounts::PointsLifetimeEarned))
        .col(timestamp_with_time_zone(LoyaltyAccounts::CreatedAt))
        .col(timestamp_with_time_zone(LoyaltyAccounts::UpdatedAt))
        .foreign_key(&mut owned_by_customer(
            LoyaltyAccounts::Table,
            LoyaltyAccounts::CustomerId,
        ))
        .to_owned()
}

fn loyalty_transactions() -> TableCreateStatement {
    Table::create()
        .table(LoyaltyTransactions::Table)
        .col(big_pk_auto(LoyaltyTransactions::Id))
        .col(big_integer(LoyaltyTransactions::CustomerId))
        .col(string_len(LoyaltyTransactions::Kind, ENUM_LEN))
        .col(big_integer(LoyaltyTransactions::Points))
        .col(string_len(LoyaltyTransactions::State, ENUM_LEN))
        .col(big_integer_null(LoyaltyTransactions::OrderId))
        .col(string_null(LoyaltyTransactions::IdempotencyKey))
        .col(string_null(LoyaltyTransactions::Description))
        .col(timestamp_with_time_zone_null(
            LoyaltyTransactions::AvailableAt,
        ))
        .col(timestamp_with_time_zone_null(
            LoyaltyTransactions::ExpiresAt,
        ))
        .col(timestamp_with_time_zone(LoyaltyTransactions::CreatedAt))
        .foreign_key(&mut owned_by_customer(
            LoyaltyTransactions::Table,
            LoyaltyTransactions::CustomerId,
        ))
        // Ledger rows are history: they stay when their order goes.
        .foreign_key(&mut references(
            (LoyaltyTransactions::Table, LoyaltyTransactions::OrderId),
            (Orders::Table, Orders::Id),
            ForeignKeyAction::SetNull,
        ))
        .to_owned()
}

fn nps_responses() -> TableCreateStatement {
    Table::create()
        .table(NpsResponses::Table)
        .col(big_pk_auto(NpsResponses::Id))
        .col(big_integer(NpsResponses::CustomerId))
        .col(integer(NpsResponses::Score))
        .col(string_null(NpsResponses::Comment))
        .col(string_len(NpsResponses::Channel, ENUM_LEN))
        .col(timestamp_with_time_zone(NpsResponses::CreatedAt))
        .foreign_key(&mut owned_by_customer(
            NpsResponses::Table,
            NpsResponses::CustomerId,
        ))
        .to_owned()
}

fn audit_events() -> TableCreateStatement {
    Table::create()
        .table(AuditEvents::Table)
        .col(big_pk_auto(AuditEvents::Id))
        .col(string(AuditEvents::Principal))
        .col(string(AuditEvents::Role))
        .col(string(AuditEvents::Action))
        .col(string(AuditEvents::Target))
        .col(big_integer_null(AuditEvents::CustomerId))
        .col(timestamp_with_time_zone(AuditEvents::At))
        .col(json(AuditEvents::Details))
        // The trail must survive the customer it describes.
        .foreign_key(&mut references(
            (AuditEvents::Table, AuditEvents::CustomerId),
            (Customers::Table, Customers::Id),
            ForeignKeyAction::SetNull,
        ))
        .to_owned()
}

/// Per table: unique constraints, then the access paths of the API. Keyset
/// pages end in `id` so their order is total. An index, primary key or unique
/// constraint leading with `customer_id` also serves the cascade from
/// `customers`, so no table gets a plain `customer_id` index besides it.
fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        unique(Customers::Table, &[Customers::Email]),
        unique(
            Customers::Table,
            &[Customers::ExternalSource, Customers::ExternalRef],
        ),
        index(Customers::Table, &[Customers::CreatedAt, Customers::Id]),
        index(Customers::Table, &[Customers::Country]),
        index(Customers::Table, &[Customers::City]),
        index(Customers::Table, &[Customers::EmailMarketingState]),
        unique(Segments::Table, &[Segments::Name]),
        index(
            CustomerTags::Table,
            &[CustomerTags::Tag, CustomerTags::CustomerId],
        ),
        index(
            CustomerMetrics::Table,
            &[CustomerMetrics::NetSpend, CustomerMetrics::CustomerId],
        ),
        index(
            CustomerMetrics::Table,
            &[CustomerMetrics::LastOrderAt, CustomerMetrics::CustomerId],
        ),
        index(CustomerMetrics::Table, &[CustomerMetrics::OrdersCount]),
        index(CustomerMetrics::Table, &[CustomerMetrics::FirstOrderAt]),
        index(CustomerMetrics::Table, &[CustomerMetrics::LastNpsScore]),
        index(CustomerMetrics::Table, &[CustomerMetrics::OpenTickets]),
        unique(Orders::Table, &[Orders::OrderNumber]),
        unique(Orders::Table, &[Orders::ExternalRef]),
        index(
            Orders::Table,
            &[Orders::CustomerId, Orders::PlacedAt, Orders::Id],
        ),
        index(Orders::Table, &[Orders::CustomerId, Orders::Status]),
        index(OrderLines::Table, &[OrderLines::OrderId, OrderLines::Id]),
        index(
            OrderLines::Table,
            &[OrderLines::Sku, OrderLines::CustomerId],
        ),
        index(OrderLines::Table, &[OrderLines::CustomerId]),
        index(
            Tickets::Table,
            &[Tickets::CustomerId, Tickets::CreatedAt, Tickets::Id],
        ),
        index(Tickets::Table, &[Tickets::CustomerId, Tickets::Status]),
        index(Tickets::Table, &[Tickets::Status]),
        index(
            TicketMessages::Table,
            &[
                TicketMessages::TicketId,
                TicketMessages::CreatedAt,
                TicketMessages::Id,
            ],
        ),
        index(TicketMessages::Table, &[TicketMessages::CustomerId]),
        unique(Reviews::Table, &[Reviews::CustomerId, Reviews::ProductSku]),
        index(
            Reviews::Table,
            &[Reviews::CustomerId, Reviews::CreatedAt, Reviews::Id],
        ),
        // Deleting an order nulls these; unindexed, that is a full scan per order.
        index(Reviews::Table, &[Reviews::OrderId]),
        index(
            Referrals::Table,
            &[Referrals::CustomerId, Referrals::InvitedAt, Referrals::Id],
        ),
        index(Referrals::Table, &[Referrals::RefereeCustomerId]),
        index(Referrals::Table, &[Referrals::RefereeEmail]),
        unique(LoyaltyAccounts::Table, &[LoyaltyAccounts::CustomerId]),
        unique(LoyaltyAccounts::Table, &[LoyaltyAccounts::ReferralCode]),
        index(LoyaltyAccounts::Table, &[LoyaltyAccounts::Tier]),
        unique(
            LoyaltyTransactions::Table,
            &[
                LoyaltyTransactions::CustomerId,
                LoyaltyTransactions::IdempotencyKey,
            ],
        ),
        index(
            LoyaltyTransactions::Table,
            &[
                LoyaltyTransactions::CustomerId,
                LoyaltyTransactions::CreatedAt,
                LoyaltyTransactions::Id,
            ],
        ),
        // Deleting an order nulls these; unindexed, that is a full scan per order.
        index(LoyaltyTransactions::Table, &[LoyaltyTransactions::OrderId]),
        index(
            NpsResponses::Table,
            &[
                NpsResponses::CustomerId,
                NpsResponses::CreatedAt,
                NpsResponses::Id,
            ],
        ),
        index(
            AuditEvents::Table,
            &[AuditEvents::CustomerId, AuditEvents::At],
        ),
        index(AuditEvents::Table, &[AuditEvents::At]),
    ]
}

/// `idx_<table>_<cols>` over `cols` of `table`.
fn index<T: Iden + Copy>(table: T, cols: &[T]) -> IndexCreateStatement {
    named_index("idx", table, cols)
}

/// `uq_<table>_<cols>`: a unique index over `cols` of `table`.
fn unique<T: Iden + Copy>(table: T, cols: &[T]) -> IndexCreateStatement {
    named_index("uq", table, cols).unique().to_owned()
}

fn named_index<T: Iden + Copy>(prefix: &str, table: T, cols: &[T]) -> IndexCreateStatement {
    let mut name = format!("{prefix}_{}", table.unquoted());
    let mut index = Index::create().table(table).to_owned();
    for &col in cols {
        name.push('_');
        name.push_str(col.unquoted());
        index.col(col);
    }
    index.name(name).to_owned()
}

/// `<table>.customer_id -> customers(id)`: customer-owned rows go with their customer.
fn owned_by_customer<T: Iden + Copy>(table: T, col: T) -> ForeignKeyCreateStatement {
    references(
        (table, col),
        (Customers::Table, Customers::Id),
        ForeignKeyAction::Cascade,
    )
}

/// A foreign key named `fk_<table>_<col>`.
fn references<F: Iden + Copy, T: Iden>(
    (from_table, from_col): (F, F),
    (to_table, to_col): (T, T),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!(
            "fk_{}_{}",
            from_table.unquoted(),
            from_col.unquoted()
        ))
        .from(from_table, from_col)
        .to(to_table, to_col)
        .on_delete(on_delete)
        .to_owned()
}

#[derive(Clone, Copy, DeriveIden)]
enum Customers {
    Table,
    Id,
    ExternalSource,
    ExternalRef,
    Email,
    FirstName,
    LastName,
    Phone,
    Birthday,
    Locale,
    Country,
    City,
    EmailMarketingState,
    ConsentUpdatedAt,
    CreatedAt,
    UpdatedAt,
    ErasedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum Segments {
    Table,
    Id,
    Name,
    Description,
    Query,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum CustomerTags {
    Table,
    CustomerId,
    Tag,
}

#[derive(Clone, Copy, DeriveIden)]
enum CustomerMetrics {
    Table,
    CustomerId,
    OrdersCount,
    GrossSpend,
    RefundedTotal,
    NetSpend,
    RefundsCount,
    CancelledCount,
    FirstOrderAt,
    LastOrderAt,
    TicketsCount,
    OpenTickets,
    FirstReplyMinutesSum,
    FirstReplyCount,
    CsatSum,
    CsatCount,
    ReviewsCount,
    LastNpsScore,
    LastNpsAt,
    UpdatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum Orders {
    Table,
    Id,
    CustomerId,
    OrderNumber,
    ExternalRef,
    Status,
    Channel,
    Currency,
    Subtotal,
    Discount,
    Tax,
    Total,
    Refunded,
    PlacedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum OrderLines {
    Table,
    Id,
    OrderId,
    CustomerId,
    Sku,
    ProductName,
    Quantity,
    UnitPrice,
}

#[derive(Clone, Copy, DeriveIden)]
enum Tickets {
    Table,
    Id,
    CustomerId,
    Subject,
    Status,
    Priority,
    Channel,
    CreatedAt,
    UpdatedAt,
    FirstReplyAt,
    SolvedAt,
    SatisfactionScore,
    SatisfactionComment,
    SatisfactionAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum TicketMessages {
    Table,
    Id,
    TicketId,
    CustomerId,
    AuthorKind,
    AuthorName,
    Body,
    CreatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum Reviews {
    Table,
    Id,
    CustomerId,
    ProductSku,
    OrderId,
    Rating,
    Title,
    Body,
    Status,
    VerifiedPurchase,
    CreatedAt,
    UpdatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum Referrals {
    Table,
    Id,
    CustomerId,
    RefereeEmail,
    RefereeCustomerId,
    Code,
    Status,
    RejectionReason,
    ReferrerRewardPoints,
    RefereeRewardPoints,
    InvitedAt,
    SignedUpAt,
    ConvertedAt,
    RewardedAt,
    UpdatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum LoyaltyAccounts {
    Table,
    Id,
    CustomerId,
    ReferralCode,
    Tier,
    PointsAvailable,
    PointsPending,
    PointsLifetimeEarned,
    CreatedAt,
    UpdatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum LoyaltyTransactions {
    Table,
    Id,
    CustomerId,
    Kind,
    Points,
    State,
    OrderId,
    IdempotencyKey,
    Description,
    AvailableAt,
    ExpiresAt,
    CreatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum NpsResponses {
    Table,
    Id,
    CustomerId,
    Score,
    Comment,
    Channel,
    CreatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    Principal,
    Role,
    Action,
    Target,
    CustomerId,
    At,
    Details,
}
