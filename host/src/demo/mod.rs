//! The embedded FTP server (libunftp on the local filesystem) and the
//! bundled example plugin: `ftp-host demo` runs one against the other with
//! nothing to set up, and the tests use both. Its storage backend is in
//! `demo/storage.rs`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::CertificateDer;
use unftp_core::auth::{AuthenticationError, Authenticator, Credentials, Principal};

mod storage;

/// The example plugin from `guest-examples/rust`, built by `host/build.rs`.
pub const EXAMPLE_PLUGIN: &[u8] = include_bytes!(env!("FTP_HOST_EXAMPLE_PLUGIN"));

/// User name of the embedded server's one account.
pub const DEMO_USER: &str = "demo";

/// A password checker for exactly one account.
struct OneUser {
    user: String,
    password: String,
}

// libunftp traces its session state, authenticator included, with `{:?}`:
// the password must not be in it.
impl std::fmt::Debug for OneUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneUser").field("user", &self.user).field("password", &"<redacted>").finish()
    }
}

#[async_trait::async_trait]
impl Authenticator for OneUser {
    async fn authenticate(&self, username: &str, creds: &Credentials) -> Result<Principal, AuthenticationError> {
        if username != self.user {
            return Err(AuthenticationError::BadUser);
        }
        match &creds.password {
            Some(p) if *p == self.password => Ok(Principal { username: username.to_string() }),
            _ => Err(AuthenticationError::BadPassword),
        }
    }
}

/// An FTP server running inside this process on 127.0.0.1, serving `root`.
/// It stops when dropped.
pub struct DemoServer {
    addr: SocketAddr,
    root: PathBuf,
    /// The certificate it presents for explicit FTPS, if TLS is on.
    certificate: Option<CertificateDer<'static>>,
    task: tokio::task::JoinHandle<()>,
    /// Holds the certificate files libunftp reads.
    _tls_dir: Option<tempfile::TempDir>,
}

impl DemoServer {
    /// Start serving `root` on a free loopback port, for one account
    /// ([`DEMO_USER`] with `password`), in plain FTP.
    pub async fn start(root: &Path, password: &str) -> anyhow::Result<DemoServer> {
        Self::launch(root, password, None).await
    }

    /// Like [`start`](Self::start), but requiring explicit FTPS (AUTH TLS) on
    /// the control and data connections, with a certificate for `localhost`
    /// and `127.0.0.1` generated now (see [`certificate`](Self::certificate)).
    pub async fn start_tls(root: &Path, password: &str) -> anyhow::Result<DemoServer> {
        Self::launch(root, password, Some(&["localhost", "127.0.0.1"])).await
    }

    /// Like [`start_tls`](Self::start_tls), with a certificate for `names`
    /// instead (to test what clients do with a certificate for another name).
    pub async fn start_tls_for(root: &Path, password: &str, names: &[&str]) -> anyhow::Result<DemoServer> {
        Self::launch(root, password, Some(names)).await
    }

    async fn launch(root: &Path, password: &str, tls_names: Option<&[&str]>) -> anyhow::Result<DemoServer> {
        let root = root.canonicalize().with_context(|| format!("no such directory {}", root.display()))?;
        let auth = Arc::new(OneUser { user: DEMO_USER.into(), password: password.into() });
        let root_for_builds = root.clone();
        let (mut certificate, mut tls_dir, mut tls_files) = (None, None, None);
        if let Some(names) = tls_names {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            let generated = rcgen::generate_simple_self_signed(names).context("cannot generate a certificate")?;
            let dir = tempfile::tempdir()?;
            let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
            std::fs::write(&cert_path, generated.cert.pem())?;
            std::fs::write(&key_path, generated.signing_key.serialize_pem())?;
            tls_files = Some((cert_path, key_path));
            certificate = Some(generated.cert.der().clone());
            tls_dir = Some(dir);
        }
        // `Server::service` takes the server by value: one per connection.
        let build = move || {
            let fs_root = root_for_builds.clone();
            let mut builder = libunftp::ServerBuilder::with_authenticator(
                Box::new(move || storage::Storage::new(fs_root.clone()).expect("root was checked above")),
                auth.clone(),
            )
            .greeting("ftp-host embedded demo server")
            .passive_host(std::net::Ipv4Addr::LOCALHOST)
            .passive_ports(49152..=65534);
            if let Some((cert_path, key_path)) = &tls_files {
                builder = builder.ftps(cert_path.clone(), key_path.clone()).ftps_required(true, true);
            }
            builder.build().context("cannot configure the embedded FTP server")
        };
        // Fail now, not at the first connection, if the configuration is bad.
        build()?;
        // We accept connections ourselves, rather than `Server::listen`, to set
        // TCP_NODELAY: libunftp leaves Nagle on, so its small final reply
        // (`226`) waits for the client's delayed ACK of the `150` before it:
        // ~40 ms per operation.
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let mut sessions = tokio::task::JoinSet::new();
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // E.g. out of file descriptors: wait, then go on.
                        tracing::error!("embedded FTP server: accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                match build() {
                    Ok(server) => {
                        sessions.spawn(server.service(stream));
                    }
                    Err(e) => tracing::error!("embedded FTP server: {e:#}"),
                }
                // Forget the sessions that ended.
                while sessions.try_join_next().is_some() {}
            }
        });
        // The listener is bound: connections queue from now on.
        Ok(DemoServer { addr, root, certificate, task, _tls_dir: tls_dir })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The directory it serves.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The certificate it presents, when started with TLS: trust it with
    /// `Trust::Roots(vec![cert])`.
    pub fn certificate(&self) -> Option<&CertificateDer<'static>> {
        self.certificate.as_ref()
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Fill `root` with the demo's sample files.
pub fn seed(root: &Path) -> anyhow::Result<()> {
    std::fs::write(root.join("readme.txt"), "Files served by the ftp-host embedded demo server.\n")?;
    std::fs::write(root.join("report.csv"), "month,files,bytes\n2026-10,1200,5368709120\n2026-11,1315,6012954214\n")?;
    let blob: Vec<u8> = (0..256 * 1024u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    std::fs::write(root.join("data.bin"), blob)?;
    Ok(())
}
