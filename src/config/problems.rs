//! Where a problem of the configuration is: a TOML error or a broken rule, with the line and
//! the dotted key an operator looks for, and the parser's message in words they know.

use super::Problem;

pub(super) fn toml_problem(text: &str, error: &toml::de::Error) -> Problem {
    let line = error
        .span()
        .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
    // The message names the field (`unknown field `x`, expected one of ...`); the key path is
    // recovered from the table header above the failing line.
    let mut key = line.map(|l| key_at_line(text, l)).unwrap_or_default();
    // A missing field is reported at the table that lacks it: the whole file for a top-level
    // key such as `version`.
    if let Some(field) = error
        .message()
        .strip_prefix("missing field `")
        .and_then(|m| m.split('`').next())
    {
        let whole_file = error
            .span()
            .is_some_and(|s| s.end == 0 || (s.start == 0 && s.end >= text.trim_end().len()));
        let table = if whole_file {
            String::new()
        } else {
            key.clone()
        };
        key = if table.is_empty() {
            field.to_owned()
        } else {
            format!("{table}.{field}")
        };
    }
    Problem {
        key,
        line,
        message: suggest_field(&plain_types(error.message().trim())),
    }
}

/// `unknown field `concurency`, expected one of ...` as `unknown field `concurency`; did you
/// mean `concurrency`?` when one of the fields is that close; the list otherwise.
fn suggest_field(message: &str) -> String {
    let Some((field, rest)) = message
        .strip_prefix("unknown field `")
        .and_then(|m| m.split_once('`'))
    else {
        return message.to_owned();
    };
    let close = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|known| (strsim::damerau_levenshtein(field, known), known))
        .filter(|(d, known)| *d <= 2 && *d < known.len())
        .min_by_key(|(d, _)| *d);
    match close {
        Some((_, known)) => format!("unknown field `{field}`; did you mean `{known}`?"),
        None => message.to_owned(),
    }
}

/// serde's names of number types, in words an operator knows.
fn plain_types(message: &str) -> String {
    let mut out = message.to_owned();
    for (rust, plain) in [
        ("expected usize", "expected a whole number, 0 or more"),
        ("expected u64", "expected a whole number, 0 or more"),
        ("expected u32", "expected a whole number, 0 or more"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
    ] {
        out = out.replace(rust, plain);
    }
    out
}

/// Best-effort dotted key for a 1-based line: the enclosing `[table]` plus the key on the line.
fn key_at_line(text: &str, line: usize) -> String {
    let mut table = String::new();
    let mut key = String::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.starts_with('[') {
            table = l.trim_matches(|c| c == '[' || c == ']').trim().to_owned();
        }
        if i + 1 == line {
            if let Some((k, _)) = l.split_once('=') {
                key = k.trim().trim_matches('"').to_owned();
            }
            break;
        }
    }
    match (table.is_empty(), key.is_empty()) {
        (true, _) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}

/// 1-based line where a dotted key path (or its longest existing prefix) is written.
pub(super) fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut found = None;
    for part in key.split('.') {
        let Some((k, v)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == part) else {
            break;
        };
        found = Some(k.span().start);
        match v.get_ref() {
            toml::de::DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    found.map(|offset| text[..offset.min(text.len())].matches('\n').count() + 1)
}
