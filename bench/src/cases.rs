//! The cases, as a child process of the benchmark runs them: each case is
//! one process (`ftp-host-bench case JSON`), so its peak RSS and CPU time
//! are its own. The parent starts the servers, checks the files and writes
//! the report; the child only does the timed work and prints one
//! `BENCH-RESULT {json}` line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use ftp_host::demo::EXAMPLE_PLUGIN;
use ftp_host::{DirGrant, Host, Output, Plugin, Policy, Trust};
use serde::{Deserialize, Serialize};
use suppaftp::tokio::{AsyncRustlsConnector, AsyncRustlsFtpStream};
use suppaftp::types::FileType;
use suppaftp::FtpError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::measure::{ms, Cost, Meter};
use crate::oplog::{self, OpTime};

/// Prefix of the one line of stdout a child reports its result on.
pub const RESULT_PREFIX: &str = "BENCH-RESULT ";
/// Where the granted local directory appears inside the plugin.
pub const GUEST_DIR: &str = "/data";
/// Chunk size of the native client's file copy (the host's data-connection
/// pump moves 1 MiB chunks too: `client::pump::CHUNK`).
const NATIVE_CHUNK: usize = 1024 * 1024;

/// An FTP server to talk to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// Explicit FTPS (AUTH TLS, PBSZ 0, PROT P), trusting `cert_pem`.
    pub tls: bool,
    pub cert_pem: Option<PathBuf>,
}

/// Which client moves the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Client {
    /// (a) The Rust example guest, `download`/`upload`: the host moves the
    /// whole file between FTP and the local file (`save-to`/`send-from`).
    GuestHost,
    /// (b) The same guest with `--via-memory` (1 MiB chunks through guest memory).
    GuestMemory,
    /// (f) The same guest with `--splice`: a `wasi:io` `splice` loop
    /// between the transfer's stream and the file's.
    GuestSplice,
    /// (c) suppaftp (tokio + rustls) in this process.
    Native,
    /// (d) curl, a whole process.
    Curl,
    /// (e) lftp, a whole process.
    Lftp,
    /// (a*) the guest of (a) as a user runs it: a whole `ftp-host run`
    /// process, the compiled plugin loaded from the cache.
    Cli,
}

impl Client {
    pub const ALL: [Client; 7] = [
        Client::GuestHost,
        Client::GuestMemory,
        Client::Native,
        Client::Curl,
        Client::Lftp,
        Client::Cli,
        Client::GuestSplice,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Client::GuestHost => "(a) guest, host moves the file",
            Client::GuestMemory => "(b) guest, --via-memory",
            Client::GuestSplice => "(f) guest, --splice",
            Client::Native => "(c) native suppaftp",
            Client::Curl => "(d) curl",
            Client::Lftp => "(e) lftp",
            Client::Cli => "(a*) `ftp-host run`, host moves the file",
        }
    }

    /// The letter that names this client in the report's ratios ("a*/d").
    pub fn letter(self) -> &'static str {
        match self {
            Client::GuestHost => "a",
            Client::GuestMemory => "b",
            Client::GuestSplice => "f",
            Client::Native => "c",
            Client::Curl => "d",
            Client::Lftp => "e",
            Client::Cli => "a*",
        }
    }

    /// Measured as a whole process (start to exit), not inside this one.
    pub fn is_process(self) -> bool {
        matches!(self, Client::Curl | Client::Lftp | Client::Cli)
    }

    pub fn is_guest(self) -> bool {
        matches!(self, Client::GuestHost | Client::GuestMemory | Client::GuestSplice)
    }

    /// The example guest's flag that selects this client's way of moving
    /// the bytes, if any.
    pub fn guest_flag(self) -> Option<&'static str> {
        match self {
            Client::GuestMemory => Some("--via-memory"),
            Client::GuestSplice => Some("--splice"),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    Download,
    Upload,
}

impl Direction {
    pub fn label(self) -> &'static str {
        match self {
            Direction::Download => "download",
            Direction::Upload => "upload",
        }
    }
}

/// What a child process does.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Case {
    /// One file transfer between `remote` and `local_dir/local_name`.
    Transfer {
        client: Client,
        direction: Direction,
        endpoint: Endpoint,
        remote: String,
        local_dir: PathBuf,
        local_name: String,
        /// Cap on the guest's linear memory (`Limits::max_memory_bytes`).
        max_memory: Option<usize>,
    },
    /// `runs` runs of the guest with no arguments (it returns an error at
    /// once): instantiate + call.
    Startup { runs: usize, warmup: usize, capture: bool },
    /// `runs` listings of `path`, `gap` apart.
    Listing { client: Client, endpoint: Endpoint, path: String, runs: usize, gap_ms: u64 },
    /// `n` concurrent downloads of `remote` into `local_dir/cN.bin`.
    Concurrent { client: Client, endpoint: Endpoint, remote: String, local_dir: PathBuf, n: usize },
    /// One session doing `n` small downloads of `path`, each timed.
    /// `quickack` (native only) sets TCP_QUICKACK on the control socket
    /// before each download: a diagnostic for delayed-ACK stalls.
    Ops { client: Client, endpoint: Endpoint, path: String, n: usize, nodelay: bool, quickack: bool },
}

impl Case {
    /// A file-name-safe name for the case, such as `b-download-tls`: what a
    /// profiling wrapper's `{case}` becomes. Each direction starts with an
    /// untimed native transfer, so the children's numbers alone do not say
    /// which client a record is of.
    pub fn slug(&self) -> String {
        let letter = |client: Client| client.letter().replace('*', "-cli");
        match self {
            Case::Transfer { client, direction, endpoint, .. } => {
                let tls = if endpoint.tls { "-tls" } else { "" };
                format!("{}-{}{tls}", letter(*client), direction.label())
            }
            Case::Startup { .. } => "startup".into(),
            Case::Listing { client, .. } => format!("listing-{}", letter(*client)),
            Case::Concurrent { client, .. } => format!("concurrent-{}", letter(*client)),
            Case::Ops { client, .. } => format!("ops-{}", letter(*client)),
        }
    }
}

/// What a child reports.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CaseResult {
    pub cost: Cost,
    /// Per-run or per-operation times, in milliseconds.
    pub samples_ms: Vec<f64>,
    /// The host's operation log (guest cases).
    pub ops: Vec<OpTime>,
    /// Time to create the host and compile the plugin (guest cases).
    pub load_ms: f64,
    pub note: String,
}

/// The child's entry point.
pub fn child_main(spec: &str) -> Result<()> {
    let case: Case = serde_json::from_str(spec).context("bad case spec")?;
    oplog::install();
    // The CLI's runtime: tokio's default multi-threaded one.
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(run(case))?;
    println!("{RESULT_PREFIX}{}", serde_json::to_string(&result)?);
    Ok(())
}

async fn run(case: Case) -> Result<CaseResult> {
    match case {
        Case::Transfer { client, direction, endpoint, remote, local_dir, local_name, max_memory } => {
            transfer(client, direction, &endpoint, &remote, &local_dir, &local_name, max_memory).await
        }
        Case::Startup { runs, warmup, capture } => startup(runs, warmup, capture).await,
        Case::Listing { client, endpoint, path, runs, gap_ms } => listing(client, &endpoint, &path, runs, gap_ms).await,
        Case::Concurrent { client, endpoint, remote, local_dir, n } => {
            concurrent(client, &endpoint, &remote, &local_dir, n).await
        }
        Case::Ops { client, endpoint, path, n, nodelay, quickack } => {
            ops(client, &endpoint, &path, n, nodelay, quickack).await
        }
    }
}

// ---- the guest ----------------------------------------------------------------

fn guest_policy(endpoint: &Endpoint, local_dir: Option<&Path>, max_memory: Option<usize>) -> Result<Policy> {
    let grant = format!("{}:{}", endpoint.host, endpoint.port);
    let mut policy = match (&endpoint.tls, &endpoint.cert_pem) {
        (true, Some(pem)) => Policy::new().allow_with_trust(&grant, Trust::from_pem_file(pem)?)?,
        (true, None) => bail!("FTPS endpoint without a certificate"),
        (false, _) => Policy::new().allow(&grant)?,
    };
    if let Some(dir) = local_dir {
        policy = policy.with_dir(DirGrant { host: dir.to_path_buf(), guest: GUEST_DIR.into(), read_only: false });
    }
    if let Some(bytes) = max_memory {
        let mut limits = policy.limits().clone();
        limits.max_memory_bytes = bytes;
        policy = policy.with_limits(limits);
    }
    Ok(policy)
}

pub fn guest_args(endpoint: &Endpoint, command: &[&str]) -> Vec<String> {
    let port = endpoint.port.to_string();
    let mut args: Vec<&str> =
        vec!["--host", &endpoint.host, "--port", &port, "--user", &endpoint.user, "--password", &endpoint.password];
    if endpoint.tls {
        args.extend(["--security", "explicit", "--force-prot"]);
    }
    args.extend(command);
    args.into_iter().map(String::from).collect()
}

/// Host + compiled plugin, and how long that took.
fn load(policy: Policy) -> Result<(Plugin, f64)> {
    let started = Instant::now();
    let host = Host::new(policy)?;
    let plugin = host.load(EXAMPLE_PLUGIN)?;
    Ok((plugin, ms(started.elapsed())))
}

async fn run_guest(plugin: &Plugin, args: &[String]) -> Result<String> {
    let report = plugin.run(args, Output::Capture).await?;
    match report.result {
        Ok(summary) => Ok(summary),
        Err(e) => bail!("the guest failed: {e}\nstderr: {}", String::from_utf8_lossy(&report.stderr)),
    }
}

// ---- native suppaftp ---------------------------------------------------------

/// One client configuration for every native connection: data connections
/// resume the control connection's TLS session, as proftpd requires.
fn native_tls(endpoint: &Endpoint) -> Result<Option<Arc<rustls::ClientConfig>>> {
    if !endpoint.tls {
        return Ok(None);
    }
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let pem = endpoint.cert_pem.as_ref().context("FTPS endpoint without a certificate")?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pem)? {
        roots.add(cert?)?;
    }
    // The same crypto provider as the host (ring).
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(Arc::new(config)))
}

/// Connect and log in as a suppaftp user would. `nodelay` also sets
/// TCP_NODELAY on the control and data sockets, as the host does.
async fn native_connect(
    endpoint: &Endpoint,
    tls: Option<&Arc<rustls::ClientConfig>>,
    nodelay: bool,
) -> Result<AsyncRustlsFtpStream> {
    let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port)).await?;
    if nodelay {
        tcp.set_nodelay(true)?;
    }
    let mut ftp = AsyncRustlsFtpStream::connect_with_stream(tcp).await?;
    if nodelay {
        ftp = ftp.passive_stream_builder(|addr| {
            Box::pin(async move {
                let stream = TcpStream::connect(addr).await.map_err(FtpError::ConnectionError)?;
                let _ = stream.set_nodelay(true);
                Ok(stream)
            })
        });
    }
    if let Some(config) = tls {
        let connector = AsyncRustlsConnector::from(suppaftp::tokio_rustls::TlsConnector::from(config.clone()));
        ftp = ftp.into_secure(connector, &endpoint.host).await?;
    }
    ftp.login(endpoint.user.as_str(), endpoint.password.as_str()).await?;
    ftp.transfer_type(FileType::Binary).await?;
    Ok(ftp)
}

async fn native_download(ftp: &mut AsyncRustlsFtpStream, remote: &str, local: &Path) -> Result<u64> {
    let mut file = tokio::fs::File::create(local).await?;
    let mut stream = ftp.retr_as_stream(remote).await?;
    let mut buf = vec![0u8; NATIVE_CHUNK];
    let mut total = 0u64;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n]).await?;
        total += n as u64;
    }
    file.flush().await?;
    stream.finish().await?;
    Ok(total)
}

async fn native_upload(ftp: &mut AsyncRustlsFtpStream, local: &Path, remote: &str) -> Result<u64> {
    let mut file = tokio::fs::File::open(local).await?;
    let mut stream = ftp.put_with_stream(remote).await?;
    let mut buf = vec![0u8; NATIVE_CHUNK];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n]).await?;
        total += n as u64;
    }
    stream.finish().await?;
    Ok(total)
}

// ---- the cases ----------------------------------------------------------------

async fn transfer(
    client: Client,
    direction: Direction,
    endpoint: &Endpoint,
    remote: &str,
    local_dir: &Path,
    local_name: &str,
    max_memory: Option<usize>,
) -> Result<CaseResult> {
    match client {
        Client::GuestHost | Client::GuestMemory | Client::GuestSplice => {
            let (plugin, load_ms) = load(guest_policy(endpoint, Some(local_dir), max_memory)?)?;
            let local = format!("{GUEST_DIR}/{local_name}");
            let mut command = match direction {
                Direction::Download => vec!["download", remote, &local],
                Direction::Upload => vec!["upload", &local, remote],
            };
            command.extend(client.guest_flag());
            let args = guest_args(endpoint, &command);
            let meter = Meter::start();
            let summary = run_guest(&plugin, &args).await?;
            let cost = meter.stop();
            Ok(CaseResult { cost, load_ms, note: summary, ops: oplog::take(), ..Default::default() })
        }
        Client::Native => {
            let tls = native_tls(endpoint)?;
            let local = local_dir.join(local_name);
            let meter = Meter::start();
            let mut ftp = native_connect(endpoint, tls.as_ref(), false).await?;
            let bytes = match direction {
                Direction::Download => native_download(&mut ftp, remote, &local).await?,
                Direction::Upload => native_upload(&mut ftp, &local, remote).await?,
            };
            ftp.quit().await?;
            let cost = meter.stop();
            Ok(CaseResult { cost, note: format!("{bytes} bytes"), ..Default::default() })
        }
        Client::Curl | Client::Lftp | Client::Cli => bail!("whole-process clients run in the parent"),
    }
}

async fn startup(runs: usize, warmup: usize, capture: bool) -> Result<CaseResult> {
    let (plugin, load_ms) = load(Policy::new())?;
    let output = if capture { Output::Capture } else { Output::Inherit };
    let no_args: Vec<String> = Vec::new();
    for _ in 0..warmup {
        plugin.run(&no_args, output).await?;
    }
    let meter = Meter::start();
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let report = plugin.run(&no_args, output).await?;
        samples.push(ms(started.elapsed()));
        ensure!(report.result.is_err(), "the guest with no arguments should fail at once, got {:?}", report.result);
    }
    let cost = meter.stop();
    Ok(CaseResult { cost, samples_ms: samples, load_ms, ..Default::default() })
}

async fn listing(client: Client, endpoint: &Endpoint, path: &str, runs: usize, gap_ms: u64) -> Result<CaseResult> {
    let mut samples = Vec::new();
    let mut note = String::new();
    let mut load_ms = 0.0;
    let meter = Meter::start();
    match client {
        Client::GuestHost | Client::GuestMemory | Client::GuestSplice => {
            let (plugin, took) = load(guest_policy(endpoint, None, None)?)?;
            load_ms = took;
            let args = guest_args(endpoint, &["ls", path]);
            for i in 0..runs {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(gap_ms)).await;
                }
                let started = Instant::now();
                note = run_guest(&plugin, &args).await?;
                samples.push(ms(started.elapsed()));
            }
        }
        Client::Native => {
            let tls = native_tls(endpoint)?;
            for i in 0..runs {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(gap_ms)).await;
                }
                let started = Instant::now();
                let mut ftp = native_connect(endpoint, tls.as_ref(), false).await?;
                let names = ftp.nlst(Some(path)).await?;
                ftp.quit().await?;
                samples.push(ms(started.elapsed()));
                note = format!("{} entries", names.len());
            }
        }
        Client::Curl | Client::Lftp | Client::Cli => bail!("no whole-process listing case"),
    }
    let cost = meter.stop();
    Ok(CaseResult { cost, samples_ms: samples, ops: oplog::take(), load_ms, note })
}

async fn concurrent(
    client: Client,
    endpoint: &Endpoint,
    remote: &str,
    local_dir: &Path,
    n: usize,
) -> Result<CaseResult> {
    let mut load_ms = 0.0;
    let mut tasks = Vec::with_capacity(n);
    let meter;
    match client {
        Client::GuestHost | Client::GuestMemory | Client::GuestSplice => {
            let (plugin, took) = load(guest_policy(endpoint, Some(local_dir), None)?)?;
            load_ms = took;
            meter = Meter::start();
            for i in 0..n {
                let plugin = plugin.clone();
                let local = format!("{GUEST_DIR}/c{i}.bin");
                let mut command = vec!["download", remote, &local];
                command.extend(client.guest_flag());
                let args = guest_args(endpoint, &command);
                tasks.push(tokio::spawn(async move {
                    let started = Instant::now();
                    run_guest(&plugin, &args).await.map(|_| ms(started.elapsed()))
                }));
            }
        }
        Client::Native => {
            let tls = native_tls(endpoint)?;
            meter = Meter::start();
            for i in 0..n {
                let (endpoint, tls, remote) = (endpoint.clone(), tls.clone(), remote.to_string());
                let local = local_dir.join(format!("c{i}.bin"));
                tasks.push(tokio::spawn(async move {
                    let started = Instant::now();
                    let mut ftp = native_connect(&endpoint, tls.as_ref(), false).await?;
                    native_download(&mut ftp, &remote, &local).await?;
                    ftp.quit().await?;
                    Ok(ms(started.elapsed()))
                }));
            }
        }
        Client::Curl | Client::Lftp | Client::Cli => bail!("no whole-process concurrency case"),
    }
    let mut samples = Vec::with_capacity(n);
    let mut failures = Vec::new();
    for task in tasks {
        match task.await? {
            Ok(t) => samples.push(t),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    let cost = meter.stop();
    if !failures.is_empty() {
        bail!("{} of {n} transfers failed; first: {}", failures.len(), failures[0]);
    }
    Ok(CaseResult { cost, samples_ms: samples, load_ms, ..Default::default() })
}

async fn ops(
    client: Client,
    endpoint: &Endpoint,
    path: &str,
    n: usize,
    nodelay: bool,
    quickack: bool,
) -> Result<CaseResult> {
    let mut samples = Vec::with_capacity(n);
    let mut load_ms = 0.0;
    let meter;
    match client {
        Client::GuestHost | Client::GuestMemory | Client::GuestSplice => {
            let (plugin, took) = load(guest_policy(endpoint, None, None)?)?;
            load_ms = took;
            let mut command = Vec::new();
            for i in 0..n {
                if i > 0 {
                    command.push(";");
                }
                command.extend(["cat", path]);
            }
            let args = guest_args(endpoint, &command);
            meter = Meter::start();
            run_guest(&plugin, &args).await?;
        }
        Client::Native => {
            let tls = native_tls(endpoint)?;
            meter = Meter::start();
            let mut ftp = native_connect(endpoint, tls.as_ref(), nodelay).await?;
            for _ in 0..n {
                if quickack {
                    use std::os::fd::AsRawFd;
                    let fd = ftp.get_ref().await.as_raw_fd();
                    let one: libc::c_int = 1;
                    // SAFETY: setsockopt on a socket we own, with a c_int option.
                    unsafe {
                        libc::setsockopt(
                            fd,
                            libc::IPPROTO_TCP,
                            libc::TCP_QUICKACK,
                            &one as *const _ as *const libc::c_void,
                            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                        )
                    };
                }
                let started = Instant::now();
                let mut stream = ftp.retr_as_stream(path).await?;
                let mut data = Vec::new();
                stream.read_to_end(&mut data).await?;
                stream.finish().await?;
                samples.push(ms(started.elapsed()));
            }
            ftp.quit().await?;
        }
        Client::Curl | Client::Lftp | Client::Cli => bail!("no whole-process ops case"),
    }
    let cost = meter.stop();
    let ops = oplog::take();
    if client.is_guest() {
        samples = ops.iter().filter(|o| o.op == "download").map(|o| o.ms as f64).collect();
    }
    Ok(CaseResult { cost, samples_ms: samples, ops, load_ms, ..Default::default() })
}

#[cfg(test)]
mod tests {
    use super::{Case, Client, Direction, Endpoint};

    #[test]
    fn each_clients_label_opens_with_its_letter() {
        for client in Client::ALL {
            assert!(client.label().starts_with(&format!("({}) ", client.letter())), "{}", client.label());
        }
    }

    #[test]
    fn a_transfers_slug_names_its_client_direction_and_mode() {
        let transfer = |client, direction, tls| Case::Transfer {
            client,
            direction,
            endpoint: Endpoint {
                host: "127.0.0.1".into(),
                port: 21,
                user: "u".into(),
                password: "p".into(),
                tls,
                cert_pem: None,
            },
            remote: "big.bin".into(),
            local_dir: "/tmp".into(),
            local_name: "big.bin".into(),
            max_memory: None,
        };
        assert_eq!(transfer(Client::GuestMemory, Direction::Download, true).slug(), "b-download-tls");
        assert_eq!(transfer(Client::Native, Direction::Download, true).slug(), "c-download-tls");
        assert_eq!(transfer(Client::Cli, Direction::Upload, false).slug(), "a-cli-upload");
    }
}
