//! Integration tests: Disks and filesystems: guest-get-disks, guest-get-fsinfo.
//!
//! The replies are checked against what `findmnt`, `df` and `lsblk` report
//! on this machine, and against Debian's `qemu-ga` (QEMU 7.2): error cases
//! byte for byte, results member by member in the same order, leaving out
//! what 7.2 does not have (`total-bytes-privileged`), the serial this agent
//! reads from sysfs when no udev database exists, and the used bytes, which
//! a busy disk changes between two calls.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::differential;
use crate::util::{call_within, ret, return_within, Agent, Client};

/// How far the used bytes of a busy filesystem may move between two calls.
const USED_SLACK: i64 = 256 << 20;

/// Runs a program and returns its standard output.
fn output(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(out.status.success(), "{program} {args:?} failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn as_array(value: &Value) -> &Vec<Value> {
    value.as_array().unwrap_or_else(|| panic!("not a list: {value}"))
}

/// The PCI address in a sysfs device path (`.../0000:00:02.0/virtio1/...`),
/// the last one before the driver-specific part, as [domain, bus, slot, fn].
fn pci_of(link: &str) -> Option<[i64; 4]> {
    link.rsplit('/').find_map(|part| {
        let (domain, rest) = part.split_once(':')?;
        let (bus, rest) = rest.split_once(':')?;
        let (slot, function) = rest.split_once('.')?;
        let hex = |s: &str| i64::from_str_radix(s, 16).ok();
        Some([hex(domain)?, hex(bus)?, hex(slot)?, hex(function)?])
    })
}

#[test]
fn fsinfo_matches_findmnt_and_df() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let list = ret(&mut c, json!({"execute": "guest-get-fsinfo"}));

    // Every mount with a device number other than 0 (and no btrfs here).
    let findmnt = output("findmnt", &["-rn", "-o", "TARGET,MAJ:MIN,FSTYPE"]);
    let mut expected: Vec<(String, String)> = findmnt
        .lines()
        .filter_map(|line| {
            let mut f = line.split(' ');
            let target = f.next()?.replace("\\x20", " ");
            let number = f.next()?;
            let fstype = f.next()?;
            (!number.starts_with("0:")).then(|| (target, fstype.to_string()))
        })
        .collect();
    // QEMU lists the newest mount first.
    expected.reverse();
    let ours: Vec<(String, String)> = as_array(&list)
        .iter()
        .map(|fs| {
            (
                fs["mountpoint"].as_str().unwrap_or_default().to_string(),
                fs["type"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(ours, expected, "{list}");

    for fs in as_array(&list) {
        let mountpoint = fs["mountpoint"].as_str().unwrap_or_default();
        // df: 1B-blocks is f_blocks * f_frsize; Used + Available is the
        // unprivileged total.
        let df = output("df", &["-B1", "--output=size,used,avail", mountpoint]);
        let numbers: Vec<i64> = df
            .lines()
            .nth(1)
            .unwrap_or_default()
            .split_whitespace()
            .map(|n| n.parse().unwrap_or(-1))
            .collect();
        let [size, used, avail] = numbers[..] else {
            panic!("df said {df}")
        };
        assert_eq!(fs["total-bytes-privileged"].as_i64(), Some(size), "{fs}");
        let ours_used = fs["used-bytes"].as_i64().unwrap_or(-1);
        assert!((ours_used - used).abs() <= USED_SLACK, "{fs} vs df {df}");
        let total = fs["total-bytes"].as_i64().unwrap_or(-1);
        assert!((total - (used + avail)).abs() <= USED_SLACK, "{fs} vs df {df}");
        assert!(ours_used <= total && total <= size, "{fs}");
    }

    // The root filesystem: its name is the kernel's name of its device
    // and its disk the PCI function the device hangs off.
    let root = as_array(&list).iter().find(|fs| fs["mountpoint"] == "/");
    if let Some(root) = root {
        let source = output("findmnt", &["-rn", "-o", "MAJ:MIN", "/"]);
        let sys = std::fs::canonicalize(format!("/sys/dev/block/{}", source.trim())).unwrap();
        let kernel_name = sys.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(root["name"], kernel_name.as_str());
        let path = sys.to_string_lossy().into_owned();
        if path.contains("/virtio") && path.starts_with("/sys/devices/pci") {
            let disk = &root["disk"][0];
            assert_eq!(disk["bus-type"], "virtio", "{root}");
            let [domain, bus, slot, function] = pci_of(&path).unwrap();
            assert_eq!(
                disk["pci-controller"],
                json!({"bus": bus, "slot": slot, "domain": domain, "function": function})
            );
            assert_eq!(disk["dev"], format!("/dev/{kernel_name}").as_str());
        }
    }
}

#[test]
fn disks_match_lsblk() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let list = ret(&mut c, json!({"execute": "guest-get-disks"}));

    // lsblk's devices with a size, and their partitions.
    let lsblk: Value =
        serde_json::from_str(&output("lsblk", &["-J", "-b", "-o", "NAME,MAJ:MIN,TYPE,SIZE"])).unwrap();
    fn walk(devices: &Value, out: &mut BTreeSet<(String, bool)>) {
        for d in devices.as_array().into_iter().flatten() {
            let size = d["size"]
                .as_u64()
                .or_else(|| d["size"].as_str().and_then(|s| s.parse().ok()));
            if size.unwrap_or(0) > 0 {
                let name = d["name"].as_str().unwrap_or_default();
                out.insert((format!("/dev/{name}"), d["type"] == "part"));
            }
            walk(&d["children"], out);
        }
    }
    let mut expected = BTreeSet::new();
    walk(&lsblk["blockdevices"], &mut expected);
    let ours: BTreeSet<(String, bool)> = as_array(&list)
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap_or_default().to_string(),
                d["partition"] == true,
            )
        })
        .collect();
    assert_eq!(ours, expected, "{list}");

    for disk in as_array(&list) {
        let name = disk["name"].as_str().unwrap_or_default();
        let kernel_name = name.trim_start_matches("/dev/");
        if disk["partition"] == true {
            continue;
        }
        let link = std::fs::canonicalize(format!("/sys/block/{kernel_name}")).unwrap();
        let link = link.to_string_lossy();
        if link.contains("/devices/virtual/block/") {
            assert!(disk.get("address").is_none(), "{disk}");
        } else if link.contains("/virtio") && link.starts_with("/sys/devices/pci") {
            let [domain, bus, slot, function] = pci_of(&link).unwrap();
            assert_eq!(disk["address"]["bus-type"], "virtio", "{disk}");
            assert_eq!(
                disk["address"]["pci-controller"],
                json!({"bus": bus, "slot": slot, "domain": domain, "function": function})
            );
            assert_eq!(disk["address"]["dev"], name);
        }
        // A disk's slaves/ exists, so dependencies are always listed.
        let slaves = std::fs::read_dir(format!("/sys/block/{kernel_name}/slaves")).map(|d| d.count());
        assert_eq!(
            disk["dependencies"].as_array().map(Vec::len),
            slaves.ok(),
            "{disk}"
        );
    }
}

/// Removes what 7.2 cannot report from our reply and levels the used
/// bytes when both agents are within [`USED_SLACK`] of each other.
fn comparable(ours: &mut Value, theirs: &Value) {
    let udev_db = std::path::Path::new("/run/udev/data").exists();
    let (Some(ours), Some(theirs)) = (ours.as_array_mut(), theirs.as_array()) else {
        return;
    };
    for (o, t) in ours.iter_mut().zip(theirs) {
        let Some(obj) = o.as_object_mut() else { continue };
        obj.shift_remove("total-bytes-privileged");
        for key in ["used-bytes", "total-bytes"] {
            if let (Some(a), Some(b)) = (obj.get(key).and_then(Value::as_i64), t[key].as_i64()) {
                if (a - b).abs() <= USED_SLACK {
                    obj.insert(key.to_string(), t[key].clone());
                }
            }
        }
        // Our sysfs serial where no udev database exists.
        let disks: Vec<&mut Value> = match obj.get_mut("disk") {
            Some(Value::Array(disks)) => disks.iter_mut().collect(),
            _ => obj.get_mut("address").into_iter().collect(),
        };
        for d in disks {
            if let Some(d) = d.as_object_mut() {
                if !udev_db {
                    d.shift_remove("serial");
                }
            }
        }
    }
}

#[test]
fn differential_results() {
    let Some(debian) = differential::debian() else {
        return;
    };
    let theirs = Agent::start_program(debian, &[]);
    let ours = Agent::start(&[]);
    let mut t = theirs.connect();
    let mut o = ours.connect();
    for command in ["guest-get-fsinfo", "guest-get-disks"] {
        let request = json!({"execute": command});
        let expected = ret(&mut t, request.clone());
        let mut actual = ret(&mut o, request.clone());
        comparable(&mut actual, &expected);
        // Compared as text: the members' order matters.
        assert_eq!(actual.to_string(), expected.to_string(), "{command}");
    }
}

#[test]
fn differential_errors() {
    let cases: Vec<Vec<u8>> = [
        r#"{"execute":"guest-get-fsinfo","arguments":{"x":1}}"#,
        r#"{"execute":"guest-get-disks","arguments":{"x":1}}"#,
        r#"{"execute":"guest-get-disks","arguments":[]}"#,
        r#"{"execute":"guest-get-fsinfo","arguments":null}"#,
        r#"{"execute":"guest-get-fsinfo","arguments":{"x":1},"id":"d"}"#,
        r#"{"execute":"guest-get-fsinfo","arguments":"str"}"#,
    ]
    .iter()
    .map(|c| c.as_bytes().to_vec())
    .collect();
    differential::compare(&[], &cases);
}

/// How long the slow (TCG) guest may take to answer.
const VM_REPLY: Duration = Duration::from_secs(30);

/// Checks run inside the VM of the end-to-end test (`vm.rs`), on a
/// synchronized virtio-serial connection to the guest's agent: commands
/// that change the system are tested here, never on the test machine.
/// The guest is a busybox initramfs with users root and tester (uid 1000,
/// home /home/tester), busybox's applets (hwclock, chpasswd, ...) and a
/// scratch ext4 disk mounted with discard at /mnt/scratch.
pub fn vm_checks(c: &mut Client) {
    let fsinfo = return_within(c, json!({"execute": "guest-get-fsinfo"}), VM_REPLY);
    let scratch = as_array(&fsinfo)
        .iter()
        .find(|fs| fs["mountpoint"] == "/mnt/scratch")
        .unwrap_or_else(|| panic!("no /mnt/scratch in {fsinfo}"));
    assert_eq!(
        (&scratch["name"], &scratch["type"]),
        (&json!("vda"), &json!("ext4")),
        "{scratch}"
    );
    let disk = &scratch["disk"][0];
    assert_eq!(disk["bus-type"], "virtio", "{scratch}");
    assert_eq!(disk["dev"], "/dev/vda", "{scratch}");
    let pci = &disk["pci-controller"];
    assert!(
        ["domain", "bus", "slot", "function"]
            .iter()
            .all(|k| pci[k].as_i64().is_some_and(|v| v >= 0)),
        "{scratch}"
    );
    assert!(pci["slot"].as_i64() > Some(0), "{scratch}");
    let total = scratch["total-bytes-privileged"].as_u64().unwrap_or(0);
    assert!(
        total > 0 && scratch["used-bytes"].as_u64() <= Some(total),
        "{scratch}"
    );

    let disks = return_within(c, json!({"execute": "guest-get-disks"}), VM_REPLY);
    let vda = as_array(&disks)
        .iter()
        .find(|d| d["name"] == "/dev/vda")
        .unwrap_or_else(|| panic!("no /dev/vda in {disks}"));
    assert_eq!(vda["partition"], false, "{vda}");
    assert_eq!(vda["address"]["bus-type"], "virtio", "{vda}");
    assert_eq!(&vda["address"]["pci-controller"], pci, "{vda}");
    assert_eq!(vda.get("smart"), None, "{vda}");
    nvme_checks(&disks);
    let reply = call_within(
        c,
        &json!({"execute": "guest-get-disks", "arguments": {"x": 1}}),
        VM_REPLY,
    );
    assert_eq!(reply["error"]["desc"], "Parameter 'x' is unexpected");
}

/// The VM's NVMe disk carries the SMART data of QEMU's emulated controller.
fn nvme_checks(disks: &Value) {
    let nvme = as_array(disks)
        .iter()
        .find(|d| d["name"] == "/dev/nvme0n1")
        .unwrap_or_else(|| panic!("no /dev/nvme0n1 in {disks}"));
    let address = &nvme["address"];
    assert_eq!(address["bus-type"], "nvme", "{nvme}");
    assert_eq!(address["serial"], crate::vm::NVME_SERIAL, "{nvme}");
    assert_eq!(address["dev"], "/dev/nvme0n1", "{nvme}");
    let smart = nvme
        .get("smart")
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("no smart for the NVMe disk: {nvme}"));
    eprintln!("NVMe SMART in the VM: {}", Value::Object(smart.clone()));
    assert_eq!(smart.len(), 26, "{nvme}");
    let number = |key: &str| {
        smart
            .get(key)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("{key} missing or not a number: {nvme}"))
    };
    assert_eq!(smart.get("type"), Some(&json!("nvme")), "{nvme}");
    // QEMU's controller: a fixed composite temperature of 0x143 K, below
    // its warning threshold, so no critical warning; spare and wear it
    // leaves at 0, as it does every counter but the I/O ones and the power
    // on hours (0 in a VM less than an hour old).
    assert_eq!(number("temperature"), 323, "{nvme}");
    for key in [
        "critical-warning",
        "available-spare",
        "available-spare-threshold",
        "percentage-used",
        "controller-busy-time-lo",
        "power-cycles-lo",
        "power-on-hours-lo",
        "unsafe-shutdowns-lo",
        "media-errors-lo",
        "number-of-error-log-entries-lo",
    ] {
        assert_eq!(number(key), 0, "{key}: {nvme}");
    }
    for key in smart.keys().filter(|k| k.ends_with("-hi")) {
        assert_eq!(number(key), 0, "{key}: {nvme}");
    }
    // The kernel read the disk's partition table: some reads, in units
    // of 1000 sectors rounded up.
    assert!(number("host-read-commands-lo") >= 1, "{nvme}");
    assert!(number("data-units-read-lo") >= 1, "{nvme}");
}
