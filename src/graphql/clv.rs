//! `insights { lifetimeValueModel }`: the latest fit of the lifetime-value
//! models (`service::clv`) and what it expects of the insights' population.
//! The per-customer figures are on `CustomerStats` (`stats.rs`).

use async_graphql::{Context, Object, SimpleObject};
use c360_entity::clv_fit;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::SelectStatement;

use super::context::reader;
use super::money::Money;
use super::stats::ClvStatus;
use crate::error::AppError;
use crate::service::clv::{self as service, Totals};

/// The BG/NBD model of orders and dropout: while active a customer orders
/// at rate λ ~ Gamma(r, α) per day, and after each repeat order stops for
/// good with probability p ~ Beta(a, b).
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct PurchaseModel {
    pub r: f64,
    /// In days: the mean rate of the base is r/α orders a day.
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    /// Summed over the customers fitted.
    pub log_likelihood: f64,
    /// Whether the maximum-likelihood search met its tolerances; when not,
    /// no prediction uses these parameters.
    pub converged: bool,
}

/// The Gamma-Gamma model of spend per order: a customer's orders are
/// Gamma(p, ν) in major units of the base currency, ν ~ Gamma(q, γ); the
/// base's mean order is pγ/(q − 1).
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct SpendModel {
    pub p: f64,
    pub q: f64,
    /// In major units of the base currency.
    pub gamma: f64,
    pub log_likelihood: f64,
    /// Whether the search met its tolerances; when not (or when q ≤ 1), no
    /// prediction uses these parameters.
    pub converged: bool,
}

/// The latest refresh of the lifetime-value models, and what it predicts
/// for the population `insights` counts. The predictions run from
/// `fittedAt`, not from the insights' period.
pub struct LifetimeValueModel {
    fit: clv_fit::Model,
    population: Option<SelectStatement>,
    currency: String,
    /// The population's sums, one statement for all the fields that need them.
    totals: tokio::sync::OnceCell<Totals>,
}

impl LifetimeValueModel {
    /// The latest fit, None before the first refresh.
    pub async fn latest(
        ctx: &Context<'_>,
        population: Option<SelectStatement>,
        currency: &str,
    ) -> async_graphql::Result<Option<LifetimeValueModel>> {
        Ok(service::latest_fit(reader(ctx)?)
            .await?
            .map(|fit| LifetimeValueModel {
                fit,
                population,
                currency: currency.to_owned(),
                totals: tokio::sync::OnceCell::new(),
            }))
    }

    async fn totals(&self, ctx: &Context<'_>) -> async_graphql::Result<Totals> {
        let totals = self
            .totals
            .get_or_try_init(|| async {
                Ok::<_, async_graphql::Error>(
                    service::totals(reader(ctx)?, self.population.clone()).await?,
                )
            })
            .await?;
        Ok(*totals)
    }
}

#[Object]
impl LifetimeValueModel {
    /// When the models were fitted (the refresh's instant).
    async fn fitted_at(&self) -> DateTime<Utc> {
        self.fit.fitted_at
    }
    /// The outcome for the base: PREDICTED, SPEND_MODEL_UNAVAILABLE,
    /// BASE_TOO_SMALL or NOT_CONVERGED (see `ClvStatus`).
    async fn status(&self) -> async_graphql::Result<ClvStatus> {
        crate::domain::clv::Status::parse(&self.fit.status)
            .map(ClvStatus::from)
            .ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!(
                    "clv_fits holds an unknown status {:?}",
                    self.fit.status
                ))
                .into()
            })
    }
    /// Customers with a counted order at the refresh: the purchase model's base.
    async fn customers(&self) -> i64 {
        self.fit.customers
    }
    /// Of those, customers with a repeat order of positive value: the spend model's base.
    async fn repeat_customers(&self) -> i64 {
        self.fit.repeat_customers
    }
    /// The purchase model; null when the base was too small to fit.
    async fn purchase_model(&self) -> Option<PurchaseModel> {
        let f = &self.fit;
        Some(PurchaseModel {
            r: f.purchase_r?,
            alpha: f.purchase_alpha?,
            a: f.purchase_a?,
            b: f.purchase_b?,
            log_likelihood: f.purchase_log_likelihood?,
            converged: f.purchase_converged?,
        })
    }
    /// The spend model; null when too few customers had a repeat order.
    async fn spend_model(&self) -> Option<SpendModel> {
        let f = &self.fit;
        Some(SpendModel {
            p: f.spend_p?,
            q: f.spend_q?,
            gamma: f.spend_gamma?,
            log_likelihood: f.spend_log_likelihood?,
            converged: f.spend_converged?,
        })
    }
    /// Refunded amount over order totals, across the base's counted orders:
    /// what comes off expected spend in the predicted values.
    async fn refund_share(&self) -> f64 {
        self.fit.refund_share
    }
    /// Customers of the population with predictions from this refresh.
    async fn customers_predicted(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        Ok(self.totals(ctx).await?.customers)
    }
    /// Orders the population is expected to place in the 90 days after
    /// `fittedAt` (the sum of its customers' `expectedOrders90d`); 0 when
    /// the purchase model could not be used.
    #[graphql(name = "expectedOrders90d")]
    async fn expected_orders_90d(&self, ctx: &Context<'_>) -> async_graphql::Result<f64> {
        Ok(self.totals(ctx).await?.expected_orders_90d)
    }
    /// Orders expected in the 365 days after `fittedAt`.
    #[graphql(name = "expectedOrders365d")]
    async fn expected_orders_365d(&self, ctx: &Context<'_>) -> async_graphql::Result<f64> {
        Ok(self.totals(ctx).await?.expected_orders_365d)
    }
    /// The population's predicted values summed: net spend expected in the
    /// 365 days after `fittedAt` from the customers who have one (see
    /// `CustomerStats.predictedLifetimeValue`).
    async fn predicted_value(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Ok(Money::from_minor(
            self.totals(ctx).await?.predicted_value,
            &self.currency,
        ))
    }
}
