//! The `naas:ftp/client` interface: `connect`, `connect-profile` and the
//! `session` resource, implemented with suppaftp over sockets the host dials
//! itself, every step through the policy gate.
//!
//! Host traits are implemented on [`FtpView`], a small borrowed view over the
//! embedder's store (its [`FtpCtx`] and its `ResourceTable`), so any store
//! type can carry this host; see [`add_to_linker`].

use std::future::Future;
use std::net::SocketAddr;
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
use crate::bindings::types::{self, ConnectOptions, Security};
use crate::connections::{ConnectionLimiter, ConnectionPermit, LimitError};
use crate::error::{self, Error, Op, PolicyDenied};
use crate::policy::{check_field, Access, Policy, SecurityMode};
use crate::transfer::{staging_name, Direction, Download, Opened, Staged, TransferInfo, Upload};
use crate::usage::{Stats, Usage};

/// Size of one read from a data connection into a `get` buffer.
const READ_CHUNK: usize = 256 * 1024;

/// Per-run state of the FTP client: the policy and what the run has used.
pub struct FtpCtx {
    policy: Arc<Policy>,
    /// One TLS configuration per grant of `policy`, in grant order.
    tls: Arc<[Arc<rustls::ClientConfig>]>,
    open_sessions: usize,
    /// Sessions, downloads and uploads held now (each transfer's body
    /// stream is bounded by its transfer: it can be taken once).
    resources: usize,
    usage: Arc<Usage>,
    /// Caps connections per server across runs (`None`: no cap is enforced).
    connections: Option<Arc<dyn ConnectionLimiter>>,
}

impl FtpCtx {
    pub(crate) fn new(policy: Arc<Policy>, tls: Arc<[Arc<rustls::ClientConfig>]>, usage: Arc<Usage>) -> Self {
        FtpCtx { policy, tls, open_sessions: 0, resources: 0, usage, connections: None }
    }

    /// Take connection slots from `limiter` (see [`crate::connections`]).
    pub(crate) fn with_connections(mut self, limiter: Arc<dyn ConnectionLimiter>) -> Self {
        self.connections = Some(limiter);
        self
    }

    /// What the run has done so far.
    pub fn stats(&self) -> Stats {
        self.usage.stats()
    }

    /// Refuse before any network work if one more resource would pass the cap.
    /// The slot is taken by [`FtpView::push`] once the resource exists (calls
    /// on one store never overlap, so nothing can take it in between).
    fn check_room(&self, op: Op<'_>) -> Result<(), Error> {
        let max = self.policy.limits().max_resources;
        if self.resources >= max {
            return Err(Error::Denied(format!("{op}: this plugin holds {max} sessions and transfers, the most its operator allows; finish or drop some")));
        }
        Ok(())
    }

    fn release_resource(&mut self) {
        self.resources = self.resources.saturating_sub(1);
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
    /// The policy grant it was opened under: its path rules apply.
    grant: usize,
    /// The current directory as the host tracks it: every path is
    /// normalised against it and sent to the server absolute.
    cwd: String,
    /// The server's connection slot; declared last so the connection closes first.
    _permit: Option<ConnectionPermit>,
}

/// Everything needed to open a session, after the gate chose the grant.
#[derive(Clone)]
struct Dial<'a> {
    grant: usize,
    host: &'a str,
    port: u16,
    user: &'a str,
    password: &'a str,
    security: SecurityMode,
    timeout: Duration,
}

/// Run one network operation under its deadline, mapping its error.
async fn deadline<T>(timeout: Duration, op: Op<'_>, fut: impl Future<Output = FtpResult<T>>) -> Result<T, Error> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(error::from_ftp(err, op)),
        Err(_) => Err(error::timeout(op, timeout)),
    }
}

fn server_label(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl Session {
    async fn open(ctx: &FtpCtx, dial: Dial<'_>) -> Result<Session, Error> {
        let Dial { grant, host, port, user, password, security, timeout } = dial;
        let server = server_label(host, port);
        let secure = security != SecurityMode::None;
        let op = Op { server: &server, secure, action: "connect", path: None };
        check_field("user", user)?;
        check_field("password", password)?;
        if ctx.open_sessions >= ctx.policy.limits().max_sessions {
            return Err(Error::Denied(format!(
                "connect to {server}: this plugin already has {} sessions open, the most its operator allows; quit one first",
                ctx.open_sessions
            )));
        }
        let addrs = ctx.policy.check_dial(grant, host, port, op).await?;
        // A slot under the server's max_connections, held as long as the session.
        let permit = match &ctx.connections {
            Some(limiter) => {
                let g = &ctx.policy.grants()[grant];
                Some(limiter.acquire(&g.rule().to_string(), g.max_connections(), timeout).await.map_err(
                    |e| match e {
                        LimitError::Timeout(..) => Error::Timeout(format!("connect to {server}: {e}")),
                        LimitError::Unavailable(_) => Error::Connect(format!("connect to {server}: {e}")),
                    },
                )?)
            }
            None => None,
        };
        let tls_name = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let tls = ctx.tls[grant].clone();
        let connector = || AsyncRustlsConnector::from(suppaftp::tokio_rustls::TlsConnector::from(tls.clone()));

        let mut ftp = match security {
            SecurityMode::None | SecurityMode::Explicit => {
                let tcp = dial_first(&addrs, timeout, op).await?;
                let ftp = deadline(timeout, op, AsyncRustlsFtpStream::connect_with_stream(tcp)).await?;
                if security == SecurityMode::Explicit {
                    let op = Op { action: "TLS negotiation", ..op };
                    // into_secure also sends PBSZ 0 + PROT P: the data channel is always protected.
                    deadline(timeout, op, ftp.into_secure(connector(), &tls_name)).await?
                } else {
                    ftp
                }
            }
            SecurityMode::Implicit => {
                // suppaftp dials implicit FTPS itself: hand it only addresses the policy vetted.
                let mut last = None;
                let mut connected = None;
                for addr in &addrs {
                    match deadline(
                        timeout,
                        op,
                        AsyncRustlsFtpStream::connect_secure_implicit(*addr, connector(), &tls_name),
                    )
                    .await
                    {
                        Ok(ftp) => {
                            connected = Some(ftp);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                let mut ftp = connected.ok_or_else(|| last.expect("check_dial returns at least one address"))?;
                // suppaftp's implicit mode sends no PBSZ/PROT; without them servers refuse data connections.
                let op = Op { action: "TLS negotiation", ..op };
                deadline(timeout, op, ftp.custom_command("PBSZ 0", &[Status::CommandOk])).await?;
                deadline(timeout, op, ftp.custom_command("PROT P", &[Status::CommandOk])).await?;
                ftp
            }
        };

        let peer =
            deadline(timeout, op, async { ftp.get_ref().await.peer_addr().map_err(FtpError::ConnectionError) }).await?;
        ftp = ftp.passive_stream_builder(passive_dialer(ctx.policy.clone(), peer, timeout));
        // Never trust the address in a PASV reply: dial the control peer's address.
        ftp.set_passive_nat_workaround(true);
        if peer.is_ipv6() {
            ftp.set_mode(Mode::ExtendedPassive);
        }
        deadline(timeout, Op { action: "login", ..op }, ftp.login(user, password)).await?;
        deadline(timeout, op, ftp.transfer_type(FileType::Binary)).await?;
        // Where the account starts; paths are normalised against it.
        let cwd = match deadline(timeout, op, ftp.pwd()).await {
            Ok(dir) if dir.starts_with('/') => crate::policy::paths::normalise("/", &dir),
            _ => "/".to_string(),
        };
        Ok(Session { ftp: Some(ftp), closed: "", server, timeout, secure, grant, cwd, _permit: permit })
    }

    /// The label of this session's operations (owned, so the session can be borrowed mutably meanwhile).
    fn label(&self) -> (String, bool, Duration) {
        (self.server.clone(), self.secure, self.timeout)
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
        if let Err(e) = &result {
            if breaks_session(e) {
                self.ftp = None;
                self.closed = "a previous operation timed out, lost the connection or got an unreadable reply";
            }
        }
        result
    }
}

/// Errors after which the control connection cannot be trusted: it timed
/// out mid-reply, is gone, or sent something that is not FTP.
fn breaks_session(e: &Error) -> bool {
    matches!(e, Error::Timeout(_) | Error::Connect(_) | Error::Protocol(crate::error::ProtocolError { code: 0, .. }))
}

/// Dial the first address that answers, within the deadline.
async fn dial_first(addrs: &[SocketAddr], timeout: Duration, op: Op<'_>) -> Result<TcpStream, Error> {
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
    control: SocketAddr,
    timeout: Duration,
) -> impl Fn(SocketAddr) -> std::pin::Pin<Box<dyn Future<Output = FtpResult<TcpStream>> + Send + Sync>> + Send + Sync + 'static
{
    move |target| {
        let verdict = policy.check_data_dial(control, target);
        Box::pin(async move {
            verdict.map_err(|why| {
                FtpError::ConnectionError(std::io::Error::new(std::io::ErrorKind::PermissionDenied, PolicyDenied(why)))
            })?;
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

impl FtpView<'_> {
    /// Put a new session or transfer in the table, taking its resource slot.
    fn push<T: Send + 'static>(&mut self, result: Result<T, Error>) -> wasmtime::Result<Result<Resource<T>, Error>> {
        Ok(match result {
            Ok(resource) => {
                self.ctx.resources += 1;
                Ok(self.table.push(resource)?)
            }
            Err(e) => Err(e),
        })
    }

    /// Open a session through the gate's chosen grant and push it.
    async fn open(
        &mut self,
        label: &str,
        dial: Result<Dial<'_>, Error>,
    ) -> wasmtime::Result<Result<Resource<Session>, Error>> {
        let started = Instant::now();
        let op = Op { server: label, secure: false, action: "connect", path: None };
        let result = match (self.ctx.usage.begin(op), dial) {
            (Err(e), _) | (_, Err(e)) => Err(e),
            (Ok(()), Ok(dial)) => match self.ctx.check_room(op) {
                Err(e) => Err(e),
                Ok(()) => {
                    let limits = self.ctx.policy.limits();
                    let (retries, mut backoff) = (limits.connect_retries, limits.connect_backoff);
                    let mut session = Session::open(self.ctx, dial.clone()).await;
                    for _ in 0..retries {
                        if !matches!(session, Err(Error::Connect(_)) | Err(Error::Timeout(_))) {
                            break;
                        }
                        tracing::info!(target: "ftp_host::ftp", server = label, "connect failed; retrying in {backoff:?}");
                        tokio::time::sleep(backoff).await;
                        backoff *= 2;
                        session = Session::open(self.ctx, dial.clone()).await;
                    }
                    session
                }
            },
        };
        self.ctx.usage.record(op, started, 0, &result);
        if result.is_ok() {
            self.ctx.open_sessions += 1;
        }
        self.push(result)
    }

    /// The common start of a session operation: the run's budget, then the
    /// path gate. Returns the session and the normalised path.
    fn begin(
        &mut self,
        this: &Resource<Session>,
        action: &'static str,
        path: Option<&str>,
        access: Access,
    ) -> wasmtime::Result<Result<Option<String>, Error>> {
        let session = self.table.get(this)?;
        let op = Op { server: &session.server, secure: session.secure, action, path };
        let verdict = self.ctx.usage.begin(op).and_then(|()| match path {
            None => Ok(None),
            Some(p) => self.ctx.policy.check_path(session.grant, &session.cwd, p, access, op).map(Some),
        });
        // Refusals are audited too: a plugin probing its jail leaves a trace.
        if verdict.is_err() {
            self.ctx.usage.record(op, Instant::now(), 0, &verdict);
        }
        Ok(verdict)
    }
}

impl client::Host for FtpView<'_> {
    async fn connect(&mut self, options: ConnectOptions) -> wasmtime::Result<Result<Resource<Session>, Error>> {
        let ConnectOptions { host, port, user, password, security, force_prot, timeout_ms } = options;
        let security = match security {
            Security::None => SecurityMode::None,
            Security::Explicit => SecurityMode::Explicit,
            Security::Implicit => SecurityMode::Implicit,
        };
        let port = port.unwrap_or(if security == SecurityMode::Implicit { 990 } else { 21 });
        let label = server_label(&host, port);
        let dial = if force_prot && security == SecurityMode::None {
            Err(Error::InvalidInput(format!(
                "connect to {label}: force-prot needs TLS; set security to explicit or implicit"
            )))
        } else {
            self.ctx.policy.check_connect(&host, port).map(|grant| Dial {
                grant,
                host: &host,
                port,
                user: &user,
                password: &password,
                security,
                timeout: self.ctx.policy.timeout(timeout_ms),
            })
        };
        self.open(&label, dial).await
    }

    async fn connect_profile(&mut self, name: String) -> wasmtime::Result<Result<Resource<Session>, Error>> {
        let policy = self.ctx.policy.clone();
        let dial = policy.check_profile(&name).map(|(grant, p)| Dial {
            grant,
            host: &p.host,
            port: p.port(),
            user: &p.user,
            password: p.password.expose(),
            security: p.security,
            timeout: policy.timeout(None),
        });
        self.open(&format!("profile `{name}`"), dial).await
    }
}

impl HostSession for FtpView<'_> {
    async fn list_directory(
        &mut self,
        this: Resource<Session>,
        path: Option<String>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let started = Instant::now();
        let target = match self.begin(&this, "listing", Some(path.as_deref().unwrap_or(".")), Access::Browse)? {
            Ok(p) => p.expect("a path was given"),
            Err(e) => return Ok(Err(e)),
        };
        let max = self.ctx.policy.limits().max_list_entries;
        let session = self.table.get_mut(&this)?;
        let rules = self.ctx.policy.paths(session.grant).clone();
        let (server, secure, timeout) = session.label();
        let op = Op { server: &server, secure, action: "listing", path: Some(&target) };
        let result = match session.stream(op.action) {
            Ok(ftp) => deadline(timeout, op, ftp.nlst(Some(&target))).await,
            Err(e) => Err(e),
        };
        let result = session.after(result).and_then(|names| {
            if names.len() > max {
                return Err(Error::TooLarge(format!(
                    "{op}: {} entries, more than the {max} allowed; list a narrower directory",
                    names.len()
                )));
            }
            // Names only (some servers prefix the directory, some list `.`
            // and `..`), and only those the grant lets the plugin see.
            Ok(names
                .into_iter()
                .map(|n| n.rsplit('/').next().unwrap_or_default().to_string())
                // Names no path could carry back (NUL, CR, LF, too long) are useless to the plugin.
                .filter(|n| crate::policy::paths::check_bytes(n, crate::policy::MAX_PATH_BYTES).is_ok())
                .filter(|n| n != "." && n != ".." && rules.shows(&target, n))
                .collect())
        });
        self.ctx.usage.record(op, started, 0, &result);
        Ok(result)
    }

    async fn get(&mut self, this: Resource<Session>, path: String) -> wasmtime::Result<Result<Vec<u8>, Error>> {
        let started = Instant::now();
        let target = match self.begin(&this, "download", Some(&path), Access::Read)? {
            Ok(p) => p.expect("a path was given"),
            Err(e) => return Ok(Err(e)),
        };
        let limit = self.ctx.policy.limits().max_transfer_bytes;
        let usage = self.ctx.usage.clone();
        let session = self.table.get_mut(&this)?;
        let (server, secure, timeout) = session.label();
        let op = Op { server: &server, secure, action: "download", path: Some(&target) };
        let result = match session.stream(op.action) {
            Err(e) => Err(e),
            Ok(ftp) => async {
                let mut stream = deadline(timeout, op, ftp.retr_as_stream(&target)).await?;
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
                    let over = data.len() as u64 + n as u64 > limit;
                    let quota = usage.moved(Direction::Download, n as u64, op);
                    if over || quota.is_err() {
                        // Best effort: the limit error matters more than a failed ABOR.
                        let _ = deadline(timeout, op, ftp.abort(stream)).await;
                        quota?;
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
            .await,
        };
        let result = session.after(result);
        self.ctx.usage.record(op, started, result.as_ref().map_or(0, |d| d.len() as u64), &result);
        Ok(result)
    }

    async fn send(
        &mut self,
        this: Resource<Session>,
        dest_path: String,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let started = Instant::now();
        let target = match self.begin(&this, "upload", Some(&dest_path), Access::Write)? {
            Ok(p) => p.expect("a path was given"),
            Err(e) => return Ok(Err(e)),
        };
        let limit = self.ctx.policy.limits().max_transfer_bytes;
        let usage = self.ctx.usage.clone();
        let session = self.table.get_mut(&this)?;
        let (server, secure, timeout) = session.label();
        let op = Op { server: &server, secure, action: "upload", path: Some(&target) };
        let result = if data.len() as u64 > limit {
            Err(Error::TooLarge(format!(
                "{op}: {} bytes is more than the {limit}-byte limit for in-memory transfers; stream it with open-send",
                data.len()
            )))
        } else {
            match (usage.moved(Direction::Upload, data.len() as u64, op), session.stream(op.action)) {
                (Err(e), _) | (_, Err(e)) => Err(e),
                (Ok(()), Ok(ftp)) => {
                    // To a temporary name, renamed once complete (see open-send).
                    let temp = staging_name(&target);
                    let sent = async {
                        let mut stream = deadline(timeout, op, ftp.put_with_stream(&temp)).await?;
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
                    commit(ftp, sent, &temp, &target, timeout, op).await
                }
            }
        };
        let result = session.after(result);
        self.ctx.usage.record(op, started, *result.as_ref().unwrap_or(&0), &result);
        Ok(result)
    }

    async fn size(&mut self, this: Resource<Session>, path: String) -> wasmtime::Result<Result<u64, Error>> {
        let started = Instant::now();
        let target = match self.begin(&this, "size", Some(&path), Access::Read)? {
            Ok(p) => p.expect("a path was given"),
            Err(e) => return Ok(Err(e)),
        };
        let session = self.table.get_mut(&this)?;
        let (server, secure, timeout) = session.label();
        let op = Op { server: &server, secure, action: "size", path: Some(&target) };
        let result = match session.stream(op.action) {
            Ok(ftp) => deadline(timeout, op, ftp.size(&target)).await.map(|s| s as u64),
            Err(e) => Err(e),
        };
        let result = session.after(result);
        self.ctx.usage.record(op, started, 0, &result);
        Ok(result)
    }

    async fn pwd(&mut self, this: Resource<Session>) -> wasmtime::Result<Result<String, Error>> {
        if let Err(e) = self.begin(&this, "pwd", None, Access::Browse)? {
            return Ok(Err(e));
        }
        // The host's own view, which every path is resolved against.
        let session = self.table.get(&this)?;
        Ok(match session.ftp {
            Some(_) => Ok(session.cwd.clone()),
            None => Err(Error::InvalidInput(format!(
                "pwd on {}: the session is closed ({})",
                session.server, session.closed
            ))),
        })
    }

    async fn cwd(&mut self, this: Resource<Session>, path: String) -> wasmtime::Result<Result<(), Error>> {
        let started = Instant::now();
        let target = match self.begin(&this, "cwd", Some(&path), Access::Browse)? {
            Ok(p) => p.expect("a path was given"),
            Err(e) => return Ok(Err(e)),
        };
        let session = self.table.get_mut(&this)?;
        let (server, secure, timeout) = session.label();
        let op = Op { server: &server, secure, action: "cwd", path: Some(&target) };
        let result = match session.stream(op.action) {
            Ok(ftp) => deadline(timeout, op, ftp.cwd(&target)).await,
            Err(e) => Err(e),
        };
        let result = session.after(result);
        if result.is_ok() {
            session.cwd = target.clone();
        }
        self.ctx.usage.record(op, started, 0, &result);
        Ok(result)
    }

    async fn quit(&mut self, this: Resource<Session>) -> wasmtime::Result<Result<(), Error>> {
        let started = Instant::now();
        if let Err(e) = self.begin(&this, "quit", None, Access::Browse)? {
            return Ok(Err(e));
        }
        let session = self.table.get_mut(&this)?;
        let (server, secure, timeout) = session.label();
        let op = Op { server: &server, secure, action: "quit", path: None };
        let result = match session.stream(op.action) {
            Ok(ftp) => deadline(timeout, op, ftp.quit()).await,
            Err(e) => Err(e),
        };
        session.ftp = None;
        session.closed = "it was quit";
        self.ctx.usage.record(op, started, 0, &result);
        Ok(result)
    }

    async fn open_get(
        &mut self,
        this: Resource<Session>,
        path: String,
        offset: u64,
    ) -> wasmtime::Result<Result<Resource<Download>, Error>> {
        let started = Instant::now();
        let target = match self.begin(&this, "download", Some(&path), Access::Read)? {
            Ok(p) => p.expect("a path was given"),
            Err(e) => return Ok(Err(e)),
        };
        let session = self.table.get_mut(&this)?;
        let (server, secure, timeout) = session.label();
        let op = Op { server: &server, secure, action: "open download", path: Some(&target) };
        let result = match (self.ctx.check_room(op), session.stream(op.action)) {
            (Err(e), _) | (_, Err(e)) => Err(e),
            (Ok(()), Ok(ftp)) => {
                let opened = async {
                    // Best effort, for progress: not every server answers SIZE, and RETR reports a missing file.
                    let size = deadline(timeout, op, ftp.size(&target)).await.ok().map(|s| s as u64);
                    if offset > 0 {
                        let at = usize::try_from(offset)
                            .map_err(|_| Error::InvalidInput(format!("{op}: offset {offset} is too large")))?;
                        deadline(timeout, op, ftp.resume_transfer(at)).await?;
                    }
                    let stream = deadline(timeout, op, ftp.retr_as_stream(&target)).await?;
                    Ok((stream, size))
                }
                .await;
                session.after(opened).map(|(stream, size)| {
                    let info = TransferInfo {
                        direction: Direction::Download,
                        server: server.clone(),
                        secure,
                        path: target.clone(),
                        size,
                        offset,
                    };
                    Download::new(Opened { info, stream, timeout, usage: self.ctx.usage.clone() })
                })
            }
        };
        self.ctx.usage.record(op, started, 0, &result);
        self.push(result)
    }

    async fn open_send(
        &mut self,
        this: Resource<Session>,
        path: String,
        mode: SendMode,
    ) -> wasmtime::Result<Result<Resource<Upload>, Error>> {
        let started = Instant::now();
        let target = match self.begin(&this, "upload", Some(&path), Access::Write)? {
            Ok(p) => p.expect("a path was given"),
            Err(e) => return Ok(Err(e)),
        };
        let session = self.table.get_mut(&this)?;
        let (server, secure, timeout) = session.label();
        let op = Op { server: &server, secure, action: "open upload", path: Some(&target) };
        let offset = match mode {
            SendMode::ResumeAt(offset) => offset,
            _ => 0,
        };
        // A replacement goes to a temporary name first: readers of the
        // target see the old file or the whole new one, never a part.
        let staged = matches!(mode, SendMode::Replace).then(|| Staged {
            temp: staging_name(&target),
            target: target.clone(),
            session: this.rep(),
        });
        let destination = staged.as_ref().map_or(target.clone(), |s| s.temp.clone());
        let result = match (self.ctx.check_room(op), session.stream(op.action)) {
            (Err(e), _) | (_, Err(e)) => Err(e),
            (Ok(()), Ok(ftp)) => {
                let opened = async {
                    match mode {
                        SendMode::Replace => deadline(timeout, op, ftp.put_with_stream(&destination)).await,
                        SendMode::Append => deadline(timeout, op, ftp.append_with_stream(&target)).await,
                        SendMode::ResumeAt(offset) => {
                            let at = usize::try_from(offset)
                                .map_err(|_| Error::InvalidInput(format!("{op}: offset {offset} is too large")))?;
                            deadline(timeout, op, ftp.resume_transfer(at)).await?;
                            deadline(timeout, op, ftp.put_with_stream(&target)).await
                        }
                    }
                }
                .await;
                session.after(opened).map(|stream| {
                    let info = TransferInfo {
                        direction: Direction::Upload,
                        server: server.clone(),
                        secure,
                        path: target.clone(),
                        size: None,
                        offset,
                    };
                    Upload::new(Opened { info, stream, timeout, usage: self.ctx.usage.clone() }, staged)
                })
            }
        };
        self.ctx.usage.record(op, started, 0, &result);
        self.push(result)
    }

    async fn drop(&mut self, this: Resource<Session>) -> wasmtime::Result<()> {
        // Dropping the suppaftp stream closes the sockets without waiting.
        self.table.delete(this)?;
        self.ctx.open_sessions = self.ctx.open_sessions.saturating_sub(1);
        self.ctx.release_resource();
        Ok(())
    }
}

impl FtpView<'_> {
    /// Rename a staged upload into place, or remove it, on its session.
    async fn settle(&mut self, staged: Staged, result: Result<u64, Error>) -> Result<u64, Error> {
        let Ok(session) = self.table.get_mut(&Resource::<Session>::new_borrow(staged.session)) else {
            return result.and_then(|_| {
                Err(Error::InvalidInput(format!(
                    "upload of `{}`: its session was closed before the file could be renamed into place; it stays at `{}`",
                    staged.target, staged.temp
                )))
            });
        };
        let (server, secure, timeout) = session.label();
        let op = Op { server: &server, secure, action: "upload", path: Some(&staged.target) };
        let settled = match session.stream(op.action) {
            Ok(ftp) => commit(ftp, result, &staged.temp, &staged.target, timeout, op).await,
            Err(e) => result.and(Err(e)),
        };
        session.after(settled)
    }
}

/// The last step of an atomic upload: rename the temporary file to its
/// target if the upload succeeded, remove it (best effort) if not.
async fn commit(
    ftp: &mut AsyncRustlsFtpStream,
    sent: Result<u64, Error>,
    temp: &str,
    target: &str,
    timeout: Duration,
    op: Op<'_>,
) -> Result<u64, Error> {
    let renamed = match sent {
        Ok(bytes) => {
            deadline(timeout, Op { action: "rename into place", ..op }, ftp.rename(temp, target)).await.map(|()| bytes)
        }
        Err(e) => Err(e),
    };
    match &renamed {
        // A dead or confused control connection cannot remove anything: do
        // not spend another deadline trying.
        Err(e) if !breaks_session(e) => {
            let _ = deadline(timeout, op, ftp.rm(temp)).await;
        }
        _ => {}
    }
    renamed
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
        let download = self.table.delete(this)?;
        self.ctx.release_resource();
        Ok(download.finish().await)
    }

    async fn drop(&mut self, this: Resource<Download>) -> wasmtime::Result<()> {
        let download = self.table.delete(this)?;
        self.ctx.release_resource();
        download.abort().await;
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
        let mut upload = self.table.delete(this)?;
        self.ctx.release_resource();
        let staged = upload.staged.take();
        let result = upload.finish().await;
        Ok(match staged {
            None => result,
            Some(staged) => self.settle(staged, result).await,
        })
    }

    async fn drop(&mut self, this: Resource<Upload>) -> wasmtime::Result<()> {
        let mut upload = self.table.delete(this)?;
        self.ctx.release_resource();
        let staged = upload.staged.take();
        upload.abort().await;
        if let Some(staged) = staged {
            let _ = self.settle(staged, Err(Error::Io("the upload was dropped without finish".into()))).await;
        }
        Ok(())
    }
}
