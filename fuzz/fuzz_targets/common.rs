//! Helpers shared by the fuzz targets (included with `#[path]`).
#![allow(dead_code)]

use serde::Deserialize;
use serde_json::Value;

/// JSON equality where numbers compare by value (`1.0` is written `1`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x.is_f64() || y.is_f64() {
                x.as_f64() == y.as_f64()
            } else {
                x == y
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && json_eq(va, vb))
        }
        _ => a == b,
    }
}

/// Argument shapes of QAPI commands: mandatory and optional members,
/// narrow integers, enums, lists of structs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct A {
    pub id: i64,
    pub name: Option<String>,
    pub list: Option<Vec<B>>,
    pub mode: Option<Mode>,
    pub count: Option<u32>,
    pub size: Option<u64>,
    pub flag: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct B {
    #[serde(rename = "logical-id")]
    pub logical_id: i64,
    pub online: bool,
    pub ratio: Option<f64>,
    pub small: Option<i8>,
    pub mode: Option<Mode>,
    pub counts: Option<Vec<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct C {
    pub inner: B,
    pub modes: Vec<Mode>,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Set,
    Cur,
    EndOfFile,
}

/// True when `text` is in one of the forms QEMU words argument errors in.
pub fn in_qemu_form(text: &str) -> bool {
    if let Some(rest) = text.strip_prefix("Invalid parameter type for '") {
        return rest.contains("', expected: ");
    }
    let Some(rest) = text.strip_prefix("Parameter '") else {
        return false;
    };
    rest.ends_with("' is missing")
        || rest.ends_with("' is unexpected")
        || (rest.ends_with('\'') && rest.contains("' does not accept value '"))
        || rest.contains("' expects ")
}
