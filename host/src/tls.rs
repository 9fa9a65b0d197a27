//! Which certificates FTPS trusts: chosen by the operator per server, never
//! by the guest.
//!
//! Each granted server gets one `rustls::ClientConfig`, shared by all its
//! connections, so data connections resume the control connection's TLS
//! session (vsftpd's `require_ssl_reuse` and proftpd's default demand it).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// How a server's certificate is checked.
#[derive(Clone, Default)]
pub enum Trust {
    /// The public web PKI (Mozilla's roots, bundled): right for servers with
    /// a certificate from a public CA.
    #[default]
    WebPki,
    /// Only these certificates as roots: a private CA, or a self-signed
    /// server certificate (which must say `CA:FALSE`). The name is checked.
    Roots(Vec<CertificateDer<'static>>),
    /// Exactly the certificate with this SHA-256 fingerprint, whatever its
    /// issuer, name or dates; the handshake signature is still verified.
    Pinned([u8; 32]),
    /// Any certificate. Encrypts without authenticating the server, so a
    /// man in the middle can read everything: for tests only. Every
    /// handshake under it logs a warning.
    AcceptInvalid,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trust::WebPki => f.write_str("WebPki"),
            Trust::Roots(certs) => write!(f, "Roots({} certificates)", certs.len()),
            Trust::Pinned(fp) => write!(f, "Pinned(sha256:{})", hex::encode(fp)),
            Trust::AcceptInvalid => f.write_str("AcceptInvalid"),
        }
    }
}

impl Trust {
    /// Trust only the certificates in a PEM file.
    pub fn from_pem_file(path: &Path) -> anyhow::Result<Self> {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .with_context(|| format!("cannot read certificates from {}", path.display()))?;
        anyhow::ensure!(!certs.is_empty(), "{} holds no PEM certificate", path.display());
        Ok(Trust::Roots(certs))
    }

    /// Pin a certificate by its SHA-256 fingerprint, written as 64 hex
    /// digits, with or without `:` separators (as `openssl x509 -fingerprint
    /// -sha256` prints it).
    pub fn pinned(fingerprint: &str) -> anyhow::Result<Self> {
        let digits: String = fingerprint.trim().trim_start_matches("sha256:").chars().filter(|c| *c != ':').collect();
        let bytes = hex::decode(&digits)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .with_context(|| format!("`{fingerprint}` is not a SHA-256 fingerprint (64 hex digits, e.g. from `openssl x509 -noout -fingerprint -sha256 -in cert.pem`)"))?;
        Ok(Trust::Pinned(bytes))
    }

    /// Build the client configuration for one server.
    pub(crate) fn client_config(&self, resumption: bool) -> anyhow::Result<Arc<rustls::ClientConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder =
            rustls::ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
        let mut config = match self {
            Trust::WebPki | Trust::Roots(_) => {
                let mut roots = rustls::RootCertStore::empty();
                match self {
                    Trust::Roots(certs) => {
                        for cert in certs {
                            roots.add(cert.clone()).context("cannot trust a configured certificate")?;
                        }
                    }
                    _ => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            Trust::Pinned(fingerprint) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Custom { check: Check::Pinned(*fingerprint), provider }))
                .with_no_client_auth(),
            Trust::AcceptInvalid => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Custom { check: Check::AcceptAnything, provider }))
                .with_no_client_auth(),
        };
        if !resumption {
            config.resumption = Resumption::disabled();
        }
        Ok(Arc::new(config))
    }
}

/// The two trusts rustls has no verifier for. Both still check the
/// handshake's signatures with the certificate they accept.
#[derive(Debug)]
enum Check {
    /// Exactly one certificate, by its SHA-256.
    Pinned([u8; 32]),
    /// Any certificate, loudly.
    AcceptAnything,
}

/// A certificate verifier for a [`Check`].
#[derive(Debug)]
struct Custom {
    check: Check,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Custom {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let actual: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        match &self.check {
            Check::Pinned(fingerprint) if actual == *fingerprint => Ok(ServerCertVerified::assertion()),
            Check::Pinned(_) => Err(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
                rustls::OtherError(Arc::new(PinMismatch { actual })),
            ))),
            Check::AcceptAnything => {
                tracing::warn!(
                    server = ?server_name,
                    certificate = %format!("sha256:{}", hex::encode(actual)),
                    "accepting an unverified TLS certificate: the operator turned verification off for this server"
                );
                Ok(ServerCertVerified::assertion())
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

pub(crate) struct PinMismatch {
    actual: [u8; 32],
}

// rustls shows `Other` errors with `Debug`: make it the readable message.
impl fmt::Debug for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the server's certificate (sha256:{}) is not the pinned one", hex::encode(self.actual))
    }
}

impl std::error::Error for PinMismatch {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_both_spellings() {
        let plain = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert!(matches!(Trust::pinned(&plain), Ok(Trust::Pinned(fp)) if fp == [0xab; 32]));
        assert!(matches!(Trust::pinned(&colons), Ok(Trust::Pinned(fp)) if fp == [0xab; 32]));
        assert!(Trust::pinned("abcd").is_err());
        assert!(Trust::pinned(&"zz".repeat(32)).is_err());
    }
}
