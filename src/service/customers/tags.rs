//! Customer tags: their normal form (lower-cased, trimmed, 1 to 50
//! characters, at most 50 per call), adding and removing them.

use c360_entity::{customer, customer_tag};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TryInsertResult};
use serde_json::json;

use super::target;
use crate::auth::{Principal, Role};
use crate::domain::text;
use crate::error::{AppError, AppResult};
use crate::events::{self, payload};
use crate::service::{audit, owner};

/// Lower-cased, trimmed, 1 to 50 characters, at most 50 per call;
/// duplicates dropped, first occurrence kept.
pub fn normalise_tags(tags: &[String]) -> AppResult<Vec<String>> {
    if tags.len() > 50 {
        return Err(AppError::bad_input("tags", "at most 50 tags per call"));
    }
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for (i, tag) in tags.iter().enumerate() {
        let tag = tag.trim().to_lowercase();
        if tag.is_empty() || text::chars(&tag) > 50 {
            return Err(AppError::bad_input(
                format!("tags[{i}]"),
                "a tag is 1 to 50 characters",
            ));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

/// Adds normalised `tags` to customer `id`; present ones stay as they are.
/// Whether any was new.
pub(super) async fn insert_tags(
    db: &impl ConnectionTrait,
    id: i64,
    tags: &[String],
) -> AppResult<bool> {
    if tags.is_empty() {
        return Ok(false);
    }
    let inserted =
        customer_tag::Entity::insert_many(tags.iter().map(|t| customer_tag::ActiveModel {
            customer_id: Set(id),
            tag: Set(t.clone()),
        }))
        .on_conflict_do_nothing_on([customer_tag::Column::CustomerId, customer_tag::Column::Tag])
        .exec_without_returning(db)
        .await?;
    Ok(matches!(inserted, TryInsertResult::Inserted(n) if n > 0))
}

/// Adds (`add = true`) or removes tags; adding a present tag or removing an
/// absent one changes nothing. A change of the tag set is `customer.updated`
/// naming `tags`.
pub async fn change_tags(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: i64,
    tags: &[String],
    add: bool,
    now: DateTime<Utc>,
) -> AppResult<customer::Model> {
    let tags = normalise_tags(tags)?;
    if tags.is_empty() {
        return Err(AppError::bad_input("tags", "give at least one tag"));
    }
    let customer = owner::writable_customer(db, principal, id).await?;
    if principal.role == Role::Customer {
        return Err(AppError::Forbidden(
            "tags are set by partners and staff".into(),
        ));
    }
    let changed = if add {
        insert_tags(db, id, &tags).await?
    } else {
        customer_tag::Entity::delete_many()
            .filter(customer_tag::Column::CustomerId.eq(id))
            .filter(customer_tag::Column::Tag.is_in(tags.clone()))
            .exec(db)
            .await?
            .rows_affected
            > 0
    };
    audit::record(
        db,
        principal,
        if add {
            "customer.tags.add"
        } else {
            "customer.tags.remove"
        },
        &target(id),
        Some(id),
        json!({ "tags": tags }),
        now,
    )
    .await?;
    if changed {
        events::emit(db, now, payload::customer_updated(id, &["tags"])).await?;
    }
    Ok(customer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(tags: &[&str]) -> Vec<String> {
        tags.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn tags_are_counted_in_characters() {
        let tag = "日".repeat(50);
        assert_eq!(
            normalise_tags(&strings(&[&tag])).ok(),
            Some(vec![tag.clone()])
        );
        let long = format!("{tag}日");
        match normalise_tags(&strings(&["ok", &long])) {
            Err(AppError::BadUserInput { field, .. }) => {
                assert_eq!(field.as_deref(), Some("tags[1]"))
            }
            other => panic!("expected BAD_USER_INPUT, got {other:?}"),
        }
    }

    #[test]
    fn tags_are_lower_cased_and_deduplicated() {
        assert_eq!(
            normalise_tags(&strings(&[" VIP ", "vip", "Wholesale"])).ok(),
            Some(strings(&["vip", "wholesale"]))
        );
        assert!(normalise_tags(&strings(&[" "])).is_err());
        assert!(normalise_tags(&vec!["a".to_owned(); 51]).is_err());
    }
}
