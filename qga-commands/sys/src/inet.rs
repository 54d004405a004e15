//! Internet addresses as text, written as glibc's `inet_ntop` writes them
//! (the agent's replies show them so).

/// An IPv4 address (network byte order) as dotted decimal text.
pub fn ipv4_text(bytes: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", bytes[0], bytes[1], bytes[2], bytes[3])
}

/// An IPv6 address as glibc's `inet_ntop` writes it: the longest run of
/// two or more zero groups (the first of equal ones) shortened to `::`,
/// and the last four bytes dotted for IPv4-compatible and IPv4-mapped
/// addresses.
pub fn ipv6_text(bytes: &[u8; 16]) -> String {
    let words: Vec<u16> = bytes
        .chunks(2)
        .map(|w| u16::from_be_bytes([w[0], w[1]]))
        .collect();
    // The longest run of zero groups: (start, length).
    let mut best: Option<(usize, usize)> = None;
    let mut run: Option<(usize, usize)> = None;
    for (i, &w) in words.iter().enumerate() {
        if w == 0 {
            let r = run.map_or((i, 1), |(s, l)| (s, l + 1));
            run = Some(r);
            if best.is_none_or(|(_, l)| r.1 > l) {
                best = Some(r);
            }
        } else {
            run = None;
        }
    }
    let best = best.filter(|&(_, l)| l >= 2);
    let mut out = String::new();
    let mut i = 0;
    while i < 8 {
        if let Some((start, len)) = best {
            if i >= start && i < start + len {
                if i == start {
                    out.push(':');
                }
                i += 1;
                continue;
            }
        }
        if i != 0 {
            out.push(':');
        }
        let embedded_v4 =
            i == 6 && matches!(best, Some((0, len)) if len == 6 || (len == 5 && words[5] == 0xffff));
        if embedded_v4 {
            out.push_str(&ipv4_text([bytes[12], bytes[13], bytes[14], bytes[15]]));
            return out;
        }
        out.push_str(&format!("{:x}", words[i]));
        i += 1;
    }
    if best.is_some_and(|(start, len)| start + len == 8) {
        out.push(':');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn v6(text: &str) -> String {
        ipv6_text(&text.parse::<Ipv6Addr>().unwrap().octets())
    }

    #[test]
    fn ipv4_is_dotted() {
        assert_eq!(ipv4_text([192, 0, 2, 1]), "192.0.2.1");
        assert_eq!(ipv4_text([0; 4]), "0.0.0.0");
    }

    #[test]
    fn ipv6_is_written_as_glibc_writes_it() {
        assert_eq!(v6("::"), "::");
        assert_eq!(v6("::1"), "::1");
        assert_eq!(v6("fe80::fc:ff:fe00:1"), "fe80::fc:ff:fe00:1");
        assert_eq!(v6("fd00::2"), "fd00::2");
        assert_eq!(v6("1:0:2:3:4:5:6:7"), "1:0:2:3:4:5:6:7");
        assert_eq!(v6("1:0:0:2:0:0:3:4"), "1::2:0:0:3:4");
        assert_eq!(v6("1:2:3:4:5:6:7:0"), "1:2:3:4:5:6:7:0");
        assert_eq!(v6("1:2:3:4:5:6:0:0"), "1:2:3:4:5:6::");
        assert_eq!(v6("::ffff:192.0.2.1"), "::ffff:192.0.2.1");
        assert_eq!(v6("::192.0.2.1"), "::192.0.2.1");
        // As glibc: six leading zero groups read as IPv4-compatible.
        assert_eq!(v6("::2:3"), "::0.2.0.3");
        assert_eq!(v6("::ffff:0:1.2.3.4"), "::ffff:0:102:304");
        assert_eq!(v6("0:0:1::"), "0:0:1::");
        assert_eq!(v6("::1:0:0:0"), "::1:0:0:0");
        assert_eq!(v6("0:0:0:1::"), "0:0:0:1::");
        assert_eq!(v6("ff02::1:ff00:1"), "ff02::1:ff00:1");
        assert_eq!(v6("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
    }
}
