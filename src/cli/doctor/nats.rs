//! The checks of a sink of `type = "nats"`, through the sink's own client: the servers reached
//! with its credentials and TLS (`connect`), then its stream looked up and compared with what
//! the sink publishes (`stream`), then a publish to one of its subjects that the stream
//! refuses unstored (`publish`): nothing is stored.

use std::time::Duration;

use super::{human, Finding};
use crate::config::SinkConfig;
use crate::forward::nats::{subject_matches, NatsSink};
use crate::forward::retry::Verdict;

/// The lines of NATS sink `name`, stopping at the first failure.
pub(super) async fn sink(
    name: &str,
    site: &str,
    config: &SinkConfig,
    timeout: Duration,
    build_failed: impl FnOnce(String, &crate::forward::http::SinkBuildError) -> Finding,
) -> Vec<Finding> {
    let subject = |step: &str| format!("sink {name} {step}");
    let client = match NatsSink::build_for_probe(name, site, config) {
        Ok(c) => c,
        Err(e) => return vec![build_failed(subject("setup"), &e)],
    };
    let probe = match tokio::time::timeout(timeout, client.probe()).await {
        Ok(Ok(p)) => p,
        Ok(Err(answer)) => {
            let fix = match answer.verdict {
                Verdict::Pause { .. } => format!(
                    "the server refuses the credentials: check the files sinks.{name}.auth names against the server's users or accounts"
                ),
                _ => format!(
                    "start the NATS server, let this box reach it, or correct sinks.{name}.url (and tls.ca_file for tls://)"
                ),
            };
            return vec![Finding::fail(subject("connect"), answer.detail, fix)];
        }
        Err(_) => {
            return vec![Finding::fail(
                subject("connect"),
                format!("{}: no answer within {}", config.url, human(timeout)),
                format!("check the servers in sinks.{name}.url and the firewall"),
            )]
        }
    };
    let mut out = vec![Finding::pass(
        subject("connect"),
        format!(
            "connected to {} (server {}, nats-server {})",
            probe.server, probe.server_name, probe.version
        ),
    )];
    let stream = config.stream.as_deref().unwrap_or_default();
    let facts = match probe.stream {
        Ok(f) => f,
        Err(why) => {
            let fix = if config.domain.is_none() && !probe.jetstream {
                format!(
                    "{} runs no JetStream itself (a leaf node?): set sinks.{name}.domain to the JetStream domain of the servers that hold stream {stream}",
                    probe.server_name
                )
            } else {
                format!(
                    "create stream {stream}, correct sinks.{name}.stream (or domain), or restore the link to the servers that hold it"
                )
            };
            out.push(Finding::fail(
                subject("stream"),
                format!("stream {stream}: {why}"),
                fix,
            ));
            return out;
        }
    };
    let sample_type = sample_type(&config.events);
    let sample = client.subject_of(&sample_type, "order-4711");
    let detail = format!(
        "stream {stream}: subjects {}, {} replica(s), duplicate window {}, {} messages",
        facts.subjects.join(" "),
        facts.replicas,
        human(facts.duplicate_window),
        facts.messages
    );
    if !facts.subjects.iter().any(|p| subject_matches(p, &sample)) {
        out.push(Finding::fail(
            subject("stream"),
            format!("{detail}; none of them takes {sample}, what a {sample_type} event goes to"),
            format!("add the sink's subjects to stream {stream}, or correct sinks.{name}.subject"),
        ));
        return out;
    } else if facts.duplicate_window < Duration::from_secs(60) {
        out.push(Finding::warn(
            subject("stream"),
            detail,
            "a duplicate window under a minute may store a resend after a crash twice: 2 minutes (the default) or more",
        ));
    } else {
        out.push(Finding::pass(subject("stream"), detail));
    }
    out.push(publish(&client, name, site, &sample, stream, timeout).await);
    out
}

/// The `publish` line: whether a publish to `sample` reaches the stream, by a probe the
/// stream refuses without storing it.
async fn publish(
    client: &NatsSink,
    name: &str,
    site: &str,
    sample: &str,
    stream: &str,
    timeout: Duration,
) -> Finding {
    let line = format!("sink {name} publish");
    match tokio::time::timeout(timeout, client.publish_probe(sample)).await {
        Ok(Ok(())) => Finding::pass(
            line,
            format!("a publish to {sample} reaches stream {stream} (a probe it refuses unstored)"),
        ),
        Ok(Err(answer)) => {
            let fix = match answer.verdict {
                Verdict::Refused { .. } => format!(
                    "stream {stream} refuses every publish (sealed, or a limit of its own): central IT must change it"
                ),
                Verdict::Pause { reason: "nats_wrong_stream" } => format!(
                    "another stream stored the probe: correct sinks.{name}.stream or the streams' subjects"
                ),
                Verdict::Pause { .. } => format!(
                    "allow {sample} in the publish permissions of the user sinks.{name}.auth logs in as (is site.id {site} right?)"
                ),
                _ => format!(
                    "allow {sample} in the publish permissions of the user this sink or its leaf node logs in as (is site.id {site} right?), and check that a leaf node's link is up (its log names a refused one)"
                ),
            };
            Finding::fail(line, answer.detail, fix)
        }
        Err(_) => Finding::fail(
            line,
            format!("a publish to {sample}: no answer within {}", human(timeout)),
            format!(
                "allow {sample} in the publish permissions of the user this sink or its leaf node logs in as (is site.id {site} right?)"
            ),
        ),
    }
}

/// An event type the sink takes, from its first `events` glob, for the subject it would go to.
fn sample_type(events: &[String]) -> String {
    let glob = events.first().map(String::as_str).unwrap_or("*");
    match glob {
        "*" => "shipment.loaded".to_owned(),
        g => g.replace('*', "any"),
    }
}
