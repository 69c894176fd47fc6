//! HTTP side of a sink: the reqwest client (no redirects, per-request timeout, credentials from
//! files) and one POST with its answer read into a bounded excerpt; and the probe of
//! `dockgate doctor`, sent with the same client and credentials.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, DATE, LOCATION, RETRY_AFTER,
    USER_AGENT,
};

use super::oauth2::{NoToken, TokenSource};
use super::retry::{classify, parse_retry_after, Verdict};
use crate::config::SinkConfig;
use crate::model::error_chain;

/// Most bytes of an answer read; the rest is discarded unread.
const MAX_ANSWER: usize = 64 * 1024;
/// Bytes of an answer kept as evidence on a dead letter or in a last error.
const EXCERPT: usize = 512;

/// The header that marks the probe of `dockgate doctor` (value `1`), so a receiver can tell it
/// from a delivery; docs/integrating.md describes the whole request.
pub const PROBE_HEADER: &str = "X-Dockgate-Probe";
/// `User-Agent` of the probe.
pub const PROBE_USER_AGENT: &str = concat!("dockgate/", env!("CARGO_PKG_VERSION"), " (probe)");

/// Errors building a sink's client.
#[derive(Debug, thiserror::Error)]
pub enum SinkBuildError {
    /// A credential file could not be read.
    #[error("auth.{key} {path}: cannot be read")]
    Credential {
        /// The key that names the file, e.g. `bearer_token_file`.
        key: &'static str,
        /// File.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A credential is not usable (in an HTTP header, or as NATS credentials).
    #[error("auth.{key} {path}: {problem}")]
    BadCredential {
        /// The key that names the file.
        key: &'static str,
        /// File.
        path: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A TLS file (`tls.ca_file`, a client certificate or key) is missing or unusable.
    #[error("{key} {path}: {problem}")]
    Tls {
        /// The key that names the file, `tls.ca_file`.
        key: &'static str,
        /// File.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The proxy URL is not usable.
    #[error("proxy {url:?}: {problem}")]
    Proxy {
        /// As configured.
        url: String,
        /// Why reqwest refused it.
        problem: String,
    },
    /// The sink's template cannot be used.
    #[error(transparent)]
    Mapping(#[from] super::mapping::MappingError),
    /// The URL does not parse (config validation normally catches this).
    #[error("sink URL {0:?} is not a valid URL")]
    BadUrl(String),
    /// reqwest refused the settings.
    #[error("building HTTP client")]
    Client(#[from] reqwest::Error),
}

/// A ready-to-use HTTP client for one sink.
#[derive(Clone)]
pub struct SinkClient {
    client: reqwest::Client,
    url: reqwest::Url,
    auth: HeaderMap,
    oauth2: Option<Arc<TokenSource>>,
}

/// What came back from one POST.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Classification of the answer.
    pub verdict: Verdict,
    /// HTTP status, if the receiver answered.
    pub status: Option<u16>,
    /// Short description for logs and the event's last error.
    pub detail: String,
    /// Start of the answer body (escaped), kept as evidence.
    pub excerpt: String,
}

/// What a receiver made of the probe of `dockgate doctor`.
#[derive(Debug, Clone)]
pub enum Probed {
    /// It answered (the body is not read).
    Answered {
        /// HTTP status.
        status: u16,
        /// The answer is `text/html`: what a login portal or a proxy's error page sends.
        html: bool,
        /// `Location` of a redirect.
        location: Option<String>,
        /// The receiver's clock (`Date`), to hold this box's against.
        date: Option<SystemTime>,
    },
    /// The OAuth2 token endpoint gave no token; nothing was sent to the receiver.
    NoToken(String),
    /// No answer: name resolution, connection, TLS or the sink's timeout failed.
    Unanswered {
        /// The TLS handshake failed (rustls refused the receiver, or the receiver refused us).
        tls: bool,
        /// The sink's `timeout` passed.
        timeout: bool,
        /// What happened, with what to check for the TLS failures rustls names.
        detail: String,
    },
}

impl SinkClient {
    /// Builds the client of sink `name`, reading its credential files.
    pub fn build(name: &str, config: &SinkConfig) -> Result<Self, SinkBuildError> {
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .user_agent(concat!("dockgate/", env!("CARGO_PKG_VERSION")));
        let client = transport(builder, config)?
            .build()
            .map_err(|e| client_build_error(e, config))?;
        let url = reqwest::Url::parse(&config.url)
            .map_err(|_| SinkBuildError::BadUrl(config.url.clone()))?;
        let mut auth = HeaderMap::new();
        let a = &config.auth;
        if let Some(file) = &a.bearer_token_file {
            let token = read_secret("bearer_token_file", file)?;
            auth.insert(
                AUTHORIZATION,
                header_value(&format!("Bearer {token}"), "bearer_token_file", file)?,
            );
        }
        if let (Some(user), Some(file)) = (&a.username, &a.password_file) {
            // reqwest encodes basic auth; a throwaway request yields the header value.
            let password = read_secret("password_file", file)?;
            let probe = reqwest::Client::new()
                .get(url.clone())
                .basic_auth(user, Some(password))
                .build()?;
            if let Some(value) = probe.headers().get(AUTHORIZATION) {
                auth.insert(AUTHORIZATION, value.clone());
            }
        }
        if let (Some(name), Some(file)) = (&a.header_name, &a.header_value_file) {
            // The name is in the configuration, which validation has checked.
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                SinkBuildError::BadCredential {
                    key: "header_name",
                    path: name.clone(),
                    problem: "not a valid HTTP header name",
                }
            })?;
            let value = read_secret("header_value_file", file)?;
            auth.insert(name, header_value(&value, "header_value_file", file)?);
        }
        for v in auth.values_mut() {
            v.set_sensitive(true);
        }
        let oauth2 = match (
            &a.oauth2_token_url,
            &a.oauth2_client_id,
            &a.oauth2_client_secret_file,
        ) {
            (Some(token_url), Some(id), Some(file)) => {
                let token_url = reqwest::Url::parse(token_url)
                    .map_err(|_| SinkBuildError::BadUrl(token_url.clone()))?;
                Some(Arc::new(TokenSource::new(
                    name,
                    client.clone(),
                    token_url,
                    id.clone(),
                    read_secret("oauth2_client_secret_file", file)?,
                    a.oauth2_scope.clone(),
                )))
            }
            _ => None,
        };
        Ok(Self {
            client,
            url,
            auth,
            oauth2,
        })
    }

    /// POSTs one body and classifies the answer. Never fails: transport errors are answers too.
    /// With OAuth2, a 401 to a token makes one new token and one more attempt at once.
    pub async fn post(&self, body: String, content_type: &str, key: &str) -> Answer {
        let Some(tokens) = &self.oauth2 else {
            return self.send(body, content_type, key, None).await;
        };
        let bearer = match tokens.bearer().await {
            Ok(b) => b,
            Err(no) => return no_token(no),
        };
        let answer = self
            .send(body.clone(), content_type, key, Some(&bearer.header))
            .await;
        if answer.status != Some(401) {
            return answer;
        }
        tokens.rejected(&bearer).await;
        match tokens.bearer().await {
            Ok(fresh) => {
                self.send(body, content_type, key, Some(&fresh.header))
                    .await
            }
            Err(no) => no_token(no),
        }
    }

    /// Sends the probe of `dockgate doctor`: `OPTIONS <url>` without a body, with the sink's
    /// credentials (a fresh OAuth2 token first, when the sink has OAuth2), `User-Agent:`
    /// [`PROBE_USER_AGENT`] and [`PROBE_HEADER`]`: 1`; TLS and proxy as for a delivery.
    pub async fn probe(&self) -> Probed {
        let mut request = self
            .client
            .request(reqwest::Method::OPTIONS, self.url.clone())
            .headers(self.auth.clone())
            .header(USER_AGENT, PROBE_USER_AGENT)
            .header(PROBE_HEADER, "1");
        if let Some(tokens) = &self.oauth2 {
            match tokens.bearer().await {
                Ok(bearer) => request = request.header(AUTHORIZATION, bearer.header),
                Err(no) => return Probed::NoToken(no.detail),
            }
        }
        match request.send().await {
            Ok(response) => {
                let headers = response.headers();
                Probed::Answered {
                    status: response.status().as_u16(),
                    html: header_str(headers, CONTENT_TYPE).is_some_and(|ct| {
                        ct.trim_start()
                            .to_ascii_lowercase()
                            .starts_with("text/html")
                    }),
                    location: header_str(headers, LOCATION),
                    date: header_str(headers, DATE)
                        .and_then(|d| httpdate::parse_http_date(&d).ok()),
                }
            }
            Err(error) => {
                let chain = error_chain(&error);
                Probed::Unanswered {
                    tls: tls_failure(&error),
                    timeout: error.is_timeout(),
                    detail: format!("{chain}{}", tls_hint(&chain)),
                }
            }
        }
    }

    async fn send(
        &self,
        body: String,
        content_type: &str,
        key: &str,
        bearer: Option<&HeaderValue>,
    ) -> Answer {
        let mut request = self
            .client
            .post(self.url.clone())
            .headers(self.auth.clone())
            .header(CONTENT_TYPE, content_type)
            .header("Idempotency-Key", key)
            .body(body);
        if let Some(bearer) = bearer {
            request = request.header(AUTHORIZATION, bearer.clone());
        }
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(error) => {
                let reason = if error.is_timeout() {
                    "timeout"
                } else if error.is_connect() {
                    "connect"
                } else {
                    "transport"
                };
                let chain = error_chain(&error);
                return Answer {
                    verdict: Verdict::Retry {
                        reason,
                        retry_after: None,
                    },
                    status: None,
                    detail: format!("{reason}: {chain}{}", tls_hint(&chain)),
                    excerpt: String::new(),
                };
            }
        };
        let status = response.status().as_u16();
        let content_type = header_str(response.headers(), CONTENT_TYPE);
        let retry_after = header_str(response.headers(), RETRY_AFTER)
            .and_then(|v| parse_retry_after(&v, SystemTime::now()));
        let location = header_str(response.headers(), LOCATION);
        let mut body = Vec::new();
        let mut truncated_read = None;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_ANSWER.saturating_sub(body.len());
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if body.len() >= MAX_ANSWER {
                        break;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    truncated_read = Some(error_chain(&error));
                    break;
                }
            }
        }
        let excerpt = excerpt(&body);
        let mut verdict = classify(status, content_type.as_deref(), retry_after);
        // A 2xx whose body broke off mid-way is not a trustworthy acknowledgement.
        if let (Verdict::Delivered, Some(err)) = (&verdict, &truncated_read) {
            verdict = Verdict::Retry {
                reason: "truncated_answer",
                retry_after: None,
            };
            return Answer {
                verdict,
                status: Some(status),
                detail: format!("HTTP {status}, answer broke off: {err}"),
                excerpt,
            };
        }
        let detail = match &verdict {
            Verdict::Delivered => format!("HTTP {status}"),
            Verdict::Retry { reason, .. }
            | Verdict::Pause { reason }
            | Verdict::Refused { reason } => match &location {
                // Where it points is what the sink's url should probably say.
                Some(to) if (300..400).contains(&status) => {
                    format!("HTTP {status} ({reason} to {to})")
                }
                _ => format!("HTTP {status} ({reason})"),
            },
        };
        Answer {
            verdict,
            status: Some(status),
            detail,
            excerpt,
        }
    }
}

/// No token could be had: the token endpoint's trouble is the sink's.
fn no_token(no: NoToken) -> Answer {
    Answer {
        verdict: no.verdict,
        status: None,
        detail: no.detail,
        excerpt: String::new(),
    }
}

/// A client that could not be built. rustls checks that the client key belongs to the
/// certificate only then, and says so without naming either file; this names them.
fn client_build_error(e: reqwest::Error, config: &SinkConfig) -> SinkBuildError {
    let chain = crate::model::Chain(&e).to_string();
    match (&config.tls.client_cert_file, &config.tls.client_key_file) {
        (Some(cert), Some(key))
            if chain.contains("KeyMismatch") || chain.contains("keys may not be consistent") =>
        {
            SinkBuildError::Tls {
                key: "tls.client_key_file",
                path: key.display().to_string(),
                problem: format!(
                    "is not the private key of the certificate in tls.client_cert_file {}",
                    cert.display()
                ),
            }
        }
        _ => SinkBuildError::from(e),
    }
}

/// The sink's TLS trust, client certificate and proxy, on `builder`. Files are read now: when
/// the sink starts.
fn transport(
    mut builder: reqwest::ClientBuilder,
    config: &SinkConfig,
) -> Result<reqwest::ClientBuilder, SinkBuildError> {
    let tls = &config.tls;
    let file = |key: &'static str, path: &Path| {
        std::fs::read(path).map_err(|e| SinkBuildError::Tls {
            key,
            path: path.display().to_string(),
            problem: e.to_string(),
        })
    };
    if let Some(path) = &tls.ca_file {
        let pem = file("tls.ca_file", path)?;
        let unusable = |problem: String| SinkBuildError::Tls {
            key: "tls.ca_file",
            path: path.display().to_string(),
            problem,
        };
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| unusable(format!("not PEM certificates ({e})")))?;
        if certs.is_empty() {
            return Err(unusable(
                "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
            ));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
        if tls.only_ca_file {
            builder = builder.tls_built_in_root_certs(false);
        }
    }
    if let (Some(cert), Some(key)) = (&tls.client_cert_file, &tls.client_key_file) {
        let mut pem = file("tls.client_cert_file", cert)?;
        pem.push(b'\n');
        pem.extend(file("tls.client_key_file", key)?);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| SinkBuildError::Tls {
            key: "tls.client_cert_file",
            path: format!("{} with {}", cert.display(), key.display()),
            problem: format!("not a PEM certificate and private key ({e})"),
        })?;
        builder = builder.identity(identity);
    }
    if let Some(url) = &config.proxy {
        let proxy = reqwest::Proxy::all(url).map_err(|e| SinkBuildError::Proxy {
            url: url.clone(),
            problem: e.to_string(),
        })?;
        // As without `proxy`: hosts in NO_PROXY are reached directly.
        builder = builder.proxy(proxy.no_proxy(reqwest::NoProxy::from_env()));
    }
    Ok(builder)
}

/// Whether rustls is behind `error`: the receiver's certificate was refused, or the receiver
/// refused the handshake (an alert). reqwest wraps it in I/O errors, one inside the other,
/// whose `source()` skips the error they wrap: those are opened with `get_ref`.
fn tls_failure(error: &reqwest::Error) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        let mut inner = Some(e);
        while let Some(i) = inner {
            if i.is::<rustls::Error>() {
                return true;
            }
            inner = i
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|r| r as &(dyn std::error::Error + 'static));
        }
        next = e.source();
    }
    false
}

/// What to check for a TLS failure, from rustls' words in the error.
fn tls_hint(chain: &str) -> &'static str {
    if chain.contains("UnknownIssuer") {
        " (the receiver's certificate is not signed by a CA this sink trusts: tls.ca_file)"
    } else if chain.contains("NotValidForName") {
        " (the receiver's certificate does not name the host of the sink's url)"
    } else if chain.contains("CertificateRequired") {
        " (the receiver wants a client certificate: tls.client_cert_file and tls.client_key_file)"
    } else if chain.contains("certificate") && chain.contains("Expired") {
        " (the receiver's certificate has expired, or this box's clock is wrong)"
    } else {
        ""
    }
}

fn header_str(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Printable start of an answer body: lossy UTF-8, control characters escaped (so an excerpt
/// never breaks a log line), everything else as sent.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(EXCERPT)]);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The trimmed content of the credential file `path`, which the sink's `auth.<key>` names.
pub(super) fn read_secret(key: &'static str, path: &Path) -> Result<String, SinkBuildError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|source| SinkBuildError::Credential {
            key,
            path: path.display().to_string(),
            source,
        })
}

fn header_value(
    value: &str,
    key: &'static str,
    file: &Path,
) -> Result<HeaderValue, SinkBuildError> {
    HeaderValue::from_str(value).map_err(|_| SinkBuildError::BadCredential {
        key,
        path: file.display().to_string(),
        problem: "not a valid HTTP header value",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_is_bounded_and_escaped() {
        let e = excerpt(b"<html>\n\x01\"oops\"</html>");
        assert_eq!(e, "<html>\\n\\u{1}\"oops\"</html>");
        assert!(excerpt(&[b'a'; 10_000]).len() <= EXCERPT * 2);
    }

    #[test]
    fn a_missing_credential_file_is_named_with_its_key() {
        let text = "version = 1\n[site]\nid = \"wh-test\"\n\
                    [sinks.erp]\nurl = \"http://127.0.0.1:9/\"\n\
                    [sinks.erp.auth]\nbearer_token_file = \"/nonexistent/erp.token\"\n";
        let config = crate::config::Config::parse(text).unwrap();
        let Err(e) = SinkClient::build("erp", &config.sinks["erp"]) else {
            panic!("built with a missing token file");
        };
        let said = crate::model::error_chain(&e);
        assert!(
            said.starts_with("auth.bearer_token_file /nonexistent/erp.token: cannot be read: "),
            "{said}"
        );
    }
}
