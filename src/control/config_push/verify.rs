//! Who may push: the minisign public keys of `[config_push] public_key_file`, and the check of
//! a push's signature against them. Signatures made by the `minisign` tool verify, its default
//! (prehashed) ones and legacy ones (`minisign -l`) alike.

use std::io::Cursor;
use std::path::{Path, PathBuf};

/// Why a signature or the key file was refused; the text says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The key file could not be read or holds no key.
    #[error("config_push.public_key_file {}: {problem}", path.display())]
    Keys {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The signature is not a minisign signature.
    #[error("the signature is not a minisign signature ({0})")]
    Malformed(String),
    /// Signed by a key this site does not trust.
    #[error(
        "signed by key {signed_by}, which is not among the trusted keys of this site ({trusted})"
    )]
    UnknownKey {
        /// Key id of the signature.
        signed_by: String,
        /// Key ids of the trusted keys.
        trusted: String,
    },
    /// The signature does not match the configuration text.
    #[error("bad signature: the configuration is not what key {key} signed ({reason})")]
    Mismatch {
        /// Key id of the signature.
        key: String,
        /// What minisign said.
        reason: String,
    },
}

/// The public keys a push may be signed with.
#[derive(Clone)]
pub struct TrustedKeys {
    keys: Vec<minisign::PublicKey>,
}

/// A key id as minisign prints it: 16 upper-case hex digits.
fn key_id(keynum: &[u8]) -> String {
    let mut bytes = [0u8; 8];
    for (b, k) in bytes.iter_mut().zip(keynum) {
        *b = *k;
    }
    format!("{:016X}", u64::from_le_bytes(bytes))
}

impl TrustedKeys {
    /// Reads the key file: minisign `.pub` files one after another, or bare base64 keys, one
    /// per line; `untrusted comment:` lines, `#` comments and blank lines are skipped.
    pub fn load(path: &Path) -> Result<Self, SignatureError> {
        let keys_error = |problem: String| SignatureError::Keys {
            path: path.to_owned(),
            problem,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| keys_error(format!("cannot read it: {e}")))?;
        Self::parse(&text).map_err(keys_error)
    }

    /// The keys in the text of a key file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("untrusted comment:") {
                continue;
            }
            let key = minisign::PublicKey::from_base64(line)
                .map_err(|e| format!("line {} is not a minisign public key ({e})", i + 1))?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err("it holds no public key (make one with `dockgate config keygen`)".into());
        }
        Ok(Self { keys })
    }

    /// Key ids, as minisign prints them.
    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| key_id(k.keynum())).collect()
    }

    /// Checks that `signature` (the text of a `.minisig` file) signs exactly `data` with one of
    /// the trusted keys; returns that key's id.
    pub fn verify(&self, data: &[u8], signature: &str) -> Result<String, SignatureError> {
        let sig = minisign::SignatureBox::from_string(signature)
            .map_err(|e| SignatureError::Malformed(e.to_string()))?;
        let signed_by = key_id(sig.keynum());
        let Some(key) = self.keys.iter().find(|k| k.keynum() == sig.keynum()) else {
            return Err(SignatureError::UnknownKey {
                signed_by,
                trusted: self.ids().join(", "),
            });
        };
        minisign::verify(key, &sig, Cursor::new(data), true, false, true).map_err(|e| {
            SignatureError::Mismatch {
                key: signed_by.clone(),
                reason: e.to_string(),
            }
        })?;
        Ok(signed_by)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (minisign::PublicKey, minisign::SecretKey) {
        let kp = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        (kp.pk, kp.sk)
    }

    fn sign(sk: &minisign::SecretKey, data: &[u8]) -> String {
        minisign::sign(None, sk, Cursor::new(data), None, None)
            .unwrap()
            .into_string()
    }

    #[test]
    fn any_trusted_key_verifies_and_only_the_exact_text() {
        let (pk1, sk1) = pair();
        let (pk2, sk2) = pair();
        let file = format!(
            "# rotation: old key first\n{}\n\n{}",
            pk1.to_box().unwrap().into_string(),
            pk2.to_base64()
        );
        let keys = TrustedKeys::parse(&file).unwrap();
        assert_eq!(keys.ids().len(), 2);
        let text = b"version = 2\n";
        assert_eq!(
            keys.verify(text, &sign(&sk1, text)).unwrap(),
            key_id(pk1.keynum())
        );
        assert_eq!(
            keys.verify(text, &sign(&sk2, text)).unwrap(),
            key_id(pk2.keynum())
        );
        let tampered = keys.verify(b"version = 3\n", &sign(&sk1, text));
        assert!(
            matches!(tampered, Err(SignatureError::Mismatch { .. })),
            "{tampered:?}"
        );
    }

    #[test]
    fn an_unknown_key_is_named() {
        let (pk, _) = pair();
        let (other, sk) = pair();
        let keys = TrustedKeys::parse(&pk.to_base64()).unwrap();
        let error = keys.verify(b"x", &sign(&sk, b"x")).unwrap_err();
        assert_eq!(
            error,
            SignatureError::UnknownKey {
                signed_by: key_id(other.keynum()),
                trusted: key_id(pk.keynum()),
            }
        );
        assert!(error.to_string().contains("not among the trusted keys"));
    }

    #[test]
    fn a_key_file_without_keys_or_with_garbage_is_refused() {
        assert!(TrustedKeys::parse("# nothing\n\n").is_err());
        let bad = TrustedKeys::parse("RWQnot-a-key").err().unwrap_or_default();
        assert!(bad.contains("line 1"), "{bad}");
        assert!(TrustedKeys::parse("x").is_err());
        let keys = TrustedKeys::parse(&pair().0.to_base64()).unwrap();
        assert!(matches!(
            keys.verify(b"x", "not a signature"),
            Err(SignatureError::Malformed(_))
        ));
    }
}
