//! What libudev reads of a device: the `KEY=value` lines of its sysfs
//! `uevent` file (`DEVNAME`, `MAJOR`, `MINOR`, ...) and the `E:KEY=value`
//! property lines of its record in the udev database
//! (`/run/udev/data/b<major>:<minor>` for a block device).

/// The `KEY=value` properties of the text of a sysfs `uevent` file, in
/// file order (the value is everything after the first `=`); lines
/// without `=` are skipped.
pub fn uevent_properties(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|line| line.split_once('='))
}

/// The `E:KEY=value` properties of the text of a udev database record, in
/// file order; other lines (`S:` links, `I:` timestamps, `G:` tags, ...)
/// are skipped.
pub fn db_properties(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines()
        .filter_map(|line| line.strip_prefix("E:").and_then(|kv| kv.split_once('=')))
}

/// The device node a `uevent` `DEVNAME` value names: itself when
/// absolute, else under `/dev/`.
pub fn devnode(devname: &str) -> String {
    if devname.starts_with('/') {
        devname.to_string()
    } else {
        format!("/dev/{devname}")
    }
}

/// The name of a device's record in the udev database, from its `uevent`
/// `MAJOR` and `MINOR`: `b<major>:<minor>` for a block device,
/// `c<major>:<minor>` for a character device.
pub fn db_record_name(block: bool, major: &str, minor: &str) -> String {
    format!("{}{major}:{minor}", if block { 'b' } else { 'c' })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uevent_and_database_lines() {
        let uevent = "MAJOR=252\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\njunk\nX==y\n";
        let props: Vec<_> = uevent_properties(uevent).collect();
        assert_eq!(
            props,
            [
                ("MAJOR", "252"),
                ("MINOR", "0"),
                ("DEVNAME", "vda"),
                ("DEVTYPE", "disk"),
                ("X", "=y")
            ]
        );
        let db = "S:disk/by-id/virtio-abc\nI:123\nE:ID_SERIAL=abc\nE:DM_NAME=\nE:bad\nG:systemd\n";
        let props: Vec<_> = db_properties(db).collect();
        assert_eq!(props, [("ID_SERIAL", "abc"), ("DM_NAME", "")]);
        assert_eq!(devnode("vda"), "/dev/vda");
        assert_eq!(devnode("/dev/mapper/x"), "/dev/mapper/x");
        assert_eq!(db_record_name(true, "252", "0"), "b252:0");
        assert_eq!(db_record_name(false, "4", "1"), "c4:1");
    }
}
