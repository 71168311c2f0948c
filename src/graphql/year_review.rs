//! `Customer.yearInReview(year)`: a customer's calendar year in figures.
//!
//! The year is cut in the store time zone (`domain::year_review`); each
//! part is read by its own loader (`read::year_review`) and guarded by the
//! domain it comes from, so a partner sees the parts its scopes open and a
//! FORBIDDEN null for the others: orders and the spend standing need
//! `orders:read`, points and tier `loyalty:read`, reviews `reviews:read`,
//! tickets `tickets:read`, NPS answers and the sign-up date
//! `customers:read`.

use async_graphql::{Context, Enum, ErrorExtensions, ID, Object, SimpleObject};
use c360_entity::customer;
use chrono::{DateTime, Utc};

use super::context::{loaders, state};
use super::enums::LoyaltyTier;
use super::guard::Reads;
use super::ids::{Kind, encode};
use super::money::Money;
use super::nps::NpsCategory;
use crate::auth::Domain;
use crate::domain::year_review::{self, Band, Standing, YearWindow};
use crate::read::year_review::{CategorySpend, ProductSpend, Purchase, YearKey, YearLoaders};
use crate::service::insights::PeriodInsights;

/// The review of `customer`'s `year`, asked now: BAD_USER_INPUT on `year`
/// for a year not yet begun in the store time zone, or before 1970.
pub fn review(
    ctx: &Context<'_>,
    customer: &customer::Model,
    year: i32,
) -> async_graphql::Result<YearInReview> {
    let st = state(ctx)?;
    let now = st.clock.now();
    let window = YearWindow::new(st.config.timezone, year, now)?;
    Ok(YearInReview {
        key: YearKey {
            customer_id: customer.id,
            window,
        },
        member_since: customer.created_at,
        complete: window.complete(now),
        timezone: st.config.timezone.name(),
    })
}

fn year_loaders<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a YearLoaders> {
    Ok(&loaders(ctx)?.year)
}

fn base_currency<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a str> {
    Ok(&state(ctx)?.config.base_currency)
}

/// A customer's calendar year in the store time zone.
pub struct YearInReview {
    key: YearKey,
    member_since: DateTime<Utc>,
    complete: bool,
    timezone: &'static str,
}

#[Object]
impl YearInReview {
    async fn year(&self) -> i32 {
        self.key.window.year
    }
    /// The IANA time zone the year is a calendar year in (`--timezone`).
    async fn timezone(&self) -> &str {
        self.timezone
    }
    /// Local midnight of 1 January, as a UTC instant.
    async fn starts_at(&self) -> DateTime<Utc> {
        self.key.window.start
    }
    /// Local midnight of the next 1 January (excluded).
    async fn ends_at(&self) -> DateTime<Utc> {
        self.key.window.end
    }
    /// False for the year in progress: its figures are those so far.
    async fn complete(&self) -> bool {
        self.complete
    }
    /// Counted orders (not cancelled, in the base currency) placed in the year.
    #[graphql(guard = "Reads(Domain::Orders)")]
    async fn orders(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<YearOrders>> {
        let figures = year_loaders(ctx)?
            .orders
            .load_one(self.key)
            .await
            .map_err(|e| e.extend())?
            .unwrap_or_default();
        Ok(Some(YearOrders {
            key: self.key,
            figures,
        }))
    }
    /// Points and tier of the year.
    #[graphql(guard = "Reads(Domain::Loyalty)")]
    async fn loyalty(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<YearLoyalty>> {
        let tier = ctx.look_ahead().field("tierReached").exists();
        let (points, tier) = futures_util::try_join!(points(ctx, self.key), async {
            match tier {
                true => tier_reached(ctx, self.key).await,
                false => Ok(None),
            }
        },)?;
        Ok(Some(YearLoyalty { points, tier }))
    }
    /// Product reviews written in the year, whatever their moderation status.
    #[graphql(guard = "Reads(Domain::Reviews)")]
    async fn reviews_written(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<i64>> {
        let n = year_loaders(ctx)?
            .reviews
            .load_one(self.key)
            .await
            .map_err(|e| e.extend())?;
        Ok(Some(n.unwrap_or_default()))
    }
    /// Support tickets opened in the year.
    #[graphql(guard = "Reads(Domain::Tickets)")]
    async fn support(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<YearSupport>> {
        let tickets = year_loaders(ctx)?
            .tickets
            .load_one(self.key)
            .await
            .map_err(|e| e.extend())?
            .unwrap_or_default();
        Ok(Some(YearSupport(tickets)))
    }
    /// NPS answers given in the year.
    #[graphql(guard = "Reads(Domain::Customers)")]
    async fn nps(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<YearNps>> {
        let figures = year_loaders(ctx)?
            .nps
            .load_one(self.key)
            .await
            .map_err(|e| e.extend())?
            .unwrap_or_default();
        Ok(Some(YearNps(figures)))
    }
    /// When the customer was added (signed up).
    #[graphql(guard = "Reads(Domain::Customers)")]
    async fn member_since(&self) -> Option<DateTime<Utc>> {
        Some(self.member_since)
    }
}

/// The year's counted orders; products and categories are read only when
/// asked for.
pub struct YearOrders {
    key: YearKey,
    figures: crate::read::year_review::YearOrders,
}

#[Object]
impl YearOrders {
    async fn count(&self) -> i64 {
        self.figures.count
    }
    /// `total − refunded` summed over the year's counted orders.
    async fn net_spend(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Ok(Money::from_minor(
            self.figures.net_spend,
            base_currency(ctx)?,
        ))
    }
    /// The year's first counted order; null without one.
    async fn first_purchase(&self) -> Option<YearPurchase> {
        self.figures.first.clone().map(YearPurchase::from)
    }
    /// The year's last counted order; null without one.
    async fn last_purchase(&self) -> Option<YearPurchase> {
        self.figures.last.clone().map(YearPurchase::from)
    }
    /// The five products with the highest spend (`quantity × unit price`
    /// over the lines of counted orders), then quantity, then sku.
    async fn top_products(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<YearProduct>> {
        let currency = base_currency(ctx)?;
        Ok(year_loaders(ctx)?
            .products
            .load_one(self.key)
            .await
            .map_err(|e| e.extend())?
            .unwrap_or_default()
            .into_iter()
            .map(|p| YearProduct::new(p, currency))
            .collect())
    }
    /// The three categories with the highest line spend, then name; lines
    /// without a category are in no list but in every share's whole.
    async fn top_categories(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<YearCategory>> {
        let currency = base_currency(ctx)?;
        Ok(year_loaders(ctx)?
            .categories
            .load_one(self.key)
            .await
            .map_err(|e| e.extend())?
            .unwrap_or_default()
            .into_iter()
            .map(|c| YearCategory::new(c, currency))
            .collect())
    }
    /// Where the year's net spend stands among every customer who bought
    /// that year; null without a counted order.
    async fn standing(&self) -> Option<SpendStanding> {
        self.figures.standing.map(SpendStanding)
    }
}

/// A counted order at an end of the year.
#[derive(SimpleObject)]
pub struct YearPurchase {
    order_id: ID,
    order_number: String,
    placed_at: DateTime<Utc>,
}

impl From<Purchase> for YearPurchase {
    fn from(p: Purchase) -> YearPurchase {
        YearPurchase {
            order_id: encode(Kind::Order, p.order_id),
            order_number: p.order_number,
            placed_at: p.placed_at,
        }
    }
}

/// A product of the year.
#[derive(SimpleObject)]
pub struct YearProduct {
    sku: String,
    name: String,
    quantity: i64,
    spend: Money,
}

impl YearProduct {
    fn new(p: ProductSpend, currency: &str) -> YearProduct {
        YearProduct {
            spend: Money::from_minor(p.spend, currency),
            sku: p.sku,
            name: p.name,
            quantity: p.quantity,
        }
    }
}

/// A category of the year.
#[derive(SimpleObject)]
pub struct YearCategory {
    category: String,
    spend: Money,
    /// The category's share (0 to 1) of the year's line spend.
    share: f64,
}

impl YearCategory {
    fn new(c: CategorySpend, currency: &str) -> YearCategory {
        YearCategory {
            share: c.share(),
            spend: Money::from_minor(c.spend, currency),
            category: c.category,
        }
    }
}

/// The spend bands of a year's standing.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::domain::year_review::Band")]
pub enum SpendBand {
    #[graphql(name = "TOP_1")]
    Top1,
    #[graphql(name = "TOP_5")]
    Top5,
    #[graphql(name = "TOP_10")]
    Top10,
    #[graphql(name = "TOP_25")]
    Top25,
}

/// Where a customer's net spend of a year stands among the year's buyers.
pub struct SpendStanding(Standing);

#[Object]
impl SpendStanding {
    /// The share (0 to 1) of the year's buyers whose net spend is lower than
    /// or equal to this customer's.
    async fn percentile(&self) -> f64 {
        self.0.percentile()
    }
    /// Customers with a counted order in the year.
    async fn buyers(&self) -> i64 {
        self.0.buyers
    }
    /// Of them, those whose net spend is lower than or equal to this customer's.
    async fn buyers_at_or_below(&self) -> i64 {
        self.0.at_or_below
    }
    /// The narrowest of top 1 %, 5 %, 10 % and 25 % the percentile reaches
    /// (at least 0.99, 0.95, 0.90, 0.75); null below.
    async fn band(&self) -> Option<SpendBand> {
        self.0.band().map(SpendBand::from)
    }
    /// The band as words: `top 1%`, ...; null without a band.
    async fn label(&self) -> Option<String> {
        self.0.band().map(Band::label)
    }
}

/// Points and tier of the year.
pub struct YearLoyalty {
    points: crate::read::year_review::YearPoints,
    /// Read only when `tierReached` is asked for.
    tier: Option<LoyaltyTier>,
}

#[Object]
impl YearLoyalty {
    /// Positive ledger rows created in the year, not cancelled.
    async fn points_earned(&self) -> i64 {
        self.points.earned
    }
    /// REDEEM rows created in the year, not cancelled, as a positive number.
    async fn points_redeemed(&self) -> i64 {
        self.points.redeemed
    }
    /// The highest tier held at any time of the year (up to now for the
    /// year in progress), from the account's recorded tier changes; a tier
    /// with no change recorded is taken as held since the account opened.
    /// Null when the account opened after the year.
    async fn tier_reached(&self) -> Option<LoyaltyTier> {
        self.tier
    }
}

async fn points(
    ctx: &Context<'_>,
    key: YearKey,
) -> async_graphql::Result<crate::read::year_review::YearPoints> {
    Ok(year_loaders(ctx)?
        .points
        .load_one(key)
        .await
        .map_err(|e| e.extend())?
        .unwrap_or_default())
}

/// The tier `key`'s year reached (`domain::year_review::tier_reached`),
/// from the account (settled and reviewed when due, as `Customer.loyalty`
/// shows it) and its recorded changes; None without an account by the
/// year's end.
async fn tier_reached(
    ctx: &Context<'_>,
    key: YearKey,
) -> async_graphql::Result<Option<LoyaltyTier>> {
    let l = loaders(ctx)?;
    let (account, changes) = futures_util::try_join!(
        l.loyalty.load_one(key.customer_id),
        l.year.tier_changes.load_one(key),
    )
    .map_err(|e| e.extend())?;
    let w = key.window;
    let Some(account) = account.filter(|a| a.created_at < w.end) else {
        return Ok(None);
    };
    let from = w.start.max(account.created_at);
    let changes = changes.unwrap_or_default();
    Ok(Some(
        year_review::tier_reached(&changes, account.tier, from, w.end).into(),
    ))
}

/// Support tickets of the year.
pub struct YearSupport(crate::read::year_review::YearTickets);

#[Object]
impl YearSupport {
    /// Tickets created in the year.
    async fn tickets_opened(&self) -> i64 {
        self.0.opened
    }
    /// Median whole minutes (each rounded down) from opening to the first
    /// agent reply, over the year's tickets answered; null without one.
    async fn median_first_reply_minutes(&self) -> Option<f64> {
        // The median as period insights take it: the middle value, or the
        // mean of the two middle ones.
        let figures = PeriodInsights {
            first_reply_minutes: self.0.first_reply_minutes.clone(),
            ..PeriodInsights::default()
        };
        figures.median_first_reply_minutes()
    }
}

/// NPS answers of the year.
pub struct YearNps(crate::read::year_review::YearNps);

#[Object]
impl YearNps {
    /// Answers given in the year.
    async fn answers(&self) -> i64 {
        self.0.answers
    }
    /// The score of the year's last answer; null without one.
    async fn last_score(&self) -> Option<i32> {
        self.0.last_score
    }
    /// How the year's last answer counts; null without one.
    async fn last_category(&self) -> Option<NpsCategory> {
        self.0
            .last_score
            .map(|s| crate::domain::nps::Category::of(s).into())
    }
}
