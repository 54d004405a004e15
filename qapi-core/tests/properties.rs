//! Property tests of argument decoding: `from_arguments` never panics, takes
//! exactly the objects its schema allows, and words every refusal in one of
//! QEMU's forms about a member that really is wrong.
//!
//! Where the text differs from what QEMU's agent would say for the same
//! input, the difference is kept as an `#[ignore = "bug: ..."]` test at the
//! end of the file.

// Helpers outside `#[test]` functions panic on broken invariants too.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use proptest::prelude::*;
use qapi_core::args::from_arguments;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------
// Argument types, in the shapes QAPI commands use

mod support;

use support::shapes::{Mode, A, B, C};

const MODES: &[&str] = &["set", "cur", "end-of-file"];

// ---------------------------------------------------------------------------
// The same schema as data, for the generators and the reference checker

#[derive(Debug)]
enum Ty {
    I64,
    I8,
    U32,
    U64,
    F64,
    Bool,
    Str,
    Mode,
    List(&'static Ty),
    Struct(&'static [Field]),
}

#[derive(Debug)]
struct Field {
    name: &'static str,
    ty: Ty,
    optional: bool,
}

const fn field(name: &'static str, ty: Ty, optional: bool) -> Field {
    Field { name, ty, optional }
}

const B_FIELDS: &[Field] = &[
    field("logical-id", Ty::I64, false),
    field("online", Ty::Bool, false),
    field("ratio", Ty::F64, true),
    field("small", Ty::I8, true),
    field("mode", Ty::Mode, true),
    field("counts", Ty::List(&Ty::U32), true),
];

const A_FIELDS: &[Field] = &[
    field("id", Ty::I64, false),
    field("name", Ty::Str, true),
    field("list", Ty::List(&Ty::Struct(B_FIELDS)), true),
    field("mode", Ty::Mode, true),
    field("count", Ty::U32, true),
    field("size", Ty::U64, true),
    field("flag", Ty::Bool, true),
];

const C_FIELDS: &[Field] = &[
    field("inner", Ty::Struct(B_FIELDS), false),
    field("modes", Ty::List(&Ty::Mode), false),
    field("tags", Ty::List(&Ty::Str), true),
];

// ---------------------------------------------------------------------------
// What is wrong with a value, by the schema

/// One thing wrong with the arguments, where QEMU would see it.
#[derive(Debug, Clone, PartialEq)]
enum Problem {
    Missing {
        path: String,
    },
    Unexpected {
        path: String,
    },
    /// A value of the wrong type or out of its type's range.
    Bad {
        path: String,
        value: Value,
        qemu: String,
    },
}

impl Problem {
    fn path(&self) -> &str {
        match self {
            Problem::Missing { path } | Problem::Unexpected { path } | Problem::Bad { path, .. } => path,
        }
    }

    /// QEMU's desc for this problem.
    fn qemu_text(&self) -> String {
        match self {
            Problem::Missing { path } => format!("Parameter '{path}' is missing"),
            Problem::Unexpected { path } => format!("Parameter '{path}' is unexpected"),
            Problem::Bad { qemu, .. } => qemu.clone(),
        }
    }
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// The problem with a scalar, or with a container's own type, in QEMU's
/// words. `bare` is the member's own name (QEMU's `name`, "null" for list
/// elements), which QEMU uses in range and enum messages instead of the
/// full path.
fn check_scalar(ty: &Ty, value: &Value, path: &str, bare: &str) -> Option<Problem> {
    let bad = |qemu: String| {
        Some(Problem::Bad {
            path: path.to_string(),
            value: value.clone(),
            qemu,
        })
    };
    let wrong_type = |expected: &str| {
        bad(format!(
            "Invalid parameter type for '{path}', expected: {expected}"
        ))
    };
    let as_uint = || match value {
        Value::Number(n) => n.as_u64().or_else(|| n.as_i64().map(|i| i as u64)),
        _ => None,
    };
    match ty {
        Ty::I64 => value.as_i64().is_none().then(|| wrong_type("integer")).flatten(),
        Ty::I8 => match value.as_i64() {
            None => wrong_type("integer"),
            Some(n) if i8::try_from(n).is_err() => bad(format!("Parameter '{bare}' expects int8_t")),
            Some(_) => None,
        },
        Ty::U64 => as_uint()
            .is_none()
            .then(|| bad(format!("Parameter '{path}' expects uint64")))
            .flatten(),
        Ty::U32 => match as_uint() {
            None => bad(format!("Parameter '{path}' expects uint64")),
            Some(n) if u32::try_from(n).is_err() => bad(format!("Parameter '{bare}' expects uint32_t")),
            Some(_) => None,
        },
        Ty::F64 => (!value.is_number()).then(|| wrong_type("number")).flatten(),
        Ty::Bool => (!value.is_boolean()).then(|| wrong_type("boolean")).flatten(),
        Ty::Str => (!value.is_string()).then(|| wrong_type("string")).flatten(),
        Ty::Mode => match value.as_str() {
            None => wrong_type("string"),
            Some(s) if !MODES.contains(&s) => bad(format!("Parameter '{bare}' does not accept value '{s}'")),
            Some(_) => None,
        },
        Ty::List(_) => (!value.is_array()).then(|| wrong_type("array")).flatten(),
        Ty::Struct(_) => (!value.is_object()).then(|| wrong_type("object")).flatten(),
    }
}

/// Every problem with `value` as a `ty`, whatever order they are found in.
fn all_problems(ty: &Ty, value: &Value, path: &str, bare: &str, out: &mut Vec<Problem>) {
    if let Some(problem) = check_scalar(ty, value, path, bare) {
        out.push(problem);
        return;
    }
    match (ty, value) {
        (Ty::List(item), Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                all_problems(item, v, &format!("{path}[{i}]"), "null", out);
            }
        }
        (Ty::Struct(fields), Value::Object(members)) => {
            for f in fields.iter() {
                match members.get(f.name) {
                    Some(v) => all_problems(&f.ty, v, &child(path, f.name), f.name, out),
                    None if !f.optional => out.push(Problem::Missing {
                        path: child(path, f.name),
                    }),
                    None => {}
                }
            }
            for key in members.keys() {
                if !fields.iter().any(|f| f.name == key) {
                    out.push(Problem::Unexpected {
                        path: child(path, key),
                    });
                }
            }
        }
        _ => {}
    }
}

/// What QEMU's input visitor reports: members in schema order, each
/// checked in full before the next, and unexpected members of a struct
/// only after all its members are fine. Several unexpected members come
/// out in hash order, so any of them is QEMU's answer.
fn qemu_errors(ty: &Ty, value: &Value, path: &str, bare: &str) -> Option<Vec<Problem>> {
    if let Some(problem) = check_scalar(ty, value, path, bare) {
        return Some(vec![problem]);
    }
    match (ty, value) {
        (Ty::List(item), Value::Array(items)) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| qemu_errors(item, v, &format!("{path}[{i}]"), "null")),
        (Ty::Struct(fields), Value::Object(members)) => {
            for f in fields.iter() {
                let found = match members.get(f.name) {
                    Some(v) => qemu_errors(&f.ty, v, &child(path, f.name), f.name),
                    None if !f.optional => Some(vec![Problem::Missing {
                        path: child(path, f.name),
                    }]),
                    None => None,
                };
                if found.is_some() {
                    return found;
                }
            }
            let unexpected: Vec<Problem> = members
                .keys()
                .filter(|key| !fields.iter().any(|f| f.name == key.as_str()))
                .map(|key| Problem::Unexpected {
                    path: child(path, key),
                })
                .collect();
            (!unexpected.is_empty()).then_some(unexpected)
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Reading an error text back

#[derive(Debug, PartialEq)]
enum Form {
    Missing,
    Unexpected,
    InvalidType,
    InvalidValue,
    Expects,
}

/// Splits a desc into its QEMU form, the parameter it names, and the rest
/// (the type or the value), or `None` if it is in none of QEMU's forms.
fn qemu_form(text: &str) -> Option<(Form, &str, &str)> {
    if let Some(rest) = text.strip_prefix("Invalid parameter type for '") {
        let (path, expected) = rest.rsplit_once("', expected: ")?;
        return (!expected.is_empty()).then_some((Form::InvalidType, path, expected));
    }
    let rest = text.strip_prefix("Parameter '")?;
    if let Some(path) = rest.strip_suffix("' is missing") {
        return Some((Form::Missing, path, ""));
    }
    if let Some(path) = rest.strip_suffix("' is unexpected") {
        return Some((Form::Unexpected, path, ""));
    }
    if let Some((path, value)) = rest
        .strip_suffix('\'')
        .and_then(|r| r.split_once("' does not accept value '"))
    {
        return Some((Form::InvalidValue, path, value));
    }
    let (path, expected) = rest.split_once("' expects ")?;
    (!expected.is_empty()).then_some((Form::Expects, path, expected))
}

fn decode<T: DeserializeOwned>(args: &Map<String, Value>) -> Result<T, String> {
    from_arguments::<T>(args.clone()).map_err(|e| e.to_string())
}

/// Checks one decode of `args` against the schema: it succeeds exactly when
/// nothing is wrong, and a refusal is worded as QEMU words it and is about
/// one of the things that are wrong.
fn check_against_schema(result: Result<(), String>, fields: &'static [Field], args: &Map<String, Value>) {
    let root = Value::Object(args.clone());
    let mut problems = Vec::new();
    all_problems(&Ty::Struct(fields), &root, "", "", &mut problems);
    let text = match result {
        Ok(()) => {
            assert!(problems.is_empty(), "accepted {root} despite {problems:?}");
            return;
        }
        Err(text) => text,
    };
    assert!(
        !problems.is_empty(),
        "refused {root} with {text:?}, but it is valid"
    );
    let (form, path, detail) =
        qemu_form(&text).unwrap_or_else(|| panic!("{text:?} is in none of QEMU's forms (input {root})"));
    // Enum and range messages name the bare member (or "null" for a list
    // element), as QEMU's do; the others the full path.
    let leaf = |p: &str| -> String {
        match p.rsplit('.').next() {
            Some(last) if last.ends_with(']') => "null".to_string(),
            Some(last) => last.to_string(),
            None => p.to_string(),
        }
    };
    let matching: Vec<&Problem> = problems
        .iter()
        .filter(|p| p.path() == path || leaf(p.path()) == path)
        .collect();
    assert!(
        !matching.is_empty(),
        "{text:?} names '{path}', which is none of the problems {problems:?} (input {root})"
    );
    let kind_matches = matching.iter().any(|p| {
        matches!(
            (&form, p),
            (Form::Missing, Problem::Missing { .. })
                | (Form::Unexpected, Problem::Unexpected { .. })
                | (
                    Form::InvalidType | Form::InvalidValue | Form::Expects,
                    Problem::Bad { .. }
                )
        )
    });
    assert!(
        kind_matches,
        "{text:?} does not match {matching:?} (input {root})"
    );
    match form {
        Form::InvalidValue => assert!(
            matching
                .iter()
                .any(|p| matches!(p, Problem::Bad { value, .. } if value.as_str() == Some(detail))),
            "{text:?} does not quote the value (input {root})"
        ),
        Form::InvalidType => assert!(
            ["integer", "number", "string", "boolean", "array", "object", "null", "uint64"].contains(&detail),
            "{text:?}"
        ),
        Form::Expects => assert!(
            ["int8", "uint32", "uint64", "int8_t", "uint32_t"].contains(&detail),
            "{text:?}"
        ),
        Form::Missing | Form::Unexpected => {}
    }
}

// ---------------------------------------------------------------------------
// Generators

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop_oneof!["[a-z-]{0,6}", any::<String>()].prop_map(Value::String),
        prop::sample::select(MODES).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Values for `ty`: mostly of the right type (with edge values just inside
/// and outside its range), sometimes anything at all.
fn value_for(ty: &'static Ty) -> BoxedStrategy<Value> {
    let good: BoxedStrategy<Value> = match ty {
        Ty::I64 => prop_oneof![
            8 => any::<i64>().prop_map(Value::from),
            1 => Just(Value::from(i64::MAX as u64 + 1)),
            1 => Just(Value::from(1.0)),
        ]
        .boxed(),
        Ty::I8 => prop_oneof![4 => -128i64..128, 1 => -140i64..140]
            .prop_map(Value::from)
            .boxed(),
        Ty::U32 => prop_oneof![
            4 => any::<u32>().prop_map(Value::from),
            1 => (u32::MAX as u64 - 2..u32::MAX as u64 + 3).prop_map(Value::from),
            1 => (-3i64..0).prop_map(Value::from),
        ]
        .boxed(),
        Ty::U64 => prop_oneof![
            4 => any::<u64>().prop_map(Value::from),
            2 => any::<i64>().prop_map(Value::from),
            1 => Just(Value::from(0.5)),
        ]
        .boxed(),
        Ty::F64 => prop_oneof![
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
        ]
        .boxed(),
        Ty::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Ty::Str => any::<String>().prop_map(Value::String).boxed(),
        Ty::Mode => prop::sample::select(vec![
            "set",
            "cur",
            "end-of-file",
            "set",
            "cur",
            "end-of-file",
            "bogus",
            "Set",
            "",
        ])
        .prop_map(Value::from)
        .boxed(),
        Ty::List(item) => prop::collection::vec(value_for(item), 0..4)
            .prop_map(Value::Array)
            .boxed(),
        Ty::Struct(fields) => object_for(fields).prop_map(Value::Object).boxed(),
    };
    prop_oneof![12 => good, 1 => any_json()].boxed()
}

/// Members for a struct: each field most of the time, now and then an
/// unknown member, in any order.
fn object_for(fields: &'static [Field]) -> BoxedStrategy<Map<String, Value>> {
    let members: Vec<BoxedStrategy<Option<(String, Value)>>> = fields
        .iter()
        .map(|f| {
            prop::option::weighted(if f.optional { 0.7 } else { 0.95 }, value_for(&f.ty))
                .prop_map(move |v| v.map(|v| (f.name.to_string(), v)))
                .boxed()
        })
        .collect();
    let extra = prop::option::weighted(0.1, ("[a-z_][a-z0-9_-]{0,5}", any_json()));
    (members, extra)
        .prop_map(|(members, extra)| members.into_iter().flatten().chain(extra).collect::<Vec<_>>())
        .prop_shuffle()
        .prop_map(|members| members.into_iter().collect())
        .boxed()
}

fn any_object() -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "id",
            "name",
            "list",
            "mode",
            "count",
            "size",
            "flag",
            "logical-id",
            "online",
            "inner",
            "modes",
        ])
        .prop_map(String::from),
        any::<String>(),
    ];
    prop::collection::vec((key, any_json()), 0..6).prop_map(|m| m.into_iter().collect())
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(config(512))]

    /// Any object at all: no panic, and any refusal is in one of QEMU's forms.
    #[test]
    fn any_object_decodes_or_is_refused_in_qemu_words(args in any_object()) {
        for text in [
            decode::<A>(&args).err(),
            decode::<B>(&args).err(),
            decode::<C>(&args).err(),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(qemu_form(&text).is_some(), "{:?} for {:?}", text, args);
        }
    }

    /// Objects close to the schema: accepted exactly when valid, refused
    /// with the name of a member that is really wrong.
    #[test]
    fn a_decodes_exactly_when_valid(args in object_for(A_FIELDS)) {
        let result = decode::<A>(&args);
        if let Ok(a) = &result {
            prop_assert_eq!(Some(a.id), args["id"].as_i64());
            prop_assert_eq!(a.list.as_ref().map(Vec::len), args.get("list").and_then(Value::as_array).map(Vec::len));
            if let Some(size) = a.size {
                let n = args["size"].as_u64().or_else(|| args["size"].as_i64().map(|i| i as u64));
                prop_assert_eq!(Some(size), n);
            }
            if let Some(mode) = a.mode {
                let index = MODES.iter().position(|m| Some(*m) == args["mode"].as_str());
                prop_assert_eq!(index, [Mode::Set, Mode::Cur, Mode::EndOfFile].iter().position(|m| *m == mode));
            }
        }
        check_against_schema(result.map(drop), A_FIELDS, &args);
    }

    #[test]
    fn c_decodes_exactly_when_valid(args in object_for(C_FIELDS)) {
        check_against_schema(decode::<C>(&args).map(drop), C_FIELDS, &args);
    }
}

// ---------------------------------------------------------------------------
// Known differences from QEMU, kept as regression tests until they are fixed.

/// The whole property: the same input gives QEMU's exact text. Fails on the
/// differences below (run with `--ignored` to get a minimal case).
#[test]
fn errors_are_qemus_exactly() {
    let mut runner = proptest::test_runner::TestRunner::new(config(512));
    let result = runner.run(&object_for(A_FIELDS), |args| {
        let root = Value::Object(args.clone());
        let expected = qemu_errors(&Ty::Struct(A_FIELDS), &root, "", "");
        match (decode::<A>(&args), expected) {
            (Ok(_), None) => {}
            (Err(text), Some(problems)) => {
                let texts: Vec<String> = problems.iter().map(Problem::qemu_text).collect();
                prop_assert!(texts.contains(&text), "got {:?}, QEMU says {:?}", text, texts);
            }
            (got, expected) => prop_assert!(false, "got {:?}, QEMU says {:?}", got.map(drop), expected),
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn a_error(args: Value) -> String {
    let Value::Object(args) = args else { unreachable!() };
    decode::<A>(&args).expect_err("refused")
}

/// QEMU visits the declared members first and checks for unexpected ones
/// last (fixed in e23b5bc; kept as a regression test).
#[test]
fn missing_before_unexpected() {
    assert_eq!(a_error(serde_json::json!({"x": 1})), "Parameter 'id' is missing");
}

/// QEMU visits the declared members in schema order, each in full, and
/// reports the first problem it meets; `from_arguments` goes in the order
/// of the input, and reports missing members after everything present.
#[test]
fn bug_input_order_instead_of_schema_order() {
    assert_eq!(
        a_error(serde_json::json!({"name": 1, "id": "x"})),
        "Invalid parameter type for 'id', expected: integer"
    );
    assert_eq!(
        a_error(serde_json::json!({"list": [{}]})),
        "Parameter 'id' is missing"
    );
}

/// qapi-visit-core.c `visit_type_uint32`: "Parameter '%s' expects %s" with
/// the bare member name and "uint32_t" (likewise int8_t, uint16_t, ...).
#[test]
fn bug_range_error_type_name() {
    assert_eq!(
        a_error(serde_json::json!({"id": 1, "count": 4294967296u64})),
        "Parameter 'count' expects uint32_t"
    );
}

/// qobject-input-visitor.c `qobject_input_type_uint64`: a value that is not
/// an integer gives QERR_INVALID_PARAMETER_VALUE, "Parameter '%s' expects
/// uint64", for uint64 and for the narrower unsigned types alike.
#[test]
fn bug_unsigned_type_error_form() {
    assert_eq!(
        a_error(serde_json::json!({"id": 1, "size": "1"})),
        "Parameter 'size' expects uint64"
    );
    assert_eq!(
        a_error(serde_json::json!({"id": 1, "count": 1.5})),
        "Parameter 'count' expects uint64"
    );
}

/// QEMU's enum and range messages use the member's own name, not its path
/// (`name ? name : "null"` in qapi-visit-core.c).
#[test]
fn bug_enum_error_names_bare_member() {
    assert_eq!(
        a_error(serde_json::json!({"id": 1, "list": [{"logical-id": 1, "online": true, "mode": "bogus"}]})),
        "Parameter 'mode' does not accept value 'bogus'"
    );
}
