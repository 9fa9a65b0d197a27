//! Running guests through the host, as the tests need it: a guest's bytes,
//! a policy, arguments in, the guest's verdict and output out.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use ftp_host::{Host, Output, Policy, Profile, RunReport, Secret, SecurityMode, Trust};

/// The workspace's root (`tests/` is one of its members).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace").to_path_buf()
}

/// Build the example guests `names` (`python`, `js`, `c`, `go`, `classic`)
/// from source with `scripts/build-guests.sh`; its output, or why it failed
/// and how to install the toolchains.
pub fn build_guests(names: &[&str]) -> Result<String, String> {
    let started = std::time::Instant::now();
    let output = Command::new("bash")
        .arg("scripts/build-guests.sh")
        .args(names)
        .current_dir(workspace())
        .output()
        .map_err(|e| format!("cannot run scripts/build-guests.sh: {e}"))?;
    let (out, err) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        return Err(format!(
            "scripts/build-guests.sh {} failed ({}); install the guest toolchains with \
             `bash scripts/install-guest-toolchains.sh {}` (scripts/test.sh does)\n\
             --- its stdout:\n{out}--- its stderr:\n{err}",
            names.join(" "),
            output.status,
            names.join(" ")
        ));
    }
    Ok(format!("scripts/build-guests.sh {}: {:.1?}\n{out}{err}", names.join(" "), started.elapsed()))
}

/// The Rust example plugin, built from `guest-examples/rust` by the host's build script.
pub fn rust_guest() -> &'static [u8] {
    ftp_host::demo::EXAMPLE_PLUGIN
}

/// Connection arguments understood by every example guest.
#[derive(Clone, Debug)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// `none`, `explicit` or `implicit`.
    pub security: &'static str,
    pub force_prot: bool,
}

impl Target {
    /// A real server's test account over `security` (`none`, `explicit` or
    /// `implicit`), asking for a protected data channel whenever TLS is on.
    pub fn of(server: &crate::servers::FtpServer, security: &'static str) -> Self {
        Target {
            host: server.host.clone(),
            port: server.port,
            user: server.user.clone(),
            password: server.password.clone(),
            security,
            force_prot: security != "none",
        }
    }

    pub fn plain(addr: SocketAddr, user: &str, password: &str) -> Self {
        Target {
            host: addr.ip().to_string(),
            port: addr.port(),
            user: user.into(),
            password: password.into(),
            security: "none",
            force_prot: false,
        }
    }

    /// The guest's arguments: connection flags, then `command`.
    pub fn args(&self, command: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = [
            "--host",
            &self.host,
            "--port",
            &self.port.to_string(),
            "--user",
            &self.user,
            "--password",
            &self.password,
            "--security",
            self.security,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if self.force_prot {
            args.push("--force-prot".into());
        }
        args.extend(command.iter().map(|s| s.to_string()));
        args
    }

    /// A policy granting exactly this server, with the default trust.
    pub fn policy(&self) -> Policy {
        Policy::new().allow(&self.grant()).expect("valid grant")
    }

    /// A policy granting exactly this server, whose certificate is checked with `trust`.
    pub fn policy_trusting(&self, trust: Trust) -> Policy {
        Policy::new().allow_with_trust(&self.grant(), trust).expect("valid grant")
    }

    fn grant(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Run `guest` once under `policy`, capturing its output. A trap or load
/// failure fails the test with the host's message.
pub async fn run(guest: &[u8], policy: Policy, args: Vec<String>) -> RunReport {
    let host = Host::new(policy).expect("host starts");
    let plugin = host.load(guest).expect("guest loads");
    let report = plugin.run(&args, Output::Capture).await.expect("guest runs without trapping");
    show("guest", &args, &report);
    report
}

/// Print what a run of the guest `name` did, for a failing test's log.
pub fn show(name: &str, args: &[String], report: &RunReport) {
    eprintln!(
        "--- {name} {:?} ({:.0?}): {:?}\n--- stdout:\n{}--- stderr:\n{}",
        args.last(),
        report.duration,
        report.result,
        String::from_utf8_lossy(&report.stdout),
        String::from_utf8_lossy(&report.stderr)
    );
}

/// The guest's stdout as text.
pub fn stdout(report: &RunReport) -> String {
    String::from_utf8_lossy(&report.stdout).into_owned()
}

/// The error kind (`not-found`, `auth`, ...) a guest reported as `KIND: message`.
pub fn error_kind(report: &RunReport) -> Option<&str> {
    result_kind(&report.result)
}

/// The KIND of an `err` result `KIND: message`; `None` for `ok`.
pub fn result_kind(result: &Result<String, String>) -> Option<&str> {
    result.as_ref().err().and_then(|e| e.split(':').next())
}

/// Every file and directory under `root`, by path (from `root`): the file's
/// SHA-256, `dir` for a directory.
pub fn disk(root: &Path) -> BTreeMap<String, String> {
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

/// One `ls -l` (or `stat`) line of an example guest, read back: `KIND SIZE
/// MODIFIED NAME[ -> TARGET]`, single spaces (guest-examples/README.md).
#[derive(Debug, PartialEq, Eq)]
pub struct LongLine<'a> {
    pub kind: &'a str,
    /// `-` when the server did not say.
    pub size: &'a str,
    /// `2026-12-01T22:00:00Z`, or `-`.
    pub modified: &'a str,
    pub name: &'a str,
    pub target: Option<&'a str>,
}

impl<'a> LongLine<'a> {
    /// Panics, naming the line, when it is not in that format.
    pub fn parse(line: &'a str) -> Self {
        let mut fields = line.splitn(4, ' ');
        let mut next =
            || fields.next().filter(|f| !f.is_empty()).unwrap_or_else(|| panic!("not an ls -l line: {line:?}"));
        let (kind, size, modified, rest) = (next(), next(), next(), next());
        let (name, target) = match rest.split_once(" -> ") {
            Some((name, target)) if kind == "symlink" => (name, Some(target)),
            _ => (rest, None),
        };
        assert!(["file", "directory", "symlink", "other"].contains(&kind), "KIND: {line:?}");
        assert!(size == "-" || size.bytes().all(|b| b.is_ascii_digit()), "SIZE: {line:?}");
        let time = modified.as_bytes();
        assert!(
            modified == "-" || (time.len() == 20 && time[4] == b'-' && time[10] == b'T' && time[19] == b'Z'),
            "MODIFIED, UTC to the second: {line:?}"
        );
        LongLine { kind, size, modified, name, target }
    }
}

/// SHA-256 of `bytes`, hex.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// 3 MiB and a bit of patterned bytes: crosses many TLS records and read chunks.
pub fn blob() -> Vec<u8> {
    (0..3 * 1024 * 1024 + 17u32).map(|i| (i * 7 + i / 1024) as u8).collect()
}

/// List, download and upload through the Rust guest, checking each against
/// the server's disk at `root`: the names, the SHA-256 of `blob.bin` as
/// downloaded, the bytes of an upload. Two uploads run in one session, as
/// real jobs do (proftpd is strict about TLS session reuse there).
pub async fn round_trip(root: &std::path::Path, target: &Target, policy: impl Fn() -> Policy) {
    let report = run(rust_guest(), policy(), target.args(&["ls"])).await;
    assert!(report.result.is_ok(), "{:?}", report.result);
    let mut listed: Vec<String> = stdout(&report).lines().map(String::from).collect();
    listed.sort();
    let mut on_disk: Vec<String> =
        std::fs::read_dir(root).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    on_disk.sort();
    assert_eq!(listed, on_disk);

    let report = run(rust_guest(), policy(), target.args(&["sha256", "blob.bin", "blob.bin"])).await;
    let blob = std::fs::read(root.join("blob.bin")).unwrap();
    let line = format!("{}  {}  blob.bin\n", sha256(&blob), blob.len());
    assert_eq!(stdout(&report), line.repeat(2));

    let text = format!("uploaded through {} at {:?}", target.security, std::time::SystemTime::now());
    let report =
        run(rust_guest(), policy(), target.args(&["put", "upload.txt", &text, ";", "put", "second.txt", "2"])).await;
    assert!(report.result.is_ok(), "{:?}", report.result);
    assert_eq!(sha256(&std::fs::read(root.join("upload.txt")).unwrap()), sha256(text.as_bytes()));
    assert_eq!(std::fs::read(root.join("second.txt")).unwrap(), b"2");
}

/// The hostile plugin, built from `tests/guests/hostile` by this crate's build
/// script: `spin`, `alloc MIB`, `trap`, `sessions N PROFILE`, `connect ...`,
/// `probe PROFILE [PATH...]`, `download-all PROFILE PATH`,
/// `upload-zeros PROFILE PATH MIB` (see its `src/lib.rs`).
pub fn hostile_guest() -> &'static [u8] {
    include_bytes!(env!("HOSTILE_PLUGIN"))
}

/// An operator's profile `name` for `addr` over plain FTP, with this user
/// and password.
pub fn plain_profile(name: &str, addr: SocketAddr, user: &str, password: &str) -> Profile {
    Profile {
        name: name.into(),
        host: addr.ip().to_string(),
        port: Some(addr.port()),
        security: SecurityMode::None,
        force_prot: false,
        user: user.into(),
        password: Secret::new(password),
    }
}
