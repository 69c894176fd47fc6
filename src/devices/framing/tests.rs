use super::*;

const TERMINATORS: &[&str] = &[
    "cr", "lf", "crlf", "any", "\u{3}", "<END>", "aab", "\r\n\r\n",
];

fn scan(s: &[u8]) -> FramedLine {
    FramedLine::Scan(s.to_vec())
}

fn overlong(s: &[u8]) -> FramedLine {
    FramedLine::Rejected {
        reason: REASON_OVERLONG,
        bytes: s.to_vec(),
    }
}

/// Feeds `chunks` one push at a time, checking the memory bound after each.
fn feed(framer: &mut Framer, chunks: &[&[u8]]) -> Vec<FramedLine> {
    let capacity = framer.buffer_capacity();
    let mut out = Vec::new();
    for chunk in chunks {
        framer.push(chunk, &mut out);
        assert!(framer.buffered() <= framer.max_line + framer.terminator.len());
        assert_eq!(
            framer.buffer_capacity(),
            capacity,
            "the line buffer reallocated"
        );
    }
    out
}

fn frame(
    term: &str,
    prefix: Option<&str>,
    suffix: Option<&str>,
    max: usize,
    input: &[u8],
) -> Vec<FramedLine> {
    feed(&mut Framer::new(term, prefix, suffix, max), &[input])
}

/// The terminator's bytes as a scanner sends them (`any` sent as CRLF).
fn term_bytes(term: &str) -> Vec<u8> {
    match Terminator::parse(term) {
        Terminator::Any => b"\r\n".to_vec(),
        Terminator::Exact(seq) => seq,
    }
}

/// Reference model: frames the whole stream at once, the obvious way.
fn model(term: &str, prefix: &[u8], suffix: &[u8], max: usize, input: &[u8]) -> Vec<FramedLine> {
    let mut lines: Vec<&[u8]> = Vec::new();
    match Terminator::parse(term) {
        Terminator::Any => {
            let mut start = 0;
            let mut i = 0;
            while i < input.len() {
                match input[i] {
                    b'\r' => {
                        lines.push(&input[start..i]);
                        if input.get(i + 1) == Some(&b'\n') {
                            i += 1;
                        }
                        start = i + 1;
                    }
                    b'\n' => {
                        lines.push(&input[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        Terminator::Exact(seq) => {
            let mut rest = input;
            while let Some(at) = rest.windows(seq.len()).position(|w| w == seq.as_slice()) {
                lines.push(&rest[..at]);
                rest = &rest[at + seq.len()..];
            }
        }
    }
    let mut out = Vec::new();
    for line in lines {
        if line.len() > max {
            out.push(overlong(&line[..max]));
            continue;
        }
        let mut s = line;
        if !prefix.is_empty() && s.starts_with(prefix) {
            s = &s[prefix.len()..];
        }
        if !suffix.is_empty() && s.ends_with(suffix) {
            s = &s[..s.len() - suffix.len()];
        }
        if !s.is_empty() {
            out.push(scan(s));
        }
    }
    out
}

/// Small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn terminator_names() {
    assert_eq!(Terminator::parse("cr"), Terminator::Exact(b"\r".to_vec()));
    assert_eq!(Terminator::parse("lf"), Terminator::Exact(b"\n".to_vec()));
    assert_eq!(
        Terminator::parse("crlf"),
        Terminator::Exact(b"\r\n".to_vec())
    );
    assert_eq!(Terminator::parse("any"), Terminator::Any);
    assert_eq!(Terminator::parse(""), Terminator::Any);
    assert_eq!(
        Terminator::parse("<ETX>"),
        Terminator::Exact(b"<ETX>".to_vec())
    );
    assert_eq!(Terminator::parse("\u{3}"), Terminator::Exact(vec![3]));
}

#[test]
fn cr() {
    let out = frame("cr", None, None, 64, b"A1\rB2\n\rC3\r\r");
    assert_eq!(out, vec![scan(b"A1"), scan(b"B2\n"), scan(b"C3")]);
}

#[test]
fn lf() {
    let out = frame("lf", None, None, 64, b"A1\nB2\r\n\nC3\n");
    assert_eq!(out, vec![scan(b"A1"), scan(b"B2\r"), scan(b"C3")]);
}

#[test]
fn crlf() {
    let out = frame("crlf", None, None, 64, b"A1\r\nB\r2\nX\r\n\r\nC3\r\r\n");
    assert_eq!(out, vec![scan(b"A1"), scan(b"B\r2\nX"), scan(b"C3\r")]);
}

#[test]
fn any_accepts_cr_lf_and_crlf_without_empty_lines() {
    let out = frame("any", None, None, 64, b"A1\rB2\nC3\r\nD4\n\rE5\r\r\n\n");
    assert_eq!(
        out,
        vec![
            scan(b"A1"),
            scan(b"B2"),
            scan(b"C3"),
            scan(b"D4"),
            scan(b"E5")
        ]
    );
}

#[test]
fn any_crlf_split_across_reads_makes_one_line() {
    let mut f = Framer::new("any", None, None, 64);
    let mut out = Vec::new();
    f.push(b"SCAN:1\r", &mut out);
    assert_eq!(out, vec![scan(b"SCAN:1")], "the CR ends the line at once");
    out.clear();
    // The LF arrives later, in another read: not a second (empty) line.
    f.push(b"\n", &mut out);
    assert!(out.is_empty());
    f.push(b"SCAN:2\n", &mut out);
    assert_eq!(out, vec![scan(b"SCAN:2")]);
}

#[test]
fn custom_terminators() {
    assert_eq!(
        frame("\u{3}", None, None, 64, b"A\x03B\rC\x03"),
        vec![scan(b"A"), scan(b"B\rC")]
    );
    assert_eq!(
        frame("<END>", None, None, 64, b"A<EN<END>B<<END>"),
        vec![scan(b"A<EN"), scan(b"B<")]
    );
    // Self-overlapping terminator: "aaab" is "a" + "aab".
    assert_eq!(
        frame("aab", None, None, 64, b"xaaabyaabaab"),
        vec![scan(b"xa"), scan(b"y")]
    );
    assert_eq!(
        frame("\r\n\r\n", None, None, 64, b"A\r\nB\r\n\r\nC\r\n\r\r\n\r\n"),
        vec![scan(b"A\r\nB"), scan(b"C\r\n\r")]
    );
}

#[test]
fn custom_terminator_split_across_reads() {
    let mut f = Framer::new("<END>", None, None, 64);
    let out = feed(&mut f, &[b"SCAN:1<E", b"N", b"D><", b"END", b">"]);
    assert_eq!(out, vec![scan(b"SCAN:1")]);
    assert_eq!(f.buffered(), 0);
}

#[test]
fn every_split_point_matches_one_push() {
    for &term in TERMINATORS {
        let t = term_bytes(term);
        let mut input = Vec::new();
        for line in [
            &b"]C1\x1d0109501101530003"[..],
            b"A\r",
            b"",
            b"\x00\x00",
            b"B\nB",
            b"aa",
            b"abcdefghijklmnop",
        ] {
            input.extend_from_slice(line);
            input.extend_from_slice(&t);
        }
        input.extend_from_slice(b"\r\n\n\rZ");
        input.extend_from_slice(&t);
        let whole = frame(term, None, None, 8, &input);
        assert_eq!(
            whole,
            model(term, b"", b"", 8, &input),
            "terminator {term:?}"
        );
        assert!(
            whole
                .iter()
                .any(|l| matches!(l, FramedLine::Rejected { .. })),
            "covers the overlong path"
        );
        for i in 0..=input.len() {
            let two = feed(
                &mut Framer::new(term, None, None, 8),
                &[&input[..i], &input[i..]],
            );
            assert_eq!(two, whole, "terminator {term:?}, split at {i}");
            for j in i..=input.len() {
                let three = feed(
                    &mut Framer::new(term, None, None, 8),
                    &[&input[..i], &input[i..j], &input[j..]],
                );
                assert_eq!(three, whole, "terminator {term:?}, split at {i} and {j}");
            }
        }
        let bytewise: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(
            feed(&mut Framer::new(term, None, None, 8), &bytewise),
            whole,
            "terminator {term:?}, bytewise"
        );
    }
}

#[test]
fn random_streams_match_the_model() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let alphabet: &[u8] = b"ab<>ENDPS\r\n\x00\x1d\x03";
    for &term in TERMINATORS {
        for &(prefix, suffix) in &[("", ""), ("P", ""), ("", "S"), ("PP", "SS")] {
            for round in 0..200 {
                let len = rng.below(120);
                let mut input: Vec<u8> = (0..len)
                    .map(|_| alphabet[rng.below(alphabet.len())])
                    .collect();
                // Sprinkle whole terminators so lines stay short.
                for _ in 0..rng.below(8) {
                    let at = rng.below(input.len() + 1);
                    input.splice(at..at, term_bytes(term));
                }
                input.extend(term_bytes(term));
                let max = 1 + rng.below(12);
                let expected = model(term, prefix.as_bytes(), suffix.as_bytes(), max, &input);
                let mut chunks = Vec::new();
                let mut rest = &input[..];
                while !rest.is_empty() {
                    let n = 1 + rng.below(rest.len().min(9));
                    chunks.push(&rest[..n]);
                    rest = &rest[n..];
                }
                let (p, s) = (
                    (!prefix.is_empty()).then_some(prefix),
                    (!suffix.is_empty()).then_some(suffix),
                );
                let got = feed(&mut Framer::new(term, p, s, max), &chunks);
                assert_eq!(got, expected, "terminator {term:?} prefix {prefix:?} suffix {suffix:?} round {round} input {input:?} max {max}");
            }
        }
    }
}

#[test]
fn max_line_is_inclusive() {
    for &term in TERMINATORS {
        let t = term_bytes(term);
        let mut input = b"0123456789ABCDEF".to_vec();
        input.extend_from_slice(&t);
        input.extend_from_slice(b"0123456789ABCDEFG");
        input.extend_from_slice(&t);
        assert_eq!(
            frame(term, None, None, 16, &input),
            vec![scan(b"0123456789ABCDEF"), overlong(b"0123456789ABCDEF")],
            "terminator {term:?}"
        );
    }
}

#[test]
fn overlong_line_then_valid_line() {
    for &term in TERMINATORS {
        let t = term_bytes(term);
        let long = vec![b'x'; 100_000];
        let mut f = Framer::new(term, None, None, 32);
        let mut out = Vec::new();
        // The overlong line arrives over many reads and is rejected once, early.
        for chunk in long.chunks(1000) {
            f.push(chunk, &mut out);
            assert!(f.buffered() <= 32 + t.len());
        }
        assert_eq!(out, vec![overlong(&[b'x'; 32])], "terminator {term:?}");
        assert!(f.is_discarding());
        out.clear();
        let mut tail = t.clone();
        tail.extend_from_slice(b"SCAN:1");
        tail.extend_from_slice(&t);
        tail.extend_from_slice(b"SCAN:2");
        tail.extend_from_slice(&t);
        f.push(&tail, &mut out);
        assert_eq!(
            out,
            vec![scan(b"SCAN:1"), scan(b"SCAN:2")],
            "terminator {term:?}"
        );
        assert!(!f.is_discarding());
    }
}

#[test]
fn overlong_line_with_the_terminator_split_across_reads() {
    let mut f = Framer::new("<END>", None, None, 4);
    let out = feed(&mut f, &[b"0123456789<E", b"ND", b">OK<EN", b"D>"]);
    assert_eq!(out, vec![overlong(b"0123"), scan(b"OK")]);
}

#[test]
fn partial_terminator_does_not_count_against_max_line() {
    // 4 bytes of content, then a terminator that starts with a byte of the content's alphabet.
    assert_eq!(frame("aab", None, None, 4, b"xxxaaab"), vec![scan(b"xxxa")]);
    assert_eq!(frame("aab", None, None, 4, b"xxxxaab"), vec![scan(b"xxxx")]);
    assert_eq!(
        frame("aab", None, None, 4, b"xxxxaaab"),
        vec![overlong(b"xxxx")]
    );
}

#[test]
fn one_mib_of_random_binary_then_valid_lines() {
    let mut rng = Rng(0x0bad_cafe_f00d_0042);
    for &term in TERMINATORS {
        let t = term_bytes(term);
        let max = 64;
        let garbage = rng.bytes(1 << 20);
        let mut valid = Vec::new();
        let mut expected = Vec::new();
        // A terminator first, so the garbage's tail does not run into the first valid line.
        valid.extend_from_slice(&t);
        for i in 0..100 {
            let line = format!("]C1\x1d01095011015300031721123110LOT{i}");
            valid.extend_from_slice(line.as_bytes());
            valid.extend_from_slice(&t);
            expected.push(scan(line.as_bytes()));
        }
        let mut f = Framer::new(term, None, None, max);
        let mut out = Vec::new();
        let mut rest = &garbage[..];
        while !rest.is_empty() {
            let n = (1 + rng.below(4096)).min(rest.len());
            f.push(&rest[..n], &mut out);
            assert!(
                f.buffered() <= max + t.len(),
                "terminator {term:?}: memory bounded by max_line"
            );
            rest = &rest[n..];
        }
        for l in &out {
            match l {
                FramedLine::Scan(s) => assert!(!s.is_empty() && s.len() <= max),
                FramedLine::Rejected { bytes, .. } => assert_eq!(bytes.len(), max),
            }
        }
        let garbage_frames = out.len();
        f.push(&valid, &mut out);
        // The first terminator may end the garbage's own partial line: one more frame at most.
        let after = out.len() - garbage_frames;
        assert!(
            after == expected.len() || after == expected.len() + 1,
            "terminator {term:?}: {after} frames"
        );
        let got = &out[out.len() - expected.len()..];
        assert!(
            got == &expected[..],
            "terminator {term:?}: every valid line after the garbage"
        );
        assert_eq!(f.buffered(), 0);
    }
}

#[test]
fn nul_bytes_gs_and_invalid_utf8_are_kept() {
    let out = frame(
        "any",
        None,
        None,
        64,
        b"\x00\r]C1\x1d0109501101530003\x1d10AB\r\nA\x00B\xff\xfe\xc3\n\x1b[31m\n",
    );
    assert_eq!(
        out,
        vec![
            scan(b"\x00"),
            scan(b"]C1\x1d0109501101530003\x1d10AB"),
            scan(b"A\x00B\xff\xfe\xc3"),
            scan(b"\x1b[31m"),
        ]
    );
}

#[test]
fn prefix_and_suffix_are_removed_only_where_present() {
    let out = frame(
        "crlf",
        Some("STX:"),
        Some(":ETX"),
        64,
        b"STX:A1:ETX\r\nB2:ETX\r\nSTX:C3\r\nD4\r\nSTX::ETX\r\nSTX:ETX\r\n:ETXSTX:\r\n",
    );
    assert_eq!(
        out,
        vec![
            scan(b"A1"),
            scan(b"B2"),
            scan(b"C3"),
            scan(b"D4"),
            scan(b"ETX"),
            scan(b":ETXSTX:")
        ]
    );
    // Only at the edges, and only once.
    let out = frame("lf", Some("P"), Some("S"), 64, b"PPxSS\nxPSx\n");
    assert_eq!(out, vec![scan(b"PxS"), scan(b"xPSx")]);
    // A prefix longer than the line, and an empty prefix (treated as none).
    let out = frame("lf", Some("LONGPREFIX"), Some(""), 64, b"LONG\n");
    assert_eq!(out, vec![scan(b"LONG")]);
}

#[test]
fn empty_lines_are_skipped_not_rejected() {
    for &term in TERMINATORS {
        let t = term_bytes(term);
        let input: Vec<u8> = [t.clone(), t.clone(), b"A".to_vec(), t.clone(), t.clone()].concat();
        assert_eq!(
            frame(term, None, None, 16, &input),
            vec![scan(b"A")],
            "terminator {term:?}"
        );
    }
}

#[test]
fn discard_partial_drops_the_line_in_progress() {
    for &term in TERMINATORS {
        let t = term_bytes(term);
        let mut f = Framer::new(term, None, None, 16);
        let mut out = Vec::new();
        let mut first: Vec<u8> = b"SCAN:1".to_vec();
        first.extend_from_slice(&t);
        first.extend_from_slice(b"PARTIAL");
        // And the start of its terminator (for `any` a CR would already end the line).
        if term != "any" {
            first.extend_from_slice(&t[..t.len() - 1]);
        }
        f.push(&first, &mut out);
        assert_eq!(out, vec![scan(b"SCAN:1")], "terminator {term:?}");
        assert!(f.discard_partial() >= 7);
        assert_eq!(f.buffered(), 0);
        out.clear();
        // The last byte of the terminator after the reconnect does not complete the old line.
        let mut second = t[t.len() - 1..].to_vec();
        second.extend_from_slice(&t);
        second.extend_from_slice(b"SCAN:2");
        second.extend_from_slice(&t);
        f.push(&second, &mut out);
        // (With a multi-byte terminator that stray byte is data: a junk line before SCAN:2.)
        assert_eq!(out.last(), Some(&scan(b"SCAN:2")), "terminator {term:?}");
        assert!(
            out.iter().all(
                |l| matches!(l, FramedLine::Scan(s) if !s.windows(7).any(|w| w == b"PARTIAL"))
            ),
            "terminator {term:?}: {out:?}"
        );
    }
}

#[test]
fn discard_partial_ends_the_skipping_of_an_overlong_line() {
    let mut f = Framer::new("lf", None, None, 16);
    let out = feed(&mut f, &[&[b'x'; 40]]);
    assert_eq!(out.len(), 1);
    assert!(f.is_discarding());
    f.discard_partial();
    assert!(!f.is_discarding());
    assert_eq!(feed(&mut f, &[b"SCAN:3\n"]), vec![scan(b"SCAN:3")]);
}

#[test]
fn from_config_uses_the_device_settings() {
    let config: DeviceConfig = match toml::from_str(
        "source = \"serial\"\nstation = \"pick\"\npath = \"/dev/null\"\nterminator = \"crlf\"\nprefix = \"]\"\nmax_line = 20\n",
    ) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let mut f = Framer::from_config(&config);
    let out = feed(
        &mut f,
        &[b"]A\r\n", b"012345678901234567890\r\n", b"B\n\r\n"],
    );
    assert_eq!(
        out,
        vec![scan(b"A"), overlong(b"01234567890123456789"), scan(b"B\n")]
    );
}
