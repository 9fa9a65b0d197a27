//! The sandbox attack suite: a deliberately hostile plugin
//! (`tests/guests/hostile`) against a scriptable hostile FTP server and a
//! real proftpd, trying every way out of what the operator granted.
//!
//! Every test asserts both sides: the typed error the plugin (or the
//! embedder, as a [`RunError`]) got, AND that nothing reached or changed on
//! the server: the hostile server's `commands()`, connection counters and
//! `files()`, or the real server's disk. Every run writes an audit log
//! (`AuditLog::to_writer` on a shared buffer) that is checked too: one
//! well-formed JSON line per operation, and no secret in it.
//!
//! Limits are small so the whole file runs in well under a minute.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ftp_host::{
    AuditLog, Cache, Grant, Host, LimitKind, Limits, NetworkRules, Output, PathRules, Plugin, Policy, RunError,
    RunReport,
};
use ftp_host_e2e::harness::{error_kind, hostile_guest, plain_profile, sha256, Target};
use ftp_host_e2e::hostile_server::{Canary, HostileServer, Script};
use ftp_host_e2e::servers::{FtpServer, ServerOptions};

const MIB: usize = 1024 * 1024;

// ====================================================================== fixtures

/// Limits every test starts from: short network deadlines and a bounded
/// run, so a regression fails fast instead of hanging the suite.
fn limits() -> Limits {
    Limits {
        default_timeout: Duration::from_secs(5),
        max_timeout: Duration::from_secs(5),
        max_wall_clock: Duration::from_secs(30),
        max_cpu: Duration::from_secs(10),
        ..Limits::default()
    }
}

/// A policy granting exactly one profile, with [`limits`].
fn profile_policy(name: &str, addr: SocketAddr, password: &str) -> Policy {
    Policy::new().grant(Grant::profile(plain_profile(name, addr, "alice", password)).unwrap()).with_limits(limits())
}

/// A shared in-memory audit sink.
#[derive(Clone, Default)]
struct AuditBuf(Arc<Mutex<Vec<u8>>>);

impl Write for AuditBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One audit line, parsed.
#[derive(Debug, Clone)]
struct Entry {
    plugin: String,
    server: String,
    operation: String,
    path: Option<String>,
    bytes: f64,
    outcome: String,
    error: Option<String>,
}

impl AuditBuf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("the audit log is UTF-8")
    }

    /// Check the whole log: every line one JSON object with the documented
    /// fields (plugin, server, operation, path, bytes, duration_ms,
    /// outcome), naming the plugin `hostile`, and no secret anywhere.
    fn check(&self, secrets: &[&str]) -> Vec<Entry> {
        let text = self.text();
        for secret in secrets {
            assert!(!text.contains(secret), "the audit log holds the secret {secret:?}:\n{text}");
        }
        assert!(text.is_empty() || text.ends_with('\n'), "the audit log ends mid-line: {text:?}");
        text.lines()
            .map(|line| {
                let json: serde_json::Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {line}"));
                let fields = json.as_object().unwrap_or_else(|| panic!("audit line is not a JSON object: {line}"));
                let get = |k: &str| fields.get(k);
                let string = |k: &str| match get(k) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    other => panic!("audit field `{k}` is {other:?}, not a string: {line}"),
                };
                let number = |k: &str| match get(k).and_then(serde_json::Value::as_f64) {
                    Some(n) if n >= 0.0 => n,
                    other => panic!("audit field `{k}` is {other:?}, not a number >= 0: {line}"),
                };
                number("time");
                number("duration_ms");
                let entry = Entry {
                    plugin: string("plugin"),
                    server: string("server"),
                    operation: string("operation"),
                    path: get("path").map(|_| string("path")),
                    bytes: number("bytes"),
                    outcome: string("outcome"),
                    error: get("error").map(|_| string("error")),
                };
                assert_eq!(entry.plugin, "hostile", "{line}");
                assert!(!entry.server.is_empty() && !entry.operation.is_empty(), "{line}");
                match entry.outcome.as_str() {
                    "ok" => assert!(entry.error.is_none(), "ok with an error: {line}"),
                    "error" => assert!(entry.error.is_some(), "error without a message: {line}"),
                    other => panic!("unknown outcome {other:?}: {line}"),
                }
                let path_ops = [
                    "listing",
                    "download",
                    "upload",
                    "size",
                    "cwd",
                    "open download",
                    "open upload",
                    "finish download",
                    "finish upload",
                ];
                if path_ops.contains(&entry.operation.as_str()) {
                    assert!(entry.path.is_some(), "a path operation without its path: {line}");
                }
                entry
            })
            .collect()
    }
}

/// A host with an audit log, and the hostile guest loaded in it.
struct Sandbox {
    plugin: Plugin,
    audit: AuditBuf,
}

impl Sandbox {
    fn new(policy: Policy) -> Sandbox {
        // One compile of the hostile guest per test process, not per host
        // (compiling is seconds in a debug build; the engine is shared).
        static CACHE: OnceLock<(tempfile::TempDir, Cache)> = OnceLock::new();
        let (_, cache) = CACHE.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let cache = Cache::open(dir.path()).unwrap();
            (dir, cache)
        });
        let audit = AuditBuf::default();
        let host = Host::new(policy)
            .expect("host starts")
            .with_cache(cache.clone())
            .with_audit(AuditLog::to_writer(Box::new(audit.clone())));
        let plugin = host.load_named(hostile_guest(), "hostile").expect("the hostile guest loads");
        Sandbox { plugin, audit }
    }

    /// One run, however it ends.
    async fn attempt(&self, args: &[&str]) -> Result<RunReport, RunError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let result = self.plugin.run(&args, Output::Capture).await;
        match &result {
            Ok(report) => eprintln!(
                "--- hostile {:?}\n--- result: {:?}\n--- stdout:\n{}--- stderr:\n{}",
                args,
                report.result,
                String::from_utf8_lossy(&report.stdout),
                String::from_utf8_lossy(&report.stderr)
            ),
            Err(e) => eprintln!("--- hostile {args:?}\n--- run error: {e}"),
        }
        result
    }

    /// One run that must end with the guest's own verdict (no trap, no limit).
    async fn run(&self, args: &[&str]) -> RunReport {
        match self.attempt(args).await {
            Ok(report) => report,
            Err(e) => panic!("the run of {args:?} failed on the host's side: {e}"),
        }
    }
}

/// Everything a run shows its plugin and the embedder, to search for secrets.
fn everything(report: &RunReport) -> String {
    format!(
        "{}\n{}\n{:?}",
        String::from_utf8_lossy(&report.stdout),
        String::from_utf8_lossy(&report.stderr),
        report.result
    )
}

/// The probe's `CALL: OUTCOME` lines as (call, kind): kind is `ok` or the
/// WIT error case.
fn calls(report: &RunReport) -> Vec<(String, String)> {
    String::from_utf8_lossy(&report.stdout)
        .lines()
        .map(|line| {
            let (call, outcome) = line.split_once(": ").unwrap_or_else(|| panic!("not a call line: {line:?}"));
            let kind =
                if outcome == "ok" || outcome.starts_with("ok ") { "ok" } else { outcome.split(':').next().unwrap() };
            (call.to_string(), kind.to_string())
        })
        .collect()
}

/// The text after `CALL: ok ` of the first line for `call`.
fn value_of<'a>(out: &'a str, call: &str) -> &'a str {
    let prefix = format!("{call}: ok ");
    out.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no successful `{call}` in:\n{out}"))
}

/// A listener on a chosen address that counts the connections it accepts
/// and closes each at once (a [`Canary`] on a port of our choosing).
struct Tripwire {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Tripwire {
    fn bind(addr: SocketAddr) -> Option<Tripwire> {
        let listener = TcpListener::bind(addr).ok()?;
        listener.set_nonblocking(true).unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopping) = (connections.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        count.fetch_add(1, Ordering::SeqCst);
                        drop(stream);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Some(Tripwire { addr, connections, stop, thread: Some(thread) })
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Wait up to `timeout` for at least `n` connections; the count then.
    fn wait_for(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        while self.connections() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.connections()
    }
}

impl Drop for Tripwire {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

// ============================================================ network attacks

/// A server that is not granted is never dialed, whatever the spelling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_not_on_the_list_is_denied_without_a_connection() {
    let server = HostileServer::start(Script::new().file("a.txt", b"a"));
    let port = server.port().to_string();
    let other_port = (server.port() ^ 1).to_string();

    // Nothing granted; another port of the same host granted; the same
    // server spelled otherwise (getaddrinfo would turn all of these into
    // 127.0.0.1); a profile's server asked for with guest credentials.
    let nothing = Policy::new().with_limits(limits());
    let other = Policy::new().allow(&format!("127.0.0.1:{other_port}")).unwrap().with_limits(limits());
    let profile_only = profile_policy("p", server.addr(), "pr0file-pw");
    let cases: Vec<(Policy, &str, &str)> = vec![
        (nothing.clone(), "127.0.0.1", &port),
        (nothing, "localhost", &port),
        (other.clone(), "127.0.0.1", &port),
        (other.clone(), "127.1", &port),
        (other.clone(), "2130706433", &port),
        (other.clone(), "0x7f.0.0.1", &port),
        (other.clone(), "[::ffff:127.0.0.1]", &port),
        (other, "localhost", &port),
        (profile_only, "127.0.0.1", &port),
    ];
    for (policy, host, port) in cases {
        let sandbox = Sandbox::new(policy);
        let report = sandbox.run(&["connect", host, port, "mallory", "guest-pw"]).await;
        assert_eq!(error_kind(&report), Some("denied"), "{host}:{port}: {:?}", report.result);
        assert_eq!(report.stats.bytes_downloaded + report.stats.bytes_uploaded, 0);
        let entries = sandbox.audit.check(&[]);
        assert_eq!(entries.len(), 1, "one audited (denied) connect: {entries:?}");
        assert_eq!((entries[0].operation.as_str(), entries[0].outcome.as_str()), ("connect", "error"));
        assert!(entries[0].error.as_deref().unwrap().starts_with("denied: "));
    }
    assert_eq!(server.control_connections(), 0, "a denied server was dialed");
    assert_eq!(server.commands(), Vec::<String>::new());
}

/// A name granted by the operator that resolves to loopback is refused
/// unless loopback is opened; an address granted literally is the
/// operator's explicit choice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_resolving_to_a_blocked_address_is_denied() {
    let server = HostileServer::start(Script::new().file("a.txt", b"a"));
    let port = server.port().to_string();
    let by_name = || Policy::new().allow(&format!("localhost:{port}")).unwrap().with_limits(limits());

    for host in ["localhost", "LOCALHOST", "LocalHost"] {
        let sandbox = Sandbox::new(by_name());
        let report = sandbox.run(&["connect", host, &port, "mallory", "guest-pw"]).await;
        assert_eq!(error_kind(&report), Some("denied"), "{host}: {:?}", report.result);
        assert!(report.result.as_ref().unwrap_err().contains("loopback"), "{:?}", report.result);
        sandbox.audit.check(&["guest-pw"]);
    }
    assert_eq!(server.control_connections(), 0, "a name resolving to loopback was dialed");
    assert!(server.commands().is_empty());

    // The same grant with loopback opened: allowed.
    let sandbox = Sandbox::new(by_name().with_network(NetworkRules { allow_loopback: true, allow_private: false }));
    let report = sandbox.run(&["connect", "localhost", &port, "mallory", "guest-pw"]).await;
    assert_eq!(report.result, Ok("1 entries".to_string()));
    assert_eq!(server.control_connections(), 1);
    assert!(server.commands().contains(&"USER mallory".to_string()));
    sandbox.audit.check(&["guest-pw"]);

    // Opening private networks does not open loopback.
    let sandbox = Sandbox::new(by_name().with_network(NetworkRules { allow_loopback: false, allow_private: true }));
    let report = sandbox.run(&["connect", "localhost", &port, "mallory", "guest-pw"]).await;
    assert_eq!(error_kind(&report), Some("denied"), "{:?}", report.result);
    assert_eq!(server.control_connections(), 1);

    // The address itself, granted literally: allowed without opening loopback.
    let literal = Policy::new().allow(&format!("127.0.0.1:{port}")).unwrap().with_limits(limits());
    let report = Sandbox::new(literal).run(&["connect", "127.0.0.1", &port, "mallory", "guest-pw"]).await;
    assert_eq!(report.result, Ok("1 entries".to_string()));
    assert_eq!(server.control_connections(), 2);
}

/// A PASV reply naming another address is not followed: the host dials the
/// control connection's peer, at the port named.
///
/// That a PASV reply naming another *unprivileged* port on the server's own
/// IP is followed is how passive FTP works (the server picks the port), and
/// is allowed: the [`Tripwire`] on 127.0.0.1 at the named port is dialed
/// below. The host never dials any IP but the control peer's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasv_reply_naming_another_address_is_not_dialed() {
    // A canary on 127.0.0.2:P and a tripwire on 127.0.0.1:P, the control peer's IP.
    let (canary, tripwire) = (0..50)
        .find_map(|_| {
            let canary = Canary::start_on(loopback(2));
            let tripwire = Tripwire::bind(SocketAddr::new(loopback(1), canary.addr().port()))?;
            Some((canary, tripwire))
        })
        .expect("a port free on both 127.0.0.1 and 127.0.0.2");
    let server = HostileServer::start(
        Script::new().file("a.txt", b"a").pasv_to(canary.addr()).data_timeout(Duration::from_millis(300)),
    );
    let target = Target::plain(server.addr(), "mallory", "guest-pw");
    let sandbox = Sandbox::new(target.policy().with_limits(limits()));
    let port = server.port().to_string();
    let report = sandbox.run(&["connect", "127.0.0.1", &port, "mallory", "guest-pw"]).await;

    assert!(tripwire.wait_for(1, Duration::from_secs(2)) >= 1, "the host dials the control peer at the named port");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(canary.connections(), 0, "the host followed a PASV reply to another address");
    assert_eq!(server.canary_connections(), 0);
    assert_eq!(server.data_connections(), 0);
    // The server never saw its data connection: the listing fails (`425`).
    assert_eq!(error_kind(&report), Some("io"), "{:?}", report.result);
    assert!(server.received("NLST"));
    sandbox.audit.check(&["guest-pw"]);
}

/// A PASV reply naming a privileged port, or the control port itself (an
/// FTP bounce at another service of the server's host), is refused as
/// `denied` before anything is dialed or the transfer command is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasv_reply_naming_a_privileged_or_the_control_port_is_denied() {
    // A tripwire on a privileged port (we run as root; the real servers need it too).
    let privileged = (900..1024).rev().find_map(|p| Tripwire::bind(SocketAddr::new(loopback(1), p)));
    let low = privileged.as_ref().map(|t| t.addr).unwrap_or_else(|| SocketAddr::new(loopback(1), 22));

    for named in [low, SocketAddr::new(loopback(1), 0)] {
        let server = HostileServer::start(
            Script::new().file("a.txt", b"a").pasv_to(named).data_timeout(Duration::from_millis(300)),
        );
        let sandbox = Sandbox::new(Target::plain(server.addr(), "mallory", "guest-pw").policy().with_limits(limits()));
        let port = server.port().to_string();
        let report = sandbox.run(&["connect", "127.0.0.1", &port, "mallory", "guest-pw"]).await;
        assert!(String::from_utf8_lossy(&report.stdout).starts_with("connect: ok\n"));
        assert_eq!(error_kind(&report), Some("denied"), "PASV to {named}: {:?}", report.result);
        assert!(
            !server.received("NLST") && !server.received("LIST"),
            "the transfer command was sent: {:?}",
            server.commands()
        );
        assert_eq!(server.data_connections(), 0);
        sandbox.audit.check(&["guest-pw"]);
    }
    if let Some(t) = privileged {
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(t.connections(), 0, "the host dialed privileged port {}", t.addr);
    }

    // The control port: the host reaches the server through a relay whose
    // port (the control port, as the host sees it) the server's PASV names.
    let relay = Relay::bind();
    let server = HostileServer::start(
        Script::new().file("a.txt", b"a").pasv_to(relay.addr).data_timeout(Duration::from_millis(300)),
    );
    let relay = relay.start(server.addr());
    let sandbox = Sandbox::new(Target::plain(relay.addr, "mallory", "guest-pw").policy().with_limits(limits()));
    let port = relay.addr.port().to_string();
    let report = sandbox.run(&["connect", "127.0.0.1", &port, "mallory", "guest-pw"]).await;
    assert!(String::from_utf8_lossy(&report.stdout).starts_with("connect: ok\n"));
    assert_eq!(error_kind(&report), Some("denied"), "PASV to the control port: {:?}", report.result);
    assert!(report.result.as_ref().unwrap_err().contains("control port"), "{:?}", report.result);
    assert!(!server.received("NLST"), "the transfer command was sent: {:?}", server.commands());
    assert_eq!(relay.connections(), 1, "the host dialed the control port as a data connection");
    assert_eq!(server.control_connections(), 1);
    sandbox.audit.check(&["guest-pw"]);
}

/// A TCP relay: connections to `addr` are piped to an upstream address.
struct Relay {
    addr: SocketAddr,
    listener: Option<TcpListener>,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    fn bind() -> Relay {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        Relay { addr, listener: Some(listener), connections: Arc::default(), stop: Arc::default() }
    }

    fn start(mut self, upstream: SocketAddr) -> Relay {
        let listener = self.listener.take().unwrap();
        listener.set_nonblocking(true).unwrap();
        let (count, stop) = (self.connections.clone(), self.stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let Ok((down, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                down.set_nonblocking(false).unwrap();
                let Ok(up) = std::net::TcpStream::connect(upstream) else { continue };
                for (mut from, mut to) in [(down.try_clone().unwrap(), up.try_clone().unwrap()), (up, down)] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        self
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

// ================================================================ path attacks

/// CR, LF or NUL in a path (or a user name, or a profile name) would end
/// the FTP command and start another: such a path never reaches the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_with_crlf_never_reaches_the_server() {
    let server = HostileServer::start(Script::new().file("y", b"keep me").file("x", b"x"));
    let sandbox = Sandbox::new(profile_policy("p", server.addr(), "pr0file-pw"));
    let evil = ["x\r\nDELE y", "x\nDELE y", "x\rDELE y", "x\0DELE y", "/x\r\nDELE /y\r\n"];
    let mut args = vec!["probe", "p"];
    args.extend(evil);
    let report = sandbox.run(&args).await;
    // The guest prints a call's path as is, so the raw CR/LF split its
    // lines: count outcomes instead. Six calls per path, each refused.
    let out = String::from_utf8_lossy(&report.stdout).into_owned();
    assert_eq!(out.matches(": invalid-input: ").count(), 6 * evil.len(), "{out}");
    assert_eq!(out.matches(": ok").count(), 4, "only connect-profile, pwd, list-directory and quit succeed:\n{out}");
    assert!(!out.contains(": denied: ") && !out.contains(": not-found: "), "{out}");
    assert_eq!(report.result, Ok(format!("3 of {} calls succeeded", 3 + 6 * evil.len())));

    // A user name smuggling a command: refused before any connection.
    let port = server.port().to_string();
    let guest = Sandbox::new(Target::plain(server.addr(), "u", "p").policy().with_limits(limits()));
    let before = server.control_connections();
    for (user, password) in [("alice\r\nDELE y", "pw"), ("alice", "pw\r\nDELE y"), ("alice", "pw\0")] {
        let report = guest.run(&["connect", "127.0.0.1", &port, user, password]).await;
        assert_eq!(error_kind(&report), Some("invalid-input"), "{user:?} {password:?}: {:?}", report.result);
    }
    assert_eq!(server.control_connections(), before, "a connection was made with a CR/LF/NUL credential");
    // And a profile name.
    let report = sandbox.run(&["sessions", "1", "p\r\nDELE y"]).await;
    assert!(String::from_utf8_lossy(&report.stdout).starts_with("invalid-input: "), "{:?}", report.stdout);

    assert!(!server.received("DELE"), "DELE reached the server: {:?}", server.commands());
    assert!(server.commands().iter().all(|c| !c.contains("DELE")), "{:?}", server.commands());
    assert_eq!(server.files()["y"], b"keep me");
    sandbox.audit.check(&["pr0file-pw"]);
    guest.audit.check(&[]);
}

/// A single `*` in an operator's glob covers one path component, as in a
/// shell: `/reports/*.csv` grants the CSV files in `/reports`, not every
/// `.csv` anywhere below it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_star_glob_does_not_reach_subdirectories() {
    let server = HostileServer::start(
        Script::new()
            .file("reports/q1.csv", b"q1")
            .file("reports/private/salaries.csv", b"CANARY-SALARIES")
            .file("up/x", b""),
    );
    let rules = PathRules::new(Some(&["/reports/*.csv".to_string()]), Some(&["/up/*".to_string()]), false).unwrap();
    let grant = Grant::profile(plain_profile("p", server.addr(), "alice", "pr0file-pw")).unwrap().with_paths(rules);
    let sandbox = Sandbox::new(Policy::new().grant(grant).with_limits(limits()));
    let report = sandbox.run(&["probe", "p", "/reports/q1.csv", "/reports/private/salaries.csv", "/up/deep/x"]).await;
    let out = String::from_utf8_lossy(&report.stdout).into_owned();
    assert_eq!(value_of(&out, "get /reports/q1.csv"), "2 bytes: q1");
    let calls = calls(&report);
    for (call, kind) in &calls {
        if call.ends_with("/reports/private/salaries.csv") {
            assert_eq!(kind, "denied", "{call}: `/reports/*.csv` reached a subdirectory\n{out}");
        }
        if call == "send /up/deep/x" {
            assert_eq!(kind, "denied", "{call}: `/up/*` reached a subdirectory\n{out}");
        }
    }
    assert!(!out.contains("CANARY-SALARIES"), "read through `/reports/*.csv`:\n{out}");
    assert!(!server.commands().iter().any(|c| c.contains("salaries")), "{:?}", server.commands());
    sandbox.audit.check(&["pr0file-pw"]);
}

/// Every file under `root`, with its bytes (directories as `None`).
fn snapshot(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Option<Vec<u8>>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                out.insert(rel, None);
                walk(root, &path, out);
            } else {
                out.insert(rel, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// A profile jailed to read `/out/**` and write `/in/**` on a real proftpd:
/// `../` and absolute escapes, `cwd ..` then relative paths, backslashes,
/// are all refused; listings hide what is outside; the disk changes only
/// under `/in`; nothing outside `/out` is ever read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_escapes_from_a_jail_are_refused_on_a_real_server() {
    let server = FtpServer::proftpd(ServerOptions::plain()).unwrap_or_else(|e| panic!("proftpd did not start: {e:#}"));
    server.put_file("out/report.txt", b"report").unwrap();
    server.put_file("out/sub/deep.txt", b"deep").unwrap();
    server.create_dir("in").unwrap();
    server.put_file("etc/passwd", b"root:x:0:0:CANARY-PASSWD:/root:/bin/sh\n").unwrap();
    server.put_file("secret.txt", b"CANARY-TOP-SECRET").unwrap();
    server.put_file("home/other/private.txt", b"CANARY-PRIVATE").unwrap();
    let before = snapshot(&server.root);

    let rules = PathRules::new(Some(&["/out/**".to_string()]), Some(&["/in/**".to_string()]), false).unwrap();
    let grant =
        Grant::profile(plain_profile("jail", server.addr(), &server.user, &server.password)).unwrap().with_paths(rules);
    let sandbox = Sandbox::new(Policy::new().grant(grant).with_limits(limits()));

    // (path, outcomes of list-directory, get, size, send, open-get, cwd):
    // `D` denied by the host, `ok`, `E` refused by the server, `*` either.
    // The probe runs them in order: a successful `cwd` moves the session.
    const D: [&str; 6] = ["denied"; 6];
    let plan: &[(&str, [&str; 6])] = &[
        ("/etc/passwd", D),
        ("../etc/passwd", D),
        ("/out/../etc/passwd", D),
        ("out/sub/../../secret.txt", D),
        ("..\\etc\\passwd", D),
        ("/out/..\\..\\etc/passwd", D),
        ("/home/other/private.txt", D),
        ("/home", D),
        ("/out", ["ok", "E", "E", "denied", "E", "ok"]), // cwd /out
        ("../etc/passwd", D),                            // from /out
        ("../../../../secret.txt", D),
        ("..", ["ok", "denied", "denied", "denied", "denied", "ok"]), // cwd /
        ("etc/passwd", D),                                            // relative, from /
        ("secret.txt", D),
        ("in/../etc/passwd", D),
        ("in/new.txt", ["*", "denied", "denied", "ok", "denied", "E"]),
        ("/out/report.txt", ["*", "ok", "ok", "denied", "ok", "E"]),
        ("/in/../out/../in/../secret.txt", D),
    ];
    let mut args = vec!["probe", "jail"];
    args.extend(plan.iter().map(|(p, _)| *p));
    let report = sandbox.run(&args).await;
    let out = String::from_utf8_lossy(&report.stdout).into_owned();
    let got = calls(&report);
    assert_eq!(
        &got[..3],
        [("connect-profile".into(), "ok".into()), ("pwd".into(), "ok".into()), ("list-directory".into(), "ok".into())]
    );
    let names = ["list-directory", "get", "size", "send", "open-get", "cwd"];
    for (i, (path, want)) in plan.iter().enumerate() {
        for (j, want) in want.iter().enumerate() {
            let (call, kind) = &got[3 + i * 6 + j];
            assert_eq!(call, &format!("{} {path}", names[j]), "the probe's order");
            match *want {
                "*" => {}
                "E" => assert!(kind != "ok" && kind != "denied", "{call}: {kind}, want a server refusal\n{out}"),
                want => assert_eq!(kind, want, "{call}\n{out}"),
            }
        }
    }
    assert_eq!(got.last().unwrap(), &("quit".to_string(), "ok".to_string()));

    // Nothing outside /out was read, and listings show only the jail.
    for canary in ["CANARY", "root:x:0:0"] {
        assert!(!out.contains(canary), "read from outside the jail:\n{out}");
    }
    assert_eq!(value_of(&out, "get /out/report.txt"), "6 bytes: report");
    for listing in [value_of(&out, "list-directory"), value_of(&out, "list-directory ..")] {
        let mut shown: Vec<&str> = listing.split_once(": ").map(|(_, n)| n.split(" | ").collect()).unwrap_or_default();
        shown.sort();
        assert_eq!(shown, ["in", "out"], "a listing of / shows names outside the jail: {listing}");
    }
    assert!(value_of(&out, "list-directory /out").contains("report.txt"));

    // The disk changed only under /in, by the one granted write.
    let after = snapshot(&server.root);
    let changed: Vec<&String> = before.keys().chain(after.keys()).filter(|k| before.get(*k) != after.get(*k)).collect();
    assert!(changed.iter().all(|k| k.starts_with("in/")), "changed outside /in: {changed:?}");
    assert_eq!(after.get("in/new.txt"), Some(&Some(b"x".to_vec())), "{changed:?}");
    assert_eq!(after.keys().filter(|k| k.starts_with("in/")).count(), 1, "leftovers in /in: {changed:?}");

    let entries = sandbox.audit.check(&[&server.password]);
    // No audited operation touched a path outside the jail.
    for e in &entries {
        if let Some(path) = &e.path {
            if e.outcome == "ok" {
                assert!(
                    path == "/" || path.starts_with("/out") || path.starts_with("/in"),
                    "audited success outside the jail: {e:?}"
                );
            }
        }
    }
    assert!(everything(&report).find(&server.password).is_none());
}

// ============================================================ resource attacks

/// A busy loop that never calls the host is stopped by the CPU limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_loop_is_stopped_by_the_cpu_limit() {
    let max_cpu = Duration::from_secs(1);
    let sandbox = Sandbox::new(Policy::new().with_limits(Limits { max_cpu, ..limits() }));
    let started = Instant::now();
    let result = sandbox.attempt(&["spin"]).await;
    let took = started.elapsed();
    assert!(matches!(&result, Err(RunError::Limit { limit: LimitKind::Cpu, .. })), "{result:?}");
    assert!(took >= max_cpu, "stopped after {took:?}, before its CPU limit");
    assert!(took < 2 * max_cpu, "stopped only after {took:?}, more than twice its CPU limit");
    assert_eq!(sandbox.audit.check(&[]).len(), 0);
}

/// Allocating 4 GiB is stopped by the memory limit (as a limit, not a
/// plugin bug); what fits the limit still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocating_4_gib_is_stopped_by_the_memory_limit() {
    let sandbox = Sandbox::new(Policy::new().with_limits(Limits { max_memory_bytes: 64 * MIB, ..limits() }));
    let started = Instant::now();
    let result = sandbox.attempt(&["alloc", "4096"]).await;
    assert!(matches!(&result, Err(RunError::Limit { limit: LimitKind::Memory, .. })), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let report = sandbox.run(&["alloc", "16"]).await;
    assert_eq!(report.result, Ok("allocated and touched 16 MiB".to_string()));
}

/// A run never sees what an earlier run left in its memory: instances come
/// from a pool whose slots keep their first dirty pages resident and are
/// reset in place (`host/src/runtime.rs`), so this checks that reset, both
/// for the pages kept and for the pages given back, and for memory grown
/// past the module's initial size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_never_sees_an_earlier_runs_memory() {
    let sandbox = Sandbox::new(Policy::new().with_limits(Limits { max_memory_bytes: 64 * MIB, ..limits() }));
    // 4 MiB: far more than the pages a slot keeps resident.
    let report = sandbox.run(&["plant", "2654435761", "4096"]).await;
    let planted = report.result.expect("plant runs");
    let (windows, found) = planted
        .strip_prefix("planted ")
        .and_then(|rest| rest.split_once(" windows, found "))
        .unwrap_or_else(|| panic!("unexpected plant result {planted:?}"));
    // The scan sees the marker where it is (so finding none below means something).
    assert_eq!(windows, found, "the planting run's own scan missed its marker");
    // Slots go back to the module that used them last, so these runs take
    // the planting run's slot (and the others' slots, if the pool picks them).
    for _ in 0..8 {
        let report = sandbox.run(&["scan", "2654435761", "8"]).await;
        assert_eq!(report.result, Ok("found 0".to_string()));
    }
}

/// Sessions past the cap are refused as `denied`, and never dialed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_past_the_cap_are_refused() {
    let server = HostileServer::start(Script::new());
    let policy = profile_policy("p", server.addr(), "pr0file-pw").with_limits(Limits { max_sessions: 2, ..limits() });
    let sandbox = Sandbox::new(policy);
    let report = sandbox.run(&["sessions", "5", "p"]).await;
    assert_eq!(report.result, Ok("opened 2 of 5".to_string()));
    let lines: Vec<String> = String::from_utf8_lossy(&report.stdout).lines().map(String::from).collect();
    assert_eq!(&lines[..2], ["ok", "ok"]);
    assert_eq!(lines.len(), 5);
    for line in &lines[2..] {
        assert!(line.starts_with("denied: ") && line.contains("sessions"), "{line}");
    }
    assert_eq!(server.control_connections(), 2, "a session past the cap was dialed");
    assert_eq!(server.commands().iter().filter(|c| c.starts_with("USER")).count(), 2);
    let entries = sandbox.audit.check(&["pr0file-pw"]);
    assert_eq!(entries.iter().filter(|e| e.operation == "connect").count(), 5, "{entries:?}");
    assert_eq!(entries.iter().filter(|e| e.outcome == "error").count(), 3, "{entries:?}");
}

/// A byte quota stops a streaming download mid-way, and an upload too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_quota_stops_a_transfer_mid_way() {
    let size = 8 * MIB;
    let server = HostileServer::start(Script::new().file("big.bin", &vec![7u8; size]));
    let quota = MIB as u64;
    let policy =
        profile_policy("p", server.addr(), "pr0file-pw").with_limits(Limits { max_run_bytes: Some(quota), ..limits() });
    let sandbox = Sandbox::new(policy);

    let report = sandbox.run(&["download-all", "p", "big.bin"]).await;
    assert_eq!(error_kind(&report), Some("too-large"), "{:?}", report.result);
    assert!(report.result.as_ref().unwrap_err().contains("quota"), "{:?}", report.result);
    let down = report.stats.bytes_downloaded;
    assert!(
        down > quota && down < 3 * quota,
        "downloaded {down} bytes with a {quota}-byte quota of an {size}-byte file"
    );

    let report = sandbox.run(&["upload-zeros", "p", "up.bin", "8"]).await;
    assert_eq!(error_kind(&report), Some("too-large"), "{:?}", report.result);
    let up = report.stats.bytes_uploaded;
    assert!(up <= 2 * quota, "uploaded {up} bytes with a {quota}-byte quota");
    // What reached the server (under any name, staged or not) stopped early too.
    server.wait_until(Duration::from_secs(2), |s| !s.commands().is_empty());
    let stored: usize = server.files().iter().filter(|(k, _)| *k != "big.bin").map(|(_, v)| v.len()).sum();
    assert!((stored as u64) <= 2 * quota, "{stored} bytes reached the server");

    let entries = sandbox.audit.check(&["pr0file-pw"]);
    assert!(
        entries.iter().any(|e| e.outcome == "error" && e.error.as_deref().unwrap().starts_with("too-large")),
        "{entries:?}"
    );
    let audited: f64 = entries.iter().filter(|e| e.operation == "finish download").map(|e| e.bytes).sum();
    assert!(audited < size as f64, "audited {audited} bytes downloaded");
}

/// The wall-clock deadline ends a run stuck on a server that never answers,
/// or that stalls a download, long before any network timeout would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wall_clock_deadline_ends_a_stalled_run() {
    let max_wall_clock = Duration::from_secs(1);
    for script in [Script::new().never_greet(), Script::new().file("big.bin", &[1u8; 10]).stall_retr_after(1000)] {
        let server = HostileServer::start(script);
        let limits = Limits {
            max_wall_clock,
            default_timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(30),
            ..limits()
        };
        let sandbox = Sandbox::new(profile_policy("p", server.addr(), "pr0file-pw").with_limits(limits));
        let started = Instant::now();
        let result = sandbox.attempt(&["download-all", "p", "big.bin"]).await;
        let took = started.elapsed();
        assert!(matches!(&result, Err(RunError::Limit { limit: LimitKind::WallClock, .. })), "{result:?}");
        assert!(took >= max_wall_clock && took < 2 * max_wall_clock, "stopped after {took:?}");
        assert_eq!(server.control_connections(), 1);
        sandbox.audit.check(&["pr0file-pw"]);
    }
}

/// A plugin that traps while others run concurrently on the same host ends
/// alone: the others finish, and the host keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_plugin_does_not_disturb_the_others() {
    let data: Vec<u8> = (0..2 * MIB).map(|i| (i % 251) as u8).collect();
    let server = HostileServer::start(Script::new().file("big.bin", &data));
    let sandbox = Sandbox::new(profile_policy("p", server.addr(), "pr0file-pw"));
    let run = |args: &'static [&'static str]| {
        let plugin = sandbox.plugin.clone();
        tokio::spawn(async move {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            plugin.run(&args, Output::Capture).await
        })
    };
    let normal: Vec<_> = (0..4).map(|_| run(&["download-all", "p", "big.bin"])).collect();
    let trap = run(&["trap"]);
    let trapped = trap.await.unwrap();
    assert!(matches!(&trapped, Err(RunError::Trap(_))), "{trapped:?}");
    for task in normal {
        let report = task.await.unwrap().expect("a concurrent run was disturbed");
        assert_eq!(report.result, Ok(format!("{} bytes", 2 * MIB)));
    }
    // The host is still fine.
    let report = sandbox.run(&["download-all", "p", "big.bin"]).await;
    assert_eq!(report.result, Ok(format!("{} bytes", 2 * MIB)));
    let entries = sandbox.audit.check(&["pr0file-pw"]);
    assert_eq!(
        entries.iter().filter(|e| e.operation == "finish download" && e.outcome == "ok").count(),
        5,
        "{entries:?}"
    );
}

// ============================================================ secret attacks

/// Paths a plugin might try to learn its profile's password through.
const NOSY_PATHS: [&str; 8] =
    [".", "/", "a.txt", "../../../proc/self/environ", "/proc/self/cmdline", "/etc/ftp-host.toml", "~", "$PASSWORD"];

/// A plugin given a profile cannot learn its password by any call: not in
/// a result, an error message, a listing or a file, on stdout or stderr.
/// (The server itself of course receives `PASS`: that is what a password is for.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_cannot_learn_its_profiles_password() {
    let secret = "pr0file-S3cret!";
    // The hostile server.
    let server = HostileServer::start(Script::new().file("a.txt", b"hello"));
    let sandbox = Sandbox::new(
        profile_policy("p", server.addr(), secret).allow(&format!("127.0.0.1:{}", server.port() ^ 1)).unwrap(),
    );
    let mut args = vec!["probe", "p"];
    args.extend(NOSY_PATHS);
    let report = sandbox.run(&args).await;
    assert!(report.result.is_ok(), "{:?}", report.result);
    assert!(!everything(&report).contains(secret), "the password reached the plugin:\n{}", everything(&report));
    assert!(server.commands().contains(&format!("PASS {secret}")), "the server did get it");
    // Asking for the profile's server with guest credentials, or another profile.
    let port = server.port().to_string();
    for args in [vec!["connect", "127.0.0.1", &port, "alice", ""], vec!["sessions", "1", "q"], vec!["probe", "P"]] {
        let report = sandbox.run(&args).await;
        assert!(!everything(&report).contains(secret), "{}", everything(&report));
    }
    sandbox.audit.check(&[secret]);

    // A real server, with the right password and with a wrong one.
    let real = FtpServer::proftpd(ServerOptions::plain()).unwrap_or_else(|e| panic!("proftpd did not start: {e:#}"));
    real.put_file("a.txt", b"hello").unwrap();
    let wrong = "wr0ng-S3cret?";
    let policy = Policy::new()
        .grant(Grant::profile(plain_profile("real", real.addr(), &real.user, &real.password)).unwrap())
        .grant(
            Grant::profile(plain_profile("wrong", SocketAddr::new(real.addr().ip(), real.port), &real.user, wrong))
                .unwrap(),
        )
        .with_limits(limits());
    let sandbox = Sandbox::new(policy);
    let mut args = vec!["probe", "real"];
    args.extend(NOSY_PATHS);
    let report = sandbox.run(&args).await;
    assert_eq!(value_of(&String::from_utf8_lossy(&report.stdout), "get a.txt"), "5 bytes: hello");
    assert!(!everything(&report).contains(&real.password), "the password reached the plugin:\n{}", everything(&report));
    let report = sandbox.run(&["probe", "wrong", "a.txt"]).await;
    assert_eq!(error_kind(&report), Some("auth"), "{:?}", report.result);
    assert!(!everything(&report).contains(wrong), "{}", everything(&report));
    sandbox.audit.check(&[&real.password, wrong]);
}

/// The audit log has one line per operation the plugin attempted, denials
/// included: a plugin probing its jail leaves a trace of every attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_denied_operation_is_audited() {
    let server = HostileServer::start(Script::new().file("out/a.txt", b"a").file("secret.txt", b"s"));
    let rules = PathRules::new(Some(&["/out/**".to_string()]), Some(&["/in/**".to_string()]), false).unwrap();
    let grant = Grant::profile(plain_profile("p", server.addr(), "alice", "pr0file-pw")).unwrap().with_paths(rules);
    let sandbox = Sandbox::new(Policy::new().grant(grant).with_limits(limits()));
    let report = sandbox.run(&["probe", "p", "/secret.txt", "../secret.txt", "/out/a.txt"]).await;
    let calls = calls(&report);
    let denied_calls = calls.iter().filter(|(_, k)| k == "denied").count();
    assert!(denied_calls >= 12, "{calls:?}");
    let entries = sandbox.audit.check(&["pr0file-pw"]);
    let denied_entries: Vec<&Entry> =
        entries.iter().filter(|e| e.error.as_deref().is_some_and(|m| m.starts_with("denied: "))).collect();
    assert_eq!(
        denied_entries.len(),
        denied_calls,
        "the plugin was denied {denied_calls} times, the audit log shows {}:\n{}",
        denied_entries.len(),
        sandbox.audit.text()
    );
    for e in &denied_entries {
        // The path as the plugin wrote it; the message names the normalised one.
        // (`/out/a.txt` is readable but not writable: the probe's `send` to it is denied too.)
        assert!(matches!(e.path.as_deref(), Some("/secret.txt") | Some("../secret.txt") | Some("/out/a.txt")), "{e:?}");
        let message = e.error.as_deref().unwrap();
        assert!(message.contains("`/secret.txt`") || message.contains("writing `/out/a.txt`"), "{e:?}");
    }
    // Every call but `pwd` (answered by the host alone) is in the log.
    let remote_calls = calls.iter().filter(|(c, _)| c != "pwd").count();
    assert!(
        entries.len() >= remote_calls,
        "{} calls, {} audit lines:\n{}",
        remote_calls,
        entries.len(),
        sandbox.audit.text()
    );
    assert!(entries.iter().all(|e| e.server == server.addr().to_string() || e.server.contains("`p`")), "{entries:?}");
}

// ================================================= what the host itself holds
// (issue 13, items 4-13: the host's own bookkeeping under a hostile plugin)

/// Every byte read from a data connection counts against the run, also the
/// bytes the host drains after the plugin drops a download unfinished; and
/// the drain stops at the run's byte quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_drained_from_an_abandoned_download_count() {
    let size = 4 * MIB;
    let server = HostileServer::start(Script::new().file("big.bin", &vec![3u8; size]));
    let sandbox = Sandbox::new(profile_policy("p", server.addr(), "pr0file-pw"));
    let report = sandbox.run(&["abandon", "p", "big.bin"]).await;
    assert!(report.result.is_ok(), "{:?}", report.result);
    // The plugin read one chunk; the host read (and drained) the whole file.
    assert_eq!(report.stats.bytes_downloaded, size as u64, "bytes read from the data connection went uncounted");

    let quota = MIB as u64 / 2;
    let policy =
        profile_policy("p", server.addr(), "pr0file-pw").with_limits(Limits { max_run_bytes: Some(quota), ..limits() });
    let report = Sandbox::new(policy).run(&["abandon", "p", "big.bin"]).await;
    assert!(report.limits_hit.contains(&LimitKind::RunBytes), "{:?}", report.limits_hit);
    let down = report.stats.bytes_downloaded;
    // One read-ahead chunk (1 MiB) may pass the quota before it is counted; the drain stops at it.
    assert!(down <= quota + MIB as u64, "{down} bytes read under a {quota}-byte quota");
}

/// Waiting on many transfers at once counts once: a plugin that polls 8
/// stalled downloads together until they time out, then busy-loops, is
/// stopped by its 1 s CPU limit about 1 s into the loop. (Summing the waits
/// would have credited it 8 x 2 s of waiting, i.e. 14 s more CPU.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_on_many_transfers_at_once_does_not_stretch_the_cpu_limit() {
    let server = HostileServer::start(Script::new().file("stall.bin", b"").stall_retr_after(0));
    let (timeout, max_cpu) = (Duration::from_secs(2), Duration::from_secs(1));
    let limits = Limits {
        max_cpu,
        default_timeout: timeout,
        max_timeout: timeout,
        max_sessions: 8,
        max_resources: 32,
        max_wall_clock: Duration::from_secs(60),
        ..limits()
    };
    let sandbox = Sandbox::new(profile_policy("p", server.addr(), "pr0file-pw").with_limits(limits));
    let started = Instant::now();
    let result = sandbox.attempt(&["stall-poll", "p", "stall.bin", "8"]).await;
    let took = started.elapsed();
    assert!(matches!(&result, Err(RunError::Limit { limit: LimitKind::Cpu, .. })), "{result:?}");
    assert!(took >= timeout + max_cpu, "stopped after {took:?}: before the stalled bodies timed out and 1 s of CPU");
    assert!(took < timeout + max_cpu + Duration::from_secs(3), "stopped only after {took:?}: waits were summed");
    assert_eq!(server.max_concurrent_control_connections(), 8);
}

/// A control connection holds its session slot until the last thing using
/// it is gone: with `sessions = 1`, a download kept after its session was
/// dropped still holds the slot, so the server never sees two control
/// connections at once; once the download is dropped too, the slot is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_holds_its_session_slot_after_the_session_is_dropped() {
    let server = HostileServer::start(Script::new().file("a.bin", &[5u8; 1024]));
    let policy = profile_policy("p", server.addr(), "pr0file-pw").with_limits(Limits { max_sessions: 1, ..limits() });
    let sandbox = Sandbox::new(policy);
    let report = sandbox.run(&["orphans", "p", "a.bin", "3"]).await;
    assert_eq!(report.result, Ok("held 1 downloads".to_string()));
    let out = String::from_utf8_lossy(&report.stdout).to_string();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..2], ["connect 0: ok", "open-get 0: ok"], "{out}");
    for line in &lines[2..4] {
        assert!(line.contains(": denied: ") && line.contains("sessions"), "{out}");
    }
    assert_eq!(lines[4..], ["connect after: ok"], "the slot was not given back with the download:\n{out}");
    assert_eq!(server.control_connections(), 2);
    assert_eq!(server.max_concurrent_control_connections(), 1, "the server saw two control connections at once");
}

/// A transfer finishes on the connection it was opened on: an upload opened
/// under profile `a`, whose session is then dropped and whose table slot a
/// read-only profile `b` takes, is still renamed into place on `a`'s
/// connection; `b`'s server never receives a write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_finishes_on_its_own_connection_never_on_a_later_session() {
    let (a, b) = (HostileServer::start(Script::new()), HostileServer::start(Script::new().file("x.txt", b"b")));
    let read_only = PathRules::new(None, None, true).unwrap();
    let policy = Policy::new()
        .grant(Grant::profile(plain_profile("a", a.addr(), "alice", "pw-a")).unwrap())
        .grant(Grant::profile(plain_profile("b", b.addr(), "bob", "pw-b")).unwrap().with_paths(read_only))
        .with_limits(limits());
    let sandbox = Sandbox::new(policy);
    let report = sandbox.run(&["cross-commit", "a", "up.txt", "b"]).await;
    let payload = b"written under profile a";
    assert_eq!(report.result, Ok(format!("{} bytes", payload.len())));
    for verb in ["STOR", "APPE", "RNFR", "RNTO", "DELE", "MKD", "RMD"] {
        assert!(!b.received(verb), "{verb} reached profile b's server: {:?}", b.commands());
    }
    assert!(a.received("RNFR") && a.received("RNTO"), "{:?}", a.commands());
    assert_eq!(a.files().into_iter().collect::<Vec<_>>(), [("up.txt".to_string(), payload.to_vec())]);
    assert_eq!(b.files().len(), 1);
    sandbox.audit.check(&["pw-a", "pw-b"]);
}

/// Byte `i` of the hostile guest's `upload-pattern` body.
fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

/// Upload writes are cancel-safe: a plugin that polls its upload body
/// together with an expired timer after every write, against a server that
/// reads slowly (so the host's flush is started, blocks on a full socket
/// and is dropped when the timer wins), still delivers every byte, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_polled_against_a_timer_arrives_whole() {
    let server = HostileServer::start(Script::new().slow_stor());
    let sandbox = Sandbox::new(profile_policy("p", server.addr(), "pr0file-pw"));
    let size = 16 * MIB;
    let kib = (size / 1024).to_string();
    let report = sandbox.run(&["upload-pattern", "p", "pattern.bin", &kib]).await;
    assert_eq!(report.result, Ok(format!("{size} bytes")));
    let expected: Vec<u8> = (0..size as u64).map(pattern).collect();
    let stored = server.files().remove("pattern.bin").expect("the upload reached the server");
    assert_eq!(stored.len(), size, "bytes were lost or duplicated");
    assert_eq!(sha256(&stored), sha256(&expected), "the upload arrived altered");
}

/// The temporary name of a staged upload passes the write rules like any
/// other path: when it would not, the upload is refused with a message that
/// says how to allow it, and nothing reaches the server; allowed, it works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staging_name_outside_the_write_rules_is_refused_and_nothing_is_written() {
    let server = HostileServer::start(Script::new());
    let grant = |write: &[&str]| {
        let write: Vec<String> = write.iter().map(|w| w.to_string()).collect();
        let rules = PathRules::new(None, Some(&write), false).unwrap();
        Grant::profile(plain_profile("p", server.addr(), "alice", "pr0file-pw")).unwrap().with_paths(rules)
    };
    let sandbox = Sandbox::new(Policy::new().grant(grant(&["/inbox/*.csv"])).with_limits(limits()));
    let report = sandbox.run(&["upload-zeros", "p", "/inbox/a.csv", "1"]).await;
    assert_eq!(error_kind(&report), Some("denied"), "{:?}", report.result);
    let message = report.result.as_ref().unwrap_err();
    assert!(message.contains("temporary name") && message.contains("staging = false"), "{message}");
    for verb in ["STOR", "APPE", "RNFR", "RNTO", "DELE"] {
        assert!(!server.received(verb), "{verb} reached the server: {:?}", server.commands());
    }
    assert!(server.files().is_empty(), "{:?}", server.files().keys());

    let sandbox = Sandbox::new(Policy::new().grant(grant(&["/inbox/*.csv", "/inbox/.*.part"])).with_limits(limits()));
    let report = sandbox.run(&["upload-zeros", "p", "/inbox/a.csv", "1"]).await;
    assert_eq!(report.result, Ok(format!("{MIB} bytes")));
    assert_eq!(server.files().keys().collect::<Vec<_>>(), ["inbox/a.csv"]);
}

/// Errors on profile sessions name the profile, never the server's address:
/// a missing file, a server that is down, one that never greets, and a
/// passive reply naming a port the host refuses to dial.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_on_profile_sessions_never_show_the_servers_address() {
    let up = HostileServer::start(Script::new().file("a.txt", b"a"));
    let mute = HostileServer::start(Script::new().never_greet());
    let bounce = HostileServer::start(Script::new().file("a.txt", b"a").pasv_to(SocketAddr::new(loopback(1), 21)));
    let down = {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.local_addr().unwrap()
    };
    let short = Limits { default_timeout: Duration::from_secs(1), max_timeout: Duration::from_secs(1), ..limits() };
    let policy = [("up", up.addr()), ("mute", mute.addr()), ("bounce", bounce.addr()), ("down", down)]
        .into_iter()
        .fold(Policy::new(), |policy, (name, addr)| {
            policy.grant(Grant::profile(plain_profile(name, addr, "alice", "pr0file-pw")).unwrap())
        })
        .with_limits(short);
    let sandbox = Sandbox::new(policy);
    let addresses: Vec<String> = [up.addr(), mute.addr(), bounce.addr(), down]
        .iter()
        .flat_map(|a| [a.to_string(), format!(":{}", a.port()), format!("|{}|", a.port())])
        .chain(["127.0.0.1".to_string(), "127,0,0,1".to_string()])
        .collect();
    for (args, kind) in [
        (&["probe", "up", "/missing.txt"][..], "not-found"),
        (&["probe", "down"][..], "connect"),
        (&["probe", "mute"][..], "timeout"),
        (&["probe", "bounce", "a.txt"][..], "denied"),
    ] {
        let report = sandbox.run(args).await;
        let seen = everything(&report);
        let profile = format!("profile `{}`", args[1]);
        assert!(seen.contains(&format!("{kind}: ")), "{args:?}: no {kind} error in:\n{seen}");
        assert!(seen.contains(&profile), "{args:?}: the errors do not name the {profile}:\n{seen}");
        for address in &addresses {
            assert!(!seen.contains(address.as_str()), "{args:?}: the plugin saw {address}:\n{seen}");
        }
    }
    // The operator's audit log keeps the real addresses.
    let entries = sandbox.audit.check(&["pr0file-pw"]);
    assert!(entries.iter().any(|e| e.server == down.to_string()), "{entries:?}");
}

/// Guest strings are cut in the audit log: a 1 MiB host name or path (of
/// control characters, which JSON escapes six-fold) makes audit lines of a
/// few KiB, each marked as cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn giant_guest_strings_are_cut_in_the_audit_log() {
    let server = HostileServer::start(Script::new());
    let sandbox = Sandbox::new(profile_policy("p", server.addr(), "pr0file-pw"));
    let giant = "\u{1}".repeat(MIB);
    let port = server.port().to_string();
    sandbox.attempt(&["connect", &giant, &port, "alice", "pw"]).await.expect("the run ends normally");
    sandbox.attempt(&["probe", "p", &giant]).await.expect("the run ends normally");
    let entries = sandbox.audit.check(&["pr0file-pw"]);
    let text = sandbox.audit.text();
    let longest = text.lines().map(str::len).max().unwrap_or(0);
    // Three guest fields (server, path, error) of at most 1 KiB, each escaped at most 6x.
    assert!(longest < 3 * 6 * 1024 + 1024, "an audit line of {longest} bytes");
    let cut = entries
        .iter()
        .filter(|e| {
            [Some(&e.server), e.path.as_ref(), e.error.as_ref()].into_iter().flatten().any(|f| f.ends_with("…[cut]"))
        })
        .count();
    assert!(cut >= 2, "no audit line was marked as cut:\n{text}");
    assert!(!server.commands().iter().any(|c| c.contains('\u{1}')), "a giant string reached the server");
}
