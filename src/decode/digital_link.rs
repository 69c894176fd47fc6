//! GS1 Digital Link URIs: `https://id.gs1.org/01/09506000134352/10/ABC123?17=251231`.
//!
//! Receives the URI text (as read from a QR Code or Data Matrix in plain mode, `]Q1`/`]d1`);
//! emits the GS1 elements it carries, in URI order (path first, then query), with values
//! percent-decoded into a buffer, plus every problem found. The rules follow the GS1 Barcode
//! Syntax Engine in its default settings:
//!
//! - scheme `http` or `https`, all lower or all upper case; any host; any path before the key;
//! - the primary key is the rightmost `/AI/value` pair whose AI is a Digital Link key; the pairs
//!   after it are its qualifiers, which must follow one of the key's allowed orders;
//! - query parameters whose name is all digits must be known AIs with a value, allowed as
//!   data attributes and not belonging in the path; other parameters and the fragment are
//!   ignored;
//! - in path values `+` is a plus, in query values a space; `%hh` is decoded;
//! - rejected: zero-suppressed GTINs in the path (`/01/9506000134352`), a trailing `/`,
//!   duplicate AIs, unknown or empty AI parameters, and the convenience alphas (`/gtin/`).

use super::gs1::{self, Span};
use super::gs1_table::{flag, AiDef};
use super::DecodeError;

/// Characters allowed anywhere in a URI (RFC 3986 unreserved + reserved + `%`).
static URI_CHARS: [bool; 128] = {
    let mut t = [false; 128];
    let extra = b"-._~:/?#[]@!$&'()*+,;=%";
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    let mut c = 0;
    while c < 128 {
        if (c as u8).is_ascii_alphanumeric() {
            t[c] = true;
        }
        c += 1;
    }
    t
};

fn is_uri_char(c: u8) -> bool {
    c < 128 && URI_CHARS[usize::from(c)]
}

/// Characters that cannot appear in the authority (host and port) part.
fn is_bad_domain_char(c: u8) -> bool {
    b"_~?#@!$&'()*+,;=%".contains(&c)
}

/// Old short names for AIs in Digital Link paths, which the syntax engine refuses by default.
const CONVENIENCE_ALPHAS: [&str; 23] = [
    "cpid", "cpsn", "cpv", "exp", "gcn", "gdti", "giai", "ginc", "gln", "glnx", "gmn", "grai",
    "gsin", "gsrn", "gsrnp", "gtin", "itip", "lot", "party", "refno", "ser", "srin", "sscc",
];

/// The text after the scheme, if `uri` starts with `http://` or `https://` in one case.
pub fn strip_scheme(uri: &str) -> Option<&str> {
    ["https://", "HTTPS://", "http://", "HTTP://"]
        .iter()
        .find_map(|s| uri.strip_prefix(s))
}

/// Parses `uri`. Returns `false` when it is not a Digital Link at all (not http(s), or no
/// primary key in the path), leaving `buf`, `out` and `errors` untouched; `true` when it is
/// one, with the elements in `out` (spans into `buf`) and the problems in `errors`.
pub fn parse(
    uri: &str,
    today_year: i32,
    buf: &mut String,
    out: &mut Vec<Span>,
    errors: &mut Vec<DecodeError>,
) -> bool {
    let Some(rest) = strip_scheme(uri) else {
        return false;
    };
    let Some(slash) = rest.find('/') else {
        return false;
    };
    let (domain, after) = rest.split_at(slash);
    let before_fragment = after.split('#').next().unwrap_or("");
    let (path, query) = match before_fragment.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (before_fragment, None),
    };
    let Some(key_start) = find_key(path) else {
        if let Some(name) = path.split('/').find(|seg| CONVENIENCE_ALPHAS.contains(seg)) {
            errors.push(DecodeError::DlShortName {
                name: name.to_owned(),
            });
            return true;
        }
        return false;
    };

    if let Some(c) = uri.bytes().find(|&c| !is_uri_char(c)) {
        errors.push(DecodeError::DlUri {
            what: if !(0x20..0x7f).contains(&c) {
                "contains a control or non-ASCII character"
            } else {
                "contains a character that is not allowed in a URI (space, quote, ...)"
            },
        });
        return true;
    }
    if domain.is_empty() || domain.bytes().any(is_bad_domain_char) {
        errors.push(DecodeError::DlUri {
            what: "has no host or an invalid character in the host",
        });
        return true;
    }

    buf.reserve(uri.len());
    let mut scratch = Vec::new();
    // The path from the key on is `/AI/value` pairs (find_key walked over them).
    let mut segs = path.get(key_start + 1..).unwrap_or("").split('/');
    while let (Some(ai), Some(raw)) = (segs.next(), segs.next()) {
        let Some(def) = gs1::lookup(ai) else {
            errors.push(DecodeError::DlUri {
                what: "has an unknown AI in the path",
            });
            return true;
        };
        if raw.is_empty() {
            errors.push(DecodeError::DlEmptyValue { ai: def.ai });
            return true;
        }
        if let Err(what) = push_value(buf, &mut scratch, raw, false, false, def, out) {
            errors.push(DecodeError::DlValue { ai: def.ai, what });
            return true;
        }
    }
    let path_count = out.len();

    for param in query.unwrap_or("").split('&') {
        let Some((name, raw)) = param.split_once('=') else {
            continue; // a singleton parameter, not an AI
        };
        if name.is_empty() || !name.bytes().all(|c| c.is_ascii_digit()) {
            continue; // a non-AI parameter such as `linkType`
        }
        let Some(def) = gs1::lookup(name) else {
            errors.push(DecodeError::DlUnknownParam {
                name: name.to_owned(),
            });
            return true;
        };
        if raw.is_empty() {
            errors.push(DecodeError::DlEmptyValue { ai: def.ai });
            return true;
        }
        // A GTIN in the query may be given as GTIN-8/12/13; it is padded to 14 digits.
        let pad = def.ai == "01";
        if let Err(what) = push_value(buf, &mut scratch, raw, true, pad, def, out) {
            errors.push(DecodeError::DlValue { ai: def.ai, what });
            return true;
        }
    }

    let (path_spans, query_spans) = out.split_at(path_count);
    let path_ais: Vec<&'static str> = path_spans.iter().map(|s| s.def.ai).collect();
    let key = path_spans.first().map(|s| s.def);
    if let Some(key) = key {
        if !qualifiers_fit(key, path_ais[1..].iter().copied()) {
            errors.push(DecodeError::DlSequence {
                ais: path_ais.iter().map(|ai| format!("({ai})")).collect(),
            });
        }
    }
    for (i, s) in query_spans.iter().enumerate() {
        let ai = s.def.ai;
        if path_spans
            .iter()
            .chain(&query_spans[..i])
            .any(|o| o.def.ai == ai)
        {
            errors.push(DecodeError::DlDuplicate { ai });
            continue;
        }
        if s.def.flags & flag::DL_ATTR == 0 {
            errors.push(DecodeError::DlNotAttribute { ai });
            continue;
        }
        if let Some(key) = key {
            let quals = &path_ais[1..];
            let belongs_in_path = (0..=quals.len()).any(|j| {
                let seq = quals[..j]
                    .iter()
                    .copied()
                    .chain(std::iter::once(ai))
                    .chain(quals[j..].iter().copied());
                qualifiers_fit(key, seq)
            });
            if belongs_in_path {
                errors.push(DecodeError::DlShouldBeInPath { ai });
            }
        }
    }

    for s in out.iter_mut() {
        if let Err(e) = gs1::check_value(s.def, s.value(buf), today_year) {
            s.ok = false;
            errors.push(e);
        }
    }
    gs1::check_message(buf, out, errors);
    true
}

/// Byte offset in `path` of the `/` before the primary key AI: walking `/AI/value` pairs
/// back from the end, the first AI that is a Digital Link key; `None` when a segment that
/// should be an AI is not one before a key is found.
fn find_key(path: &str) -> Option<usize> {
    let mut end = path.len();
    loop {
        let value_slash = path.get(..end)?.rfind('/')?;
        let ai_slash = path.get(..value_slash)?.rfind('/')?;
        let ai = path.get(ai_slash + 1..value_slash)?;
        let def = gs1::lookup(ai)?;
        if def.dl_key.is_some() {
            return Some(ai_slash);
        }
        end = ai_slash;
    }
}

/// Whether `quals` (the AIs after the key, in order) follow one of the key's qualifier
/// sequences: each sequence is an ordered list whose members may each be left out.
fn qualifiers_fit<'a>(key: &AiDef, quals: impl Iterator<Item = &'a str> + Clone) -> bool {
    let Some(sequences) = key.dl_key else {
        return false;
    };
    if sequences.is_empty() {
        return quals.count() == 0;
    }
    sequences.iter().any(|seq| {
        let mut next = 0usize;
        quals.clone().all(|q| {
            match seq
                .get(next..)
                .and_then(|rest| rest.iter().position(|a| *a == q))
            {
                Some(i) => {
                    next += i + 1;
                    true
                }
                None => false,
            }
        })
    })
}

/// Percent-decodes `raw` (and in the query `+` to space), appends it to `buf` and records
/// a span for it.
fn push_value(
    buf: &mut String,
    scratch: &mut Vec<u8>,
    raw: &str,
    query: bool,
    pad_gtin: bool,
    def: &'static AiDef,
    out: &mut Vec<Span>,
) -> Result<(), &'static str> {
    scratch.clear();
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            let v = hex(b[i + 1]) * 16 + hex(b[i + 2]);
            if v == 0 {
                return Err("decodes to a NUL character");
            }
            scratch.push(v);
            i += 3;
            continue;
        }
        scratch.push(if query && c == b'+' { b' ' } else { c });
        i += 1;
    }
    let value = std::str::from_utf8(scratch).map_err(|_| "is not UTF-8 once percent-decoded")?;
    let start = buf.len();
    if pad_gtin && matches!(value.len(), 8 | 12 | 13) && value.bytes().all(|c| c.is_ascii_digit()) {
        for _ in value.len()..14 {
            buf.push('0');
        }
    }
    buf.push_str(value);
    out.push(Span {
        def,
        start: start as u32,
        end: buf.len() as u32,
        ok: true,
    });
    Ok(())
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses and renders the result as `(ai)value...` or the first error.
    fn dl(uri: &str) -> Result<String, String> {
        let (mut buf, mut out, mut errors) = (String::new(), Vec::new(), Vec::new());
        if !parse(uri, 2026, &mut buf, &mut out, &mut errors) {
            return Err("not a digital link".into());
        }
        if let Some(e) = errors.first() {
            return Err(e.to_string());
        }
        Ok(out
            .iter()
            .map(|s| format!("({}){}", s.def.ai, s.value(&buf)))
            .collect())
    }

    #[test]
    fn accepted() {
        let cases = [
            (
                "https://id.gs1.org/01/09506000134352/10/ABC123/21/S1?17=251231&3103=000195",
                "(01)09506000134352(10)ABC123(21)S1(17)251231(3103)000195",
            ),
            ("http://a/00/006141411234567890", "(00)006141411234567890"),
            ("HTTP://a/00/006141411234567890", "(00)006141411234567890"),
            ("HTTPS://a/00/006141411234567890", "(00)006141411234567890"),
            (
                "https://a/stem/00/006141411234567890",
                "(00)006141411234567890",
            ),
            (
                "https://brand.example/x/y/01/09520123456788",
                "(01)09520123456788",
            ),
            (
                "https://a/00/faux/00/006141411234567890",
                "(00)006141411234567890",
            ),
            ("https://a:65535/01/12312312312333", "(01)12312312312333"),
            (
                "https://[2001:db8::1]/01/12312312312333",
                "(01)12312312312333",
            ),
            (
                "https://a/01/12312312312333/22/TEST/10/ABC/21/XYZ",
                "(01)12312312312333(22)TEST(10)ABC(21)XYZ",
            ),
            (
                "https://a/01/12312312312333/235/TEST",
                "(01)12312312312333(235)TEST",
            ),
            (
                "https://a/253/1231231231232TEST5678901234567",
                "(253)1231231231232TEST5678901234567",
            ),
            (
                "https://a/8018/123456789012345675/8019/123",
                "(8018)123456789012345675(8019)123",
            ),
            (
                "https://a/stem/00/006141411234567890?",
                "(00)006141411234567890",
            ),
            (
                "https://a/01/12312312312333?&&&99=ABC&&&98=XYZ&unknown=666&singleton",
                "(01)12312312312333(99)ABC(98)XYZ",
            ),
            (
                "https://a/01/12312312312333/22/ABC%2d123?99=ABC&98=XYZ%2f987",
                "(01)12312312312333(22)ABC-123(99)ABC(98)XYZ/987",
            ),
            (
                "https://a/01/12312312312333/22/ABC+123?99=ABC",
                "(01)12312312312333(22)ABC+123(99)ABC",
            ),
            (
                "https://a/01/12312312312333/22/test/10/abc/21/xyz#fragment",
                "(01)12312312312333(22)test(10)abc(21)xyz",
            ),
            (
                "https://id.gs1.org/00/952012345678912345?02=09520123456788&37=25&10=ABC123",
                "(00)952012345678912345(02)09520123456788(37)25(10)ABC123",
            ),
            (
                "https://id.gs1.org/414/9520123456788/254/32a%2Fb",
                "(414)9520123456788(254)32a/b",
            ),
            (
                "https://example.com/8004/9520614141234567?01=9520123456788",
                "(8004)9520614141234567(01)09520123456788",
            ),
            (
                "https://id.gs1.org/01/09520123456788/235/XYZ?10=ABC123",
                "(01)09520123456788(235)XYZ(10)ABC123",
            ),
        ];
        for (uri, want) in cases {
            assert_eq!(dl(uri).as_deref(), Ok(want), "{uri}");
        }
    }

    #[test]
    fn rejected() {
        let cases = [
            "https://id.gs1.org/01/9506000134352", // zero-suppressed GTIN
            "https://a/01/2112345678900",
            "https://a/stem/00/006141411234567890/", // trailing slash (no key)
            "https://a/253/1231231231232TEST56789012345678", // too long
            "https://a/01/12312312312333?99=",       // empty AI value
            "https://a/01/12312312312333?99=ABC&999=faux", // unknown numeric parameter
            "https://a/01/12312312312333/22/ABC?98=XYZ+987", // `+` is a space in the query
            "https://example.com/01/09520123456788?10=ABC123", // qualifier in the query
            "https://id.gs1.org/01/09520123456788/10/ABC123?99=XYZ789&01=09520123456788",
            "https://id.gs1.org/01/09520123456788/10/ABC123?99=XYZ789&10=ABC123",
            "https://id.gs1.org/01/09520123456788/10/ABC123?99=XYZ789&99=XYZ789",
            "https://example.com/01/09520123456788?99=XYZ&89=ABC123",
            "https://a/01/12312312312333/10/ABC/22/X", // qualifiers out of order
            "https://a/00/006141411234567890/10/ABC",  // SSCC takes no qualifier
            "https://a/01/12312312312333/22/X/235/Y",  // mixes two sequences
            "https://a/01/12312312312333?21=X",        // 21 is no data attribute
            "https://a/gtin/09506000134352",           // convenience alpha
            "https://$a/01/12312312312333",            // bad host
            "https:///01/12312312312333",              // no host
            "https://a/01/09506000134352/10/A B",      // space in URI
            "https://a/01/09506000134352/10/A%00B",    // encoded NUL
            "https://a/01/09506000134353",             // check digit
        ];
        for uri in cases {
            assert!(dl(uri).is_err(), "{uri} accepted as {:?}", dl(uri));
        }
    }

    #[test]
    fn not_digital_links() {
        for uri in [
            "ftp://a/01/12312312312333",
            "HtTp://a/01/12312312312333",
            "https://a",
            "https://example.com/promo",
            "https://a/b/",
            "https://example.com/01/09520123456788/89/ABC123?99=XYZ",
            "SO-123",
        ] {
            assert_eq!(dl(uri), Err("not a digital link".into()), "{uri}");
        }
    }

    #[test]
    fn sequences() {
        let gtin = gs1::lookup("01").unwrap();
        for q in [
            &[][..],
            &["22"],
            &["10"],
            &["21"],
            &["22", "10", "21"],
            &["10", "21"],
            &["235"],
        ] {
            assert!(qualifiers_fit(gtin, q.iter().copied()), "{q:?}");
        }
        for q in [&["10", "22"][..], &["21", "10"], &["235", "21"], &["254"]] {
            assert!(!qualifiers_fit(gtin, q.iter().copied()), "{q:?}");
        }
        let sscc = gs1::lookup("00").unwrap();
        assert!(qualifiers_fit(sscc, std::iter::empty()));
        assert!(!qualifiers_fit(sscc, ["10"].into_iter()));
        let lot = gs1::lookup("10").unwrap();
        assert!(!qualifiers_fit(lot, std::iter::empty()));
    }
}
