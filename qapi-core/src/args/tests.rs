#![allow(clippy::unwrap_used)]

use super::*;
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Sync {
    id: i64,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Whence {
    Set,
    Cur,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Cpu {
    #[serde(rename = "logical-id")]
    logical_id: i64,
    online: bool,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Rich {
    whence: Option<Whence>,
    count: Option<u32>,
    size: Option<u64>,
    name: Option<String>,
    vcpus: Option<Vec<Cpu>>,
    ratio: Option<f64>,
}

fn decode<T: DeserializeOwned>(v: serde_json::Value) -> Result<T, String> {
    let serde_json::Value::Object(map) = v else {
        panic!()
    };
    from_arguments(map).map_err(|e| e.to_string())
}

#[test]
fn decodes_valid_arguments() {
    assert_eq!(decode::<Sync>(json!({"id": -5})), Ok(Sync { id: -5 }));
    let rich: Rich = decode(json!({
        "whence": "cur", "count": 7, "size": 18446744073709551615u64, "name": "x",
        "vcpus": [{"logical-id": 1, "online": true}], "ratio": 2
    }))
    .unwrap();
    assert_eq!(rich.whence, Some(Whence::Cur));
    assert_eq!(rich.size, Some(u64::MAX));
    assert_eq!(rich.ratio, Some(2.0));
    assert_eq!(
        rich.vcpus.unwrap()[0],
        Cpu {
            logical_id: 1,
            online: true
        }
    );
    let empty: Rich = decode(json!({})).unwrap();
    assert_eq!(empty.whence, None);
}

#[test]
fn error_texts_match_qemu() {
    assert_eq!(
        decode::<Sync>(json!({})).unwrap_err(),
        "Parameter 'id' is missing"
    );
    assert_eq!(
        decode::<Sync>(json!({"id": 1, "x": 2})).unwrap_err(),
        "Parameter 'x' is unexpected"
    );
    for bad in [
        json!(1.5),
        json!("1"),
        json!(true),
        json!(null),
        json!([]),
        json!({}),
        json!(9223372036854775808u64),
    ] {
        assert_eq!(
            decode::<Sync>(json!({ "id": bad })).unwrap_err(),
            "Invalid parameter type for 'id', expected: integer"
        );
    }
    assert_eq!(
        decode::<Rich>(json!({"whence": "bogus"})).unwrap_err(),
        "Parameter 'whence' does not accept value 'bogus'"
    );
    assert_eq!(
        decode::<Rich>(json!({"whence": 1})).unwrap_err(),
        "Invalid parameter type for 'whence', expected: string"
    );
    assert_eq!(
        decode::<Rich>(json!({"count": 4294967296u64})).unwrap_err(),
        "Parameter 'count' expects uint32_t"
    );
    assert_eq!(
        decode::<Rich>(json!({"name": 1})).unwrap_err(),
        "Invalid parameter type for 'name', expected: string"
    );
    assert_eq!(
        decode::<Rich>(json!({"ratio": "x"})).unwrap_err(),
        "Invalid parameter type for 'ratio', expected: number"
    );
    assert_eq!(
        decode::<Rich>(json!({"vcpus": {}})).unwrap_err(),
        "Invalid parameter type for 'vcpus', expected: array"
    );
    assert_eq!(
        decode::<Rich>(json!({"vcpus": [{"logical-id": 0, "online": true}, {"logical-id": 1}]})).unwrap_err(),
        "Parameter 'vcpus[1].online' is missing"
    );
    assert_eq!(
        decode::<Rich>(json!({"vcpus": [{"logical-id": 0, "online": 1}]})).unwrap_err(),
        "Invalid parameter type for 'vcpus[0].online', expected: boolean"
    );
    assert_eq!(
        decode::<Rich>(json!({"vcpus": [{"logical-id": 0, "online": true, "x": 0}]})).unwrap_err(),
        "Parameter 'vcpus[0].x' is unexpected"
    );
    assert_eq!(
        decode::<Rich>(json!({"vcpus": [1]})).unwrap_err(),
        "Invalid parameter type for 'vcpus[0]', expected: object"
    );
}

#[test]
fn negative_uint64_wraps_as_in_qemu() {
    let rich: Rich = decode(json!({"size": -1})).unwrap();
    assert_eq!(rich.size, Some(u64::MAX));
}

#[test]
fn quoted_names_and_values_are_cut_to_a_kib() {
    let huge = "\u{7f}".repeat(8 << 20);
    let cut = format!("{}...", "\u{7f}".repeat(crate::ECHO_MAX));
    let mut unexpected = serde_json::Map::new();
    unexpected.insert("id".into(), json!(1));
    unexpected.insert(huge.clone(), json!(2));
    assert_eq!(
        from_arguments::<Sync>(unexpected).unwrap_err().to_string(),
        format!("Parameter '{cut}' is unexpected")
    );
    assert_eq!(
        decode::<Rich>(json!({ "whence": huge })).unwrap_err(),
        format!("Parameter 'whence' does not accept value '{cut}'")
    );
    // A nested name: the whole path is cut.
    let inner = json!({"logical-id": 0, "online": true, huge.clone(): 0});
    assert_eq!(
        decode::<Rich>(json!({ "vcpus": [inner] })).unwrap_err(),
        format!(
            "Parameter 'vcpus[0].{}...' is unexpected",
            "\u{7f}".repeat(crate::ECHO_MAX - "vcpus[0].".len())
        )
    );
    // Exactly a KiB is quoted whole.
    let kib = "k".repeat(crate::ECHO_MAX);
    assert_eq!(
        decode::<Rich>(json!({ "whence": kib.clone() })).unwrap_err(),
        format!("Parameter 'whence' does not accept value '{kib}'")
    );
}
