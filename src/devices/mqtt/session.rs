//! The broker session's settings: client options of a persistent session (clean session off,
//! stable client id, manual acknowledgements), credentials and TLS read from their files, the
//! check `dockgate config validate` runs on them, and what a connection failure most likely
//! means.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rumqttc::{ConnectReturnCode, ConnectionError, MqttOptions, TlsConfiguration, Transport};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::MqttConfig;

/// Errors setting up the broker connection.
#[derive(Debug, thiserror::Error)]
pub enum MqttSetupError {
    /// The URL has no host or port.
    #[error("mqtt.url {0:?} is not mqtt://host:port or mqtts://host:port")]
    Url(String),
    /// A credential or certificate file could not be read.
    #[error("mqtt.{key}: cannot read {}", path.display())]
    File {
        /// Config key naming the file, e.g. `ca_file`.
        key: &'static str,
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A credential or certificate file holds nothing usable.
    #[error("mqtt.{key}: {}: {problem}", path.display())]
    Content {
        /// Config key naming the file.
        key: &'static str,
        /// File.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// rustls refused the TLS settings.
    #[error("mqtt: TLS settings refused")]
    Tls(#[source] rustls::Error),
}

impl MqttSetupError {
    /// The config key at fault (`mqtt.<key>`) and what is wrong, for `dockgate config validate`.
    pub fn problem(&self) -> (String, String) {
        match self {
            Self::Url(url) => (
                "mqtt.url".into(),
                format!("expected mqtt://host:port or mqtts://host:port, got {url:?}"),
            ),
            Self::File { key, path, source } => (
                format!("mqtt.{key}"),
                format!("cannot read {}: {source}", path.display()),
            ),
            Self::Content { key, path, problem } => (
                format!("mqtt.{key}"),
                format!("{}: {problem}", path.display()),
            ),
            Self::Tls(e) => ("mqtt.url".into(), format!("TLS settings refused: {e}")),
        }
    }
}

/// What a connection failure is reported with: the settings it most likely concerns.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    host: String,
    /// `host:port`, for people.
    address: String,
    username: Option<String>,
    password_file: Option<PathBuf>,
    /// Set for `mqtts://` only, as the client certificate.
    ca_file: Option<PathBuf>,
    client_cert_file: Option<PathBuf>,
}

impl Settings {
    /// The settings of `[mqtt]` a connection with `options` uses.
    pub fn of(m: &MqttConfig, options: &MqttOptions) -> Self {
        let tls = matches!(options.transport(), Transport::Tls(_));
        let (host, port) = options.broker_address();
        Self {
            address: format!("{host}:{port}"),
            host,
            username: m.username.clone(),
            password_file: m.password_file.clone(),
            ca_file: m.ca_file.clone().filter(|_| tls),
            client_cert_file: m.client_cert_file.clone().filter(|_| tls),
        }
    }

    /// `error` with what to check, for the log and the device status.
    pub fn describe(&self, error: &ConnectionError) -> String {
        if let ConnectionError::ConnectionRefused(
            code @ (ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized),
        ) = error
        {
            return match (&self.username, &self.password_file) {
                (Some(user), Some(file)) => format!(
                    "the broker refused the login ({code:?}): check mqtt.username {user:?} and \
                     the password in mqtt.password_file {}",
                    file.display()
                ),
                _ => format!(
                    "the broker refused the login ({code:?}): it may want mqtt.username and \
                     mqtt.password_file"
                ),
            };
        }
        let Some(tls) = tls_cause(error) else {
            return match error {
                ConnectionError::Io(e) => {
                    format!("cannot reach the site broker at {} ({e})", self.address)
                }
                other => other.to_string(),
            };
        };
        let hint = match (tls, &self.ca_file, &self.client_cert_file) {
            (rustls::Error::InvalidCertificate(_), Some(ca), _) => format!(
                " (the broker's certificate must be signed by the CA in mqtt.ca_file {} and \
                 name {:?})",
                ca.display(),
                self.host
            ),
            (
                rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
                _,
                None,
            ) => " (the broker wants a client certificate: mqtt.client_cert_file and \
                  mqtt.client_key_file)"
                .into(),
            (rustls::Error::AlertReceived(_), _, Some(cert)) => format!(
                " (the broker may not accept the client certificate in mqtt.client_cert_file {})",
                cert.display()
            ),
            _ => String::new(),
        };
        format!("TLS with the broker failed: {tls}{hint}")
    }
}

/// The rustls error behind a connection failure (rumqttc wraps it in I/O errors, during the
/// handshake or, for an alert the broker sends after it, on the first read).
fn tls_cause(error: &ConnectionError) -> Option<&rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        next = e.source();
    }
    None
}

/// Client options of dockgate's persistent session on the broker of `m`.
pub(super) fn options(m: &MqttConfig, site: &str) -> Result<MqttOptions, MqttSetupError> {
    let url = reqwest::Url::parse(&m.url).map_err(|_| MqttSetupError::Url(m.url.clone()))?;
    let tls = url.scheme() == "mqtts";
    // An IPv6 address without its URL brackets, as the TLS server name and for connecting.
    let host = url
        .host_str()
        .ok_or_else(|| MqttSetupError::Url(m.url.clone()))?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = url.port().unwrap_or(if tls { 8883 } else { 1883 });
    let client_id = m
        .client_id
        .clone()
        .unwrap_or_else(|| format!("dockgate-{site}"));
    let mut o = MqttOptions::new(client_id, host, port);
    o.set_keep_alive(m.keep_alive);
    // A persistent session: the broker keeps our subscriptions and unacknowledged messages.
    o.set_clean_session(false);
    o.set_manual_acks(true);
    // rumqttc drops the connection on a packet over its limit, which would loop (the broker
    // resends it); accept generously here and quarantine what exceeds max_packet_size.
    let incoming = (m.max_packet_size as usize)
        .saturating_mul(16)
        .clamp(1 << 20, 256 << 20);
    o.set_max_packet_size(incoming, 1 << 20);
    if let Some((user, password)) = credentials(m)? {
        o.set_credentials(user, password);
    }
    if tls {
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(tls_config(m)?),
        )));
    }
    Ok(o)
}

/// Checks `[mqtt]` as the connection will use it: the URL, the password file and, for
/// `mqtts://`, the CA, client certificate and key files.
pub fn check(m: &MqttConfig) -> Result<(), MqttSetupError> {
    options(m, "check").map(drop)
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, MqttSetupError> {
    std::fs::read(path).map_err(|source| MqttSetupError::File {
        key,
        path: path.to_owned(),
        source,
    })
}

fn content(key: &'static str, path: &Path, problem: impl Into<String>) -> MqttSetupError {
    MqttSetupError::Content {
        key,
        path: path.to_owned(),
        problem: problem.into(),
    }
}

/// User name and password (`password_file`'s text with surrounding white space removed, as
/// for the sinks' secret files).
fn credentials(m: &MqttConfig) -> Result<Option<(String, String)>, MqttSetupError> {
    let (Some(user), Some(file)) = (&m.username, &m.password_file) else {
        return Ok(None);
    };
    let bytes = read("password_file", file)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| content("password_file", file, "the password is not UTF-8 text"))?;
    let password = text.trim();
    if password.is_empty() {
        return Err(content("password_file", file, "the file holds no password"));
    }
    Ok(Some((user.clone(), password.to_owned())))
}

/// Certificates of a PEM file (`-----BEGIN CERTIFICATE-----` sections; others are skipped).
fn pem_certificates(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, MqttSetupError> {
    let bytes = read(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| content(key, path, format!("not a valid PEM file: {e}")))?;
    if certs.is_empty() {
        return Err(content(
            key,
            path,
            "no certificate in it; expected PEM (-----BEGIN CERTIFICATE-----); convert a DER \
             file with `openssl x509 -inform der -in FILE -out FILE.pem`",
        ));
    }
    Ok(certs)
}

/// The rustls client configuration of an `mqtts://` broker: server verified against the CA
/// certificates of `ca_file` (host name or IP address checked against the certificate's
/// subject alternative names), optional client certificate. The crypto provider is named
/// here (ring), so the connection does not depend on a process-wide default.
fn tls_config(m: &MqttConfig) -> Result<rustls::ClientConfig, MqttSetupError> {
    let Some(ca_file) = &m.ca_file else {
        return Err(MqttSetupError::Content {
            key: "ca_file",
            path: PathBuf::new(),
            problem: "mqtts:// needs ca_file, the CA certificate (PEM) of the broker".into(),
        });
    };
    let mut roots = rustls::RootCertStore::empty();
    for (i, cert) in pem_certificates("ca_file", ca_file)?
        .into_iter()
        .enumerate()
    {
        roots.add(cert).map_err(|e| {
            content(
                "ca_file",
                ca_file,
                format!("certificate {} is not usable as a CA: {e}", i + 1),
            )
        })?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(MqttSetupError::Tls)?
    .with_root_certificates(roots);
    match (&m.client_cert_file, &m.client_key_file) {
        (Some(cert_file), Some(key_file)) => {
            let certs = pem_certificates("client_cert_file", cert_file)?;
            let key = PrivateKeyDer::from_pem_slice(&read("client_key_file", key_file)?).map_err(
                |e| {
                    content(
                        "client_key_file",
                        key_file,
                        format!(
                            "no usable private key (expected PEM: PKCS#8, PKCS#1 or SEC1): {e}"
                        ),
                    )
                },
            )?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                content(
                    "client_key_file",
                    key_file,
                    format!("not usable with {}: {e}", cert_file.display()),
                )
            })
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}
