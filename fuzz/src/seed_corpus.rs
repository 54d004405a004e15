//! Writes the seed corpus of every target into `corpus/<target>` (ignored
//! by git): `cargo run --bin seed-corpus`. Seeds are built here (valid
//! inputs, near misses) and, for the system file formats, taken from this
//! machine where it has them (zone files, mount tables, os-release).

use std::fs;
use std::path::Path;

#[path = "../../qga-commands/tests/support/examples.rs"]
mod examples;

/// For `arguments`: each command's valid arguments, the same with a bad
/// member, and all of them in one array.
fn argument_seeds() -> Vec<Vec<u8>> {
    let examples = examples::examples();
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

/// For `framer` and `request`: messages, replies and near misses.
fn message_seeds() -> Vec<Vec<u8>> {
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

/// Texts, as byte seeds.
fn texts(list: &[&str]) -> Vec<Vec<u8>> {
    list.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// This machine's copies of `paths`, those it has.
fn machine_files(paths: &[&str]) -> Vec<Vec<u8>> {
    paths.iter().filter_map(|p| fs::read(p).ok()).collect()
}

/// For `keyfile` and `config`: QEMU's fixture, this agent's keys, the
/// state file, os-release, and GLib's corner cases.
fn key_file_seeds() -> Vec<Vec<u8>> {
    let mut seeds = texts(&[
        "[general]\ndaemon=false\nmethod=virtio-serial\npath=/path/to/org.qemu.guest_agent.0\n\
         pidfile=/var/foo/qemu-ga.pid\nstatedir=/var/state\nverbose=true\nretry-path=false\n\
         block-rpcs=guest-ping,guest-get-time\n",
        "# comment\n[general]\n daemon = true \nmethod=unix-listen\npath=/run/x\\sy\nlogfile=/l\n\
         allow-rpcs=guest-ping\nfsfreeze-hook=/h\nfsfreeze-hook-timeout=5\nfsfreeze-timeout=0\n\
         file-create-mode=0640\nvsock-allow-cids=2,3\n[system-roots]\nproc=/fake/proc\nsbin=rel\n",
        "[global]\nfd_counter=1000\n",
        "[os-release]\nID=debian\nNAME=\"Debian GNU/Linux\"\nVERSION=\"12 (bookworm)\"\nVARIANT=\"a \\\"b\\\" \\$c\"\n",
        "[g]\nNAME[de@euro.UTF-8]=x\nEncoding=UTF-8\n[a]  \t\nk = v\\s\\n\\t\\r\\\\ \n",
        "[general\n", "key=1\n", "[g]\n=1\n", "[]\n", "[g]\nEncoding=latin1\n", "[g]\nx=\\q\n",
        "[g]\r\nk=v\r\n\r\n", "\u{feff}[g]\nk=v\n", "[g]\nk=v\\",
    ]);
    for os_release in machine_files(&["/etc/os-release", "/usr/lib/os-release"]) {
        let mut seed = b"[os-release]\n".to_vec();
        seed.extend_from_slice(&os_release);
        seeds.push(seed);
    }
    seeds
}

/// For `tzif`: this machine's zone files, and cut ones.
fn tzif_seeds() -> Vec<Vec<u8>> {
    let mut seeds = machine_files(&[
        "/usr/share/zoneinfo/UTC",
        "/usr/share/zoneinfo/Europe/Paris",
        "/usr/share/zoneinfo/America/New_York",
        "/usr/share/zoneinfo/Australia/Lord_Howe",
        "/usr/share/zoneinfo/Asia/Kolkata",
        "/etc/localtime",
    ]);
    let cut: Vec<Vec<u8>> = seeds.iter().map(|s| s[..s.len() / 2].to_vec()).collect();
    seeds.extend(cut);
    seeds.push(b"TZif2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec());
    seeds
}

/// For `posix_tz`: rules of every form glib reads, and settings.
fn posix_tz_seeds() -> Vec<Vec<u8>> {
    texts(&[
        "CET-1CEST,M3.5.0,M10.5.0/3",
        "EST5EDT,M3.2.0,M11.1.0",
        "AEST-10AEDT,M10.1.0,M4.1.0/3",
        "<+0330>-3:30",
        "<-03>3",
        "IST-5:30",
        "XXX3YYY,J60/2,300/-1",
        "NZST-12NZDT,M9.5.0,M4.1.0/3",
        "WART4WARST,J1/0,J365/25",
        "UTC",
        "Z",
        "+05:30",
        "-0330",
        ":Europe/Paris",
        "/nonexistent",
        "",
    ])
}

/// For `utmp`: records of both layouts, whole and cut.
fn utmp_seeds() -> Vec<Vec<u8>> {
    use qga_sys::utmp::{record, Layout};
    let mut seeds = Vec::new();
    for layout in [Layout::TIME32, Layout::TIME64] {
        let file = [
            record(layout, 2, b"reboot", 100, 0),
            record(layout, 7, b"alice", 1_700_000_100, 250_000),
            record(layout, 7, &[b'x'; 32], -1, 999_999),
            record(layout, 8, b"carol", 5, 0),
        ]
        .concat();
        seeds.push(file[..file.len() - 7].to_vec());
        seeds.push(file);
    }
    seeds.extend(machine_files(&["/var/run/utmp", "/run/utmp"]));
    seeds
}

/// For `mountinfo`: this machine's tables, and escapes.
fn mount_table_seeds() -> Vec<Vec<u8>> {
    let mut seeds = machine_files(&["/proc/self/mountinfo", "/proc/self/mounts"]);
    seeds.extend(texts(&[
        "22 1 0:21 / /proc rw,nosuid shared:5 - proc proc rw\n\
         25 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n\
         30 25 7:0 / /mnt/with\\040space rw,relatime - ext4 /dev/loop0 rw\n\
         33 25 0:51 / /btr rw - btrfs /dev/vdb rw\n",
        "/dev/vda1 / ext4 rw 0 0\n/dev/x /a\\040b\\134c xfs rw 0 0\n",
        "1 2 3:4 / /x - \n1 2 x:y / /x - a b\n\\400\\\\\\0",
    ]));
    seeds
}

/// A netlink message: header (`len`, `kind`, flags, `seq`, pid), payload.
fn netlink_message(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let len = 16 + payload.len();
    let mut m = Vec::with_capacity(len + 3);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&2u16.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(payload);
    while m.len() % 4 != 0 {
        m.push(0);
    }
    m
}

/// A route attribute, padded.
fn netlink_attribute(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut a = ((4 + data.len()) as u16).to_ne_bytes().to_vec();
    a.extend_from_slice(&kind.to_ne_bytes());
    a.extend_from_slice(data);
    while a.len() % 4 != 0 {
        a.push(0);
    }
    a
}

/// For `netlink`: a link dump and an address dump, each ended, and an
/// error; the first byte is the sequence number.
fn netlink_seeds() -> Vec<Vec<u8>> {
    let seq = 7u8;
    let mut link = vec![0u8; 16];
    link[4..8].copy_from_slice(&2i32.to_ne_bytes());
    link.extend(netlink_attribute(3, b"eth0\0"));
    link.extend(netlink_attribute(1, &[0x52, 0x54, 0, 0x12, 0x34, 0x56]));
    let mut address = vec![2u8, 24, 0, 0];
    address.extend_from_slice(&2u32.to_ne_bytes());
    address.extend(netlink_attribute(2, &[192, 168, 1, 10]));
    address.extend(netlink_attribute(1, &[192, 168, 1, 10]));
    address.extend(netlink_attribute(3, b"eth0:1\0"));
    let done = netlink_message(3, u32::from(seq), &0u32.to_ne_bytes());
    let error = netlink_message(2, u32::from(seq), &(-13i32).to_ne_bytes());
    let mut seeds = Vec::new();
    for body in [
        [netlink_message(16, u32::from(seq), &link), done.clone()].concat(),
        [netlink_message(20, u32::from(seq), &address), done.clone()].concat(),
        [netlink_message(20, 99, &address), error].concat(),
    ] {
        let mut seed = vec![seq];
        seed.extend(body);
        seeds.push(seed);
    }
    seeds
}

/// For `proc_tables`: this machine's tables, each after the byte that
/// selects its parser.
fn proc_table_seeds() -> Vec<Vec<u8>> {
    let tables = [
        "/proc/diskstats",
        "/proc/stat",
        "/proc/loadavg",
        "/proc/self/auxv",
        "/proc/net/dev",
        "/proc/net/route",
        "/proc/net/ipv6_route",
    ];
    let mut seeds = Vec::new();
    for (selector, path) in tables.iter().enumerate() {
        for table in machine_files(&[path]) {
            seeds.push([&[selector as u8][..], &table].concat());
        }
    }
    seeds.push(
        b"\x00 253       0 vda 100 2 300 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n 7 0 loop0 1 2 3 4\n".to_vec(),
    );
    seeds.push(b"\x01cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\ncpu1 1 2 3\n".to_vec());
    seeds.push(b"\x05Iface\tDestination\tGateway \tFlags\nens3\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n".to_vec());
    seeds.push(
        b"\x06fe800000000000000000000000000040 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 ens3\n"
            .to_vec(),
    );
    seeds
}

/// For `os_release`: QEMU's fixture and this machine's files.
fn os_release_seeds() -> Vec<Vec<u8>> {
    let mut seeds = texts(&[
        "ID=qemu-ga-test\nNAME=QEMU-GA\nPRETTY_NAME=\"QEMU Guest Agent test\"\nVERSION=\"Test 1\"\n\
         VERSION_ID=1\nVARIANT=\"Unit test \\\"\\'\\$\\`\\\\ and \\\\\\\\ etc.\"\nVARIANT_ID=unit-test\n",
        "NAME='foo bar'\nID=\"a\\nb\nVERSION=x ;y\n",
    ]);
    seeds.extend(machine_files(&["/etc/os-release", "/usr/lib/os-release"]));
    seeds
}

/// For `passwd`: this machine's file and odd lines.
fn passwd_seeds() -> Vec<Vec<u8>> {
    let mut seeds = texts(&[
        "alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob\n",
        "alice:x:notanumber:1:g:/h\nalice:x:5:6:g:/home/a:/bin/sh\n",
        "::::::\n:x:0:0::/:\n",
    ]);
    seeds.extend(machine_files(&["/etc/passwd"]));
    seeds
}

/// For `udev`: a `uevent` file and a database record of this machine's
/// first disk where it has them, and made-up ones.
fn udev_seeds() -> Vec<Vec<u8>> {
    let mut seeds = texts(&[
        "MAJOR=252\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\nDISKSEQ=9\n",
        "S:disk/by-id/virtio-serial0\nE:ID_SERIAL=serial0\nE:DM_NAME=vg-root\nE:=x\nG:systemd\n",
        "DEVNAME=mapper/../../etc\nDEVNAME=\n",
    ]);
    seeds.extend(machine_files(&[
        "/sys/block/vda/uevent",
        "/sys/block/sda/uevent",
        "/run/udev/data/b252:0",
    ]));
    seeds
}

/// For `nvme_smart`: a whole log page of a pattern, and short ones.
fn nvme_smart_seeds() -> Vec<Vec<u8>> {
    let page: Vec<u8> = (0..512u32).map(|i| (i * 7 + 3) as u8).collect();
    vec![page.clone(), page[..200].to_vec(), vec![0xff; 512], Vec::new()]
}

/// For `sysfs_paths`: the path elements the disk commands scan.
fn sysfs_path_seeds() -> Vec<Vec<u8>> {
    texts(&[
        "0000:00/0000:00:04.0/virtio1/block/vda",
        "0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda",
        "0:0:0/0:0:0:3/block/sdb",
        "/css0/0.0.0000/0.0.0007/virtio0/block/vda",
        "host12",
        "ata3",
        "0x1f:0X20 -5 4294967296 ffffffff zz",
    ])
}

fn write(target: &str, seeds: &[Vec<u8>]) -> std::io::Result<()> {
    let dir = Path::new("corpus").join(target);
    fs::create_dir_all(&dir)?;
    for (i, seed) in seeds.iter().enumerate() {
        fs::write(dir.join(format!("seed-{i:03}")), seed)?;
    }
    println!("{}: {} files", dir.display(), fs::read_dir(&dir)?.count());
    Ok(())
}

fn main() -> std::io::Result<()> {
    let messages = message_seeds();
    // The framer's first byte picks the chunk size and limits.
    let framed: Vec<Vec<u8>> = messages
        .iter()
        .flat_map(|seed| [0x00u8, 0x07, 0x3F, 0x80, 0x85].map(|b| [&[b][..], seed].concat()))
        .collect();
    write("framer", &framed)?;
    write("request", &messages)?;
    write("arguments", &argument_seeds())?;
    let key_files = key_file_seeds();
    write("keyfile", &key_files)?;
    write("config", &key_files)?;
    write("tzif", &tzif_seeds())?;
    write("posix_tz", &posix_tz_seeds())?;
    write("utmp", &utmp_seeds())?;
    write("mountinfo", &mount_table_seeds())?;
    write("netlink", &netlink_seeds())?;
    write("proc_tables", &proc_table_seeds())?;
    write("os_release", &os_release_seeds())?;
    write("passwd", &passwd_seeds())?;
    write("udev", &udev_seeds())?;
    write("nvme_smart", &nvme_smart_seeds())?;
    write("sysfs_paths", &sysfs_path_seeds())?;
    write(
        "authorized_keys",
        &texts(&[
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI u@h\n# comment\n\n  ssh-rsa AAAAB3Nza x@y \r\n",
            "\x0b\x0c key\0after the end\n",
            "",
        ]),
    )?;
    write(
        "mutf8",
        &texts(&["plain", "a\u{0}b", "é ключ"])
            .into_iter()
            .chain([
                b"a\xC0\x80b".to_vec(),
                b"\xC0".to_vec(),
                b"\xff\xfe\xC0\x80".to_vec(),
            ])
            .collect::<Vec<_>>(),
    )?;
    write(
        "base64",
        &texts(&[
            "aGVsbG8=",
            "aGVsbG8",
            "aGVs\nbG8=\n",
            "aA==",
            "",
            "!!!",
            "====",
            "a-b_",
            "AAAA\r\n",
        ]),
    )?;
    Ok(())
}
