//! Real FTP servers (proftpd and vsftpd) on loopback, for the end-to-end tests.
//!
//! Each [`FtpServer`] is a foreground child process of the test, with its own
//! temporary directory (configuration, a fresh self-signed certificate, logs),
//! its own free control port and passive port range, and its own root
//! directory that the login user sees as `/` (both servers chroot into it).
//! It is stopped by PID (its whole process group, and any stray session
//! process that still runs its configuration file) when dropped; if the test
//! is panicking at that point, the server's logs are printed to stderr.
//!
//! The servers are installed by `scripts/install-test-servers.sh` (as root);
//! a missing binary or user is an error that names that script, never a skip.
//! Synchronous std only: usable from plain `#[test]`s and from async tests alike
//! (starting a server blocks for ~0.05–0.5 s, mostly the RSA key for TLS).
//! Set `FTP_HOST_KEEP_SERVER_DIRS=1` to keep the temp dirs for a post-mortem.
//!
//! Server behaviours worth knowing when writing tests against these:
//! - proftpd's listener sleeps 2 x 200 ms after any session process exits
//!   (EINTR retry delay): a new connection made within ~0.4 s of the end of
//!   another session waits that long for its greeting.
//! - proftpd and vsftpd (by default) refuse a TLS data connection that does
//!   not resume the control connection's TLS session
//!   ([`ServerOptions::require_session_reuse`]).
//! - vsftpd + TLS 1.3: see [`ServerOptions::max_tls_version`].
//!
//! ```no_run
//! use ftp_host_e2e::servers::{FtpServer, ServerOptions, Tls};
//! let server = FtpServer::proftpd(ServerOptions::new(Tls::Explicit)).unwrap();
//! server.put_file("hello.txt", b"hello").unwrap();
//! // connect to 127.0.0.1:server.port as server.user / server.password,
//! // trusting server.cert_pem; look at server.root for what got uploaded.
//! ```

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::ops::RangeInclusive;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// The script that installs everything this module needs.
pub const INSTALL_SCRIPT: &str = "scripts/install-test-servers.sh";
/// The proftpd binary (Debian's `proftpd-basic`).
pub const PROFTPD_BIN: &str = "/usr/sbin/proftpd";
/// Where proftpd's loadable modules (`mod_tls.so`) live.
pub const PROFTPD_MODULE_DIR: &str = "/usr/lib/proftpd";
/// vsftpd, unpacked with `dpkg -x` (it conflicts with proftpd as a package).
pub const VSFTPD_BIN: &str = "/opt/ftp-test-servers/vsftpd/usr/sbin/vsftpd";
/// The login user of both servers. For vsftpd it is a real system user
/// (created by the install script); for proftpd a virtual user mapped to
/// `nobody`.
pub const FTP_USER: &str = "ftptest";
/// The password of [`FTP_USER`] (set by the install script for vsftpd).
pub const FTP_PASSWORD: &str = "ftptest-password";
/// The loopback address the servers listen on (and announce for passive mode).
pub const HOST: &str = "127.0.0.1";

/// How many ports each server's passive range has, by default. proftpd
/// picks a passive port at random and answers 425 when another session
/// holds it: two sessions opening data connections in the same
/// millisecond collided once in 16 ports (a CI run at 91ec631). 64 makes
/// that a quarter as likely for every test with concurrent sessions.
const DEFAULT_PASSIVE_PORTS: u16 = 64;
/// uid/gid proftpd's virtual user is mapped to (`nobody` / `nogroup`).
const NOBODY_ID: u32 = 65534;

/// Which FTP server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerKind {
    Proftpd,
    Vsftpd,
}

impl std::fmt::Display for ServerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ServerKind::Proftpd => "proftpd",
            ServerKind::Vsftpd => "vsftpd",
        })
    }
}

/// How the server does TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tls {
    /// Plain FTP, no TLS offered.
    None,
    /// Explicit FTPS (`AUTH TLS` on the control connection), required for
    /// logins and data connections.
    Explicit,
    /// Implicit FTPS: TLS from the first byte of every connection.
    Implicit,
}

/// The newest TLS version a server offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsVersion {
    /// TLS 1.2 only.
    Tls12,
    /// TLS 1.2 and 1.3 (the default).
    Tls13,
}

/// What kind of server to start.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub tls: Tls,
    /// Whether TLS data connections must resume the control connection's TLS
    /// session (vsftpd `require_ssl_reuse`; proftpd's default, turned off with
    /// `TLSOptions NoSessionReuseRequired`). Default: true. Ignored for
    /// [`Tls::None`].
    pub require_session_reuse: bool,
    /// The newest TLS version offered (the oldest is always 1.2). Default:
    /// [`TlsVersion::Tls13`]. Note vsftpd + TLS 1.3: the server sends session
    /// tickets after the handshake on every data connection too, so a client
    /// that closes an upload's data connection without ever reading from it
    /// leaves them unread, its kernel answers with a RST, and vsftpd fails the
    /// upload with `426 Failure reading network stream` (curl 7.88 does this
    /// ~40% of the time). proftpd sends no tickets on data connections.
    pub max_tls_version: TlsVersion,
    /// Size of the passive port range. Default: 16.
    pub passive_ports: u16,
    /// How long to wait for the server to come up. Default: 10 s.
    pub startup_timeout: Duration,
    /// proftpd only: `MaxClientsPerUser N` (refuse the user's N+1st login). Default: none.
    pub max_clients_per_user: Option<u32>,
}

impl ServerOptions {
    pub fn new(tls: Tls) -> Self {
        ServerOptions {
            tls,
            require_session_reuse: true,
            max_tls_version: TlsVersion::Tls13,
            passive_ports: DEFAULT_PASSIVE_PORTS,
            startup_timeout: Duration::from_secs(10),
            max_clients_per_user: None,
        }
    }
    pub fn plain() -> Self {
        Self::new(Tls::None)
    }
    pub fn explicit() -> Self {
        Self::new(Tls::Explicit)
    }
    pub fn implicit() -> Self {
        Self::new(Tls::Implicit)
    }
    pub fn require_session_reuse(mut self, yes: bool) -> Self {
        self.require_session_reuse = yes;
        self
    }
    pub fn max_tls_version(mut self, version: TlsVersion) -> Self {
        self.max_tls_version = version;
        self
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self::plain()
    }
}

/// A running FTP server. Stopped (by PID) and its temporary files removed on drop.
pub struct FtpServer {
    pub kind: ServerKind,
    pub tls: Tls,
    pub require_session_reuse: bool,
    pub max_tls_version: TlsVersion,
    pub max_clients_per_user: Option<u32>,
    /// Always [`HOST`] (127.0.0.1).
    pub host: String,
    /// The control port.
    pub port: u16,
    /// The ports the server uses for passive data connections.
    pub passive_ports: RangeInclusive<u16>,
    /// The login user's root directory on disk: what the user sees as `/`.
    /// Seed it with [`FtpServer::put_file`] / [`FtpServer::create_dir`], or
    /// write into it directly and call [`FtpServer::fix_ownership`].
    pub root: PathBuf,
    pub user: String,
    pub password: String,
    /// The server's self-signed certificate (PEM; CN=localhost, SAN DNS:localhost
    /// and IP:127.0.0.1, CA:FALSE): the one certificate a client should trust.
    pub cert_pem: PathBuf,
    /// The certificate's private key (PEM).
    pub key_pem: PathBuf,
    /// The uid/gid the server does file operations as: files it writes are
    /// owned by them, and files it must overwrite or delete should be too.
    pub uid: u32,
    pub gid: u32,
    /// The server's temporary directory (configuration, certificate, logs).
    pub dir: PathBuf,
    config: PathBuf,
    logs: Vec<(&'static str, PathBuf)>,
    child: Option<Child>,
    probe_conn: Option<TcpStream>,
    reserved_ports: Vec<u16>,
    // Dropped (removed) after the server is stopped; see Drop.
    root_tmp: Option<tempfile::TempDir>,
    dir_tmp: Option<tempfile::TempDir>,
}

impl FtpServer {
    /// Starts proftpd (virtual user from an `AuthUserFile`, mapped to `nobody`).
    pub fn proftpd(opts: ServerOptions) -> Result<Self> {
        Self::start(ServerKind::Proftpd, opts)
    }

    /// Starts vsftpd (system user [`FTP_USER`]; its root is a fresh directory
    /// in that user's home).
    pub fn vsftpd(opts: ServerOptions) -> Result<Self> {
        Self::start(ServerKind::Vsftpd, opts)
    }

    /// Starts a server of the given kind. Returns once it has answered a `220`
    /// greeting (for implicit TLS: once its port accepts connections), or fails
    /// with its logs after `opts.startup_timeout`.
    pub fn start(kind: ServerKind, opts: ServerOptions) -> Result<Self> {
        preflight(kind)?;
        // A port picked free can be taken before the server binds it (another
        // test's outgoing connection): retry such start-ups with new ports.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::start_once(kind, &opts) {
                Ok(server) => return Ok(server),
                Err(StartError::PortInUse(e)) if attempt < 4 => {
                    eprintln!("{kind}: port in use at start-up, retrying with other ports: {e:#}");
                }
                Err(StartError::PortInUse(e)) | Err(StartError::Other(e)) => return Err(e),
            }
        }
    }

    fn start_once(kind: ServerKind, opts: &ServerOptions) -> Result<Self, StartError> {
        let dir_tmp = tempfile::Builder::new()
            .prefix(&format!("ftp-host-{kind}-"))
            .tempdir()
            .context("creating the server's temp dir")?;
        let dir = dir_tmp.path().to_path_buf();
        // Let the server's unprivileged processes traverse it.
        set_mode(&dir, 0o755)?;

        let (root_tmp, uid, gid) = match kind {
            ServerKind::Proftpd => {
                let root = dir.join("root");
                fs::create_dir(&root).context("creating the root dir")?;
                (None, NOBODY_ID, NOBODY_ID)
            }
            ServerKind::Vsftpd => {
                let (uid, gid, home) = system_user(FTP_USER)?;
                let t = tempfile::Builder::new()
                    .prefix("ftp-host-vsftpd-")
                    .tempdir_in(&home)
                    .with_context(|| format!("creating a root dir in {}", home.display()))?;
                (Some(t), uid, gid)
            }
        };
        let root = match &root_tmp {
            Some(t) => t.path().to_path_buf(),
            None => dir.join("root"),
        };
        set_mode(&root, 0o755)?;
        std::os::unix::fs::chown(&root, Some(uid), Some(gid))
            .with_context(|| format!("chown {} to {uid}:{gid}", root.display()))?;

        let (cert_pem, key_pem) =
            if opts.tls != Tls::None { make_certificate(&dir)? } else { (dir.join("cert.pem"), dir.join("key.pem")) };

        let mut reserved = Vec::new();
        let port = reserve_control_port(&mut reserved)?;
        let passive = reserve_passive_range(opts.passive_ports.max(1), &mut reserved)?;
        let mut server = FtpServer {
            kind,
            tls: opts.tls,
            require_session_reuse: opts.require_session_reuse,
            max_tls_version: opts.max_tls_version,
            max_clients_per_user: opts.max_clients_per_user,
            host: HOST.to_string(),
            port,
            passive_ports: passive,
            root,
            user: FTP_USER.to_string(),
            password: FTP_PASSWORD.to_string(),
            cert_pem,
            key_pem,
            uid,
            gid,
            dir,
            config: PathBuf::new(),
            logs: Vec::new(),
            child: None,
            probe_conn: None,
            reserved_ports: reserved,
            root_tmp,
            dir_tmp: Some(dir_tmp),
        };
        let mut cmd = match kind {
            ServerKind::Proftpd => server.configure_proftpd()?,
            ServerKind::Vsftpd => server.configure_vsftpd()?,
        };

        let stdout = server.dir.join("stdout.log");
        let stderr = server.dir.join("stderr.log");
        server.logs.push(("stdout", stdout.clone()));
        server.logs.push(("stderr", stderr.clone()));
        let stdout_file = fs::File::create(&stdout).context("creating stdout.log")?;
        // vsftpd writes its start-up errors ("500 OOPS: ...") to fd 0, not 1
        // (a terminal is both): give it the stdout log as stdin too.
        let stdin = match kind {
            ServerKind::Vsftpd => Stdio::from(stdout_file.try_clone()?),
            ServerKind::Proftpd => Stdio::null(),
        };
        cmd.stdin(stdin)
            .stdout(stdout_file)
            .stderr(fs::File::create(&stderr).context("creating stderr.log")?)
            .current_dir(&server.dir)
            // Own process group: Drop kills the server and its sessions together.
            .process_group(0);
        let child = cmd.spawn().with_context(|| format!("spawning {kind}: {cmd:?}"))?;
        server.child = Some(child);
        server.wait_until_up(opts.startup_timeout)?;
        Ok(server)
    }

    fn configure_proftpd(&mut self) -> Result<Command> {
        let d = self.dir.clone();
        let p = |name: &str| d.join(name).display().to_string();

        // Virtual user: name:hash:uid:gid:gecos:home:shell.
        let hash = run_stdin(Command::new("openssl").args(["passwd", "-6", "-stdin"]), self.password.as_bytes())
            .context("hashing the password with `openssl passwd -6`")?;
        let passwd = d.join("passwd");
        fs::write(
            &passwd,
            format!("{}:{}:{}:{}::{}:/bin/false\n", self.user, hash.trim(), self.uid, self.gid, self.root.display()),
        )?;
        set_mode(&passwd, 0o600)?;
        let group = d.join("group");
        fs::write(&group, format!("nogroup:x:{}:\n", self.gid))?;
        set_mode(&group, 0o600)?;

        let (pasv_lo, pasv_hi) = (*self.passive_ports.start(), *self.passive_ports.end());
        let mut conf = String::new();
        let _ = write!(
            conf,
            r#"# ftp-host e2e test server (tests/src/servers.rs)
ServerType              standalone
ServerName              "ftp-host test proftpd"
DefaultServer           on
Port                    {port}
DefaultAddress          {host}
SocketBindTight         on
UseIPv6                 off
User                    nobody
Group                   nogroup
Umask                   022
MaxInstances            200
PidFile                 {pid}
ScoreboardFile          {scoreboard}
DelayTable              {delay}
SystemLog               {syslog}
TransferLog             {xferlog}
ExtendedLog             {cmdlog} ALL
WtmpLog                 off
UseReverseDNS           off
DefaultRoot             ~
RequireValidShell       off
AuthPAM                 off
AuthOrder               mod_auth_file.c
AuthUserFile            {passwd}
AuthGroupFile           {group}
PassivePorts            {pasv_lo} {pasv_hi}
MasqueradeAddress       {host}
AllowOverwrite          on
AllowStoreRestart       on
# The listener's 5-second timers (scoreboard scrubbing, mod_ctrls) each left it
# deaf for 400 ms (its EINTR back-off: two 200 ms sleeps), so a session that
# connected then waited up to 0.4 s for its banner (seen in the benchmark).
ScoreboardScrub         off
<IfModule mod_ctrls.c>
  ControlsEngine        off
</IfModule>
<IfModule mod_delay.c>
  DelayEngine           off
</IfModule>
"#,
            port = self.port,
            host = self.host,
            pid = p("proftpd.pid"),
            scoreboard = p("proftpd.scoreboard"),
            delay = p("proftpd.delay"),
            syslog = p("proftpd.log"),
            xferlog = p("xfer.log"),
            cmdlog = p("commands.log"),
            passwd = passwd.display(),
            group = group.display(),
        );
        if let Some(n) = self.max_clients_per_user {
            let _ = writeln!(conf, "MaxClientsPerUser       {n}");
        }
        self.logs.push(("proftpd.log", d.join("proftpd.log")));
        self.logs.push(("commands.log", d.join("commands.log")));
        self.logs.push(("xfer.log", d.join("xfer.log")));

        if self.tls != Tls::None {
            let mut options = Vec::new();
            if self.tls == Tls::Implicit {
                options.push("UseImplicitSSL");
            }
            if !self.require_session_reuse {
                options.push("NoSessionReuseRequired");
            }
            let _ = write!(
                conf,
                r#"ModulePath              {modules}
LoadModule              mod_tls.c
TLSEngine               on
TLSLog                  {tlslog}
TLSProtocol             {protocols}
TLSRSACertificateFile   {cert}
TLSRSACertificateKeyFile {key}
TLSRequired             on
TLSVerifyClient         off
TLSRenegotiate          none
"#,
                modules = PROFTPD_MODULE_DIR,
                protocols = match self.max_tls_version {
                    TlsVersion::Tls12 => "TLSv1.2",
                    TlsVersion::Tls13 => "TLSv1.2 TLSv1.3",
                },
                tlslog = p("tls.log"),
                cert = self.cert_pem.display(),
                key = self.key_pem.display(),
            );
            if !options.is_empty() {
                let _ = writeln!(conf, "TLSOptions              {}", options.join(" "));
            }
            self.logs.push(("tls.log", d.join("tls.log")));
        }

        self.config = d.join("proftpd.conf");
        fs::write(&self.config, conf)?;
        let mut cmd = Command::new(PROFTPD_BIN);
        // -n: foreground (no daemon fork); -c: our configuration only.
        cmd.arg("-n").arg("-c").arg(&self.config);
        Ok(cmd)
    }

    fn configure_vsftpd(&mut self) -> Result<Command> {
        let d = self.dir.clone();
        let empty = d.join("empty");
        fs::create_dir(&empty)?;
        set_mode(&empty, 0o755)?;
        let log = d.join("vsftpd.log");
        let (pasv_lo, pasv_hi) = (*self.passive_ports.start(), *self.passive_ports.end());
        let mut conf = String::new();
        let _ = write!(
            conf,
            r#"# ftp-host e2e test server (tests/src/servers.rs)
listen=YES
listen_ipv6=NO
background=NO
listen_address={host}
listen_port={port}
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
chroot_local_user=YES
allow_writeable_chroot=YES
local_root={root}
secure_chroot_dir={empty}
seccomp_sandbox=NO
pam_service_name=ftp-host-test
userlist_enable=NO
tcp_wrappers=NO
connect_from_port_20=NO
pasv_enable=YES
pasv_address={host}
pasv_addr_resolve=NO
pasv_min_port={pasv_lo}
pasv_max_port={pasv_hi}
max_clients=0
max_per_ip=0
delay_failed_login=0
xferlog_enable=YES
xferlog_std_format=NO
vsftpd_log_file={log}
log_ftp_protocol=YES
"#,
            host = self.host,
            port = self.port,
            root = self.root.display(),
            empty = empty.display(),
            log = log.display(),
        );
        if self.tls != Tls::None {
            let _ = write!(
                conf,
                r#"ssl_enable=YES
rsa_cert_file={cert}
rsa_private_key_file={key}
allow_anon_ssl=NO
force_local_logins_ssl=YES
force_local_data_ssl=YES
ssl_sslv2=NO
ssl_sslv3=NO
ssl_tlsv1=YES
ssl_ciphers=HIGH
ssl_request_cert=NO
require_ssl_reuse={reuse}
implicit_ssl={implicit}
"#,
                cert = self.cert_pem.display(),
                key = self.key_pem.display(),
                reuse = yes_no(self.require_session_reuse),
                implicit = yes_no(self.tls == Tls::Implicit),
            );
        }
        self.logs.push(("vsftpd.log", log));
        self.config = d.join("vsftpd.conf");
        fs::write(&self.config, conf)?;
        set_mode(&self.config, 0o644)?;
        let mut cmd = Command::new(VSFTPD_BIN);
        cmd.arg(&self.config);
        if self.tls != Tls::None {
            // vsftpd 3.0.3 has no option for TLS versions: OpenSSL's own
            // configuration (system_default) sets them.
            let max = match self.max_tls_version {
                TlsVersion::Tls12 => "TLSv1.2",
                TlsVersion::Tls13 => "TLSv1.3",
            };
            let openssl_conf = d.join("openssl.cnf");
            fs::write(
                &openssl_conf,
                format!(
                    "openssl_conf = ftp_host_test\n\
                     [ftp_host_test]\nssl_conf = ftp_host_ssl\n\
                     [ftp_host_ssl]\nsystem_default = ftp_host_tls\n\
                     [ftp_host_tls]\nMinProtocol = TLSv1.2\nMaxProtocol = {max}\n"
                ),
            )?;
            cmd.env("OPENSSL_CONF", openssl_conf);
        }
        Ok(cmd)
    }

    /// The log plus the configuration file: what a start-up failure reports.
    fn startup_report(&self) -> String {
        let config = fs::read_to_string(&self.config).unwrap_or_default();
        format!("{}----- {} -----\n{}", self.log(), self.config.display(), config.trim_end())
    }

    fn wait_until_up(&mut self, timeout: Duration) -> Result<(), StartError> {
        let addr = self.addr();
        let deadline = Instant::now() + timeout;
        let mut last_err: String;
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let log = self.startup_report();
                let e = anyhow!("{} exited during start-up ({status}) on port {}\n{log}", self.kind, self.port,);
                let in_use = log.contains("Address already in use")
                    || log.contains("could not bind")
                    || log.contains("Failed binding");
                return Err(if in_use { StartError::PortInUse(e) } else { StartError::Other(e) });
            }
            match self.probe(addr) {
                Ok(stream) => {
                    if self.kind == ServerKind::Proftpd {
                        // Keep proftpd's probe session open until the server
                        // stops: whenever a session process exits, proftpd's
                        // listener gets EINTR and then sleeps 2 x 200 ms
                        // (PR_TUNABLE_EINTR_RETRY_INTERVAL) before accepting
                        // again, which would delay the test's first connection.
                        self.probe_conn = Some(stream);
                    } else {
                        let _ = (&stream).write_all(b"QUIT\r\n");
                    }
                    return Ok(());
                }
                Err(Probe::NotYet(e)) => last_err = e,
                Err(Probe::Bad(line)) => {
                    return Err(StartError::Other(anyhow!(
                        "{} on port {} greeted with {line:?} instead of 220\n{}",
                        self.kind,
                        self.port,
                        self.startup_report()
                    )))
                }
            }
            if Instant::now() >= deadline {
                return Err(StartError::Other(anyhow!(
                    "{} did not come up on {addr} within {timeout:?} (last: {})\n{}",
                    self.kind,
                    last_err,
                    self.startup_report()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Connects and reads the greeting; returns the connection, still open.
    fn probe(&self, addr: SocketAddr) -> Result<TcpStream, Probe> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))
            .map_err(|e| Probe::NotYet(format!("connect: {e}")))?;
        if self.tls == Tls::Implicit {
            // The greeting is inside TLS: an accepted connection is enough.
            return Ok(stream);
        }
        let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
        let mut reader = BufReader::new(&stream);
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => Err(Probe::NotYet("connection closed before a greeting".into())),
            Ok(_) if line.starts_with("220") => Ok(stream),
            Ok(_) => Err(Probe::Bad(line.trim_end().to_string())),
            Err(e) => Err(Probe::NotYet(format!("reading the greeting: {e}"))),
        }
    }

    /// The control address, 127.0.0.1:port.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The server's PID (the listener).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// A URL for `path` (relative to the user's root, with or without a
    /// leading `/`), no credentials: `ftps://` for implicit TLS, else `ftp://`.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls == Tls::Implicit { "ftps" } else { "ftp" };
        format!("{scheme}://{}:{}/{}", self.host, self.port, path.trim_start_matches('/'))
    }

    /// Where `rel` (a path the FTP user sees, relative to `/`) is on disk.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    /// Writes a file under the root (creating parent directories), owned by
    /// the server's user so that it can overwrite or delete it.
    pub fn put_file(&self, rel: &str, contents: &[u8]) -> Result<PathBuf> {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            self.create_dir_at(parent)?;
        }
        fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        self.chown(&path)?;
        Ok(path)
    }

    /// Creates a directory (and its parents) under the root, owned by the
    /// server's user.
    pub fn create_dir(&self, rel: &str) -> Result<PathBuf> {
        let path = self.path(rel);
        self.create_dir_at(&path)?;
        Ok(path)
    }

    fn create_dir_at(&self, path: &Path) -> Result<()> {
        if !path.starts_with(&self.root) {
            bail!("{} is outside the server root {}", path.display(), self.root.display());
        }
        let mut missing = Vec::new();
        let mut p = path;
        while p != self.root && !p.exists() {
            missing.push(p.to_path_buf());
            p = p.parent().unwrap_or(&self.root);
        }
        for dir in missing.iter().rev() {
            fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
            self.chown(dir)?;
        }
        Ok(())
    }

    /// Gives everything under the root to the server's user (for files a test
    /// wrote there directly, as root).
    pub fn fix_ownership(&self) -> Result<()> {
        fn walk(server: &FtpServer, dir: &Path) -> Result<()> {
            for entry in fs::read_dir(dir)? {
                let entry = entry?;
                let path = entry.path();
                std::os::unix::fs::lchown(&path, Some(server.uid), Some(server.gid))
                    .with_context(|| format!("chown {}", path.display()))?;
                if entry.file_type()?.is_dir() {
                    walk(server, &path)?;
                }
            }
            Ok(())
        }
        self.chown(&self.root)?;
        walk(self, &self.root)
    }

    fn chown(&self, path: &Path) -> Result<()> {
        std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid))
            .with_context(|| format!("chown {} to {}:{}", path.display(), self.uid, self.gid))
    }

    /// Everything the server logged so far: its stdout/stderr and its log
    /// files (system, protocol/command, transfer and TLS logs), each under a
    /// header. Print this when a test fails.
    pub fn log(&self) -> String {
        let mut out = format!(
            "===== {} (pid {}, port {}, tls {:?}, dir {}) =====\n",
            self.kind,
            self.pid(),
            self.port,
            self.tls,
            self.dir.display()
        );
        for (name, path) in &self.logs {
            match fs::read(path) {
                Ok(bytes) if bytes.is_empty() => {}
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    let _ = writeln!(out, "----- {name} -----\n{}", text.trim_end());
                }
                Err(_) => {}
            }
        }
        out
    }

    /// Stops the server now (also done on drop): SIGKILL to its process group
    /// (the listener and, for proftpd, its sessions) and to every process
    /// still running its configuration file (vsftpd's sessions call setsid()
    /// and leave the group), until none is left.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pgid = child.id();
        kill(&[format!("-{pgid}")]);
        let _ = child.kill();
        let _ = child.wait();
        self.probe_conn = None;
        // Sessions forked before the listener died, in or out of the group.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = server_processes(pgid, &self.config);
            if left.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                eprintln!("{}: processes {left:?} survived SIGKILL", self.kind);
                break;
            }
            kill(&left.iter().map(|p| p.to_string()).collect::<Vec<_>>());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for FtpServer {
    fn drop(&mut self) {
        if std::thread::panicking() && self.child.is_some() {
            eprintln!("{}", self.log());
        }
        self.stop();
        release_ports(&self.reserved_ports);
        if std::env::var_os("FTP_HOST_KEEP_SERVER_DIRS").is_some() {
            if let Some(t) = self.dir_tmp.take() {
                eprintln!("keeping {}", t.keep().display());
            }
            if let Some(t) = self.root_tmp.take() {
                eprintln!("keeping {}", t.keep().display());
            }
        }
        // TempDirs are removed as the fields drop.
    }
}

impl std::fmt::Debug for FtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpServer")
            .field("kind", &self.kind)
            .field("tls", &self.tls)
            .field("port", &self.port)
            .field("passive_ports", &self.passive_ports)
            .field("root", &self.root)
            .field("pid", &self.pid())
            .finish_non_exhaustive()
    }
}

enum StartError {
    PortInUse(anyhow::Error),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for StartError {
    fn from(e: anyhow::Error) -> Self {
        StartError::Other(e)
    }
}

impl From<std::io::Error> for StartError {
    fn from(e: std::io::Error) -> Self {
        StartError::Other(e.into())
    }
}

enum Probe {
    NotYet(String),
    Bad(String),
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "YES"
    } else {
        "NO"
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}

/// Checks that we can run `kind` at all, with a pointer to the install script.
fn preflight(kind: ServerKind) -> Result<()> {
    let hint = format!("run `sudo bash {INSTALL_SCRIPT}` (from the repository root) first");
    if !is_root() {
        bail!("the FTP server fixtures must run as root (they start {kind}, chown its root dir); {hint}");
    }
    let bin = match kind {
        ServerKind::Proftpd => PROFTPD_BIN,
        ServerKind::Vsftpd => VSFTPD_BIN,
    };
    if !Path::new(bin).exists() {
        bail!("{kind} is not installed ({bin} is missing): {hint}");
    }
    if kind == ServerKind::Proftpd && !Path::new(PROFTPD_MODULE_DIR).join("mod_tls.so").exists() {
        bail!("proftpd's mod_tls ({PROFTPD_MODULE_DIR}/mod_tls.so) is missing: {hint}");
    }
    if kind == ServerKind::Vsftpd {
        system_user(FTP_USER).with_context(|| hint.clone())?;
    }
    if Command::new("openssl").arg("version").output().is_err() {
        bail!("`openssl` is not on PATH: {hint}");
    }
    Ok(())
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// uid, gid and home of a system user, from /etc/passwd.
fn system_user(name: &str) -> Result<(u32, u32, PathBuf)> {
    let passwd = fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 7 && f[0] == name {
            let uid = f[2].parse().context("uid in /etc/passwd")?;
            let gid = f[3].parse().context("gid in /etc/passwd")?;
            let home = PathBuf::from(f[5]);
            if !home.is_dir() {
                bail!("the home of system user {name} ({}) does not exist", home.display());
            }
            return Ok((uid, gid, home));
        }
    }
    bail!("system user {name} (which vsftpd logs in) does not exist")
}

/// Runs a command with `input` on stdin, returning its stdout; fails with its stderr.
fn run_stdin(cmd: &mut Command, input: &[u8]) -> Result<String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawning {cmd:?}"))?;
    child.stdin.take().expect("piped stdin").write_all(input)?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("{cmd:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// A fresh self-signed certificate: CN=localhost, SAN DNS:localhost and
/// IP:127.0.0.1, CA:FALSE (rustls refuses a CA certificate as an end entity).
fn make_certificate(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .output()
        .context("running `openssl req` to make a certificate")?;
    if !out.status.success() {
        bail!("`openssl req` failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    set_mode(&key, 0o600)?;
    set_mode(&cert, 0o644)?;
    Ok((cert, key))
}

// ---- ports -------------------------------------------------------------------

/// Ports handed to servers of this process and not yet released, so that two
/// servers started at the same time never share one.
static RESERVED: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

fn with_reserved<T>(f: impl FnOnce(&mut HashSet<u16>) -> T) -> T {
    let mut guard = RESERVED.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(HashSet::new))
}

fn release_ports(ports: &[u16]) {
    with_reserved(|set| {
        for p in ports {
            set.remove(p);
        }
    });
}

/// A free control port: bind port 0 on 127.0.0.1 and read it back.
fn reserve_control_port(reserved: &mut Vec<u16>) -> Result<u16> {
    for _ in 0..100 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding port 0")?;
        let port = listener.local_addr()?.port();
        if with_reserved(|set| set.insert(port)) {
            reserved.push(port);
            return Ok(port);
        }
    }
    bail!("could not find a free control port")
}

/// `count` consecutive free ports for passive data connections, picked below
/// the kernel's ephemeral range (so outgoing connections, which take ports
/// from that range, cannot sit on them), each checked by binding it.
fn reserve_passive_range(count: u16, reserved: &mut Vec<u16>) -> Result<RangeInclusive<u16>> {
    let ephemeral_low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse::<u16>().ok()))
        .unwrap_or(32768);
    let (lo, hi) = (10_000u16, ephemeral_low.saturating_sub(count));
    if hi > lo {
        for _ in 0..200 {
            let start = lo + (random_u64() % u64::from(hi - lo)) as u16;
            let range = start..=start + (count - 1);
            if let Some(r) = try_reserve(range) {
                reserved.extend(r.clone());
                return Ok(r);
            }
        }
    }
    // Fallback: around a port the kernel says is free.
    for _ in 0..200 {
        let base = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
        if let Some(end) = base.checked_add(count - 1) {
            if let Some(r) = try_reserve(base..=end) {
                reserved.extend(r.clone());
                return Ok(r);
            }
        }
    }
    bail!("could not find {count} consecutive free ports for passive mode")
}

fn try_reserve(range: RangeInclusive<u16>) -> Option<RangeInclusive<u16>> {
    with_reserved(|set| {
        if range.clone().any(|p| set.contains(&p)) {
            return None;
        }
        // Hold them all while checking, so the check is of the whole range at once.
        let mut held = Vec::new();
        for p in range.clone() {
            held.push(TcpListener::bind((Ipv4Addr::LOCALHOST, p)).ok()?);
        }
        set.extend(range.clone());
        Some(range)
    })
}

fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.write_u32(std::process::id());
    h.finish()
}

// ---- processes ---------------------------------------------------------------

/// Sends SIGKILL to the given PIDs (`-PGID` for a process group).
fn kill(targets: &[String]) {
    if targets.is_empty() {
        return;
    }
    let _ =
        Command::new("kill").arg("-KILL").arg("--").args(targets).stdout(Stdio::null()).stderr(Stdio::null()).status();
}

/// Live (not zombie) processes in process group `pgid`, or whose command
/// line mentions `config` (vsftpd's session processes keep the listener's
/// command line but call setsid(); proftpd rewrites its command line but
/// its sessions stay in the group).
fn server_processes(pgid: u32, config: &Path) -> Vec<u32> {
    let needle = config.as_os_str().as_encoded_bytes();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|&pid| pid != me)
        .filter(|pid| {
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // Fields after "(comm)": state ppid pgrp ...
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
                return false;
            }
            if fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) {
                return true;
            }
            !needle.is_empty()
                && fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| c.windows(needle.len()).any(|w| w == needle))
                    .unwrap_or(false)
        })
        .collect()
}
