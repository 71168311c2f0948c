//! What a segment may filter on: every attribute and function with its type,
//! the operators the type takes and, for enums, the allowed values. The type
//! checker, the compiler and `segmentFilters` all read this one table.

/// The value type of an attribute; it decides the operators and literals allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// A whole number.
    Integer,
    /// An amount in the base currency, written in major units (`500` or `99.90`).
    Money,
    /// A number with decimals (`0.8`, `2.5`), compared by order only: a
    /// model's estimate is never exactly equal to a literal.
    Number,
    /// A calendar day: `2026-01-31`, `today`, `yesterday`, `-7d`, `+3w`, `-6m`, `+1y`.
    Date,
    /// One of a closed set of upper-case values.
    Enum,
    /// Free text.
    Text,
    /// A set of values, tested with CONTAINS.
    List,
    /// `true` or `false`.
    Boolean,
}

/// An operator as the catalogue lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Between,
    In,
    NotIn,
    Contains,
    NotContains,
    IsNull,
    IsNotNull,
    Matches,
}

impl OpKind {
    pub fn text(self) -> &'static str {
        match self {
            OpKind::Eq => "=",
            OpKind::Ne => "!=",
            OpKind::Gt => ">",
            OpKind::Ge => ">=",
            OpKind::Lt => "<",
            OpKind::Le => "<=",
            OpKind::Between => "BETWEEN",
            OpKind::In => "IN",
            OpKind::NotIn => "NOT IN",
            OpKind::Contains => "CONTAINS",
            OpKind::NotContains => "NOT CONTAINS",
            OpKind::IsNull => "IS NULL",
            OpKind::IsNotNull => "IS NOT NULL",
            OpKind::Matches => "MATCHES",
        }
    }
}

const ORDERED: &[OpKind] = &[
    OpKind::Eq,
    OpKind::Ne,
    OpKind::Gt,
    OpKind::Ge,
    OpKind::Lt,
    OpKind::Le,
    OpKind::Between,
    OpKind::In,
    OpKind::NotIn,
];
const ORDERED_DATES: &[OpKind] = &[
    OpKind::Eq,
    OpKind::Ne,
    OpKind::Gt,
    OpKind::Ge,
    OpKind::Lt,
    OpKind::Le,
    OpKind::Between,
];
const ORDERED_NUMBERS: &[OpKind] = &[
    OpKind::Gt,
    OpKind::Ge,
    OpKind::Lt,
    OpKind::Le,
    OpKind::Between,
];
const EQUALITY: &[OpKind] = &[OpKind::Eq, OpKind::Ne, OpKind::In, OpKind::NotIn];
const LIST: &[OpKind] = &[OpKind::Contains, OpKind::NotContains];
const BOOLEAN: &[OpKind] = &[OpKind::Eq, OpKind::Ne];

/// The operators a type takes, before IS NULL / IS NOT NULL (only for nullable attributes).
pub fn operators(ty: Type, nullable: bool) -> Vec<OpKind> {
    let mut ops = match ty {
        Type::Integer | Type::Money => ORDERED.to_vec(),
        Type::Number => ORDERED_NUMBERS.to_vec(),
        Type::Date => ORDERED_DATES.to_vec(),
        Type::Enum | Type::Text => EQUALITY.to_vec(),
        Type::List => LIST.to_vec(),
        Type::Boolean => BOOLEAN.to_vec(),
    };
    if nullable {
        ops.extend([OpKind::IsNull, OpKind::IsNotNull]);
    }
    ops
}

/// An attribute of a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attr {
    AmountSpent,
    NumberOfOrders,
    PointsBalance,
    LifetimePoints,
    NpsScore,
    OpenTickets,
    NumberOfTickets,
    FirstOrderDate,
    LastOrderDate,
    CustomerAddedDate,
    Birthday,
    LoyaltyTier,
    TierReviewAt,
    SpendToKeepTier,
    TierAtRisk,
    RfmGroup,
    PredictedClv,
    ChurnProbability,
    ExpectedOrders90d,
    ChurnRisk,
    TopCategory,
    PurchasedCategory,
    EmailSubscriptionStatus,
    NpsCategory,
    Country,
    City,
    EmailDomain,
    Email,
    CustomerTags,
}

pub struct AttrSpec {
    pub attr: Attr,
    pub name: &'static str,
    pub ty: Type,
    /// Whether the attribute may be absent (and so takes IS NULL / IS NOT NULL).
    pub nullable: bool,
    /// Allowed values of an enum.
    pub values: &'static [&'static str],
    pub description: &'static str,
}

impl AttrSpec {
    pub fn operators(&self) -> Vec<OpKind> {
        operators(self.ty, self.nullable)
    }
}

pub const LOYALTY_TIERS: &[&str] = &["BRONZE", "SILVER", "GOLD", "PLATINUM"];
pub const EMAIL_STATES: &[&str] = &["SUBSCRIBED", "UNSUBSCRIBED", "PENDING", "NOT_SUBSCRIBED"];
pub const NPS_CATEGORIES: &[&str] = &crate::domain::nps::Category::NAMES;
pub const RFM_GROUPS: &[&str] = &crate::domain::rfm::Group::NAMES;
pub const CHURN_RISKS: &[&str] = &crate::domain::clv::ChurnRisk::NAMES;

macro_rules! attr {
    ($attr:ident, $name:literal, $ty:ident, $nullable:literal, $values:expr, $desc:literal) => {
        AttrSpec {
            attr: Attr::$attr,
            name: $name,
            ty: Type::$ty,
            nullable: $nullable,
            values: $values,
            description: $desc,
        }
    };
}

pub const ATTRIBUTES: &[AttrSpec] = &[
    attr!(
        AmountSpent,
        "amount_spent",
        Money,
        false,
        &[],
        "Lifetime net spend (orders not cancelled, less refunds) in the base currency; 0 without orders."
    ),
    attr!(
        NumberOfOrders,
        "number_of_orders",
        Integer,
        false,
        &[],
        "Orders not cancelled."
    ),
    attr!(
        PointsBalance,
        "points_balance",
        Integer,
        false,
        &[],
        "Available loyalty points; 0 without a loyalty account."
    ),
    attr!(
        LifetimePoints,
        "lifetime_points",
        Integer,
        false,
        &[],
        "Loyalty points ever earned; 0 without a loyalty account."
    ),
    attr!(
        NpsScore,
        "nps_score",
        Integer,
        true,
        &[],
        "Score 0-10 of the latest NPS answer; null when the customer never answered."
    ),
    attr!(
        OpenTickets,
        "open_tickets",
        Integer,
        false,
        &[],
        "Support tickets not SOLVED or CLOSED."
    ),
    attr!(
        NumberOfTickets,
        "number_of_tickets",
        Integer,
        false,
        &[],
        "Support tickets ever opened."
    ),
    attr!(
        FirstOrderDate,
        "first_order_date",
        Date,
        true,
        &[],
        "Day of the first order not cancelled, in the store's time zone."
    ),
    attr!(
        LastOrderDate,
        "last_order_date",
        Date,
        true,
        &[],
        "Day of the latest order not cancelled, in the store's time zone."
    ),
    attr!(
        CustomerAddedDate,
        "customer_added_date",
        Date,
        false,
        &[],
        "Day the customer was added, in the store's time zone."
    ),
    attr!(Birthday, "birthday", Date, true, &[], "Date of birth."),
    attr!(
        LoyaltyTier,
        "loyalty_tier",
        Enum,
        true,
        LOYALTY_TIERS,
        "Loyalty tier; null without a loyalty account."
    ),
    attr!(
        TierReviewAt,
        "tier_review_at",
        Date,
        true,
        &[],
        "Day the loyalty tier is next checked against trailing spend (the end of its retention period, or under the rolling policy the day spend falls below it), in the store's time zone; null at BRONZE or without a loyalty account."
    ),
    attr!(
        SpendToKeepTier,
        "spend_to_keep_tier",
        Money,
        false,
        &[],
        "Base-currency spend still needed, in the 365 days before the tier review, for the review to keep the loyalty tier; 0 when the spend so far keeps it, at BRONZE or without a loyalty account."
    ),
    attr!(
        TierAtRisk,
        "tier_at_risk",
        Boolean,
        false,
        &[],
        "`true` inside the downgrade notice (C360_TIER_DOWNGRADE_NOTICE, from its first day) before a tier review that the spend so far would not pass; `false` otherwise and without a loyalty account."
    ),
    attr!(
        RfmGroup,
        "rfm_group",
        Enum,
        true,
        RFM_GROUPS,
        "RFM group as of the last refresh (see `CustomerStats.rfm`): CHAMPIONS R≥4 F≥4 M≥4, LOYAL R≥3 F≥4, NEW R≥4 F=1, PROMISING R≥4 F 2-3, NEEDS_ATTENTION R=3 F≤3, AT_RISK R≤2 F≥3, ALMOST_LOST R=2 F≤2, DORMANT R=1 F≤2; null without orders."
    ),
    attr!(
        PredictedClv,
        "predicted_clv",
        Money,
        true,
        &[],
        "Predicted lifetime value as of the last refresh (see `CustomerStats.predictedLifetimeValue`): net spend expected over the next 365 days by the BG/NBD and Gamma-Gamma models; null without a repeat order, or when the models could not be fitted (`clvStatus`)."
    ),
    attr!(
        ChurnProbability,
        "churn_probability",
        Number,
        true,
        &[],
        "Probability (0-1) that the customer is no longer an active buyer, 1 − `CustomerStats.probabilityActive`, as of the last refresh; null without orders or when the model could not be fitted."
    ),
    attr!(
        ExpectedOrders90d,
        "expected_orders_90d",
        Number,
        true,
        &[],
        "Orders expected in the next 90 days (BG/NBD), as of the last refresh; null without orders or when the model could not be fitted."
    ),
    attr!(
        ChurnRisk,
        "churn_risk",
        Enum,
        true,
        CHURN_RISKS,
        "Band of `churn_probability`: LOW below 0.25, MEDIUM below 0.5, HIGH below 0.75, VERY_HIGH from 0.75; null when `churn_probability` is."
    ),
    attr!(
        TopCategory,
        "top_category",
        Text,
        true,
        &[],
        "Category with the highest share of the customer's recency-weighted purchases (see `Customer.interests`), as of the last refresh, compared exactly; null without a categorised purchase."
    ),
    attr!(
        PurchasedCategory,
        "purchased_category",
        Text,
        false,
        &[],
        "A category the customer bought in (a line of an order not cancelled nor fully refunded, in the base currency), compared exactly: `purchased_category = 'skincare'` bought in it, `IN (...)` in any of them, `!=` and `NOT IN` in none."
    ),
    attr!(
        EmailSubscriptionStatus,
        "email_subscription_status",
        Enum,
        false,
        EMAIL_STATES,
        "Email marketing consent."
    ),
    attr!(
        NpsCategory,
        "nps_category",
        Enum,
        true,
        NPS_CATEGORIES,
        "Category of the latest NPS answer: PROMOTER 9-10, PASSIVE 7-8, DETRACTOR 0-6; null without one."
    ),
    attr!(
        Country,
        "country",
        Text,
        true,
        &[],
        "ISO 3166-1 alpha-2 code, compared upper-cased."
    ),
    attr!(City, "city", Text, true, &[], "City, compared exactly."),
    attr!(
        EmailDomain,
        "email_domain",
        Text,
        false,
        &[],
        "Domain of the email address, compared lower-cased."
    ),
    attr!(
        Email,
        "email",
        Text,
        false,
        &[],
        "Email address, compared lower-cased; needs `pii:read` for partners."
    ),
    attr!(
        CustomerTags,
        "customer_tags",
        List,
        false,
        &[],
        "Tags of the customer, compared lower-cased."
    ),
];

pub fn attribute(attr: Attr) -> &'static AttrSpec {
    // ATTRIBUTES lists every variant; the fallback only keeps this total.
    ATTRIBUTES
        .iter()
        .find(|s| s.attr == attr)
        .unwrap_or(&ATTRIBUTES[0])
}

/// A function of the language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    ProductsPurchased,
    OrdersPlaced,
    Anniversary,
}

/// A field inside `MATCHES (...)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubAttr {
    Sku,
    Date,
    Count,
    SumAmount,
}

pub struct SubSpec {
    pub sub: SubAttr,
    pub name: &'static str,
    pub ty: Type,
    /// An aggregate over the matching orders rather than a test on each order.
    pub aggregate: bool,
    pub description: &'static str,
}

pub struct FuncSpec {
    pub func: Func,
    pub name: &'static str,
    pub description: &'static str,
    pub fields: &'static [SubSpec],
}

pub const FUNCTIONS: &[FuncSpec] = &[
    FuncSpec {
        func: Func::ProductsPurchased,
        name: "products_purchased",
        description: "`products_purchased MATCHES (sku = 'LIP-001', date > -30d, count >= 2)`: customers whose orders (not cancelled) matching every order test number `count` (default: at least one). The order tests are ANDed.",
        fields: &[
            SubSpec {
                sub: SubAttr::Sku,
                name: "sku",
                ty: Type::Text,
                aggregate: false,
                description: "SKU of a line of the order.",
            },
            SubSpec {
                sub: SubAttr::Date,
                name: "date",
                ty: Type::Date,
                aggregate: false,
                description: "Day the order was placed, in the store's time zone.",
            },
            SubSpec {
                sub: SubAttr::Count,
                name: "count",
                ty: Type::Integer,
                aggregate: true,
                description: "Number of matching orders.",
            },
        ],
    },
    FuncSpec {
        func: Func::OrdersPlaced,
        name: "orders_placed",
        description: "`orders_placed MATCHES (date BETWEEN -90d AND today, sum_amount >= 100)`: customers whose orders (not cancelled) matching every order test meet every aggregate test (default: at least one order).",
        fields: &[
            SubSpec {
                sub: SubAttr::Date,
                name: "date",
                ty: Type::Date,
                aggregate: false,
                description: "Day the order was placed, in the store's time zone.",
            },
            SubSpec {
                sub: SubAttr::Count,
                name: "count",
                ty: Type::Integer,
                aggregate: true,
                description: "Number of matching orders.",
            },
            SubSpec {
                sub: SubAttr::SumAmount,
                name: "sum_amount",
                ty: Type::Money,
                aggregate: true,
                description: "Net amount (total less refunds) of matching orders in the base currency.",
            },
        ],
    },
    FuncSpec {
        func: Func::Anniversary,
        name: "anniversary",
        description: "`anniversary(birthday) BETWEEN today AND +7d`, `anniversary(customer_added_date) = today`: the yearly return of a date falls on the day or in the range (at most a year long); 29 February counts as 28 February in other years.",
        fields: &[],
    },
];

/// Attributes `anniversary(...)` accepts.
pub const ANNIVERSARY_OF: &[Attr] = &[Attr::Birthday, Attr::CustomerAddedDate];

/// Operators of `anniversary(...)`.
pub const ANNIVERSARY_OPS: &[OpKind] = &[OpKind::Eq, OpKind::Between];

pub fn function(func: Func) -> &'static FuncSpec {
    FUNCTIONS
        .iter()
        .find(|f| f.func == func)
        .unwrap_or(&FUNCTIONS[0])
}

/// The candidate closest to `word` (case-insensitive): one that contains it
/// (`tier` → `loyalty_tier`) first, then the smallest edit distance.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates.into_iter().min_by_key(|c| {
        let c = c.to_lowercase();
        let contains = word.len() >= 3 && c.contains(&word);
        (!contains, strsim::levenshtein(&word, &c))
    })
}
