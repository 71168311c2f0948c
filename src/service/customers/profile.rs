//! A customer's profile fields as callers send them, and their checks:
//! text lengths in characters, the country code, a birthday not after
//! today (by the write's clock), and the email's normal form.

use c360_entity::customer;
use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::text;
use crate::error::{AppError, AppResult};

/// Profile fields; `None` leaves a field as it is (on create: unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub locale: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
}

/// The address in its normal form (`domain::email`).
pub fn normalise_email(email: &str) -> AppResult<String> {
    crate::domain::email::normalise("email", email)
}

/// A given field trimmed, 1 to `max` characters; `None` stays `None`.
fn optional_text(field: &str, value: Option<String>, max: usize) -> AppResult<Option<String>> {
    value.map(|v| text::required(field, &v, max)).transpose()
}

impl Profile {
    /// Checks and normalises every given field; nothing is read or written.
    pub fn validate(self, now: DateTime<Utc>) -> AppResult<Profile> {
        let country = optional_text("country", self.country, 2)?;
        if let Some(c) = &country
            && !(c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(AppError::bad_input(
                "country",
                format!("`{c}` is not an ISO 3166-1 alpha-2 code such as US or FR"),
            ));
        }
        if let Some(b) = self.birthday
            && b > now.date_naive()
        {
            return Err(AppError::bad_input("birthday", "birthday is in the future"));
        }
        Ok(Profile {
            email: self.email.as_deref().map(normalise_email).transpose()?,
            first_name: optional_text("firstName", self.first_name, 100)?,
            last_name: optional_text("lastName", self.last_name, 100)?,
            phone: optional_text("phone", self.phone, 32)?,
            birthday: self.birthday,
            locale: optional_text("locale", self.locale, 35)?,
            country,
            city: optional_text("city", self.city, 100)?,
        })
    }

    /// The API names of the fields this patch sets (values stay out of the
    /// audit trail, which must not hold PII).
    pub(super) fn given_fields(&self) -> Vec<&'static str> {
        [
            ("email", self.email.is_some()),
            ("firstName", self.first_name.is_some()),
            ("lastName", self.last_name.is_some()),
            ("phone", self.phone.is_some()),
            ("birthday", self.birthday.is_some()),
            ("locale", self.locale.is_some()),
            ("country", self.country.is_some()),
            ("city", self.city.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }

    /// The API names of the fields this (validated) patch gives a value
    /// other than `current`'s: what a `customer.updated` event names.
    pub(super) fn changed_fields(&self, current: &customer::Model) -> Vec<&'static str> {
        fn differs<T: PartialEq>(given: &Option<T>, stored: &Option<T>) -> bool {
            given.as_ref().is_some_and(|g| Some(g) != stored.as_ref())
        }
        [
            (
                "email",
                self.email.as_ref().is_some_and(|e| *e != current.email),
            ),
            ("firstName", differs(&self.first_name, &current.first_name)),
            ("lastName", differs(&self.last_name, &current.last_name)),
            ("phone", differs(&self.phone, &current.phone)),
            ("birthday", differs(&self.birthday, &current.birthday)),
            ("locale", differs(&self.locale, &current.locale)),
            ("country", differs(&self.country, &current.country)),
            ("city", differs(&self.city, &current.city)),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 2, 29, 12, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn field_of(result: AppResult<Profile>) -> Option<String> {
        match result {
            Err(AppError::BadUserInput { field, .. }) => field,
            _ => None,
        }
    }

    #[test]
    fn names_are_counted_in_characters() {
        let name = "é".repeat(100);
        let ok = Profile {
            first_name: Some(format!(" {name} ")),
            ..Profile::default()
        }
        .validate(noon());
        assert_eq!(ok.ok().and_then(|p| p.first_name), Some(name.clone()));
        let long = Profile {
            last_name: Some(format!("{name}é")),
            ..Profile::default()
        };
        assert_eq!(field_of(long.validate(noon())).as_deref(), Some("lastName"));
    }

    #[test]
    fn a_birthday_after_today_is_refused() {
        let today = noon().date_naive();
        let on = |birthday| Profile {
            birthday: Some(birthday),
            ..Profile::default()
        };
        assert!(on(today).validate(noon()).is_ok());
        let tomorrow = today.succ_opt().unwrap_or(today);
        assert_eq!(
            field_of(on(tomorrow).validate(noon())).as_deref(),
            Some("birthday")
        );
    }

    #[test]
    fn given_fields_name_what_a_patch_sets() {
        let patch = Profile {
            city: Some("Oslo".into()),
            email: Some("a@b.co".into()),
            ..Profile::default()
        };
        assert_eq!(patch.given_fields(), ["email", "city"]);
    }

    #[test]
    fn changed_fields_name_what_a_patch_changes() {
        let current = customer::Model {
            id: 1,
            external_source: None,
            external_ref: None,
            email: "a@b.co".into(),
            first_name: Some("Ann".into()),
            last_name: None,
            phone: None,
            birthday: None,
            locale: None,
            country: Some("NO".into()),
            city: Some("Oslo".into()),
            email_marketing_state: c360_entity::enums::EmailMarketingState::NotSubscribed,
            consent_updated_at: None,
            sms_consent_state: c360_entity::enums::EmailMarketingState::NotSubscribed,
            sms_consent_updated_at: None,
            phone_consent_state: c360_entity::enums::EmailMarketingState::NotSubscribed,
            phone_consent_updated_at: None,
            created_at: noon(),
            updated_at: noon(),
            erased_at: None,
        };
        let patch = Profile {
            email: Some("a@b.co".into()),
            first_name: Some("Anna".into()),
            last_name: Some("Lie".into()),
            city: Some("Oslo".into()),
            ..Profile::default()
        };
        assert_eq!(patch.changed_fields(&current), ["firstName", "lastName"]);
        assert!(Profile::default().changed_fields(&current).is_empty());
    }
}
