//! The four example guests (Rust, Python, JavaScript, C) through one scenario
//! matrix: the same command line must give the same result, the same output
//! and the same files on the server, whatever language the plugin is written
//! in. Against the embedded server (plain FTP) and proftpd (explicit FTPS).
//! Then each guest's own showcase command once (`mirror-report`, `publish`,
//! `checksums`).
//!
//! The Python, JavaScript and C guests are built from source here, by
//! `scripts/build-guests.sh`, once per run of this binary; a failed build
//! fails every test with the script's output (install the toolchains with
//! `scripts/install-guest-toolchains.sh`, as `scripts/test.sh` does). Each
//! guest is then compiled once, into a compiled-component cache under
//! `CARGO_TARGET_TMPDIR`: a test's own host (its policy grants its server)
//! loads it from there in milliseconds and runs it many times.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ftp_host::demo::{DemoServer, DEMO_USER};
use ftp_host::{Cache, Host, Origin, Output, Plugin, Policy, RunReport, Trust};
use ftp_host_e2e::harness::{sha256, stdout, Target};
use ftp_host_e2e::servers::{FtpServer, ServerKind, ServerOptions};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Language {
    Rust,
    Python,
    Js,
    C,
}

const LANGUAGES: [Language; 4] = [Language::Rust, Language::Python, Language::Js, Language::C];

impl Language {
    fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::Js => "js",
            Language::C => "c",
        }
    }

    /// The component `scripts/build-guests.sh` writes (none for Rust: `host/build.rs` builds it).
    fn built_by_script(self) -> Option<PathBuf> {
        let name = self.name();
        (self != Language::Rust).then(|| workspace().join(format!("guest-examples/{name}/build/ftp-{name}.wasm")))
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace").to_path_buf()
}

/// A guest's component bytes.
struct Guest {
    language: Language,
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
    let started = Instant::now();
    let script = workspace().join("scripts/build-guests.sh");
    let output = Command::new("bash")
        .arg(&script)
        .current_dir(workspace())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let (out, err) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        return Err(format!(
            "scripts/build-guests.sh failed ({}); install the guest toolchains with \
             `bash scripts/install-guest-toolchains.sh` (scripts/test.sh does)\n\
             --- its stdout:\n{out}--- its stderr:\n{err}",
            output.status
        ));
    }
    eprintln!("scripts/build-guests.sh: {:.1?}\n{out}{err}", started.elapsed());

    let mut guests = Vec::new();
    for language in LANGUAGES {
        let bytes = match language.built_by_script() {
            None => ftp_host::demo::EXAMPLE_PLUGIN.to_vec(),
            Some(path) => {
                std::fs::read(&path).map_err(|e| format!("{} (built by build-guests.sh): {e}", path.display()))?
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
            .load_named(&guest.bytes, guest.language.name())
            .map_err(|e| format!("the {} guest does not load: {e}", guest.language.name()))?;
        eprintln!(
            "{}: {} bytes, {:?} in {:.1?}",
            guest.language.name(),
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
fn load(host: &Host, language: Language) -> Plugin {
    let guest = guests().guests.iter().find(|g| g.language == language).expect("every language is built");
    let plugin = host.load_named(&guest.bytes, language.name()).expect("guest loads");
    assert_eq!(plugin.origin(), Origin::Cached, "{}: compiled once per test binary, then cached", language.name());
    plugin
}

/// Every guest, loaded by one host enforcing `policy`.
fn load_all(policy: Policy) -> Vec<(Language, Plugin)> {
    let host = host(policy);
    LANGUAGES.iter().map(|&language| (language, load(&host, language))).collect()
}

async fn run(language: Language, plugin: &Plugin, args: &[String]) -> RunReport {
    let report = plugin
        .run(args, Output::Capture)
        .await
        .unwrap_or_else(|e| panic!("{}: {:?} did not run: {e}", language.name(), args.last()));
    eprintln!(
        "--- {} {:?} ({:.0?}): {:?}\n{}{}",
        language.name(),
        args.last(),
        report.duration,
        report.result,
        stdout(&report),
        String::from_utf8_lossy(&report.stderr)
    );
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

/// Every file and directory under `root`, by path, with its SHA-256.
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

/// The server of one column of the matrix.
struct Server<'a> {
    name: &'static str,
    /// What the server serves, on disk.
    root: &'a Path,
    target: Target,
    plugins: Vec<(Language, Plugin)>,
}

/// What the matrix puts on a server before it starts: files (`put`) and an
/// empty directory (`mkdir`).
fn seed(put: impl Fn(&str, &[u8]), mkdir: impl Fn(&str)) {
    put("hello.txt", b"hello\n");
    put("notes 2026.txt", "naïve café, 2026 ✓\n".as_bytes());
    // Every byte value, and more than one read chunk.
    put("bytes.bin", &(0..(1u32 << 20) + 17).map(|i| (i * 7 + i / 251) as u8).collect::<Vec<u8>>());
    mkdir("empty");
}

const UPLOAD: &str = "upload.txt";
const UPLOAD_TEXT: &str = "put by a plugin: ünïcödé ✓ — same bytes from every language";

/// Run `command` with every guest, one after the other; `before` runs before
/// each. Asserts that every language had the same outcome and returns it.
async fn everywhere(
    server: &Server<'_>,
    scenario: &str,
    target: &Target,
    command: &[&str],
    before: impl Fn(),
) -> Outcome {
    let args = target.args(command);
    let mut outcomes = Vec::new();
    let mut times = String::new();
    for (language, plugin) in &server.plugins {
        before();
        let report = run(*language, plugin, &args).await;
        let _ = write!(times, " {}={:.0?}", language.name(), report.duration);
        outcomes.push((*language, outcome(&report, server.root)));
    }
    eprintln!("=== {} / {scenario}:{times}", server.name);
    let (first_language, first) = &outcomes[0];
    for (language, outcome) in &outcomes[1..] {
        assert_eq!(
            outcome,
            first,
            "{} / {scenario}: {} (right) and {} (left) disagree",
            server.name,
            first_language.name(),
            language.name()
        );
    }
    first.clone()
}

/// The matrix: connect, `ls`, `sha256`, `put`, a missing file, a wrong
/// password; each with every language, and each checked against the disk.
async fn matrix(server: Server<'_>) {
    let root = server.root;
    let seeded = disk(root);
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
}

fn kind(outcome: &Outcome) -> Option<&str> {
    outcome.result.as_ref().err().and_then(|e| e.split(':').next())
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
    let plugins = load_all(target.policy());
    matrix(Server { name: "embedded", root: server.root(), target, plugins }).await;
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
    let plugins = load_all(target.policy_trusting(Trust::from_pem_file(&server.cert_pem).unwrap()));
    matrix(Server { name: "proftpd explicit", root: &server.root, target, plugins }).await;
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
    let plugin = load(&host(target.policy()), Language::Python);
    let report = run(Language::Python, &plugin, &target.args(&["mirror-report", "pub"])).await;
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
    let plugin = load(&host(target.policy()), Language::Js);
    let texts = ["first note", "zweite Notiz ✓"];
    let report = run(Language::Js, &plugin, &target.args(&["publish", "notes", texts[0], texts[1]])).await;
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
    let plugin = load(&host(target.policy()), Language::C);
    let report = run(Language::C, &plugin, &target.args(&["checksums", "pub"])).await;
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
/// `cargo test --release --test languages -- --ignored --nocapture start_times`
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
    for guest in &guests.guests {
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
                guest.language.name(),
                report.result
            );

            let plugin = fresh_host().load(&guest.bytes).unwrap();
            let report = plugin.run(&target.args(&["ls"]), Output::Capture).await.unwrap();
            assert_eq!(report.result, Ok("1 entries".into()), "{}", guest.language.name());
            ls.push(report.duration);
        }
        let _ = writeln!(
            table,
            "| {} | {} bytes | {:.2?} | {:.1?} | {:.1?} | {:.1?} |",
            guest.language.name(),
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
