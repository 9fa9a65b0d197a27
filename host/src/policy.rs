//! The capability policy: which servers a plugin may reach and which limits
//! bound it. This module is the one gate every dial (control and data), every
//! path and every operation passes through; nothing else decides.
//!
//! The default policy allows nothing. An operator grants servers with
//! [`Policy::allow`] (`ftp-host run --allow HOST[:PORT]`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Op};
use crate::tls::Trust;

/// Longest path a guest may pass, in bytes. Servers cap paths near 4 KiB; a
/// longer one is a mistake or an attempt to make the host buffer garbage.
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest host, user or password a guest may pass, in bytes.
pub const MAX_FIELD_BYTES: usize = 1024;
/// Default cap on one `get` or `send` of a whole file through guest memory.
pub const DEFAULT_MAX_TRANSFER_BYTES: u64 = 64 * 1024 * 1024;
/// Default cap on the entries of one listing: suppaftp buffers listings whole.
pub const DEFAULT_MAX_LIST_ENTRIES: usize = 100_000;
/// Default cap on the sessions one plugin run may hold open at once.
pub const DEFAULT_MAX_SESSIONS: usize = 8;
/// Deadline of one network operation when the guest asks for none.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest deadline a guest may ask for.
pub const MAX_OPERATION_TIMEOUT: Duration = Duration::from_secs(300);
/// Default cap on a plugin's linear memory.
pub const DEFAULT_MAX_MEMORY_BYTES: usize = 256 * 1024 * 1024;

/// Limits that bound what one plugin run may consume.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest file `get` or `send` may move through guest memory.
    pub max_transfer_bytes: u64,
    /// Most entries one `list-directory` may return.
    pub max_list_entries: usize,
    /// Most sessions open at once.
    pub max_sessions: usize,
    /// Deadline of one network operation when the guest asks for none.
    pub default_timeout: Duration,
    /// Longest deadline a guest may ask for; longer requests are capped.
    pub max_timeout: Duration,
    /// Largest linear memory the guest may grow to.
    pub max_memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_transfer_bytes: DEFAULT_MAX_TRANSFER_BYTES,
            max_list_entries: DEFAULT_MAX_LIST_ENTRIES,
            max_sessions: DEFAULT_MAX_SESSIONS,
            default_timeout: DEFAULT_OPERATION_TIMEOUT,
            max_timeout: MAX_OPERATION_TIMEOUT,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
        }
    }
}

/// One grant: a host name or IP address, and a port or any port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowRule {
    host: String,
    port: Option<u16>,
}

/// A malformed `--allow` value.
#[derive(Debug, thiserror::Error)]
#[error("invalid server grant `{value}`: {reason} (expected HOST or HOST:PORT, e.g. `ftp.example.com:21`, `127.0.0.1:2121` or `[::1]:21`)")]
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
                Some((h, _)) if h.contains(':') => {
                    return Err(err("write IPv6 addresses in brackets"))
                }
                Some((h, p)) => (h, Some(p)),
                None => (value, None),
            }
        };
        let port = port
            .map(|p| p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| err("bad port")))
            .transpose()?;
        if host.is_empty() {
            return Err(err("empty host"));
        }
        if !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':')) {
            return Err(err("a host name has only letters, digits, `.`, `-` and `_`"));
        }
        Ok(AllowRule { host: host.to_ascii_lowercase(), port })
    }
}

impl fmt::Display for AllowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        match self.port {
            Some(port) => write!(f, "{host}:{port}"),
            None => f.write_str(&host),
        }
    }
}

impl AllowRule {
    fn matches(&self, host: &str, port: u16) -> bool {
        self.port.is_none_or(|p| p == port) && normalise_host(host) == self.host
    }
}

fn normalise_host(host: &str) -> String {
    host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase()
}

/// One granted server and how its certificate is checked.
#[derive(Clone, Debug)]
pub struct Grant {
    rule: AllowRule,
    /// `None`: the policy's default trust.
    trust: Option<Trust>,
}

impl Grant {
    /// The host and port granted.
    pub fn rule(&self) -> &AllowRule {
        &self.rule
    }
}

/// A host directory a plugin may use, as a WASI preopen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: std::path::PathBuf,
    /// Where the plugin sees it.
    pub guest: String,
}

impl FromStr for DirGrant {
    type Err = String;

    /// `HOST_DIR` or `HOST_DIR::GUEST_DIR` (as `wasmtime run --dir`).
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let (host, guest) = value.split_once("::").unwrap_or((value, value));
        if host.is_empty() || guest.is_empty() {
            return Err(format!("invalid directory grant `{value}`: expected HOST_DIR or HOST_DIR::GUEST_DIR, e.g. `./outbox::/outbox`"));
        }
        let meta = std::fs::metadata(host).map_err(|e| format!("cannot grant directory `{host}`: {e}"))?;
        if !meta.is_dir() {
            return Err(format!("cannot grant `{host}`: not a directory"));
        }
        Ok(DirGrant { host: host.into(), guest: guest.to_string() })
    }
}

/// What a plugin may do. Cheap to clone; shared by every session of a run.
#[derive(Clone, Debug)]
pub struct Policy {
    grants: Vec<Grant>,
    dirs: Vec<DirGrant>,
    default_trust: Trust,
    tls_resumption: bool,
    limits: Limits,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { grants: Vec::new(), dirs: Vec::new(), default_trust: Trust::WebPki, tls_resumption: true, limits: Limits::default() }
    }
}

impl Policy {
    /// A policy that allows no server at all, with default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Grant a server: `HOST` (any port) or `HOST:PORT`; its certificate
    /// is checked with the default trust.
    pub fn allow(mut self, rule: &str) -> Result<Self, AllowRuleError> {
        self.grants.push(Grant { rule: rule.parse()?, trust: None });
        Ok(self)
    }

    /// Grant a server whose certificate is checked with `trust`.
    pub fn allow_with_trust(mut self, rule: &str, trust: Trust) -> Result<Self, AllowRuleError> {
        self.grants.push(Grant { rule: rule.parse()?, trust: Some(trust) });
        Ok(self)
    }

    /// Let the plugin read and write a host directory (a WASI preopen); it
    /// sees nothing else of the host's filesystem.
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

    /// Gate for a control connection: is `host:port` granted? Returns the
    /// index of the grant and the addresses it may dial (resolved here,
    /// once, so that what is dialed is what was checked).
    pub(crate) async fn check_dial(&self, host: &str, port: u16, op: Op<'_>) -> Result<(usize, Vec<SocketAddr>), Error> {
        check_field("host", host)?;
        let Some(grant) = self.grants.iter().position(|g| g.rule.matches(host, port)) else {
            let granted = if self.grants.is_empty() {
                "no servers are granted".to_string()
            } else {
                let list: Vec<String> = self.grants.iter().map(|g| g.rule.to_string()).collect();
                format!("granted: {}", list.join(", "))
            };
            return Err(Error::Denied(format!(
                "{host}:{port} is not granted to this plugin ({granted}); the operator can add `--allow {host}:{port}`"
            )));
        };
        let literal = normalise_host(host).parse::<IpAddr>().ok();
        let addrs: Vec<SocketAddr> = match literal {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| Error::Connect(format!("{op}: cannot resolve `{host}`: {e}")))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(Error::Connect(format!("{op}: `{host}` has no addresses")));
        }
        Ok((grant, addrs))
    }

    /// Gate for a passive data connection: only to the control connection's
    /// peer, so a hostile PASV reply cannot point the host at another machine.
    pub(crate) fn check_data_dial(&self, control_peer: IpAddr, target: SocketAddr) -> Result<(), String> {
        if target.ip() != control_peer {
            return Err(format!(
                "data connection to {target} refused: only the control connection's peer {control_peer} may be dialed"
            ));
        }
        if target.port() == 0 {
            return Err(format!("data connection to {target} refused: port 0"));
        }
        Ok(())
    }

    /// Gate for a remote path: bounded, and free of bytes that would end the
    /// FTP command and start another (CR, LF) or truncate it (NUL).
    pub(crate) fn check_path(&self, path: &str, op: Op<'_>) -> Result<(), Error> {
        if path.is_empty() {
            return Err(Error::InvalidInput(format!("{op}: empty path")));
        }
        if path.len() > MAX_PATH_BYTES {
            return Err(Error::InvalidInput(format!(
                "{} on {}: path of {} bytes is longer than the {MAX_PATH_BYTES}-byte limit",
                op.action,
                op.server,
                path.len()
            )));
        }
        if path.contains(['\r', '\n', '\0']) {
            return Err(Error::InvalidInput(format!(
                "{} on {}: path {:?} contains CR, LF or NUL, which FTP cannot carry",
                op.action, op.server, path
            )));
        }
        Ok(())
    }
}

/// A host, user or password: bounded and free of CR, LF and NUL. The value
/// itself is never echoed, since it may be a secret.
pub(crate) fn check_field(name: &str, value: &str) -> Result<(), Error> {
    if value.len() > MAX_FIELD_BYTES {
        return Err(Error::InvalidInput(format!("{name} is longer than {MAX_FIELD_BYTES} bytes")));
    }
    if value.contains(['\r', '\n', '\0']) {
        return Err(Error::InvalidInput(format!("{name} contains CR, LF or NUL")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grants() {
        let cases = [
            ("ftp.example.com", Some(("ftp.example.com", None))),
            ("FTP.Example.com:21", Some(("ftp.example.com", Some(21)))),
            ("127.0.0.1:2121", Some(("127.0.0.1", Some(2121)))),
            ("[::1]:21", Some(("::1", Some(21)))),
            ("[::1]", Some(("::1", None))),
            ("::1", None),
            ("host:0", None),
            ("host:99999", None),
            (":21", None),
            ("a b:21", None),
            ("[nope]:21", None),
        ];
        for (input, want) in cases {
            let got = input.parse::<AllowRule>().ok();
            let want = want.map(|(h, p)| AllowRule { host: h.into(), port: p });
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
        let any: AllowRule = "10.0.0.1".parse().unwrap();
        assert!(any.matches("10.0.0.1", 990));
    }

    #[test]
    fn paths_with_command_breaks_are_refused() {
        let policy = Policy::new();
        let op = Op { server: "s:21", secure: false, action: "download", path: None };
        assert!(policy.check_path("dir/file.txt", op).is_ok());
        for bad in ["x\r\nDELE y", "a\nb", "nul\0", ""] {
            assert!(matches!(policy.check_path(bad, op), Err(Error::InvalidInput(_))), "{bad:?}");
        }
        let long = "a".repeat(MAX_PATH_BYTES + 1);
        assert!(matches!(policy.check_path(&long, op), Err(Error::InvalidInput(_))));
    }

    #[test]
    fn data_connections_only_to_the_control_peer() {
        let policy = Policy::new();
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(policy.check_data_dial(peer, "127.0.0.1:5000".parse().unwrap()).is_ok());
        assert!(policy.check_data_dial(peer, "127.0.0.2:5000".parse().unwrap()).is_err());
        assert!(policy.check_data_dial(peer, "127.0.0.1:0".parse().unwrap()).is_err());
    }
}
