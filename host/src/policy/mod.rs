//! The capability policy: which servers, paths, credentials and resources a
//! plugin may use. This module is the one gate every dial (control and
//! data), every path and every operation passes through; nothing else
//! decides. The default policy allows nothing.
//!
//! Pure pieces live in submodules, each with table tests: [`paths`] (the
//! normaliser and the read/write globs) and [`network`] (address classes).

pub mod network;
pub mod paths;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::tls::Trust;
pub use network::NetworkRules;
pub use paths::{Access, PathRules};

/// Why the gate refused something. The policy's own type: it knows nothing
/// of the guest's WIT error (`error.rs` maps it, in one place) nor of the
/// CLI's flags (a [`Hint`] says what would grant it; each front end words it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// What kind of refusal.
    pub kind: RefusalKind,
    /// What was refused and why, naming the server (or profile) and the path.
    pub message: String,
    /// What the operator could grant to allow it, if anything.
    pub hint: Option<Hint>,
}

/// The kinds of refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// Not granted: retrying will not help.
    Denied,
    /// Malformed input: a path with CR/LF/NUL, a field too long.
    Invalid,
}

/// What an operator could change to allow a refused request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hint {
    /// Grant this server (and port) for guest credentials.
    GrantServer {
        /// The host name or address asked for.
        host: String,
        /// The port asked for.
        port: u16,
    },
    /// Allow names that resolve to loopback addresses.
    AllowLoopback,
    /// Allow names that resolve to private addresses.
    AllowPrivate,
    /// Trust the server's certificate: its CA, or its pinned SHA-256.
    TrustCertificate {
        /// The server as the plugin named it.
        server: String,
    },
}

impl Refusal {
    pub(crate) fn denied(message: impl Into<String>) -> Self {
        Refusal { kind: RefusalKind::Denied, message: message.into(), hint: None }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Refusal { kind: RefusalKind::Invalid, message: message.into(), hint: None }
    }

    fn with_hint(mut self, hint: Hint) -> Self {
        self.hint = Some(hint);
        self
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// Longest path a guest may pass, in bytes. Servers cap paths near 4 KiB; a
/// longer one is a mistake or an attempt to make the host buffer garbage.
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest host, user, password or profile name a guest may pass, in bytes.
pub const MAX_FIELD_BYTES: usize = 1024;
/// Default cap on one `get` or `send` of a whole file through guest memory.
pub const DEFAULT_MAX_TRANSFER_BYTES: u64 = 64 * 1024 * 1024;
/// Default cap on the entries of one listing, enforced while it arrives.
pub const DEFAULT_MAX_LIST_ENTRIES: usize = 100_000;
/// Default cap on the bytes of one listing, enforced while it arrives: a
/// hostile server could otherwise stream a listing forever.
pub const DEFAULT_MAX_LIST_BYTES: u64 = crate::listing::DEFAULT_MAX_LIST_BYTES;
/// Default cap on the sessions one plugin run may hold open at once.
pub const DEFAULT_MAX_SESSIONS: usize = 8;
/// Default cap on the host resources (sessions, transfers, streams) a run
/// may hold at once: each pins host memory and sockets.
pub const DEFAULT_MAX_RESOURCES: usize = 64;
/// Default cap on the FTP operations (host calls that reach a server) of one run.
pub const DEFAULT_MAX_OPERATIONS: u64 = 100_000;
/// Deadline of one network operation when the guest asks for none.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest deadline a guest may ask for.
pub const MAX_OPERATION_TIMEOUT: Duration = Duration::from_secs(300);
/// Default cap on a plugin's linear memories and tables, all together.
pub const DEFAULT_MAX_MEMORY_BYTES: usize = 256 * 1024 * 1024;
/// Default cap on the WebAssembly instances (the component's core modules
/// and its internal shims) one run may create.
pub const DEFAULT_MAX_INSTANCES: usize = 16;
/// Default cap on the linear memories one run may create (multi-memory
/// modules may declare many; one is usual).
pub const DEFAULT_MAX_MEMORIES: usize = 8;
/// Default cap on the tables one run may create.
pub const DEFAULT_MAX_TABLES: usize = 32;
/// Default cap on the host handles (entries of the store's resource table:
/// sessions, transfers, streams, pollables, files) a run may hold at once.
pub const DEFAULT_MAX_HANDLES: usize = 4096;
/// Default cap on the time a plugin may run WebAssembly code.
pub const DEFAULT_MAX_CPU: Duration = Duration::from_secs(60);
/// Default cap on a whole run, waiting on the network included.
pub const DEFAULT_MAX_WALL_CLOCK: Duration = Duration::from_secs(3600);

/// Limits that bound what one plugin run may consume.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest file `get` or `send` may move through guest memory.
    pub max_transfer_bytes: u64,
    /// Most bytes the run may move in all (down and up); `None`: no cap.
    pub max_run_bytes: Option<u64>,
    /// Most entries one listing may return.
    pub max_list_entries: usize,
    /// Most bytes one listing may take.
    pub max_list_bytes: u64,
    /// Most sessions open at once.
    pub max_sessions: usize,
    /// Most host resources (sessions, transfers, streams) held at once.
    pub max_resources: usize,
    /// Most FTP operations in one run (the host-call budget).
    pub max_operations: u64,
    /// Deadline of one network operation when the guest asks for none.
    pub default_timeout: Duration,
    /// Longest deadline a guest may ask for; longer requests are capped.
    pub max_timeout: Duration,
    /// Most bytes of all the guest's linear memories and tables together.
    pub max_memory_bytes: usize,
    /// Most WebAssembly instances a run may create.
    pub max_instances: usize,
    /// Most linear memories a run may create.
    pub max_memories: usize,
    /// Most tables a run may create.
    pub max_tables: usize,
    /// Most host handles (resource-table entries) held at once.
    pub max_handles: usize,
    /// Time the guest may spend running its own code (measured in 10 ms
    /// epochs while it runs; time waiting in host calls is not counted).
    pub max_cpu: Duration,
    /// Time the whole run may take.
    pub max_wall_clock: Duration,
    /// How many times a failed connect (unreachable, reset, timed out) is
    /// retried; 0, the default, never retries. Auth, TLS and policy
    /// failures are never retried.
    pub connect_retries: u32,
    /// Wait before the first retry; doubled for each next one.
    pub connect_backoff: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_transfer_bytes: DEFAULT_MAX_TRANSFER_BYTES,
            max_run_bytes: None,
            max_list_entries: DEFAULT_MAX_LIST_ENTRIES,
            max_list_bytes: DEFAULT_MAX_LIST_BYTES,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_resources: DEFAULT_MAX_RESOURCES,
            max_operations: DEFAULT_MAX_OPERATIONS,
            default_timeout: DEFAULT_OPERATION_TIMEOUT,
            max_timeout: MAX_OPERATION_TIMEOUT,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            max_instances: DEFAULT_MAX_INSTANCES,
            max_memories: DEFAULT_MAX_MEMORIES,
            max_tables: DEFAULT_MAX_TABLES,
            max_handles: DEFAULT_MAX_HANDLES,
            max_cpu: DEFAULT_MAX_CPU,
            max_wall_clock: DEFAULT_MAX_WALL_CLOCK,
            connect_retries: 0,
            connect_backoff: Duration::from_millis(500),
        }
    }
}

/// The ports a grant without a port allows: the FTP control ports, 21 and
/// 990 (implicit FTPS). Any other port must be named (`HOST:PORT`), or every
/// port granted explicitly (`HOST:*`).
pub const FTP_PORTS: [u16; 2] = [21, 990];

/// One grant: a host name or IP address, and which of its ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowRule {
    host: String,
    ports: Ports,
}

/// The ports of an [`AllowRule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ports {
    /// `HOST`: [`FTP_PORTS`] only.
    Ftp,
    /// `HOST:PORT`.
    One(u16),
    /// `HOST:*`: every port, asked for explicitly.
    Any,
}

/// A malformed `--allow` value.
#[derive(Debug, thiserror::Error)]
#[error("invalid server grant `{value}`: {reason} (expected HOST, HOST:PORT or HOST:*, e.g. `ftp.example.com:21`, `127.0.0.1:2121` or `[::1]:21`; without a port only the FTP ports 21 and 990 are granted)")]
pub struct AllowRuleError {
    value: String,
    reason: &'static str,
}

impl FromStr for AllowRule {
    type Err = AllowRuleError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let err = |reason| AllowRuleError { value: value.to_string(), reason };
        let (host, port) = if let Some(rest) = value.strip_prefix('[') {
            // [v6] or [v6]:port
            let (addr, tail) = rest.split_once(']').ok_or_else(|| err("missing `]`"))?;
            let port = match tail {
                "" => None,
                t => Some(t.strip_prefix(':').ok_or_else(|| err("junk after `]`"))?),
            };
            addr.parse::<std::net::Ipv6Addr>().map_err(|_| err("not an IPv6 address"))?;
            (addr, port)
        } else {
            match value.rsplit_once(':') {
                Some((h, _)) if h.contains(':') => return Err(err("write IPv6 addresses in brackets")),
                Some((h, p)) => (h, Some(p)),
                None => (value, None),
            }
        };
        let ports = match port {
            None => Ports::Ftp,
            Some("*") => Ports::Any,
            Some(p) => Ports::One(p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| err("bad port"))?),
        };
        if host.is_empty() {
            return Err(err("empty host"));
        }
        if !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':')) {
            return Err(err("a host name has only letters, digits, `.`, `-` and `_`"));
        }
        Ok(AllowRule { host: host.to_ascii_lowercase(), ports })
    }
}

impl fmt::Display for AllowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        match self.ports {
            Ports::One(port) => write!(f, "{host}:{port}"),
            Ports::Any => write!(f, "{host}:*"),
            Ports::Ftp => f.write_str(&host),
        }
    }
}

impl AllowRule {
    fn matches(&self, host: &str, port: u16) -> bool {
        let port_ok = match self.ports {
            Ports::Ftp => FTP_PORTS.contains(&port),
            Ports::One(p) => p == port,
            Ports::Any => true,
        };
        port_ok && normalise_host(host) == self.host
    }

    /// Whether the grant is for `host`, whatever the port.
    fn names(&self, host: &str) -> bool {
        normalise_host(host) == self.host
    }
}

fn normalise_host(host: &str) -> String {
    host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase()
}

/// A password the host holds for a profile. It is never shown: `Debug`
/// prints `***`, and nothing in this crate formats it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How a profile connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecurityMode {
    /// Plain FTP.
    #[default]
    None,
    /// Explicit FTPS (AUTH TLS).
    Explicit,
    /// Implicit FTPS.
    Implicit,
}

/// A server the operator configured by name: the guest connects with
/// `connect-profile(name)` and never sees the address's credentials.
#[derive(Clone, Debug)]
pub struct Profile {
    /// The name the guest uses.
    pub name: String,
    /// Server name or address.
    pub host: String,
    /// Port; `None`: 21, or 990 for implicit FTPS.
    pub port: Option<u16>,
    /// Transport security.
    pub security: SecurityMode,
    /// Require PROT P (always on with TLS; see the WIT docs).
    pub force_prot: bool,
    /// User name.
    pub user: String,
    /// Password.
    pub password: Secret,
}

impl Profile {
    /// The port to dial.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(self.security.default_port())
    }
}

impl SecurityMode {
    /// The port of a server given without one: 990 for implicit FTPS, else 21.
    pub fn default_port(self) -> u16 {
        match self {
            SecurityMode::Implicit => 990,
            SecurityMode::None | SecurityMode::Explicit => 21,
        }
    }
}

/// One granted server: where, how its certificate is checked, which paths,
/// and whether through a profile, guest-supplied credentials, or both.
#[derive(Clone, Debug)]
pub struct Grant {
    rule: AllowRule,
    /// `None`: the policy's default trust.
    trust: Option<Trust>,
    paths: PathRules,
    profile: Option<Profile>,
    guest_credentials: bool,
    /// Whether replacements go to a temporary name first (see [`Grant::with_staging`]).
    staging: bool,
    /// Most control connections open to this server at once (all runs of a
    /// host, or the whole fleet); `None`: no cap.
    max_connections: Option<usize>,
}

impl Grant {
    /// A server the guest may connect to with its own credentials
    /// (`connect(options)`), with no path restriction and the default trust.
    pub fn server(rule: &str) -> Result<Self, AllowRuleError> {
        Ok(Grant {
            rule: rule.parse()?,
            trust: None,
            paths: PathRules::default(),
            profile: None,
            guest_credentials: true,
            staging: true,
            max_connections: None,
        })
    }

    /// A named profile: the guest connects with `connect-profile(name)`,
    /// and only so unless [`with_guest_credentials`](Self::with_guest_credentials).
    pub fn profile(profile: Profile) -> Result<Self, AllowRuleError> {
        let rule = server_label(&profile.host, profile.port()).parse()?;
        Ok(Grant {
            rule,
            trust: None,
            paths: PathRules::default(),
            profile: Some(profile),
            guest_credentials: false,
            staging: true,
            max_connections: None,
        })
    }

    /// Check the server's certificate with `trust`.
    pub fn with_trust(mut self, trust: Trust) -> Self {
        self.trust = Some(trust);
        self
    }

    /// Restrict the paths.
    pub fn with_paths(mut self, paths: PathRules) -> Self {
        self.paths = paths;
        self
    }

    /// Whether a replacing upload is written to a hidden temporary name and
    /// renamed into place once complete (the default), or written in place.
    /// The temporary name must pass the write rules too.
    pub fn with_staging(mut self, staging: bool) -> Self {
        self.staging = staging;
        self
    }

    /// Also allow `connect(options)` with guest-supplied credentials.
    pub fn with_guest_credentials(mut self, allowed: bool) -> Self {
        self.guest_credentials = allowed;
        self
    }

    /// Cap the control connections open to this server at once (see [`crate::connections`]).
    pub fn with_max_connections(mut self, max: Option<usize>) -> Self {
        self.max_connections = max;
        self
    }

    /// The cap on open control connections, if any.
    pub fn max_connections(&self) -> Option<usize> {
        self.max_connections
    }

    /// The host and port granted.
    pub fn rule(&self) -> &AllowRule {
        &self.rule
    }

    /// The profile, if this grant is one.
    pub fn profile_settings(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }

    /// The path rules.
    pub fn paths(&self) -> &PathRules {
        &self.paths
    }
}

/// A host directory a plugin may use, as a WASI preopen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: std::path::PathBuf,
    /// Where the plugin sees it.
    pub guest: String,
    /// Only reading: WASI refuses every write, create, rename and delete
    /// in it (`not-permitted`).
    pub read_only: bool,
}

impl FromStr for DirGrant {
    type Err = String;

    /// `HOST_DIR`, `HOST_DIR::GUEST_DIR` (as `wasmtime run --dir`), or
    /// `HOST_DIR::GUEST_DIR:ro` for a read-only grant (`:rw`, the default,
    /// may be written too).
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let (host, guest) = value.split_once("::").unwrap_or((value, value));
        let (guest, read_only) = match (guest.strip_suffix(":ro"), guest.strip_suffix(":rw")) {
            (Some(g), _) if value.contains("::") => (g, true),
            (_, Some(g)) if value.contains("::") => (g, false),
            _ => (guest, false),
        };
        if host.is_empty() || guest.is_empty() {
            return Err(format!(
                "invalid directory grant `{value}`: expected HOST_DIR, HOST_DIR::GUEST_DIR or HOST_DIR::GUEST_DIR:ro, e.g. `./outbox::/outbox:ro`"
            ));
        }
        let meta = std::fs::metadata(host).map_err(|e| format!("cannot grant directory `{host}`: {e}"))?;
        if !meta.is_dir() {
            return Err(format!("cannot grant `{host}`: not a directory"));
        }
        Ok(DirGrant { host: host.into(), guest: guest.to_string(), read_only })
    }
}

/// What a plugin may do. Cheap to clone; shared by every session of a run.
#[derive(Clone, Debug)]
pub struct Policy {
    grants: Vec<Grant>,
    dirs: Vec<DirGrant>,
    network: NetworkRules,
    default_trust: Trust,
    tls_resumption: bool,
    limits: Limits,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            grants: Vec::new(),
            dirs: Vec::new(),
            network: NetworkRules::default(),
            default_trust: Trust::WebPki,
            tls_resumption: true,
            limits: Limits::default(),
        }
    }
}

impl Policy {
    /// A policy that allows nothing, with default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Grant a server for guest credentials: `HOST` (the FTP ports 21 and
    /// 990), `HOST:PORT`, or `HOST:*` (every port); its certificate is checked with the default trust.
    pub fn allow(self, rule: &str) -> Result<Self, AllowRuleError> {
        Ok(self.grant(Grant::server(rule)?))
    }

    /// Grant a server for guest credentials whose certificate is checked with `trust`.
    pub fn allow_with_trust(self, rule: &str, trust: Trust) -> Result<Self, AllowRuleError> {
        Ok(self.grant(Grant::server(rule)?.with_trust(trust)))
    }

    /// Add a grant (a server or a profile).
    pub fn grant(mut self, grant: Grant) -> Self {
        self.grants.push(grant);
        self
    }

    /// Open address ranges behind granted names.
    pub fn with_network(mut self, network: NetworkRules) -> Self {
        self.network = network;
        self
    }

    /// Let the plugin use a host directory (a WASI preopen; read-only if
    /// the grant says so); it sees nothing else of the host's filesystem.
    pub fn with_dir(mut self, dir: DirGrant) -> Self {
        self.dirs.push(dir);
        self
    }

    /// The directories granted.
    pub fn dirs(&self) -> &[DirGrant] {
        &self.dirs
    }

    /// The trust of servers granted without one (default: the web PKI).
    pub fn with_default_trust(mut self, trust: Trust) -> Self {
        self.default_trust = trust;
        self
    }

    /// Turn TLS session resumption off. Servers that require session reuse
    /// on data connections (vsftpd `require_ssl_reuse`, proftpd's default)
    /// then refuse every transfer: only for servers that mishandle it.
    pub fn without_tls_resumption(mut self) -> Self {
        self.tls_resumption = false;
        self
    }

    /// Replace the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The servers granted.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// The address ranges opened.
    pub fn network(&self) -> NetworkRules {
        self.network
    }

    /// One TLS client configuration per grant, in grant order.
    pub(crate) fn tls_configs(&self) -> anyhow::Result<Vec<Arc<rustls::ClientConfig>>> {
        self.grants
            .iter()
            .map(|g| g.trust.as_ref().unwrap_or(&self.default_trust).client_config(self.tls_resumption))
            .collect()
    }

    /// The deadline for one operation: the guest's wish, capped.
    pub(crate) fn timeout(&self, requested_ms: Option<u32>) -> Duration {
        requested_ms
            .map(|ms| Duration::from_millis(ms.max(1).into()).min(self.limits.max_timeout))
            .unwrap_or(self.limits.default_timeout)
    }

    /// Gate for `connect` with guest credentials: is `host:port` granted
    /// for them? Returns the grant's index.
    pub(crate) fn check_connect(&self, host: &str, port: u16) -> Result<usize, Refusal> {
        check_field("host", host)?;
        if host.is_empty() {
            return Err(Refusal::invalid("connect: empty host"));
        }
        if let Some(index) = self.grants.iter().position(|g| g.guest_credentials && g.rule.matches(host, port)) {
            return Ok(index);
        }
        let granted: Vec<String> =
            self.grants.iter().filter(|g| g.guest_credentials).map(|g| g.rule.to_string()).collect();
        let granted = if granted.is_empty() {
            "no servers are granted".to_string()
        } else {
            format!("granted: {}", granted.join(", "))
        };
        let profile_note = if self.grants.iter().any(|g| g.profile.is_some() && g.rule.matches(host, port)) {
            "; it is configured as a profile: use connect-profile"
        } else if self.grants.iter().any(|g| g.guest_credentials && g.rule.ports == Ports::Ftp && g.rule.names(host)) {
            "; a grant without a port allows only the FTP ports 21 and 990"
        } else {
            ""
        };
        let label = server_label(host, port);
        Err(Refusal::denied(format!(
            "{label} is not granted to this plugin ({granted}){profile_note}; the operator can grant it in the policy"
        ))
        .with_hint(Hint::GrantServer { host: host.to_string(), port }))
    }

    /// Gate for `connect-profile`: the profile named `name`, and its grant's index.
    pub(crate) fn check_profile(&self, name: &str) -> Result<(usize, &Profile), Refusal> {
        check_field("profile name", name)?;
        self.grants
            .iter()
            .enumerate()
            .find_map(|(i, g)| g.profile.as_ref().filter(|p| p.name == name).map(|p| (i, p)))
            .ok_or_else(|| {
                Refusal::denied(format!(
                    "no server profile is named `{name}`; the operator defines profiles in the policy"
                ))
            })
    }

    /// Gate for the addresses a control connection of grant `grant` will
    /// dial, once `host` is resolved (by the caller, within the operation's
    /// deadline): every address is checked, so what is dialed is what was
    /// checked. An address the operator granted literally is allowed
    /// whatever its range. `label` names the server in the message.
    pub(crate) fn check_addresses(
        &self,
        grant: usize,
        host: &str,
        addrs: &[SocketAddr],
        label: &str,
    ) -> Result<(), Refusal> {
        let granted_literally = self.grants[grant].rule.host.parse::<IpAddr>().ok();
        for addr in addrs {
            if Some(addr.ip()) == granted_literally {
                continue;
            }
            if let Some(why) = self.network.refuse(addr.ip()) {
                let refusal = Refusal::denied(format!("connect on {label}: `{host}` resolves to {why}"));
                return Err(match network::classify(addr.ip()) {
                    network::AddressClass::Loopback => refusal.with_hint(Hint::AllowLoopback),
                    network::AddressClass::Private => refusal.with_hint(Hint::AllowPrivate),
                    _ => refusal,
                });
            }
        }
        Ok(())
    }

    /// A literal address in `host`, if it is one (brackets and a trailing dot allowed).
    pub(crate) fn literal_address(host: &str) -> Option<IpAddr> {
        normalise_host(host).parse::<IpAddr>().ok()
    }

    /// Gate for a passive data connection: only to the control connection's
    /// peer, never to a privileged port or the control port itself, so a
    /// hostile PASV reply cannot point the host at another service.
    pub(crate) fn check_data_dial(&self, control: SocketAddr, target: SocketAddr) -> Result<(), String> {
        // The messages name no address: on a profile session the plugin
        // must not learn the server's (the operator's trace has it).
        if target.ip() != control.ip() {
            return Err("data connection refused: the server named another host than the control connection's \
                        peer, the only one data connections may go to"
                .into());
        }
        if target.port() < 1024 || target.port() == control.port() {
            return Err(format!(
                "data connection to port {} refused: it is privileged or the control port (an FTP bounce attempt?)",
                target.port()
            ));
        }
        Ok(())
    }

    /// Gate for a remote path of grant `grant`, relative to `cwd`: bounded,
    /// free of bytes that would end the FTP command, normalised, and within
    /// the grant's path rules. Returns the normalised absolute path, which
    /// is what the server is sent. `what` names the operation and server in
    /// the message.
    pub(crate) fn check_path(
        &self,
        grant: usize,
        cwd: &str,
        path: &str,
        access: Access,
        what: &dyn fmt::Display,
    ) -> Result<String, Refusal> {
        let refuse = |e: paths::PathError| match e {
            paths::PathError::Invalid(m) => Refusal::invalid(format!("{what}: {m}")),
            paths::PathError::Denied(m) => Refusal::denied(format!("{what}: {m}")),
        };
        paths::check_bytes(path, MAX_PATH_BYTES).map_err(refuse)?;
        if access == Access::Browse {
            paths::check_listing(path).map_err(refuse)?;
        }
        let full = paths::normalise(cwd, path);
        self.grants[grant].paths.check(&full, access).map_err(refuse)?;
        Ok(full)
    }

    /// Whether grant `grant` stages replacements under a temporary name.
    pub(crate) fn staging(&self, grant: usize) -> bool {
        self.grants[grant].staging
    }

    /// The path rules of grant `grant`.
    pub(crate) fn paths(&self, grant: usize) -> &PathRules {
        &self.grants[grant].paths
    }
}

/// A host, user, password or name: bounded and free of CR, LF and NUL. The
/// value itself is never echoed, since it may be a secret.
pub(crate) fn check_field(name: &str, value: &str) -> Result<(), Refusal> {
    if value.len() > MAX_FIELD_BYTES {
        return Err(Refusal::invalid(format!("{name} is longer than {MAX_FIELD_BYTES} bytes")));
    }
    if value.contains(['\r', '\n', '\0']) {
        return Err(Refusal::invalid(format!("{name} contains CR, LF or NUL")));
    }
    Ok(())
}

/// `host:port`, with IPv6 addresses in brackets: how servers are named in
/// messages, grants and the audit log.
pub fn server_label(host: &str, port: u16) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grants() {
        let cases = [
            ("ftp.example.com", Some(("ftp.example.com", Ports::Ftp))),
            ("FTP.Example.com:21", Some(("ftp.example.com", Ports::One(21)))),
            ("127.0.0.1:2121", Some(("127.0.0.1", Ports::One(2121)))),
            ("[::1]:21", Some(("::1", Ports::One(21)))),
            ("[::1]", Some(("::1", Ports::Ftp))),
            ("[::1]:*", Some(("::1", Ports::Any))),
            ("host:*", Some(("host", Ports::Any))),
            ("host:**", None),
            ("::1", None),
            ("host:0", None),
            ("host:99999", None),
            (":21", None),
            ("a b:21", None),
            ("[nope]:21", None),
        ];
        for (input, want) in cases {
            let got = input.parse::<AllowRule>().ok();
            let want = want.map(|(h, p)| AllowRule { host: h.into(), ports: p });
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn matches_host_and_port() {
        let rule: AllowRule = "Example.com:21".parse().unwrap();
        assert!(rule.matches("example.com", 21));
        assert!(rule.matches("EXAMPLE.COM.", 21));
        assert!(!rule.matches("example.com", 22));
        assert!(!rule.matches("evil-example.com", 21));
        let any: AllowRule = "10.0.0.1:*".parse().unwrap();
        assert!(any.matches("10.0.0.1", 990));
        assert!(any.matches("10.0.0.1", 2121));
    }

    /// Issue 13, item 16: a grant without a port is the FTP ports only.
    #[test]
    fn a_grant_without_a_port_is_the_ftp_ports_only() {
        let rule: AllowRule = "ftp.example.com".parse().unwrap();
        assert!(rule.matches("ftp.example.com", 21));
        assert!(rule.matches("ftp.example.com", 990));
        for port in [22, 25, 80, 443, 2121, 6379, 65535] {
            assert!(!rule.matches("ftp.example.com", port), "port {port}");
        }
        let policy = Policy::new().allow("ftp.example.com").unwrap();
        assert_eq!(policy.check_connect("ftp.example.com", 21), Ok(0));
        assert_eq!(policy.check_connect("ftp.example.com", 990), Ok(0));
        match policy.check_connect("ftp.example.com", 6379) {
            Err(Refusal { kind: RefusalKind::Denied, message: m, hint }) => {
                assert!(m.contains("only the FTP ports 21 and 990"), "{m}");
                assert_eq!(hint, Some(Hint::GrantServer { host: "ftp.example.com".into(), port: 6379 }));
            }
            other => panic!("port 6379 was not denied: {other:?}"),
        }
        // Every port only when asked for.
        let every = Policy::new().allow("ftp.example.com:*").unwrap();
        assert_eq!(every.check_connect("ftp.example.com", 6379), Ok(0));
        assert_eq!(every.grants()[0].rule().to_string(), "ftp.example.com:*");
    }

    fn op() -> &'static dyn fmt::Display {
        &"download on s:21"
    }

    #[test]
    fn paths_are_normalised_and_jailed() {
        let paths = PathRules::new(Some(&["/out/**".to_string()]), Some(&[]), false).unwrap();
        let policy = Policy::new().grant(Grant::server("s:21").unwrap().with_paths(paths));
        assert_eq!(policy.check_path(0, "/out", "a/../b.txt", Access::Read, op()), Ok("/out/b.txt".into()));
        assert!(matches!(
            policy.check_path(0, "/out", "../etc/passwd", Access::Read, op()),
            Err(Refusal { kind: RefusalKind::Denied, .. })
        ));
        assert!(matches!(
            policy.check_path(0, "/out", "/etc/passwd", Access::Read, op()),
            Err(Refusal { kind: RefusalKind::Denied, .. })
        ));
        assert!(matches!(
            policy.check_path(0, "/out", "x.txt", Access::Write, op()),
            Err(Refusal { kind: RefusalKind::Denied, .. })
        ));
        for bad in ["x\r\nDELE y", "a\nb", "nul\0", ""] {
            assert!(
                matches!(
                    policy.check_path(0, "/", bad, Access::Read, op()),
                    Err(Refusal { kind: RefusalKind::Invalid, .. })
                ),
                "{bad:?}"
            );
        }
        let long = "a".repeat(MAX_PATH_BYTES + 1);
        assert!(matches!(
            policy.check_path(0, "/", &long, Access::Read, op()),
            Err(Refusal { kind: RefusalKind::Invalid, .. })
        ));
    }

    /// Issue 13, item 20: `HOST::GUEST:ro` is a read-only grant.
    #[test]
    fn directory_grants_read_only_or_read_write() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().display().to_string();
        let parse = |v: String| v.parse::<DirGrant>().map(|g| (g.guest, g.read_only));
        assert_eq!(parse(format!("{host}::/in:ro")), Ok(("/in".into(), true)));
        assert_eq!(parse(format!("{host}::/in:rw")), Ok(("/in".into(), false)));
        assert_eq!(parse(format!("{host}::/in")), Ok(("/in".into(), false)));
        assert_eq!(parse(host.clone()), Ok((host.clone(), false)));
        assert!(parse(format!("{host}:::ro")).unwrap_err().contains("HOST_DIR::GUEST_DIR:ro"));
    }

    #[test]
    fn data_connections_only_to_the_control_peer() {
        let policy = Policy::new();
        let control: SocketAddr = "127.0.0.1:21".parse().unwrap();
        assert!(policy.check_data_dial(control, "127.0.0.1:50000".parse().unwrap()).is_ok());
        assert!(policy.check_data_dial(control, "127.0.0.2:50000".parse().unwrap()).is_err());
        assert!(policy.check_data_dial(control, "127.0.0.1:0".parse().unwrap()).is_err());
        assert!(policy.check_data_dial(control, "127.0.0.1:22".parse().unwrap()).is_err());
        assert!(policy.check_data_dial("127.0.0.1:2121".parse().unwrap(), "127.0.0.1:2121".parse().unwrap()).is_err());
    }

    #[test]
    fn guest_credentials_only_where_granted() {
        let profile = Profile {
            name: "partner".into(),
            host: "ftp.partner.test".into(),
            port: None,
            security: SecurityMode::Explicit,
            force_prot: true,
            user: "acme".into(),
            password: Secret::new("hunter2"),
        };
        let policy = Policy::new().grant(Grant::profile(profile).unwrap()).allow("other.test:21").unwrap();
        assert!(
            matches!(policy.check_connect("ftp.partner.test", 21), Err(Refusal { kind: RefusalKind::Denied, message: m, .. }) if m.contains("connect-profile"))
        );
        assert_eq!(policy.check_connect("other.test", 21), Ok(1));
        assert_eq!(policy.check_profile("partner").map(|(i, p)| (i, p.user.clone())), Ok((0, "acme".into())));
        assert!(matches!(policy.check_profile("nope"), Err(Refusal { kind: RefusalKind::Denied, .. })));
        assert!(!format!("{policy:?}").contains("hunter2"), "Debug never shows a password");
    }
}
