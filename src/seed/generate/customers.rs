//! A customer's profile row (name, contact, consent, place) and tags.

use c360_entity::enums::{EmailMarketingState, LoyaltyTier};
use chrono::{DateTime, NaiveDate, Utc};
use rand::Rng;

use super::{CustomerGen, DAY, HOUR, PlacedOrder, between, pick, weighted};
use crate::domain::orders::counts;
use crate::seed::catalog::{self, Country};
use crate::seed::rows::{CustomerRow, TagRow};

/// What the later steps need from the profile.
pub(super) struct Profile {
    pub country: &'static Country,
    pub first_name: &'static str,
    pub email: String,
    pub marketing: EmailMarketingState,
}

impl CustomerGen<'_> {
    pub(super) fn profile(&mut self) -> Profile {
        let country = self.country();
        let first_name = *pick(&mut self.rng, catalog::FIRST_NAMES);
        let last_name = *pick(&mut self.rng, catalog::LAST_NAMES);
        let email = self.email(first_name, last_name);
        let (marketing, consent_at) = self.marketing_consent();
        let phone = self
            .rng
            .random_bool(0.85)
            .then(|| self.phone(country.calling_code));
        let birthday = self.birthday();
        let city = *pick(&mut self.rng, country.cities);
        let external = self.rng.random_bool(0.6);
        self.out.customers.push(CustomerRow {
            id: self.id,
            external_source: external.then_some("shopify"),
            external_ref: external.then(|| (6_100_000_000 + self.id).to_string()),
            email: email.clone(),
            first_name,
            last_name,
            phone,
            birthday,
            locale: country.locale,
            country: country.code,
            city,
            email_marketing_state: marketing,
            consent_updated_at: consent_at,
            created_at: self.created_at,
            updated_at: consent_at.unwrap_or(self.created_at).max(self.created_at),
        });
        Profile {
            country,
            first_name,
            email,
            marketing,
        }
    }

    fn country(&mut self) -> &'static Country {
        let total: u32 = catalog::COUNTRIES.iter().map(|c| c.weight).sum();
        let mut roll = self.rng.random_range(0..total);
        for country in catalog::COUNTRIES {
            if roll < country.weight {
                return country;
            }
            roll -= country.weight;
        }
        &catalog::COUNTRIES[0]
    }

    /// Unique because every shape embeds the customer id; lower-case ASCII.
    fn email(&mut self, first: &str, last: &str) -> String {
        let clean = |s: &str| -> String {
            s.chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase())
                .collect()
        };
        let (f, l) = (clean(first), clean(last));
        let domain = pick(&mut self.rng, catalog::EMAIL_DOMAINS);
        let id = self.id;
        let initial = f.chars().next().unwrap_or('x');
        match self.rng.random_range(0..4) {
            0 => format!("{f}.{l}{id}@{domain}"),
            1 => format!("{f}_{l}.{id}@{domain}"),
            2 => format!("{initial}{l}{id}@{domain}"),
            _ => format!("{f}{id}@{domain}"),
        }
    }

    /// Fictional numbers: `+1 AAA 555-01XX` in North America, random digits elsewhere.
    fn phone(&mut self, calling_code: &str) -> String {
        let r = &mut self.rng;
        if calling_code == "1" {
            format!(
                "+1 {} 555-01{:02}",
                r.random_range(201..990),
                r.random_range(0..100)
            )
        } else {
            format!(
                "+{calling_code} {} {:03} {:04}",
                r.random_range(20..99),
                r.random_range(0..1000),
                r.random_range(0..10_000)
            )
        }
    }

    /// Adults aged 18 to 75; a quarter did not say.
    fn birthday(&mut self) -> Option<NaiveDate> {
        if !self.rng.random_bool(0.75) {
            return None;
        }
        let days = self.rng.random_range(18 * 365..75 * 365);
        DateTime::<Utc>::from_timestamp(self.world.today - days * DAY, 0).map(|d| d.date_naive())
    }

    fn marketing_consent(&mut self) -> (EmailMarketingState, Option<i64>) {
        use EmailMarketingState as S;
        let state = weighted(
            &mut self.rng,
            &[
                (S::Subscribed, 45),
                (S::NotSubscribed, 32),
                (S::Unsubscribed, 15),
                (S::Pending, 8),
            ],
        );
        let at = match state {
            S::NotSubscribed => None,
            // Opted in at checkout or sign-up; double opt-in still pending.
            S::Subscribed | S::Pending => Some(self.after(self.created_at, 0..2 * HOUR)),
            // Subscribed first, unsubscribed some time later.
            S::Unsubscribed => Some(between(&mut self.rng, self.created_at, self.world.today)),
        };
        (state, at)
    }

    /// `vip` follows spend (a lifetime at the GOLD threshold, or a GOLD tier
    /// now), `newsletter` follows consent, the rest is random.
    pub(super) fn tags(
        &mut self,
        marketing: EmailMarketingState,
        orders: &[PlacedOrder],
        tier: LoyaltyTier,
    ) {
        let lifetime: i64 = orders
            .iter()
            .filter(|o| counts(o.status))
            .map(|o| o.total - o.refunded)
            .sum();
        let mut tags: Vec<&'static str> = Vec::new();
        if lifetime >= self.world.rules.tiers.gold
            || matches!(tier, LoyaltyTier::Gold | LoyaltyTier::Platinum)
        {
            tags.push("vip");
        }
        if marketing == EmailMarketingState::Subscribed && self.rng.random_bool(0.7) {
            tags.push("newsletter");
        }
        for (tag, percent) in catalog::RANDOM_TAGS {
            if self.rng.random_ratio(*percent, 100) {
                tags.push(tag);
            }
        }
        for tag in tags {
            self.out.tags.push(TagRow {
                customer_id: self.id,
                tag,
            });
        }
    }
}
