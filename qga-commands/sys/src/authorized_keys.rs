//! `~/.ssh/authorized_keys` as QEMU's agent reads it: the text ends at its
//! first NUL byte (a C string), lines are split at `\n`, and a line is a key
//! once GLib's `g_strstrip` has taken ASCII white space (vertical tab
//! included) off both ends, unless it is then empty or a `#` comment. The
//! file is written by a guest user; these functions take any bytes.

/// The lines of the file's text `text`, split at `\n` up to its first NUL
/// byte (the last line may be empty).
pub fn lines(text: &[u8]) -> Vec<Vec<u8>> {
    let text = &text[..text.iter().position(|&b| b == 0).unwrap_or(text.len())];
    text.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
}

/// `line` without the ASCII white space (vertical tab included) at its
/// ends, as GLib's `g_strstrip` leaves it.
pub fn strip(line: &[u8]) -> &[u8] {
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
    let start = line.iter().position(|b| !space(b)).unwrap_or(line.len());
    let end = line.iter().rposition(|b| !space(b)).map_or(start, |at| at + 1);
    &line[start..end]
}

/// The keys of `lines` (stripped; empty lines and comments left out), in
/// file order.
pub fn keys(lines: &[Vec<u8>]) -> impl DoubleEndedIterator<Item = &[u8]> {
    lines
        .iter()
        .map(|line| strip(line))
        .filter(|line| !line.is_empty() && line[0] != b'#')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_as_qemu_reads_them() {
        let text = b"ssh-ed25519 AAAA a@b\n  # comment\n\n\x0b ssh-rsa BBBB c@d \r\nlast\0after the end\nx";
        let lines = lines(text);
        assert_eq!(lines.len(), 5);
        let keys: Vec<&[u8]> = keys(&lines).collect();
        assert_eq!(keys, [&b"ssh-ed25519 AAAA a@b"[..], b"ssh-rsa BBBB c@d", b"last"]);
        assert_eq!(strip(b" \t "), b"");
        assert_eq!(super::lines(b""), [Vec::<u8>::new()]);
    }
}
