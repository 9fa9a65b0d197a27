//! The core contract, end to end: the Rust example guest, through the host,
//! against the embedded FTP server over real loopback sockets.

use std::path::Path;

use ftp_host::demo::{DemoServer, DEMO_USER};
use ftp_host::{Host, LoadError, Policy};
use ftp_host_e2e::harness::{error_kind, run, rust_guest, sha256, stdout, Target};

const PASSWORD: &str = "s3cret-pw";

async fn server() -> (tempfile::TempDir, DemoServer, Target) {
    let dir = tempfile::tempdir().unwrap();
    ftp_host::demo::seed(dir.path()).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/inner.txt"), b"inside\n").unwrap();
    let server = DemoServer::start(dir.path(), PASSWORD).await.unwrap();
    let target = Target::plain(server.addr(), DEMO_USER, PASSWORD);
    (dir, server, target)
}

fn names_on_disk(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_the_servers_directory() {
    let (dir, _server, t) = server().await;
    let report = run(rust_guest(), t.policy(), t.args(&["ls"])).await;
    assert_eq!(report.result, Ok("4 entries".to_string()));
    let mut listed: Vec<String> = stdout(&report).lines().map(String::from).collect();
    listed.sort();
    assert_eq!(listed, names_on_disk(dir.path()));

    let report = run(rust_guest(), t.policy(), t.args(&["ls", "sub"])).await;
    assert_eq!(stdout(&report), "inner.txt\n", "names only, without the directory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_the_exact_bytes() {
    let (dir, _server, t) = server().await;
    let report = run(rust_guest(), t.policy(), t.args(&["sha256", "data.bin", "sub/inner.txt"])).await;
    assert!(report.result.is_ok());
    let data = std::fs::read(dir.path().join("data.bin")).unwrap();
    let inner = std::fs::read(dir.path().join("sub/inner.txt")).unwrap();
    assert_eq!(
        stdout(&report),
        format!("{}  {}  data.bin\n{}  {}  sub/inner.txt\n", sha256(&data), data.len(), sha256(&inner), inner.len())
    );
    assert_eq!(report.stats.bytes_downloaded, (data.len() + inner.len()) as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_land_on_the_servers_disk() {
    let (dir, _server, t) = server().await;
    let text = "line one\r\nline two\nno newline at end";
    let report = run(rust_guest(), t.policy(), t.args(&["put", "sub/new.txt", text])).await;
    assert_eq!(report.result, Ok(format!("uploaded {} bytes to sub/new.txt", text.len())));
    // Binary mode: the bytes arrive unchanged, CR LF and all.
    assert_eq!(std::fs::read(dir.path().join("sub/new.txt")).unwrap(), text.as_bytes());

    // Replacing an existing file.
    let report = run(rust_guest(), t.policy(), t.args(&["put", "readme.txt", "new"])).await;
    assert!(report.result.is_ok());
    assert_eq!(std::fs::read(dir.path().join("readme.txt")).unwrap(), b"new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tour_lists_downloads_and_uploads() {
    let (dir, _server, t) = server().await;
    let report = run(rust_guest(), t.policy(), t.args(&["tour"])).await;
    assert_eq!(report.result, Ok("3 files downloaded and checksummed, report uploaded".to_string()));
    let uploaded = std::fs::read_to_string(dir.path().join("checksums.txt")).unwrap();
    let data = std::fs::read(dir.path().join("data.bin")).unwrap();
    assert!(uploaded.contains(&format!("{}    262144  data.bin", sha256(&data))), "{uploaded}");
    assert!(stdout(&report).contains("skipped sub (not a file)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_an_auth_error() {
    let (_dir, _server, mut t) = server().await;
    t.password = "wrong".into();
    let report = run(rust_guest(), t.policy(), t.args(&["ls"])).await;
    assert_eq!(error_kind(&report), Some("auth"), "{:?}", report.result);
    let message = report.result.unwrap_err();
    assert!(message.contains(&format!("127.0.0.1:{}", t.port)), "names the server: {message}");
    assert!(!message.contains("wrong"), "never echoes the password: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_file_is_not_found() {
    let (_dir, _server, t) = server().await;
    let report = run(rust_guest(), t.policy(), t.args(&["sha256", "nope.txt"])).await;
    assert_eq!(error_kind(&report), Some("not-found"), "{:?}", report.result);
    assert!(report.result.unwrap_err().contains("`/nope.txt`"), "names the path, as sent to the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_port_is_a_connect_error() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let t = Target::plain(([127, 0, 0, 1], port).into(), DEMO_USER, PASSWORD);
    let report = run(rust_guest(), t.policy(), t.args(&["ls"])).await;
    assert_eq!(error_kind(&report), Some("connect"), "{:?}", report.result);
    assert!(report.result.unwrap_err().contains("connection refused"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_not_granted_is_denied_before_any_packet() {
    let (_dir, server, t) = server().await;
    // Granted another port on the same host only.
    let policy = Policy::new().allow(&format!("127.0.0.1:{}", t.port.wrapping_add(1).max(1))).unwrap();
    let report = run(rust_guest(), policy, t.args(&["ls"])).await;
    assert_eq!(error_kind(&report), Some("denied"), "{:?}", report.result);
    let hint = ftp_host::Hint::GrantServer { host: "127.0.0.1".into(), port: t.port };
    assert_eq!(report.hints, vec![hint], "the report says what would grant it");
    let message = report.result.unwrap_err();
    assert!(message.contains("grant it in the policy") && !message.contains("--allow"), "{message}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_that_smuggles_a_command_never_reaches_the_server() {
    let (dir, _server, t) = server().await;
    let before = names_on_disk(dir.path());
    let report = run(rust_guest(), t.policy(), t.args(&["put", "x\r\nDELE readme.txt", "boom"])).await;
    assert_eq!(error_kind(&report), Some("invalid-input"), "{:?}", report.result);
    assert_eq!(names_on_disk(dir.path()), before, "nothing changed on the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_prot_without_tls_is_invalid_input() {
    let (_dir, _server, mut t) = server().await;
    t.force_prot = true;
    let report = run(rust_guest(), t.policy(), t.args(&["ls"])).await;
    assert_eq!(error_kind(&report), Some("invalid-input"), "{:?}", report.result);
}

#[test]
fn a_component_for_another_world_is_refused_at_load() {
    let host = Host::new(Policy::new()).unwrap();
    // A valid component that exports nothing: not a plugin.
    let err = host.load(b"(component)").err().expect("refused");
    assert!(matches!(err, LoadError::NotAPlugin(_)));
    assert!(err.to_string().contains("run"), "says what is missing: {err}");
    // A component importing an interface the host does not provide.
    let wat = r#"(component (import "acme:evil/raw-sockets" (instance (export "open" (func)))))"#;
    let err = host.load(wat.as_bytes()).err().expect("refused");
    assert!(err.to_string().contains("acme:evil/raw-sockets"), "{err}");
    // Not WebAssembly at all.
    assert!(matches!(host.load(b"#!/bin/sh\nrm -rf /\n"), Err(LoadError::NotAPlugin(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_retries_back_off_when_the_operator_asks() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let t = Target::plain(([127, 0, 0, 1], port).into(), DEMO_USER, PASSWORD);
    let limits = ftp_host::Limits {
        connect_retries: 2,
        connect_backoff: std::time::Duration::from_millis(150),
        ..Default::default()
    };
    // The run's own duration: host start and the plugin's compile are not
    // part of it, and on a loaded machine they alone can take over a second.
    let report = run(rust_guest(), t.policy().with_limits(limits), t.args(&["ls"])).await;
    assert_eq!(error_kind(&report), Some("connect"), "{:?}", report.result);
    // 150 ms, then 300 ms between the three attempts.
    assert!(report.duration >= std::time::Duration::from_millis(450), "{:?}", report.duration);

    // Default: no retry, so no wait (the default backoff is 500 ms).
    let report = run(rust_guest(), t.policy(), t.args(&["ls"])).await;
    assert_eq!(error_kind(&report), Some("connect"), "{:?}", report.result);
    assert!(report.duration < std::time::Duration::from_millis(400), "{:?}", report.duration);
}
