//! A YAML value read together with where each of its parts is, so that a problem deep inside a
//! node's `config` (`tasks[3].config.type`) points at that sub-field's own line, not at the
//! `config:` key.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;

use crate::workflow::{Position, at};

/// A value as parsed, each part of a sequence or mapping with its position.
pub(crate) enum Located {
    Scalar(Value),
    Seq(Vec<Spanned<Located>>),
    Map(Vec<(String, Spanned<Located>)>),
}

impl Located {
    /// The plain value; the position of each part goes to `positions` under its path, written
    /// as `serde_path_to_error` writes a config error's field (`url`, `tasks[3].config.type`),
    /// each path relative to `path`.
    pub(crate) fn to_value(&self, path: &str, positions: &mut BTreeMap<String, Position>) -> Value {
        match self {
            Located::Scalar(value) => value.clone(),
            Located::Seq(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let path = format!("{path}[{i}]");
                        positions.insert(path.clone(), at(item));
                        item.value.to_value(&path, positions)
                    })
                    .collect(),
            ),
            Located::Map(entries) => {
                let mut map = Map::new();
                for (key, value) in entries {
                    let path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                    positions.insert(path.clone(), at(value));
                    map.insert(key.clone(), value.value.to_value(&path, positions));
                }
                Value::Object(map)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Located {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LocatedVisitor)
    }
}

struct LocatedVisitor;

impl<'de> Visitor<'de> for LocatedVisitor {
    type Value = Located;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Located, E> {
        Ok(Located::Scalar(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Located, E> {
        Ok(Located::Scalar(Value::Number(v.into())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Located, E> {
        Ok(Located::Scalar(Value::Number(v.into())))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Located, E> {
        i64::try_from(v)
            .map(Number::from)
            .or_else(|_| u64::try_from(v).map(Number::from))
            .map(|n| Located::Scalar(Value::Number(n)))
            .map_err(|_| E::custom(format!("the integer {v} does not fit in 64 bits")))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Located, E> {
        u64::try_from(v)
            .map(|n| Located::Scalar(Value::Number(n.into())))
            .map_err(|_| E::custom(format!("the integer {v} does not fit in 64 bits")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Located, E> {
        // Like serde_json's own Value: a float JSON cannot hold (NaN, infinity) is null.
        Ok(Located::Scalar(Number::from_f64(v).map_or(Value::Null, Value::Number)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Located, E> {
        Ok(Located::Scalar(Value::String(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Located, E> {
        Ok(Located::Scalar(Value::String(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Located, E> {
        Ok(Located::Scalar(Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<Located, E> {
        Ok(Located::Scalar(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Located, D::Error> {
        Located::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Located, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Located::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Located, A::Error> {
        let mut entries: Vec<(String, Spanned<Located>)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            // A repeated key: the last one wins (in `to_value`), as in a plain Value.
            entries.push((key, map.next_value()?));
        }
        Ok(Located::Map(entries))
    }
}
