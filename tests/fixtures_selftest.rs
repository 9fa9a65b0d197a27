//! Self-tests of the attack-suite fixtures: the hostile guest
//! (`harness::hostile_guest`) loads and behaves as documented, and the
//! scripted hostile FTP server (`hostile_server`) misbehaves exactly as its
//! script says, driven by a raw std `TcpStream`.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ftp_host::{Grant, Host, Output, Policy, Profile, RunError, Secret, SecurityMode};
use ftp_host_e2e::harness::{hostile_guest, run, rust_guest, stdout, Target};
use ftp_host_e2e::hostile_server::{Act, Canary, HostileServer, Script, When};

// ---------------------------------------------------------------- raw client

/// A minimal FTP client over a raw socket, with a 5 s read timeout.
struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Raw {
    fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect to the hostile server");
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Raw { writer: stream.try_clone().unwrap(), reader: BufReader::new(stream) }
    }

    fn timeout(&self, timeout: Duration) {
        self.writer.set_read_timeout(Some(timeout)).unwrap();
    }

    /// One line, without CR LF.
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("a reply line");
        line.trim_end_matches(['\r', '\n']).to_string()
    }

    /// A whole reply (multi-line ones joined by `\n`).
    fn reply(&mut self) -> String {
        let first = self.line();
        let mut reply = first.clone();
        if first.as_bytes().get(3) == Some(&b'-') {
            let end = format!("{} ", &first[..3]);
            loop {
                let line = self.line();
                reply.push('\n');
                reply.push_str(&line);
                if line.starts_with(&end) {
                    break;
                }
            }
        }
        reply
    }

    fn send(&mut self, command: &str) {
        self.writer.write_all(format!("{command}\r\n").as_bytes()).unwrap();
    }

    fn cmd(&mut self, command: &str) -> String {
        self.send(command);
        self.reply()
    }

    /// Greeting, USER, PASS.
    fn login(addr: SocketAddr) -> Raw {
        let mut raw = Raw::connect(addr);
        assert!(raw.reply().starts_with("220 "));
        assert!(raw.cmd("USER alice").starts_with("331 "));
        assert!(raw.cmd("PASS pw").starts_with("230 "));
        raw
    }

    /// Nothing arrives within `wait`.
    fn assert_silent(&mut self, wait: Duration) {
        self.timeout(wait);
        let mut buf = [0u8; 1];
        match self.reader.read(&mut buf) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("expected silence, got {other:?} {buf:?}"),
        }
        self.timeout(Duration::from_secs(5));
    }
}

/// The address in a `227 ... (h1,h2,h3,h4,p1,p2)` reply.
fn pasv_addr(reply: &str) -> SocketAddr {
    assert!(reply.starts_with("227 "), "{reply}");
    let inner = &reply[reply.find('(').unwrap() + 1..reply.find(')').unwrap()];
    let n: Vec<u16> = inner.split(',').map(|x| x.parse().unwrap()).collect();
    format!("{}.{}.{}.{}:{}", n[0], n[1], n[2], n[3], n[4] * 256 + n[5]).parse().unwrap()
}

/// `PASV`, `command`, connect to the data port, read it all; the 150 and 226 replies.
fn download(raw: &mut Raw, command: &str) -> (Vec<u8>, String) {
    let data_addr = pasv_addr(&raw.cmd("PASV"));
    raw.send(command);
    let mut data = TcpStream::connect(data_addr).unwrap();
    let first = raw.reply();
    assert!(first.starts_with("150 "), "{first}");
    let mut bytes = Vec::new();
    data.read_to_end(&mut bytes).unwrap();
    (bytes, raw.reply())
}

// ---------------------------------------------------------------- hostile server

#[test]
fn a_well_behaved_script_serves_and_records_everything() {
    let server = HostileServer::start(Script::new().file("a.txt", b"hello").file("dir/b.bin", &[1, 2, 3]));
    let mut raw = Raw::login(server.addr());
    assert_eq!(raw.cmd("TYPE I"), "200 ok");
    assert_eq!(raw.cmd("PWD"), "257 \"/\" is the current directory");
    assert_eq!(raw.cmd("SIZE a.txt"), "213 5");
    assert!(raw.cmd("SIZE nope").starts_with("550 "));

    let (listing, done) = download(&mut raw, "NLST");
    assert_eq!(String::from_utf8(listing).unwrap(), "a.txt\r\ndir\r\n");
    assert_eq!(done, "226 transfer complete");
    let (listing, _) = download(&mut raw, "NLST dir");
    assert_eq!(listing, b"b.bin\r\n");
    let (bytes, done) = download(&mut raw, "RETR a.txt");
    assert_eq!((bytes.as_slice(), done.as_str()), (&b"hello"[..], "226 transfer complete"));
    assert!(raw.cmd("REST 2").starts_with("350 "));
    assert_eq!(download(&mut raw, "RETR /a.txt").0, b"llo");
    assert!(raw.cmd("RETR missing").starts_with("550 "));

    // Upload.
    let data_addr = pasv_addr(&raw.cmd("PASV"));
    raw.send("STOR up.txt");
    let mut data = TcpStream::connect(data_addr).unwrap();
    assert!(raw.reply().starts_with("150 "));
    data.write_all(b"uploaded").unwrap();
    drop(data);
    assert_eq!(raw.reply(), "226 transfer complete");
    assert_eq!(server.files()["up.txt"], b"uploaded");

    // EPSV names the real data listener too.
    let epsv = raw.cmd("EPSV");
    assert!(epsv.starts_with("229 Entering Extended Passive Mode (|||"), "{epsv}");
    assert_eq!(raw.cmd("QUIT"), "221 bye");

    assert_eq!(server.control_connections(), 1);
    assert_eq!(server.data_connections(), 5);
    assert_eq!(server.canary_connections(), 0);
    let commands = server.commands();
    assert_eq!(&commands[..4], ["USER alice", "PASS pw", "TYPE I", "PWD"]);
    assert!(commands.contains(&"STOR up.txt".to_string()));
    assert!(server.received("stor") && server.received("QUIT") && !server.received("DELE"));
}

#[test]
fn pasv_can_point_at_the_canary_or_anywhere() {
    // The server's own canary.
    let server = HostileServer::start(
        Script::new().file("a.txt", b"x").pasv_to_canary().data_timeout(Duration::from_millis(200)),
    );
    let mut raw = Raw::login(server.addr());
    let named = pasv_addr(&raw.cmd("PASV"));
    assert_eq!(named, server.canary_addr());
    assert_eq!(raw.cmd("EPSV"), format!("229 Entering Extended Passive Mode (|||{}|)", server.canary_addr().port()));
    assert_eq!(server.canary_connections(), 0);
    drop(TcpStream::connect(named).unwrap());
    assert!(server.wait_until(Duration::from_secs(5), |s| s.canary_connections() == 1));
    // Nobody came to the real data listener: the transfer fails with 425.
    assert_eq!(raw.cmd("RETR a.txt"), "150 opening data connection");
    assert_eq!(raw.reply(), "425 no data connection");
    assert_eq!(server.data_connections(), 0);

    // Any address, e.g. a separate canary, port 0, or a non-loopback address.
    let canary = Canary::start();
    for target in [canary.addr(), "127.0.0.1:0".parse().unwrap(), "10.1.2.3:2121".parse().unwrap()] {
        let server = HostileServer::start(Script::new().pasv_to(target));
        let mut raw = Raw::login(server.addr());
        assert_eq!(pasv_addr(&raw.cmd("PASV")), target);
    }
    assert_eq!(canary.connections(), 0);
    drop(TcpStream::connect(canary.addr()).unwrap());
    drop(TcpStream::connect(canary.addr()).unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    while canary.connections() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(canary.connections(), 2);
}

#[test]
fn pasv_garbage_has_out_of_range_numbers() {
    let server = HostileServer::start(Script::new().pasv_garbage());
    let mut raw = Raw::login(server.addr());
    assert_eq!(raw.cmd("PASV"), "227 Entering Passive Mode (999,0,0,1,300,5)");
    assert_eq!(raw.cmd("EPSV"), "229 Entering Extended Passive Mode (|||99999|)");
}

#[test]
fn never_greet_and_silent_after_greeting_say_nothing_but_listen() {
    let server = HostileServer::start(Script::new().never_greet());
    let mut raw = Raw::connect(server.addr());
    raw.assert_silent(Duration::from_millis(300));
    raw.send("USER alice");
    raw.assert_silent(Duration::from_millis(200));
    assert!(server.wait_until(Duration::from_secs(5), |s| s.commands() == ["USER alice"]));
    assert_eq!(server.control_connections(), 1);

    let server = HostileServer::start(Script::new().silent_after_greeting());
    let mut raw = Raw::connect(server.addr());
    assert!(raw.reply().starts_with("220 "));
    raw.send("USER alice");
    raw.assert_silent(Duration::from_millis(300));
    assert_eq!(server.commands(), ["USER alice"]);
}

#[test]
fn huge_unknown_and_endless_replies() {
    // A 1 MiB line without CR LF, then silence.
    let server = HostileServer::start(Script::new().huge_reply_line(1 << 20));
    let mut raw = Raw::connect(server.addr());
    let mut line = vec![0u8; 1 << 20];
    raw.reader.read_exact(&mut line).unwrap();
    assert!(line.starts_with(b"220 xxx") && !line.contains(&b'\n'));
    raw.assert_silent(Duration::from_millis(200));

    let server = HostileServer::start(Script::new().unknown_code());
    assert_eq!(Raw::connect(server.addr()).reply(), "999 what");

    let server = HostileServer::start(Script::new().endless_multiline());
    let mut raw = Raw::connect(server.addr());
    for _ in 0..100_000 {
        assert_eq!(raw.line(), "220-endless");
    }
    drop(raw); // The flood stops when the client leaves.

    // The same at a command, and a canned reply.
    let script = Script::new()
        .at(When::command("pwd"), Act::HugeLine(10))
        .at(When::command("SYST"), Act::Reply("215-a\r\n215 b\r\n".into()))
        .at(When::command("NOOP"), Act::UnknownCode);
    let server = HostileServer::start(script);
    let mut raw = Raw::login(server.addr());
    assert_eq!(raw.cmd("SYST"), "215-a\n215 b");
    assert_eq!(raw.cmd("NOOP"), "999 what");
    raw.send("PWD");
    let mut reply = [0u8; 10];
    raw.reader.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"257 xxxxxx");
    raw.assert_silent(Duration::from_millis(200));
}

#[test]
fn stall_retr_sends_some_bytes_then_holds_the_connection() {
    let server = HostileServer::start(Script::new().file("big.bin", &[7u8; 10]).stall_retr_after(1000));
    let mut raw = Raw::login(server.addr());
    let data_addr = pasv_addr(&raw.cmd("PASV"));
    raw.send("RETR big.bin");
    let mut data = TcpStream::connect(data_addr).unwrap();
    assert!(raw.reply().starts_with("150 "));
    let mut got = vec![0u8; 1000];
    data.read_exact(&mut got).unwrap();
    assert_eq!(&got[..10], &[7u8; 10]);
    assert!(got[10..].iter().all(|&b| b == 0));
    data.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut more = [0u8; 1];
    let stalled = data.read(&mut more);
    assert!(
        matches!(&stalled, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "{stalled:?}"
    );
    raw.assert_silent(Duration::from_millis(100));
    // The client gives up: 426, and the session goes on.
    drop(data);
    assert!(raw.reply().starts_with("426 "));
    assert_eq!(raw.cmd("NOOP"), "200 ok");
}

#[test]
fn garbage_listing_is_binary_junk() {
    let server = HostileServer::start(Script::new().file("a.txt", b"x").garbage_listing());
    let mut raw = Raw::login(server.addr());
    for verb in ["NLST", "LIST"] {
        let (listing, done) = download(&mut raw, verb);
        assert!(String::from_utf8(listing.clone()).is_err(), "not UTF-8");
        assert!(listing.contains(&0) && listing.len() > 64 * 1024);
        assert_eq!(done, "226 transfer complete");
    }
}

#[test]
fn plaintext_on_auth_tls() {
    let server = HostileServer::start(Script::new().plaintext_on_auth_tls());
    let mut raw = Raw::connect(server.addr());
    raw.reply();
    assert!(raw.cmd("AUTH TLS").starts_with("234 "));
    assert_eq!(raw.line(), "220 plaintext where a TLS handshake should be");

    let server = HostileServer::start(Script::new());
    let mut raw = Raw::connect(server.addr());
    raw.reply();
    assert!(raw.cmd("AUTH TLS").starts_with("534 "), "no TLS by default");
}

#[test]
fn dropping_the_server_closes_everything() {
    let server = HostileServer::start(Script::new().never_greet());
    let addr = server.addr();
    let mut raw = Raw::connect(addr);
    assert!(server.wait_until(Duration::from_secs(5), |s| s.control_connections() == 1));
    let started = Instant::now();
    drop(server);
    assert!(started.elapsed() < Duration::from_secs(2));
    let mut buf = [0u8; 1];
    assert_eq!(raw.reader.read(&mut buf).unwrap_or(0), 0, "the held connection is closed");
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(), "the listener is gone");
}

// ---------------------------------------------------------------- hostile guest

fn profile_policy(name: &str, addr: SocketAddr, password: &str) -> Policy {
    let profile = Profile {
        name: name.into(),
        host: addr.ip().to_string(),
        port: Some(addr.port()),
        security: SecurityMode::None,
        force_prot: false,
        user: "alice".into(),
        password: Secret::new(password),
    };
    Policy::new().grant(Grant::profile(profile).expect("valid profile"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hostile_guest_loads_and_traps() {
    let host = Host::new(Policy::new()).expect("host starts");
    let plugin = host.load(hostile_guest()).expect("the hostile guest loads");
    match plugin.run(&["trap".to_string()], Output::Capture).await {
        Err(RunError::Trap(e)) => eprintln!("trap: {e:#}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    let report = plugin.run(&["nonsense".to_string()], Output::Capture).await.unwrap();
    assert!(report.result.as_ref().unwrap_err().starts_with("invalid-input: unknown command"), "{:?}", report.result);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_probe_report_every_call() {
    // No such profile: `denied`, once per attempt.
    let report = run(hostile_guest(), Policy::new(), ["sessions", "3", "nope"].map(String::from).to_vec()).await;
    assert_eq!(report.result, Ok("opened 0 of 3".to_string()));
    let lines: Vec<String> = stdout(&report).lines().map(String::from).collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l.starts_with("denied: ")), "{lines:?}");

    let server = HostileServer::start(Script::new().file("a.txt", b"hello"));
    let policy = || profile_policy("p", server.addr(), "pr0file-secret");
    let report = run(hostile_guest(), policy(), ["sessions", "2", "p"].map(String::from).to_vec()).await;
    assert_eq!(report.result, Ok("opened 2 of 2".to_string()));
    assert_eq!(stdout(&report), "ok\nok\n");

    let report = run(hostile_guest(), policy(), ["probe", "p", "a.txt"].map(String::from).to_vec()).await;
    let out = stdout(&report);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "connect-profile: ok");
    assert_eq!(lines[1], "pwd: ok \"/\"");
    assert_eq!(lines[2], "list-directory: ok 1 entries: a.txt");
    assert_eq!(lines[3], "list-directory a.txt: ok 1 entries: a.txt");
    assert_eq!(lines[4], "get a.txt: ok 5 bytes: hello");
    assert_eq!(lines[5], "size a.txt: ok 5");
    assert_eq!(lines[6], "send a.txt: ok 1");
    assert_eq!(lines[7], "open-get a.txt: ok 1 bytes: x");
    assert_eq!(lines[8], "cwd a.txt: ok");
    assert_eq!(lines[9], "quit: ok");
    assert_eq!(report.result, Ok("9 of 9 calls succeeded".to_string()));
    assert!(server.commands().contains(&"PASS pr0file-secret".to_string()));
    assert!(!out.contains("pr0file-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_all_and_upload_zeros_move_the_bytes() {
    let server = HostileServer::start(Script::new().file("big.bin", &vec![9u8; 300_000]));
    let policy = || profile_policy("p", server.addr(), "pw");
    let report = run(hostile_guest(), policy(), ["download-all", "p", "big.bin"].map(String::from).to_vec()).await;
    assert_eq!(report.result, Ok("300000 bytes".to_string()));
    assert_eq!(stdout(&report), "download-all big.bin: ok 300000 bytes\n");

    let report = run(hostile_guest(), policy(), ["upload-zeros", "p", "z.bin", "3"].map(String::from).to_vec()).await;
    assert_eq!(report.result, Ok(format!("{} bytes", 3 << 20)));
    assert_eq!(stdout(&report), format!("upload-zeros z.bin: ok {} bytes\n", 3 << 20));
    assert_eq!(server.files()["z.bin"], vec![0u8; 3 << 20]);

    let report = run(hostile_guest(), policy(), ["download-all", "p", "missing"].map(String::from).to_vec()).await;
    assert!(report.result.as_ref().unwrap_err().starts_with("not-found: "), "{:?}", report.result);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_credentials_and_the_example_guest_work_against_the_hostile_server() {
    let server = HostileServer::start(Script::new().file("a.txt", b"hello\n").file("b.txt", b""));
    let target = Target::plain(server.addr(), "mallory", "guest-pw");
    let port = server.port().to_string();
    let args = ["connect", "127.0.0.1", &port, "mallory", "guest-pw"].map(String::from).to_vec();
    let report = run(hostile_guest(), target.policy(), args).await;
    assert_eq!(report.result, Ok("2 entries".to_string()));
    assert_eq!(stdout(&report), "connect: ok\nlist-directory: ok 2 entries: a.txt | b.txt\n");
    assert!(server.commands().contains(&"PASS guest-pw".to_string()));

    // The example guest's RETR and STOR through suppaftp.
    let report = run(rust_guest(), target.policy(), target.args(&["cat", "a.txt", ";", "put", "c.txt", "new"])).await;
    assert!(report.result.is_ok(), "{:?}", report.result);
    assert_eq!(stdout(&report), "hello\n");
    assert_eq!(server.files()["c.txt"], b"new");
}

// ---------------------------------------------------------------- IIS server

/// The IIS look-alike (`iis_server`), driven by a real FTP client (suppaftp).
mod iis {
    use std::io::Cursor;

    use ftp_host::listing::{parse_list_line, Kind, Timestamp};
    use ftp_host_e2e::iis_server::{DosTime, IisServer, Node, Site, IIS_PASSWORD, IIS_USER};
    use suppaftp::types::FileType;
    use suppaftp::{FtpError, FtpStream, Mode, Status};

    fn site() -> Site {
        Site::new()
            .dir("Reports 2024")
            .file_at("Reports 2024/q1.csv", b"a,b\r\n1,2\r\n", DosTime::new(2024, 3, 31, 23, 5))
            .file_at("readme.txt", b"hello", DosTime::new(2023, 11, 5, 0, 30))
    }

    fn login(server: &IisServer) -> FtpStream {
        let mut ftp = FtpStream::connect(server.addr()).expect("connect to the IIS server");
        ftp.login(IIS_USER, IIS_PASSWORD).expect("log in");
        ftp.transfer_type(FileType::Binary).unwrap();
        ftp
    }

    /// The reply code of a failed command.
    fn code(result: Result<impl std::fmt::Debug, FtpError>) -> u32 {
        match result {
            Err(FtpError::UnexpectedResponse(response)) => response.status.code(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn it_greets_lists_and_serves_as_iis_does() {
        let server = IisServer::start(site());
        let mut ftp = FtpStream::connect(server.addr()).unwrap();
        assert!(ftp.get_welcome_msg().unwrap().contains("Microsoft FTP Service"));
        assert_eq!(code(ftp.pwd()), 530, "nothing before logging in");
        assert_eq!(code(ftp.login(IIS_USER, "wrong")), 530);
        ftp.login(IIS_USER, IIS_PASSWORD).unwrap();
        let syst = ftp.custom_command("SYST", &[Status::Name]).unwrap();
        assert_eq!(syst.as_string().unwrap().trim_end(), "215 Windows_NT");
        let features = ftp.feat().unwrap();
        for feature in ["SIZE", "MDTM", "UTF8", "REST"] {
            assert!(features.contains_key(feature), "{feature} in {features:?}");
        }
        assert!(!features.contains_key("MLST") && !features.contains_key("MLSD"), "{features:?}");
        ftp.transfer_type(FileType::Binary).unwrap();

        // LIST in IIS's DOS format, through EPSV and PASV alike.
        let expected = [
            "02-14-24  03:47PM       <DIR>          Reports 2024",
            "11-05-23  12:30AM                    5 readme.txt",
        ];
        for mode in [Mode::ExtendedPassive, Mode::Passive] {
            ftp.set_mode(mode);
            assert_eq!(ftp.list(None).unwrap(), expected);
        }
        // What the host's parser makes of it.
        let now = Timestamp { seconds: 1_800_000_000, nanoseconds: 0 };
        let entries: Vec<_> = expected.iter().filter_map(|l| parse_list_line(l.as_bytes(), now)).collect();
        let seen: Vec<_> = entries.iter().map(|e| (e.name.as_str(), e.kind, e.size)).collect();
        assert_eq!(seen, [("Reports 2024", Kind::Directory, None), ("readme.txt", Kind::File, Some(5))]);
        assert_eq!(ftp.nlst(None).unwrap(), ["Reports 2024", "readme.txt"]);
        assert_eq!(ftp.list(Some("-la readme.txt")).unwrap(), &expected[1..]);
        assert_eq!(code(ftp.list(Some("missing"))), 550);
        assert_eq!(code(ftp.mlsd(None)), 500, "no MLSD on IIS");

        // Paths are case-insensitive, as on Windows.
        ftp.cwd("reports 2024").unwrap();
        assert_eq!(ftp.pwd().unwrap(), "/Reports 2024");
        assert_eq!(ftp.list(None).unwrap(), ["03-31-24  11:05PM                   10 q1.csv"]);
        assert_eq!(ftp.size("Q1.CSV").unwrap(), 10);
        assert_eq!(ftp.mdtm("q1.csv").unwrap().to_string(), "2024-03-31 23:05:00");
        assert_eq!(ftp.retr_as_buffer("q1.csv").unwrap().into_inner(), b"a,b\r\n1,2\r\n");
        ftp.resume_transfer(5).unwrap();
        assert_eq!(ftp.retr_as_buffer("q1.csv").unwrap().into_inner(), b"1,2\r\n");
        assert_eq!(code(ftp.cwd("/readme.txt")), 550);
        assert_eq!(code(ftp.size("missing")), 550);
        ftp.cdup().unwrap();
        assert_eq!(ftp.pwd().unwrap(), "/");
        ftp.quit().unwrap();

        let commands = server.commands();
        assert_eq!(&commands[..6], ["PWD", "USER iisuser", "PASS wrong", "USER iisuser", "PASS iis-password", "SYST"]);
        assert!(server.received("MLSD") && server.received("EPSV") && server.received("PASV"));
        assert!(!server.received("DELE"));
    }

    #[test]
    fn file_management_changes_the_tree() {
        let server = IisServer::start(site());
        let mut ftp = login(&server);
        ftp.set_mode(Mode::ExtendedPassive);

        ftp.mkdir("done").unwrap();
        assert_eq!(code(ftp.mkdir("done")), 550, "exists");
        assert_eq!(code(ftp.mkdir("no/such/parent")), 550);
        ftp.put_file("done/new.txt", &mut Cursor::new(b"uploaded".to_vec())).unwrap();
        ftp.rename("Reports 2024/q1.csv", "done/q1.csv").unwrap();
        assert_eq!(code(ftp.rename("missing", "x")), 550);
        assert_eq!(code(ftp.rmdir("done")), 550, "not empty");
        ftp.rm("done/new.txt").unwrap();
        assert_eq!(code(ftp.rm("done/new.txt")), 550);
        assert_eq!(code(ftp.rm("done")), 550, "DELE of a directory");
        ftp.rmdir("Reports 2024").unwrap();
        // A directory moves with its contents.
        ftp.rename("done", "archive").unwrap();
        assert_eq!(code(ftp.custom_command("MFMT 20240101000000 readme.txt", &[Status::File])), 500);

        let site = server.site();
        let names: Vec<&str> = site.nodes().keys().map(String::as_str).collect();
        assert_eq!(names, ["archive", "archive/q1.csv", "readme.txt"]);
        assert_eq!(site.file_bytes("archive/q1.csv"), Some(&b"a,b\r\n1,2\r\n"[..]));
        assert!(site.is_dir("archive") && !site.is_dir("done"));
        assert!(matches!(site.nodes()["readme.txt"], Node::File { .. }));
        let commands = server.commands();
        for expected in
            ["MKD done", "RNFR Reports 2024/q1.csv", "RNTO done/q1.csv", "DELE done/new.txt", "RMD Reports 2024"]
        {
            assert!(commands.iter().any(|c| c == expected), "{expected:?} in {commands:?}");
        }
    }

    #[test]
    fn four_digit_years() {
        let server = IisServer::start(site().four_digit_years());
        let mut ftp = login(&server);
        assert_eq!(
            ftp.list(None).unwrap(),
            [
                "02-14-2024  03:47PM       <DIR>          Reports 2024",
                "11-05-2023  12:30AM                    5 readme.txt"
            ]
        );
    }
}
