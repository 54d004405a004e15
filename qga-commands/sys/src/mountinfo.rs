//! The mount tables: `/proc/self/mountinfo`, and the older
//! `/proc/self/mounts` read when it cannot be. Fields are unescaped as the
//! kernel escapes them (`\040` for a space).

/// One line of `mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted.
    pub dir: String,
    /// Filesystem type (`ext4`, `xfs`, `tmpfs`, ...).
    pub fstype: String,
    /// The mount source (`/dev/vda1`, `tmpfs`, ...).
    pub source: String,
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
}

/// One line of `/proc/self/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountsEntry {
    /// The mount source.
    pub source: String,
    /// Where it is mounted.
    pub dir: String,
    /// Filesystem type.
    pub fstype: String,
}

/// What a mount source is, by `stat(2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A block device with these major and minor numbers.
    Block(u32, u32),
    /// A directory (a bind mount).
    Directory,
    /// Anything else, or nothing that can be looked at.
    Other,
}

/// What the source at `path` is.
pub fn source(path: &str) -> Source {
    use rustix::fs::FileType;
    match rustix::fs::stat(path) {
        Ok(st) => match FileType::from_raw_mode(st.st_mode) {
            FileType::BlockDevice => {
                Source::Block(rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev))
            }
            FileType::Directory => Source::Directory,
            _ => Source::Other,
        },
        Err(_) => Source::Other,
    }
}

/// Undoes the kernel's octal escapes (`\040` for a space, `\134` for a
/// backslash); a backslash not followed by three octal digits of a byte
/// value stays as it is.
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| (b'0'..=b'3').contains(&d[0]) && d[1..].iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `mountinfo` text; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let _id = fields.next()?;
            let _parent = fields.next()?;
            let (major, minor) = fields.next()?.split_once(':')?;
            let _root = fields.next()?;
            let dir = unescape(fields.next()?);
            // Mount options, then optional fields up to the separator.
            fields.by_ref().find(|f| *f == "-")?;
            let fstype = unescape(fields.next()?);
            let source = unescape(fields.next()?);
            Some(Mount {
                dir,
                fstype,
                source,
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
            })
        })
        .collect()
}

/// Parses `/proc/self/mounts` text; lines of fewer than three fields are
/// skipped.
pub fn parse_mounts(text: &str) -> Vec<MountsEntry> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            Some(MountsEntry {
                source: unescape(fields.next()?),
                dir: unescape(fields.next()?),
                fstype: fields.next()?.to_string(),
            })
        })
        .collect()
}

impl Mount {
    /// The device a mount is backed by, if any, as QEMU's agent decides it:
    /// the mount's own numbers when its major is not 0; for btrfs, which
    /// reports major 0, the block device its source names. Virtual and
    /// network filesystems have none.
    pub fn device(&self) -> Option<(u32, u32)> {
        if self.major != 0 {
            return Some((self.major, self.minor));
        }
        match source(&self.source) {
            Source::Block(major, minor) if self.fstype == "btrfs" => Some((major, minor)),
            _ => None,
        }
    }
}

/// The device-backed mounts of `mountinfo` text (see [`Mount::device`]),
/// in mount order, each with its device's major and minor numbers: the
/// ones worth freezing, trimming and reporting.
pub fn device_mounts(text: &str) -> Vec<(Mount, (u32, u32))> {
    parse_mountinfo(text)
        .into_iter()
        .filter_map(|m| m.device().map(|device| (m, device)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 0:21 / /proc rw,nosuid shared:5 - proc proc rw
25 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
30 25 7:0 / /mnt/with\\040space rw,relatime - ext4 /dev/loop0 rw
31 25 0:45 / /run rw - tmpfs tmpfs rw,mode=755
32 25 0:50 / /srv/nfs rw master:3 - nfs4 host:/export rw
33 25 0:51 / /btr rw - btrfs /nonexistent/disk rw
garbage line
";

    #[test]
    fn parses_and_filters() {
        let all = parse_mountinfo(SAMPLE);
        assert_eq!(all.len(), 6);
        assert_eq!(all[2].dir, "/mnt/with space");
        assert_eq!(all[4].fstype, "nfs4");
        assert_eq!(all[1].device(), Some((253, 1)));
        // btrfs on a source that is not a block device: no device.
        assert_eq!(all[5].device(), None);
        let dev: Vec<_> = device_mounts(SAMPLE).into_iter().map(|(m, _)| m.dir).collect();
        assert_eq!(dev, ["/", "/mnt/with space"]);
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape("a\\040b\\011c\\134d"), "a b\tc\\d");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
        assert_eq!(unescape("a\\040b\\134c\\9"), "a b\\c\\9");
        // Past a byte's value: kept as it is.
        assert_eq!(unescape("\\400"), "\\400");
    }

    #[test]
    fn mounts_lines() {
        let entries = parse_mounts("/dev/vda1 / ext4 rw 0 0\nshort line\n/dev/x /a\\040b xfs rw 0 0\n");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].dir, "/a b");
        assert_eq!(entries[1].fstype, "xfs");
    }

    #[test]
    fn sources_are_told_apart() {
        assert_eq!(source("/"), Source::Directory);
        assert_eq!(source("/nonexistent"), Source::Other);
        assert_eq!(source("/proc/self/mountinfo"), Source::Other);
    }
}
