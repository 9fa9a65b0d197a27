//! Streaming transfers end to end: the Rust guest has the host move files
//! between local files (a granted directory) and FTP connections
//! (`save-to`/`send-from`), splices them, or copies them through its
//! memory, through every security mode, and resumes, appends and abandons
//! transfers.

use std::path::Path;

use ftp_host::{DirGrant, Grant, Limits, Policy, Trust};
use ftp_host_e2e::harness::{blob, error_kind, hostile_guest, plain_profile, run, rust_guest, sha256, stdout, Target};
use ftp_host_e2e::servers::{FtpServer, ServerKind, ServerOptions, Tls};

/// Size of the large round trip: big enough that anything buffering whole
/// files would show, small enough for CI.
const LARGE: usize = 256 * 1024 * 1024;

fn large_file(path: &Path) -> String {
    // Patterned, not zeros: a misplaced chunk changes the checksum.
    let mut data = vec![0u8; LARGE];
    for (i, chunk) in data.chunks_mut(4096).enumerate() {
        chunk.fill((i % 251) as u8);
        chunk[..8].copy_from_slice(&(i as u64).to_le_bytes());
    }
    std::fs::write(path, &data).unwrap();
    sha256(&data)
}

fn with_dir(policy: Policy, local: &Path) -> Policy {
    policy.with_dir(DirGrant { host: local.to_path_buf(), guest: "/local".into(), read_only: false })
}

fn policy_for(server: &FtpServer, t: &Target) -> Policy {
    match t.security {
        "none" => t.policy(),
        _ => t.policy_trusting(Trust::from_pem_file(&server.cert_pem).unwrap()),
    }
}

async fn large_round_trip(tls: Tls, security: &'static str) {
    let server = FtpServer::start(ServerKind::Proftpd, ServerOptions::new(tls)).unwrap();
    let local = tempfile::tempdir().unwrap();
    let expected = large_file(&server.root.join("large.bin"));
    server.fix_ownership().unwrap();
    let t = Target::of(&server, security);

    let report = run(
        rust_guest(),
        with_dir(policy_for(&server, &t), local.path()),
        t.args(&["download", "large.bin", "/local/large.bin"]),
    )
    .await;
    assert!(report.result.is_ok(), "{:?}\n{}", report.result, server.log());
    assert_eq!(sha256(&std::fs::read(local.path().join("large.bin")).unwrap()), expected);
    assert!(!local.path().join("large.bin.part").exists());
    assert_eq!(report.stats.bytes_downloaded, LARGE as u64);

    let report = run(
        rust_guest(),
        with_dir(policy_for(&server, &t), local.path()),
        t.args(&["upload", "/local/large.bin", "copy.bin"]),
    )
    .await;
    assert!(report.result.is_ok(), "{:?}\n{}", report.result, server.log());
    assert_eq!(sha256(&std::fs::read(server.path("copy.bin")).unwrap()), expected);
    assert_eq!(report.stats.bytes_uploaded, LARGE as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_round_trip_plain() {
    large_round_trip(Tls::None, "none").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_round_trip_explicit_ftps() {
    large_round_trip(Tls::Explicit, "explicit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_round_trip_implicit_ftps() {
    large_round_trip(Tls::Implicit, "implicit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_through_guest_memory_are_the_same_bytes() {
    let server = FtpServer::start(ServerKind::Vsftpd, ServerOptions::explicit()).unwrap();
    server.put_file("blob.bin", &blob()).unwrap();
    let local = tempfile::tempdir().unwrap();
    let t = Target::of(&server, "explicit");
    let args = t.args(&[
        "download",
        "blob.bin",
        "/local/blob.bin",
        "--via-memory",
        ";",
        "upload",
        "/local/blob.bin",
        "back.bin",
        "--via-memory",
    ]);
    let report = run(rust_guest(), with_dir(policy_for(&server, &t), local.path()), args).await;
    assert!(report.result.is_ok(), "{:?}\n{}", report.result, server.log());
    assert_eq!(std::fs::read(local.path().join("blob.bin")).unwrap(), blob());
    assert_eq!(std::fs::read(server.path("back.bin")).unwrap(), blob());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_splice_loop_moves_the_same_bytes() {
    // The host's own moves are the default; `--splice` is the wasi:io loop.
    for (kind, options, security) in [
        (ServerKind::Vsftpd, ServerOptions::plain(), "none"),
        (ServerKind::Proftpd, ServerOptions::explicit(), "explicit"),
    ] {
        let server = FtpServer::start(kind, options).unwrap();
        server.put_file("blob.bin", &blob()).unwrap();
        let local = tempfile::tempdir().unwrap();
        let t = Target::of(&server, security);
        let args = t.args(&[
            "download",
            "blob.bin",
            "/local/blob.bin",
            "--splice",
            ";",
            "upload",
            "/local/blob.bin",
            "back.bin",
            "--splice",
        ]);
        let report = run(rust_guest(), with_dir(policy_for(&server, &t), local.path()), args).await;
        assert!(report.result.is_ok(), "{kind} {security}: {:?}\n{}", report.result, server.log());
        assert_eq!(std::fs::read(local.path().join("blob.bin")).unwrap(), blob());
        assert_eq!(std::fs::read(server.path("back.bin")).unwrap(), blob());
    }
}

/// A policy for the hostile guest: `server` as profile `p`, `local` granted
/// as `/local` (`read_only` as given).
fn profile_with_dir(server: &FtpServer, local: &Path, read_only: bool) -> Policy {
    Policy::new()
        .grant(Grant::profile(plain_profile("p", server.addr(), &server.user, &server.password)).unwrap())
        .with_dir(DirGrant { host: local.to_path_buf(), guest: "/local".into(), read_only })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_to_and_send_from_refuse_descriptors_they_may_not_use() {
    let server = FtpServer::start(ServerKind::Proftpd, ServerOptions::plain()).unwrap();
    server.put_file("blob.bin", &blob()).unwrap();
    let local = tempfile::tempdir().unwrap();
    std::fs::write(local.path().join("mine.bin"), b"unchanged").unwrap();
    let cases = [
        (false, "save-to", "dir", "invalid-input", "not a directory"),
        (false, "save-to", "read", "invalid-input", "not open for writing"),
        (true, "save-to", "read", "denied", "granted read-only"),
        (false, "send-from", "dir", "invalid-input", "not a directory"),
        (false, "send-from", "write", "invalid-input", "not open for reading"),
    ];
    for (read_only, call, how, kind, says) in cases {
        let policy = profile_with_dir(&server, local.path(), read_only);
        let report =
            run(hostile_guest(), policy, [call, "p", "blob.bin", "mine.bin", how].map(String::from).to_vec()).await;
        assert_eq!(error_kind(&report), Some(kind), "{call} {how}: {:?}", report.result);
        assert!(report.result.as_ref().unwrap_err().contains(says), "{call} {how}: {:?}", report.result);
        if how != "write" {
            assert_eq!(std::fs::read(local.path().join("mine.bin")).unwrap(), b"unchanged", "{call} {how}");
        }
    }
    // The same calls with usable descriptors move the whole file both ways.
    let policy = profile_with_dir(&server, local.path(), false);
    let report = run(
        hostile_guest(),
        policy.clone(),
        ["save-to", "p", "blob.bin", "got.bin", "write"].map(String::from).to_vec(),
    )
    .await;
    assert!(report.result.is_ok(), "{:?}\n{}", report.result, server.log());
    assert_eq!(std::fs::read(local.path().join("got.bin")).unwrap(), blob());
    let report =
        run(hostile_guest(), policy, ["send-from", "p", "sent.bin", "got.bin", "read"].map(String::from).to_vec())
            .await;
    assert!(report.result.is_ok(), "{:?}\n{}", report.result, server.log());
    assert_eq!(std::fs::read(server.path("sent.bin")).unwrap(), blob());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_download_the_kernel_moves_stops_at_the_run_quota() {
    // save-to over plain FTP is splice(2): the quota still counts every
    // byte as it arrives and stops the transfer there.
    let server = FtpServer::start(ServerKind::Vsftpd, ServerOptions::plain()).unwrap();
    let big = vec![7u8; 32 * 1024 * 1024];
    server.put_file("big.bin", &big).unwrap();
    let local = tempfile::tempdir().unwrap();
    let t = Target::of(&server, "none");
    let limits = Limits { max_run_bytes: Some(4 * 1024 * 1024), ..Limits::default() };
    let policy = with_dir(t.policy(), local.path()).with_limits(limits);
    let report = run(rust_guest(), policy, t.args(&["download", "big.bin", "/local/big.bin"])).await;
    assert_eq!(error_kind(&report), Some("too-large"), "{:?}", report.result);
    // Counted as it arrived: at most one splice (1 MiB) past the quota.
    assert!(report.stats.bytes_downloaded <= 5 * 1024 * 1024, "{} bytes", report.stats.bytes_downloaded);
    assert!(!local.path().join("big.bin").exists());
    assert!(!local.path().join("big.bin.part").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_resumes_from_its_partial_file() {
    let server = FtpServer::start(ServerKind::Proftpd, ServerOptions::explicit()).unwrap();
    server.put_file("blob.bin", &blob()).unwrap();
    let local = tempfile::tempdir().unwrap();
    // An earlier run stopped after 1,000,003 bytes.
    std::fs::write(local.path().join("blob.bin.part"), &blob()[..1_000_003]).unwrap();
    let t = Target::of(&server, "explicit");
    let report = run(
        rust_guest(),
        with_dir(policy_for(&server, &t), local.path()),
        t.args(&["download", "blob.bin", "/local/blob.bin", "--resume"]),
    )
    .await;
    assert!(report.result.is_ok(), "{:?}", report.result);
    assert_eq!(std::fs::read(local.path().join("blob.bin")).unwrap(), blob());
    // Only the missing bytes crossed the network.
    assert_eq!(report.stats.bytes_downloaded, (blob().len() - 1_000_003) as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_resumes_and_appends() {
    let server = FtpServer::start(ServerKind::Vsftpd, ServerOptions::plain()).unwrap();
    // The server already has the first 2,000,000 bytes of an interrupted upload.
    server.put_file("up.bin", &blob()[..2_000_000]).unwrap();
    let local = tempfile::tempdir().unwrap();
    std::fs::write(local.path().join("blob.bin"), blob()).unwrap();
    std::fs::write(local.path().join("tail.txt"), b"tail").unwrap();
    let t = Target::of(&server, "none");
    let args = t.args(&[
        "upload",
        "/local/blob.bin",
        "up.bin",
        "--resume",
        ";",
        "upload",
        "/local/tail.txt",
        "up.bin",
        "--append",
    ]);
    let report = run(rust_guest(), with_dir(t.policy(), local.path()), args).await;
    assert!(report.result.is_ok(), "{:?}\n{}", report.result, server.log());
    let mut expected = blob();
    expected.extend_from_slice(b"tail");
    assert_eq!(sha256(&std::fs::read(server.path("up.bin")).unwrap()), sha256(&expected));
    assert_eq!(report.stats.bytes_uploaded, (blob().len() - 2_000_000 + 4) as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_dropped_without_finish_leaves_the_session_usable() {
    for (kind, options, security) in [
        (ServerKind::Proftpd, ServerOptions::explicit(), "explicit"),
        (ServerKind::Vsftpd, ServerOptions::explicit(), "explicit"),
        (ServerKind::Proftpd, ServerOptions::plain(), "none"),
    ] {
        let server = FtpServer::start(kind, options).unwrap();
        server.put_file("blob.bin", &blob()).unwrap();
        let t = Target::of(&server, security);
        // Read 10 bytes of 3 MiB, drop the download, then use the same session.
        let args = t.args(&["head", "blob.bin", "10", ";", "ls", ";", "sha256", "blob.bin"]);
        let report = run(rust_guest(), policy_for(&server, &t), args).await;
        assert!(report.result.is_ok(), "{kind} {security}: {:?}\n{}", report.result, server.log());
        let out = stdout(&report);
        assert!(out.contains("blob.bin\n"), "{out}");
        assert!(out.contains(&format!("{}  {}  blob.bin", sha256(&blob()), blob().len())), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_download_leaves_no_partial_file() {
    let server = FtpServer::start(ServerKind::Proftpd, ServerOptions::plain()).unwrap();
    let local = tempfile::tempdir().unwrap();
    std::fs::write(local.path().join("keep.bin"), b"old contents").unwrap();
    let t = Target::of(&server, "none");
    let report =
        run(rust_guest(), with_dir(t.policy(), local.path()), t.args(&["download", "missing.bin", "/local/keep.bin"]))
            .await;
    assert_eq!(error_kind(&report), Some("not-found"), "{:?}", report.result);
    assert_eq!(std::fs::read(local.path().join("keep.bin")).unwrap(), b"old contents");
    assert!(!local.path().join("keep.bin.part").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_outside_the_granted_directory_are_out_of_reach() {
    let server = FtpServer::start(ServerKind::Proftpd, ServerOptions::plain()).unwrap();
    server.put_file("blob.bin", &blob()).unwrap();
    let t = Target::of(&server, "none");
    // No --dir at all: the guest has no filesystem.
    let report = run(rust_guest(), t.policy(), t.args(&["download", "blob.bin", "/etc/passwd"])).await;
    assert_eq!(error_kind(&report), Some("denied"), "{:?}", report.result);
    // A granted directory does not reach its parent.
    let local = tempfile::tempdir().unwrap();
    let report =
        run(rust_guest(), with_dir(t.policy(), local.path()), t.args(&["upload", "/local/../../etc/passwd", "stolen"]))
            .await;
    assert!(report.result.is_err(), "{:?}", report.result);
    assert!(!server.path("stolen").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_transfers_are_capped_and_point_to_streaming() {
    let server = FtpServer::start(ServerKind::Proftpd, ServerOptions::plain()).unwrap();
    server.put_file("blob.bin", &blob()).unwrap();
    let t = Target::of(&server, "none");
    let policy = t.policy().with_limits(Limits { max_transfer_bytes: 1024 * 1024, ..Limits::default() });
    // Too large, then the session still works for a small file.
    server.put_file("small.txt", b"small").unwrap();
    let report = run(rust_guest(), policy, t.args(&["sha256", "blob.bin"])).await;
    assert_eq!(error_kind(&report), Some("too-large"), "{:?}", report.result);
    assert!(report.result.unwrap_err().contains("open-get"), "points to the streaming call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_replacement_leaves_the_old_file_and_no_temporary() {
    let server = FtpServer::start(ServerKind::Proftpd, ServerOptions::explicit()).unwrap();
    server.put_file("target.bin", b"the old, complete file").unwrap();
    let local = tempfile::tempdir().unwrap();
    std::fs::write(local.path().join("blob.bin"), blob()).unwrap();
    let t = Target::of(&server, "explicit");
    // The run's byte quota stops the upload a third of the way through.
    let limits = Limits { max_run_bytes: Some(1024 * 1024), ..Limits::default() };
    let policy = with_dir(policy_for(&server, &t), local.path()).with_limits(limits);
    let report = run(rust_guest(), policy, t.args(&["upload", "/local/blob.bin", "target.bin"])).await;
    assert_eq!(error_kind(&report), Some("too-large"), "{:?}", report.result);
    assert_eq!(std::fs::read(server.path("target.bin")).unwrap(), b"the old, complete file");
    let names: Vec<String> = std::fs::read_dir(&server.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "no temporary file is left: {names:?}");

    // The same upload without the quota replaces the file whole.
    let policy = with_dir(policy_for(&server, &t), local.path());
    let report = run(rust_guest(), policy, t.args(&["upload", "/local/blob.bin", "target.bin"])).await;
    assert!(report.result.is_ok(), "{:?}", report.result);
    assert_eq!(std::fs::read(server.path("target.bin")).unwrap(), blob());
}

/// What an observer was told of one transfer: its direction, each total it
/// advanced to, and the bytes it finished with (if it succeeded).
type Told = (ftp_host::Direction, Vec<u64>, Option<u64>);

/// Records what an observer is told about each transfer.
#[derive(Default)]
struct Seen(std::sync::Mutex<Vec<Told>>);

struct Observer(std::sync::Arc<Seen>);

/// One transfer's place in [`Seen`].
struct Follow(std::sync::Arc<Seen>, usize);

impl ftp_host::TransferObserver for Observer {
    fn started(&self, info: &ftp_host::TransferInfo) -> Box<dyn ftp_host::TransferProgress> {
        let mut seen = self.0 .0.lock().unwrap();
        seen.push((info.direction, Vec::new(), None));
        Box::new(Follow(self.0.clone(), seen.len() - 1))
    }
}

impl ftp_host::TransferProgress for Follow {
    fn advanced(&self, total: u64) {
        self.0 .0.lock().unwrap()[self.1].1.push(total);
    }

    fn finished(&self, outcome: Result<u64, &ftp_host::GuestError>, _: std::time::Duration) {
        self.0 .0.lock().unwrap()[self.1].2 = outcome.ok();
    }
}

/// `save-to` and `send-from` move the file on a thread of the host's; the
/// observer (the CLI's progress bars) still sees every byte, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_follows_a_file_the_host_moves() {
    const SIZE: usize = 24 * 1024 * 1024 + 123;
    for (tls, security) in [(Tls::None, "none"), (Tls::Explicit, "explicit")] {
        let server = FtpServer::start(ServerKind::Proftpd, ServerOptions::new(tls)).unwrap();
        let local = tempfile::tempdir().unwrap();
        server.put_file("in.bin", &vec![7u8; SIZE]).unwrap();
        let t = Target::of(&server, security);
        let seen = std::sync::Arc::new(Seen::default());
        let host = ftp_host::Host::new(with_dir(policy_for(&server, &t), local.path()))
            .unwrap()
            .with_observer(std::sync::Arc::new(Observer(seen.clone())));
        let plugin = host.load(rust_guest()).unwrap();
        for command in [["download", "in.bin", "/local/in.bin"], ["upload", "/local/in.bin", "out.bin"]] {
            let report = plugin.run(&t.args(&command), ftp_host::Output::Capture).await.unwrap();
            assert!(report.result.is_ok(), "{security} {command:?}: {:?}\n{}", report.result, server.log());
        }
        let seen = seen.0.lock().unwrap();
        let moved: Vec<_> = seen.iter().filter(|(_, totals, _)| !totals.is_empty()).collect();
        assert_eq!(moved.len(), 2, "{security}: one download and one upload followed: {:?}", seen.len());
        for (direction, totals, finished) in moved {
            assert!(totals.windows(2).all(|w| w[0] <= w[1]), "{security} {direction:?}: totals only grow");
            assert_eq!(totals.last(), Some(&(SIZE as u64)), "{security} {direction:?}: every byte reported");
            assert_eq!(*finished, Some(SIZE as u64), "{security} {direction:?}: finished with the size");
        }
    }
}
