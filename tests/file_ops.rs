//! File management through the Rust example (`naas:ftp@0.2.0`: `list`, `stat`,
//! `mkdir`, `rename`, `delete`, `rmdir`) and its `mirror` command, against
//! proftpd (MLSD), vsftpd (no MLSD: the `LIST` parser) and the embedded
//! server; every step checked on the server's disk. Then the jail: with write
//! rules, `mkdir`/`rename`/`delete`/`rmdir` outside them are `denied` and
//! never reach the server (proftpd's command log), and a rename whose target
//! is outside is denied even when its source is inside.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ftp_host::demo::{DemoServer, DEMO_USER};
use ftp_host::{DirGrant, Grant, PathRules, Policy, RunReport};
use ftp_host_e2e::harness::{disk, error_kind, run, rust_guest, stdout, LongLine, Target};
use ftp_host_e2e::servers::{FtpServer, ServerKind, ServerOptions};

/// 2025-06-15T10:20:30Z: the modification time of the seeded files (old
/// enough that `ls -l` lines show a year, not a time).
const SEEDED_TIME: u64 = 1_749_982_830;

/// A server under test: where its files are, and how to reach it.
struct Under {
    name: &'static str,
    root: PathBuf,
    target: Target,
    /// Whether its listings are exact to the second (MLSD); `LIST` lines of
    /// old files carry only the date.
    exact_times: bool,
    /// Make a freshly written file the server's (real servers run as another user).
    own: Box<dyn Fn(&Path)>,
}

impl Under {
    fn put(&self, rel: &str, bytes: &[u8]) {
        let path = self.root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(SEEDED_TIME);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(time).unwrap();
        let mut dir = path.parent().unwrap();
        (self.own)(&path);
        while dir != self.root {
            (self.own)(dir);
            dir = dir.parent().unwrap();
        }
    }

    async fn run(&self, command: &[&str]) -> RunReport {
        run(rust_guest(), self.target.policy(), self.target.args(command)).await
    }

    async fn run_with_dir(&self, local: &Path, command: &[&str]) -> RunReport {
        let policy = self.target.policy().with_dir(DirGrant {
            host: local.to_path_buf(),
            guest: "/data".into(),
            read_only: false,
        });
        run(rust_guest(), policy, self.target.args(command)).await
    }
}

fn ok(report: &RunReport) -> &str {
    report.result.as_deref().unwrap_or_else(|e| panic!("the plugin failed: {e}"))
}

/// The whole scenario on one server.
async fn file_operations(under: Under) {
    let alpha = b"alpha\n".to_vec();
    let bin: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    under.put("docs/a.txt", &alpha);
    under.put("docs/sub/b.bin", &bin);
    under.put("tree/x.txt", b"x\n");
    under.put("tree/d/y.bin", &bin[..12_345]);
    under.put("tree/d/e/z.txt", b"zed\n");
    let name = under.name;

    // ls -l: kinds, sizes, times, sorted by name (guest-examples/README.md).
    let report = under.run(&["ls", "-l", "docs"]).await;
    assert_eq!(ok(&report), "2 entries", "{name}");
    let text = stdout(&report);
    let lines: Vec<LongLine> = text.lines().map(LongLine::parse).collect();
    assert_eq!(lines.len(), 2, "{name}: {text}");
    assert_eq!((lines[0].kind, lines[0].size, lines[0].name), ("file", "6", "a.txt"), "{name}");
    if under.exact_times {
        assert_eq!(lines[0].modified, "2025-06-15T10:20:30Z", "{name}: MLSD times are exact");
    } else {
        assert!(lines[0].modified.starts_with("2025-06-15T"), "{name}: the LIST line's date: {}", lines[0].modified);
    }
    assert_eq!((lines[1].kind, lines[1].name), ("directory", "sub"), "{name}");

    // stat: a file and a directory.
    let report = under.run(&["stat", "docs/sub/b.bin"]).await;
    assert_eq!(ok(&report), "docs/sub/b.bin: file", "{name}");
    let text = stdout(&report);
    let line = LongLine::parse(text.trim_end());
    assert_eq!((line.kind, line.size, line.name), ("file", bin.len().to_string().as_str(), "docs/sub/b.bin"), "{name}");
    let report = under.run(&["stat", "docs/sub"]).await;
    assert_eq!(ok(&report), "docs/sub: directory", "{name}");
    let report = under.run(&["stat", "docs/none.txt"]).await;
    assert_eq!(error_kind(&report), Some("not-found"), "{name}: {:?}", report.result);

    // mkdir -p, twice (the second finds it there), and plain mkdir.
    for _ in 0..2 {
        let report = under.run(&["mkdir", "-p", "new/deep/er"]).await;
        assert_eq!(ok(&report), "created directory new/deep/er", "{name}");
        assert!(under.root.join("new/deep/er").is_dir(), "{name}");
    }
    let report = under.run(&["mkdir", "new/plain"]).await;
    assert_eq!(ok(&report), "created directory new/plain", "{name}");
    assert!(under.root.join("new/plain").is_dir(), "{name}");

    // mv across directories, rm, rmdir.
    let report = under.run(&["mv", "docs/a.txt", "new/deep/moved.txt"]).await;
    assert_eq!(ok(&report), "renamed docs/a.txt to new/deep/moved.txt", "{name}");
    assert!(!under.root.join("docs/a.txt").exists(), "{name}: the source is gone");
    assert_eq!(std::fs::read(under.root.join("new/deep/moved.txt")).unwrap(), alpha, "{name}");
    let report = under.run(&["rm", "new/deep/moved.txt"]).await;
    assert_eq!(ok(&report), "deleted new/deep/moved.txt", "{name}");
    assert!(!under.root.join("new/deep/moved.txt").exists(), "{name}");
    let report = under.run(&["rmdir", "new/deep/er"]).await;
    assert_eq!(ok(&report), "removed directory new/deep/er", "{name}");
    assert!(!under.root.join("new/deep/er").exists() && under.root.join("new/deep").is_dir(), "{name}");
    let report = under.run(&["rmdir", "docs/sub"]).await;
    assert!(report.result.is_err(), "{name}: rmdir of a non-empty directory: {:?}", report.result);
    assert!(under.root.join("docs/sub/b.bin").exists(), "{name}");

    // mirror, twice: the second run moves nothing.
    let local = tempfile::tempdir().unwrap();
    let remote_tree = disk(&under.root.join("tree"));
    let report = under.run_with_dir(local.path(), &["mirror", "tree", "/data/m"]).await;
    let total = 2 + 12_345 + 4;
    assert_eq!(
        ok(&report),
        format!("mirrored tree to /data/m: 3 files downloaded ({total} bytes), 0 unchanged, 2 directories, 0 skipped"),
        "{name}"
    );
    assert_eq!(disk(&local.path().join("m")), remote_tree, "{name}: the local copy, and no temporary files");
    // The files' bytes, plus the listings of the tree (which count too).
    assert!(report.stats.bytes_downloaded > total as u64, "{name}: {}", report.stats.bytes_downloaded);
    let listing_bytes = report.stats.bytes_downloaded - total as u64;
    let mut printed: Vec<&str> = Vec::new();
    let text = stdout(&report);
    printed.extend(text.lines());
    printed.sort();
    assert_eq!(
        printed,
        ["downloaded d/e/z.txt (4 bytes)", "downloaded d/y.bin (12345 bytes)", "downloaded x.txt (2 bytes)"],
        "{name}"
    );

    let report = under.run_with_dir(local.path(), &["mirror", "tree", "/data/m"]).await;
    assert_eq!(
        ok(&report),
        "mirrored tree to /data/m: 0 files downloaded (0 bytes), 3 unchanged, 2 directories, 0 skipped",
        "{name}: a second run transfers nothing"
    );
    assert_eq!(report.stats.bytes_downloaded, listing_bytes, "{name}: the same listings, no file bytes");
    assert_eq!(stdout(&report), "", "{name}");
    assert_eq!(disk(&local.path().join("m")), remote_tree, "{name}");

    // A changed file (new size) is downloaded again, and only it.
    under.put("tree/d/y.bin", &bin[..999]);
    let report = under.run_with_dir(local.path(), &["mirror", "tree", "/data/m"]).await;
    assert_eq!(
        ok(&report),
        "mirrored tree to /data/m: 1 files downloaded (999 bytes), 2 unchanged, 2 directories, 0 skipped",
        "{name}"
    );
    assert_eq!(std::fs::read(local.path().join("m/d/y.bin")).unwrap(), &bin[..999], "{name}");
}

fn real(kind: ServerKind) -> (FtpServer, Under) {
    let server =
        FtpServer::start(kind, ServerOptions::plain()).unwrap_or_else(|e| panic!("{kind} did not start: {e:#}"));
    let target = Target::of(&server, "none");
    let (uid, gid) = (server.uid, server.gid);
    let under = Under {
        name: if kind == ServerKind::Proftpd { "proftpd" } else { "vsftpd" },
        root: server.root.clone(),
        target,
        exact_times: kind == ServerKind::Proftpd,
        own: Box::new(move |path| std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap()),
    };
    (server, under)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_operations_on_proftpd_with_mlsd() {
    let (server, under) = real(ServerKind::Proftpd);
    file_operations(under).await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_operations_on_vsftpd_with_list() {
    let (server, under) = real(ServerKind::Vsftpd);
    file_operations(under).await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_operations_on_the_embedded_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = DemoServer::start(dir.path(), "pw").await.unwrap();
    let under = Under {
        name: "embedded",
        root: server.root().to_path_buf(),
        target: Target::plain(server.addr(), DEMO_USER, "pw"),
        exact_times: false,
        own: Box::new(|_| {}),
    };
    file_operations(under).await;
}

/// Lines of proftpd's command log naming one of the file-management commands.
fn management_commands(server: &FtpServer) -> Vec<String> {
    let log = std::fs::read_to_string(server.dir.join("commands.log")).unwrap_or_default();
    log.lines()
        .filter(|l| ["MKD ", "RMD ", "DELE ", "RNFR ", "RNTO ", "XMKD ", "XRMD "].iter().any(|c| l.contains(c)))
        .map(String::from)
        .collect()
}

/// Write rules `/in/**` (read `/out/**` and `/in/**`): every management call
/// outside them is `denied` by the host, the server's disk does not change
/// and its command log shows none of them; a rename from inside to outside is
/// denied too. A granted rename then shows in the log (the check can fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_outside_the_write_rules_is_denied_and_never_reaches_the_server() {
    let server = FtpServer::proftpd(ServerOptions::plain()).unwrap_or_else(|e| panic!("proftpd did not start: {e:#}"));
    server.put_file("out/report.txt", b"report").unwrap();
    server.put_file("out/sub/deep.txt", b"deep").unwrap();
    server.put_file("in/inside.txt", b"inside").unwrap();
    server.put_file("elsewhere/other.txt", b"other").unwrap();
    let before = disk(&server.root);
    let target = Target {
        host: server.host.clone(),
        port: server.port,
        user: server.user.clone(),
        password: server.password.clone(),
        security: "none",
        force_prot: false,
    };
    let rules = PathRules::new(Some(&["/out/**".into(), "/in/**".into()]), Some(&["/in/**".into()]), false).unwrap();
    let policy = || {
        Policy::new()
            .grant(Grant::server(&format!("{}:{}", target.host, target.port)).unwrap().with_paths(rules.clone()))
    };

    let denied: &[&[&str]] = &[
        &["mkdir", "/out/new"],
        &["mkdir", "-p", "/elsewhere/a/b"],
        &["mkdir", "/in/../out/escape"],
        &["rm", "/out/report.txt"],
        &["rm", "/elsewhere/other.txt"],
        &["rmdir", "/out/sub"],
        &["mv", "/out/report.txt", "/in/report.txt"],
        &["mv", "/in/inside.txt", "/out/inside.txt"],
        &["mv", "/in/inside.txt", "/elsewhere/inside.txt"],
        &["mv", "/in/inside.txt", "/in/../top.txt"],
    ];
    for command in denied {
        let report = run(rust_guest(), policy(), target.args(command)).await;
        assert_eq!(error_kind(&report), Some("denied"), "{command:?}: {:?}", report.result);
    }
    assert_eq!(disk(&server.root), before, "the server's disk did not change");
    assert_eq!(management_commands(&server), Vec::<String>::new(), "denied calls reached the server");

    // Inside the rules it works, and the log shows it.
    let report = run(rust_guest(), policy(), target.args(&["mv", "/in/inside.txt", "/in/renamed.txt"])).await;
    assert_eq!(report.result, Ok("renamed /in/inside.txt to /in/renamed.txt".into()));
    assert_eq!(std::fs::read(server.root.join("in/renamed.txt")).unwrap(), b"inside");
    let logged = management_commands(&server);
    assert!(logged.iter().any(|l| l.contains("RNFR")), "{logged:?}\n{}", server.log());
}

/// The DOS-format `LIST` path end to end, against a server that answers as
/// IIS does (no MLSD/MLST in its FEAT, `MM-DD-YY  HH:MMAM  <DIR>` lines):
/// `ls -l` shows kinds, sizes and times, `stat` falls back to SIZE + MDTM,
/// and mkdir/mv/rm change the server's tree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_operations_on_an_iis_look_alike_with_dos_listings() {
    use ftp_host_e2e::iis_server::{DosTime, IisServer, Site, IIS_PASSWORD, IIS_USER};
    let site = Site::new()
        .dir("Reports")
        .file_at("Reports/Q1 2024.csv", b"a,b\r\n1,2\r\n", DosTime::new(2024, 2, 14, 15, 47))
        .file_at("readme.txt", b"hello", DosTime::new(2023, 12, 1, 9, 5));
    let server = IisServer::start(site);
    let target = Target::plain(server.addr(), IIS_USER, IIS_PASSWORD);
    let run_ok = |command: &'static [&'static str]| {
        let (policy, args) = (target.policy(), target.args(command));
        async move {
            let report = run(rust_guest(), policy, args).await;
            assert!(report.result.is_ok(), "{command:?}: {:?}\n{}", report.result, stdout(&report));
            stdout(&report)
        }
    };

    let root = run_ok(&["ls", "-l"]).await;
    let lines: Vec<LongLine> = root.lines().map(LongLine::parse).collect();
    let entry = |name: &str| {
        let l = lines.iter().find(|l| l.name == name).unwrap_or_else(|| panic!("no {name} in:\n{root}"));
        (l.kind, l.size, l.modified)
    };
    assert_eq!(entry("Reports"), ("directory", "-", "2024-02-14T15:47:00Z"), "{root}");
    assert_eq!(entry("readme.txt"), ("file", "5", "2023-12-01T09:05:00Z"), "{root}");

    let inner = run_ok(&["ls", "-l", "Reports"]).await;
    let q1 = inner.lines().map(LongLine::parse).find(|l| l.name == "Q1 2024.csv");
    let q1 = q1.unwrap_or_else(|| panic!("a name with a space is lost:\n{inner}"));
    assert_eq!((q1.kind, q1.size, q1.modified), ("file", "10", "2024-02-14T15:47:00Z"), "{inner}");

    let stat = run_ok(&["stat", "readme.txt"]).await;
    assert!(stat.contains("file 5 "), "{stat}");

    run_ok(&["mkdir", "Archive", ";", "mv", "Reports/Q1 2024.csv", "Archive/Q1 2024.csv", ";", "rm", "readme.txt"])
        .await;
    let site = server.site();
    assert!(site.is_dir("Archive"), "{:?}", site.nodes().keys());
    assert_eq!(site.file_bytes("Archive/Q1 2024.csv"), Some(&b"a,b\r\n1,2\r\n"[..]), "{:?}", site.nodes().keys());
    assert!(site.file_bytes("Reports/Q1 2024.csv").is_none() && site.file_bytes("readme.txt").is_none());
    assert!(
        !server.received("MLSD") && !server.received("MLST"),
        "IIS does not offer MLSD/MLST: {:?}",
        server.commands()
    );
    assert!(server.received("LIST"), "{:?}", server.commands());
}

/// Per-server connection limits in one host (issue 14): 12 plugins at once
/// against a proftpd that refuses a user's third login (`MaxClientsPerUser
/// 2`), under `max_connections = 2`: every run succeeds (waiting for a slot
/// instead of failing), and the server never refused a login.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twelve_plugins_share_two_connections_to_a_server() {
    let mut opts = ServerOptions::plain();
    opts.max_clients_per_user = Some(2);
    // Twelve plugins on two sessions open data connections back to back.
    // With 16 passive ports a CI run once saw proftpd answer EPSV with 425
    // ("unable to listen on 127.0.0.1#20396: Address already in use": both
    // sessions had picked that port in the same millisecond); this test,
    // the busiest, gets a wider range still than the default.
    opts.passive_ports = 256;
    let server = FtpServer::proftpd(opts).unwrap_or_else(|e| panic!("proftpd did not start: {e:#}"));
    server.put_file("hello.txt", b"hi").unwrap();
    let target = Target::plain(server.addr(), &server.user, &server.password);
    let grant = Grant::server(&format!("{}:{}", server.host, server.port)).unwrap().with_max_connections(Some(2));
    let host = ftp_host::Host::new(Policy::new().grant(grant)).expect("host starts");
    let plugin = host.load(rust_guest()).expect("the example loads");
    let runs: Vec<_> = (0..12)
        .map(|_| {
            let plugin = plugin.clone();
            // Two listings and a download: each run holds its connection a while.
            let args = target.args(&["ls", ";", "sha256", "hello.txt", ";", "ls"]);
            tokio::spawn(async move { plugin.run(&args, ftp_host::Output::Capture).await })
        })
        .collect();
    for (i, task) in runs.into_iter().enumerate() {
        let report = task.await.unwrap().unwrap_or_else(|e| panic!("run {i}: {e}"));
        assert!(report.result.is_ok(), "run {i}: {:?}\nserver log:\n{}", report.result, server.log());
    }
    let log = server.log();
    // proftpd answers a third login `530 Sorry, the maximum number of clients (2) for this user are already
    // connected.`, logged as `"PASS (hidden)" 530`.
    assert!(!log.contains("\"PASS (hidden)\" 530"), "the server refused a third login:\n{log}");
}
