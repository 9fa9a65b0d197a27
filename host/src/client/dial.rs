//! Opening a control connection: resolve the name within the deadline, pass
//! every address through the gate, dial, secure (explicit or implicit TLS),
//! log in, and set the connection up (binary type, passive mode, features).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use suppaftp::tokio::{AsyncRustlsConnector, AsyncRustlsFtpStream};
use suppaftp::types::FileType;
use suppaftp::{FtpError, FtpResult, Mode, Status};
use tokio::net::TcpStream;

use super::{deadline, ops, Conn, FtpCtx};
use crate::connections::{ConnectionPermit, LimitError};
use crate::error::{self, Action, Error, Op, PolicyDenied};
use crate::policy::{check_field, Policy, SecurityMode};

/// Everything needed to open a session, after the gate chose the grant.
#[derive(Clone)]
pub(super) struct Dial<'a> {
    pub grant: usize,
    pub host: &'a str,
    pub port: u16,
    pub user: &'a str,
    pub password: &'a str,
    pub security: SecurityMode,
    pub timeout: Duration,
    /// How the guest names the server (`host:port` or the profile).
    pub label: &'a str,
}

/// A logged-in control connection and what was learnt opening it.
pub(super) struct Opened {
    pub ftp: AsyncRustlsFtpStream,
    /// The slot under the server's `max_connections`, held while the connection lives.
    pub permit: Option<ConnectionPermit>,
    pub features: Vec<String>,
    pub cwd: String,
}

/// Open, secure and log in, as `dial` says.
pub(super) async fn open(ctx: &FtpCtx, dial: &Dial<'_>) -> Result<Opened, Error> {
    let Dial { grant, host, port, user, password, security, timeout, label } = *dial;
    let secure = security != SecurityMode::None;
    let op = Op { server: label, secure, action: Action::Connect, path: None };
    check_field("user", user)?;
    check_field("password", password)?;
    let addrs = resolve(ctx, grant, host, port, timeout, op).await?;
    // Beyond the server's `max_connections` the connect waits (wall-clock, not CPU) for a slot.
    let permit = match &ctx.connections {
        Some(limiter) => {
            let g = &ctx.policy.grants()[grant];
            let server = g.rule().to_string();
            let permit = limiter.acquire(&server, g.max_connections(), timeout).await.map_err(|e| match e {
                LimitError::Timeout(..) => Error::Timeout(format!("{op}: {e}")),
                LimitError::Unavailable(_) => Error::Connect(format!("{op}: {e}")),
            })?;
            Some(permit)
        }
        None => None,
    };
    let tls_name = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let tls = ctx.tls[grant].clone();
    let connector = || AsyncRustlsConnector::from(suppaftp::tokio_rustls::TlsConnector::from(tls.clone()));
    let negotiation = Op { action: Action::TlsNegotiation, ..op };

    let mut ftp = match security {
        SecurityMode::None | SecurityMode::Explicit => {
            let tcp = dial_first(&addrs, timeout, op).await?;
            let ftp = deadline(timeout, op, AsyncRustlsFtpStream::connect_with_stream(tcp)).await?;
            if security == SecurityMode::Explicit {
                // into_secure also sends PBSZ 0 + PROT P: the data channel is always protected.
                deadline(timeout, negotiation, ftp.into_secure(connector(), &tls_name)).await?
            } else {
                ftp
            }
        }
        SecurityMode::Implicit => {
            // suppaftp dials implicit FTPS itself: hand it only addresses the policy vetted.
            let mut last = None;
            let mut connected = None;
            for addr in &addrs {
                let dialed = AsyncRustlsFtpStream::connect_secure_implicit(*addr, connector(), &tls_name);
                match deadline(timeout, op, dialed).await {
                    Ok(ftp) => {
                        connected = Some(ftp);
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            let mut ftp = connected.ok_or_else(|| last.expect("resolve returns at least one address"))?;
            // suppaftp's implicit mode sends no PBSZ/PROT; without them servers refuse data connections.
            deadline(timeout, negotiation, ftp.custom_command("PBSZ 0", &[Status::CommandOk])).await?;
            deadline(timeout, negotiation, ftp.custom_command("PROT P", &[Status::CommandOk])).await?;
            ftp
        }
    };

    let peer =
        deadline(timeout, op, async { ftp.get_ref().await.peer_addr().map_err(FtpError::ConnectionError) }).await?;
    ftp = ftp.passive_stream_builder(passive_dialer(ctx.policy.clone(), peer, timeout));
    // Never trust the address in a PASV reply: dial the control peer's address.
    ftp.set_passive_nat_workaround(true);
    deadline(timeout, Op { action: Action::Login, ..op }, ftp.login(user, password)).await?;
    deadline(timeout, op, ftp.transfer_type(FileType::Binary)).await?;

    let mut features = None;
    let usage = ctx.usage.clone();
    let mut conn = Conn {
        ftp: &mut ftp,
        features: &mut features,
        op,
        timeout,
        usage: &usage,
        policy: &ctx.policy,
        grant,
        moved: 0,
    };
    let features = ops::features(&mut conn).await?;
    // EPSV (RFC 2428) names only a port, on the control peer; PASV is for
    // servers that do not list it (and cannot carry IPv6).
    if peer.is_ipv6() || features.iter().any(|f| f.eq_ignore_ascii_case("EPSV")) {
        ftp.set_mode(Mode::ExtendedPassive);
    }
    // Where the account starts; paths are normalised against it.
    let cwd = match deadline(timeout, op, ftp.pwd()).await {
        Ok(dir) if dir.starts_with('/') => crate::policy::paths::normalise("/", &dir),
        _ => "/".to_string(),
    };
    Ok(Opened { ftp, permit, features, cwd })
}

/// Resolve `host` within the deadline and check every address it has.
async fn resolve(
    ctx: &FtpCtx,
    grant: usize,
    host: &str,
    port: u16,
    timeout: Duration,
    op: Op<'_>,
) -> Result<Vec<SocketAddr>, Error> {
    let addrs = match Policy::literal_address(host) {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => lookup_within(timeout, op, tokio::net::lookup_host((host, port))).await?,
    };
    if addrs.is_empty() {
        return Err(Error::Connect(format!("{op}: the server's name has no addresses")));
    }
    ctx.policy.check_addresses(grant, host, &addrs, op.server).inspect_err(|r| ctx.usage.refused(r))?;
    Ok(addrs)
}

/// The addresses `lookup` finds, within the operation's deadline: a slow
/// or hanging resolver ends as a timeout like any other network step.
async fn lookup_within<A: IntoIterator<Item = SocketAddr>>(
    timeout: Duration,
    op: Op<'_>,
    lookup: impl Future<Output = std::io::Result<A>>,
) -> Result<Vec<SocketAddr>, Error> {
    match tokio::time::timeout(timeout, lookup).await {
        Ok(Ok(addrs)) => Ok(addrs.into_iter().collect()),
        Ok(Err(e)) => Err(Error::Connect(format!("{op}: cannot resolve the server's name: {e}"))),
        Err(_) => Err(error::timeout(op, timeout)),
    }
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
    Err(last.expect("resolve returns at least one address"))
}

type DataDial = Pin<Box<dyn Future<Output = FtpResult<TcpStream>> + Send + Sync>>;

/// Most bytes an upload leaves unsent in its data socket (`TCP_NOTSENT_LOWAT`):
/// past it the socket is not writable, so the pump waits and writes again.
///
/// Unbounded, the kernel queues megabytes beyond the peer's window, and each
/// ACK that opens the window sends queued bytes from whichever context
/// processes the ACK. On loopback that is the server's, so the server pays
/// for our transmits. Bounded, our own thread sends them. With 16 or 32 KiB
/// the server's CPU per GiB fell 25–30%, and in the full benchmark plain
/// uploads ran 24–37% faster; 512 KiB changed nothing
/// (bench/ANALYSIS-2026-12-04-cpu-ratio.md, sections 7–8).
/// In-flight bytes do not count, so the window of a long, fat network is not
/// limited by this; a download sends nothing on its data connection. A
/// plain upload's sending thread raises it
/// ([`super::wire::PLAIN_SEND_NOTSENT_LOWAT`]).
const DATA_NOTSENT_LOWAT: u32 = 32 * 1024;

/// The passive data-connection dialer handed to suppaftp: every data dial
/// passes the policy's data gate first.
fn passive_dialer(
    policy: Arc<Policy>,
    control: SocketAddr,
    timeout: Duration,
) -> impl Fn(SocketAddr) -> DataDial + Send + Sync + 'static {
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
            // A socket without the option still moves every byte.
            let _ = socket2::SockRef::from(&stream).set_tcp_notsent_lowat(DATA_NOTSENT_LOWAT);
            Ok(stream)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Name resolution runs inside the operation's deadline (issue 13,
    /// item 6): a resolver that never answers ends as a timeout.
    #[tokio::test]
    async fn a_hanging_resolver_ends_as_a_timeout() {
        let op = Op { server: "slow.example:21", secure: false, action: Action::Connect, path: None };
        let started = std::time::Instant::now();
        let hanging = std::future::pending::<std::io::Result<Vec<SocketAddr>>>();
        let result = lookup_within(Duration::from_millis(100), op, hanging).await;
        assert!(matches!(&result, Err(Error::Timeout(m)) if m.contains("slow.example")), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    }

    /// Data connections leave at most `DATA_NOTSENT_LOWAT` bytes unsent,
    /// so that an upload's transmits run on our thread, not the server's.
    #[tokio::test]
    async fn a_data_connection_bounds_its_unsent_bytes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = listener.local_addr().unwrap();
        let control = SocketAddr::new(target.ip(), 21);
        let dial = passive_dialer(Arc::new(Policy::default()), control, Duration::from_secs(5));
        let stream = dial(target).await.unwrap();
        assert_eq!(socket2::SockRef::from(&stream).tcp_notsent_lowat().unwrap(), DATA_NOTSENT_LOWAT);
    }
}
