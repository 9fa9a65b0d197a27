//! The classic naas_drivers snippets as a plugin (`guest-examples/classic`):
//! the driver's six lines, unchanged but for the import and the host name,
//! run through the host against the embedded server (plain FTP) and against
//! proftpd with implicit FTPS on its own port and `force_prot=True`. Each run
//! lists, gets a file into the granted directory and sends one back; the
//! bytes are checked on both sides.
//!
//! The plugin is built from source by `scripts/build-guests.sh classic` once
//! per run of this binary (install the toolchain with
//! `scripts/install-guest-toolchains.sh python`), and compiled once into a
//! cache under `CARGO_TARGET_TMPDIR`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use ftp_host::demo::{DemoServer, DEMO_USER};
use ftp_host::{Cache, DirGrant, Host, Output, Policy, RunReport, Trust};
use ftp_host_e2e::harness::{build_guests, sha256, show, stdout, workspace, Target};
use ftp_host_e2e::servers::{FtpServer, ServerKind, ServerOptions};

/// Where the snippets' local paths (`/path/to/local/file`) live in the guest.
const LOCAL: &str = "/path/to/local";
/// The snippets' remote path.
const REMOTE: &str = "path/to/file/in/ftp";

/// The plugin's bytes, built once, and the cache it is compiled into.
fn plugin() -> &'static (Vec<u8>, Cache) {
    static PLUGIN: OnceLock<Result<(Vec<u8>, Cache), String>> = OnceLock::new();
    match PLUGIN.get_or_init(build) {
        Ok(plugin) => plugin,
        Err(message) => panic!("{message}"),
    }
}

fn build() -> Result<(Vec<u8>, Cache), String> {
    eprintln!("{}", build_guests(&["classic"])?);
    let path = workspace().join("guest-examples/classic/build/ftp-classic.wasm");
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let cache =
        Cache::open(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("classic-cache")).map_err(|e| format!("{e:#}"))?;
    Host::new(Policy::new())
        .map_err(|e| format!("{e:#}"))?
        .with_cache(cache.clone())
        .load(&bytes)
        .map_err(|e| format!("the classic plugin does not load: {e}"))?;
    Ok((bytes, cache))
}

async fn run(policy: Policy, args: &[String]) -> RunReport {
    let (bytes, cache) = plugin();
    let host = Host::new(policy).expect("host starts").with_cache(cache.clone());
    let report = host.load(bytes).expect("plugin loads").run(args, Output::Capture).await.expect("plugin runs");
    show("classic", args, &report);
    report
}

/// The notebook's parameters: `NAME=VALUE` arguments.
fn parameters(user: &str, passwd: &str, host: &str, connect: &str) -> Vec<String> {
    [("user", user), ("passwd", passwd), ("host", host), ("connect", connect)]
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect()
}

/// What the server has at the snippets' remote path (a few MiB: many
/// splices, many TLS records), and what the granted directory has at
/// `/path/to/local/file`.
fn remote_bytes() -> Vec<u8> {
    (0..3 * 1024 * 1024 + 17u32).map(|i| (i * 7 + i / 1024) as u8).collect()
}

fn local_bytes() -> Vec<u8> {
    (0..1024 * 1024 + 5u32).map(|i| (i * 13 + 5) as u8).rev().collect()
}

/// A granted directory holding `file`, mapped to [`LOCAL`].
fn granted_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), local_bytes()).unwrap();
    dir
}

fn with_local(policy: Policy, dir: &Path) -> Policy {
    policy.with_dir(DirGrant { host: dir.to_path_buf(), guest: LOCAL.into(), read_only: false })
}

/// Every file in `dir`, by name, with its SHA-256.
fn files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), sha256(&std::fs::read(e.path()).unwrap()))
        })
        .collect()
}

/// The snippets ran whole: `get` saved the remote file as `ftp` in the
/// granted directory (and nothing else appeared there), `send` replaced the
/// remote file with the local one, and the cells showed what a notebook shows.
fn assert_round_trip(report: &RunReport, local: &Path, server_root: &Path) {
    assert_eq!(report.result, Ok("ran 4 cells".into()));
    let expected: BTreeMap<String, String> =
        [("file".to_string(), sha256(&local_bytes())), ("ftp".to_string(), sha256(&remote_bytes()))].into();
    assert_eq!(files(local), expected, "the granted directory: `file` as it was, `ftp` downloaded");
    assert_eq!(
        sha256(&std::fs::read(server_root.join(REMOTE)).unwrap()),
        sha256(&local_bytes()),
        "the server's copy is the local file's bytes"
    );
    // get shows where it saved, send how many bytes, list_directory the names.
    assert_eq!(stdout(report), format!("'{LOCAL}/ftp'\n{}\n['path']\n", local_bytes().len()));
    // Listing bytes count too: the one NLST line (`path\r\n`, or with the
    // directory as some servers send it).
    let listing = report.stats.bytes_downloaded - remote_bytes().len() as u64;
    assert!((6..64).contains(&listing), "{listing} listing bytes besides the file");
    assert_eq!(report.stats.bytes_uploaded, local_bytes().len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snippets_run_against_the_embedded_server() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join(REMOTE).parent().unwrap()).unwrap();
    std::fs::write(root.path().join(REMOTE), remote_bytes()).unwrap();
    let server = DemoServer::start(root.path(), "classic-pw").await.unwrap();
    let target = Target::plain(server.addr(), DEMO_USER, "classic-pw");
    let local = granted_dir();

    // Plain FTP: the first connect line, with the server's port in the host.
    let host = server.addr().to_string();
    let report =
        run(with_local(target.policy(), local.path()), &parameters(DEMO_USER, "classic-pw", &host, "plain")).await;
    assert_round_trip(&report, local.path(), server.root());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snippets_run_against_proftpd_with_implicit_ftps_and_force_prot() {
    let server = FtpServer::start(ServerKind::Proftpd, ServerOptions::implicit())
        .unwrap_or_else(|e| panic!("proftpd did not start: {e:#}"));
    server.put_file(REMOTE, &remote_bytes()).unwrap();
    let target = Target {
        host: server.host.clone(),
        port: server.port,
        user: server.user.clone(),
        password: server.password.clone(),
        security: "implicit",
        force_prot: true,
    };
    let policy = target.policy_trusting(Trust::from_pem_file(&server.cert_pem).unwrap());
    let local = granted_dir();

    // The third connect line (`secure=True, force_prot=True`), with an
    // ftps:// host: implicit FTPS on the server's own port.
    let host = format!("ftps://{}:{}", server.host, server.port);
    let report =
        run(with_local(policy, local.path()), &parameters(&server.user, &server.password, &host, "force_prot")).await;
    assert_round_trip(&report, local.path(), &server.root);
}

/// The second connect line says `port=990, secure=True`: implicit FTPS on
/// 990. The operator granted another port, so the host refuses it before
/// anything is sent, and nothing changes on either side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ftps_line_asks_for_port_990_which_the_policy_decides() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join(REMOTE).parent().unwrap()).unwrap();
    std::fs::write(root.path().join(REMOTE), remote_bytes()).unwrap();
    let server = DemoServer::start(root.path(), "classic-pw").await.unwrap();
    let target = Target::plain(server.addr(), DEMO_USER, "classic-pw");
    let local = granted_dir();
    let before = files(local.path());

    let host = server.addr().ip().to_string();
    let report =
        run(with_local(target.policy(), local.path()), &parameters(DEMO_USER, "classic-pw", &host, "ftps")).await;
    let message = report.result.clone().unwrap_err();
    assert!(message.starts_with("denied: "), "{message}");
    assert!(message.contains("990"), "names the port the line asked for: {message}");
    assert_eq!((report.stats.bytes_downloaded, report.stats.bytes_uploaded), (0, 0), "nothing moved");
    assert_eq!(files(local.path()), before);
    assert_eq!(sha256(&std::fs::read(server.root().join(REMOTE)).unwrap()), sha256(&remote_bytes()));
}

/// Bad parameters are reported, as a notebook would fail on a missing
/// variable, before any connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_parameters_are_reported() {
    let report = run(Policy::new(), &["user=me".to_string(), "host=ftp.example.com".to_string()]).await;
    let message = report.result.unwrap_err();
    assert!(message.starts_with("missing passwd; usage: user=USER"), "{message}");
}
