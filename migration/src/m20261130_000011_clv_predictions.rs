//! `clv_fits` and `customer_clv`: the lifetime-value models fitted over the
//! whole base and what they predict for each customer (`service::clv`).
//!
//! A fit depends on every customer, like RFM scores, so it is refreshed in
//! bulk rather than on each write: `clv_fits` keeps one row per refresh
//! (the parameters, the customers used, convergence and log-likelihood),
//! and `customer_clv` one row per customer with a counted order, rewritten
//! by each refresh and pointing at the fit it came from. Parameters and
//! predictions are nullable: a model that could not be fitted, or a
//! customer it says nothing about, has none, and `status` says why.

use sea_orm_migration::{prelude::*, schema::*};

/// Length of the status and band columns, as the entities declare them.
const STATUS_LEN: u32 = 32;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ClvFits::Table)
                    .col(big_integer(ClvFits::Id).primary_key().auto_increment())
                    .col(timestamp_with_time_zone(ClvFits::FittedAt))
                    .col(string_len(ClvFits::Status, STATUS_LEN))
                    .col(big_integer(ClvFits::Customers))
                    .col(double_null(ClvFits::PurchaseR))
                    .col(double_null(ClvFits::PurchaseAlpha))
                    .col(double_null(ClvFits::PurchaseA))
                    .col(double_null(ClvFits::PurchaseB))
                    .col(double_null(ClvFits::PurchaseLogLikelihood))
                    .col(boolean_null(ClvFits::PurchaseConverged))
                    .col(big_integer(ClvFits::RepeatCustomers))
                    .col(double_null(ClvFits::SpendP))
                    .col(double_null(ClvFits::SpendQ))
                    .col(double_null(ClvFits::SpendGamma))
                    .col(double_null(ClvFits::SpendLogLikelihood))
                    .col(boolean_null(ClvFits::SpendConverged))
                    .col(double(ClvFits::RefundShare))
                    .col(double_null(ClvFits::ExpectedOrders90d))
                    .col(double_null(ClvFits::ExpectedOrders365d))
                    .col(big_integer_null(ClvFits::PredictedValue))
                    .col(big_integer(ClvFits::FitMillis))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CustomerClv::Table)
                    .col(big_integer(CustomerClv::CustomerId).primary_key())
                    .col(big_integer(CustomerClv::FitId))
                    .col(string_len(CustomerClv::Status, STATUS_LEN))
                    .col(double_null(CustomerClv::ChurnProbability))
                    .col(string_len_null(CustomerClv::ChurnRisk, STATUS_LEN))
                    .col(double_null(CustomerClv::ExpectedOrders90d))
                    .col(double_null(CustomerClv::ExpectedOrders365d))
                    .col(big_integer_null(CustomerClv::ExpectedOrderValue))
                    .col(big_integer_null(CustomerClv::PredictedValue))
                    .col(timestamp_with_time_zone_null(CustomerClv::NextOrderAt))
                    .col(timestamp_with_time_zone(CustomerClv::RefreshedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(CustomerClv::Table, CustomerClv::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(CustomerClv::Table, CustomerClv::FitId)
                            .to(ClvFits::Table, ClvFits::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The segment attributes (`predicted_clv >= 500`, `churn_risk =
        // 'HIGH'`, ...) find their customers through these; the key ends each
        // index so members come out in id order.
        for (name, column) in [
            (
                "idx_customer_clv_predicted_value",
                CustomerClv::PredictedValue,
            ),
            (
                "idx_customer_clv_churn_probability",
                CustomerClv::ChurnProbability,
            ),
            ("idx_customer_clv_churn_risk", CustomerClv::ChurnRisk),
            (
                "idx_customer_clv_expected_orders_90d",
                CustomerClv::ExpectedOrders90d,
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(CustomerClv::Table)
                        .col(column)
                        .col(CustomerClv::CustomerId)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CustomerClv::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ClvFits::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum ClvFits {
    Table,
    Id,
    FittedAt,
    Status,
    Customers,
    PurchaseR,
    PurchaseAlpha,
    PurchaseA,
    PurchaseB,
    PurchaseLogLikelihood,
    PurchaseConverged,
    RepeatCustomers,
    SpendP,
    SpendQ,
    SpendGamma,
    SpendLogLikelihood,
    SpendConverged,
    RefundShare,
    #[sea_orm(iden = "expected_orders_90d")]
    ExpectedOrders90d,
    #[sea_orm(iden = "expected_orders_365d")]
    ExpectedOrders365d,
    PredictedValue,
    FitMillis,
}

#[derive(DeriveIden)]
enum CustomerClv {
    Table,
    CustomerId,
    FitId,
    Status,
    ChurnProbability,
    ChurnRisk,
    #[sea_orm(iden = "expected_orders_90d")]
    ExpectedOrders90d,
    #[sea_orm(iden = "expected_orders_365d")]
    ExpectedOrders365d,
    ExpectedOrderValue,
    PredictedValue,
    NextOrderAt,
    RefreshedAt,
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
}
