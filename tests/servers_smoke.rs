//! Proves the server fixture (tests/src/servers.rs) with an independent
//! client, curl: every server in every TLS mode lists, downloads and uploads.
//! Needs `scripts/install-test-servers.sh` to have run (as root).

use std::process::{Command, Output};

use ftp_host_e2e::servers::{FtpServer, ServerKind, ServerOptions, Tls, TlsVersion};

/// Deterministic, binary (not text) bytes, so an ASCII-mode transfer would show.
fn payload(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// Runs curl against the server with its credentials and TLS settings.
fn curl(server: &FtpServer, args: &[&str]) -> Output {
    let mut cmd = Command::new("curl");
    cmd.args(["--silent", "--show-error", "--max-time", "30"])
        .arg("--user")
        .arg(format!("{}:{}", server.user, server.password));
    match server.tls {
        Tls::None => {}
        Tls::Explicit => {
            cmd.arg("--ssl-reqd").arg("--cacert").arg(&server.cert_pem);
        }
        Tls::Implicit => {
            cmd.arg("--cacert").arg(&server.cert_pem);
        }
    }
    cmd.args(args);
    cmd.output().expect("running curl (install it with scripts/install-test-servers.sh)")
}

fn check(server: &FtpServer, what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "curl {what} against {server:?} failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
}

fn list_download_upload(kind: ServerKind, tls: Tls) {
    let server = FtpServer::start(kind, ServerOptions::new(tls)).expect("starting the server");
    let data = payload(300_000, u32::from(server.port));
    server.put_file("hello.bin", &data).unwrap();
    server.put_file("sub/inner.txt", b"inside\n").unwrap();
    server.put_file("overwrite.bin", b"old contents").unwrap();

    // One session (curl reuses the control connection): LIST /, LIST /sub/, RETR.
    let work = server.dir.join("curl");
    std::fs::create_dir(&work).unwrap();
    let p = |name: &str| work.join(name).to_str().unwrap().to_string();
    let out = curl(
        &server,
        &[
            &server.url("/"),
            "-o",
            &p("root.txt"),
            &server.url("/sub/"),
            "-o",
            &p("sub.txt"),
            &server.url("/hello.bin"),
            "-o",
            &p("hello.bin"),
        ],
    );
    check(&server, "LIST + RETR", &out);
    let listing = std::fs::read_to_string(p("root.txt")).unwrap();
    assert!(listing.contains("hello.bin"), "listing lacks hello.bin:\n{listing}");
    assert!(listing.contains("sub"), "listing lacks sub:\n{listing}");
    let listing = std::fs::read_to_string(p("sub.txt")).unwrap();
    assert!(listing.contains("inner.txt"), "listing of /sub lacks inner.txt:\n{listing}");
    let got = std::fs::read(p("hello.bin")).unwrap();
    assert!(got == data, "downloaded {} bytes that differ from the {} seeded", got.len(), data.len());

    // Uploads, a new file and over a seeded one, one per session: a second
    // upload in the same curl session over TLS 1.3 resumes a ticket that
    // proftpd does not count as reusing the control connection's session
    // ("client did not reuse TLS session"), a curl + proftpd quirk.
    let up = payload(200_000, 7);
    std::fs::write(p("up.bin"), &up).unwrap();
    let local = p("up.bin");
    for target in ["/sub/up.bin", "/overwrite.bin"] {
        let url = server.url(target);
        let mut args = vec![];
        if kind == ServerKind::Vsftpd && tls != Tls::None {
            // See ServerOptions::max_tls_version: curl 7.88 closes an upload's
            // data connection with vsftpd's TLS 1.3 session tickets unread, and
            // vsftpd then fails ~40% of uploads with 426.
            args.extend(["--tls-max", "1.2"]);
        }
        args.extend(["--upload-file", &local, &url]);
        let out = curl(&server, &args);
        check(&server, &format!("STOR {target}"), &out);
        assert!(std::fs::read(server.path(target)).unwrap() == up, "uploaded bytes of {target} differ on disk");
    }
}

#[test]
fn proftpd_plain() {
    list_download_upload(ServerKind::Proftpd, Tls::None);
}

#[test]
fn proftpd_explicit() {
    list_download_upload(ServerKind::Proftpd, Tls::Explicit);
}

#[test]
fn proftpd_implicit() {
    list_download_upload(ServerKind::Proftpd, Tls::Implicit);
}

#[test]
fn vsftpd_plain() {
    list_download_upload(ServerKind::Vsftpd, Tls::None);
}

#[test]
fn vsftpd_explicit() {
    list_download_upload(ServerKind::Vsftpd, Tls::Explicit);
}

#[test]
fn vsftpd_implicit() {
    list_download_upload(ServerKind::Vsftpd, Tls::Implicit);
}

/// `require_session_reuse` really is what the server enforces: curl with
/// `--no-sessionid` (no TLS session resumption on data connections) is
/// refused by default and accepted with the requirement off.
fn session_reuse_option(kind: ServerKind) {
    for require in [true, false] {
        let server = FtpServer::start(kind, ServerOptions::explicit().require_session_reuse(require))
            .expect("starting the server");
        server.put_file("f.txt", b"data\n").unwrap();
        let out = curl(&server, &["--no-sessionid", &server.url("/f.txt")]);
        if require {
            assert!(
                !out.status.success(),
                "{kind} requiring session reuse accepted a data connection without it\n{}",
                server.log()
            );
        } else {
            check(&server, "RETR without session reuse", &out);
            assert_eq!(out.stdout, b"data\n");
        }
    }
}

#[test]
fn proftpd_session_reuse_option() {
    session_reuse_option(ServerKind::Proftpd);
}

#[test]
fn vsftpd_session_reuse_option() {
    session_reuse_option(ServerKind::Vsftpd);
}

/// `max_tls_version(Tls12)` caps the server at TLS 1.2: a client that insists
/// on TLS 1.3 is refused, and TLS 1.2 works (uploads included).
fn tls12_cap(kind: ServerKind) {
    let server = FtpServer::start(kind, ServerOptions::explicit().max_tls_version(TlsVersion::Tls12))
        .expect("starting the server");
    server.put_file("f.txt", b"data\n").unwrap();
    let out = curl(&server, &["--tlsv1.3", &server.url("/f.txt")]);
    assert!(!out.status.success(), "{kind} capped at TLS 1.2 accepted TLS 1.3\n{}", server.log());
    let local = server.dir.join("up.txt");
    std::fs::write(&local, b"up\n").unwrap();
    let out = curl(&server, &["--upload-file", local.to_str().unwrap(), &server.url("/up.txt")]);
    check(&server, "STOR over TLS 1.2", &out);
    assert_eq!(std::fs::read(server.path("up.txt")).unwrap(), b"up\n");
}

#[test]
fn proftpd_tls12_cap() {
    tls12_cap(ServerKind::Proftpd);
}

#[test]
fn vsftpd_tls12_cap() {
    tls12_cap(ServerKind::Vsftpd);
}

/// Dropping a server stops it (and vsftpd's session processes) and frees its files.
#[test]
fn drop_stops_the_server_and_cleans_up() {
    for kind in [ServerKind::Proftpd, ServerKind::Vsftpd] {
        let server = FtpServer::start(kind, ServerOptions::plain()).unwrap();
        // Leave a logged-in session open so there is a session process to stop.
        let mut session = std::net::TcpStream::connect(server.addr()).unwrap();
        use std::io::{BufRead, BufReader, Write};
        let mut reader = BufReader::new(session.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("220"), "{kind} greeting: {line}");
        write!(session, "USER {}\r\n", server.user).unwrap();
        line.clear();
        reader.read_line(&mut line).unwrap();
        write!(session, "PASS {}\r\n", server.password).unwrap();
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("230"), "{kind} login: {line}\n{}", server.log());

        let (dir, root, addr) = (server.dir.clone(), server.root.clone(), server.addr());
        drop(server);
        assert!(!dir.exists(), "{} still exists", dir.display());
        assert!(!root.exists(), "{} still exists", root.display());
        assert!(std::net::TcpStream::connect(addr).is_err(), "{kind} still listens on {addr}");
        // The session died with the server: the connection is closed.
        line.clear();
        let _ = session.set_read_timeout(Some(std::time::Duration::from_secs(5)));
        let n = reader.read_line(&mut line).unwrap_or(0);
        assert_eq!(n, 0, "{kind} session still answers: {line}");
    }
}
