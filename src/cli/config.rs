//! `dockgate config ...`: check a configuration (on the box or off it), sign and push one to a
//! site (central IT's side of DESIGN §6), make a signing key pair, roll a box back.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine as _;
use clap::{Args, Subcommand};
use rumqttc::{AsyncClient, Event, Incoming, QoS};
use serde_json::Value;

use super::{admin_call, Cli};
use crate::config::{Config, MqttConfig};
use crate::control::config_push::{config_topic, status_topic, ChangeStatus, PushMessage};
use crate::devices::mqtt;
use crate::telemetry::{print_stderr, Severity};

/// `dockgate config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file (default: the one --config names).
    ///
    /// Exits non-zero with file, line, key and reason. Secret files are never read; the payload
    /// templates it names are compiled when they are on this machine and noted otherwise, so a
    /// file for another box can be checked anywhere.
    Validate {
        /// The file to check.
        file: Option<PathBuf>,
    },
    /// Sign a configuration and publish it to its site.
    ///
    /// Signs with a minisign secret key and publishes it, retained, to dockgate/<site>/config
    /// on the site's broker or one it is bridged to.
    Push(PushArgs),
    /// Make a signing key pair for configuration pushes.
    ///
    /// In minisign's format: <OUT>.key (secret, encrypted with a password) and <OUT>.pub (for
    /// config_push.public_key_file).
    Keygen(KeygenArgs),
    /// Go back to the configuration this box applied before the running one.
    Rollback,
}

/// `dockgate config push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The configuration (TOML) to push; its site.id says where it goes.
    pub file: PathBuf,
    /// The minisign secret key to sign with (made by `minisign -G` or `dockgate config keygen`).
    #[arg(long, value_name = "SECRET_KEY")]
    pub key: PathBuf,
    /// The key's password, in a file (else asked for on the terminal, or read from stdin).
    #[arg(long, value_name = "FILE")]
    pub key_password_file: Option<PathBuf>,
    /// The broker: mqtt://host:port or mqtts://host:port.
    #[arg(long, value_name = "URL")]
    pub broker: String,
    /// CA certificate(s) of an mqtts:// broker (PEM).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// User name at the broker (with --password-file).
    #[arg(long)]
    pub username: Option<String>,
    /// The broker password, in a file.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Wait this long (`30s`, `2m`) for the site's answer on dockgate/<site>/config/status,
    /// and exit non-zero when it refused the push.
    #[arg(long, value_name = "DURATION")]
    pub wait: Option<String>,
}

/// `dockgate config keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where the pair goes: <OUT>.key and <OUT>.pub.
    #[arg(long, value_name = "OUT", default_value = "dockgate-push")]
    pub out: PathBuf,
    /// The password for the secret key, in a file (else asked for twice on the terminal, or
    /// read from stdin).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Leave the secret key unencrypted (keep it somewhere safe some other way).
    #[arg(long, conflicts_with = "password_file")]
    pub no_password: bool,
    /// Replace files that exist.
    #[arg(long)]
    pub force: bool,
}

/// `dockgate config validate`.
pub fn validate(file: &Path) -> ExitCode {
    match Config::load(file) {
        Ok(config) => {
            let (problems, absent) = crate::forward::mapping::check(&config);
            for where_ in &absent {
                print_stderr(
                    Severity::Warning,
                    format_args!(
                        "{}: not checked, not on this machine: {where_}",
                        file.display()
                    ),
                );
            }
            if print_problems(&problems) {
                return ExitCode::FAILURE;
            }
            out!(
                "{}: valid (version {}, site {}, {} sinks, {} devices)",
                file.display(),
                config.version,
                config.site.id,
                config.sinks.len(),
                config.devices.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            print_stderr(Severity::Error, &e);
            ExitCode::FAILURE
        }
    }
}

/// Prints, as configuration errors (`FILE:LINE`), the problems of the templates of `config`
/// that are on this machine; whether there were any.
pub(super) fn print_template_problems(config: &Config) -> bool {
    print_problems(&crate::forward::mapping::check(config).0)
}

/// Prints template problems as configuration errors; whether there were any.
fn print_problems(problems: &[(std::path::PathBuf, crate::config::Problem)]) -> bool {
    for (path, problem) in problems {
        let e = crate::config::ConfigError {
            path: path.clone(),
            problems: vec![problem.clone()],
        };
        print_stderr(Severity::Error, &e);
    }
    !problems.is_empty()
}

/// A password from `file` (its first line), else from the terminal (hidden), else the first
/// line of stdin.
fn password(file: Option<&Path>, prompt: &str, confirm: bool) -> anyhow::Result<String> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the password file {}", file.display()))?;
        return Ok(text.lines().next().unwrap_or_default().to_owned());
    }
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(prompt).context("reading the password")?;
        if confirm {
            let again =
                rpassword::prompt_password("Password (again): ").context("reading the password")?;
            if again != first {
                bail!("the two passwords differ");
            }
        }
        return Ok(first);
    }
    let mut line = String::new();
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    if read == 0 {
        bail!("a password is needed and none was given: use --key-password-file, pipe it on stdin, or run in a terminal");
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// `dockgate config keygen`.
pub fn keygen(args: &KeygenArgs) -> anyhow::Result<()> {
    let with = |ext: &str| PathBuf::from(format!("{}.{ext}", args.out.display()));
    let (secret, public) = (with("key"), with("pub"));
    for path in [&secret, &public] {
        if path.exists() && !args.force {
            bail!("{} exists; --force replaces it", path.display());
        }
    }
    let pair = if args.no_password {
        minisign::KeyPair::generate_unencrypted_keypair()
    } else {
        let pw = password(
            args.password_file.as_deref(),
            "Password for the new secret key: ",
            true,
        )?;
        if pw.is_empty() {
            bail!("an empty password; use --no-password for an unencrypted key");
        }
        minisign::KeyPair::generate_encrypted_keypair(Some(pw))
    }
    .context("generating the key pair")?;
    let sk = pair
        .sk
        .to_box(Some("dockgate configuration push secret key"))
        .context("encoding the secret key")?;
    let pk = pair.pk.to_box().context("encoding the public key")?;
    write_private(&secret, sk.into_string().as_bytes())?;
    std::fs::write(&public, pk.into_string())
        .with_context(|| format!("writing {}", public.display()))?;
    out!(
        "secret key: {} (keep it off the warehouse boxes)\npublic key: {} (copy it to each \
         box and name it in [config_push] public_key_file)",
        secret.display(),
        public.display()
    );
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

/// The secret key of `path`, asking for its password when it has one.
/// Length of a minisign secret key: algorithms, KDF salt and limits, key id, key, checksum.
const SECRET_KEY_BYTES: usize = 2 + 2 + 2 + 32 + 8 + 8 + 8 + 64 + 32;

fn secret_key(path: &Path, password_file: Option<&Path>) -> anyhow::Result<minisign::SecretKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the secret key {}", path.display()))?;
    if minisign::PublicKeyBox::from_string(&text)
        .and_then(|b| b.into_public_key())
        .is_ok()
    {
        bail!(
            "{} is a public key; --key takes the secret key (the .key file of the pair)",
            path.display()
        );
    }
    let not_a_key = || anyhow::anyhow!("{} is not a minisign secret key", path.display());
    let bytes = text
        .lines()
        .nth(1)
        .and_then(|l| {
            base64::engine::general_purpose::STANDARD
                .decode(l.trim())
                .ok()
        })
        .filter(|b| b.len() == SECRET_KEY_BYTES)
        .ok_or_else(not_a_key)?;
    // Not encrypted (`minisign -G -W`): minisign leaves its checksum out, so the key is read
    // as it is; a wrong one would make signatures the site refuses, with the key id named.
    if bytes[2..4] == [0, 0] {
        return minisign::SecretKey::from_bytes(&bytes).map_err(|_| not_a_key());
    }
    let key_box = minisign::SecretKeyBox::from_string(&text).map_err(|_| not_a_key())?;
    let pw = password(password_file, "Password of the secret key: ", false)?;
    key_box
        .into_secret_key(Some(pw))
        .with_context(|| format!("opening the secret key {}", path.display()))
}

/// `dockgate config push`.
pub async fn push(args: &PushArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    // The site checks again; checking here first saves a round trip for a typo.
    let config = Config::parse(&text).map_err(|problems| {
        let e = crate::config::ConfigError {
            path: args.file.clone(),
            problems,
        };
        anyhow::anyhow!("{e}")
    })?;
    let key = secret_key(&args.key, args.key_password_file.as_deref())?;
    let signature = minisign::sign(
        None,
        &key,
        std::io::Cursor::new(text.as_bytes()),
        None,
        None,
    )
    .context("signing")?
    .into_string();
    let payload = serde_json::to_vec(&PushMessage {
        config: text,
        signature,
    })?;
    let wait = match &args.wait {
        Some(w) => Some(humantime::parse_duration(w).map_err(|_| {
            anyhow::anyhow!("--wait {w:?}: expected a duration with its unit, such as 30s or 2m")
        })?),
        None => None,
    };
    let site = &config.site.id;
    let broker = MqttConfig {
        url: args.broker.clone(),
        client_id: Some(format!("dockgate-push-{}", std::process::id())),
        username: args.username.clone(),
        password_file: args.password_file.clone(),
        ca_file: args.ca_file.clone(),
        client_cert_file: None,
        client_key_file: None,
        keep_alive: Duration::from_secs(30),
        max_packet_size: 4 << 20,
    };
    let options = mqtt::tool_options(&broker).map_err(|e| anyhow::anyhow!("{}", e.problem().1))?;
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    if wait.is_some() {
        client
            .subscribe(status_topic(site), QoS::AtLeastOnce)
            .await?;
    }
    client
        .publish(config_topic(site), QoS::AtLeastOnce, true, payload)
        .await?;
    // The broker's acknowledgement first (bounded on its own), then the site's answer.
    let mut deadline = Instant::now() + BROKER_ACK;
    let mut published = false;
    // The status the broker kept from before: what the site said last.
    let mut before: Option<ChangeStatus> = None;
    loop {
        let event = tokio::time::timeout_at(deadline.into(), eventloop.poll()).await;
        match event {
            Err(_) if !published => bail!("the broker at {} did not take the push", args.broker),
            Err(_) => {
                let _ = client.disconnect().await;
                return no_new_answer(site, config.version, before);
            }
            Ok(Err(e)) => bail!("broker {}: {e}", args.broker),
            Ok(Ok(Event::Incoming(Incoming::PubAck(_)))) if !published => {
                published = true;
                out!(
                    "version {} published, retained, on {}",
                    config.version,
                    config_topic(site)
                );
                let Some(wait) = wait else {
                    let _ = client.disconnect().await;
                    return Ok(());
                };
                // A site that runs this version already answers only if the text differs
                // (a refusal), and at once: no need to wait long for its silence.
                let runs_it = before.as_ref().is_some_and(|b| b.running == config.version);
                let wait = if runs_it { wait.min(QUIET) } else { wait };
                deadline = Instant::now() + wait;
            }
            Ok(Ok(Event::Incoming(Incoming::Publish(p)))) if p.retain => {
                before = serde_json::from_slice(&p.payload).ok();
            }
            // A status published while we listen.
            Ok(Ok(Event::Incoming(Incoming::Publish(p)))) if published => {
                let status: ChangeStatus = match serde_json::from_slice(&p.payload) {
                    Ok(s) => s,
                    Err(_) => continue,
                };
                if status.version.is_some() && status.version != Some(config.version) {
                    continue;
                }
                let _ = client.disconnect().await;
                return match status.status.as_str() {
                    "applied" => {
                        out!("site {site} applied version {}", config.version);
                        Ok(())
                    }
                    _ => bail!(
                        "site {site} refused version {}: {}",
                        config.version,
                        status.error.unwrap_or_default()
                    ),
                };
            }
            Ok(Ok(_)) => {}
        }
    }
}

/// How long the broker may take to acknowledge the push.
const BROKER_ACK: Duration = Duration::from_secs(15);
/// How long to listen for a refusal from a site that already runs the pushed version.
const QUIET: Duration = Duration::from_secs(3);

/// The site said nothing new about the push: what its last status says.
fn no_new_answer(site: &str, version: u64, before: Option<ChangeStatus>) -> anyhow::Result<()> {
    match before {
        Some(b) if b.running == version => {
            out!(
                "site {site} already runs version {version}, this configuration: nothing to do \
                 (a site answers only for a change)"
            );
            Ok(())
        }
        Some(b) if b.version == Some(version) && b.status == "rejected" => bail!(
            "site {site} refused version {version} before ({}): {}",
            b.at,
            b.error.unwrap_or_default()
        ),
        _ => {
            out!(
                "no answer from site {site} yet; the push stays retained on the broker and is \
                 applied when the site is connected"
            );
            Ok(())
        }
    }
}

/// `dockgate config rollback`.
pub async fn rollback(cli: &Cli) -> anyhow::Result<()> {
    let answer = admin_call(cli, reqwest::Method::POST, "/api/v1/config/rollback", None).await?;
    let n = |k: &str| answer.get(k).and_then(Value::as_u64).unwrap_or(0);
    out!(
        "configuration rolled back from version {} to version {}",
        n("from"),
        n("to")
    );
    Ok(())
}
