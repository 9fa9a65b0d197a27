//! TLS client configuration for FTPS, chosen by the operator, never by the
//! guest. One `ClientConfig` is shared by all connections of a host so data
//! connections resume the control connection's TLS session (vsftpd's
//! `require_ssl_reuse` and proftpd's default demand it).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// Which certificates the host trusts for FTPS servers.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    extra_roots: Vec<CertificateDer<'static>>,
}

impl Trust {
    /// The public web PKI roots (Mozilla's list, bundled) only.
    pub fn webpki() -> Self {
        Self::default()
    }

    /// Also trust the certificates in a PEM file: a private CA, or a
    /// self-signed server certificate (which must say `CA:FALSE`).
    pub fn with_pem_file(mut self, path: &Path) -> anyhow::Result<Self> {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .with_context(|| format!("cannot read certificates from {}", path.display()))?;
        anyhow::ensure!(!certs.is_empty(), "{} holds no PEM certificate", path.display());
        self.extra_roots.extend(certs);
        Ok(self)
    }

    /// Also trust one DER certificate.
    pub fn with_der(mut self, cert: CertificateDer<'static>) -> Self {
        self.extra_roots.push(cert);
        self
    }

    /// Build the shared client configuration.
    pub fn client_config(&self) -> anyhow::Result<Arc<rustls::ClientConfig>> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for cert in &self.extra_roots {
            roots.add(cert.clone()).context("cannot trust a configured certificate")?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}
