//! The checks of a sink of `type = "nats"`: its servers, stream, subject template and
//! credentials. Secret files are named here, read when the sink starts.

use super::sinks::{SinkConfig, DEFAULT_NATS_SUBJECT};

/// Placeholders a subject template may use.
const PLACEHOLDERS: [&str; 3] = ["{site}", "{type}", "{subject}"];

/// The servers of a NATS sink's `url`: comma-separated, blanks around commas ignored.
pub fn servers(url: &str) -> impl Iterator<Item = &str> {
    url.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Checks a NATS sink; `bad(key, message)` records a problem.
pub(super) fn validate(
    sink: &SinkConfig,
    key: &dyn Fn(&str) -> String,
    bad: &mut dyn FnMut(String, String),
) {
    let mut any = false;
    for server in servers(&sink.url) {
        any = true;
        match reqwest::Url::parse(server) {
            Ok(url) if !matches!(url.scheme(), "nats" | "tls") => bad(
                key("url"),
                format!(
                    "expected nats:// or tls:// server URLs, got {server:?} (scheme {:?})",
                    url.scheme()
                ),
            ),
            Ok(url) if url.host_str().is_none_or(str::is_empty) => {
                bad(key("url"), format!("{server:?} names no host"))
            }
            Ok(url) if !url.username().is_empty() || url.password().is_some() => bad(
                key("url"),
                format!(
                    "{server:?} carries credentials: put them in files under [sinks.<name>.auth]"
                ),
            ),
            Ok(_) => {}
            Err(error) => bad(
                key("url"),
                format!("expected nats://host:port, got {server:?} ({error})"),
            ),
        }
    }
    if !any {
        bad(
            key("url"),
            "expected one or more NATS servers, e.g. \"nats://10.0.0.5:4222\"".into(),
        );
    }

    match sink.stream.as_deref() {
        None => bad(
            key("stream"),
            "type = \"nats\" needs stream, the JetStream stream that stores this site's events"
                .into(),
        ),
        Some(stream) if !is_stream_name(stream) => bad(
            key("stream"),
            format!("{stream:?} is not a stream name (no spaces, '.', '*', '>', '/' or '\\\\')"),
        ),
        Some(_) => {}
    }

    if let Some(domain) = sink.domain.as_deref() {
        if !is_stream_name(domain) {
            bad(
                key("domain"),
                format!(
                    "{domain:?} is not a JetStream domain (no spaces, '.', '*', '>', '/' or '\\')"
                ),
            );
        }
    }

    let subject = sink.subject.as_deref().unwrap_or(DEFAULT_NATS_SUBJECT);
    if let Err(why) = check_subject_template(subject) {
        bad(key("subject"), format!("{subject:?}: {why}"));
    }

    let auth = &sink.auth;
    let schemes = [
        auth.username.is_some() || auth.password_file.is_some(),
        auth.token_file.is_some(),
        auth.nkey_seed_file.is_some(),
        auth.credentials_file.is_some(),
    ];
    if schemes.iter().filter(|s| **s).count() > 1 {
        bad(
            key("auth"),
            "expected one scheme: username + password_file, token_file, nkey_seed_file or credentials_file".into(),
        );
    }
    if auth.username.is_some() != auth.password_file.is_some() {
        bad(key("auth"), "username and password_file go together".into());
    }
    for (field, set) in [
        ("auth.bearer_token_file", auth.bearer_token_file.is_some()),
        ("auth.header_name", auth.header_name.is_some()),
        ("auth.header_value_file", auth.header_value_file.is_some()),
        ("auth.oauth2_token_url", auth.oauth2_token_url.is_some()),
        ("auth.oauth2_client_id", auth.oauth2_client_id.is_some()),
        (
            "auth.oauth2_client_secret_file",
            auth.oauth2_client_secret_file.is_some(),
        ),
        ("auth.oauth2_scope", auth.oauth2_scope.is_some()),
        ("proxy", sink.proxy.is_some()),
        ("tls.only_ca_file", sink.tls.only_ca_file),
    ] {
        if set {
            bad(key(field), "not for sinks of type = \"nats\"".into());
        }
    }
}

/// Whether `name` can name a JetStream stream (or domain).
fn is_stream_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || ".*>/\\".contains(c))
}

/// Checks the literal parts of a subject template: dot-separated tokens, none empty, no
/// wildcards or spaces, and only the known placeholders.
pub fn check_subject_template(template: &str) -> Result<(), String> {
    let mut literal = template.to_owned();
    for p in PLACEHOLDERS {
        literal = literal.replace(p, "x");
    }
    if let Some(c) = literal.chars().find(|c| matches!(c, '{' | '}')) {
        return Err(format!(
            "unknown placeholder (at {c:?}): use {}",
            PLACEHOLDERS.join(", ")
        ));
    }
    if literal
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>')
    {
        return Err("a subject has no spaces or wildcards ('*', '>')".into());
    }
    if literal.split('.').any(str::is_empty) {
        return Err("empty token: no leading, trailing or doubled '.'".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_templates() {
        assert!(check_subject_template(DEFAULT_NATS_SUBJECT).is_ok());
        assert!(check_subject_template("wh.{site}.{subject}").is_ok());
        assert!(check_subject_template("dockgate.{site}.{kind}").is_err());
        assert!(check_subject_template("dockgate..{type}").is_err());
        assert!(check_subject_template("dockgate.>").is_err());
        assert!(check_subject_template("dock gate.{type}").is_err());
        assert!(check_subject_template("{type}.").is_err());
    }

    #[test]
    fn stream_names() {
        assert!(is_stream_name("DOCKGATE"));
        assert!(is_stream_name("site-events_1"));
        assert!(!is_stream_name("a.b"));
        assert!(!is_stream_name(""));
        assert!(!is_stream_name("a b"));
    }

    #[test]
    fn server_lists() {
        let v: Vec<_> = servers(" nats://a:4222, nats://b:4222 ,").collect();
        assert_eq!(v, ["nats://a:4222", "nats://b:4222"]);
    }
}
