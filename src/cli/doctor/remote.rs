//! The checks over the network, each through the daemon's own client code: a sink is resolved
//! and connected to (its proxy, when it has one), then probed with the sink's reqwest client
//! ([`SinkClient::probe`]: TLS trust, client certificate, proxy and credentials as for a
//! delivery); the broker is logged in to with the options `dockgate run` uses (clean session,
//! a client id of its own so the daemon's session is left alone).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, Incoming};

use super::clock::ReceiverDate;
use super::{human, Finding};
use crate::config::{MqttConfig, SinkConfig};
use crate::devices::mqtt;
use crate::forward::http::{Probed, SinkBuildError, SinkClient};
use crate::model::error_chain;

/// The lines of sink `name` (`dns`, `tcp`, `tls` for https, `auth`), stopping at the first
/// failure; and the receiver's `Date` when it answered.
///
/// `privileged`: this process may read what the daemon will (root or the service user), so a
/// file it cannot read is a failure, not just a limit of this run.
pub(super) async fn sink(
    name: &str,
    config: &SinkConfig,
    timeout: Duration,
    privileged: bool,
) -> (Vec<Finding>, Option<ReceiverDate>) {
    let subject = |step: &str| format!("sink {name} {step}");
    let mut out = Vec::new();
    let client = match SinkClient::build(name, config) {
        Ok(c) => c,
        Err(e) => {
            out.push(build_failed(subject("setup"), name, &e, privileged));
            return (out, None);
        }
    };
    // Validation made sure of an http(s) URL with a host.
    let Ok(url) = reqwest::Url::parse(&config.url) else {
        out.push(Finding::fail(
            subject("setup"),
            "the url does not parse",
            format!("correct sinks.{name}.url"),
        ));
        return (out, None);
    };
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let hop = first_hop(config, &url, |k| std::env::var(k).ok());
    let (hop_host, hop_port, via) = match &hop {
        Some(h) => (h.host.clone(), h.port, format!(" ({})", h.why)),
        None => (host.clone(), port, String::new()),
    };
    let url_key = if hop.is_some() && config.proxy.is_some() {
        format!("sinks.{name}.proxy")
    } else {
        format!("sinks.{name}.url")
    };

    let addrs = match resolve(&hop_host, hop_port, timeout).await {
        Ok((addrs, detail)) => {
            out.push(Finding::pass(subject("dns"), format!("{detail}{via}")));
            addrs
        }
        Err(detail) => {
            out.push(Finding::fail(
                subject("dns"),
                format!("{detail}{via}"),
                format!("check the host in {url_key} and this box's DNS (/etc/resolv.conf, `resolvectl status`)"),
            ));
            return (out, None);
        }
    };
    match connect(&addrs, timeout).await {
        Ok(addr) => out.push(Finding::pass(
            subject("tcp"),
            format!("connected to {addr}{via}"),
        )),
        Err((detail, refused)) => {
            let fix = if refused {
                format!(
                    "nothing listens there: start the receiver, or correct the port in {url_key}"
                )
            } else {
                format!("let this box reach {hop_host}:{hop_port} through the firewall, or correct {url_key}")
            };
            out.push(Finding::fail(subject("tcp"), format!("{detail}{via}"), fix));
            return (out, None);
        }
    }

    let https = url.scheme() == "https";
    let sent = format!("OPTIONS {url} with {}", credentials(config));
    let probed = match tokio::time::timeout(timeout, client.probe()).await {
        Ok(p) => p,
        Err(_) => {
            let what = if https {
                " (TLS handshake or answer)"
            } else {
                ""
            };
            out.push(Finding::fail(
                subject("auth"),
                format!("{sent}: no answer within {}{what}", human(timeout)),
                "the receiver accepts connections but does not answer: check it, and any proxy in between",
            ));
            return (out, None);
        }
    };
    match probed {
        Probed::Unanswered {
            tls: true, detail, ..
        } => {
            let fix = tls_fix(name, config, &detail);
            out.push(Finding::fail(subject("tls"), detail, fix));
            (out, None)
        }
        Probed::Unanswered {
            timeout: t, detail, ..
        } => {
            let fix = if t {
                format!(
                    "the receiver did not answer within sinks.{name}.timeout ({}): check it",
                    human(config.timeout)
                )
            } else {
                "check the receiver, and any proxy in between".to_owned()
            };
            out.push(Finding::fail(
                subject("auth"),
                format!("{sent}: {detail}"),
                fix,
            ));
            (out, None)
        }
        Probed::NoToken(detail) => {
            out.push(Finding::fail(
                subject("auth"),
                format!("no OAuth2 token: {detail}"),
                format!("check sinks.{name}.auth.oauth2_token_url, oauth2_client_id, the secret in oauth2_client_secret_file and oauth2_scope"),
            ));
            (out, None)
        }
        Probed::Answered {
            status,
            html,
            location,
            date,
        } => {
            let now = SystemTime::now();
            if https {
                out.push(Finding::pass(
                    subject("tls"),
                    format!("handshake with {host}: {}", trust(config)),
                ));
            }
            out.push(judge(
                name,
                config,
                &sent,
                status,
                html,
                location.as_deref(),
            ));
            (out, date.map(|d| (name.to_owned(), d, now)))
        }
    }
}

/// The client could not be made: a credential or TLS file, a proxy.
pub(super) fn build_failed(
    subject: String,
    name: &str,
    e: &SinkBuildError,
    privileged: bool,
) -> Finding {
    let detail = error_chain(e);
    if !privileged && detail.contains("ermission denied") {
        return Finding::warn(
            subject,
            format!("{detail}: not readable by this user, so the sink is not probed"),
            "run `sudo dockgate doctor`",
        );
    }
    let fix = match e {
        SinkBuildError::Credential { path, .. } if path.starts_with("/run/credentials/") => {
            return Finding::warn(
                subject,
                format!("{detail}: the file is there only while the service runs, so the sink is not probed"),
                "",
            )
        }
        SinkBuildError::Credential { key, .. } | SinkBuildError::BadCredential { key, .. } => {
            format!("fix the file that sinks.{name}.auth.{key} names")
        }
        SinkBuildError::Tls { key, .. } => format!("fix sinks.{name}.{key}"),
        SinkBuildError::Proxy { .. } => format!("correct sinks.{name}.proxy"),
        _ => format!("check [sinks.{name}]"),
    };
    Finding::fail(subject, detail, fix)
}

/// The first hop of a request: the sink's proxy, or the environment's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Hop {
    host: String,
    port: u16,
    /// Where the proxy comes from, for people.
    why: String,
}

/// The proxy a request to `url` goes through, as the sink's client picks it: `proxy`, else
/// the environment's `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` (`NO_PROXY` is not weighed
/// here, and says so).
pub(super) fn first_hop(
    config: &SinkConfig,
    url: &reqwest::Url,
    env: impl Fn(&str) -> Option<String>,
) -> Option<Hop> {
    let parse = |text: &str, why: String| {
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("http://{text}")
        };
        let u = reqwest::Url::parse(&with_scheme).ok()?;
        Some(Hop {
            host: u.host_str()?.trim_matches(['[', ']']).to_owned(),
            port: u.port_or_known_default().unwrap_or(80),
            why,
        })
    };
    if let Some(proxy) = &config.proxy {
        return parse(proxy, format!("through the proxy {proxy}"));
    }
    let names: &[&str] = if url.scheme() == "https" {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    names.iter().find_map(|name| {
        let value = env(name).filter(|v| !v.trim().is_empty())?;
        parse(
            &value,
            format!(
                "through the proxy of ${name}, unless NO_PROXY exempts {}",
                url.host_str().unwrap_or_default()
            ),
        )
    })
}

/// Resolves `host`; the addresses and a line saying what they are.
async fn resolve(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<(Vec<SocketAddr>, String), String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok((
            vec![SocketAddr::new(ip, port)],
            format!("{host} is an address, nothing to resolve"),
        ));
    }
    match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
        Err(_) => Err(format!(
            "no answer resolving {host} within {}",
            human(timeout)
        )),
        Ok(Err(e)) => Err(format!("cannot resolve {host}: {e}")),
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no address"));
            }
            let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            Ok((addrs, format!("{host} resolves to {}", shown.join(", "))))
        }
    }
}

/// Connects to the addresses in turn, all within `timeout`; the one that took the connection,
/// or what went wrong with each (and whether every one refused).
async fn connect(addrs: &[SocketAddr], timeout: Duration) -> Result<SocketAddr, (String, bool)> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut failures = Vec::new();
    let mut refused = true;
    for addr in addrs {
        match tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_stream)) => return Ok(*addr),
            Ok(Err(e)) => {
                let this_refused = e.kind() == std::io::ErrorKind::ConnectionRefused;
                refused &= this_refused;
                failures.push(if this_refused {
                    format!("{addr} refused the connection")
                } else {
                    format!("{addr}: {e}")
                });
            }
            Err(_) => {
                refused = false;
                failures.push(format!("no answer from {addr} within {}", human(timeout)));
                break;
            }
        }
    }
    Err((failures.join("; "), refused))
}

/// The credentials the probe carries, for people.
fn credentials(config: &SinkConfig) -> String {
    let a = &config.auth;
    if a.bearer_token_file.is_some() {
        "the bearer token of auth.bearer_token_file".into()
    } else if let Some(user) = &a.username {
        format!("basic auth as {user:?}")
    } else if let Some(header) = &a.header_name {
        format!("the {header} header of auth.header_value_file")
    } else if a.oauth2_token_url.is_some() {
        "an OAuth2 token just fetched".into()
    } else {
        "no credentials".into()
    }
}

/// Whom the sink trusts, for people.
fn trust(config: &SinkConfig) -> String {
    let tls = &config.tls;
    let mut s = match (&tls.ca_file, tls.only_ca_file) {
        (Some(ca), true) => format!(
            "certificate signed by the CA of tls.ca_file {} (only)",
            ca.display()
        ),
        (Some(ca), false) => format!(
            "certificate trusted (bundled roots and tls.ca_file {})",
            ca.display()
        ),
        (None, _) => "certificate trusted by the bundled roots".into(),
    };
    if let Some(cert) = &tls.client_cert_file {
        s.push_str(&format!(
            ", client certificate of tls.client_cert_file {} offered",
            cert.display()
        ));
    }
    s
}

/// What to do about a failed handshake, by what rustls said (`detail`).
fn tls_fix(name: &str, config: &SinkConfig, detail: &str) -> String {
    let tls = format!("sinks.{name}.tls");
    let ca = match &config.tls.ca_file {
        Some(ca) => format!(
            "{tls}.ca_file ({}) must hold the CA that signed the receiver's certificate",
            ca.display()
        ),
        None => format!("put the receiver's CA (PEM) in {tls}.ca_file"),
    };
    if detail.contains("UnknownIssuer") || detail.contains("UnknownCA") {
        ca
    } else if detail.contains("NotValidForName") {
        format!("use a host name in sinks.{name}.url that the receiver's certificate names")
    } else if detail.contains("CertificateRequired") {
        format!("the receiver wants a client certificate: {tls}.client_cert_file and {tls}.client_key_file")
    } else if detail.contains("Expired") || detail.contains("NotValidYet") {
        "the receiver's certificate is out of date, or this box's clock is wrong: see the clock line".into()
    } else {
        format!(
            "{ca}, and name the host of the url; a receiver that wants a client certificate needs {tls}.client_cert_file and {tls}.client_key_file"
        )
    }
}

/// What an answer to the probe means for deliveries (docs/integrating.md lists the same).
pub(super) fn judge(
    name: &str,
    config: &SinkConfig,
    sent: &str,
    status: u16,
    html: bool,
    location: Option<&str>,
) -> Finding {
    let subject = format!("sink {name} auth");
    let auth_key = format!("sinks.{name}.auth");
    let has_credentials = credentials(config) != "no credentials";
    let said = format!("{sent}: {status}");
    match status {
        200..=299 if html => Finding::warn(
            subject,
            format!("{said} with an HTML page, what a login portal or a proxy's error page sends; deliveries answered so would be retried"),
            format!("check sinks.{name}.url and the proxy: the receiver itself does not answer HTML"),
        ),
        200..=299 => Finding::pass(subject, format!("{said}: reached, and the credentials were not refused")),
        300..=399 => Finding::fail(
            subject,
            format!("{said}, a redirect to {}; dockgate does not follow redirects, so deliveries would pause the sink", location.unwrap_or("(no Location)")),
            format!("set sinks.{name}.url to the address it redirects to"),
        ),
        401 if has_credentials => Finding::fail(
            subject,
            format!("{said}: the receiver refused the credentials; deliveries would pause the sink"),
            format!("check the credentials of {auth_key} (the file's content, the user, the token's validity) with the receiver's owners"),
        ),
        401 => Finding::fail(
            subject,
            format!("{said}: the receiver wants credentials and the sink has none; deliveries would pause the sink"),
            format!("configure [{auth_key}] (bearer_token_file, username + password_file, header_name + header_value_file, or OAuth2)"),
        ),
        403 => Finding::fail(
            subject,
            format!("{said}: forbidden, the credentials are not allowed here (or a firewall in front refused); deliveries would pause the sink"),
            format!("ask the receiver's owners to allow these credentials at this URL, or check {auth_key}"),
        ),
        404 => Finding::pass(
            subject,
            format!("{said}: reached, credentials not refused; no OPTIONS on this path, which many receivers answer for a POST-only URL (a wrong path looks the same: deliveries would then pause the sink with 404)"),
        ),
        405 | 501 => Finding::pass(subject, format!("{said}: reached, credentials not refused; OPTIONS not allowed, as a POST-only receiver says")),
        407 => Finding::fail(
            subject,
            format!("{said}: the proxy wants credentials"),
            format!("put them in sinks.{name}.proxy (http://user:password@proxy:port)"),
        ),
        429 => Finding::warn(
            subject,
            format!("{said}: reached, but rate-limited right now; deliveries would wait and retry"),
            "if it lasts, lower max_requests_per_second or ask the receiver's owners",
        ),
        500..=599 => Finding::warn(
            subject,
            format!("{said}: reached, but the receiver (or a gateway in front) is failing; deliveries would be retried"),
            "tell the receiver's owners; deliveries resume by themselves",
        ),
        _ => Finding::pass(subject, format!("{said}: reached, credentials not refused (a {status} to OPTIONS says nothing about deliveries)")),
    }
}

/// Logs in to the site broker with the daemon's URL, credentials and TLS, under a client id of
/// its own with a clean session, waits for the CONNACK and disconnects.
pub(super) async fn broker(m: &MqttConfig, site: &str, timeout: Duration) -> Finding {
    let subject = "broker";
    let mut probe = m.clone();
    // The daemon's persistent session must not be taken over (brokers drop the older client).
    probe.client_id = Some(format!("dockgate-doctor-{site}-{}", std::process::id()));
    let options = match mqtt::tool_options(&probe) {
        Ok(o) => o,
        Err(e) => {
            let (key, problem) = e.problem();
            return Finding::fail(subject, format!("{key}: {problem}"), format!("fix {key}"));
        }
    };
    let (host, port) = options.broker_address();
    let tls = m.url.starts_with("mqtts:");
    let (client, mut eventloop) = AsyncClient::new(options.clone(), 4);
    let connected = tokio::time::timeout(timeout, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Incoming::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    match connected {
        Ok(Ok(())) => {
            let _ = client.try_disconnect();
            // Sends the DISCONNECT, briefly.
            let _ = tokio::time::timeout(Duration::from_millis(500), eventloop.poll()).await;
            let login = match &m.username {
                Some(user) => format!("as {user:?}"),
                None => "without a user name".into(),
            };
            let over = if tls {
                format!(
                    " over TLS, its certificate verified with mqtt.ca_file {}{}",
                    m.ca_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                    if m.client_cert_file.is_some() { ", with the client certificate" } else { "" }
                )
            } else {
                String::new()
            };
            Finding::pass(subject, format!("{host}:{port} accepted the login {login}{over} (CONNACK)"))
        }
        Ok(Err(e)) => Finding::fail(subject, mqtt::describe_failure(m, &options, &e), broker_fix(&e, tls)),
        Err(_) => Finding::fail(
            subject,
            format!("no CONNACK from {host}:{port} within {}", human(timeout)),
            "something there accepts connections but does not answer MQTT: check the scheme (mqtt:// or mqtts://) and the port of mqtt.url",
        ),
    }
}

fn broker_fix(e: &ConnectionError, tls: bool) -> String {
    match e {
        ConnectionError::ConnectionRefused(
            ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized,
        ) => "correct mqtt.username or the password in mqtt.password_file (or the broker's account of that user)".into(),
        ConnectionError::ConnectionRefused(_) => "see the broker's log for why it refused".into(),
        ConnectionError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "start the broker, or correct the host and port of mqtt.url".into()
        }
        _ if tls => "mqtt.ca_file must hold the CA that signed the broker's certificate, the certificate must name the host of mqtt.url, and a broker that wants a client certificate needs mqtt.client_cert_file and mqtt.client_key_file".into(),
        _ => "check mqtt.url, that the broker runs, and that a firewall lets this box reach it".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::doctor::Verdict;
    use crate::config::Config;

    fn sink(extra: &str) -> SinkConfig {
        let text = format!(
            "version = 1\n[site]\nid = \"wh\"\n[sinks.erp]\nurl = \"https://erp.example.com/events\"\n{extra}"
        );
        Config::parse(&text).unwrap().sinks["erp"].clone()
    }

    #[test]
    fn answers_to_the_probe_mean_what_deliveries_would_meet() {
        let bearer = sink("[sinks.erp.auth]\nbearer_token_file = \"/etc/dockgate/erp.token\"\n");
        let j = |status, html| judge("erp", &bearer, "OPTIONS x", status, html, None);
        for ok in [200, 204, 404, 405, 501, 400] {
            assert_eq!(j(ok, false).verdict, Verdict::Pass, "{ok}");
        }
        for bad in [401, 403, 407, 302] {
            let f = j(bad, false);
            assert_eq!(f.verdict, Verdict::Fail, "{bad}");
            assert!(f.fix.is_some(), "{bad}");
        }
        for warn in [429, 500, 503] {
            assert_eq!(j(warn, false).verdict, Verdict::Warn, "{warn}");
        }
        assert_eq!(j(200, true).verdict, Verdict::Warn);
        let refused = j(401, false);
        assert!(
            refused.detail.contains("refused the credentials"),
            "{refused:?}"
        );
        assert!(refused.fix.unwrap().contains("sinks.erp.auth"));
        let bare = judge("erp", &sink(""), "OPTIONS x", 401, false, None);
        assert!(bare.detail.contains("has none"), "{bare:?}");
        let moved = judge(
            "erp",
            &bare_sink(),
            "OPTIONS x",
            301,
            false,
            Some("https://new/events"),
        );
        assert!(moved.detail.contains("https://new/events"), "{moved:?}");
    }

    fn bare_sink() -> SinkConfig {
        sink("")
    }

    #[test]
    fn the_first_hop_is_the_proxy_when_there_is_one() {
        let url = reqwest::Url::parse("https://erp.example.com/events").unwrap();
        let none = |_: &str| None;
        assert_eq!(first_hop(&bare_sink(), &url, none), None);
        let proxied = sink("proxy = \"http://proxy.example.com:3128\"\n");
        let hop = first_hop(&proxied, &url, none).unwrap();
        assert_eq!((hop.host.as_str(), hop.port), ("proxy.example.com", 3128));
        let env = |k: &str| (k == "https_proxy").then(|| "squid:8080".to_owned());
        let hop = first_hop(&bare_sink(), &url, env).unwrap();
        assert_eq!((hop.host.as_str(), hop.port), ("squid", 8080));
        assert!(hop.why.contains("NO_PROXY"), "{hop:?}");
        // An http:// sink does not take HTTPS_PROXY.
        let plain = reqwest::Url::parse("http://erp.example.com/events").unwrap();
        assert_eq!(first_hop(&bare_sink(), &plain, env), None);
    }

    #[test]
    fn credentials_and_trust_are_named_not_shown() {
        let basic = sink("[sinks.erp.auth]\nusername = \"dg\"\npassword_file = \"/p\"\n");
        assert_eq!(credentials(&basic), "basic auth as \"dg\"");
        let only = sink("[sinks.erp.tls]\nca_file = \"/etc/ca.pem\"\nonly_ca_file = true\n");
        assert!(
            trust(&only).contains("/etc/ca.pem (only)"),
            "{}",
            trust(&only)
        );
        let unknown = tls_fix("erp", &only, "invalid peer certificate: UnknownIssuer");
        assert!(
            unknown.starts_with("sinks.erp.tls.ca_file (/etc/ca.pem) must hold"),
            "{unknown}"
        );
        let wants = tls_fix("erp", &only, "received fatal alert: CertificateRequired");
        assert!(wants.contains("tls.client_cert_file"), "{wants}");
        assert!(tls_fix("erp", &bare_sink(), "NotValidForName").contains("host name"));
    }

    #[tokio::test]
    async fn a_closed_port_is_refused_and_says_so() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let (detail, refused) = connect(&[addr], Duration::from_secs(2)).await.unwrap_err();
        assert!(refused);
        assert!(detail.contains("refused"), "{detail}");
        let (addrs, said) = resolve("127.0.0.1", 80, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(addrs.len(), 1);
        assert!(said.contains("nothing to resolve"));
    }
}
