//! The `naas:ftp/client` interface: `connect` and the `session` resource,
//! implemented with suppaftp over sockets the host dials itself.
//!
//! Host traits are implemented on [`FtpView`], a small borrowed view over the
//! embedder's store (its [`FtpCtx`] and its `ResourceTable`), so any store
//! type can carry this host; see [`add_to_linker`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use suppaftp::tokio::{AsyncRustlsConnector, AsyncRustlsFtpStream};
use suppaftp::types::FileType;
use suppaftp::{FtpError, FtpResult, Mode, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream};

use crate::bindings::client::{self, HostDownload, HostSession, HostUpload, SendMode};
use crate::transfer::{Counters, Direction, Download, Opened, TransferInfo, TransferObserver, Upload};
use crate::bindings::types::{self, ConnectOptions, Security};
use crate::error::{self, Error, Op, PolicyDenied};
use crate::policy::{check_field, Policy};

/// Size of one read from a data connection into a `get` buffer.
const READ_CHUNK: usize = 256 * 1024;

/// Per-run state of the FTP client: the policy and what the run has used.
pub struct FtpCtx {
    policy: Arc<Policy>,
    /// One TLS configuration per grant of `policy`, in grant order.
    tls: Arc<[Arc<rustls::ClientConfig>]>,
    open_sessions: usize,
    counters: Arc<Counters>,
    observer: Option<Arc<dyn TransferObserver>>,
}

/// What a plugin run did through the FTP client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// FTP operations performed (connect, list, get, send, pwd, cwd, quit).
    pub operations: u64,
    /// Bytes downloaded.
    pub bytes_downloaded: u64,
    /// Bytes uploaded.
    pub bytes_uploaded: u64,
}

impl FtpCtx {
    /// A client context enforcing `policy`; `tls` holds one TLS client
    /// configuration per grant (shared by all connections to that server,
    /// so data connections resume the control connection's TLS session, as
    /// vsftpd and proftpd require).
    pub(crate) fn new(
        policy: Arc<Policy>,
        tls: Arc<[Arc<rustls::ClientConfig>]>,
        observer: Option<Arc<dyn TransferObserver>>,
    ) -> Self {
        FtpCtx { policy, tls, open_sessions: 0, counters: Arc::default(), observer }
    }

    /// What the run has done so far.
    pub fn stats(&self) -> Stats {
        Stats {
            operations: self.counters.operations.load(Ordering::Relaxed),
            bytes_downloaded: self.counters.bytes_downloaded.load(Ordering::Relaxed),
            bytes_uploaded: self.counters.bytes_uploaded.load(Ordering::Relaxed),
        }
    }

    fn count_op(&self) {
        self.counters.operations.fetch_add(1, Ordering::Relaxed);
    }
}

/// The view the host traits are implemented on.
pub struct FtpView<'a> {
    /// The FTP client's state.
    pub ctx: &'a mut FtpCtx,
    /// The store's resource table, which holds the sessions.
    pub table: &'a mut ResourceTable,
}

struct HasFtp;

impl HasData for HasFtp {
    type Data<'a> = FtpView<'a>;
}

/// Add the `naas:ftp` interfaces to `linker`; `view` borrows the FTP state
/// out of the store's data.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> FtpView<'_>,
) -> wasmtime::Result<()> {
    types::add_to_linker::<T, HasFtp>(linker, view)?;
    client::add_to_linker::<T, HasFtp>(linker, view)
}

/// One logged-in connection: the `session` resource.
pub struct Session {
    /// `None` once the session was quit or broken by a timeout.
    ftp: Option<AsyncRustlsFtpStream>,
    /// Why `ftp` is `None`, for the error of any later call.
    closed: &'static str,
    /// `host:port`, for messages.
    server: String,
    /// Deadline of each network operation.
    timeout: Duration,
    /// Whether the session uses TLS (its data connections too).
    secure: bool,
}

/// Run one network operation under its deadline, mapping its error.
async fn deadline<T>(timeout: Duration, op: Op<'_>, fut: impl Future<Output = FtpResult<T>>) -> Result<T, Error> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(error::from_ftp(err, op)),
        Err(_) => Err(error::timeout(op, timeout)),
    }
}

fn log_op<T>(op: Op<'_>, started: Instant, bytes: u64, result: &Result<T, Error>) {
    let ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(_) => tracing::info!(target: "ftp_host::ftp", server = op.server, op = op.action, path = op.path, bytes, ms, "ok"),
        Err(e) => tracing::info!(target: "ftp_host::ftp", server = op.server, op = op.action, path = op.path, bytes, ms, error = ?e, "failed"),
    }
}

impl Session {
    async fn open(ctx: &FtpCtx, options: ConnectOptions) -> Result<Session, Error> {
        let ConnectOptions { host, port, user, password, security, force_prot, timeout_ms } = options;
        let port = port.unwrap_or(if matches!(security, Security::Implicit) { 990 } else { 21 });
        let server = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        let secure = !matches!(security, Security::None);
        let op = Op { server: &server, secure, action: "connect", path: None };
        check_field("user", &user)?;
        check_field("password", &password)?;
        if host.is_empty() {
            return Err(Error::InvalidInput("connect: empty host".into()));
        }
        if force_prot && matches!(security, Security::None) {
            return Err(Error::InvalidInput(format!(
                "connect to {server}: force-prot needs TLS; set security to explicit or implicit"
            )));
        }
        if ctx.open_sessions >= ctx.policy.limits().max_sessions {
            return Err(Error::Denied(format!(
                "connect to {server}: this plugin already has {} sessions open, the most its operator allows; quit one first",
                ctx.open_sessions
            )));
        }
        let timeout = ctx.policy.timeout(timeout_ms);
        let (grant, addrs) = ctx.policy.check_dial(&host, port, op).await?;
        let tls_name = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let tls = ctx.tls[grant].clone();
        let connector = || AsyncRustlsConnector::from(suppaftp::tokio_rustls::TlsConnector::from(tls.clone()));

        let mut ftp = match security {
            Security::None | Security::Explicit => {
                let tcp = dial(&addrs, timeout, op).await?;
                let ftp = deadline(timeout, op, AsyncRustlsFtpStream::connect_with_stream(tcp)).await?;
                if matches!(security, Security::Explicit) {
                    let op = Op { action: "TLS negotiation", ..op };
                    // into_secure also sends PBSZ 0 + PROT P: the data channel is always protected.
                    deadline(timeout, op, ftp.into_secure(connector(), &tls_name)).await?
                } else {
                    ftp
                }
            }
            Security::Implicit => {
                // suppaftp dials implicit FTPS itself: hand it only an address the policy vetted.
                let mut last = None;
                let mut connected = None;
                for addr in &addrs {
                    match deadline(timeout, op, AsyncRustlsFtpStream::connect_secure_implicit(*addr, connector(), &tls_name)).await {
                        Ok(ftp) => {
                            connected = Some(ftp);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                let mut ftp = connected.ok_or_else(|| last.expect("at least one address"))?;
                // suppaftp's implicit mode sends no PBSZ/PROT; without them servers refuse data connections.
                let op = Op { action: "TLS negotiation", ..op };
                deadline(timeout, op, ftp.custom_command("PBSZ 0", &[Status::CommandOk])).await?;
                deadline(timeout, op, ftp.custom_command("PROT P", &[Status::CommandOk])).await?;
                ftp
            }
        };

        let peer = deadline(timeout, op, async { ftp.get_ref().await.peer_addr().map_err(FtpError::ConnectionError) }).await?;
        ftp = ftp.passive_stream_builder(passive_dialer(ctx.policy.clone(), peer.ip(), timeout));
        // Never trust the address in a PASV reply: dial the control peer's address.
        ftp.set_passive_nat_workaround(true);
        if peer.is_ipv6() {
            ftp.set_mode(Mode::ExtendedPassive);
        }
        deadline(timeout, Op { action: "login", ..op }, ftp.login(user.as_str(), password.as_str())).await?;
        deadline(timeout, op, ftp.transfer_type(FileType::Binary)).await?;
        Ok(Session { ftp: Some(ftp), closed: "", server, timeout, secure })
    }

    fn op<'a>(&'a self, action: &'static str, path: Option<&'a str>) -> Op<'a> {
        Op { server: &self.server, secure: self.secure, action, path }
    }

    fn stream(&mut self, action: &'static str) -> Result<&mut AsyncRustlsFtpStream, Error> {
        match self.ftp.as_mut() {
            Some(ftp) => Ok(ftp),
            None => Err(Error::InvalidInput(format!(
                "{action} on {}: the session is closed ({}); connect again",
                self.server, self.closed
            ))),
        }
    }

    /// A timed-out command leaves the control connection in an unknown
    /// state: close it rather than guess.
    fn after<T>(&mut self, result: Result<T, Error>) -> Result<T, Error> {
        if matches!(result, Err(Error::Timeout(_)) | Err(Error::Connect(_))) {
            self.ftp = None;
            self.closed = "a previous operation timed out or lost the connection";
        }
        result
    }

    async fn list(&mut self, path: Option<&str>, max_entries: usize) -> Result<Vec<String>, Error> {
        let (timeout, server, secure) = (self.timeout, self.server.clone(), self.secure);
        let op = Op { server: &server, secure, action: "listing", path };
        let ftp = self.stream(op.action)?;
        let names = deadline(timeout, op, ftp.nlst(path)).await;
        let names = self.after(names)?;
        if names.len() > max_entries {
            return Err(Error::TooLarge(format!(
                "{op}: {} entries, more than the {max_entries} allowed; list a narrower directory",
                names.len()
            )));
        }
        // Names only: some servers prefix the directory, some list `.` and `..`.
        Ok(names
            .into_iter()
            .map(|n| n.rsplit('/').next().unwrap_or_default().to_string())
            .filter(|n| !n.is_empty() && n != "." && n != "..")
            .collect())
    }

    async fn get(&mut self, path: &str, limit: u64) -> Result<Vec<u8>, Error> {
        let (timeout, server, secure) = (self.timeout, self.server.clone(), self.secure);
        let op = Op { server: &server, secure, action: "download", path: Some(path) };
        let ftp = self.stream(op.action)?;
        let result = async {
            let mut stream = deadline(timeout, op, ftp.retr_as_stream(path)).await?;
            let mut data = Vec::new();
            let mut chunk = vec![0u8; READ_CHUNK];
            loop {
                let n = match tokio::time::timeout(timeout, stream.read(&mut chunk)).await {
                    Ok(Ok(n)) => n,
                    Ok(Err(e)) => return Err(error::from_io(e, op)),
                    Err(_) => return Err(error::timeout(op, timeout)),
                };
                if n == 0 {
                    break;
                }
                if data.len() as u64 + n as u64 > limit {
                    // Best effort: the limit error matters more than a failed ABOR.
                    let _ = deadline(timeout, op, ftp.abort(stream)).await;
                    return Err(Error::TooLarge(format!(
                        "{op}: the file is larger than the {limit}-byte limit for in-memory transfers; stream it with open-get, or ask the operator to raise the limit"
                    )));
                }
                data.extend_from_slice(&chunk[..n]);
            }
            // Only the server's final reply says the file arrived whole.
            deadline(timeout, op, stream.finish()).await?;
            Ok(data)
        }
        .await;
        self.after(result)
    }

    async fn send(&mut self, path: &str, data: &[u8], limit: u64) -> Result<u64, Error> {
        let (timeout, server, secure) = (self.timeout, self.server.clone(), self.secure);
        let op = Op { server: &server, secure, action: "upload", path: Some(path) };
        if data.len() as u64 > limit {
            return Err(Error::TooLarge(format!(
                "{op}: {} bytes is more than the {limit}-byte limit for in-memory transfers; stream it with open-send",
                data.len()
            )));
        }
        let ftp = self.stream(op.action)?;
        let result = async {
            let mut stream = deadline(timeout, op, ftp.put_with_stream(path)).await?;
            for chunk in data.chunks(READ_CHUNK) {
                match tokio::time::timeout(timeout, stream.write_all(chunk)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(error::from_io(e, op)),
                    Err(_) => return Err(error::timeout(op, timeout)),
                }
            }
            deadline(timeout, op, stream.finish()).await?;
            Ok(data.len() as u64)
        }
        .await;
        self.after(result)
    }
}

impl Session {
    /// Start a download (`REST` + `RETR`), asking the size first for progress.
    async fn open_get(&mut self, ctx: &FtpCtx, path: &str, offset: u64) -> Result<Download, Error> {
        let (timeout, server, secure) = (self.timeout, self.server.clone(), self.secure);
        let op = Op { server: &server, secure, action: "download", path: Some(path) };
        let ftp = self.stream(op.action)?;
        // Best effort: not every server answers SIZE, and the RETR below reports a missing file.
        let size = deadline(timeout, op, ftp.size(path)).await.ok().map(|s| s as u64);
        let result = async {
            if offset > 0 {
                let offset = usize::try_from(offset).map_err(|_| Error::InvalidInput(format!("{op}: offset {offset} is too large")))?;
                deadline(timeout, op, ftp.resume_transfer(offset)).await?;
            }
            deadline(timeout, op, ftp.retr_as_stream(path)).await
        }
        .await;
        let stream = self.after(result)?;
        let info = TransferInfo { direction: Direction::Download, secure, server, path: path.to_string(), size, offset };
        Ok(Download::new(Opened { info, stream, timeout, counters: ctx.counters.clone(), observer: ctx.observer.clone() }))
    }

    /// Start an upload (`STOR`, `APPE`, or `REST` + `STOR`).
    async fn open_send(&mut self, ctx: &FtpCtx, path: &str, mode: SendMode) -> Result<Upload, Error> {
        let (timeout, server, secure) = (self.timeout, self.server.clone(), self.secure);
        let op = Op { server: &server, secure, action: "upload", path: Some(path) };
        let ftp = self.stream(op.action)?;
        let offset = match mode {
            SendMode::ResumeAt(offset) => offset,
            _ => 0,
        };
        let result = async {
            match mode {
                SendMode::Replace => deadline(timeout, op, ftp.put_with_stream(path)).await,
                SendMode::Append => deadline(timeout, op, ftp.append_with_stream(path)).await,
                SendMode::ResumeAt(offset) => {
                    let offset = usize::try_from(offset).map_err(|_| Error::InvalidInput(format!("{op}: offset {offset} is too large")))?;
                    deadline(timeout, op, ftp.resume_transfer(offset)).await?;
                    deadline(timeout, op, ftp.put_with_stream(path)).await
                }
            }
        }
        .await;
        let stream = self.after(result)?;
        let info = TransferInfo { direction: Direction::Upload, secure, server, path: path.to_string(), size: None, offset };
        Ok(Upload::new(Opened { info, stream, timeout, counters: ctx.counters.clone(), observer: ctx.observer.clone() }))
    }
}

/// Dial the first address that answers, within the deadline.
async fn dial(addrs: &[SocketAddr], timeout: Duration, op: Op<'_>) -> Result<TcpStream, Error> {
    let mut last = None;
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => last = Some(error::from_io(e, op)),
            Err(_) => last = Some(error::timeout(op, timeout)),
        }
    }
    Err(last.expect("check_dial returns at least one address"))
}

/// The passive data-connection dialer handed to suppaftp: every data dial
/// passes the policy's data gate first.
fn passive_dialer(
    policy: Arc<Policy>,
    control_peer: std::net::IpAddr,
    timeout: Duration,
) -> impl Fn(SocketAddr) -> std::pin::Pin<Box<dyn Future<Output = FtpResult<TcpStream>> + Send + Sync>> + Send + Sync + 'static {
    move |target| {
        let verdict = policy.check_data_dial(control_peer, target);
        Box::pin(async move {
            verdict.map_err(|why| FtpError::ConnectionError(std::io::Error::new(std::io::ErrorKind::PermissionDenied, PolicyDenied(why))))?;
            let stream = tokio::time::timeout(timeout, TcpStream::connect(target))
                .await
                .map_err(|_| FtpError::ConnectionError(std::io::ErrorKind::TimedOut.into()))?
                .map_err(FtpError::ConnectionError)?;
            let _ = stream.set_nodelay(true);
            Ok(stream)
        })
    }
}

impl types::Host for FtpView<'_> {}

impl client::Host for FtpView<'_> {
    async fn connect(&mut self, options: ConnectOptions) -> wasmtime::Result<Result<Resource<Session>, Error>> {
        let started = Instant::now();
        let server = format!("{}:{}", options.host, options.port.map_or("default".into(), |p| p.to_string()));
        let result = Session::open(self.ctx, options).await;
        log_op(Op { server: &server, secure: false, action: "connect", path: None }, started, 0, &result);
        self.ctx.count_op();
        match result {
            Ok(session) => {
                self.ctx.open_sessions += 1;
                Ok(Ok(self.table.push(session)?))
            }
            Err(e) => Ok(Err(e)),
        }
    }
}

impl HostSession for FtpView<'_> {
    async fn list_directory(&mut self, this: Resource<Session>, path: Option<String>) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let started = Instant::now();
        let policy = self.ctx.policy.clone();
        let session = self.table.get_mut(&this)?;
        let op = session.op("listing", path.as_deref());
        let result = match path.as_deref().map(|p| policy.check_path(p, op)) {
            Some(Err(e)) => Err(e),
            _ => session.list(path.as_deref(), policy.limits().max_list_entries).await,
        };
        log_op(session.op("listing", path.as_deref()), started, 0, &result);
        self.ctx.count_op();
        Ok(result)
    }

    async fn get(&mut self, this: Resource<Session>, path: String) -> wasmtime::Result<Result<Vec<u8>, Error>> {
        let started = Instant::now();
        let policy = self.ctx.policy.clone();
        let session = self.table.get_mut(&this)?;
        let result = match policy.check_path(&path, session.op("download", Some(&path))) {
            Err(e) => Err(e),
            Ok(()) => session.get(&path, policy.limits().max_transfer_bytes).await,
        };
        let bytes = result.as_ref().map_or(0, |d| d.len() as u64);
        log_op(session.op("download", Some(&path)), started, bytes, &result);
        self.ctx.count_op();
        self.ctx.counters.bytes_downloaded.fetch_add(bytes, Ordering::Relaxed);
        Ok(result)
    }

    async fn send(&mut self, this: Resource<Session>, dest_path: String, data: Vec<u8>) -> wasmtime::Result<Result<u64, Error>> {
        let started = Instant::now();
        let policy = self.ctx.policy.clone();
        let session = self.table.get_mut(&this)?;
        let result = match policy.check_path(&dest_path, session.op("upload", Some(&dest_path))) {
            Err(e) => Err(e),
            Ok(()) => session.send(&dest_path, &data, policy.limits().max_transfer_bytes).await,
        };
        let bytes = *result.as_ref().unwrap_or(&0);
        log_op(session.op("upload", Some(&dest_path)), started, bytes, &result);
        self.ctx.count_op();
        self.ctx.counters.bytes_uploaded.fetch_add(bytes, Ordering::Relaxed);
        Ok(result)
    }

    async fn size(&mut self, this: Resource<Session>, path: String) -> wasmtime::Result<Result<u64, Error>> {
        let started = Instant::now();
        let policy = self.ctx.policy.clone();
        let session = self.table.get_mut(&this)?;
        let (timeout, server, secure) = (session.timeout, session.server.clone(), session.secure);
        let op = Op { server: &server, secure, action: "size", path: Some(&path) };
        let result = match (policy.check_path(&path, op), session.stream(op.action)) {
            (Err(e), _) | (_, Err(e)) => Err(e),
            (Ok(()), Ok(ftp)) => deadline(timeout, op, ftp.size(&path)).await.map(|s| s as u64),
        };
        let result = session.after(result);
        log_op(op, started, 0, &result);
        self.ctx.count_op();
        Ok(result)
    }

    async fn pwd(&mut self, this: Resource<Session>) -> wasmtime::Result<Result<String, Error>> {
        let started = Instant::now();
        let session = self.table.get_mut(&this)?;
        let (timeout, server, secure) = (session.timeout, session.server.clone(), session.secure);
        let op = Op { server: &server, secure, action: "pwd", path: None };
        let result = match session.stream(op.action) {
            Ok(ftp) => deadline(timeout, op, ftp.pwd()).await,
            Err(e) => Err(e),
        };
        let result = session.after(result);
        log_op(op, started, 0, &result);
        self.ctx.count_op();
        Ok(result)
    }

    async fn cwd(&mut self, this: Resource<Session>, path: String) -> wasmtime::Result<Result<(), Error>> {
        let started = Instant::now();
        let policy = self.ctx.policy.clone();
        let session = self.table.get_mut(&this)?;
        let (timeout, server, secure) = (session.timeout, session.server.clone(), session.secure);
        let op = Op { server: &server, secure, action: "cwd", path: Some(&path) };
        let result = match (policy.check_path(&path, op), session.stream(op.action)) {
            (Err(e), _) | (_, Err(e)) => Err(e),
            (Ok(()), Ok(ftp)) => deadline(timeout, op, ftp.cwd(&path)).await,
        };
        let result = session.after(result);
        log_op(op, started, 0, &result);
        self.ctx.count_op();
        Ok(result)
    }

    async fn quit(&mut self, this: Resource<Session>) -> wasmtime::Result<Result<(), Error>> {
        let started = Instant::now();
        let session = self.table.get_mut(&this)?;
        let (timeout, server, secure) = (session.timeout, session.server.clone(), session.secure);
        let op = Op { server: &server, secure, action: "quit", path: None };
        let result = match session.stream(op.action) {
            Ok(ftp) => deadline(timeout, op, ftp.quit()).await,
            Err(e) => Err(e),
        };
        session.ftp = None;
        session.closed = "it was quit";
        log_op(op, started, 0, &result);
        self.ctx.count_op();
        Ok(result)
    }

    async fn open_get(&mut self, this: Resource<Session>, path: String, offset: u64) -> wasmtime::Result<Result<Resource<Download>, Error>> {
        let started = Instant::now();
        let session = self.table.get_mut(&this)?;
        let result = match self.ctx.policy.check_path(&path, session.op("download", Some(&path))) {
            Err(e) => Err(e),
            Ok(()) => session.open_get(self.ctx, &path, offset).await,
        };
        log_op(session.op("open download", Some(&path)), started, 0, &result);
        self.ctx.count_op();
        Ok(match result {
            Ok(download) => Ok(self.table.push(download)?),
            Err(e) => Err(e),
        })
    }

    async fn open_send(&mut self, this: Resource<Session>, path: String, mode: SendMode) -> wasmtime::Result<Result<Resource<Upload>, Error>> {
        let started = Instant::now();
        let session = self.table.get_mut(&this)?;
        let result = match self.ctx.policy.check_path(&path, session.op("upload", Some(&path))) {
            Err(e) => Err(e),
            Ok(()) => session.open_send(self.ctx, &path, mode).await,
        };
        log_op(session.op("open upload", Some(&path)), started, 0, &result);
        self.ctx.count_op();
        Ok(match result {
            Ok(upload) => Ok(self.table.push(upload)?),
            Err(e) => Err(e),
        })
    }

    async fn drop(&mut self, this: Resource<Session>) -> wasmtime::Result<()> {
        // Dropping the suppaftp stream closes the sockets without waiting.
        self.table.delete(this)?;
        self.ctx.open_sessions = self.ctx.open_sessions.saturating_sub(1);
        Ok(())
    }
}

impl HostDownload for FtpView<'_> {
    async fn body(&mut self, this: Resource<Download>) -> wasmtime::Result<Result<Resource<DynInputStream>, Error>> {
        Ok(match self.table.get_mut(&this)?.body() {
            Ok(stream) => Ok(self.table.push(stream)?),
            Err(e) => Err(e),
        })
    }

    async fn size(&mut self, this: Resource<Download>) -> wasmtime::Result<Option<u64>> {
        Ok(self.table.get(&this)?.size())
    }

    async fn finish(&mut self, this: Resource<Download>) -> wasmtime::Result<Result<u64, Error>> {
        Ok(self.table.delete(this)?.finish().await)
    }

    async fn drop(&mut self, this: Resource<Download>) -> wasmtime::Result<()> {
        self.table.delete(this)?.abort().await;
        Ok(())
    }
}

impl HostUpload for FtpView<'_> {
    async fn body(&mut self, this: Resource<Upload>) -> wasmtime::Result<Result<Resource<DynOutputStream>, Error>> {
        Ok(match self.table.get_mut(&this)?.body() {
            Ok(stream) => Ok(self.table.push(stream)?),
            Err(e) => Err(e),
        })
    }

    async fn finish(&mut self, this: Resource<Upload>) -> wasmtime::Result<Result<u64, Error>> {
        Ok(self.table.delete(this)?.finish().await)
    }

    async fn drop(&mut self, this: Resource<Upload>) -> wasmtime::Result<()> {
        self.table.delete(this)?.abort().await;
        Ok(())
    }
}
