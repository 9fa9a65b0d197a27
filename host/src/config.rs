//! The policy file, `ftp-host.toml`: what an operator grants a plugin,
//! loaded into a [`Policy`] and validated as a whole before anything runs.
//! Every error names the line and says how to fix it. Passwords come from
//! an environment variable or a file, never from the file itself.
//!
//! ```toml
//! [network]
//! allow_loopback = false     # names resolving to 127.0.0.0/8 or ::1
//! allow_private = false      # names resolving to 10/8, 172.16/12, 192.168/16, fc00::/7 (never metadata)
//!
//! [limits]                   # every key optional; defaults shown
//! memory = "256MiB"          # all guest linear memories and tables together
//! instances = 16             # WebAssembly instances per run
//! memories = 8               # linear memories per run
//! tables = 32                # tables per run
//! handles = 4096             # host handles (streams, pollables, files...) held at once
//! cpu = "60s"                # time running guest code
//! wall_clock = "1h"          # the whole run
//! operation_timeout = "30s"  # one network operation, unless the guest asks less
//! max_operation_timeout = "5m"
//! in_memory_transfer = "64MiB"  # one get/send through guest memory
//! bytes_per_run = "10GiB"    # all transfers of a run (default: no cap)
//! sessions = 8
//! resources = 64             # sessions + transfers held at once
//! operations = 100000        # FTP operations per run
//! list_entries = 100000
//! connect_retries = 0        # retry an unreachable server this many times
//! connect_backoff = "500ms"  # first wait; doubles each retry
//!
//! [audit]
//! file = "audit.jsonl"       # or "-" for stderr
//!
//! [[dir]]                    # a host directory the plugin may use
//! host = "./outbox"
//! guest = "/outbox"
//! mode = "rw"                # rw (default) | ro: WASI refuses every write in it
//!
//! [[server]]                 # a profile: the plugin calls connect-profile("partner")
//! name = "partner"
//! host = "ftp.partner.example"
//! port = 21                  # default 21, or 990 for implicit
//! security = "explicit"      # none | explicit | implicit
//! trust = "webpki"           # webpki | accept-invalid; or ca_file = "...", or pin_sha256 = "..."
//! user = "acme"
//! password_env = "PARTNER_FTP_PASSWORD"   # or password_file = "/run/secrets/partner"
//! read = ["/outbox/**"]      # globs; default: everything
//! write = ["/inbox/**"]
//! read_only = false
//! guest_credentials = false  # also allow connect(options) with the plugin's own credentials
//! max_connections = 2        # control connections open at once (all runs; fleet-wide for workers)
//!
//! [[server]]                 # no user: the plugin brings its own credentials
//! host = "ftp.example.org"
//! port = 2121                # without a port: the FTP ports 21 and 990 only
//! ```

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::audit::AuditLog;
use crate::policy::{DirGrant, Grant, Limits, NetworkRules, PathRules, Policy, Profile, Secret, SecurityMode};
use crate::tls::Trust;

/// A policy file that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
#[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    path: String,
    line: Option<usize>,
    message: String,
}

/// A loaded policy file.
#[derive(Debug)]
pub struct Config {
    /// The policy it grants.
    pub policy: Policy,
    /// Where the audit log goes, if anywhere (`-` is stderr).
    pub audit: Option<PathBuf>,
}

impl Config {
    /// Open the audit log the file asks for.
    pub fn open_audit(&self) -> std::io::Result<Option<AuditLog>> {
        self.audit.as_deref().map(AuditLog::open).transpose()
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    network: NetworkSection,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    audit: AuditSection,
    #[serde(default)]
    dir: Vec<Spanned<DirSection>>,
    #[serde(default)]
    server: Vec<Spanned<ServerSection>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NetworkSection {
    #[serde(default)]
    allow_loopback: bool,
    #[serde(default)]
    allow_private: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    memory: Option<Spanned<String>>,
    cpu: Option<Spanned<String>>,
    wall_clock: Option<Spanned<String>>,
    operation_timeout: Option<Spanned<String>>,
    max_operation_timeout: Option<Spanned<String>>,
    in_memory_transfer: Option<Spanned<String>>,
    bytes_per_run: Option<Spanned<String>>,
    sessions: Option<usize>,
    resources: Option<usize>,
    operations: Option<u64>,
    list_entries: Option<usize>,
    list_bytes: Option<Spanned<String>>,
    instances: Option<usize>,
    memories: Option<usize>,
    tables: Option<usize>,
    handles: Option<usize>,
    connect_retries: Option<u32>,
    connect_backoff: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AuditSection {
    file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirSection {
    host: PathBuf,
    guest: String,
    #[serde(default)]
    mode: DirMode,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum DirMode {
    #[default]
    Rw,
    Ro,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    name: Option<String>,
    host: String,
    port: Option<u16>,
    #[serde(default)]
    security: SecurityMode,
    #[serde(default)]
    force_prot: bool,
    trust: Option<String>,
    ca_file: Option<PathBuf>,
    pin_sha256: Option<String>,
    user: Option<String>,
    password: Option<toml::Value>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    read: Option<Vec<String>>,
    write: Option<Vec<String>>,
    #[serde(default)]
    read_only: bool,
    guest_credentials: Option<bool>,
    staging: Option<bool>,
    max_connections: Option<usize>,
}

/// Load and validate a policy file. Relative paths in it (directories,
/// CA files, password files, the audit file) are relative to the file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        path: path.display().to_string(),
        line: None,
        message: format!("cannot read the policy file: {e}"),
    })?;
    parse(&text, path)
}

/// Validate policy text as if read from `path`.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let base = path.parent().unwrap_or(Path::new("."));
    let err = |span: Option<std::ops::Range<usize>>, message: String| ConfigError {
        path: path.display().to_string(),
        line: span.map(|s| line_of(text, s.start)),
        message,
    };
    let file: File = toml::from_str(text).map_err(|e| err(e.span(), e.message().to_string()))?;

    let mut limits = Limits::default();
    let l = &file.limits;
    let size = |v: &Option<Spanned<String>>| -> Result<Option<u64>, ConfigError> {
        v.as_ref()
            .map(|s| {
                bytesize::ByteSize::from_str(s.get_ref()).map(|b| b.as_u64()).map_err(|_| {
                    err(Some(s.span()), format!("`{}` is not a size; write e.g. \"64MiB\" or \"2GiB\"", s.get_ref()))
                })
            })
            .transpose()
    };
    let duration = |v: &Option<Spanned<String>>| -> Result<Option<Duration>, ConfigError> {
        v.as_ref()
            .map(|s| {
                humantime::parse_duration(s.get_ref()).map_err(|_| {
                    err(
                        Some(s.span()),
                        format!("`{}` is not a duration; write e.g. \"30s\", \"5m\" or \"1h\"", s.get_ref()),
                    )
                })
            })
            .transpose()
    };
    if let Some(v) = size(&l.memory)? {
        limits.max_memory_bytes = usize::try_from(v).unwrap_or(usize::MAX);
    }
    if let Some(v) = duration(&l.cpu)? {
        limits.max_cpu = v;
    }
    if let Some(v) = duration(&l.wall_clock)? {
        limits.max_wall_clock = v;
    }
    if let Some(v) = duration(&l.operation_timeout)? {
        limits.default_timeout = v;
    }
    if let Some(v) = duration(&l.max_operation_timeout)? {
        limits.max_timeout = v;
    }
    if let Some(v) = size(&l.in_memory_transfer)? {
        limits.max_transfer_bytes = v;
    }
    limits.max_run_bytes = size(&l.bytes_per_run)?;
    limits.max_sessions = l.sessions.unwrap_or(limits.max_sessions);
    limits.max_resources = l.resources.unwrap_or(limits.max_resources);
    limits.max_operations = l.operations.unwrap_or(limits.max_operations);
    limits.max_list_entries = l.list_entries.unwrap_or(limits.max_list_entries);
    if let Some(v) = size(&l.list_bytes)? {
        limits.max_list_bytes = v;
    }
    limits.max_instances = l.instances.unwrap_or(limits.max_instances);
    limits.max_memories = l.memories.unwrap_or(limits.max_memories);
    limits.max_tables = l.tables.unwrap_or(limits.max_tables);
    limits.max_handles = l.handles.unwrap_or(limits.max_handles);
    limits.connect_retries = l.connect_retries.unwrap_or(0);
    if let Some(v) = duration(&l.connect_backoff)? {
        limits.connect_backoff = v;
    }

    let mut policy = Policy::new().with_limits(limits).with_network(NetworkRules {
        allow_loopback: file.network.allow_loopback,
        allow_private: file.network.allow_private,
    });

    for dir in &file.dir {
        let d = dir.get_ref();
        let host = base.join(&d.host);
        let mut grant =
            format!("{}::{}", host.display(), d.guest).parse::<DirGrant>().map_err(|e| err(Some(dir.span()), e))?;
        grant.read_only |= d.mode == DirMode::Ro;
        policy = policy.with_dir(grant);
    }

    let mut names = std::collections::HashSet::new();
    for server in &file.server {
        let span = Some(server.span());
        let s = server.get_ref();
        let at = |m: String| err(span.clone(), m);
        if s.password.is_some() {
            return Err(at("inline passwords are not accepted: put the password in an environment variable (password_env = \"NAME\") or a file (password_file = \"/run/secrets/name\")".into()));
        }
        let trust = match (&s.trust, &s.ca_file, &s.pin_sha256) {
            (None, None, None) => None,
            (Some(t), None, None) if t == "webpki" => Some(Trust::WebPki),
            (Some(t), None, None) if t == "accept-invalid" => Some(Trust::AcceptInvalid),
            (Some(t), None, None) => {
                return Err(at(format!(
                    "trust = \"{t}\" is not known: use \"webpki\" or \"accept-invalid\", or set ca_file or pin_sha256"
                )))
            }
            (None, Some(ca), None) => Some(Trust::from_pem_file(&base.join(ca)).map_err(|e| at(format!("{e:#}")))?),
            (None, None, Some(pin)) => Some(Trust::pinned(pin).map_err(|e| at(format!("{e:#}")))?),
            _ => return Err(at("set at most one of trust, ca_file and pin_sha256".into())),
        };
        if s.force_prot && s.security == SecurityMode::None {
            // The same rule as a guest's connect: PROT P needs TLS.
            return Err(at("force_prot = true needs TLS: set security = \"explicit\" or \"implicit\"".into()));
        }
        let paths = PathRules::new(s.read.as_deref(), s.write.as_deref(), s.read_only).map_err(at)?;
        let mut grant = match &s.user {
            Some(user) => {
                let name = s.name.clone().ok_or_else(|| at("a server with a user is a profile and needs a name (name = \"partner\"), which plugins pass to connect-profile".into()))?;
                if !names.insert(name.clone()) {
                    return Err(at(format!("two profiles are named `{name}`")));
                }
                let password = match (&s.password_env, &s.password_file) {
                    (Some(var), None) => std::env::var(var).map_err(|_| {
                        at(format!("the environment variable {var} (password_env of profile `{name}`) is not set"))
                    })?,
                    (None, Some(file)) => std::fs::read_to_string(base.join(file))
                        .map(|p| p.trim_end_matches(['\r', '\n']).to_string())
                        .map_err(|e| {
                            at(format!("cannot read password_file {} of profile `{name}`: {e}", file.display()))
                        })?,
                    (None, None) => return Err(at(format!("profile `{name}` needs password_env or password_file"))),
                    (Some(_), Some(_)) => {
                        return Err(at(format!("profile `{name}`: set password_env or password_file, not both")))
                    }
                };
                let profile = Profile {
                    name,
                    host: s.host.clone(),
                    port: s.port,
                    security: s.security,
                    force_prot: s.force_prot,
                    user: user.clone(),
                    password: Secret::new(password),
                };
                Grant::profile(profile)
                    .map_err(|e| at(e.to_string()))?
                    .with_guest_credentials(s.guest_credentials.unwrap_or(false))
            }
            None => {
                if s.password_env.is_some() || s.password_file.is_some() || s.guest_credentials == Some(false) {
                    return Err(at("a server without a user is for the plugin's own credentials: add user = \"...\" to make it a profile".into()));
                }
                let rule = match s.port {
                    Some(port) => crate::policy::server_label(&s.host, port),
                    None if s.host.contains(':') => format!("[{}]", s.host),
                    None => s.host.clone(),
                };
                Grant::server(&rule).map_err(|e| at(e.to_string()))?
            }
        };
        if s.max_connections == Some(0) {
            return Err(at("max_connections = 0 would forbid every connection: remove the server instead".into()));
        }
        grant = grant.with_paths(paths).with_staging(s.staging.unwrap_or(true)).with_max_connections(s.max_connections);
        if let Some(trust) = trust {
            grant = grant.with_trust(trust);
        }
        policy = policy.grant(grant);
    }
    let audit = file.audit.file.map(|f| if f.as_os_str() == "-" { f } else { base.join(f) });
    Ok(Config { policy, audit })
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new("/etc/ftp-host/ftp-host.toml"))
    }

    #[test]
    fn a_complete_file_loads() {
        std::env::set_var("FTP_HOST_TEST_PW", "hunter2");
        let config = parse_str(
            r#"
[network]
allow_loopback = true
[limits]
memory = "64MiB"
cpu = "5s"
bytes_per_run = "1GiB"
sessions = 2
instances = 12
memories = 2
tables = 20
handles = 100
[audit]
file = "-"
[[server]]
name = "partner"
host = "ftp.partner.test"
security = "explicit"
user = "acme"
password_env = "FTP_HOST_TEST_PW"
read = ["/out/**"]
write = ["/in/**"]
[[server]]
host = "127.0.0.1"
port = 2121
"#,
        )
        .unwrap();
        let p = &config.policy;
        assert_eq!(p.limits().max_memory_bytes, 64 * 1024 * 1024);
        assert_eq!(p.limits().max_cpu, Duration::from_secs(5));
        assert_eq!(p.limits().max_run_bytes, Some(1 << 30));
        assert_eq!(p.limits().max_sessions, 2);
        assert_eq!(
            (p.limits().max_instances, p.limits().max_memories, p.limits().max_tables, p.limits().max_handles),
            (12, 2, 20, 100)
        );
        assert!(p.network().allow_loopback);
        assert_eq!(p.grants().len(), 2);
        assert_eq!(p.grants()[0].profile_settings().unwrap().port(), 21);
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn a_dir_can_be_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[[dir]]\nhost = {:?}\nguest = \"/ro\"\nmode = \"ro\"\n[[dir]]\nhost = {0:?}\nguest = \"/rw\"\n",
            dir.path().display().to_string()
        );
        let config = parse_str(&text).unwrap();
        let dirs: Vec<(&str, bool)> = config.policy.dirs().iter().map(|d| (d.guest.as_str(), d.read_only)).collect();
        assert_eq!(dirs, [("/ro", true), ("/rw", false)]);
    }

    #[test]
    fn errors_name_the_line_and_the_fix() {
        let cases = [
            ("[[server]]\nhost = \"h\"\nuser = \"u\"\npassword = \"pw\"\nname = \"n\"\n", 1, "inline passwords"),
            ("[limits]\nmemory = \"lots\"\n", 2, "not a size"),
            ("[limits]\ncpu = \"soon\"\n", 2, "not a duration"),
            ("[[server]]\nhost = \"h\"\nuser = \"u\"\npassword_env = \"X\"\n", 1, "needs a name"),
            (
                "[[server]]\nname = \"n\"\nhost = \"h\"\nuser = \"u\"\npassword_env = \"FTP_HOST_SURELY_UNSET\"\n",
                1,
                "is not set",
            ),
            ("[[server]]\nhost = \"h\"\nport = 99999\n", 3, ""),
            ("[[server]]\nhost = \"h\"\nsecurity = \"maybe\"\n", 3, ""),
            ("[[server]]\nhost = \"h\"\ntrust = \"yolo\"\n", 1, "not known"),
            ("[[server]]\nhost = \"h\"\nread = [\"relative/**\"]\n", 1, "must be absolute"),
            ("[sever]\n", 1, "unknown field"),
            ("[[dir]]\nhost = \"/\"\nguest = \"/x\"\nmode = \"wo\"\n", 4, "unknown variant"),
        ];
        for (text, line, needle) in cases {
            let e = parse_str(text).err().unwrap_or_else(|| panic!("accepted: {text}"));
            let shown = e.to_string();
            assert!(shown.starts_with(&format!("/etc/ftp-host/ftp-host.toml:{line}: ")), "{text:?} -> {shown}");
            assert!(shown.contains(needle), "{text:?} -> {shown}");
        }
    }
}
