//! Faults, end to end (issue 8): what the host does when the network or the
//! server goes wrong.
//!
//! * A real server (proftpd, vsftpd; plain and explicit FTPS) is killed in the
//!   middle of a 200 MiB download or upload: the guest gets a `connect`, `io`
//!   or `timeout` error promptly, nothing half-written appears under the final
//!   local name, and after a restart the transfer resumes (`--resume`) to a
//!   file with the right SHA-256. An upload started with `--resume` writes in
//!   place and resumes from what the server stored; a plain (replacing)
//!   upload goes to a temporary name, so the old file stays whole.
//! * Every network wait has a deadline: a server that never greets, one that
//!   goes silent after its greeting, one that stalls a download, one that
//!   never acknowledges an upload: each run ends with `timeout` within its
//!   deadline, while normal runs in the same process go on meanwhile.
//! * Hostile replies (a 1 MiB line, an unknown code, an endless multi-line
//!   reply, a garbage listing, a PASV reply with bad numbers or port 0,
//!   plaintext where a TLS handshake should be) map to typed errors and leave
//!   the host working.
//! * A short soak (the `soak` binary, in a child process so that its RSS is
//!   its own): 100 runs, RSS within +10% after 20 warm-up runs.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ftp_host::demo::{DemoServer, DEMO_USER};
use ftp_host::{Cache, DirGrant, Grant, Host, Limits, Output, Plugin, Policy, RunReport, Trust};
use ftp_host_e2e::harness::{error_kind, hostile_guest, plain_profile, rust_guest, sha256, stdout, Target};
use ftp_host_e2e::hostile_server::{Act, HostileServer, Script, When};
use ftp_host_e2e::servers::{FtpServer, ServerKind, ServerOptions, Tls};

// ------------------------------------------------------------------ helpers

/// Compiled plugins, shared by every host of this test process (and kept
/// between runs of it): compiling the guests once per run would dominate.
fn cache() -> Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            Cache::open(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("faults-plugin-cache"))
                .expect("plugin cache opens")
        })
        .clone()
}

/// Load `guest` in a host enforcing `policy`.
fn load(guest: &[u8], policy: Policy) -> Plugin {
    Host::new(policy).expect("host starts").with_cache(cache()).load(guest).expect("guest loads")
}

/// Run `plugin` once, capturing its output. A trap (or a host panic, which
/// unwinds through here) fails the test.
async fn run_plugin(plugin: &Plugin, args: Vec<String>) -> RunReport {
    let report = plugin.run(&args, Output::Capture).await.expect("guest runs without trapping");
    eprintln!(
        "--- guest {:?}\n--- result: {:?} ({:?})\n--- stdout:\n{}--- stderr:\n{}",
        args.iter().rev().take(4).rev().collect::<Vec<_>>(),
        report.result,
        report.duration,
        String::from_utf8_lossy(&report.stdout).chars().take(2000).collect::<String>(),
        String::from_utf8_lossy(&report.stderr)
    );
    report
}

async fn run(guest: &[u8], policy: Policy, args: Vec<String>) -> RunReport {
    run_plugin(&load(guest, policy), args).await
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The big transfers run one at a time: each keeps a core busy, and the
/// moment the server is killed must not depend on how loaded the machine is.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Size of the transfers interrupted by a server kill.
const BIG: usize = 200 * 1024 * 1024;
/// The server is killed once this many bytes have arrived.
const KILL_AT: u64 = 24 * 1024 * 1024;

struct Big {
    data: Vec<u8>,
    sha256: String,
}

/// 200 MiB of patterned bytes (not zeros: a misplaced chunk changes the checksum).
fn big() -> &'static Big {
    static BIG_FILE: OnceLock<Big> = OnceLock::new();
    BIG_FILE.get_or_init(|| {
        let mut data = vec![0u8; BIG];
        for (i, chunk) in data.chunks_mut(4096).enumerate() {
            chunk.fill((i % 253) as u8);
            chunk[..8].copy_from_slice(&(i as u64).to_le_bytes());
        }
        let sha256 = sha256(&data);
        Big { data, sha256 }
    })
}

fn security(tls: Tls) -> &'static str {
    match tls {
        Tls::None => "none",
        Tls::Explicit => "explicit",
        Tls::Implicit => "implicit",
    }
}

fn start(kind: ServerKind, tls: Tls) -> FtpServer {
    FtpServer::start(kind, ServerOptions::new(tls)).unwrap_or_else(|e| panic!("{kind} did not start: {e:#}"))
}

/// The server, with its certificate trusted, and `local` granted as `/local`.
fn policy_with_dir(server: &FtpServer, local: &Path) -> Policy {
    let t = Target::of(server, security(server.tls));
    let policy = match server.tls {
        Tls::None => t.policy(),
        _ => t.policy_trusting(Trust::from_pem_file(&server.cert_pem).unwrap()),
    };
    policy.with_dir(DirGrant { host: local.to_path_buf(), guest: "/local".into(), read_only: false })
}

/// The guest's arguments for `server` (address, log-in, security) with a
/// 10 s deadline per operation, then `command`.
fn guest_args(server: &FtpServer, command: &[&str]) -> Vec<String> {
    let mut args = vec!["--timeout-ms", "10000"];
    args.extend_from_slice(command);
    Target::of(server, security(server.tls)).args(&args)
}

fn size_of(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The host's temporary names for a replacement of `name` (`.NAME.ftp-host-*.part`) in `dir`.
fn staged_copies(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let prefix = format!(".{name}.ftp-host-");
    let mut found: Vec<_> =
        std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    found.retain(|p: &std::path::PathBuf| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&prefix)));
    found
}

/// Kill `server` (SIGKILL to it and its sessions) from a watcher thread as
/// soon as `size(&server)` reaches `bytes`, polling every millisecond: an
/// OS thread, so the moment does not depend on the test's runtime. Returns
/// the server, stopped, and the size seen (less than `bytes` only if the
/// watch gave up after a minute, the server still running).
fn kill_when(
    mut server: FtpServer,
    bytes: u64,
    size: impl Fn(&FtpServer) -> u64 + Send + 'static,
) -> std::thread::JoinHandle<(FtpServer, u64)> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let seen = size(&server);
            if seen >= bytes {
                server.stop();
                return (server, seen);
            }
            if Instant::now() >= deadline {
                return (server, seen);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    })
}

/// Run `plugin` with `args` in a task and kill the server when `size`
/// reaches [`KILL_AT`]. Returns the report, the stopped server, the size
/// seen at the kill, and how long after the kill the run ended.
async fn run_and_kill(
    plugin: Plugin,
    args: Vec<String>,
    server: FtpServer,
    what: &str,
    size: impl Fn(&FtpServer) -> u64 + Send + 'static,
) -> (RunReport, FtpServer, u64, Duration) {
    let task = tokio::spawn(async move { run_plugin(&plugin, args).await });
    let watcher = kill_when(server, KILL_AT, size);
    let (server, seen) =
        tokio::task::spawn_blocking(move || watcher.join().expect("the watcher does not panic")).await.unwrap();
    assert!(seen >= KILL_AT, "{what}: the transfer never reached {KILL_AT} bytes (stuck at {seen})");
    let killed = Instant::now();
    let report = task.await.expect("the run task does not panic");
    let noticed = killed.elapsed();
    eprintln!("{what}: killed at {seen} bytes; the guest saw it after {noticed:?}: {:?}", report.result);
    if report.result.is_ok() {
        panic!("{what}: the transfer completed before the server was killed (at {seen} bytes): {:?}", report.result);
    }
    (report, server, seen, noticed)
}

/// Whether `prefix` is the start of the big file.
fn is_prefix_of_big(prefix: &[u8]) -> bool {
    prefix.len() <= BIG && big().data[..prefix.len()] == *prefix
}

/// Move everything in a stopped server's root to a new server's root: the
/// new server serves the same files, as the old one restarted would. (The
/// fixture gives every server a fresh root.)
fn carry_over(from: &FtpServer, to: &FtpServer) {
    for entry in std::fs::read_dir(&from.root).unwrap() {
        let entry = entry.unwrap();
        std::fs::rename(entry.path(), to.root.join(entry.file_name())).unwrap();
    }
    to.fix_ownership().unwrap();
}

fn assert_fault_kind(report: &RunReport, what: &str) {
    let kind = error_kind(report);
    assert!(
        matches!(kind, Some("connect" | "io" | "timeout")),
        "{what}: a killed server must be a connect, io or timeout error, got {kind:?}: {:?}",
        report.result
    );
}

// ------------------------------------------------- a real server killed mid-transfer

/// Download 200 MiB, kill the server after [`KILL_AT`] bytes, check what is
/// left locally, restart the server and resume.
async fn killed_download(kind: ServerKind, tls: Tls, resume_first: bool) {
    let _heavy = HEAVY.lock().await;
    let started = Instant::now();
    let big = big();
    let what = format!("{kind} {} download{}", security(tls), if resume_first { " --resume" } else { "" });
    let server = start(kind, tls);
    server.put_file("big.bin", &big.data).unwrap();
    let local = tempfile::tempdir().unwrap();
    let (part, done) = (local.path().join("big.bin.part"), local.path().join("big.bin"));

    let mut command = vec!["download", "big.bin", "/local/big.bin"];
    if resume_first {
        command.push("--resume");
    }
    let plugin = load(rust_guest(), policy_with_dir(&server, local.path()));
    let args = guest_args(&server, &command);
    let watched = part.clone();
    let (report, server, seen, noticed) = run_and_kill(plugin, args, server, &what, move |_| size_of(&watched)).await;

    assert_fault_kind(&report, &what);
    // A dead server closes its sockets: no waiting for the 10 s deadline.
    assert!(noticed < Duration::from_secs(5), "{what}: the failure took {noticed:?} to notice");
    assert!(!done.exists(), "{what}: a half-written file is at the final name");
    let kept = if resume_first {
        let partial = std::fs::read(&part).unwrap_or_else(|e| panic!("{what}: --resume keeps the .part file: {e}"));
        assert!(partial.len() as u64 >= seen && partial.len() < BIG, "{what}: .part has {} bytes", partial.len());
        assert!(is_prefix_of_big(&partial), "{what}: the .part file is not a prefix of the remote file");
        partial.len() as u64
    } else {
        assert!(!part.exists(), "{what}: without --resume the .part file is removed");
        0
    };

    // The server comes back, with the same file.
    let server2 = start(kind, tls);
    carry_over(&server, &server2);
    drop(server);
    let args = guest_args(&server2, &["download", "big.bin", "/local/big.bin", "--resume"]);
    let report = run(rust_guest(), policy_with_dir(&server2, local.path()), args).await;
    assert!(report.result.is_ok(), "{what}: resume failed: {:?}\n{}", report.result, server2.log());
    assert!(!part.exists(), "{what}: the .part file is renamed once complete");
    assert_eq!(sha256(&std::fs::read(&done).unwrap()), big.sha256, "{what}: SHA-256 of the resumed download");
    assert_eq!(report.stats.bytes_downloaded, BIG as u64 - kept, "{what}: only the missing bytes cross the network");
    eprintln!("{what}: ok in {:?}", started.elapsed());
}

/// Upload 200 MiB with `upload --resume` (written in place: the remote file
/// does not exist yet, so from offset 0), kill the server once it stored
/// [`KILL_AT`] bytes, restart it with what it stored and resume with
/// `upload --resume`.
async fn killed_resumable_upload(kind: ServerKind, tls: Tls) {
    let _heavy = HEAVY.lock().await;
    let started = Instant::now();
    let big = big();
    let what = format!("{kind} {} upload --resume", security(tls));
    let server = start(kind, tls);
    let local = tempfile::tempdir().unwrap();
    std::fs::write(local.path().join("big.bin"), &big.data).unwrap();

    let plugin = load(rust_guest(), policy_with_dir(&server, local.path()));
    let args = guest_args(&server, &["upload", "/local/big.bin", "big.bin", "--resume"]);
    let (report, server, seen, noticed) =
        run_and_kill(plugin, args, server, &what, |s| size_of(&s.path("big.bin"))).await;

    assert_fault_kind(&report, &what);
    assert!(noticed < Duration::from_secs(5), "{what}: the failure took {noticed:?} to notice");
    let partial = std::fs::read(server.path("big.bin")).unwrap();
    assert!(partial.len() as u64 >= seen && partial.len() < BIG, "{what}: the server stored {} bytes", partial.len());
    assert!(is_prefix_of_big(&partial), "{what}: what the server stored is not a prefix of the file");
    let kept = partial.len() as u64;
    drop(partial);

    let server2 = start(kind, tls);
    carry_over(&server, &server2);
    drop(server);
    let args = guest_args(&server2, &["upload", "/local/big.bin", "big.bin", "--resume"]);
    let report = run(rust_guest(), policy_with_dir(&server2, local.path()), args).await;
    assert!(report.result.is_ok(), "{what}: resume failed: {:?}\n{}", report.result, server2.log());
    assert!(report.result.as_ref().unwrap().contains(&format!("from offset {kept}")), "{:?}", report.result);
    assert_eq!(sha256(&std::fs::read(server2.path("big.bin")).unwrap()), big.sha256, "{what}: SHA-256 on the server");
    assert_eq!(report.stats.bytes_uploaded, BIG as u64 - kept, "{what}: only the missing bytes cross the network");
    eprintln!("{what}: ok in {:?}", started.elapsed());
}

/// A plain `upload` replaces the remote file atomically (a temporary name,
/// renamed once complete): killed mid-way, the server still has the old,
/// complete file under the final name, and the part sent stays under the
/// temporary name (nobody is left to remove it). Restarted, the upload is
/// sent again whole.
async fn killed_replacing_upload(kind: ServerKind, tls: Tls) {
    let _heavy = HEAVY.lock().await;
    let started = Instant::now();
    let big = big();
    let what = format!("{kind} {} upload (replacing)", security(tls));
    let server = start(kind, tls);
    let old = b"the old, complete file".to_vec();
    server.put_file("big.bin", &old).unwrap();
    let local = tempfile::tempdir().unwrap();
    std::fs::write(local.path().join("big.bin"), &big.data).unwrap();

    let plugin = load(rust_guest(), policy_with_dir(&server, local.path()));
    let args = guest_args(&server, &["upload", "/local/big.bin", "big.bin"]);
    let (report, server, seen, noticed) = run_and_kill(plugin, args, server, &what, |s| {
        staged_copies(&s.root, "big.bin").iter().map(|p| size_of(p)).max().unwrap_or(0)
    })
    .await;

    assert_fault_kind(&report, &what);
    assert!(noticed < Duration::from_secs(5), "{what}: the failure took {noticed:?} to notice");
    assert_eq!(std::fs::read(server.path("big.bin")).unwrap(), old, "{what}: the final name still has the old file");
    let orphans = staged_copies(&server.root, "big.bin");
    for orphan in &orphans {
        // Whatever was stored is a prefix of the new file; nobody was left to remove it.
        assert!(is_prefix_of_big(&std::fs::read(orphan).unwrap()), "{what}: {} is not a prefix", orphan.display());
    }
    eprintln!("{what}: killed at {seen} bytes; left on the server: {orphans:?}");

    let server2 = start(kind, tls);
    carry_over(&server, &server2);
    drop(server);
    // What was sent sits under a temporary name: nothing to resume from
    // (and `--resume` would append to the old file). The upload starts over.
    let args = guest_args(&server2, &["upload", "/local/big.bin", "big.bin"]);
    let report = run(rust_guest(), policy_with_dir(&server2, local.path()), args).await;
    assert!(report.result.is_ok(), "{what}: the second upload failed: {:?}\n{}", report.result, server2.log());
    assert_eq!(sha256(&std::fs::read(server2.path("big.bin")).unwrap()), big.sha256, "{what}: SHA-256 on the server");
    assert_eq!(report.stats.bytes_uploaded, BIG as u64);
    eprintln!("{what}: ok in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proftpd_killed_during_a_plain_download_leaves_no_partial_file() {
    killed_download(ServerKind::Proftpd, Tls::None, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proftpd_killed_during_a_plain_download_resumes() {
    killed_download(ServerKind::Proftpd, Tls::None, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proftpd_killed_during_an_explicit_ftps_download_resumes() {
    killed_download(ServerKind::Proftpd, Tls::Explicit, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_killed_during_a_plain_download_resumes() {
    killed_download(ServerKind::Vsftpd, Tls::None, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_killed_during_an_explicit_ftps_download_leaves_no_partial_file() {
    killed_download(ServerKind::Vsftpd, Tls::Explicit, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_killed_during_an_explicit_ftps_download_resumes() {
    killed_download(ServerKind::Vsftpd, Tls::Explicit, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proftpd_killed_during_a_plain_upload_resumes() {
    killed_resumable_upload(ServerKind::Proftpd, Tls::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proftpd_killed_during_an_explicit_ftps_upload_resumes() {
    killed_resumable_upload(ServerKind::Proftpd, Tls::Explicit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_killed_during_a_plain_upload_resumes() {
    killed_resumable_upload(ServerKind::Vsftpd, Tls::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_killed_during_an_explicit_ftps_upload_resumes() {
    killed_resumable_upload(ServerKind::Vsftpd, Tls::Explicit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proftpd_killed_during_a_plain_replacing_upload_keeps_the_old_file() {
    killed_replacing_upload(ServerKind::Proftpd, Tls::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_killed_during_an_explicit_ftps_replacing_upload_keeps_the_old_file() {
    killed_replacing_upload(ServerKind::Vsftpd, Tls::Explicit).await;
}

// ------------------------------------------------------------------ deadlines

const DEMO_PASSWORD: &str = "faults-pw";

/// The embedded server, seeded with the demo files.
async fn embedded() -> (tempfile::TempDir, DemoServer, Target) {
    let dir = tempfile::tempdir().unwrap();
    ftp_host::demo::seed(dir.path()).unwrap();
    let server = DemoServer::start(dir.path(), DEMO_PASSWORD).await.unwrap();
    let target = Target::plain(server.addr(), DEMO_USER, DEMO_PASSWORD);
    (dir, server, target)
}

/// A profile named `name` for a hostile server (plain FTP, any credentials).
fn profile(name: &str, server: &HostileServer) -> Grant {
    Grant::profile(plain_profile(name, server.addr(), "alice", "pw")).unwrap()
}

/// A normal run through `plugin` against the embedded server: list, get, send.
async fn normal_run(plugin: &Plugin, t: &Target, dir: &Path, n: usize) -> Duration {
    let name = format!("normal-{n}.txt");
    let report =
        run_plugin(plugin, t.args(&["ls", ";", "sha256", "readme.txt", ";", "put", &name, "still here"])).await;
    assert!(report.result.is_ok(), "a normal run failed: {:?}", report.result);
    let readme = std::fs::read(dir.join("readme.txt")).unwrap();
    assert!(stdout(&report).contains(&sha256(&readme)), "{}", stdout(&report));
    assert_eq!(std::fs::read(dir.join(&name)).unwrap(), b"still here");
    report.duration
}

/// The guest's deadline for the stalled runs, and the operator's default.
const STALL_TIMEOUT: Duration = Duration::from_millis(1500);

/// Servers that stop answering at every stage, each against both guests
/// (the example guest asks for `--timeout-ms`; the hostile guest asks for
/// none and gets the operator's `default_timeout`), all at once on a
/// two-thread runtime: every run ends with `timeout` within its deadline,
/// and normal runs against the embedded server complete meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_network_wait_has_a_deadline_and_blocks_no_one_else() {
    let never_greets = HostileServer::start(Script::new().never_greet());
    let silent = HostileServer::start(Script::new().silent_after_greeting());
    let stalls_retr =
        HostileServer::start(Script::new().file("big.bin", &vec![5u8; 4 << 20]).stall_retr_after(64 * 1024));
    let stalls_stor = HostileServer::start(Script::new().stall_stor());
    let (demo_dir, _demo, demo) = embedded().await;
    let local = tempfile::tempdir().unwrap();

    let limits = Limits { default_timeout: STALL_TIMEOUT, ..Limits::default() };
    let policy = Policy::new()
        .allow("127.0.0.1:*")
        .unwrap()
        .grant(profile("never-greets", &never_greets))
        .grant(profile("stalls-retr", &stalls_retr))
        .grant(profile("stalls-stor", &stalls_stor))
        .with_dir(DirGrant { host: local.path().to_path_buf(), guest: "/local".into(), read_only: false })
        .with_limits(limits);
    let example = load(rust_guest(), policy.clone());
    let hostile = load(hostile_guest(), policy);
    // Warm up (first instantiation, first connection) before timing anything.
    normal_run(&example, &demo, demo_dir.path(), 0).await;

    let ms = STALL_TIMEOUT.as_millis().to_string();
    let as_guest = |server: &HostileServer, command: &[&str]| {
        let mut args = strings(&["--timeout-ms", &ms]);
        args.extend(Target::plain(server.addr(), "alice", "pw").args(command));
        args
    };
    let stalled: Vec<(&str, &Plugin, Vec<String>)> = vec![
        ("never greets (guest deadline)", &example, as_guest(&never_greets, &["ls"])),
        (
            "never greets (operator default)",
            &hostile,
            strings(&["connect", "127.0.0.1", &never_greets.port().to_string(), "alice", "pw"]),
        ),
        ("silent after greeting", &example, as_guest(&silent, &["ls"])),
        (
            "stalls a download (guest deadline)",
            &example,
            as_guest(&stalls_retr, &["download", "big.bin", "/local/stalled.bin"]),
        ),
        ("stalls a download (operator default)", &hostile, strings(&["download-all", "stalls-retr", "big.bin"])),
        (
            "never acknowledges an upload (guest deadline)",
            &example,
            as_guest(&stalls_stor, &["put", "up.txt", "hello"]),
        ),
        (
            "never acknowledges an upload (operator default)",
            &hostile,
            strings(&["upload-zeros", "stalls-stor", "z.bin", "64"]),
        ),
    ];
    let began = Instant::now();
    let tasks: Vec<_> = stalled
        .into_iter()
        .map(|(what, plugin, args)| {
            let plugin = plugin.clone();
            (what, tokio::spawn(async move { run_plugin(&plugin, args).await }))
        })
        .collect();

    // Meanwhile: normal runs, on the same two threads, each fast.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for n in 1..=3 {
        let took = normal_run(&example, &demo, demo_dir.path(), n).await;
        assert!(took < Duration::from_secs(1), "a normal run took {took:?} while others waited on stalled servers");
    }
    let meanwhile = began.elapsed();
    let pending: Vec<&str> = tasks.iter().filter(|(_, t)| !t.is_finished()).map(|(what, _)| *what).collect();
    assert_eq!(pending.len(), tasks.len(), "the normal runs did not overlap the stalled ones ({meanwhile:?})");

    // Every stalled run ends with `timeout`, after its deadline and within
    // it plus a second (connecting, instantiating): one deadline per run,
    // not one per step it tries after the first timed out.
    let mut failures = Vec::new();
    for (what, task) in tasks {
        let report = task.await.expect("the run task does not panic");
        let elapsed = began.elapsed();
        eprintln!("{what}: {:?} after {elapsed:?}", error_kind(&report));
        assert_eq!(error_kind(&report), Some("timeout"), "{what}: {:?}", report.result);
        assert!(elapsed >= STALL_TIMEOUT, "{what}: gave up after {elapsed:?}, before its deadline");
        assert!(elapsed < Duration::from_secs(5), "{what}: took {elapsed:?}");
        assert!(
            report.result.as_ref().unwrap_err().contains(&format!("within {ms} ms")),
            "{what}: says which deadline passed: {:?}",
            report.result
        );
        if elapsed > STALL_TIMEOUT + Duration::from_secs(1) {
            failures.push(format!("{what}: `timeout` only after {elapsed:?}, for a deadline of {STALL_TIMEOUT:?}"));
        }
    }
    assert!(
        !local.path().join("stalled.bin").exists() && !local.path().join("stalled.bin.part").exists(),
        "a stalled download leaves nothing"
    );
    // The servers saw what the guests did: a STOR that was never acknowledged.
    assert!(stalls_stor.received("STOR"));
    assert!(stalls_retr.received("RETR"));
    normal_run(&example, &demo, demo_dir.path(), 4).await;
    assert!(
        failures.is_empty(),
        "runs waited longer than their deadline:\n{}\n(commands the never-acknowledging server got after STOR: {:?})",
        failures.join("\n"),
        stalls_stor.commands().iter().skip_while(|c| !c.starts_with("STOR")).collect::<Vec<_>>()
    );
}

// ----------------------------------------------------------- hostile replies

/// Hostile replies map to typed errors, never a panic or a trap, and the
/// host works normally afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_replies_are_typed_errors_and_leave_the_host_working() {
    let (demo_dir, _demo, demo) = embedded().await;
    let limits = Limits { default_timeout: Duration::from_secs(5), ..Limits::default() };
    let policy = Policy::new().allow("127.0.0.1:*").unwrap().with_limits(limits);
    let example = load(rust_guest(), policy.clone());
    let hostile = load(hostile_guest(), policy);
    let port0: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();

    // (what, script, plugin: example `ls` or hostile `connect ... explicit`, expected kind, text the message must contain)
    let cases: Vec<(&str, Script, bool, &str, &str)> = vec![
        ("a 1 MiB greeting line", Script::new().huge_reply_line(1 << 20), false, "protocol", "connect"),
        (
            "a 1 MiB reply line to NLST",
            Script::new().at(When::command("NLST"), Act::HugeLine(1 << 20)),
            false,
            "protocol",
            "listing",
        ),
        ("an unknown reply code", Script::new().unknown_code(), false, "protocol", "999"),
        (
            // The server lists EPSV in FEAT, so the host asks for EPSV, not PASV.
            "an unknown reply code to EPSV",
            Script::new().at(When::command("EPSV"), Act::UnknownCode),
            false,
            "protocol",
            "999",
        ),
        ("a never-ending multi-line greeting", Script::new().endless_multiline(), false, "protocol", "connect"),
        (
            "a never-ending multi-line reply to NLST",
            Script::new().at(When::command("NLST"), Act::EndlessMultiline),
            false,
            "protocol",
            "listing",
        ),
        ("a PASV reply with out-of-range numbers", Script::new().pasv_garbage(), false, "protocol", "listing"),
        ("a PASV reply naming port 0", Script::new().pasv_to(port0), false, "denied", "port 0"),
        ("plaintext instead of a TLS handshake", Script::new().plaintext_on_auth_tls(), true, "tls", "TLS"),
    ];
    let mut failures = Vec::new();
    for (what, script, tls, expected, mentions) in cases {
        let server = HostileServer::start(script);
        let args = if tls {
            strings(&["connect", "127.0.0.1", &server.port().to_string(), "alice", "pw", "explicit"])
        } else {
            strings(&["--timeout-ms", "5000"])
                .into_iter()
                .chain(Target::plain(server.addr(), "alice", "pw").args(&["ls"]))
                .collect()
        };
        let report = run_plugin(if tls { &hostile } else { &example }, args).await;
        let kind = error_kind(&report);
        let message = report.result.clone().err().unwrap_or_default();
        eprintln!("{what}: {kind:?}, after {:?}: {}", report.duration, message.chars().take(300).collect::<String>());
        if kind != Some(expected) || !message.contains(mentions) {
            failures.push(format!("{what}: expected `{expected}` mentioning {mentions:?}, got {:?}", report.result));
        }
        assert!(report.duration < Duration::from_secs(5), "{what}: took {:?}", report.duration);
        assert!(message.len() < 4096, "{what}: the error carries {} bytes of the server's reply", message.len());
    }

    // A garbage listing (invalid UTF-8, NUL, bare CR, a 64 KiB name, `../`):
    // the 64 KiB line passes the host's per-line cap, so the listing stops
    // there with `too-large` rather than being buffered.
    let server = HostileServer::start(Script::new().file("a.txt", b"x").garbage_listing());
    let report = run_plugin(&example, Target::plain(server.addr(), "alice", "pw").args(&["ls"])).await;
    if error_kind(&report) != Some("too-large") || !report.result.as_ref().unwrap_err().contains("line") {
        failures.push(format!("a garbage listing: expected too-large for its 64 KiB line, got {:?}", report.result));
    }

    // The host still works.
    normal_run(&example, &demo, demo_dir.path(), 0).await;
    assert!(failures.is_empty(), "hostile replies mapped to the wrong error kinds:\n{}", failures.join("\n"));
}

// ----------------------------------------------------------------------- soak

/// The soak binary, short: 100 sequential runs in one process, RSS within
/// +10% after 20 warm-up runs, then 16 at once. In a child process, so the
/// RSS measured is the soak's alone (tests share this process).
#[test]
fn a_short_soak_keeps_its_memory() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_soak"))
        .args(["--runs", "100", "--warmup", "20", "--concurrent", "16"])
        .output()
        .expect("the soak binary starts");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "soak failed ({}):\n{text}", out.status);
    assert!(text.contains("RSS growth"), "{text}");
}
