//! Decoding a command's `arguments` into its typed argument struct, with
//! QEMU's error texts.
//!
//! QEMU's input visitor names the offending member by its full path
//! (`vcpus[0].online`) and words each failure in one of a few fixed ways.
//! [`from_arguments`] is a serde deserializer over the parsed JSON that does
//! the same, so any `#[derive(Deserialize)]` struct with
//! `#[serde(deny_unknown_fields)]` gets QEMU's messages:
//!
//! | failure | desc |
//! |---|---|
//! | member not in the schema | `Parameter 'x' is unexpected` |
//! | mandatory member left out | `Parameter 'x' is missing` |
//! | wrong JSON type | `Invalid parameter type for 'x', expected: integer` |
//! | not one of an enum's values | `Parameter 'x' does not accept value 'v'` |
//! | integer out of the type's range | `Parameter 'x' expects uint32` |
//!
//! Names and values quoted in these texts come from the host: each is cut to
//! 1 KiB by [`echo`], so a hostile member name or enum value
//! cannot make the reply large.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Value};

use crate::error::echo;

/// Why arguments did not decode. The display text is QEMU's desc.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    /// A member the command does not take.
    #[error("Parameter '{0}' is unexpected")]
    Unexpected(String),
    /// A mandatory member left out.
    #[error("Parameter '{0}' is missing")]
    Missing(String),
    /// A member of the wrong JSON type.
    #[error("Invalid parameter type for '{name}', expected: {expected}")]
    InvalidType {
        /// Full path of the member.
        name: String,
        /// QAPI's name for the type wanted.
        expected: Cow<'static, str>,
    },
    /// A string that is not one of the enum's values.
    #[error("Parameter '{name}' does not accept value '{value}'")]
    InvalidValue {
        /// Full path of the member.
        name: String,
        /// The value given.
        value: String,
    },
    /// An integer outside its type's range.
    #[error("Parameter '{name}' expects {expected}")]
    OutOfRange {
        /// Full path of the member.
        name: String,
        /// QAPI's name for the type wanted.
        expected: &'static str,
    },
    /// Any other complaint of a type's own `Deserialize`.
    #[error("{0}")]
    Custom(String),
}

impl ArgError {
    /// The same error with every quoted name and value cut by
    /// [`echo`].
    fn bounded(self) -> ArgError {
        let cut = |text: String| match echo(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(short) => short,
        };
        match self {
            ArgError::Unexpected(name) => ArgError::Unexpected(cut(name)),
            ArgError::Missing(name) => ArgError::Missing(cut(name)),
            ArgError::InvalidType { name, expected } => ArgError::InvalidType {
                name: cut(name),
                expected: match expected {
                    Cow::Owned(text) => Cow::Owned(cut(text)),
                    borrowed => borrowed,
                },
            },
            ArgError::InvalidValue { name, value } => ArgError::InvalidValue {
                name: cut(name),
                value: cut(value),
            },
            ArgError::OutOfRange { name, expected } => ArgError::OutOfRange {
                name: cut(name),
                expected,
            },
            ArgError::Custom(text) => ArgError::Custom(cut(text)),
        }
    }
}

/// An [`ArgError`] on its way up, before it knows which member it is about.
#[derive(Debug)]
pub struct Error {
    kind: Pending,
}

#[derive(Debug)]
enum Pending {
    /// Already names its member.
    Done(ArgError),
    /// A field-level complaint from a struct's `Deserialize`; the struct's
    /// own path is prefixed on the way out.
    Unexpected(String),
    Missing(&'static str),
    /// A value-level complaint from a `Deserialize` impl; the value's path
    /// is filled in on the way out.
    InvalidValue(String),
    InvalidType(Cow<'static, str>),
    Custom(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.kind)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error {
            kind: Pending::Custom(msg.to_string()),
        }
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        Error {
            kind: Pending::Unexpected(field.to_string()),
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Error {
            kind: Pending::Missing(field),
        }
    }

    fn unknown_variant(variant: &str, _expected: &'static [&'static str]) -> Self {
        Error {
            kind: Pending::InvalidValue(variant.to_string()),
        }
    }

    fn invalid_type(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        let _ = unexpected;
        Error {
            kind: Pending::InvalidType(qapi_type_name(&expected.to_string())),
        }
    }

    fn invalid_value(unexpected: de::Unexpected<'_>, _expected: &dyn de::Expected) -> Self {
        Error {
            kind: Pending::InvalidValue(unexpected_text(&unexpected)),
        }
    }
}

fn unexpected_text(unexpected: &de::Unexpected<'_>) -> String {
    match unexpected {
        de::Unexpected::Str(s) => s.to_string(),
        de::Unexpected::Signed(n) => n.to_string(),
        de::Unexpected::Unsigned(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Maps serde's description of what a visitor wanted to QAPI's type name.
/// A visitor of a QAPI alternate names the alternate itself (a capitalized
/// schema name such as `GuestFileWhence`), which QEMU prints as it is.
fn qapi_type_name(expected: &str) -> Cow<'static, str> {
    if expected.starts_with(|c: char| c.is_ascii_uppercase()) && !expected.contains(' ') {
        return Cow::Owned(expected.to_string());
    }
    Cow::Borrowed(if expected.contains("bool") {
        "boolean"
    } else if expected.contains("string") || expected.contains("variant") || expected.contains("char") {
        "string"
    } else if expected.contains("integer") || expected.contains("i64") || expected.contains("u64") {
        "integer"
    } else if expected.contains("f64") || expected.contains("float") || expected.contains("number") {
        "number"
    } else if expected.contains("sequence") || expected.contains("array") || expected.contains("tuple") {
        "array"
    } else {
        "object"
    })
}

impl Error {
    fn done(error: ArgError) -> Self {
        Error {
            kind: Pending::Done(error),
        }
    }

    /// Resolves value-level complaints against the value's path.
    fn at_value(self, path: &Path<'_>) -> Self {
        let name = || path.to_string();
        Error::done(match self.kind {
            Pending::Done(e) => e,
            Pending::InvalidValue(value) => ArgError::InvalidValue {
                name: path.leaf().to_string(),
                value,
            },
            Pending::InvalidType(expected) => ArgError::InvalidType {
                name: name(),
                expected,
            },
            Pending::Custom(msg) => ArgError::Custom(msg),
            // Field-level complaints belong to the struct; see `in_struct`.
            other => return Error { kind: other },
        })
    }

    /// Resolves field-level complaints against the struct's path.
    fn in_struct(self, path: &Path<'_>) -> Self {
        match self.kind {
            Pending::Unexpected(field) => Error::done(ArgError::Unexpected(path.child(&field))),
            Pending::Missing(field) => Error::done(ArgError::Missing(path.child(field))),
            _ => self.at_value(path),
        }
    }

    fn into_arg_error(self) -> ArgError {
        match self.kind {
            Pending::Done(e) => e,
            Pending::Unexpected(f) => ArgError::Unexpected(f),
            Pending::Missing(f) => ArgError::Missing(f.to_string()),
            Pending::InvalidValue(v) => ArgError::InvalidValue {
                name: String::new(),
                value: v,
            },
            Pending::InvalidType(expected) => ArgError::InvalidType {
                name: String::new(),
                expected,
            },
            Pending::Custom(msg) => ArgError::Custom(msg),
        }
    }
}

/// Where a value sits in the arguments, for messages.
#[derive(Debug, Clone, Copy)]
enum Path<'a> {
    Root,
    Member(&'a Path<'a>, &'a str),
    Element(&'a Path<'a>, usize),
}

impl Path<'_> {
    /// The member's own name, as QEMU's enum and range messages give it
    /// ("null" for a list element).
    fn leaf(&self) -> &str {
        match self {
            Path::Member(_, name) => name,
            Path::Root | Path::Element(..) => "null",
        }
    }

    fn child(&self, field: &str) -> String {
        match self {
            Path::Root => field.to_string(),
            _ => format!("{self}.{field}"),
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Member(Path::Root, name) => f.write_str(name),
            Path::Member(parent, name) => write!(f, "{parent}.{name}"),
            Path::Element(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// Decodes a command's arguments (the `arguments` object, empty when left
/// out) into `T`. Names and values the error quotes are cut to 1 KiB each.
pub fn from_arguments<T: DeserializeOwned>(arguments: Map<String, Value>) -> Result<T, ArgError> {
    let value = Value::Object(arguments);
    T::deserialize(ValueDe {
        value: &value,
        path: Path::Root,
    })
    .map_err(|e| e.into_arg_error().bounded())
}

struct ValueDe<'v, 'p> {
    value: &'v Value,
    path: Path<'p>,
}

impl ValueDe<'_, '_> {
    fn wrong_type(&self, expected: &'static str) -> Error {
        Error::done(ArgError::InvalidType {
            name: self.path.to_string(),
            expected: Cow::Borrowed(expected),
        })
    }

    fn out_of_range(&self, expected: &'static str) -> Error {
        Error::done(ArgError::OutOfRange {
            name: self.path.leaf().to_string(),
            expected,
        })
    }

    /// QEMU's error for a value that is not an unsigned integer:
    /// "Parameter 'x' expects uint64", with the full path.
    fn not_unsigned(&self) -> Error {
        Error::done(ArgError::OutOfRange {
            name: self.path.to_string(),
            expected: "uint64",
        })
    }

    fn int(&self) -> Result<i64, Error> {
        match self.value {
            Value::Number(n) => n.as_i64().ok_or_else(|| self.wrong_type("integer")),
            _ => Err(self.wrong_type("integer")),
        }
    }

    fn uint(&self) -> Result<u64, Error> {
        match self.value {
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => Ok(u),
                // QEMU takes a negative integer for a uint64 as its two's
                // complement.
                (None, Some(i)) => Ok(i as u64),
                _ => Err(self.not_unsigned()),
            },
            _ => Err(self.not_unsigned()),
        }
    }
}

macro_rules! narrow_int {
    ($method:ident, $visit:ident, $ty:ty, $qapi:literal) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let n = self.int()?;
            let n = <$ty>::try_from(n).map_err(|_| self.out_of_range($qapi))?;
            visitor.$visit(n).map_err(|e: Error| e.at_value(&self.path))
        }
    };
}

macro_rules! narrow_uint {
    ($method:ident, $visit:ident, $ty:ty, $qapi:literal) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let n = self.uint()?;
            let n = <$ty>::try_from(n).map_err(|_| self.out_of_range($qapi))?;
            visitor.$visit(n).map_err(|e: Error| e.at_value(&self.path))
        }
    };
}

impl ValueDe<'_, '_> {
    /// Visits an object. A struct's members (`fields` known) are visited in
    /// their declared order, absent ones included, so the first problem
    /// reported is the one QEMU's visitor meets first; members it does not
    /// declare are reported after all declared ones decoded.
    fn visit_object<'de, V: Visitor<'de>>(
        self,
        fields: Option<&'static [&'static str]>,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let Value::Object(members) = self.value else {
            return Err(self.wrong_type("object"));
        };
        let path = self.path;
        let value = match fields {
            None => visitor.visit_map(MapDe {
                members: members.iter(),
                current: None,
                path: &path,
            }),
            Some(fields) => visitor.visit_map(StructDe {
                fields: fields.iter(),
                members,
                current: None,
                path: &path,
            }),
        }
        .map_err(|e: Error| e.in_struct(&path))?;
        if let Some(fields) = fields {
            if let Some(extra) = members.keys().find(|k| !fields.contains(&k.as_str())) {
                return Err(Error::done(ArgError::Unexpected(path.child(extra))));
            }
        }
        Ok(value)
    }
}

impl<'de> de::Deserializer<'de> for ValueDe<'_, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let path = self.path;
        let result = match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or_default())
                }
            }
            Value::String(s) => visitor.visit_str(s),
            Value::Array(_) => return self.deserialize_seq(visitor),
            Value::Object(_) => return self.deserialize_map(visitor),
        };
        result.map_err(|e: Error| e.at_value(&path))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Bool(b) => visitor.visit_bool(*b).map_err(|e: Error| e.at_value(&self.path)),
            _ => Err(self.wrong_type("boolean")),
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let n = self.int()?;
        visitor.visit_i64(n).map_err(|e: Error| e.at_value(&self.path))
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let n = self.uint()?;
        visitor.visit_u64(n).map_err(|e: Error| e.at_value(&self.path))
    }

    narrow_int!(deserialize_i8, visit_i8, i8, "int8_t");
    narrow_int!(deserialize_i16, visit_i16, i16, "int16_t");
    narrow_int!(deserialize_i32, visit_i32, i32, "int32_t");
    narrow_uint!(deserialize_u8, visit_u8, u8, "uint8_t");
    narrow_uint!(deserialize_u16, visit_u16, u16, "uint16_t");
    narrow_uint!(deserialize_u32, visit_u32, u32, "uint32_t");

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Number(n) => {
                let f = n.as_f64().ok_or_else(|| self.wrong_type("number"))?;
                visitor.visit_f64(f).map_err(|e: Error| e.at_value(&self.path))
            }
            _ => Err(self.wrong_type("number")),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::String(s) => visitor.visit_str(s).map_err(|e: Error| e.at_value(&self.path)),
            _ => Err(self.wrong_type("string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        // A member that is present is decoded as the inner type; QAPI has no
        // "null means absent".
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_unit().map_err(|e: Error| e.at_value(&self.path)),
            _ => Err(self.wrong_type("null")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Array(items) => {
                let path = self.path;
                visitor
                    .visit_seq(SeqDe {
                        items: items.iter(),
                        index: 0,
                        path: &path,
                    })
                    .map_err(|e: Error| e.at_value(&path))
            }
            _ => Err(self.wrong_type("array")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.visit_object(None, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.visit_object(Some(fields), visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Value::String(s) => {
                let unit: de::value::StrDeserializer<'_, Error> = s.as_str().into_deserializer();
                visitor
                    .visit_enum(unit)
                    .map_err(|e: Error| e.at_value(&self.path))
            }
            _ => Err(self.wrong_type("string")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! { i128 u128 bytes byte_buf }
}

struct SeqDe<'v, 'p> {
    items: std::slice::Iter<'v, Value>,
    index: usize,
    path: &'p Path<'p>,
}

impl<'de> de::SeqAccess<'de> for SeqDe<'_, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        let Some(value) = self.items.next() else {
            return Ok(None);
        };
        let path = Path::Element(self.path, self.index);
        self.index += 1;
        seed.deserialize(ValueDe { value, path })
            .map(Some)
            .map_err(|e: Error| e.at_value(&path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'v, 'p> {
    members: serde_json::map::Iter<'v>,
    current: Option<(&'v String, &'v Value)>,
    path: &'p Path<'p>,
}

impl<'de> de::MapAccess<'de> for MapDe<'_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        self.current = self.members.next();
        match self.current {
            None => Ok(None),
            Some((key, _)) => {
                let key: de::value::StrDeserializer<'_, Error> = key.as_str().into_deserializer();
                seed.deserialize(key).map(Some)
            }
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, Error> {
        let Some((key, value)) = self.current.take() else {
            return Err(de::Error::custom("value requested before key"));
        };
        let path = Path::Member(self.path, key);
        seed.deserialize(ValueDe { value, path })
            .map_err(|e: Error| e.at_value(&path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.members.len())
    }
}

/// A struct's members in declared order, absent ones as [`AbsentDe`].
struct StructDe<'v, 'p> {
    fields: std::slice::Iter<'static, &'static str>,
    members: &'v serde_json::Map<String, Value>,
    current: Option<&'static str>,
    path: &'p Path<'p>,
}

impl<'de> de::MapAccess<'de> for StructDe<'_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        self.current = self.fields.next().copied();
        match self.current {
            None => Ok(None),
            Some(field) => {
                let key: de::value::StrDeserializer<'_, Error> = field.into_deserializer();
                seed.deserialize(key).map(Some)
            }
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, Error> {
        let Some(field) = self.current.take() else {
            return Err(de::Error::custom("value requested before key"));
        };
        let path = Path::Member(self.path, field);
        match self.members.get(field) {
            Some(value) => seed
                .deserialize(ValueDe { value, path })
                .map_err(|e: Error| e.at_value(&path)),
            None => seed.deserialize(AbsentDe { path }),
        }
    }
}

/// A declared member the input leaves out: `None` for an optional member
/// (an `Option`), "Parameter '...' is missing" for anything else.
struct AbsentDe<'p> {
    path: Path<'p>,
}

impl<'de> de::Deserializer<'de> for AbsentDe<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
        Err(Error::done(ArgError::Missing(self.path.to_string())))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_none()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests;
