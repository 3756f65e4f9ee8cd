//! Plugin settings as serde types: one parser for every prior table, so that a
//! third-party plugin's users see the same messages as seqcal's own.
//!
//! A plugin declares its table as a `#[derive(Deserialize)]` struct (with
//! `#[serde(deny_unknown_fields)]`, documented defaults, `Option` for keys
//! whose absence it explains itself) and calls [`parse_table`]; it then checks
//! the parsed settings once into a validated type (linfa's checked-params
//! idea: `Options` → `check()` → the checked type) before building anything.
//!
//! ```
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Cauchy {
//!     names: Vec<String>,
//!     #[serde(default)]
//!     scale: Option<f64>,
//! }
//!
//! let t: toml::Table = "kind = \"cauchy\"\nnames = [\"a\"]\nscal = 2".parse().unwrap();
//! let e = seqcal_api::parse_table::<Cauchy>("cauchy", &t).err().unwrap();
//! assert_eq!(e.to_string(), "prior \"cauchy\": unknown key \"scal\"; this prior takes: names, scale");
//! let t: toml::Table = "kind = \"cauchy\"\nnames = [\"a\"]\nscale = \"big\"".parse().unwrap();
//! let e = seqcal_api::parse_table::<Cauchy>("cauchy", &t).err().unwrap();
//! assert_eq!(e.to_string(), "prior \"cauchy\": \"scale\" must be a number, got \"big\"");
//! ```

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::Deserializer;
use toml::{Table, Value};

use crate::PriorError;

/// One key of a plugin's table, as `seqcal prior list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDoc {
    /// The key.
    pub name: String,
    /// Its default (TOML syntax), or `None` when it has none.
    pub default: Option<String>,
    /// What it sets, in a few words.
    pub help: String,
}

/// The field names of a `#[derive(Deserialize)]` struct, in declaration order
/// (as serialized: renames applied); empty for types that are not structs.
pub fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe { fields: &mut fields });
    fields
}

/// Refuses any key of `table` other than `kind` and `accepted`, naming the
/// keys the prior takes.
///
/// # Errors
/// [`PriorError::Spec`] for the first unknown key.
pub fn check_keys(kind: &str, table: &Table, accepted: &[&str]) -> Result<(), PriorError> {
    for key in table.keys() {
        if key != "kind" && !accepted.contains(&key.as_str()) {
            return Err(PriorError::spec(kind, format!("unknown key {key:?}; this prior takes: {}", accepted.join(", "))));
        }
    }
    Ok(())
}

/// Parses a prior table (the `kind` key skipped) into the plugin's settings
/// type `T`. An unknown key is refused with the list of the keys `T` takes; a
/// value of the wrong type names its key, what was expected and what was found
/// (`"lr" must be a number, got "fast"`); errors of a field's own parser (a
/// `FromStr` of an enum, say) are shown as they are, after the key.
///
/// # Errors
/// [`PriorError::Spec`] naming `kind`.
pub fn parse_table<T: DeserializeOwned>(kind: &str, table: &Table) -> Result<T, PriorError> {
    let fields = field_names::<T>();
    if !fields.is_empty() {
        check_keys(kind, table, fields)?;
    }
    T::deserialize(TableDeserializer { table }).map_err(|e| PriorError::spec(kind, e.0))
}

/// The error of [`parse_table`]'s deserializer: a message already naming its key.
#[derive(Debug)]
struct KeyedError(String);

impl fmt::Display for KeyedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyedError {}

impl de::Error for KeyedError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        KeyedError(msg.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        KeyedError(format!("missing key {field:?}"))
    }
}

/// serde's names of expected types, in the words of a settings file.
fn friendly(expected: &str) -> &str {
    match expected {
        "usize" | "u64" | "u32" | "u16" | "u8" => "a non-negative integer",
        "isize" | "i64" | "i32" | "i16" | "i8" => "an integer",
        "f64" | "f32" => "a number",
        "a boolean" => "true or false",
        "a sequence" => "a list",
        "a map" => "a table",
        other => other,
    }
}

/// The message for a value of `key` that its type refused.
fn keyed_message(key: &str, value: &Value, msg: &str) -> String {
    let rest = msg.strip_prefix("invalid type: ").or_else(|| msg.strip_prefix("invalid value: "));
    if let Some((found, expected)) = rest.and_then(|r| r.split_once(", expected ")) {
        let expected = friendly(expected);
        return match value {
            Value::Array(_) | Value::Table(_) => format!("{key:?}: found {found}, expected {expected}"),
            _ => format!("{key:?} must be {expected}, got {value}"),
        };
    }
    format!("{key:?}: {msg}")
}

struct TableDeserializer<'t> {
    table: &'t Table,
}

impl<'de> Deserializer<'de> for TableDeserializer<'_> {
    type Error = KeyedError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, KeyedError> {
        let entries: Vec<(&String, &Value)> = self.table.iter().filter(|(k, _)| k.as_str() != "kind").collect();
        visitor.visit_map(Entries { iter: entries.into_iter(), pending: None })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

struct Entries<'t> {
    iter: std::vec::IntoIter<(&'t String, &'t Value)>,
    pending: Option<(&'t String, &'t Value)>,
}

impl<'de> MapAccess<'de> for Entries<'_> {
    type Error = KeyedError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, KeyedError> {
        match self.iter.next() {
            None => Ok(None),
            Some((k, v)) => {
                self.pending = Some((k, v));
                seed.deserialize(k.as_str().into_deserializer()).map(Some)
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, KeyedError> {
        let (key, value) = self.pending.take().ok_or_else(|| KeyedError("a value without its key".into()))?;
        seed.deserialize(value.clone()).map_err(|e| KeyedError(keyed_message(key, value, e.message())))
    }
}

/// A deserializer that only records the field names a struct asks for.
struct Probe<'a> {
    fields: &'a mut &'static [&'static str],
}

#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field names recorded")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(self, _: &'static str, fields: &'static [&'static str], _: V) -> Result<V::Value, Stop> {
        *self.fields = fields;
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Opts {
        hidden: usize,
        lr: f64,
        lu: bool,
        base: Option<Table>,
        names: Vec<String>,
    }

    impl Default for Opts {
        fn default() -> Self {
            Opts { hidden: 64, lr: 1e-3, lu: false, base: None, names: Vec::new() }
        }
    }

    fn parse(text: &str) -> Result<Opts, String> {
        parse_table::<Opts>("test", &text.parse().unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn fields_defaults_and_messages() {
        assert_eq!(field_names::<Opts>(), ["hidden", "lr", "lu", "base", "names"]);
        assert!(field_names::<Table>().is_empty());
        let o = parse("kind = \"test\"\nlr = 1\nbase = { kind = \"uniform\" }").unwrap();
        assert_eq!((o.hidden, o.lr, o.base.unwrap()["kind"].as_str()), (64, 1.0, Some("uniform")));
        for (text, want) in [
            ("hiden = 3", "prior \"test\": unknown key \"hiden\"; this prior takes: hidden, lr, lu, base, names"),
            ("hidden = -1", "prior \"test\": \"hidden\" must be a non-negative integer, got -1"),
            ("hidden = 1.5", "prior \"test\": \"hidden\" must be a non-negative integer, got 1.5"),
            ("lr = \"fast\"", "prior \"test\": \"lr\" must be a number, got \"fast\""),
            ("lu = 1", "prior \"test\": \"lu\" must be true or false, got 1"),
            ("base = 3", "prior \"test\": \"base\" must be a table, got 3"),
            ("names = [\"a\", 2]", "prior \"test\": \"names\": found integer `2`, expected a string"),
        ] {
            assert_eq!(parse(text).unwrap_err(), want, "{text}");
        }
    }
}
