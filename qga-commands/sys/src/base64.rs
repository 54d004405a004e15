//! Base64 as QEMU's agent reads it from hosts.
//!
//! QEMU accepts only the base64 alphabet, `=` and newlines (anything else is
//! "Base64 data contains invalid characters"), then decodes leniently:
//! newlines are skipped, input is taken four characters at a time with `=`
//! counting as a zero that suppresses its output byte, and an incomplete
//! final group is dropped. Hosts rely on that (unpadded data is accepted), so
//! this decoder keeps the same rules. Encoding is plain RFC 4648 with padding
//! (the `base64` crate).

/// Input with a character outside the base64 alphabet, `=` and newline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("base64 data contains invalid characters")]
pub struct InvalidBase64;

fn rank(c: u8) -> Option<u32> {
    Some(u32::from(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        b'=' => 0,
        _ => return None,
    }))
}

/// Decodes `input` as QEMU's agent does.
pub fn decode(input: &str) -> Result<Vec<u8>, InvalidBase64> {
    let bytes = input.as_bytes();
    if bytes.iter().any(|&c| c != b'\n' && rank(c).is_none()) {
        return Err(InvalidBase64);
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let mut group = [0u8; 4];
    let mut filled = 0;
    for &c in bytes.iter().filter(|&&c| c != b'\n') {
        group[filled] = c;
        filled += 1;
        if filled < 4 {
            continue;
        }
        filled = 0;
        let value = group.iter().fold(0u32, |v, &c| (v << 6) | rank(c).unwrap_or(0));
        out.push((value >> 16) as u8);
        if group[2] != b'=' {
            out.push((value >> 8) as u8);
        }
        if group[3] != b'=' {
            out.push(value as u8);
        }
    }
    Ok(out)
}

/// Encodes `data` with padding.
pub fn encode(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_qemu() {
        assert_eq!(decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode("aGVsbG8").unwrap(), b"hel", "incomplete group dropped");
        assert_eq!(decode("aGVs\nbG8=\n").unwrap(), b"hello");
        assert_eq!(decode("aGk=").unwrap(), b"hi");
        assert_eq!(decode("aA==").unwrap(), b"h");
        assert_eq!(decode("").unwrap(), b"");
        for bad in ["!!!", "aGVs bG8=", "aGVsbG8=\r\n", "a-b_"] {
            assert_eq!(decode(bad), Err(InvalidBase64));
        }
    }

    #[test]
    fn round_trips_every_length() {
        let data: Vec<u8> = (0..=255u8).collect();
        for len in 0..data.len() {
            assert_eq!(decode(&encode(&data[..len])).unwrap(), &data[..len]);
        }
    }
}
