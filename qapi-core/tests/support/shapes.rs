//! Argument shapes of QAPI commands (mandatory and optional members,
//! narrow integers, enums, lists of structs) for tests of argument
//! decoding, shared by the property tests and the fuzz targets (`fuzz/`,
//! included with `#[path]`).
#![allow(dead_code)]

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
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
