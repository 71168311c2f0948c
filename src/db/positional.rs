//! SQLite rows read into models by position rather than by name.
//!
//! sea-orm's derived `FromQueryResult` finds each column by name, and
//! formats that name (`"{prefix}{column}"`) anew for every column of every
//! row: on SQLite, where every page of a request comes back as rows of
//! columns, the formatting alone was 5 % of a profile request's
//! instructions (BENCHMARKS.md, "Against PostGraphile and SQLite beside
//! PostgreSQL, on another machine"). A statement that selects an entity's
//! columns in the entity's order (the page loaders' do) can be read by
//! position instead: the model's derived `Deserialize` asks for its fields
//! in that same order, and each is decoded by sqlx from the column at that
//! index, with the same type checks as a read by name. Columns after the
//! model's (a page's rank) are left alone.

use sea_orm::sqlx::sqlite::SqliteRow;
use sea_orm::sqlx::{Row, TypeInfo, ValueRef};
use sea_orm::{DbErr, QueryResult};
use serde::de::value::Error;
use serde::de::{
    DeserializeOwned, DeserializeSeed, Deserializer, Error as _, IntoDeserializer, SeqAccess,
    Visitor,
};

/// `row`, a SQLite row whose first columns are `M`'s fields in order, as
/// an `M`; `None` when the row is not SQLite's.
pub fn read<M: DeserializeOwned>(row: &QueryResult) -> Option<Result<M, DbErr>> {
    Some(read_at(row.try_as_sqlite_row()?, 0))
}

/// The `M` whose fields are `row`'s columns from `start` on, in order: one
/// of several models a statement selects side by side.
pub fn read_at<M: DeserializeOwned>(row: &SqliteRow, start: usize) -> Result<M, DbErr> {
    M::deserialize(Fields { row, start })
        .map_err(|e| DbErr::Type(format!("reading a row by position: {e}")))
}

/// Whether `row`'s column `at` is NULL (a left join that found nothing).
pub fn is_null(row: &SqliteRow, at: usize) -> Result<bool, DbErr> {
    Column { row, at }
        .is_null()
        .map_err(|e| DbErr::Type(e.to_string()))
}

/// The value of `row`'s column `at`.
pub fn get<'r, T>(row: &'r SqliteRow, at: usize) -> Result<T, DbErr>
where
    T: sea_orm::sqlx::Decode<'r, sea_orm::sqlx::Sqlite>
        + sea_orm::sqlx::Type<sea_orm::sqlx::Sqlite>,
{
    Column { row, at }
        .get()
        .map_err(|e| DbErr::Type(e.to_string()))
}

/// A row as the struct its columns from `start` make.
struct Fields<'r> {
    row: &'r SqliteRow,
    start: usize,
}

impl<'de> Deserializer<'de> for Fields<'_> {
    type Error = Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_seq(Columns {
            row: self.row,
            at: self.start,
            end: self.start + fields.len(),
        })
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
        Err(Error::custom("a row is read as a struct"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// The columns `at..end` of a row, in order.
struct Columns<'r> {
    row: &'r SqliteRow,
    at: usize,
    end: usize,
}

impl<'de> SeqAccess<'de> for Columns<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if self.at == self.end {
            return Ok(None);
        }
        let column = Column {
            row: self.row,
            at: self.at,
        };
        self.at += 1;
        seed.deserialize(column).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.end - self.at)
    }
}

/// One column's value, decoded by sqlx as the field asks.
struct Column<'r> {
    row: &'r SqliteRow,
    at: usize,
}

impl<'r> Column<'r> {
    fn get<T>(&self) -> Result<T, Error>
    where
        T: sea_orm::sqlx::Decode<'r, sea_orm::sqlx::Sqlite>
            + sea_orm::sqlx::Type<sea_orm::sqlx::Sqlite>,
    {
        self.row
            .try_get::<T, _>(self.at)
            .map_err(|e| Error::custom(format!("column {}: {e}", self.at)))
    }

    fn is_null(&self) -> Result<bool, Error> {
        self.row
            .try_get_raw(self.at)
            .map(|value| value.is_null())
            .map_err(|e| Error::custom(format!("column {}: {e}", self.at)))
    }
}

impl<'de> Deserializer<'de> for Column<'_> {
    type Error = Error;

    /// What the value holds, for a field that does not say what it wants.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let kind = self
            .row
            .try_get_raw(self.at)
            .map(|value| value.type_info().name().to_owned())
            .map_err(|e| Error::custom(format!("column {}: {e}", self.at)))?;
        match kind.as_str() {
            "NULL" => visitor.visit_none(),
            "INTEGER" => visitor.visit_i64(self.get()?),
            "REAL" => visitor.visit_f64(self.get()?),
            "BLOB" => visitor.visit_bytes(self.get::<&[u8]>()?),
            _ => visitor.visit_str(self.get::<&str>()?),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_bool(self.get()?)
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_i64(self.get()?)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_i64(self.get()?)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_i32(self.get()?)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_i64(self.get()?)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_f64(self.get()?)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_f64(self.get()?)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_str(self.get::<&str>()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_string(self.get::<String>()?)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.is_null()? {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    /// A unit variant stored as its name.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let name: &str = self.get()?;
        visitor.visit_enum(name.into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        i128 u8 u16 u32 u64 u128 char bytes byte_buf unit unit_struct seq
        tuple tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use c360_entity::enums::ReviewStatus;
    use c360_entity::review;
    use chrono::{TimeZone, Utc};
    use sea_orm::{
        ActiveModelTrait, ConnectionTrait, Database, DbBackend, EntityTrait, FromQueryResult,
        QueryTrait, Schema, Set, Statement,
    };

    /// Reviews hold every kind of column the page loaders read: integers of
    /// both widths, text, NULLs, an enum, a boolean and timestamps.
    #[tokio::test]
    async fn a_row_reads_the_same_by_position_as_by_name() {
        let db = Database::connect("sqlite::memory:").await.expect("opens");
        let schema = Schema::new(DbBackend::Sqlite);
        db.execute(&schema.create_table_from_entity(review::Entity))
            .await
            .expect("table");
        let at = Utc
            .with_ymd_and_hms(2024, 2, 29, 23, 59, 58)
            .single()
            .expect("a date");
        for (id, order_id, title, verified, status) in [
            (1, Some(7), Some("Great"), true, ReviewStatus::Published),
            (2, None, None, false, ReviewStatus::Rejected),
        ] {
            review::ActiveModel {
                id: Set(id),
                customer_id: Set(40 + id),
                product_sku: Set(format!("SKU-{id}")),
                order_id: Set(order_id),
                rating: Set(i32::try_from(id).expect("small") + 3),
                title: Set(title.map(str::to_owned)),
                body: Set(None),
                status: Set(status),
                verified_purchase: Set(verified),
                created_at: Set(at),
                updated_at: Set(at + chrono::TimeDelta::microseconds(123_456)),
            }
            .insert(&db)
            .await
            .expect("insert");
        }
        let select = review::Entity::find().build(DbBackend::Sqlite);
        let rows = db.query_all_raw(select).await.expect("rows");
        assert_eq!(rows.len(), 2);
        for row in &rows {
            let by_name = review::Model::from_query_result(row, "").expect("by name");
            let by_position = super::read::<review::Model>(row)
                .expect("a SQLite row")
                .expect("by position");
            assert_eq!(by_position, by_name);
        }
        let first = super::read::<review::Model>(&rows[0])
            .expect("a SQLite row")
            .expect("by position");
        assert_eq!(first.order_id, Some(7));
        assert!(first.verified_purchase);
        assert_eq!(first.status, ReviewStatus::Published);
        assert_eq!(
            first.updated_at,
            at + chrono::TimeDelta::microseconds(123_456)
        );

        // A row narrower than the model is an error, not a panic.
        let short = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT id, customer_id FROM reviews",
            ))
            .await
            .expect("rows");
        let err = super::read::<review::Model>(&short[0])
            .expect("a SQLite row")
            .expect_err("too few columns");
        assert!(
            err.to_string().contains("reading a row by position"),
            "{err}"
        );
    }
}
