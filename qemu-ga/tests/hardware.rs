//! Integration tests: vCPUs, memory blocks and network: guest-get-vcpus, guest-set-vcpus, guest-get-memory-blocks, guest-set-memory-blocks, guest-get-memory-block-info, guest-network-get-interfaces, guest-network-get-route.
//!
//! Read commands are checked against `/sys`, `/proc`, `ip -j` and `nproc`,
//! and against Debian's `qemu-ga` (QEMU 7.2) byte for byte, except traffic
//! counters, which move between two calls. Set commands are only sent in
//! forms that change nothing on this machine (a processor without an
//! `online` file asked to stay online, blocks asked to stay as they are,
//! blocks and processors that do not exist); the VM checks change the
//! guest.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::differential::{self, req};
use crate::util::{call_within, error_desc, ret, return_within, Agent, Client};

/// Reply time-out inside the (slow, emulated) VM.
const VM_REPLY: Duration = Duration::from_secs(30);

/// Runs a program and returns its standard output, or `None` if it cannot
/// run or fails.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn as_array(value: &Value) -> &Vec<Value> {
    value.as_array().unwrap_or_else(|| panic!("not a list: {value}"))
}

/// The CPU numbers in a sysfs CPU list such as `0-3,5`.
fn cpu_list(text: &str) -> BTreeSet<i64> {
    let mut cpus = BTreeSet::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (i64, i64) = (a.parse().unwrap(), b.parse().unwrap());
        cpus.extend(a..=b);
    }
    cpus
}

#[test]
fn vcpus_match_sysfs_and_nproc() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let vcpus = ret(&mut c, json!({"execute": "guest-get-vcpus"}));
    let cpu_dir = Path::new("/sys/devices/system/cpu");
    let mut expected_ids = BTreeSet::new();
    for entry in std::fs::read_dir(cpu_dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(id) = name.strip_prefix("cpu").and_then(|n| n.parse::<i64>().ok()) {
            expected_ids.insert(id);
        }
    }
    let mut ids = BTreeSet::new();
    let mut online = BTreeSet::new();
    for vcpu in as_array(&vcpus) {
        let id = vcpu["logical-id"].as_i64().unwrap();
        ids.insert(id);
        let file = cpu_dir.join(format!("cpu{id}/online"));
        let (expect_online, expect_can_offline) = match std::fs::read_to_string(&file) {
            Ok(text) => (text.trim() != "0", true),
            Err(_) => (true, false),
        };
        assert_eq!(vcpu["online"], expect_online, "{vcpu}");
        assert_eq!(vcpu["can-offline"], expect_can_offline, "{vcpu}");
        if expect_online {
            online.insert(id);
        }
    }
    assert_eq!(ids, expected_ids);
    let sys_online = cpu_list(&std::fs::read_to_string(cpu_dir.join("online")).unwrap());
    assert_eq!(online, sys_online);
    // nproc counts the processors this process may run on: online ones.
    if let Some(n) = output("nproc", &[]) {
        let n: usize = n.trim().parse().unwrap();
        assert!(n >= 1 && n <= online.len(), "nproc {n}, online {online:?}");
    }
}

#[test]
fn memory_blocks_match_sysfs() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let root = Path::new("/sys/devices/system/memory");
    let blocks = ret(&mut c, json!({"execute": "guest-get-memory-blocks"}));
    if !root.exists() {
        assert_eq!(blocks, json!([]));
        return;
    }
    let mut expected = BTreeSet::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if let Some(n) = name.strip_prefix("memory").and_then(|n| n.parse::<u64>().ok()) {
            let state = std::fs::read_to_string(entry.path().join("state")).unwrap_or_default();
            expected.insert((n, state.starts_with("online")));
        }
    }
    let got: BTreeSet<(u64, bool)> = as_array(&blocks)
        .iter()
        .map(|b| (b["phys-index"].as_u64().unwrap(), b["online"].as_bool().unwrap()))
        .collect();
    assert_eq!(got, expected);

    let info = ret(&mut c, json!({"execute": "guest-get-memory-block-info"}));
    let hex = std::fs::read_to_string(root.join("block_size_bytes")).unwrap();
    assert_eq!(
        info,
        json!({"size": u64::from_str_radix(hex.trim(), 16).unwrap()})
    );
}

#[test]
fn memory_block_changes_that_change_nothing() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let root = Path::new("/sys/devices/system/memory");
    if !root.exists() {
        return;
    }
    let blocks = ret(&mut c, json!({"execute": "guest-get-memory-blocks"}));
    let first = &as_array(&blocks)[0];
    let index = first["phys-index"].as_u64().unwrap();
    let wanted = json!([
        {"phys-index": index, "online": first["online"]},
        {"phys-index": 999_999_999u64, "online": true},
    ]);
    let reply = ret(
        &mut c,
        json!({"execute": "guest-set-memory-blocks", "arguments": {"mem-blks": wanted}}),
    );
    assert_eq!(
        reply,
        json!([
            {"response": "success", "phys-index": index},
            {"response": "not-found", "error-code": 2, "phys-index": 999_999_999u64},
        ])
    );
    assert_eq!(ret(&mut c, json!({"execute": "guest-get-memory-blocks"})), blocks);
}

/// An address: family (`ipv4`/`ipv6`), text, prefix length.
type Addr = (String, String, i64);
/// An interface: name, hardware address, addresses.
type Iface = (String, String, Vec<Addr>);

/// The interfaces `ip -j addr` lists: name, MAC, addresses (family, local,
/// prefix length) in its order.
fn ip_interfaces() -> Option<Vec<Iface>> {
    let text = output("ip", &["-j", "addr"])?;
    let links: Value = serde_json::from_str(&text).ok()?;
    Some(
        as_array(&links)
            .iter()
            .map(|l| {
                let addresses = as_array(&l["addr_info"])
                    .iter()
                    .map(|a| {
                        let family = if a["family"] == "inet" { "ipv4" } else { "ipv6" };
                        (
                            family.to_string(),
                            a["local"].as_str().unwrap().to_string(),
                            a["prefixlen"].as_i64().unwrap(),
                        )
                    })
                    .collect();
                (
                    l["ifname"].as_str().unwrap().to_string(),
                    l["address"].as_str().unwrap_or("00:00:00:00:00:00").to_string(),
                    addresses,
                )
            })
            .collect(),
    )
}

#[test]
fn interfaces_match_ip() {
    let Some(expected) = ip_interfaces() else {
        eprintln!("notice: `ip -j addr` unavailable, interfaces not compared");
        return;
    };
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let interfaces = ret(&mut c, json!({"execute": "guest-network-get-interfaces"}));
    let got: Vec<Iface> = as_array(&interfaces)
        .iter()
        .map(|i| {
            let addresses = i["ip-addresses"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|a| {
                            (
                                a["ip-address-type"].as_str().unwrap().to_string(),
                                a["ip-address"].as_str().unwrap().to_string(),
                                a["prefix"].as_i64().unwrap(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            // Counters come with addresses, and only then.
            assert_eq!(
                i.get("statistics").is_some(),
                i.get("ip-addresses").is_some(),
                "{i}"
            );
            (
                i["name"].as_str().unwrap().to_string(),
                i["hardware-address"].as_str().unwrap().to_string(),
                addresses,
            )
        })
        .collect();
    // ip(8) lists link-layer-less devices without an address; QEMU reports
    // zeros for them (and for lo).
    let expected: Vec<_> = expected
        .into_iter()
        .map(|(name, mac, addrs)| {
            let mac = if mac.len() == 17 {
                mac
            } else {
                "00:00:00:00:00:00".to_string()
            };
            (name, mac, addrs)
        })
        .collect();
    assert_eq!(got, expected);

    // Counters as /proc/net/dev has them (they may only grow).
    let dev = std::fs::read_to_string("/proc/net/dev").unwrap();
    for i in as_array(&interfaces)
        .iter()
        .filter(|i| i.get("statistics").is_some())
    {
        let name = i["name"].as_str().unwrap();
        let line = dev
            .lines()
            .find_map(|l| l.trim_start().strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name} not in /proc/net/dev"));
        let now: Vec<u64> = line.split_whitespace().map(|v| v.parse().unwrap()).collect();
        let stats = &i["statistics"];
        for (key, column) in [
            ("rx-bytes", 0),
            ("rx-packets", 1),
            ("tx-bytes", 8),
            ("tx-packets", 9),
        ] {
            assert!(
                stats[key].as_u64().unwrap() <= now[column],
                "{name} {key}: {stats}"
            );
        }
    }
}

#[test]
fn routes_match_proc_and_ip() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let routes = ret(&mut c, json!({"execute": "guest-network-get-route"}));
    let routes = as_array(&routes);
    let v4: Vec<&Value> = routes.iter().filter(|r| r["version"] == 4).collect();
    let v6: Vec<&Value> = routes.iter().filter(|r| r["version"] == 6).collect();
    assert_eq!(v4.len() + v6.len(), routes.len());
    // IPv4 first, one per line of each file (all lines parse here).
    let proc_v4 = std::fs::read_to_string("/proc/net/route").unwrap();
    let proc_v6 = std::fs::read_to_string("/proc/net/ipv6_route").unwrap();
    assert_eq!(v4.len(), proc_v4.lines().count() - 1);
    assert_eq!(v6.len(), proc_v6.lines().count());
    assert!(routes.iter().take(v4.len()).all(|r| r["version"] == 4));
    // Members, in QEMU's order.
    for r in &v4 {
        let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "flags",
                "metric",
                "refcnt",
                "window",
                "version",
                "iface",
                "destination",
                "irtt",
                "gateway",
                "use",
                "mtu",
                "mask"
            ],
            "{r}"
        );
    }
    for r in &v6 {
        let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "flags",
                "source",
                "metric",
                "refcnt",
                "version",
                "nexthop",
                "iface",
                "destination",
                "desprefixlen",
                "srcprefixlen",
                "use"
            ],
            "{r}"
        );
    }

    // Every IPv4 route of the main table, as ip(8) reports it.
    if let Some(text) = output("ip", &["-j", "-4", "route", "show", "table", "main"]) {
        let ip_routes: Value = serde_json::from_str(&text).unwrap();
        for ip in as_array(&ip_routes) {
            let dst = ip["dst"].as_str().unwrap();
            let (addr, len) = match dst {
                "default" => ("0.0.0.0", 0),
                _ => dst
                    .split_once('/')
                    .map_or((dst, 32), |(a, l)| (a, l.parse().unwrap())),
            };
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            let mask = std::net::Ipv4Addr::from(mask).to_string();
            let gateway = ip["gateway"].as_str().unwrap_or("0.0.0.0");
            assert!(
                v4.iter().any(|r| r["destination"] == addr
                    && r["mask"] == mask.as_str()
                    && r["gateway"] == gateway
                    && r["iface"] == ip["dev"]),
                "{ip} not in {v4:?}"
            );
        }
    }
    // Every IPv6 route, as ip(8) reports it (it prints the same text form).
    if let Some(text) = output("ip", &["-j", "-6", "route", "show", "table", "all"]) {
        let ip_routes: Value = serde_json::from_str(&text).unwrap();
        for ip in as_array(&ip_routes) {
            let dst = ip["dst"].as_str().unwrap();
            let (addr, len) = match dst {
                "default" => ("::", "0"),
                _ => dst.split_once('/').unwrap_or((dst, "128")),
            };
            assert!(
                v6.iter().any(|r| r["destination"] == addr
                    && r["desprefixlen"] == len
                    && r["iface"] == ip["dev"]
                    && ip["gateway"].as_str().is_none_or(|g| r["nexthop"] == g)),
                "{ip} not in {v6:?}"
            );
        }
    }
}

#[test]
fn argument_errors() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    assert_eq!(
        error_desc(&mut c, json!({"execute": "guest-set-vcpus", "arguments": {}})),
        "Parameter 'vcpus' is missing"
    );
    assert_eq!(
        error_desc(
            &mut c,
            json!({"execute": "guest-set-vcpus", "arguments": {"vcpus": [{"online": true}]}})
        ),
        "Parameter 'vcpus[0].logical-id' is missing"
    );
    // As in QEMU, a negative uint64 wraps around.
    assert_eq!(
        ret(
            &mut c,
            json!({"execute": "guest-set-memory-blocks", "arguments": {"mem-blks": [{"phys-index": -1, "online": true}]}})
        ),
        json!([{"response": "not-found", "error-code": 2, "phys-index": u64::MAX}])
    );
    assert_eq!(
        error_desc(
            &mut c,
            json!({"execute": "guest-set-memory-blocks", "arguments": {"mem-blks": [{"phys-index": 1, "online": "yes"}]}})
        ),
        "Invalid parameter type for 'mem-blks[0].online', expected: boolean"
    );
    assert_eq!(
        error_desc(
            &mut c,
            json!({"execute": "guest-set-vcpus", "arguments": {"vcpus": [{"logical-id": 1_000_000, "online": true}]}})
        ),
        "open(\"/sys/devices/system/cpu/cpu1000000/\"): No such file or directory"
    );
}

/// Whether asking cpu0 to go offline is safe here: only when it has no
/// `online` file, so that nothing can change.
fn cpu0_cannot_go_offline() -> bool {
    !Path::new("/sys/devices/system/cpu/cpu0/online").exists()
}

#[test]
fn matches_qemu() {
    let mut cases = vec![
        req("guest-get-vcpus", "{}"),
        req("guest-get-memory-blocks", "{}"),
        req("guest-get-memory-block-info", "{}"),
        req("guest-get-vcpus", r#"{"x":1}"#),
        req("guest-set-vcpus", "{}"),
        req("guest-set-vcpus", r#"{"vcpus":[]}"#),
        req("guest-set-vcpus", r#"{"vcpus":"x"}"#),
        req("guest-set-vcpus", r#"{"vcpus":[{"online":true}]}"#),
        req(
            "guest-set-vcpus",
            r#"{"vcpus":[{"logical-id":"0","online":true}]}"#,
        ),
        req(
            "guest-set-vcpus",
            r#"{"vcpus":[{"logical-id":0,"online":true,"x":1}]}"#,
        ),
        req(
            "guest-set-vcpus",
            r#"{"vcpus":[{"logical-id":99999,"online":true}]}"#,
        ),
        req(
            "guest-set-vcpus",
            r#"{"vcpus":[{"logical-id":-1,"online":false}]}"#,
        ),
        req("guest-set-memory-blocks", "{}"),
        req("guest-set-memory-blocks", r#"{"mem-blks":[]}"#),
        req(
            "guest-set-memory-blocks",
            r#"{"mem-blks":[{"phys-index":-1,"online":true}]}"#,
        ),
        req(
            "guest-set-memory-blocks",
            r#"{"mem-blks":[{"phys-index":1.5,"online":true}]}"#,
        ),
        req(
            "guest-set-memory-blocks",
            r#"{"mem-blks":[{"phys-index":1,"online":1}]}"#,
        ),
        req(
            "guest-set-memory-blocks",
            r#"{"mem-blks":[{"phys-index":999999999,"online":true},{"phys-index":18446744073709551615,"online":false}]}"#,
        ),
        req("guest-network-get-interfaces", r#"{"x":1}"#),
    ];
    if cpu0_cannot_go_offline() {
        cases.push(req(
            "guest-set-vcpus",
            r#"{"vcpus":[{"logical-id":0,"online":true}]}"#,
        ));
        cases.push(req(
            "guest-set-vcpus",
            r#"{"vcpus":[{"logical-id":0,"online":false}]}"#,
        ));
        cases.push(req(
            "guest-set-vcpus",
            r#"{"vcpus":[{"logical-id":0,"online":true},{"logical-id":0,"online":false}]}"#,
        ));
    }
    // Blocks asked to stay as they are.
    if let Ok(entries) = std::fs::read_dir("/sys/devices/system/memory") {
        let mut blocks = Vec::new();
        for entry in entries.flatten().take(8) {
            let name = entry.file_name().into_string().unwrap_or_default();
            let Some(n) = name.strip_prefix("memory").and_then(|n| n.parse::<u64>().ok()) else {
                continue;
            };
            let Ok(state) = std::fs::read_to_string(entry.path().join("state")) else {
                continue;
            };
            blocks.push(format!(
                r#"{{"phys-index":{n},"online":{},"can-offline":false}}"#,
                state.starts_with("online")
            ));
        }
        if !blocks.is_empty() {
            let list = blocks.join(",");
            cases.push(req(
                "guest-set-memory-blocks",
                &format!(r#"{{"mem-blks":[{list}]}}"#),
            ));
        }
    }
    differential::compare(&[], &cases);
}

/// A reply with every counter's value set to 0.
fn without_counters(mut reply: Value) -> Value {
    if let Some(list) = reply.get_mut("return").and_then(Value::as_array_mut) {
        for interface in list {
            if let Some(stats) = interface.get_mut("statistics").and_then(Value::as_object_mut) {
                for value in stats.values_mut() {
                    *value = json!(0);
                }
            }
        }
    }
    reply
}

#[test]
fn interfaces_match_qemu() {
    let Some(debian) = differential::debian() else {
        return;
    };
    let theirs = Agent::start_program(debian, &[]);
    let ours = Agent::start(&[]);
    let request = br#"{"execute":"guest-network-get-interfaces"}"#;
    // Counters move between the two calls: the replies are compared with
    // them zeroed, member order included.
    let reply = |agent: &Agent| {
        let mut c = agent.connect();
        c.send(request);
        let line = c.read_line();
        let value: Value = serde_json::from_slice(&line).unwrap();
        (line, without_counters(value))
    };
    let (their_line, their_value) = reply(&theirs);
    let (our_line, our_value) = reply(&ours);
    assert_eq!(
        serde_json::to_string(&our_value).unwrap(),
        serde_json::to_string(&their_value).unwrap(),
        "\n qemu: {}\n ours: {}",
        String::from_utf8_lossy(&their_line),
        String::from_utf8_lossy(&our_line)
    );
}

/// Checks run inside the VM of the end-to-end test (`vm.rs`), on a
/// synchronized virtio-serial connection to the guest's agent: commands
/// that change the system are tested here, never on the test machine.
/// The guest is a busybox initramfs with users root and tester (uid 1000,
/// home /home/tester), busybox's applets (hwclock, chpasswd, ...) and a
/// scratch ext4 disk mounted with discard at /mnt/scratch.
pub fn vm_checks(c: &mut Client) {
    let vm_ret = |c: &mut Client, request: Value| return_within(c, request, VM_REPLY);
    let vm_call = |c: &mut Client, request: Value| call_within(c, &request, VM_REPLY);

    // One vCPU, cpu0, which has no `online` file.
    let vcpus = vm_ret(c, json!({"execute": "guest-get-vcpus"}));
    assert_eq!(
        vcpus,
        json!([{"online": true, "can-offline": false, "logical-id": 0}])
    );
    let set = |c: &mut Client, vcpus: Value| {
        vm_call(
            c,
            json!({"execute": "guest-set-vcpus", "arguments": {"vcpus": vcpus}}),
        )
    };
    assert_eq!(
        set(c, json!([{"logical-id": 0, "online": false}])),
        json!({"error": {"class": "GenericError", "desc": "logical processor #0 can't be offlined"}})
    );
    assert_eq!(
        set(c, json!([{"logical-id": 0, "online": true}])),
        json!({"return": 1})
    );
    // Stops at the first failure and counts what was done before it.
    assert_eq!(
        set(
            c,
            json!([{"logical-id": 0, "online": true}, {"logical-id": 0, "online": false}, {"logical-id": 0, "online": true}])
        ),
        json!({"return": 1})
    );
    assert_eq!(
        set(c, json!([{"logical-id": 1, "online": true}])),
        json!({"error": {"class": "GenericError", "desc": "open(\"/sys/devices/system/cpu/cpu1/\"): No such file or directory"}})
    );
    assert_eq!(vm_ret(c, json!({"execute": "guest-get-vcpus"})), vcpus);

    // Memory blocks: as sysfs has them (the guest kernel may have none).
    let blocks = vm_ret(c, json!({"execute": "guest-get-memory-blocks"}));
    let info = vm_call(c, json!({"execute": "guest-get-memory-block-info"}));
    eprintln!("guest memory blocks: {blocks}; info: {info}");
    let set_blocks = |c: &mut Client, blocks: Value| {
        vm_ret(
            c,
            json!({"execute": "guest-set-memory-blocks", "arguments": {"mem-blks": blocks}}),
        )
    };
    if let Some(first) = as_array(&blocks).first() {
        let size = info["return"]["size"].as_u64().unwrap_or(0);
        assert!(size > 0 && size.is_power_of_two(), "{info}");
        // Online blocks hold a good part of the 384 MiB.
        let online = as_array(&blocks).iter().filter(|b| b["online"] == true).count() as u64;
        assert!(online * size >= 128 << 20, "{blocks} {info}");
        let index = first["phys-index"].clone();
        assert_eq!(
            set_blocks(
                c,
                json!([{"phys-index": index, "online": first["online"]}, {"phys-index": 100_000, "online": true}])
            ),
            json!([
                {"response": "success", "phys-index": index},
                {"response": "not-found", "error-code": 2, "phys-index": 100_000},
            ])
        );
        // Taking the last block offline and back: either it works both
        // ways, or the kernel refuses and the errno is reported.
        let last = as_array(&blocks)
            .iter()
            .filter(|b| b["online"] == true && b["can-offline"] == true)
            .max_by_key(|b| b["phys-index"].as_u64());
        if let Some(last) = last {
            let index = last["phys-index"].clone();
            let started = std::time::Instant::now();
            let off = set_blocks(c, json!([{"phys-index": index, "online": false}]));
            eprintln!("offlining memory block {index}: {off} ({:?})", started.elapsed());
            match off[0]["response"].as_str() {
                Some("success") => {
                    assert_eq!(off, json!([{"response": "success", "phys-index": index}]));
                    let now = vm_ret(c, json!({"execute": "guest-get-memory-blocks"}));
                    assert!(
                        as_array(&now)
                            .iter()
                            .any(|b| b["phys-index"] == index && b["online"] == false),
                        "{now}"
                    );
                    assert_eq!(
                        set_blocks(c, json!([{"phys-index": index, "online": true}])),
                        json!([{"response": "success", "phys-index": index}])
                    );
                }
                _ => {
                    assert_eq!(off[0]["response"], "operation-failed", "{off}");
                    assert!(off[0]["error-code"].as_i64() > Some(0), "{off}");
                }
            }
            assert_eq!(vm_ret(c, json!({"execute": "guest-get-memory-blocks"})), blocks);
        }
    } else {
        assert_eq!(
            set_blocks(c, json!([{"phys-index": 0, "online": true}])),
            json!([{"response": "operation-not-supported", "error-code": 2, "phys-index": 0}])
        );
    }

    // Network: lo is up with its address; routes parse.
    let interfaces = vm_ret(c, json!({"execute": "guest-network-get-interfaces"}));
    let lo = as_array(&interfaces)
        .iter()
        .find(|i| i["name"] == "lo")
        .unwrap_or_else(|| panic!("no lo in {interfaces}"));
    assert_eq!(lo["hardware-address"], "00:00:00:00:00:00", "{lo}");
    let routes = vm_call(c, json!({"execute": "guest-network-get-route"}));
    eprintln!("guest routes: {routes}");
    assert!(
        routes.get("return").is_some_and(Value::is_array)
            || routes["error"]["desc"]
                .as_str()
                .is_some_and(|d| d.starts_with("open(")),
        "{routes}"
    );
}
