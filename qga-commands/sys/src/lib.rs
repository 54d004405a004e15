//! The guest agent's OS layer: the system calls and ioctls rustix has no
//! safe wrapper for, and one parser of each system file format the agent
//! reads. Nothing here knows the agent's protocol: the guest operations
//! (`qga-commands`) turn what these functions return into replies.
//!
//! Split per subsystem, as rustix splits its backend:
//!
//! | module | what |
//! | --- | --- |
//! | [`authorized_keys`] | `~/.ssh/authorized_keys` lines and keys, as QEMU's agent reads them |
//! | [`fs`] | `FIFREEZE`, `FITHAW`, `FITRIM`; files no one else can have planted; capped reads |
//! | [`process`] | descriptors children inherit; `execve(2)` with an exact environment |
//! | [`nvme`] | the NVMe SMART / Health log page (`NVME_IOCTL_ADMIN_CMD`) and its decoding |
//! | [`netlink`] | route netlink link and address dumps (what `getifaddrs` reads) |
//! | [`procfs`] | `/proc` tables: `diskstats`, `stat`, `loadavg`, `self/auxv`, `net/dev`, `net/route`, `net/ipv6_route` |
//! | [`inet`] | IPv4 and IPv6 addresses as glibc's `inet_ntop` writes them |
//! | [`errno`] | error numbers as `strerror` words them |
//! | [`keyfile`] | GLib key files (configuration, state file, os-release) |
//! | [`osrelease`] | os-release files, their values unquoted as QEMU's agent does |
//! | [`mountinfo`] | `/proc/self/mountinfo` and the mount tables' octal escapes |
//! | [`tz`] | TZif zone files and POSIX `TZ` rules |
//! | [`passwd`] | password file lines (uid, gid, home) |
//! | [`udev`] | sysfs `uevent` files and udev database records |
//! | [`utmp`] | utmp records, in the target's glibc layout |
//! | [`scan`] | whitespace-separated kernel text, read as C's `scanf` reads it |
//! | [`sysfs`] | sysfs device path elements (PCI, SCSI, ATA and channel I/O addresses); attribute reads and writes |
//! | [`mutf8`] | host strings as QEMU's agent hands them to the system (modified UTF-8) |
//! | [`base64`] | base64 as GLib decodes it |
//!
//! All of the agent's `unsafe` code outside its transport is in this crate,
//! in `fs`, `process` and `nvme`, each block with its `SAFETY` argument;
//! the crate denies it everywhere else.
#![deny(unsafe_code)]

pub mod authorized_keys;
pub mod base64;
pub mod errno;
pub mod fs;
pub mod inet;
pub mod keyfile;
pub mod mountinfo;
pub mod mutf8;
pub mod netlink;
pub mod nvme;
pub mod osrelease;
pub mod passwd;
pub mod process;
pub mod procfs;
pub mod scan;
pub mod sysfs;
pub mod tz;
pub mod udev;
pub mod utmp;

/// Every parser of this crate on junk: none may panic (each is meant to
/// be called by a fuzzer on arbitrary input as it is here).
#[cfg(test)]
mod robustness {
    /// A small deterministic generator of inputs made mostly of the bytes
    /// the parsers give meaning to.
    struct Junk(u64);

    impl Junk {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn bytes(&mut self) -> Vec<u8> {
            const ALPHABET: &[u8] = b"0123456789abcdefxX:./ \t\n=+-,<>JM[]\"\\;E#\0\xff\xc3";
            let len = self.next() % 300;
            (0..len)
                .map(|_| {
                    let pick = self.next();
                    if pick & 7 == 0 {
                        (pick >> 8) as u8
                    } else {
                        ALPHABET[(pick >> 8) as usize % ALPHABET.len()]
                    }
                })
                .collect()
        }
    }

    #[test]
    fn no_parser_panics_on_junk() {
        let mut junk = Junk(0x9E37_79B9_7F4A_7C15);
        for _ in 0..3000 {
            let bytes = junk.bytes();
            let text = String::from_utf8_lossy(&bytes);
            let _ = crate::sysfs::scan_pci_root(&bytes);
            let _ = crate::sysfs::scan_pci_function(&bytes);
            let _ = crate::sysfs::scan_target(&bytes);
            let _ = crate::sysfs::scan_ccw(&bytes);
            let _ = crate::sysfs::scan_host_number(&text, "host");
            let _ = crate::procfs::parse_diskstats_line(&text);
            let _ = crate::procfs::parse_cpu_lines(&text);
            let _ = crate::procfs::parse_loadavg(&text);
            let _ = crate::procfs::clock_ticks(&bytes);
            let _ = crate::procfs::net_dev_counters(&bytes, b"0");
            let _ = crate::procfs::parse_route_table(&bytes);
            let _ = crate::procfs::parse_ipv6_route_table(&bytes);
            let _ = crate::procfs::ipv6_from_hex(&bytes);
            let _ = crate::udev::uevent_properties(&text).count();
            let _ = crate::udev::db_properties(&text).count();
            let _ = crate::passwd::find_user(&bytes, b"0");
            let _ = crate::nvme::decode_smart_log(&bytes);
            if let Ok(release) = crate::osrelease::OsRelease::parse(&bytes) {
                let _ = release.value("ID");
            }
            let _ = crate::osrelease::unquote(&text);
            if let Some(rule) = crate::tz::PosixTz::parse(&text) {
                for t in [i64::MIN, -1, 0, 1_784_116_800, i64::MAX] {
                    let _ = rule.at(t);
                }
            }
            if let Some(file) = crate::tz::Tzif::parse(&bytes) {
                let _ = file.at(0);
            }
            let _ = crate::mountinfo::parse_mountinfo(&text);
            let _ = crate::mountinfo::parse_mounts(&text);
            let _ = crate::keyfile::KeyFile::parse(&bytes);
            let _ = crate::utmp::parse(&bytes, crate::utmp::Layout::NATIVE);
            let _ = crate::netlink::parse_link(&bytes);
            let _ = crate::netlink::parse_address(&bytes);
            let _ = crate::base64::decode(&text);
            let mut scan = crate::scan::Scanner::new(&bytes);
            while scan.word(Some(3)).is_some() {
                let _ = (scan.u32_clamped(16), scan.hex(), scan.signed(), scan.lit(b':'));
            }
        }
        // The POSIX rules at the ends of time.
        for rule in [
            "CET-1CEST,M3.5.0,M10.5.0/3",
            "AAA3BBB2,J60/1:30,300",
            "<+0530>-5:30",
            "AAA-24BBB+24,J365/167,M12.5.6/-167",
            "AAA+24BBB-24,J1/-167,0/167",
        ] {
            let rule = crate::tz::PosixTz::parse(rule).unwrap();
            for t in [i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX] {
                let _ = rule.at(t);
            }
        }
    }
}
