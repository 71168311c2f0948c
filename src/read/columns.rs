//! Page statements that write only the columns a selection reads.
//!
//! A combined page statement (`read::combine`) writes each row as a JSON
//! array of its entity's columns. Writing a column PostgreSQL was not asked
//! for still costs it the formatting (a timestamp most of all), and the
//! gateway the parsing: measured on the benchmark's list, a level whose
//! pages wrote only the columns its selection reads took 1.25 ms where all
//! of them took 2.02. A written list ([`crate::graphql::leaves`]) knows the
//! fields it writes, so it asks for [`Columns`]; the statement writes only
//! those, and [`from_array`] reads such a row into the entity's model, given
//! the same set, each column left out taking the model's `Default`, which
//! nothing reads. A column left out is not written at all rather than
//! written `null`: measured on the benchmark's list, whose customer rows
//! write about 15 of their 69 columns, reading the `null`s cost the
//! gateway more than reading the columns it asked for.

use std::any::TypeId;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{LazyLock, PoisonError, RwLock};

use c360_entity::json_time::EPOCH;
use rustc_hash::FxHashMap;

use sea_orm::{EntityTrait, IdenStatic, Iterable};
use serde::de::value::StrDeserializer;
use serde::de::{
    self, Deserialize, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer,
    MapAccess, SeqAccess, Visitor,
};

/// Which of an entity's columns a page statement writes, by their place in
/// the entity's column order. Up to 64 columns; a column past that is
/// always written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Columns(u64);

impl Columns {
    /// Every column: what a page read for the executor asks for.
    pub const ALL: Columns = Columns(u64::MAX);

    /// No column yet.
    pub const NONE: Columns = Columns(0);

    /// `columns` of `E`.
    pub fn of<E: EntityTrait>(columns: impl IntoIterator<Item = E::Column>) -> Columns {
        columns
            .into_iter()
            .fold(Columns::NONE, |set, column| set.with::<E>(column))
    }

    /// This set and `column` of `E`.
    pub fn with<E: EntityTrait>(self, column: E::Column) -> Columns {
        match position::<E>(column) {
            Some(at) if at < 64 => Columns(self.0 | 1 << at),
            _ => self,
        }
    }

    /// The set as bits, the column at `at` in the entity's order at bit `at`.
    pub fn bits(self) -> u64 {
        self.0
    }

    /// Whether the column at `at` in the entity's order is written.
    pub fn has(self, at: usize) -> bool {
        at >= 64 || self.0 & (1 << at) != 0
    }
}

impl std::ops::BitOr for Columns {
    type Output = Columns;
    fn bitor(self, other: Columns) -> Columns {
        Columns(self.0 | other.0)
    }
}

/// Where `column` stands in `E`'s column order. Found once by name and
/// kept: walking an entity's columns for every field of every written list
/// cost a profile more than a list's whole planning.
fn position<E: EntityTrait>(column: E::Column) -> Option<usize> {
    type Positions = RwLock<FxHashMap<(TypeId, &'static str), Option<usize>>>;
    static POSITIONS: LazyLock<Positions> = LazyLock::new(Positions::default);
    let key = (TypeId::of::<E>(), column.as_str());
    let kept = POSITIONS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
        .copied();
    kept.unwrap_or_else(|| {
        let at = E::Column::iter().position(|c| c.as_str() == column.as_str());
        POSITIONS
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, at);
        at
    })
}

/// A JSON array of the model's columns `written`, in the entity's order,
/// read into the model. A column left out reads as the model's `Default`
/// has it, an empty or zero value of its type (a string `""`, a number 0,
/// `false`, the first variant of an enum, the epoch for a timestamp) and an
/// optional one as `None`; a `null` written for a column with no null reads
/// the same.
pub fn from_array<M: DeserializeOwned>(text: &str, written: Columns) -> serde_json::Result<M> {
    let mut de = serde_json::Deserializer::from_str(text);
    let model = M::deserialize(Row(&mut de, written))?;
    de.end()?;
    Ok(model)
}

/// A model read as [`from_array`] reads it, as one element of a larger
/// JSON value (a customer's joined rows, `read::joined`): its columns
/// written, and `null` for a row that is absent when `optional`.
pub struct Partial<M> {
    written: Columns,
    _model: PhantomData<M>,
}

impl<M> Partial<M> {
    pub fn new(written: Columns) -> Partial<M> {
        Partial {
            written,
            _model: PhantomData,
        }
    }
}

impl<'de, M: Deserialize<'de>> DeserializeSeed<'de> for Partial<M> {
    type Value = M;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<M, D::Error> {
        M::deserialize(Row(de, self.written))
    }
}

/// [`Partial`] of a row that may be absent (`null`).
pub struct PartialOrNull<M>(pub Partial<M>);

impl<'de, M: Deserialize<'de>> DeserializeSeed<'de> for PartialOrNull<M> {
    type Value = Option<M>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Option<M>, D::Error> {
        de.deserialize_option(self)
    }
}

impl<'de, M: Deserialize<'de>> Visitor<'de> for PartialOrNull<M> {
    type Value = Option<M>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a row's columns or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<M>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<M>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Option<M>, D::Error> {
        self.0.deserialize(de).map(Some)
    }
}

/// The row: a model (a struct) read from an array of the columns written.
struct Row<D>(D, Columns);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Row<D> {
    type Error = D::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_seq(Fields {
            visitor,
            written: self.1,
            fields: fields.len(),
        })
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("a row is read into a model, a struct"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// Hands the model's visitor the columns written, as a map from each one's
/// place among the model's `fields` to its value. The model's derived
/// `Deserialize` takes every field it is not given from the model's
/// `Default` (`#[serde(default)]`), so a column left out is not visited at
/// all; handed over one by one as placeholders, the columns left out (three
/// quarters of a page's) cost the benchmark's list 1 % of its instructions.
struct Fields<V> {
    visitor: V,
    written: Columns,
    fields: usize,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Fields<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(Written {
            seq,
            written: self.written,
            fields: self.fields,
            at: 0,
        })
    }
}

/// The columns written, each keyed by its place in the entity's order, the
/// next one from `at`.
struct Written<A> {
    seq: A,
    written: Columns,
    fields: usize,
    at: usize,
}

impl<'de, A: SeqAccess<'de>> MapAccess<'de> for Written<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        // The next column written: the next set bit, or any past 64.
        if self.at < 64 {
            let rest = self.written.bits() >> self.at;
            self.at = if rest == 0 {
                64
            } else {
                self.at + rest.trailing_zeros() as usize
            };
        }
        if self.at >= self.fields {
            return Ok(None);
        }
        let place: de::value::U64Deserializer<A::Error> = (self.at as u64).into_deserializer();
        self.at += 1;
        seed.deserialize(place).map(Some)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.seq.next_element_seed(Column(seed))?.ok_or_else(|| {
            de::Error::invalid_length(self.at - 1, &"a value for each column written")
        })
    }
}

/// One column of the row.
struct Column<T>(T);

impl<'de, T: DeserializeSeed<'de>> DeserializeSeed<'de> for Column<T> {
    type Value = T::Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<T::Value, D::Error> {
        self.0.deserialize(OrLeftOut(de))
    }
}

/// A column's value, or, where it is `null` and its type has no null, the
/// value a column left out reads as.
struct OrLeftOut<D>(D);

macro_rules! left_out_as {
    ($($method:ident => $default:expr),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
                self.0.deserialize_any(NullAs(visitor, $default))
            }
        )*
    };
}

macro_rules! as_given {
    ($($method:ident),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
                self.0.$method(visitor)
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for OrLeftOut<D> {
    type Error = D::Error;

    left_out_as! {
        deserialize_bool => LeftOut::Bool,
        deserialize_i8 => LeftOut::Int,
        deserialize_i16 => LeftOut::Int,
        deserialize_i32 => LeftOut::Int,
        deserialize_i64 => LeftOut::Int,
        deserialize_u8 => LeftOut::Int,
        deserialize_u16 => LeftOut::Int,
        deserialize_u32 => LeftOut::Int,
        deserialize_u64 => LeftOut::Int,
        deserialize_f32 => LeftOut::Float,
        deserialize_f64 => LeftOut::Float,
        deserialize_string => LeftOut::Text(""),
        // A timestamp asks for text: the epoch, which its reader knows
        // without parsing.
        deserialize_str => LeftOut::Text(EPOCH),
    }

    as_given! {
        deserialize_any, deserialize_i128, deserialize_u128, deserialize_char,
        deserialize_bytes, deserialize_byte_buf, deserialize_option, deserialize_unit,
        deserialize_seq, deserialize_map, deserialize_identifier, deserialize_ignored_any,
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple_struct(name, len, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_struct(name, fields, visitor)
    }

    /// A text column read as an enum: its variant by name, the first
    /// variant when left out.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(Variant(visitor, variants))
    }
}

/// What a column left out reads as, by the kind of value its type asks for.
#[derive(Clone, Copy)]
enum LeftOut {
    Bool,
    Int,
    Float,
    Text(&'static str),
}

/// The visitor of a column's type, told what a `null` stands for.
struct NullAs<V>(V, LeftOut);

impl<'de, V: Visitor<'de>> Visitor<'de> for NullAs<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        match self.1 {
            LeftOut::Bool => self.0.visit_bool(false),
            LeftOut::Int => self.0.visit_i64(0),
            LeftOut::Float => self.0.visit_f64(0.0),
            LeftOut::Text(text) => self.0.visit_str(text),
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<V::Value, E> {
        self.0.visit_bool(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<V::Value, E> {
        self.0.visit_i64(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<V::Value, E> {
        self.0.visit_u64(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<V::Value, E> {
        self.0.visit_f64(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        self.0.visit_str(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        self.0.visit_borrowed_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        self.0.visit_string(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(map)
    }
}

/// An enum's visitor given the variant a text names, or its first variant
/// for a `null`.
struct Variant<V>(V, &'static [&'static str]);

impl<'de, V: Visitor<'de>> Visitor<'de> for Variant<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        let first = self
            .1
            .first()
            .ok_or_else(|| E::custom("an enum without variants"))?;
        let access: StrDeserializer<'_, E> = first.into_deserializer();
        self.0.visit_enum(access)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        let access: StrDeserializer<'_, E> = v.into_deserializer();
        self.0.visit_enum(access)
    }
}

#[cfg(test)]
mod tests {
    use c360_entity::{loyalty_transaction, nps_response, order, referral, review, ticket};
    use sea_orm::{EntityTrait, Iterable};

    use super::*;

    /// A row of `E` with every column written `null`.
    fn nulls<E: EntityTrait>() -> String {
        let nulls = vec!["null"; E::Column::iter().count()];
        format!("[{}]", nulls.join(","))
    }

    /// A row read with every column left out, or written `null`, whose
    /// type has no null.
    fn pruned<M: DeserializeOwned + PartialEq + fmt::Debug, E: EntityTrait>() -> M {
        let left_out: M = from_array("[]", Columns::NONE).expect("every column left out");
        let null: M = from_array(&nulls::<E>(), Columns::ALL).expect("every column null");
        assert_eq!(left_out, null);
        left_out
    }

    #[test]
    fn every_column_of_a_pruned_entity_can_be_left_out() {
        let order: order::Model = pruned::<_, order::Entity>();
        assert_eq!((order.id, order.currency.as_str()), (0, ""));
        assert_eq!(order.placed_at.timestamp(), 0);
        assert_eq!(order.external_ref, None);
        let ticket: ticket::Model = pruned::<_, ticket::Entity>();
        assert_eq!(ticket.satisfaction_score, None);
        pruned::<review::Model, review::Entity>();
        pruned::<referral::Model, referral::Entity>();
        pruned::<nps_response::Model, nps_response::Entity>();
        pruned::<loyalty_transaction::Model, loyalty_transaction::Entity>();
    }

    #[test]
    fn every_column_of_a_joined_row_can_be_left_out() {
        use c360_entity::{customer, customer_metrics, loyalty_account};
        fn partial<E: EntityTrait>() -> serde_json::Result<E::Model>
        where
            E::Model: DeserializeOwned,
        {
            let mut de = serde_json::Deserializer::from_str("[]");
            Partial::<E::Model>::new(Columns::NONE).deserialize(&mut de)
        }
        let metrics = partial::<customer_metrics::Entity>().expect("metrics");
        assert_eq!((metrics.orders_count, metrics.last_order_at), (0, None));
        let account = partial::<loyalty_account::Entity>().expect("account");
        assert_eq!(account.tier, c360_entity::enums::LoyaltyTier::Bronze);
        assert_eq!(account.settle_due_at, None);
        partial::<referral::Entity>().expect("referral");
        partial::<customer::Entity>().expect("customer");
        let mut absent = serde_json::Deserializer::from_str("null");
        let seed = PartialOrNull(Partial::<referral::Model>::new(Columns::NONE));
        assert_eq!(seed.deserialize(&mut absent).expect("absent"), None);
    }

    #[test]
    fn columns_given_read_as_written() {
        let row = r#"[7, 3, "N-1", null, "REFUNDED", null, "EUR", 100, 0, 20, 120, 5,
            "2026-02-03T04:05:06.5+00:00", null, null]"#;
        let order: order::Model = from_array(row, Columns::ALL).expect("order");
        assert_eq!((order.id, order.customer_id), (7, 3));
        assert_eq!(order.order_number, "N-1");
        assert_eq!(order.status, c360_entity::enums::OrderStatus::Refunded);
        assert_eq!(order.channel, c360_entity::enums::OrderChannel::OnlineStore);
        assert_eq!((order.total, order.refunded), (120, 5));
        assert_eq!(order.placed_at.timestamp_millis(), 1_770_091_506_500);
        assert!(from_array::<order::Model>(r#"[7, "x"]"#, Columns::ALL).is_err());
        assert!(from_array::<order::Model>("[1] trailing", Columns::ALL).is_err());

        // Only the columns written, in the entity's order; the rest left out.
        use order::Column as C;
        let written = Columns::of::<order::Entity>([C::Id, C::Status, C::Total, C::PlacedAt]);
        let row = r#"[7, "PAID", 120, "2026-02-03T04:05:06Z"]"#;
        let order: order::Model = from_array(row, written).expect("order");
        assert_eq!((order.id, order.customer_id, order.total), (7, 0, 120));
        assert_eq!(order.status, c360_entity::enums::OrderStatus::Paid);
        assert_eq!(order.order_number, "");
        assert_eq!(order.placed_at.timestamp(), 1_770_091_506);
        // A row with more or fewer columns than those written is refused.
        assert!(from_array::<order::Model>(r#"[7, "PAID", 120]"#, written).is_err());
        let longer = r#"[7, "PAID", 120, "2026-02-03T04:05:06Z", 1]"#;
        assert!(from_array::<order::Model>(longer, written).is_err());
    }

    #[test]
    fn a_set_has_the_columns_it_was_given() {
        let set = Columns::of::<order::Entity>([order::Column::Id, order::Column::Total]);
        let has: Vec<bool> = order::Column::iter()
            .enumerate()
            .map(|(at, _)| set.has(at))
            .collect();
        assert_eq!(has.iter().filter(|h| **h).count(), 2);
        assert!(has[0]);
        assert!(Columns::ALL.has(14));
    }
}
