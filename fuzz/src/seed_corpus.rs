//! Writes a small seed corpus for the targets into `corpus/framer`,
//! `corpus/request` and `corpus/arguments` (ignored by git):
//! `cargo run --bin seed-corpus`.

use std::fs;
use std::path::Path;

#[path = "../../qapi-core/tests/support/commands.rs"]
mod commands;

/// For `arguments`: each command's valid arguments, the same with a bad
/// member, and all of them in one array.
fn argument_seeds() -> Vec<Vec<u8>> {
    let examples = commands::examples();
    let mut seeds = Vec::new();
    for (_, example) in &examples {
        seeds.push(serde_json::to_vec(example).unwrap_or_default());
        if let serde_json::Value::Object(members) = example {
            let mut bad = members.clone();
            bad.insert("bogus".into(), serde_json::Value::Null);
            seeds.push(serde_json::to_vec(&bad).unwrap_or_default());
            for key in members.keys() {
                let mut wrong = members.clone();
                wrong.insert(key.clone(), serde_json::json!("cur"));
                seeds.push(serde_json::to_vec(&wrong).unwrap_or_default());
            }
        }
    }
    let all: Vec<_> = examples.into_iter().map(|(_, v)| v).collect();
    seeds.push(serde_json::to_vec(&all).unwrap_or_default());
    seeds
}

fn seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = [
        &br#"{"execute":"guest-ping"}"#[..],
        br#"{"execute":"guest-sync","arguments":{"id":1234},"id":"a"}"#,
        br#"{'execute':'guest-sync-delimited','arguments':{'id':-1}}"#,
        br#"{"execute": "guest-info", "id": [1, 2.5e3, null, true, false]}"#,
        br#"{"execute":"x","arguments":{"id":1,"name":"n","list":[{"logical-id":0,"online":true,"ratio":0.5,"small":-3,"mode":"cur","counts":[1,4294967295]}],"mode":"end-of-file","count":7,"size":-1,"flag":false}}"#,
        br#"{"inner":{"logical-id":1,"online":false},"modes":["set","cur"],"tags":["a"]}"#,
        br#"{"id":1,"count":4294967296,"mode":"bogus","x":null}"#,
        br#"{"return": {}, "id": 5}"#,
        br#"{"id": 5, "error": {"class": "GenericError", "desc": "x"}}"#,
        br#""\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t""#,
        b"[1, -0, 0.5, 1e308, -1.5E-7, 18446744073709551615, 99999999999999999999]",
        b"\xff{\"execute\":\"guest-ping\"}\xfe",
        b"{\"a\" 1} {\"a\":1,} [} ]{ tru null @ 01 \x01",
        b"\"\xc3\xa9\xc3\" '\\'' \"\\u00\"",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect();
    seeds.push(format!("{}{}", "[".repeat(1030), "]".repeat(1030)).into_bytes());
    seeds.push(format!("{}1{}", "{\"a\":".repeat(40), "}".repeat(40)).into_bytes());
    seeds
}

fn main() -> std::io::Result<()> {
    let seeds = seeds();
    for (target, first_bytes) in [
        ("framer", &[0x00u8, 0x07, 0x3F, 0x80, 0x85][..]),
        ("request", &[][..]),
    ] {
        let dir = Path::new("corpus").join(target);
        fs::create_dir_all(&dir)?;
        for (i, seed) in seeds.iter().enumerate() {
            if first_bytes.is_empty() {
                fs::write(dir.join(format!("seed-{i:02}")), seed)?;
            }
            for (j, b) in first_bytes.iter().enumerate() {
                let mut data = vec![*b];
                data.extend_from_slice(seed);
                fs::write(dir.join(format!("seed-{i:02}-{j}")), data)?;
            }
        }
        println!("{}: {} files", dir.display(), fs::read_dir(&dir)?.count());
    }
    let dir = Path::new("corpus").join("arguments");
    fs::create_dir_all(&dir)?;
    for (i, seed) in argument_seeds().iter().enumerate() {
        fs::write(dir.join(format!("seed-{i:03}")), seed)?;
    }
    println!("{}: {} files", dir.display(), fs::read_dir(&dir)?.count());
    Ok(())
}
