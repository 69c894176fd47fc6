//! Signing keys made by the real `minisign` tool (Debian package `minisign`, installed by
//! run.sh), as central IT makes them, and signatures made by it.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::json;
use tempfile::TempDir;

/// A minisign key pair in a tempdir.
pub struct Signer {
    dir: TempDir,
    /// The public key file (`minisign -G -p`).
    pub public: PathBuf,
    /// The secret key file (`minisign -G -s`).
    pub secret: PathBuf,
    /// Its password, if it has one.
    pub password: Option<String>,
}

/// Runs `minisign` with `args`, writing `stdin` to it; panics with its stderr on failure.
fn minisign(args: &[&str], stdin: &str) {
    let mut child = Command::new("minisign")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run minisign (hil-tests/run.sh installs it): {e}"));
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.as_bytes());
    }
    let out = child.wait_with_output().expect("waiting for minisign");
    assert!(
        out.status.success(),
        "minisign {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Signer {
    /// A new pair from `minisign -G`; encrypted with `password`, else `-W` (none).
    pub fn new(password: Option<&str>) -> Signer {
        let dir = TempDir::new().expect("tempdir");
        let public = dir.path().join("push.pub");
        let secret = dir.path().join("push.key");
        let (p, s) = (public.display().to_string(), secret.display().to_string());
        match password {
            Some(pw) => minisign(&["-G", "-p", &p, "-s", &s], &format!("{pw}\n{pw}\n")),
            None => minisign(&["-G", "-W", "-p", &p, "-s", &s], ""),
        }
        Signer {
            dir,
            public,
            secret,
            password: password.map(str::to_owned),
        }
    }

    /// The `.minisig` text of `text`: minisign's default (prehashed) signature, or its legacy
    /// one (`-l`).
    pub fn sign(&self, text: &str, legacy: bool) -> String {
        let file = self.dir.path().join("config.toml");
        std::fs::write(&file, text).expect("writing the text to sign");
        let sig = self.dir.path().join("config.toml.minisig");
        let _ = std::fs::remove_file(&sig);
        let (f, s, k) = (
            file.display().to_string(),
            sig.display().to_string(),
            self.secret.display().to_string(),
        );
        let mut args = vec!["-S", "-s", &k, "-m", &f, "-x", &s];
        if legacy {
            args.push("-l");
        }
        let stdin = self
            .password
            .as_deref()
            .map(|p| format!("{p}\n"))
            .unwrap_or_default();
        minisign(&args, &stdin);
        std::fs::read_to_string(&sig).expect("reading the signature")
    }

    /// A push of `text` as central IT publishes it, signed by minisign.
    pub fn push(&self, text: &str) -> Vec<u8> {
        self.push_with(text, self.sign(text, false))
    }

    /// A push of `text` with any `signature`.
    pub fn push_with(&self, text: &str, signature: String) -> Vec<u8> {
        json!({"config": text, "signature": signature})
            .to_string()
            .into_bytes()
    }

    /// A file in the pair's directory holding `text` (a config to push, a password).
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("writing a file");
        path
    }
}
