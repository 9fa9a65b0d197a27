//! The servers enterprises run: the Rust guest through the host against
//! real proftpd and vsftpd, in every security mode they offer, with TLS
//! session reuse required on data connections (their strict settings).

use ftp_host::{Policy, Trust};
use ftp_host_e2e::harness::{blob, error_kind, round_trip, run, rust_guest, Target};
use ftp_host_e2e::servers::{FtpServer, ServerKind, ServerOptions, Tls, TlsVersion};

fn start(kind: ServerKind, options: ServerOptions) -> FtpServer {
    let server = FtpServer::start(kind, options).unwrap_or_else(|e| panic!("{kind} did not start: {e:#}"));
    server.put_file("hello.txt", b"hello\n").unwrap();
    server.put_file("blob.bin", &blob()).unwrap();
    server
}

fn trust(server: &FtpServer) -> Trust {
    Trust::from_pem_file(&server.cert_pem).unwrap()
}

async fn matrix_case(kind: ServerKind, tls: Tls, force_prot: bool) {
    let security = match tls {
        Tls::None => "none",
        Tls::Explicit => "explicit",
        Tls::Implicit => "implicit",
    };
    let server = start(kind, ServerOptions::new(tls));
    let t = Target { force_prot, ..Target::of(&server, security) };
    match tls {
        Tls::None => round_trip(&server.root, &t, || t.policy()).await,
        _ => round_trip(&server.root, &t, || t.policy_trusting(trust(&server))).await,
    }
    if force_prot {
        // What force_prot asserts: the server was asked to protect the data channel.
        let log = server.log();
        assert!(log.contains("PROT P"), "{kind}: no PROT P in the server's log:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proftpd_plain() {
    matrix_case(ServerKind::Proftpd, Tls::None, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proftpd_explicit() {
    matrix_case(ServerKind::Proftpd, Tls::Explicit, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proftpd_explicit_force_prot() {
    matrix_case(ServerKind::Proftpd, Tls::Explicit, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proftpd_implicit() {
    matrix_case(ServerKind::Proftpd, Tls::Implicit, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_plain() {
    matrix_case(ServerKind::Vsftpd, Tls::None, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_explicit() {
    matrix_case(ServerKind::Vsftpd, Tls::Explicit, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_explicit_force_prot() {
    matrix_case(ServerKind::Vsftpd, Tls::Explicit, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_implicit() {
    matrix_case(ServerKind::Vsftpd, Tls::Implicit, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_over_tls_1_2() {
    let server = start(ServerKind::Vsftpd, ServerOptions::explicit().max_tls_version(TlsVersion::Tls12));
    let t = Target::of(&server, "explicit");
    round_trip(&server.root, &t, || t.policy_trusting(trust(&server))).await;
}

/// Without session resumption, a server that requires reuse refuses the
/// data connection, and the guest gets a `tls` error saying why.
async fn refused_reuse(kind: ServerKind) {
    let server = start(kind, ServerOptions::explicit());
    let t = Target::of(&server, "explicit");
    let policy = Policy::new()
        .allow_with_trust(&format!("{}:{}", t.host, t.port), trust(&server))
        .unwrap()
        .without_tls_resumption();
    let report = run(rust_guest(), policy, t.args(&["ls"])).await;
    assert_eq!(error_kind(&report), Some("tls"), "{:?}\n{}", report.result, server.log());
    let message = report.result.unwrap_err();
    assert!(message.contains("session reuse"), "says why: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_refused_session_reuse_is_a_tls_error() {
    refused_reuse(ServerKind::Vsftpd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proftpd_refused_session_reuse_is_a_tls_error() {
    refused_reuse(ServerKind::Proftpd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_on_a_real_server_is_an_auth_error() {
    for kind in [ServerKind::Proftpd, ServerKind::Vsftpd] {
        let server = start(kind, ServerOptions::plain());
        let mut t = Target::of(&server, "none");
        t.password = "not-the-password".into();
        let report = run(rust_guest(), t.policy(), t.args(&["ls"])).await;
        assert_eq!(error_kind(&report), Some("auth"), "{kind}: {:?}", report.result);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_file_on_a_real_server_is_not_found() {
    for kind in [ServerKind::Proftpd, ServerKind::Vsftpd] {
        let server = start(kind, ServerOptions::plain());
        let t = Target::of(&server, "none");
        let report = run(rust_guest(), t.policy(), t.args(&["sha256", "missing.bin"])).await;
        assert_eq!(error_kind(&report), Some("not-found"), "{kind}: {:?}", report.result);
    }
}
