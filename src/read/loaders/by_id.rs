//! Rows by primary key, for `node(id)`.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, ModelTrait, QueryFilter, QueryTrait};

use super::LoadError;
use crate::error::AppError;

/// Orders and tickets by id, for `node(id)`.
pub struct ById<E> {
    pub(super) db: DatabaseConnection,
    pub(super) _e: PhantomData<E>,
}

impl<E> Loader<i64> for ById<E>
where
    E: EntityTrait + Send + Sync + 'static,
    E::Model: Clone + Send + Sync + 'static,
    E::PrimaryKey: sea_orm::PrimaryKeyTrait<ValueType = i64>,
{
    type Value = E::Model;
    type Error = LoadError;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, E::Model>, Self::Error> {
        use sea_orm::{Iterable, PrimaryKeyToColumn};
        let Some(pk) = E::PrimaryKey::iter().next() else {
            return Ok(HashMap::new());
        };
        let col = pk.into_column();
        let find = E::find()
            .filter(col.is_in(ids.iter().copied()))
            .build(self.db.get_database_backend());
        let rows = crate::db::read_models::<E::Model>(&self.db, find)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        Ok(rows
            .into_iter()
            .filter_map(|m| match m.get(col) {
                sea_orm::Value::BigInt(Some(id)) => Some((id, m)),
                _ => None,
            })
            .collect())
    }
}
