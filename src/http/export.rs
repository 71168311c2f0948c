//! `GET /segments/{id}/export?format=csv|jsonl`: a saved segment's members,
//! streamed in keyset batches so memory stays constant whatever the size
//! (a tracked segment's kept membership, as `Segment.members` reads it).
//! STAFF only; PII is masked by the same rule as GraphQL (`sees_pii`).

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use c360_entity::{customer, segment};
use sea_orm::sea_query::Condition;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::HttpState;
use super::graphql::{Rejection, identity};
use super::negotiate::MediaType;
use crate::auth::sees_pii;
use crate::auth::{Identity, Principal, Role, mask_email, mask_name, mask_phone};
use crate::domain::ids::{Kind, gid};
use crate::error::AppError;
use crate::segment::{Env, customers_joined};

/// Members read per statement.
const BATCH: u64 = 500;

const COLUMNS: &[&str] = &[
    "id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "birthday",
    "country",
    "city",
    "email_marketing_state",
    "created_at",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Jsonl,
}

/// The caller, who must hold a STAFF token; tokens are read as `/graphql` reads them.
async fn staff(state: &HttpState, headers: &HeaderMap) -> Result<Principal, Rejection> {
    match identity(state, headers).await? {
        Identity::Anonymous => Err(Rejection::new(
            StatusCode::UNAUTHORIZED,
            AppError::Unauthenticated(
                "an export needs a bearer token (Authorization: Bearer <jwt>)".to_owned(),
            ),
        )),
        Identity::Authenticated(p) if p.role == Role::Staff => Ok(p),
        Identity::Authenticated(_) => Err(Rejection::new(
            StatusCode::FORBIDDEN,
            AppError::Forbidden("segment exports are for STAFF tokens".to_owned()),
        )),
    }
}

pub async fn export_segment(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let principal = match staff(&state, &headers).await {
        Ok(p) => p,
        Err(rejection) => return rejection.into_response(MediaType::Json),
    };
    let format = match params.get("format").map(String::as_str) {
        Some("csv") | None => Format::Csv,
        Some("jsonl") => Format::Jsonl,
        Some(other) => {
            let m = format!("`{other}` is not an export format; use format=csv or format=jsonl");
            return AppError::bad_input("format", m).into_response();
        }
    };
    // The path holds the number of `gid://c360/Segment/<id>`.
    let id = match crate::domain::ids::decode_lenient("id", Kind::Segment, &id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    // A read: on a replica when one is in use (`App::reader`).
    let db = state
        .app
        .reader(&Identity::Authenticated(principal.clone()), true)
        .0
        .conn;
    let saved = match segment::Entity::find_by_id(id).one(&db).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return AppError::NotFound(format!("segment {id} does not exist")).into_response();
        }
        Err(e) => return AppError::from(e).into_response(),
    };
    let config = &state.app.config;
    let env = Env::at(
        state.app.clock.now(),
        config.timezone,
        &config.base_currency,
    );
    let pii = sees_pii(&principal);
    let members = if saved.tracked {
        Members::Kept(saved.id)
    } else {
        match crate::segment::condition(&saved.query, &env) {
            Ok(c) => Members::Query(c),
            Err(e) => return e.into_response(),
        }
    };
    let header_line = match format {
        Format::Csv => Some(Bytes::from(format!("{}\n", COLUMNS.join(",")))),
        Format::Jsonl => None,
    };
    // The header, then one chunk per batch until a short batch.
    let batches = futures_util::stream::unfold(Some(0i64), move |after| {
        let (db, members) = (db.clone(), members.clone());
        async move {
            let after = after?;
            match batch(&db, members, after).await {
                Ok(rows) => {
                    let next =
                        (rows.len() as u64 == BATCH).then(|| rows.last().map_or(after, |c| c.id));
                    let chunk: String = rows.iter().map(|c| line(c, format, pii)).collect();
                    Some((Ok::<Bytes, std::io::Error>(Bytes::from(chunk)), next))
                }
                Err(e) => {
                    tracing::error!(error = %e, "segment export failed mid-stream");
                    Some((Err(std::io::Error::other("export failed")), None))
                }
            }
        }
    });
    let head = futures_util::stream::iter(header_line.map(Ok));
    let body = Body::from_stream(futures_util::StreamExt::chain(head, batches));
    let (media, ext) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Jsonl => ("application/jsonl", "jsonl"),
    };
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"segment-{id}.{ext}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// Whose members an export streams: those the query selects now, or a
/// tracked segment's kept membership (as `Segment.members` reads it).
#[derive(Clone)]
enum Members {
    Query(Condition),
    Kept(i64),
}

async fn batch(
    db: &DatabaseConnection,
    members: Members,
    after: i64,
) -> Result<Vec<customer::Model>, sea_orm::DbErr> {
    let select = match members {
        Members::Query(cond) => customers_joined()
            .filter(cond)
            .filter(customer::Column::Id.gt(after))
            .order_by_asc(customer::Column::Id),
        Members::Kept(segment) => crate::read::segments::kept_after(segment, Some(after)),
    };
    select.limit(BATCH).all(db).await
}

fn line(c: &customer::Model, format: Format, pii: bool) -> String {
    let masked = |v: &str, mask: fn(&str) -> String| if pii { v.to_owned() } else { mask(v) };
    let birthday = c.birthday.map(|d| {
        let full = d.format("%Y-%m-%d").to_string();
        if pii {
            full
        } else {
            format!("--{}", full.get(5..).unwrap_or_default())
        }
    });
    let values: Vec<Option<String>> = vec![
        Some(gid(Kind::Customer, c.id)),
        Some(masked(&c.email, mask_email)),
        c.first_name.as_deref().map(|v| masked(v, mask_name)),
        c.last_name.as_deref().map(|v| masked(v, mask_name)),
        c.phone.as_deref().map(|v| masked(v, mask_phone)),
        birthday,
        c.country.clone(),
        c.city.clone(),
        serde_json::to_value(c.email_marketing_state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned)),
        Some(c.created_at.to_rfc3339()),
    ];
    match format {
        Format::Jsonl => {
            let object: serde_json::Map<String, serde_json::Value> = COLUMNS
                .iter()
                .zip(values)
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        v.map_or(serde_json::Value::Null, serde_json::Value::String),
                    )
                })
                .collect();
            format!("{}\n", serde_json::Value::Object(object))
        }
        Format::Csv => {
            let cells: Vec<String> = values
                .iter()
                .map(|v| csv_cell(v.as_deref().unwrap_or("")))
                .collect();
            format!("{}\n", cells.join(","))
        }
    }
}

/// RFC 4180 quoting; a leading `= + - @` is prefixed with `'` so a spreadsheet
/// never runs a cell as a formula.
fn csv_cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}
