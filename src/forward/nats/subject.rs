//! NATS subjects of events: the sink's subject template (`{site}`, `{type}`, `{subject}`)
//! rendered per event with every value made a safe subject token, and the stream's subject
//! patterns matched the way the server matches them (for doctor's check of the stream).

use std::borrow::Cow;

/// A parsed subject template: literal text and placeholders, `{site}` filled in already.
pub(super) struct SubjectTemplate {
    parts: Vec<Part>,
}

enum Part {
    Text(String),
    Type,
    Subject,
}

impl SubjectTemplate {
    pub(super) fn parse(template: &str, site: &str) -> Self {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            let (text, tail) = rest.split_at(start);
            let (part, len) = if tail.starts_with("{site}") {
                (Part::Text(token(site, false).into_owned()), 6)
            } else if tail.starts_with("{type}") {
                (Part::Type, 6)
            } else if tail.starts_with("{subject}") {
                (Part::Subject, 9)
            } else {
                // Config validation refuses other placeholders; kept as text if one slips by.
                (Part::Text("{".into()), 1)
            };
            parts.push(Part::Text(text.to_owned()));
            parts.push(part);
            rest = &tail[len..];
        }
        parts.push(Part::Text(rest.to_owned()));
        Self { parts }
    }

    /// The NATS subject of an event (its CloudEvents JSON and its subject).
    pub(super) fn render(&self, json: &str, subject: &str) -> String {
        self.render_parts(&type_of(json), subject)
    }

    pub(super) fn render_parts(&self, event_type: &str, subject: &str) -> String {
        let mut out = String::with_capacity(64);
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Type => out.push_str(&token(event_type, true)),
                Part::Subject => out.push_str(&token(subject, false)),
            }
        }
        out
    }
}

/// `value` made safe as part of a NATS subject: wildcards, spaces and control characters (and
/// dots, unless `dots` allows them as token separators) become `_`; nothing becomes `_`.
fn token(value: &str, dots: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        c == '*' || c == '>' || c.is_whitespace() || c.is_control() || (c == '.' && !dots)
    };
    let empty_token =
        dots && (value.starts_with('.') || value.ends_with('.') || value.contains(".."));
    if !value.is_empty() && !empty_token && !value.contains(unsafe_char) {
        return Cow::Borrowed(value);
    }
    let mut out: String = value
        .chars()
        .map(|c| if unsafe_char(c) { '_' } else { c })
        .collect();
    if dots {
        // No empty tokens from a leading, trailing or doubled dot.
        out = out
            .split('.')
            .map(|t| if t.is_empty() { "_" } else { t })
            .collect::<Vec<_>>()
            .join(".");
    }
    if out.is_empty() {
        out.push('_');
    }
    Cow::Owned(out)
}

/// Whether NATS subject `subject` matches `pattern` (`*` one token, `>` the rest).
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut s = subject.split('.');
    for p in pattern.split('.') {
        match (p, s.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (p, Some(t)) if p == t => {}
            _ => return false,
        }
    }
    s.next().is_none()
}

/// The `type` attribute of a rendered CloudEvent. It comes before `data` (see
/// `write_cloudevent`), so the first `,"type":` outside a string is the attribute.
fn type_of(json: &str) -> Cow<'_, str> {
    let Some((_, rest)) = json.split_once(",\"type\":\"") else {
        return Cow::Borrowed("");
    };
    match rest.find(['"', '\\']) {
        // The usual case, no escapes: the text up to the closing quote.
        Some(end) if rest.as_bytes()[end] == b'"' => Cow::Borrowed(&rest[..end]),
        _ => {
            let quoted = &json[json.len() - rest.len() - 1..];
            let parsed = serde_json::Deserializer::from_str(quoted)
                .into_iter::<String>()
                .next()
                .and_then(Result::ok);
            Cow::Owned(parsed.unwrap_or_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::sinks::DEFAULT_NATS_SUBJECT;

    const EVENT: &str = r#"{"specversion":"1.0","id":"0190-a","source":"dockgate/wh1","type":"pick.confirmed","subject":"order 4711","time":"t","datacontenttype":"application/json","sequence":"1","data":{"type":"no"}}"#;

    #[test]
    fn subjects_from_the_template() {
        let t = SubjectTemplate::parse(DEFAULT_NATS_SUBJECT, "wh-berlin.01");
        assert_eq!(
            t.render(EVENT, "order 4711"),
            "dockgate.wh-berlin_01.pick.confirmed"
        );
        let t = SubjectTemplate::parse("wh.{site}.{subject}.x", "wh1");
        assert_eq!(t.render(EVENT, "order 4711.*>"), "wh.wh1.order_4711___.x");
        let t = SubjectTemplate::parse("all", "wh1");
        assert_eq!(t.render(EVENT, "s"), "all");
    }

    #[test]
    fn type_is_the_attribute_not_data() {
        assert_eq!(type_of(EVENT), "pick.confirmed");
        assert_eq!(type_of(r#"{"id":"x","type":"a\"b"}"#), "a\"b");
        assert_eq!(type_of("{}"), "");
        assert_eq!(type_of(r#"{"id":"x","type":"a\u00e9"}"#), "a\u{e9}");
    }

    #[test]
    fn subjects_match_stream_patterns() {
        assert!(subject_matches("dockgate.>", "dockgate.wh1.pick.confirmed"));
        assert!(subject_matches(
            "dockgate.*.pick.*",
            "dockgate.wh1.pick.confirmed"
        ));
        assert!(!subject_matches("dockgate.*", "dockgate.wh1.pick"));
        assert!(!subject_matches("dockgate.>", "dockgate"));
        assert!(subject_matches("a.b", "a.b"));
        assert!(!subject_matches("a.b", "a.b.c"));
    }

    #[test]
    fn tokens_are_safe() {
        assert_eq!(token("", false), "_");
        assert_eq!(token("a..b.", true), "a._.b._");
        assert_eq!(token("a b\tc", false), "a_b_c");
    }
}
