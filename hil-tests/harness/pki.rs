//! Throwaway certificate authorities made at test time (rcgen): a CA, a server certificate it
//! signed for given names, and client certificates, for the TLS tests of the site broker and
//! of the sinks.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A throwaway CA and a server certificate it signed.
pub struct Pki {
    /// The CA, to sign more certificates.
    pub ca: CertifiedIssuer<'static, KeyPair>,
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// The server certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM.
    pub key_pem: String,
}

impl Pki {
    /// A client certificate and key (PEM) signed by the CA, for client `name`.
    pub fn client(&self, name: &str) -> (String, String) {
        let key = KeyPair::generate().expect("generating a client key");
        let mut params =
            CertificateParams::new(Vec::<String>::new()).expect("client certificate parameters");
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params
            .signed_by(&key, &self.ca)
            .expect("signing a client certificate");
        (cert.pem(), key.serialize_pem())
    }
}

/// A new CA (named `ca_name`) and a server certificate for `names` (host names or IP
/// addresses, as subject alternative names).
pub fn make_pki(ca_name: &str, names: &[&str]) -> Pki {
    let ca_key = KeyPair::generate().expect("generating the CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, ca_key).expect("self-signing the CA");

    let key = KeyPair::generate().expect("generating the server key");
    let mut leaf = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .expect("server certificate parameters");
    leaf.distinguished_name
        .push(DnType::CommonName, "dockgate hil server");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = leaf
        .signed_by(&key, &ca)
        .expect("signing the server certificate");
    Pki {
        ca_pem: ca.pem(),
        ca,
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}
