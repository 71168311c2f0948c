//! Probabilistic customer lifetime value: BG/NBD for how many orders a
//! customer will place and whether they are still active ([`bgnbd`]),
//! Gamma-Gamma for what each order is worth ([`gamma_gamma`]), both fitted
//! by maximum likelihood ([`optimize`], [`special`]). No I/O: the store's
//! side is `service::clv`.
//!
//! The rules c360 applies around the models live here:
//! - time is counted in days; the horizons are [`SHORT_HORIZON_DAYS`] and
//!   [`YEAR_DAYS`];
//! - the purchase model is fitted when the base has at least
//!   [`MIN_CUSTOMERS`] customers, the spend model when at least
//!   [`MIN_REPEAT_CUSTOMERS`] have a repeat order of positive value; a fit
//!   counts only if it converged (and, for spend, q > 1, without which the
//!   mean spend is infinite);
//! - the predicted value is expected orders in the next year × expected
//!   spend per order × (1 − the base's refunded share of spend), not
//!   discounted: a one-year horizon, where a discount rate would move it by
//!   a few per cent and hide what it is made of;
//! - the next order is expected on the first day by which an active
//!   customer is expected to have ordered once, when that is within
//!   [`YEAR_DAYS`];
//! - a customer's churn risk is a band of the probability that they are no
//!   longer active ([`ChurnRisk`]);
//! - every figure that cannot be predicted is absent, and [`Status`] says
//!   why.

pub mod bgnbd;
pub mod gamma_gamma;
pub mod optimize;
pub mod special;

pub use bgnbd::{BgNbd, Observation};
pub use gamma_gamma::GammaGamma;

/// Fewest customers with an order for the purchase model to be fitted: four
/// parameters, two of which (dropout) only the customers who stopped
/// buying inform.
pub const MIN_CUSTOMERS: u64 = 100;
/// Fewest customers with a repeat order of positive value for the spend model.
pub const MIN_REPEAT_CUSTOMERS: u64 = 50;
/// The short horizon of expected orders, in days.
pub const SHORT_HORIZON_DAYS: u32 = 90;
/// The year: the long horizon of expected orders, the predicted value's
/// horizon, and how far ahead the next order is looked for.
pub const YEAR_DAYS: u32 = 365;

/// A maximum-likelihood fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit<P> {
    pub params: P,
    pub log_likelihood: f64,
    /// The search met its tolerances, away from the edge of its box.
    pub converged: bool,
    pub evaluations: u32,
    /// Customers the fit used.
    pub customers: u64,
}

/// Why a customer's predictions are what they are. The stored name is the
/// GraphQL enum value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Every figure predicted.
    Predicted,
    /// No repeat order yet: activity and expected orders are predicted; the
    /// spend per order, and so the value, is not.
    NoRepeatOrder,
    /// The spend model is not available (too few repeat customers, no
    /// convergence, or q ≤ 1): activity and orders are predicted, value not.
    SpendModelUnavailable,
    /// Fewer than [`MIN_CUSTOMERS`] customers with an order: nothing is predicted.
    BaseTooSmall,
    /// The purchase model's fit did not converge: nothing is predicted.
    NotConverged,
    /// The customer has no counted order, so is not in the model's base.
    NoOrders,
    /// The customer's first counted order came after the last refresh (or
    /// there has been none).
    NotRefreshed,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Predicted,
        Status::NoRepeatOrder,
        Status::SpendModelUnavailable,
        Status::BaseTooSmall,
        Status::NotConverged,
        Status::NoOrders,
        Status::NotRefreshed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Predicted => "PREDICTED",
            Status::NoRepeatOrder => "NO_REPEAT_ORDER",
            Status::SpendModelUnavailable => "SPEND_MODEL_UNAVAILABLE",
            Status::BaseTooSmall => "BASE_TOO_SMALL",
            Status::NotConverged => "NOT_CONVERGED",
            Status::NoOrders => "NO_ORDERS",
            Status::NotRefreshed => "NOT_REFRESHED",
        }
    }

    pub fn parse(stored: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == stored)
    }
}

/// A band of the churn probability, 1 − P(active).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChurnRisk {
    /// Below 0.25.
    Low,
    /// 0.25 to below 0.5.
    Medium,
    /// 0.5 to below 0.75.
    High,
    /// 0.75 or more.
    VeryHigh,
}

impl ChurnRisk {
    pub const ALL: [ChurnRisk; 4] = [
        ChurnRisk::Low,
        ChurnRisk::Medium,
        ChurnRisk::High,
        ChurnRisk::VeryHigh,
    ];

    /// The lower bound of each band's churn probability, in [`Self::ALL`]'s order.
    pub const FROM: [f64; 4] = [0.0, 0.25, 0.5, 0.75];

    pub fn of(churn_probability: f64) -> ChurnRisk {
        let i = Self::FROM
            .iter()
            .rposition(|from| churn_probability >= *from)
            .unwrap_or(0);
        Self::ALL[i]
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            ChurnRisk::Low => "LOW",
            ChurnRisk::Medium => "MEDIUM",
            ChurnRisk::High => "HIGH",
            ChurnRisk::VeryHigh => "VERY_HIGH",
        }
    }

    pub const NAMES: [&'static str; 4] = {
        let mut names = [""; 4];
        let mut i = 0;
        while i < names.len() {
            names[i] = ChurnRisk::ALL[i].as_str();
            i += 1;
        }
        names
    };

    pub fn parse(stored: &str) -> Option<ChurnRisk> {
        Self::ALL.into_iter().find(|r| r.as_str() == stored)
    }
}

/// Both fits, and the models as far as they may be used.
#[derive(Debug, Clone)]
pub struct Fitted {
    /// None when the base was too small to try.
    pub purchases: Option<Fit<BgNbd>>,
    pub spend: Option<Fit<GammaGamma>>,
    /// The purchase model, or why there is none (`BaseTooSmall`, `NotConverged`).
    pub purchase_model: Result<BgNbd, Status>,
    /// The spend model, when it may be used.
    pub spend_model: Option<GammaGamma>,
    /// The base's refunded share of spend, 0-1.
    pub refund_share: f64,
}

impl Fitted {
    /// The status of the base as a whole: the worst a customer with a
    /// repeat order can get.
    pub fn status(&self) -> Status {
        match (&self.purchase_model, &self.spend_model) {
            (Err(s), _) => *s,
            (Ok(_), None) => Status::SpendModelUnavailable,
            (Ok(_), Some(_)) => Status::Predicted,
        }
    }
}

/// Fits what the data allows, by the rules above. `refund_share` is the
/// base's refunded amount over its spend (clamped to 0-1).
pub fn fit(purchases: &bgnbd::Data, spend: &gamma_gamma::Data, refund_share: f64) -> Fitted {
    let purchase_fit = (purchases.customers() >= MIN_CUSTOMERS).then(|| bgnbd::fit(purchases));
    let purchase_model = match &purchase_fit {
        None => Err(Status::BaseTooSmall),
        Some(f) if !f.converged => Err(Status::NotConverged),
        Some(f) => Ok(f.params),
    };
    let spend_fit = (spend.customers() >= MIN_REPEAT_CUSTOMERS).then(|| gamma_gamma::fit(spend));
    let spend_model = spend_fit
        .as_ref()
        .filter(|f| f.converged && f.params.q > 1.0)
        .map(|f| f.params);
    Fitted {
        purchases: purchase_fit,
        spend: spend_fit,
        purchase_model,
        spend_model,
        refund_share: if refund_share.is_finite() {
            refund_share.clamp(0.0, 1.0)
        } else {
            0.0
        },
    }
}

/// What is predicted for one customer; absent figures are explained by `status`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    pub status: Status,
    /// 1 − P(active).
    pub churn_probability: Option<f64>,
    pub churn_risk: Option<ChurnRisk>,
    pub expected_orders_short: Option<f64>,
    pub expected_orders_year: Option<f64>,
    /// Expected value of an order (before refunds), in the unit of the
    /// spend data.
    pub expected_order_value: Option<f64>,
    /// Expected orders in the year × expected order value × (1 − refund share).
    pub predicted_value: Option<f64>,
    /// Days from now to the expected next order.
    pub next_order_in_days: Option<u32>,
}

impl Prediction {
    fn nothing(status: Status) -> Prediction {
        Prediction {
            status,
            churn_probability: None,
            churn_risk: None,
            expected_orders_short: None,
            expected_orders_year: None,
            expected_order_value: None,
            predicted_value: None,
            next_order_in_days: None,
        }
    }
}

impl Fitted {
    /// The prediction for a customer with observation `o` (in days) whose
    /// repeat orders average `repeat_mean`.
    pub fn predict(&self, o: &Observation, repeat_mean: f64) -> Prediction {
        let m = match &self.purchase_model {
            Ok(m) => m,
            Err(status) => return Prediction::nothing(*status),
        };
        let alive = m.p_alive(o);
        let short = m.expected(o, f64::from(SHORT_HORIZON_DAYS));
        let year = m.expected(o, f64::from(YEAR_DAYS));
        let (Some(short), Some(year)) = (short, year) else {
            return Prediction::nothing(Status::NotConverged);
        };
        let order_value = self
            .spend_model
            .and_then(|g| g.expected_spend(o.x, repeat_mean));
        let status = match (o.x, self.spend_model, order_value) {
            (0, _, _) => Status::NoRepeatOrder,
            (_, None, _) | (_, _, None) => Status::SpendModelUnavailable,
            _ => Status::Predicted,
        };
        let churn = 1.0 - alive;
        Prediction {
            status,
            churn_probability: Some(churn),
            churn_risk: Some(ChurnRisk::of(churn)),
            expected_orders_short: Some(short),
            expected_orders_year: Some(year),
            expected_order_value: order_value,
            predicted_value: order_value.map(|v| year * v * (1.0 - self.refund_share)),
            next_order_in_days: m.first_expected_purchase(o, YEAR_DAYS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_bands_follow_their_cut_offs() {
        assert_eq!(ChurnRisk::of(0.0), ChurnRisk::Low);
        assert_eq!(ChurnRisk::of(0.249_999), ChurnRisk::Low);
        assert_eq!(ChurnRisk::of(0.25), ChurnRisk::Medium);
        assert_eq!(ChurnRisk::of(0.5), ChurnRisk::High);
        assert_eq!(ChurnRisk::of(0.75), ChurnRisk::VeryHigh);
        assert_eq!(ChurnRisk::of(1.0), ChurnRisk::VeryHigh);
        assert_eq!(ChurnRisk::NAMES, ["LOW", "MEDIUM", "HIGH", "VERY_HIGH"]);
        for r in ChurnRisk::ALL {
            assert_eq!(ChurnRisk::parse(r.as_str()), Some(r));
        }
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn a_small_base_is_not_fitted_and_predicts_nothing() {
        let few = bgnbd::Data::new((0..MIN_CUSTOMERS - 1).map(|i| Observation {
            x: (i % 3) as u32,
            t_x: if i % 3 == 0 { 0.0 } else { 10.0 },
            age: 40.0,
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let spend = gamma_gamma::Data::new([(2, 30.0)]).unwrap_or_else(|e| panic!("{e}"));
        let fitted = fit(&few, &spend, 0.1);
        assert!(fitted.purchases.is_none() && fitted.spend.is_none());
        assert_eq!(fitted.status(), Status::BaseTooSmall);
        let p = fitted.predict(
            &Observation {
                x: 2,
                t_x: 10.0,
                age: 40.0,
            },
            30.0,
        );
        assert_eq!(p, Prediction::nothing(Status::BaseTooSmall));
    }

    #[test]
    fn a_base_where_nobody_stops_buying_does_not_converge() {
        // Every customer buys every 10 days up to the end: no sign of
        // dropout, so the likelihood keeps rising as the dropout
        // probability's Beta runs to zero and the search ends on its box.
        let regular = bgnbd::Data::new((0..200u32).map(|i| {
            let age = 100.0 + f64::from(i);
            let x = (age / 10.0).floor() as u32;
            Observation {
                x,
                t_x: f64::from(x) * 10.0,
                age,
            }
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let spend = gamma_gamma::Data::new((0..200u32).map(|i| (10, 40.0 + f64::from(i % 7))))
            .unwrap_or_else(|e| panic!("{e}"));
        let fitted = fit(&regular, &spend, 0.0);
        let purchases = fitted
            .purchases
            .unwrap_or_else(|| panic!("a base of 200 is fitted"));
        assert!(!purchases.converged, "{purchases:?}");
        assert_eq!(fitted.status(), Status::NotConverged);
        let p = fitted.predict(
            &Observation {
                x: 10,
                t_x: 100.0,
                age: 100.0,
            },
            40.0,
        );
        assert_eq!(p, Prediction::nothing(Status::NotConverged));
    }

    #[test]
    fn customers_without_a_repeat_order_get_no_value() {
        let fitted = Fitted {
            purchases: None,
            spend: None,
            purchase_model: Ok(BgNbd {
                r: 0.5,
                alpha: 16.0,
                a: 0.8,
                b: 4.5,
            }),
            spend_model: Some(GammaGamma {
                p: 6.0,
                q: 4.0,
                gamma: 35.0,
            }),
            refund_share: 0.1,
        };
        let new = fitted.predict(
            &Observation {
                x: 0,
                t_x: 0.0,
                age: 20.0,
            },
            0.0,
        );
        assert_eq!(new.status, Status::NoRepeatOrder);
        assert_eq!(new.churn_probability, Some(0.0));
        assert!(new.expected_orders_year > new.expected_orders_short);
        assert_eq!(
            (new.expected_order_value, new.predicted_value),
            (None, None)
        );
        let repeat = fitted.predict(
            &Observation {
                x: 3,
                t_x: 200.0,
                age: 220.0,
            },
            70.0,
        );
        assert_eq!(repeat.status, Status::Predicted);
        let (year, value) = (
            repeat.expected_orders_year.unwrap_or(f64::NAN),
            repeat.expected_order_value.unwrap_or(f64::NAN),
        );
        assert_eq!(repeat.predicted_value, Some(year * value * 0.9));
    }
}
