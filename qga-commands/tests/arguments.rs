//! Decoding random JSON as the arguments of every command of the agent's
//! table (`COMMANDS`, each row's own argument type: the same decoding the
//! `arguments` fuzz target runs, so CI covers it): no panic, every refusal
//! in one of QEMU's forms and short, whatever the host sends.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use proptest::prelude::*;
use qapi_core::args::from_arguments;
use qga_commands::COMMANDS;
use serde_json::{Map, Value};

#[path = "support/examples.rs"]
mod examples;

use examples::{examples, in_qemu_form, ENUM_VALUES, MAX_ARG_ERROR, MEMBERS};

/// Decodes `arguments` for every command; checks every refusal.
fn check_every(arguments: &Map<String, Value>) -> Result<(), TestCaseError> {
    for command in COMMANDS {
        if let Err(e) = (command.check)(arguments) {
            let (name, text) = (command.name, e.to_string());
            if !in_qemu_form(&text) {
                return Err(TestCaseError::fail(format!(
                    "{name}: not in QEMU's words: {text:?}"
                )));
            }
            if text.len() > MAX_ARG_ERROR {
                return Err(TestCaseError::fail(format!("{name}: {} bytes", text.len())));
            }
        }
    }
    Ok(())
}

fn any_key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(MEMBERS).prop_map(String::from),
        1 => any::<String>(),
        1 => "[a-z-]{1,12}",
    ]
}

fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(ENUM_VALUES).prop_map(String::from),
        2 => any::<String>(),
        1 => "[a-z=/ -]{0,16}",
        1 => (0usize..3000).prop_map(|n| "\u{7f}".repeat(n)),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![
            Just(0.5),
            Just(-1e300),
            any::<f64>().prop_filter("finite", |f| f.is_finite())
        ]
        .prop_map(Value::from),
        any_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((any_key(), inner), 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn any_arguments() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((any_key(), any_json()), 0..6).prop_map(|m| m.into_iter().collect())
}

/// A valid example with one member changed, removed or added.
fn near_example() -> impl Strategy<Value = Map<String, Value>> {
    let examples: Vec<Map<String, Value>> = examples()
        .into_iter()
        .filter_map(|(_, v)| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .collect();
    (
        prop::sample::select(examples),
        any::<prop::sample::Index>(),
        any_key(),
        any_json(),
        0..3u8,
    )
        .prop_map(|(mut args, at, key, value, how)| {
            let existing: Vec<String> = args.keys().cloned().collect();
            match (how, existing.is_empty()) {
                (0, false) => {
                    args.insert(at.get(&existing).clone(), value);
                }
                (1, false) => {
                    args.remove(at.get(&existing));
                }
                _ => {
                    args.insert(key, value);
                }
            }
            args
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Random JSON as every command's arguments: decoded or refused in
    /// QEMU's words, briefly.
    #[test]
    fn any_arguments_for_every_command(args in any_arguments()) {
        check_every(&args)?;
    }

    /// Arguments a member away from valid ones.
    #[test]
    fn near_valid_arguments_for_every_command(args in near_example()) {
        check_every(&args)?;
    }

    /// Whatever serde_json makes of random bytes, as the fuzz target does.
    #[test]
    fn bytes_parsed_by_serde_json(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(Value::Object(args)) = serde_json::from_slice::<Value>(&bytes) {
            check_every(&args)?;
        }
    }
}

#[test]
fn every_example_decodes_for_its_command() {
    for (name, example) in examples() {
        let Value::Object(args) = example else {
            panic!("{name}: example is not an object")
        };
        let command = COMMANDS
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name} is not in the table"));
        assert_eq!((command.check)(&args), Ok(()), "{name}");
    }
}

#[test]
fn the_table_names_each_command_once() {
    let mut names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), COMMANDS.len(), "a command is listed twice");
}

/// Huge names and values in every member of every command's arguments.
#[test]
fn huge_names_and_values_get_short_refusals() {
    let huge = "\u{7f}".repeat(1 << 20);
    for (name, example) in examples() {
        let Value::Object(args) = example else { continue };
        let mut extra = args.clone();
        extra.insert(huge.clone(), Value::Null);
        check_every(&extra).unwrap_or_else(|e| panic!("{name}, huge member: {e}"));
        for member in args.keys() {
            for value in [
                Value::String(huge.clone()),
                Value::Array(vec![Value::String(huge.clone())]),
                serde_json::json!([{ huge.clone(): 1 }]),
            ] {
                let mut changed = args.clone();
                changed.insert(member.clone(), value);
                check_every(&changed).unwrap_or_else(|e| panic!("{name}, huge {member}: {e}"));
            }
        }
    }
    // The enum values are quoted, cut.
    let mut seek = Map::new();
    seek.insert("handle".into(), 1.into());
    seek.insert("offset".into(), 0.into());
    seek.insert("whence".into(), Value::String(huge.clone()));
    let text = from_arguments::<qga_protocol::schema::GuestFileSeekArgs>(seek)
        .unwrap_err()
        .to_string();
    assert_eq!(
        text,
        format!(
            "Parameter 'whence' does not accept value '{}...'",
            "\u{7f}".repeat(qapi_core::ECHO_MAX)
        )
    );
}
