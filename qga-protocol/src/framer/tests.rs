#![allow(clippy::unwrap_used)]

use super::*;

/// What the framer produced, owned, for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Msg(String),
    Err(FrameError),
}

fn frames_with(framer: &mut Framer, chunks: &[&[u8]]) -> Vec<Out> {
    let mut out = Vec::new();
    for chunk in chunks {
        framer.feed(chunk, |f| {
            out.push(match f {
                Frame::Message(m) => Out::Msg(String::from_utf8_lossy(m).into_owned()),
                Frame::Error(e) => Out::Err(e),
            })
        });
    }
    out
}

fn frames(input: &[u8]) -> Vec<Out> {
    frames_with(&mut Framer::new(), &[input])
}

fn msg(s: &str) -> Out {
    Out::Msg(s.to_string())
}

fn stray(s: &[u8]) -> Out {
    Out::Err(FrameError::Stray(s.to_vec()))
}

const STREAM: &[u8] = b"{\"execute\":\"guest-sync\",\"arguments\":{\"id\":-12345}} \n\t\
    {'execute':'guest-ping','id':[1.5e3,true,null,\"a\\\"}\\\\\"]}\
    {\"execute\":\"guest-file-write\",\"arguments\":{\"buf-b64\":\"aGVsbG8=\",\"x\":0}}\r\n";

fn stream_messages() -> Vec<Out> {
    vec![
        msg(r#"{"execute":"guest-sync","arguments":{"id":-12345}}"#),
        msg(r#"{'execute':'guest-ping','id':[1.5e3,true,null,"a\"}\\"]}"#),
        msg(r#"{"execute":"guest-file-write","arguments":{"buf-b64":"aGVsbG8=","x":0}}"#),
    ]
}

#[test]
fn splits_a_stream_into_messages() {
    assert_eq!(frames(STREAM), stream_messages());
}

#[test]
fn every_split_point_gives_the_same_messages() {
    for at in 0..=STREAM.len() {
        let (a, b) = STREAM.split_at(at);
        assert_eq!(
            frames_with(&mut Framer::new(), &[a, b]),
            stream_messages(),
            "split at {at}"
        );
    }
    for at in 0..=STREAM.len() {
        for at2 in at..=STREAM.len() {
            let parts = [&STREAM[..at], &STREAM[at..at2], &STREAM[at2..]];
            assert_eq!(frames_with(&mut Framer::new(), &parts), stream_messages());
        }
    }
}

#[test]
fn one_byte_at_a_time_gives_the_same_messages() {
    let chunks: Vec<&[u8]> = STREAM.chunks(1).collect();
    assert_eq!(frames_with(&mut Framer::new(), &chunks), stream_messages());
}

/// Message boundaries in STREAM as (start, end) byte ranges.
fn message_spans() -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut from = 0;
    for m in stream_messages() {
        let Out::Msg(text) = m else { unreachable!() };
        let start = from
            + STREAM[from..]
                .windows(text.len())
                .position(|w| w == text.as_bytes())
                .unwrap();
        spans.push((start, start + text.len()));
        from = start + text.len();
    }
    spans
}

#[test]
fn a_sentinel_anywhere_drops_only_the_message_it_lands_in() {
    let spans = message_spans();
    let all = stream_messages();
    for at in 0..=STREAM.len() {
        let mut input = STREAM[..at].to_vec();
        input.push(0xFF);
        input.extend_from_slice(&STREAM[at..]);
        for split in [None, Some(at), Some(at + 1)] {
            let out = match split {
                None => frames(&input),
                Some(s) => frames_with(&mut Framer::new(), &[&input[..s], &input[s..]]),
            };
            let errors: Vec<_> = out.iter().filter(|o| matches!(o, Out::Err(_))).collect();
            assert!(
                errors
                    .iter()
                    .any(|e| matches!(e, Out::Err(FrameError::Stray(t)) if t.last() == Some(&0xFF))),
                "no 0xFF error for position {at}: {out:?}"
            );
            // Every message that does not contain the position survives, in order.
            let expected: Vec<&Out> = spans
                .iter()
                .zip(&all)
                .filter(|((s, e), _)| !(*s < at && at < *e))
                .map(|(_, m)| m)
                .collect();
            let mut rest = out.iter();
            for m in &expected {
                assert!(rest.any(|o| o == *m), "lost {m:?} with 0xFF at {at}: {out:?}");
            }
        }
    }
}

#[test]
fn sentinel_discards_a_partial_message() {
    assert_eq!(
        frames(b"{\"execute\":\"guest-ping\"  \xff {\"execute\":\"guest-ping\"}"),
        vec![stray(b"\xff"), msg(r#"{"execute":"guest-ping"}"#)]
    );
    assert_eq!(
        frames(b"{\"execute\":\"gue\xffst\"} {}"),
        vec![stray(b"\"gue\xff"), msg("}"), msg("{}")]
    );
}

#[test]
fn stray_bytes_report_their_token_and_skip_to_a_resync_byte() {
    assert_eq!(frames(b"@"), vec![stray(b"@")]);
    assert_eq!(frames(b"@ abc\n{}"), vec![stray(b"@"), msg("{}")]);
    assert_eq!(frames(b"abc@def\n"), vec![msg("abc"), stray(b"@")]);
    assert_eq!(
        frames(b"@x{\"execute\":\"guest-ping\"}"),
        vec![stray(b"@"), msg(r#"{"execute":"guest-ping"}"#)]
    );
    assert_eq!(frames(b"1.x 2 {}"), vec![stray(b"1.x"), msg("{}")]);
    assert_eq!(frames(b"-x"), vec![stray(b"-x")]);
    assert_eq!(frames(b"01 "), vec![stray(b"01")]);
    assert_eq!(frames(b"\"a\x01\"}"), vec![stray(b"\"a\x01"), msg("}")]);
    assert_eq!(frames(b"\xc3\xa9 {}"), vec![stray(b"\xc3"), msg("{}")]);
    assert_eq!(frames(b"\xff\xff"), vec![stray(b"\xff"), stray(b"\xff")]);
    assert_eq!(frames(b"\x01"), vec![stray(b"\x01")]);
    // Control characters end recovery and are themselves stray.
    assert_eq!(frames(b"@\x01"), vec![stray(b"@"), stray(b"\x01")]);
}

#[test]
fn stray_text_spanning_chunks_is_whole() {
    assert_eq!(
        frames_with(&mut Framer::new(), &[b"{\"abc", b"def\x01"]),
        vec![stray(b"\"abcdef\x01")]
    );
    assert_eq!(
        FrameError::Stray(b"\"a\x00b".to_vec()).to_string(),
        "JSON parse error, stray '\"a'",
        "NUL ends the text as in C"
    );
    assert_eq!(
        FrameError::Stray(vec![0xFF]).to_string(),
        "JSON parse error, stray '\u{FFFD}'"
    );
}

#[test]
fn top_level_scalars_need_a_following_byte() {
    let mut framer = Framer::new();
    assert_eq!(frames_with(&mut framer, &[b"42"]), vec![]);
    assert!(!framer.is_idle());
    assert_eq!(frames_with(&mut framer, &[b" "]), vec![msg("42")]);
    assert_eq!(frames(b"\"abc\""), vec![msg("\"abc\"")]);
    assert_eq!(frames(b"true}"), vec![msg("true"), msg("}")]);
}

#[test]
fn unbalanced_closers_are_handed_over_at_once() {
    assert_eq!(frames(b"}"), vec![msg("}")]);
    assert_eq!(
        frames(b"{\"execute\":\"guest-ping\"]"),
        vec![msg(r#"{"execute":"guest-ping"]"#)]
    );
    assert_eq!(frames(b"[[{}]]"), vec![msg("[[{}]]")]);
    // Counted apart, as QEMU counts them: `}` does not close `[`.
    assert_eq!(frames(b"{\"a\":[}"), vec![]);
    assert_eq!(frames(b"{\"a\":[}]"), vec![msg(r#"{"a":[}]"#)]);
}

#[test]
fn depth_limit_matches_qemu() {
    let mut input = b"[".repeat(1100);
    input.extend_from_slice(&b"]".repeat(1100));
    let out = frames(&input);
    assert_eq!(out[0], Out::Err(FrameError::TooDeep));
    // The remaining 75 '[' make one message once closed, then each extra
    // ']' is a message of its own, as in QEMU.
    assert_eq!(out[1], msg(&format!("{}{}", "[".repeat(75), "]".repeat(75))));
    assert_eq!(out.len(), 2 + 1025);
    assert!(out[2..].iter().all(|o| *o == msg("]")));
    // Exactly at the limit is fine.
    let ok = format!("{}{}", "[".repeat(1024), "]".repeat(1024));
    assert_eq!(frames(ok.as_bytes()), vec![msg(&ok)]);
}

fn small_limits() -> Limits {
    Limits {
        max_message_bytes: 64,
        max_tokens: 10,
        max_depth: 4,
    }
}

#[test]
fn size_limit_rejects_without_buffering_the_whole_message() {
    let mut framer = Framer::with_limits(small_limits());
    let big = format!("{{\"a\":\"{}\"}} {{}}", "x".repeat(1000));
    // Fed in small chunks: the buffer never grows past the limit.
    let mut out = Vec::new();
    for chunk in big.as_bytes().chunks(7) {
        out.extend(frames_with(&mut framer, &[chunk]));
        assert!(
            framer.buf.capacity() <= 2 * 64 + 16,
            "buffered {}",
            framer.buf.capacity()
        );
    }
    assert_eq!(out, vec![Out::Err(FrameError::TooLarge), msg("}"), msg("{}")]);
    // In one chunk too.
    assert_eq!(
        frames_with(&mut Framer::with_limits(small_limits()), &[big.as_bytes()]),
        vec![Out::Err(FrameError::TooLarge), msg("}"), msg("{}")]
    );
    // A top-level string is bounded as well.
    let s = format!("\"{}\" {{}}", "y".repeat(100));
    assert_eq!(
        frames_with(&mut Framer::with_limits(small_limits()), &[s.as_bytes()]),
        vec![Out::Err(FrameError::TooLarge), msg("{}")]
    );
}

#[test]
fn token_count_limit() {
    let out = frames_with(&mut Framer::with_limits(small_limits()), &[b"[1,2,3,4,5,6] {}"]);
    assert_eq!(out[0], Out::Err(FrameError::TooManyTokens));
    assert_eq!(out.last(), Some(&msg("{}")));
}

#[test]
fn reset_forgets_partial_input() {
    let mut framer = Framer::new();
    assert_eq!(frames_with(&mut framer, &[b"{\"execute\":"]), vec![]);
    framer.reset();
    assert!(framer.is_idle());
    assert_eq!(frames_with(&mut framer, &[b"{}"]), vec![msg("{}")]);
}

#[test]
fn long_strings_are_scanned_whole() {
    let payload = "QUJD".repeat(100_000);
    let text = format!(
        "{{\"execute\":\"guest-file-write\",\"arguments\":{{\"handle\":1,\"buf-b64\":\"{payload}\"}}}}"
    );
    for chunk in [4096, 65536, text.len()] {
        let chunks: Vec<&[u8]> = text.as_bytes().chunks(chunk).collect();
        assert_eq!(frames_with(&mut Framer::new(), &chunks), vec![msg(&text)]);
    }
    let mut bad = text.clone().into_bytes();
    let at = bad.len() - 1000;
    bad[at] = b'\n';
    let quote = text.find(&payload).unwrap() - 1;
    let out = frames(&bad);
    // The token's start, the mark of the cut, the bad byte.
    let mut kept = bad[quote..quote + STRAY_MAX - 4].to_vec();
    kept.extend_from_slice(b"...\n");
    assert_eq!(out[0], stray(&kept));
}

#[test]
fn a_long_stray_token_is_kept_short_however_it_arrives() {
    let mut input = b"{\"execute\":\"".to_vec();
    input.extend_from_slice(&b"x".repeat(8 << 20));
    input.push(0x7f - 0x7e); // a control character inside the string
    input.extend_from_slice(b"\n{}");
    let mut expected = b"\"".to_vec();
    expected.extend_from_slice(&b"x".repeat(STRAY_MAX - 5));
    expected.extend_from_slice(b"...\x01");
    for chunk in [1 << 10, 64 << 10, input.len()] {
        let chunks: Vec<&[u8]> = input.chunks(chunk).collect();
        let out = frames_with(&mut Framer::new(), &chunks);
        assert_eq!(out, vec![stray(&expected), msg("{}")], "chunks of {chunk}");
    }
    let desc = FrameError::Stray(expected).to_string();
    assert!(desc.len() <= STRAY_MAX + 32, "{}", desc.len());
    assert!(desc.ends_with("x...\u{1}'"), "{desc}");
    // Exactly at the bound: whole.
    let whole = format!("\"{}\x01", "y".repeat(STRAY_MAX - 2));
    assert_eq!(frames(whole.as_bytes()), vec![stray(whole.as_bytes())]);
}

#[test]
fn a_cut_stray_token_does_not_end_inside_a_character() {
    // "\u{e9}" is two bytes; the first one is placed across the cut.
    let mut token = b"\"".to_vec();
    token.extend_from_slice(&b"a".repeat(STRAY_MAX - 6));
    token.extend_from_slice("\u{e9}\u{e9}".as_bytes());
    token.extend_from_slice(&b"b".repeat(100));
    token.push(0xFF);
    let out = frames(&token);
    let Out::Err(FrameError::Stray(text)) = &out[0] else {
        panic!("{out:?}")
    };
    // The first "\u{e9}" would be cut in two: it is left out whole.
    assert_eq!(text.len(), STRAY_MAX - 1);
    assert!(text.ends_with(b"a...\xff"), "{:?}", String::from_utf8_lossy(text));
    assert!(std::str::from_utf8(&text[..text.len() - 1]).is_ok());
    // A token built elsewhere is shown as short.
    let shown = FrameError::Stray(token.clone()).to_string();
    assert_eq!(shown, FrameError::Stray(text.clone()).to_string());
}
