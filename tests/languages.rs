//! The example guests (one row of [`LANGUAGES`] each: Rust, Python,
//! JavaScript, C, Go) through one scenario matrix: the same command line must give
//! the same result, the same output and the same files on the server and in
//! the granted directory, whatever language the plugin is written in. Against
//! the embedded server (plain FTP) and proftpd (explicit FTPS). Then each
//! guest's own showcase command once (`mirror-report`, `publish`,
//! `checksums`), and Go's typed refusal of a local path outside its grants.
//!
//! The commands every example implements (after the connection flags
//! `--host H --port P --user U --password W --security none|explicit|implicit
//! [--force-prot]`), and what they print, are specified once, in
//! guest-examples/README.md (with the `ls -l` format). The WIT calls each
//! makes, so that the host's counts agree too:
//!
//! | command | WIT calls |
//! |---|---|
//! | `ls [DIR]` | `list-directory` |
//! | `ls -l [DIR]` | `list` |
//! | `sha256 PATH...`, `cat PATH` | `get` each |
//! | `put PATH TEXT` | `send` |
//! | `download REMOTE LOCAL` | `open-get(REMOTE, 0)`, `body`, splice into LOCAL's `.part` file, `finish` |
//! | `mkdir [-p] DIR`, `mv A B`, `rm P`, `rmdir D` | `mkdir`, `rename`, `delete`, `rmdir` |
//!
//! and every failure is the `err` `KIND: message`, KIND the WIT error case
//! (`not-found`, `auth`, ...), as each language's library typed it.
//!
//! A streamed download must not hold the file: the 64 MiB scenario runs each
//! guest under a memory limit of its language's baseline (the linear memory
//! its runtime needs to run at all, measured with `memory_baselines`) plus
//! [`STREAMING_HEADROOM`], and the same limit stops an in-memory `get` of
//! that file.
//!
//! The Python, JavaScript, C and Go guests are built from source here, by
//! `scripts/build-guests.sh`, once per run of this binary; a failed build
//! fails every test with the script's output (install the toolchains with
//! `scripts/install-guest-toolchains.sh`, as `scripts/test.sh` does). Each
//! guest is then compiled once, into a compiled-component cache under
//! `CARGO_TARGET_TMPDIR`: a test's own host (its policy grants its server)
//! loads it from there in milliseconds and runs it many times.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ftp_host::demo::{DemoServer, DEMO_USER};
use ftp_host::{Cache, DirGrant, Host, Limits, Origin, Output, Plugin, Policy, RunError, RunReport, Trust};
use ftp_host_e2e::harness::{
    build_guests, disk, error_kind, result_kind, sha256, show, stdout, workspace, LongLine, Target,
};
use ftp_host_e2e::servers::{FtpServer, ServerKind, ServerOptions};

/// One language of the matrix: a row is all it takes to add one.
#[derive(Debug, PartialEq, Eq)]
struct Language {
    name: &'static str,
    /// The component `scripts/build-guests.sh NAME` writes, relative to the
    /// workspace; `None` for Rust (`host/build.rs` builds it).
    component: Option<&'static str>,
    /// Linear memory its example needs to run at all, in MiB: what the
    /// runtime allocates before it moves any file. Measured with
    /// `memory_baselines` (below), rounded up.
    baseline_mib: usize,
}

const LANGUAGES: &[Language] = &[
    Language { name: "rust", component: None, baseline_mib: RUST_BASELINE_MIB },
    Language {
        name: "python",
        component: Some("guest-examples/python/build/ftp-python.wasm"),
        baseline_mib: PYTHON_BASELINE_MIB,
    },
    Language { name: "js", component: Some("guest-examples/js/build/ftp-js.wasm"), baseline_mib: JS_BASELINE_MIB },
    Language { name: "c", component: Some("guest-examples/c/build/ftp-c.wasm"), baseline_mib: C_BASELINE_MIB },
    Language { name: "go", component: Some("guest-examples/go/build/ftp-go.wasm"), baseline_mib: GO_BASELINE_MIB },
];

// Baselines measured with `memory_baselines` on 2026-12-01 (wasmtime 48,
// componentize-py 0.25.1, ComponentizeJS 0.23.0, clang 19 + wasi-libc; Go
// 1.27.3 on 2026-12-02): the
// smallest whole-MiB limit under which `ls` runs. The 64 MiB streamed
// `download` needed the same in every language but Go (5 MiB) when measured
// again on 2026-12-02 with 3-4 busy loops beside it (JavaScript needed 16 MiB
// there before its splice loop stopped making a pollable per chunk).
const RUST_BASELINE_MIB: usize = 2;
const PYTHON_BASELINE_MIB: usize = 13;
const JS_BASELINE_MIB: usize = 11;
const C_BASELINE_MIB: usize = 1;
const GO_BASELINE_MIB: usize = 4;

/// What a streamed transfer may add to a guest's baseline memory: buffers,
/// not the file.
const STREAMING_HEADROOM_MIB: usize = 4;
const MIB: usize = 1024 * 1024;

/// The large file of the streaming scenario.
const BIG: &str = "big.bin";
const BIG_SIZE: usize = 64 * MIB;

fn language(name: &str) -> &'static Language {
    LANGUAGES.iter().find(|l| l.name == name).unwrap_or_else(|| panic!("no language {name} in LANGUAGES"))
}

impl Language {
    /// The memory limit a streamed download must fit in.
    fn streaming_limit(&self) -> usize {
        (self.baseline_mib + STREAMING_HEADROOM_MIB) * MIB
    }
}

/// A guest's component bytes.
struct Guest {
    language: &'static Language,
    bytes: Vec<u8>,
}

/// Every guest, built, and the cache each has been compiled into.
struct Guests {
    guests: Vec<Guest>,
    cache: Cache,
}

/// Build the guests and compile each into the cache, once per test binary.
/// A failure is kept and reported by every test that asks.
fn guests() -> &'static Guests {
    static GUESTS: OnceLock<Result<Guests, String>> = OnceLock::new();
    match GUESTS.get_or_init(build_and_compile) {
        Ok(guests) => guests,
        Err(message) => panic!("{message}"),
    }
}

fn build_and_compile() -> Result<Guests, String> {
    let built: Vec<&str> = LANGUAGES.iter().filter(|l| l.component.is_some()).map(|l| l.name).collect();
    eprintln!("{}", build_guests(&built)?);

    let mut guests = Vec::new();
    for language in LANGUAGES {
        let bytes = match language.component {
            None => ftp_host::demo::EXAMPLE_PLUGIN.to_vec(),
            Some(path) => {
                std::fs::read(workspace().join(path)).map_err(|e| format!("{path} (built by build-guests.sh): {e}"))?
            }
        };
        guests.push(Guest { language, bytes });
    }

    // The Python and JavaScript builds are not reproducible (the bytes differ
    // every time), so entries of earlier runs never hit again: keep only the
    // current guests' entries.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("languages-cache");
    let cache = Cache::open(&dir).map_err(|e| format!("{e:#}"))?;
    let current: Vec<String> = guests.iter().map(|g| sha256(&g.bytes)).collect();
    for entry in std::fs::read_dir(&dir).map_err(|e| e.to_string())?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".cwasm") && !current.iter().any(|digest| name.starts_with(digest.as_str())) {
            let _ = std::fs::remove_file(entry.path());
        }
    }

    // The one compilation of each guest (the tests' hosts then find it cached).
    let host = Host::new(Policy::new()).map_err(|e| format!("{e:#}"))?.with_cache(cache.clone());
    for guest in &guests {
        let started = Instant::now();
        let plugin = host
            .load_named(&guest.bytes, guest.language.name)
            .map_err(|e| format!("the {} guest does not load: {e}", guest.language.name))?;
        eprintln!(
            "{}: {} bytes, {:?} in {:.1?}",
            guest.language.name,
            guest.bytes.len(),
            plugin.origin(),
            started.elapsed()
        );
    }
    Ok(Guests { guests, cache })
}

/// A host enforcing `policy`, sharing the guests' compiled-component cache.
fn host(policy: Policy) -> Host {
    Host::new(policy).expect("host starts").with_cache(guests().cache.clone())
}

/// The guest in `language`, loaded by `host` from the cache.
fn load(host: &Host, language: &Language) -> Plugin {
    let guest = guests().guests.iter().find(|g| g.language == language).expect("every language is built");
    let plugin = host.load_named(&guest.bytes, language.name).expect("guest loads");
    assert_eq!(plugin.origin(), Origin::Cached, "{}: compiled once per test binary, then cached", language.name);
    plugin
}

async fn run(language: &Language, plugin: &Plugin, args: &[String]) -> RunReport {
    let report = plugin
        .run(args, Output::Capture)
        .await
        .unwrap_or_else(|e| panic!("{}: {:?} did not run: {e}", language.name, args.last()));
    show(language.name, args, &report);
    report
}

/// What a run did, in the terms every language must agree on.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    /// The guest's verdict, whole (`ok` summary or `KIND: message`).
    result: Result<String, String>,
    /// Its stdout, lines sorted (each with its newline, if it had one).
    stdout: String,
    /// FTP operations, bytes downloaded, bytes uploaded (as the host counted them).
    operations: u64,
    downloaded: u64,
    uploaded: u64,
    /// The server's files afterwards: path (from the root) to SHA-256, `dir` for directories.
    disk: BTreeMap<String, String>,
    /// The granted directory's files afterwards, the same way.
    local: BTreeMap<String, String>,
}

fn outcome(report: &RunReport, root: &Path, local: &Path) -> Outcome {
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
        local: disk(local),
    }
}

/// The server of one column of the matrix.
struct Server<'a> {
    name: &'static str,
    /// What the server serves, on disk.
    root: &'a Path,
    target: Target,
    /// How its certificate is checked (`None`: plain FTP).
    trust: Option<Trust>,
    /// The directory granted to the guests (as [`LOCAL`]), emptied before each run.
    local: tempfile::TempDir,
    /// Who must own what the tests write under `root` for the server to
    /// change it (proftpd's `nobody`); `None`: as written.
    owner: Option<(u32, u32)>,
}

/// Where the granted directory is in the guest.
const LOCAL: &str = "/local";

impl Server<'_> {
    /// The policy of a run: this server (with the given target's
    /// credentials), the granted directory, and `limits`.
    fn policy(&self, target: &Target, limits: Limits) -> Policy {
        let policy = match &self.trust {
            Some(trust) => target.policy_trusting(trust.clone()),
            None => target.policy(),
        };
        policy
            .with_dir(DirGrant { host: self.local.path().to_path_buf(), guest: LOCAL.into(), read_only: false })
            .with_limits(limits)
    }

    /// Write a file under the root (and its parents), owned as the server needs.
    fn put(&self, rel: &str, bytes: &[u8]) {
        let path = self.root.join(rel);
        self.mkdir(Path::new(rel).parent().unwrap().to_str().unwrap());
        std::fs::write(&path, bytes).unwrap();
        self.chown(&path);
    }

    /// Create a directory under the root (and its parents), owned as the server needs.
    fn mkdir(&self, rel: &str) {
        let mut path = self.root.to_path_buf();
        for part in Path::new(rel).components() {
            path.push(part);
            if !path.exists() {
                std::fs::create_dir(&path).unwrap();
                self.chown(&path);
            }
        }
    }

    fn chown(&self, path: &Path) {
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
        }
    }

    fn clear_local(&self) {
        for entry in std::fs::read_dir(self.local.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                std::fs::remove_dir_all(path).unwrap();
            } else {
                std::fs::remove_file(path).unwrap();
            }
        }
    }
}

/// What the matrix puts on a server before it starts: files (`put`) and an
/// empty directory (`mkdir`).
fn seed(put: impl Fn(&str, &[u8]), mkdir: impl Fn(&str)) {
    put("hello.txt", b"hello\n");
    put("notes 2026.txt", "naïve café, 2026 ✓\n".as_bytes());
    put(NULS, NULS_TEXT.as_bytes());
    // Every byte value, and more than one read chunk.
    put("bytes.bin", &(0..(1u32 << 20) + 17).map(|i| (i * 7 + i / 251) as u8).collect::<Vec<u8>>());
    put(BIG, &big());
    mkdir("empty");
}

/// The large file: patterned, so a misplaced chunk changes the checksum.
fn big() -> Vec<u8> {
    let mut data = vec![0u8; BIG_SIZE];
    for (i, chunk) in data.chunks_mut(4096).enumerate() {
        chunk.fill((i % 251) as u8);
        chunk[..8].copy_from_slice(&(i as u64).to_le_bytes());
    }
    data
}

const UPLOAD: &str = "upload.txt";
const UPLOAD_TEXT: &str = "put by a plugin: ünïcödé ✓ — same bytes from every language";

/// A text with NUL bytes, for `cat` (which must not stop at the first).
const NULS: &str = "nuls.txt";
const NULS_TEXT: &str = "before\0after\n\0a line that starts with NUL ✓\n";

/// Run `command` with every guest, one after the other, each under
/// `limits(language)`, with the granted directory emptied and `before`
/// run before each. Asserts that every language had the same outcome and
/// returns it.
async fn everywhere_with(
    server: &Server<'_>,
    scenario: &str,
    target: &Target,
    command: &[&str],
    limits: impl Fn(&Language) -> Limits,
    before: impl Fn(),
) -> Outcome {
    let args = target.args(command);
    let mut outcomes = Vec::new();
    let mut times = String::new();
    for language in LANGUAGES {
        server.clear_local();
        before();
        let plugin = load(&host(server.policy(target, limits(language))), language);
        let report = run(language, &plugin, &args).await;
        let _ = write!(times, " {}={:.0?}", language.name, report.duration);
        outcomes.push((language, outcome(&report, server.root, server.local.path())));
    }
    eprintln!("=== {} / {scenario}:{times}", server.name);
    let (first_language, first) = &outcomes[0];
    for (language, outcome) in &outcomes[1..] {
        assert_eq!(
            outcome, first,
            "{} / {scenario}: {} (right) and {} (left) disagree",
            server.name, first_language.name, language.name
        );
    }
    first.clone()
}

/// [`everywhere_with`] under the default limits.
async fn everywhere(
    server: &Server<'_>,
    scenario: &str,
    target: &Target,
    command: &[&str],
    before: impl Fn(),
) -> Outcome {
    everywhere_with(server, scenario, target, command, |_| Limits::default(), before).await
}

/// The matrix: connect, `ls`, `sha256`, `cat`, `put`, a missing file, a wrong
/// password, a 64 MiB streamed download under a memory limit, a missing
/// file to download; each with every language, and each checked against the
/// server's disk and the granted directory.
async fn matrix(server: Server<'_>) {
    let root = server.root;
    let seeded = disk(root);
    let nothing = BTreeMap::new();
    let top: Vec<String> = seeded.keys().filter(|p| !p.contains('/')).cloned().collect();

    // Connect (and list an empty directory: nothing else to see).
    let connect = everywhere(&server, "connect", &server.target, &["ls", "empty"], || {}).await;
    assert_eq!(connect.result, Ok("0 entries".into()));
    assert_eq!(connect.stdout, "");
    assert_eq!(connect.disk, seeded);

    let ls = everywhere(&server, "ls", &server.target, &["ls"], || {}).await;
    assert_eq!(ls.result, Ok(format!("{} entries", top.len())));
    assert_eq!(ls.stdout, top.iter().map(|n| format!("{n}\n")).collect::<String>());
    assert_eq!(ls.disk, seeded);

    let files = ["bytes.bin", "notes 2026.txt"];
    let sums = everywhere(&server, "sha256", &server.target, &["sha256", files[0], files[1]], || {}).await;
    assert_eq!(sums.result, Ok("2 files checked".into()));
    let mut expected: Vec<String> = files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(root.join(f)).unwrap();
            format!("{}  {}  {f}\n", sha256(&bytes), bytes.len())
        })
        .collect();
    expected.sort();
    assert_eq!(sums.stdout, expected.concat());
    assert_eq!(sums.disk, seeded);

    // The exact bytes on stdout, NULs and all.
    let cat = everywhere(&server, "cat", &server.target, &["cat", NULS], || {}).await;
    assert_eq!(cat.result, Ok(format!("{} bytes", NULS_TEXT.len())));
    let mut lines: Vec<&str> = NULS_TEXT.split_inclusive('\n').collect();
    lines.sort();
    assert_eq!(cat.stdout, lines.concat());
    assert_eq!(cat.downloaded, NULS_TEXT.len() as u64);

    // Each language uploads the same file anew (removed before each run).
    let uploaded = root.join(UPLOAD);
    let put = everywhere(&server, "put", &server.target, &["put", UPLOAD, UPLOAD_TEXT], || {
        let _ = std::fs::remove_file(&uploaded);
    })
    .await;
    assert_eq!(put.result, Ok(format!("uploaded {} bytes to {UPLOAD}", UPLOAD_TEXT.len())));
    assert_eq!(std::fs::read(&uploaded).unwrap(), UPLOAD_TEXT.as_bytes(), "the bytes on the server's disk");
    let mut after_put = seeded.clone();
    after_put.insert(UPLOAD.into(), sha256(UPLOAD_TEXT.as_bytes()));
    assert_eq!(put.disk, after_put);

    let missing = everywhere(&server, "missing file", &server.target, &["sha256", "no-such-file.bin"], || {}).await;
    assert_eq!(kind(&missing), Some("not-found"), "{:?}", missing.result);
    assert_eq!(missing.stdout, "");
    assert_eq!(missing.disk, after_put);

    let mut wrong = server.target.clone();
    wrong.password = "not-the-password".into();
    let auth = everywhere(&server, "wrong password", &wrong, &["ls"], || {}).await;
    assert_eq!(kind(&auth), Some("auth"), "{:?}", auth.result);
    assert_eq!(auth.stdout, "");
    assert_eq!(auth.disk, after_put);

    // 64 MiB streamed into the granted directory, each language under its
    // baseline memory plus the streaming headroom.
    let local_big = format!("{LOCAL}/{BIG}");
    let streaming = |language: &Language| Limits { max_memory_bytes: language.streaming_limit(), ..Limits::default() };
    let download =
        everywhere_with(&server, "download 64 MiB", &server.target, &["download", BIG, &local_big], streaming, || {})
            .await;
    assert_eq!(
        download.result,
        Ok(format!("downloaded {BIG} to {local_big} ({BIG_SIZE} bytes, {BIG_SIZE} this time)"))
    );
    assert_eq!(download.stdout, "");
    assert_eq!(download.downloaded, BIG_SIZE as u64);
    assert_eq!(download.local, BTreeMap::from([(BIG.to_string(), sha256(&big()))]), "the file, and no part file");
    assert_eq!(download.disk, after_put);

    // The limit is tight enough to matter: the same file through memory
    // (`sha256` takes it whole) is stopped by it, in every language.
    for language in LANGUAGES {
        let limits = Limits {
            max_memory_bytes: language.streaming_limit(),
            max_transfer_bytes: 2 * BIG_SIZE as u64,
            ..Limits::default()
        };
        let plugin = load(&host(server.policy(&server.target, limits)), language);
        let result = plugin.run(&server.target.args(&["sha256", BIG]), Output::Capture).await;
        assert!(
            matches!(&result, Err(RunError::Limit { limit: ftp_host::LimitKind::Memory, .. })),
            "{} / {}: an in-memory 64 MiB get must hit the memory limit, got {:?}",
            server.name,
            language.name,
            result.map(|r| r.result)
        );
    }

    // A missing file: the language's own not-found error, and nothing left
    // in the granted directory.
    let missing_download = everywhere_with(
        &server,
        "download a missing file",
        &server.target,
        &["download", "no-such-file.bin", &format!("{LOCAL}/no-such-file.bin")],
        streaming,
        || {},
    )
    .await;
    assert_eq!(kind(&missing_download), Some("not-found"), "{:?}", missing_download.result);
    assert_eq!(missing_download.local, nothing, "no file and no part file");
    assert_eq!(missing_download.disk, after_put);
}

fn kind(outcome: &Outcome) -> Option<&str> {
    result_kind(&outcome.result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_language_alike_on_the_embedded_server() {
    let dir = tempfile::tempdir().unwrap();
    seed(
        |path, bytes| std::fs::write(dir.path().join(path), bytes).unwrap(),
        |path| std::fs::create_dir(dir.path().join(path)).unwrap(),
    );
    let server = DemoServer::start(dir.path(), "demo-password").await.unwrap();
    let target = Target::plain(server.addr(), DEMO_USER, "demo-password");
    let local = tempfile::tempdir().unwrap();
    matrix(Server { name: "embedded", root: server.root(), target, trust: None, local, owner: None }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_language_alike_on_proftpd_with_explicit_ftps() {
    let server = FtpServer::start(ServerKind::Proftpd, ServerOptions::explicit())
        .unwrap_or_else(|e| panic!("proftpd did not start: {e:#}"));
    seed(
        |path, bytes| {
            server.put_file(path, bytes).unwrap();
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
    let trust = Some(Trust::from_pem_file(&server.cert_pem).unwrap());
    let local = tempfile::tempdir().unwrap();
    let owner = Some((server.uid, server.gid));
    matrix(Server { name: "proftpd explicit", root: &server.root, target, trust, local, owner }).await;
}

/// naas:ftp 0.2.0 in every language: `ls -l` (kind, size, time) and file
/// management (`mkdir -p`, `mv`, `rm`, `rmdir`), each checked on the server's
/// disk. The output is guest-examples/README.md's: `ls -l` lines `KIND SIZE
/// MODIFIED NAME` sorted by name, and `N entries`; `mkdir [-p] D` returns
/// `created directory D`, `mv A B` `renamed A to B`, `rm P` `deleted P`,
/// `rmdir D` `removed directory D`.
async fn file_management(server: &Server<'_>) {
    let root = server.root;
    let before = disk(root);
    let top: Vec<String> = before.keys().filter(|p| !p.contains('/')).cloned().collect();

    // `Outcome::stdout` has its lines sorted, so every language agreeing on
    // it says nothing of the order: check the order of each run's own output.
    let listing = everywhere(server, "ls -l", &server.target, &["ls", "-l"], || {}).await;
    assert_eq!(listing.result, Ok(format!("{} entries", top.len())));
    for language in LANGUAGES {
        let plugin = load(&host(server.policy(&server.target, Limits::default())), language);
        let report = run(language, &plugin, &server.target.args(&["ls", "-l"])).await;
        let names: Vec<String> = stdout(&report).lines().map(|l| LongLine::parse(l).name.to_string()).collect();
        assert_eq!(names, top, "{}: every entry, sorted by name, and nothing else (no . or ..)", language.name);
    }
    for line in listing.stdout.lines() {
        let LongLine { kind, size, modified, name, target } = LongLine::parse(line);
        let meta = std::fs::metadata(root.join(name)).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!(target, None, "{line:?}");
        if meta.is_dir() {
            assert_eq!(kind, "directory", "{line:?}");
        } else {
            assert_eq!((kind, size), ("file", meta.len().to_string().as_str()), "{line:?}");
            assert_ne!(modified, "-", "MLSD and LIST give every file a time: {line:?}");
        }
    }
    assert_eq!(listing.disk, before);

    let made = root.join("made");
    let mkdir = everywhere(server, "mkdir -p", &server.target, &["mkdir", "-p", "made/sub/deeper"], || {
        let _ = std::fs::remove_dir_all(&made);
    })
    .await;
    assert_eq!(mkdir.result, Ok("created directory made/sub/deeper".into()));
    let mut expected = before.clone();
    for dir in ["made", "made/sub", "made/sub/deeper"] {
        expected.insert(dir.into(), "dir".into());
    }
    assert_eq!(mkdir.disk, expected);

    let moved = everywhere(server, "mv", &server.target, &["mv", UPLOAD, "made/moved.txt"], || {
        server.put(UPLOAD, UPLOAD_TEXT.as_bytes());
        let _ = std::fs::remove_file(root.join("made/moved.txt"));
    })
    .await;
    assert_eq!(moved.result, Ok(format!("renamed {UPLOAD} to made/moved.txt")));
    expected.remove(UPLOAD);
    expected.insert("made/moved.txt".into(), sha256(UPLOAD_TEXT.as_bytes()));
    assert_eq!(moved.disk, expected);

    let deleted = everywhere(server, "rm", &server.target, &["rm", "made/moved.txt"], || {
        server.put("made/moved.txt", UPLOAD_TEXT.as_bytes());
    })
    .await;
    assert_eq!(deleted.result, Ok("deleted made/moved.txt".into()));
    expected.remove("made/moved.txt");
    assert_eq!(deleted.disk, expected);

    let removed = everywhere(server, "rmdir", &server.target, &["rmdir", "made/sub/deeper"], || {
        server.mkdir("made/sub/deeper");
    })
    .await;
    assert_eq!(removed.result, Ok("removed directory made/sub/deeper".into()));
    expected.remove("made/sub/deeper");
    assert_eq!(removed.disk, expected);

    // Typed errors there too: removing what is not there.
    let missing = everywhere(server, "rm a missing file", &server.target, &["rm", "made/no-such-file"], || {}).await;
    assert_eq!(kind(&missing), Some("not-found"), "{:?}", missing.result);
    assert_eq!(missing.disk, expected);
}

/// Every language lists with kinds, sizes and times and manages files
/// alike on a real server over explicit FTPS.
async fn file_management_on(kind: ServerKind) {
    let server =
        FtpServer::start(kind, ServerOptions::explicit()).unwrap_or_else(|e| panic!("{kind} did not start: {e:#}"));
    server.put_file("hello.txt", b"hello\n").unwrap();
    server.put_file("notes 2026.txt", "naïve café, 2026 ✓\n".as_bytes()).unwrap();
    server.put_file(UPLOAD, UPLOAD_TEXT.as_bytes()).unwrap();
    server.create_dir("empty").unwrap();
    let target = Target { force_prot: false, ..Target::of(&server, "explicit") };
    let trust = Some(Trust::from_pem_file(&server.cert_pem).unwrap());
    let local = tempfile::tempdir().unwrap();
    let owner = Some((server.uid, server.gid));
    let name = match kind {
        ServerKind::Proftpd => "proftpd explicit",
        ServerKind::Vsftpd => "vsftpd explicit",
    };
    file_management(&Server { name, root: &server.root, target, trust, local, owner }).await;
}

/// On proftpd, which lists with MLSD.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_language_lists_and_manages_files_alike_on_proftpd() {
    file_management_on(ServerKind::Proftpd).await;
}

/// On vsftpd, which has no MLSD: the host's `LIST` parser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_language_lists_and_manages_files_alike_on_vsftpd() {
    file_management_on(ServerKind::Vsftpd).await;
}

/// The same on the embedded server, whose listings are `LIST` lines (no
/// MLSD): the host's `LIST` parser, then each language's printing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_language_lists_and_manages_files_alike_on_the_embedded_server() {
    let (dir, server, target) = embedded(&[
        ("hello.txt", b"hello\n"),
        ("notes 2026.txt", "naïve café, 2026 ✓\n".as_bytes()),
        (UPLOAD, UPLOAD_TEXT.as_bytes()),
    ])
    .await;
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let local = tempfile::tempdir().unwrap();
    file_management(&Server { name: "embedded", root: server.root(), target, trust: None, local, owner: None }).await;
}

/// An embedded server on a temp dir, and a target for it.
async fn embedded(files: &[(&str, &[u8])]) -> (tempfile::TempDir, DemoServer, Target) {
    let dir = tempfile::tempdir().unwrap();
    for (path, bytes) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let server = DemoServer::start(dir.path(), "pw").await.unwrap();
    let target = Target::plain(server.addr(), DEMO_USER, "pw");
    (dir, server, target)
}

/// Sample files of a directory to report on: text, binary, and a
/// subdirectory (not a file: skipped).
fn sample_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("pub/b-report.csv", b"month,files\n2026-10,1200\n".to_vec()),
        ("pub/a-readme.txt", "read me ✓\n".as_bytes().to_vec()),
        ("pub/c-data.bin", (0..70_000u32).map(|i| (i % 253) as u8).collect()),
        ("pub/sub/inner.txt", b"not reported\n".to_vec()),
    ]
}

/// Python: `mirror-report DIR` prints a table and uploads `DIR/manifest.json`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_mirror_report_uploads_a_manifest() {
    let files = sample_files();
    let mut seeded: Vec<(&str, &[u8])> = files.iter().map(|(p, b)| (*p, b.as_slice())).collect();
    seeded.push(("pub/manifest.json", b"{\"stale\": true}\n")); // an earlier run's: replaced, not listed
    let (_dir, server, target) = embedded(&seeded).await;
    let plugin = load(&host(target.policy()), language("python"));
    let report = run(language("python"), &plugin, &target.args(&["mirror-report", "pub"])).await;
    assert_eq!(report.result, Ok("3 files in manifest".into()));

    let mut reported: Vec<&(&str, Vec<u8>)> = files.iter().filter(|(p, _)| !p.starts_with("pub/sub/")).collect();
    reported.sort_by_key(|(p, _)| *p);
    let entries: Vec<String> = reported
        .iter()
        .map(|(path, bytes)| {
            let name = path.strip_prefix("pub/").unwrap();
            format!(
                "    {{\n      \"name\": \"{name}\",\n      \"size\": {},\n      \"sha256\": \"{}\"\n    }}",
                bytes.len(),
                sha256(bytes)
            )
        })
        .collect();
    let manifest = format!("{{\n  \"directory\": \"/pub\",\n  \"files\": [\n{}\n  ]\n}}\n", entries.join(",\n"));
    let on_disk = std::fs::read_to_string(server.root().join("pub/manifest.json")).unwrap();
    assert_eq!(on_disk, manifest, "manifest.json on the server");

    let width = reported.iter().map(|(p, _)| p.len() - "pub/".len()).max().unwrap();
    let mut table = format!("skipped sub (not a file)\n{:<width$}  {:>10}  sha256\n", "name", "size");
    for (path, bytes) in &reported {
        let _ =
            writeln!(table, "{:<width$}  {:>10}  {}", path.strip_prefix("pub/").unwrap(), bytes.len(), sha256(bytes));
    }
    let _ = writeln!(table, "uploaded manifest.json ({} bytes)", manifest.len());
    assert_eq!(stdout(&report), table);
}

/// JavaScript: `publish NAME TEXT...` uploads NAME-1.txt, ... and an index NAME.json.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_publish_uploads_documents_and_an_index() {
    let (_dir, server, target) = embedded(&[("other.txt", b"not ours\n"), ("notes.md", b"not ours either\n")]).await;
    let plugin = load(&host(target.policy()), language("js"));
    let texts = ["first note", "zweite Notiz ✓"];
    let report = run(language("js"), &plugin, &target.args(&["publish", "notes", texts[0], texts[1]])).await;
    assert_eq!(report.result, Ok("published 2 files and notes.json".into()));

    let mut entries = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let path = format!("notes-{}.txt", i + 1);
        let document = format!("{text}\n");
        assert_eq!(std::fs::read_to_string(server.root().join(&path)).unwrap(), document, "{path} on the server");
        entries.push(format!(
            "    {{\n      \"path\": \"{path}\",\n      \"bytes\": {},\n      \"sha256\": \"{}\"\n    }}",
            document.len(),
            sha256(document.as_bytes())
        ));
    }
    let index = format!("{{\n  \"name\": \"notes\",\n  \"files\": [\n{}\n  ]\n}}\n", entries.join(",\n"));
    assert_eq!(std::fs::read_to_string(server.root().join("notes.json")).unwrap(), index, "notes.json on the server");
    assert_eq!(std::fs::read(server.root().join("other.txt")).unwrap(), b"not ours\n");
    assert_eq!(std::fs::read(server.root().join("notes.md")).unwrap(), b"not ours either\n");
    // What it lists: what it published, not the other files.
    assert_eq!(stdout(&report), "notes-1.txt\nnotes-2.txt\nnotes.json\n");
}

/// C: `checksums DIR` prints the SHA-256 and size of every file of DIR, in name order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_checksums_hashes_every_file_in_name_order() {
    let files = sample_files();
    let seeded: Vec<(&str, &[u8])> = files.iter().map(|(p, b)| (*p, b.as_slice())).collect();
    let (_dir, server, target) = embedded(&seeded).await;
    let before = disk(server.root());
    let plugin = load(&host(target.policy()), language("c"));
    let report = run(language("c"), &plugin, &target.args(&["checksums", "pub"])).await;
    assert_eq!(report.result, Ok("3 files checksummed".into()));

    let mut reported: Vec<&(&str, Vec<u8>)> = files.iter().filter(|(p, _)| !p.starts_with("pub/sub/")).collect();
    reported.sort_by_key(|(p, _)| *p);
    let mut expected = String::new();
    for (path, bytes) in reported {
        let _ = writeln!(expected, "{}  {}  {}", sha256(bytes), bytes.len(), path.strip_prefix("pub/").unwrap());
    }
    expected.push_str("skipped sub (not a file)\n");
    assert_eq!(stdout(&report), expected);
    assert_eq!(disk(server.root()), before, "reads only");
}

/// Go: a local path outside every granted directory is `denied` before any
/// transfer, and nothing is written. (The other languages' libraries type
/// this case each their own way: not part of the matrix.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_download_outside_the_granted_directories_is_denied() {
    let (_dir, _server, target) = embedded(&[("a.txt", b"a\n")]).await;
    let local = tempfile::tempdir().unwrap();
    let policy =
        target.policy().with_dir(DirGrant { host: local.path().to_path_buf(), guest: LOCAL.into(), read_only: false });
    let plugin = load(&host(policy), language("go"));
    let report = run(language("go"), &plugin, &target.args(&["download", "a.txt", "/elsewhere/a.txt"])).await;
    assert_eq!(error_kind(&report), Some("denied"), "{:?}", report.result);
    assert!(report.result.as_ref().unwrap_err().contains("/elsewhere/a.txt"), "names the path: {:?}", report.result);
    assert_eq!(report.stats.bytes_downloaded, 0);
    assert_eq!(std::fs::read_dir(local.path()).unwrap().count(), 0, "nothing written");
}

/// Whether a measurement covers `language`: all of them, or those named in
/// `LANGUAGES` (comma-separated).
fn measured(language: &Language) -> bool {
    match std::env::var("LANGUAGES") {
        Ok(names) => names.split(',').any(|n| n.trim() == language.name),
        Err(_) => true,
    }
}

/// Start times for the README: for each guest, medians of `LANGUAGES_RUNS`
/// (default 5) tries of
/// - the first load: compiling it (into a fresh cache);
/// - a cached load (a new host, the same cache);
/// - that plus the first host call: instantiating the plugin and running it
///   until its first call, `connect`, returns (a refused login: the guest
///   returns at once);
/// - a whole first run of `ls` (connect, a listing, quit) against the
///   embedded server, after a cached load.
///
/// `cargo test --release -p ftp-host-e2e --test e2e -- --ignored --nocapture languages::start_times`
/// (`LANGUAGES=go,c` measures only those).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a test"]
async fn start_times() {
    let runs: usize = std::env::var("LANGUAGES_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(5);
    let guests = guests();
    let (_dir, _server, target) = embedded(&[("hello.txt", b"hello\n")]).await;
    let mut refused = target.clone();
    refused.password = "wrong".into();
    let median = |mut times: Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let mut table = String::from(
        "| language | component | first load (compile) | cached load | cached load + first host call | first `ls` run |\n|---|---|---|---|---|---|\n",
    );
    for guest in guests.guests.iter().filter(|g| measured(g.language)) {
        let (mut compile, mut cached, mut first_call, mut ls) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let fresh = tempfile::tempdir().unwrap();
            let fresh_host = || Host::new(target.policy()).unwrap().with_cache(Cache::open(fresh.path()).unwrap());
            let started = Instant::now();
            let plugin = fresh_host().load(&guest.bytes).unwrap();
            compile.push(started.elapsed());
            assert_eq!(plugin.origin(), Origin::Compiled);

            let started = Instant::now();
            let plugin = fresh_host().load(&guest.bytes).unwrap();
            cached.push(started.elapsed());
            assert_eq!(plugin.origin(), Origin::Cached);
            let report = plugin.run(&refused.args(&["ls"]), Output::Capture).await.unwrap();
            first_call.push(started.elapsed());
            assert!(
                report.result.as_ref().is_err_and(|e| e.starts_with("auth:")),
                "{}: {:?}",
                guest.language.name,
                report.result
            );

            let plugin = fresh_host().load(&guest.bytes).unwrap();
            let report = plugin.run(&target.args(&["ls"]), Output::Capture).await.unwrap();
            assert_eq!(report.result, Ok("1 entries".into()), "{}", guest.language.name);
            ls.push(report.duration);
        }
        let _ = writeln!(
            table,
            "| {} | {} bytes | {:.2?} | {:.1?} | {:.1?} | {:.1?} |",
            guest.language.name,
            guest.bytes.len(),
            median(compile),
            median(cached),
            median(first_call),
            median(ls)
        );
    }
    eprintln!(
        "medians of {runs} runs (load average {}):\n{table}",
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );
}

/// The baselines of [`LANGUAGES`]: for each guest, the smallest memory limit
/// (whole MiB) under which `ls` runs, and under which the 64 MiB streamed
/// `download` runs, against the embedded server. The two agree when the
/// download streams; the table's `baseline_mib` is the first, rounded up.
///
/// `cargo test --release -p ftp-host-e2e --test e2e -- --ignored --nocapture languages::memory_baselines`
/// (`LANGUAGES=go,c` measures only those).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a test"]
async fn memory_baselines() {
    let data = big();
    let (_dir, _server, target) = embedded(&[(BIG, &data)]).await;
    let local = tempfile::tempdir().unwrap();
    let local_big = format!("{LOCAL}/{BIG}");
    let mut table = String::from("| language | `ls` needs | 64 MiB `download` needs |\n|---|---|---|\n");
    for language in LANGUAGES.iter().filter(|l| measured(l)) {
        let mut needs = Vec::new();
        for command in [vec!["ls"], vec!["download", BIG, local_big.as_str()]] {
            // Smallest limit in [1, 1024] MiB that lets the run succeed.
            let (mut fails, mut fits) = (0usize, 1024usize);
            while fits - fails > 1 {
                let mib = (fails + fits) / 2;
                let policy = target
                    .policy()
                    .with_dir(DirGrant { host: local.path().to_path_buf(), guest: LOCAL.into(), read_only: false })
                    .with_limits(Limits { max_memory_bytes: mib * MIB, ..Limits::default() });
                let plugin = load(&host(policy), language);
                let ok = matches!(plugin.run(&target.args(&command), Output::Capture).await, Ok(r) if r.result.is_ok());
                if ok {
                    fits = mib;
                } else {
                    fails = mib;
                }
            }
            needs.push(fits);
        }
        let _ = writeln!(table, "| {} | {} MiB | {} MiB |", language.name, needs[0], needs[1]);
    }
    eprintln!("{table}");
}
