//! The mounted filesystems, from `/proc/self/mountinfo`.

use std::os::unix::fs::FileTypeExt;

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

/// Undoes the kernel's octal escapes (`\040` for a space, ...).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b))
        {
            let value = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |v, b| v * 8 + u32::from(b - b'0'));
            if let Ok(byte) = u8::try_from(value) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
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

/// The mounts worth freezing or trimming, in mount order: those backed by
/// a device (major number not 0), and btrfs, which reports major 0 but
/// names a block device as its source. Virtual and network filesystems
/// are left out, as QEMU leaves them out.
pub fn device_mounts(text: &str) -> Vec<Mount> {
    parse_mountinfo(text)
        .into_iter()
        .filter(|m| {
            m.major != 0
                || (m.fstype == "btrfs"
                    && std::fs::metadata(&m.source).is_ok_and(|meta| meta.file_type().is_block_device()))
        })
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
garbage line
";

    #[test]
    fn parses_and_filters() {
        let all = parse_mountinfo(SAMPLE);
        assert_eq!(all.len(), 5);
        assert_eq!(all[2].dir, "/mnt/with space");
        assert_eq!(all[4].fstype, "nfs4");
        let dev: Vec<_> = device_mounts(SAMPLE).into_iter().map(|m| m.dir).collect();
        assert_eq!(dev, ["/", "/mnt/with space"]);
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape("a\\040b\\011c\\134d"), "a b\tc\\d");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
    }
}
