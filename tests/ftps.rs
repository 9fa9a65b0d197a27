//! FTPS end to end: explicit and implicit TLS, protected data connections,
//! session reuse and certificate trust, through the Rust guest and the host,
//! against the embedded server and real proftpd and vsftpd.

use std::path::Path;

use ftp_host::demo::{DemoServer, DEMO_USER};
use ftp_host::Trust;
use ftp_host_e2e::harness::{error_kind, round_trip, run, rust_guest, sha256, Target};

const PASSWORD: &str = "tls-pw";

/// Seed `root` with files the round trip checks.
fn seed(root: &Path) {
    std::fs::write(root.join("hello.txt"), b"hello over TLS\n").unwrap();
    std::fs::write(root.join("blob.bin"), ftp_host_e2e::harness::blob()).unwrap();
}

async fn embedded_tls() -> (tempfile::TempDir, DemoServer, Target) {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let server = DemoServer::start_tls(dir.path(), PASSWORD).await.unwrap();
    let mut target = Target::plain(server.addr(), DEMO_USER, PASSWORD);
    target.security = "explicit";
    (dir, server, target)
}

fn trust_of(server: &DemoServer) -> Trust {
    Trust::Roots(vec![server.certificate().unwrap().clone()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_explicit() {
    let (dir, server, target) = embedded_tls().await;
    round_trip(dir.path(), &target, || target.policy_trusting(trust_of(&server))).await;
}

/// `force_prot` is an assertion that the data channel is protected: with
/// TLS it holds (the host always sends PROT P), without TLS it cannot, and
/// the connect is refused as invalid input before anything is dialed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_prot_holds_with_tls_and_is_refused_without() {
    let (_dir, server, mut target) = embedded_tls().await;
    target.force_prot = true;
    let report = run(rust_guest(), target.policy_trusting(trust_of(&server)), target.args(&["ls"])).await;
    assert!(report.result.is_ok(), "{:?}", report.result);
    target.security = "none";
    let report = run(rust_guest(), target.policy_trusting(trust_of(&server)), target.args(&["ls"])).await;
    assert_eq!(error_kind(&report), Some("invalid-input"), "{:?}", report.result);
    assert!(report.result.unwrap_err().contains("TLS"), "says what is missing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_plain() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let server = DemoServer::start(dir.path(), PASSWORD).await.unwrap();
    let target = Target::plain(server.addr(), DEMO_USER, PASSWORD);
    round_trip(dir.path(), &target, || target.policy()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_unknown_issuer_is_a_tls_error() {
    let (_dir, _server, target) = embedded_tls().await;
    // Default trust: the public web PKI, which did not issue this certificate.
    let report = run(rust_guest(), target.policy(), target.args(&["ls"])).await;
    assert_eq!(error_kind(&report), Some("tls"), "{:?}", report.result);
    let message = report.result.unwrap_err();
    assert!(message.contains("UnknownIssuer"), "names the reason: {message}");
    assert!(message.contains("trust its CA"), "says how to fix it: {message}");
    assert!(message.contains(&format!("127.0.0.1:{}", target.port)), "names the server: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_name_is_a_tls_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = DemoServer::start_tls_for(dir.path(), PASSWORD, &["ftp.example.test"]).await.unwrap();
    let mut target = Target::plain(server.addr(), DEMO_USER, PASSWORD);
    target.security = "explicit";
    // Its certificate is trusted, but it names another server than 127.0.0.1.
    let report = run(rust_guest(), target.policy_trusting(trust_of(&server)), target.args(&["ls"])).await;
    assert_eq!(error_kind(&report), Some("tls"), "{:?}", report.result);
    assert!(report.result.unwrap_err().contains("not valid for name \"127.0.0.1\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_certificate_is_accepted_and_another_refused() {
    let (_dir, server, target) = embedded_tls().await;
    let fingerprint = sha256(server.certificate().unwrap().as_ref());
    let report =
        run(rust_guest(), target.policy_trusting(Trust::pinned(&fingerprint).unwrap()), target.args(&["ls"])).await;
    assert!(report.result.is_ok(), "{:?}", report.result);

    let wrong = Trust::pinned(&"00".repeat(32)).unwrap();
    let report = run(rust_guest(), target.policy_trusting(wrong), target.args(&["ls"])).await;
    assert_eq!(error_kind(&report), Some("tls"), "{:?}", report.result);
    assert!(report.result.unwrap_err().contains(&format!("sha256:{fingerprint}) is not the pinned one")));
}

/// The host's warnings, as text: a process-wide subscriber writing to a
/// buffer (installed once; tests in this file share it).
fn warnings() -> &'static std::sync::Mutex<Vec<u8>> {
    use std::sync::{Mutex, OnceLock};
    static BUF: OnceLock<&'static Mutex<Vec<u8>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf: &'static Mutex<Vec<u8>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || Writer(buf))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber in this test process");
        buf
    })
}

struct Writer(&'static std::sync::Mutex<Vec<u8>>);

impl std::io::Write for Writer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Accepting invalid certificates is the operator's choice, and it is never
/// silent: every handshake under it logs a warning naming the certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_invalid_certificates_is_the_operators_choice() {
    let buf = warnings();
    let (_dir, server, target) = embedded_tls().await;
    let report = run(rust_guest(), target.policy_trusting(Trust::AcceptInvalid), target.args(&["ls"])).await;
    assert!(report.result.is_ok(), "{:?}", report.result);
    let fingerprint = sha256(server.certificate().unwrap().as_ref());
    let text = String::from_utf8_lossy(&buf.lock().unwrap()).into_owned();
    let warned =
        text.lines().filter(|l| l.contains("accepting an unverified TLS certificate") && l.contains(&fingerprint));
    // (Data connections resume the control connection's TLS session: no second verification.)
    assert!(warned.count() >= 1, "no warning for the handshake:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_tls_fails_explicit_mode_with_a_tls_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = DemoServer::start(dir.path(), PASSWORD).await.unwrap(); // no FTPS configured
    let mut target = Target::plain(server.addr(), DEMO_USER, PASSWORD);
    target.security = "explicit";
    let report = run(rust_guest(), target.policy(), target.args(&["ls"])).await;
    assert_eq!(error_kind(&report), Some("tls"), "never falls back to plain FTP: {:?}", report.result);
    assert!(report.result.unwrap_err().contains("refused AUTH TLS"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_login_to_a_server_requiring_tls_is_refused() {
    let (_dir, server, mut target) = embedded_tls().await;
    target.security = "none";
    let report = run(rust_guest(), target.policy_trusting(trust_of(&server)), target.args(&["ls"])).await;
    let message = report.result.as_ref().expect_err("a plain login must be refused");
    assert_eq!(error_kind(&report), Some("tls"), "{message}");
    assert!(
        message.contains("requires TLS") && message.contains("security explicit"),
        "does not name the fix: {message}"
    );
    assert!(!message.contains("534 534"), "the reply code twice: {message}");
}
