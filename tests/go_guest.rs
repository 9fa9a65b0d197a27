//! The Go guest (`guest-examples/go`: standard Go, `GOOS=wasip1`, wit-bindgen-go
//! bindings, adapted into a component) against the embedded server: the
//! language matrix's scenario (connect, `ls`, `sha256`, `put`, a missing file,
//! a wrong password) with the same results, output and files on the server as
//! the Rust example; then its own command, `download`, which splices a large
//! file into a granted directory in constant guest memory.
//!
//! The Go guest is built from source here by `guest-examples/go/build.sh`, once
//! per run of this binary; a failed build fails every test with the script's
//! output (install the toolchain with `scripts/install-go-toolchain.sh`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use ftp_host::demo::{DemoServer, DEMO_USER};
use ftp_host::{DirGrant, Host, Limits, Output, Plugin, Policy, RunReport, Trust};
use ftp_host_e2e::harness::{rust_guest, sha256, stdout, Target};
use ftp_host_e2e::servers::{FtpServer, ServerKind, ServerOptions};

const MIB: usize = 1024 * 1024;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace").to_path_buf()
}

/// The Go guest's component, built once per test binary.
fn go_guest() -> &'static [u8] {
    static GUEST: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    let built = GUEST.get_or_init(|| {
        let started = Instant::now();
        let script = workspace().join("guest-examples/go/build.sh");
        let output =
            Command::new("bash").arg(&script).output().map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        let (out, err) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        if !output.status.success() {
            return Err(format!(
                "guest-examples/go/build.sh failed ({}); install the Go toolchain with \
                 `bash scripts/install-go-toolchain.sh`\n--- its stdout:\n{out}--- its stderr:\n{err}",
                output.status
            ));
        }
        eprintln!("guest-examples/go/build.sh: {:.1?}\n{out}{err}", started.elapsed());
        let path = workspace().join("guest-examples/go/build/ftp-go.wasm");
        std::fs::read(&path).map_err(|e| format!("{} (built by build.sh): {e}", path.display()))
    });
    match built {
        Ok(bytes) => bytes,
        Err(message) => panic!("{message}"),
    }
}

fn load(policy: Policy, guest: &[u8]) -> Plugin {
    Host::new(policy).expect("host starts").load(guest).expect("guest loads")
}

async fn run(name: &str, plugin: &Plugin, args: &[String]) -> RunReport {
    let report = plugin.run(args, Output::Capture).await.unwrap_or_else(|e| panic!("{name}: did not run: {e}"));
    eprintln!(
        "--- {name} {:?} ({:.0?}): {:?}\n{}{}",
        args.last(),
        report.duration,
        report.result,
        stdout(&report),
        String::from_utf8_lossy(&report.stderr)
    );
    report
}

/// What a run did, in the terms the languages must agree on (as in tests/languages.rs).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    result: Result<String, String>,
    /// Stdout, lines sorted.
    stdout: String,
    operations: u64,
    downloaded: u64,
    uploaded: u64,
    /// The server's files afterwards: path to SHA-256, `dir` for directories.
    disk: BTreeMap<String, String>,
}

fn outcome(report: &RunReport, root: &Path) -> Outcome {
    let text = stdout(report);
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    lines.sort();
    Outcome {
        result: report.result.clone(),
        stdout: lines.concat(),
        operations: report.stats.operations,
        downloaded: report.stats.bytes_downloaded,
        uploaded: report.stats.bytes_uploaded,
        disk: disk(root),
    }
}

fn disk(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            let name = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if entry.file_type().unwrap().is_dir() {
                out.insert(name, "dir".into());
                walk(root, &path, out);
            } else {
                out.insert(name, sha256(&std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Run `command` with the Rust guest, then the Go guest (`before` runs before
/// each); asserts they agree and returns the outcome.
async fn both(guests: &[(&str, Plugin)], root: &Path, target: &Target, command: &[&str], before: impl Fn()) -> Outcome {
    let args = target.args(command);
    let mut outcomes = Vec::new();
    for (name, plugin) in guests {
        before();
        let report = run(name, plugin, &args).await;
        outcomes.push(outcome(&report, root));
    }
    assert_eq!(outcomes[1], outcomes[0], "{command:?}: go (left) and rust (right) disagree");
    outcomes.swap_remove(0)
}

fn kind(outcome: &Outcome) -> Option<&str> {
    outcome.result.as_ref().err().and_then(|e| e.split(':').next())
}

const UPLOAD: &str = "upload.txt";
const UPLOAD_TEXT: &str = "put by a plugin: ünïcödé ✓ — same bytes from every language";

/// What the matrix seeds a server with: three files and an empty directory.
fn seed(put: impl Fn(&str, &[u8]), mkdir: impl Fn(&str)) -> Vec<u8> {
    put("hello.txt", b"hello\n");
    put("notes 2026.txt", "naïve café, 2026 ✓\n".as_bytes());
    let bytes: Vec<u8> = (0..(1u32 << 20) + 17).map(|i| (i * 7 + i / 251) as u8).collect();
    put("bytes.bin", &bytes);
    mkdir("empty");
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_matches_the_language_matrix_on_the_embedded_server() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = seed(
        |path, data| std::fs::write(dir.path().join(path), data).unwrap(),
        |path| std::fs::create_dir(dir.path().join(path)).unwrap(),
    );
    let server = DemoServer::start(dir.path(), "demo-password").await.unwrap();
    let target = Target::plain(server.addr(), DEMO_USER, "demo-password");
    matrix(server.root(), &target, || target.policy(), &bytes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_matches_the_language_matrix_on_proftpd_with_explicit_ftps() {
    let server = FtpServer::start(ServerKind::Proftpd, ServerOptions::explicit())
        .unwrap_or_else(|e| panic!("proftpd did not start: {e:#}"));
    let bytes = seed(
        |path, data| {
            server.put_file(path, data).unwrap();
        },
        |path| {
            server.create_dir(path).unwrap();
        },
    );
    let target = Target {
        host: server.host.clone(),
        port: server.port,
        user: server.user.clone(),
        password: server.password.clone(),
        security: "explicit",
        force_prot: false,
    };
    let policy = || target.policy_trusting(Trust::from_pem_file(&server.cert_pem).unwrap());
    matrix(&server.root, &target, policy, &bytes).await;
}

/// The language matrix's scenario, row by row, Go against Rust and the disk.
async fn matrix(root: &Path, target: &Target, policy: impl Fn() -> Policy, bytes: &[u8]) {
    let guests = [("rust", load(policy(), rust_guest())), ("go", load(policy(), go_guest()))];
    let target = target.clone();
    let seeded = disk(root);

    let connect = both(&guests, root, &target, &["ls", "empty"], || {}).await;
    assert_eq!(connect.result, Ok("0 entries".into()));
    assert_eq!(connect.stdout, "");
    assert_eq!(connect.disk, seeded);

    let ls = both(&guests, root, &target, &["ls"], || {}).await;
    assert_eq!(ls.result, Ok("4 entries".into()));
    assert_eq!(ls.stdout, "bytes.bin\nempty\nhello.txt\nnotes 2026.txt\n");

    let sums = both(&guests, root, &target, &["sha256", "bytes.bin", "notes 2026.txt"], || {}).await;
    assert_eq!(sums.result, Ok("2 files checked".into()));
    let notes = "naïve café, 2026 ✓\n".as_bytes();
    let mut expected = [
        format!("{}  {}  bytes.bin\n", sha256(bytes), bytes.len()),
        format!("{}  {}  notes 2026.txt\n", sha256(notes), notes.len()),
    ];
    expected.sort();
    assert_eq!(sums.stdout, expected.concat());
    assert_eq!(sums.downloaded, (bytes.len() + notes.len()) as u64);

    let uploaded = root.join(UPLOAD);
    let put = both(&guests, root, &target, &["put", UPLOAD, UPLOAD_TEXT], || {
        let _ = std::fs::remove_file(&uploaded);
    })
    .await;
    assert_eq!(put.result, Ok(format!("uploaded {} bytes to {UPLOAD}", UPLOAD_TEXT.len())));
    assert_eq!(std::fs::read(&uploaded).unwrap(), UPLOAD_TEXT.as_bytes(), "the bytes on the server's disk");
    let mut after_put = seeded.clone();
    after_put.insert(UPLOAD.into(), sha256(UPLOAD_TEXT.as_bytes()));
    assert_eq!(put.disk, after_put);

    let missing = both(&guests, root, &target, &["sha256", "no-such-file.bin"], || {}).await;
    assert_eq!(kind(&missing), Some("not-found"), "{:?}", missing.result);
    assert_eq!(missing.stdout, "");
    assert_eq!(missing.disk, after_put);

    let mut wrong = target.clone();
    wrong.password = "not-the-password".into();
    let auth = both(&guests, root, &wrong, &["ls"], || {}).await;
    assert_eq!(kind(&auth), Some("auth"), "{:?}", auth.result);
    assert_eq!(auth.stdout, "");

    let cat = both(&guests, root, &target, &["cat", "notes 2026.txt"], || {}).await;
    assert_eq!(cat.result, Ok(format!("{} bytes", notes.len())));
    assert_eq!(cat.stdout.as_bytes(), notes);
}

/// A policy granting the server and `local` as `/data`, with `memory` as the
/// guest's memory limit.
fn download_policy(target: &Target, local: &Path, memory: usize) -> Policy {
    target
        .policy()
        .with_dir(DirGrant { host: local.to_path_buf(), guest: "/data".into(), read_only: false })
        .with_limits(Limits { max_memory_bytes: memory, ..Limits::default() })
}

/// The smallest memory limit the Go runtime runs in (its heap grows in 4 MiB
/// arenas), well below the file's size.
const GO_MEMORY: usize = 16 * MIB;

/// `download` splices 64 MiB into the granted directory under a 16 MiB memory
/// limit (the file cannot pass through guest memory), atomically.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_download_streams_a_large_file_into_the_granted_directory() {
    let remote = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..64 * MIB as u32).map(|i| (i ^ (i >> 11)) as u8).collect();
    std::fs::write(remote.path().join("big.bin"), &big).unwrap();
    let server = DemoServer::start(remote.path(), "pw").await.unwrap();
    let target = Target::plain(server.addr(), DEMO_USER, "pw");
    let local = tempfile::tempdir().unwrap();

    let plugin = load(download_policy(&target, local.path(), GO_MEMORY), go_guest());
    let report = run("go", &plugin, &target.args(&["download", "big.bin", "/data/copy.bin"])).await;
    assert_eq!(
        report.result,
        Ok(format!("downloaded big.bin to /data/copy.bin ({0} bytes, {0} this time)", big.len()))
    );
    let copy = std::fs::read(local.path().join("copy.bin")).unwrap();
    assert!(copy == big, "the local copy differs: {} bytes, SHA-256 {}", copy.len(), sha256(&copy));
    let names: Vec<String> =
        std::fs::read_dir(local.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    assert_eq!(names, ["copy.bin"], "no .part left");
    assert_eq!(report.stats.bytes_downloaded, big.len() as u64);

    // The limit binds: the same file through guest memory (`cat`) does not fit.
    let plugin = load(download_policy(&target, local.path(), GO_MEMORY), go_guest());
    let through_memory = plugin.run(&target.args(&["cat", "big.bin"]), Output::Capture).await;
    let failed = match &through_memory {
        Ok(report) => report.result.is_err(),
        Err(_) => true, // a trap: out of memory
    };
    assert!(failed, "64 MiB through 16 MiB of guest memory: {:?}", through_memory.map(|r| r.result));
}

/// A missing remote file is `not-found` and leaves nothing in the directory;
/// a local path outside every granted directory is `denied` before any transfer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_download_errors_are_typed_and_leave_nothing_behind() {
    let remote = tempfile::tempdir().unwrap();
    std::fs::write(remote.path().join("a.txt"), b"a\n").unwrap();
    let server = DemoServer::start(remote.path(), "pw").await.unwrap();
    let target = Target::plain(server.addr(), DEMO_USER, "pw");
    let local = tempfile::tempdir().unwrap();
    let plugin = load(download_policy(&target, local.path(), GO_MEMORY), go_guest());

    let report = run("go", &plugin, &target.args(&["download", "missing.txt", "/data/missing.txt"])).await;
    assert!(report.result.as_ref().is_err_and(|e| e.starts_with("not-found: ")), "{:?}", report.result);
    assert_eq!(std::fs::read_dir(local.path()).unwrap().count(), 0, "nothing written");

    let report = run("go", &plugin, &target.args(&["download", "a.txt", "/elsewhere/a.txt"])).await;
    assert!(report.result.as_ref().is_err_and(|e| e.starts_with("denied: ")), "{:?}", report.result);
    assert_eq!(report.stats.bytes_downloaded, 0);
    assert_eq!(std::fs::read_dir(local.path()).unwrap().count(), 0, "nothing written");
}
