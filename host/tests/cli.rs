//! The `ftp-host` binary as an operator uses it: output and exit codes.

use std::process::{Command, Output};

fn ftp_host(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_ftp-host")).args(args).env_remove("RUST_LOG").output().unwrap();
    eprintln!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

fn example_plugin(dir: &std::path::Path) -> String {
    let path = dir.join("example.wasm");
    std::fs::write(&path, ftp_host::demo::EXAMPLE_PLUGIN).unwrap();
    path.display().to_string()
}

#[test]
fn demo_runs_the_example_against_the_embedded_server() {
    let out = ftp_host(&["demo"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("listing (3 entries):"), "{stdout}");
    assert!(stdout.contains("uploaded checksums.txt"), "{stdout}");
    // The server's disk after the run shows the uploaded report.
    assert!(stdout.lines().skip_while(|l| !l.contains("now holds")).any(|l| l.ends_with("checksums.txt")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("plugin succeeded"), "{stderr}");
}

#[test]
fn demo_tls_runs_over_explicit_ftps() {
    let out = ftp_host(&["demo", "--tls"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ftpes://127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("uploaded checksums.txt"), "{stdout}");
}

#[test]
fn verbose_traces_every_ftp_operation() {
    let out = ftp_host(&["-v", "demo"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for op in ["op=\"connect\"", "op=\"listing\"", "op=\"download\"", "op=\"upload\"", "op=\"quit\""] {
        assert!(stderr.contains(op), "missing {op} in trace:\n{stderr}");
    }
    assert!(!stderr.contains("demo-password"), "a trace never shows the password");
}

#[test]
fn a_plugin_error_exits_1_with_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = example_plugin(dir.path());
    // Not granted: the plugin gets `denied` and returns it as its error.
    let out = ftp_host(&["run", &plugin, "--", "--host", "127.0.0.1", "--port", "9", "ls"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plugin failed: denied: 127.0.0.1:9 is not granted"));
}

#[test]
fn a_file_that_is_not_a_plugin_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-plugin.wasm");
    std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap(); // a core module, not a component
    let out = ftp_host(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a naas:ftp plugin"));
}

#[test]
fn a_missing_file_or_bad_grant_is_a_usage_error() {
    let out = ftp_host(&["run", "/nonexistent/plugin.wasm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read plugin /nonexistent/plugin.wasm"));

    let dir = tempfile::tempdir().unwrap();
    let plugin = example_plugin(dir.path());
    let out = ftp_host(&["run", &plugin, "--allow", "host:99999"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid server grant `host:99999`: bad port"));
}

/// `ftp-host serve --tls` in the background, with the address and certificate
/// fingerprint it prints. Killed on drop.
struct Served {
    child: std::process::Child,
    port: String,
    fingerprint: String,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_tls() -> Served {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "a").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ftp-host"))
        .args(["serve", dir.path().to_str().unwrap(), "--password", "pw", "--tls"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let second = lines.next().unwrap().unwrap();
    let port = first.split_whitespace().nth(2).unwrap().rsplit(':').next().unwrap().to_string();
    let fingerprint = second.rsplit("sha256:").next().unwrap().to_string();
    Served { child, port, fingerprint, _dir: dir }
}

fn run_ls(served: &Served, trust: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let plugin = example_plugin(dir.path());
    let grant = format!("127.0.0.1:{}", served.port);
    let mut args = vec!["run", &plugin, "--allow", &grant];
    args.extend_from_slice(trust);
    args.extend(["--", "--host", "127.0.0.1", "--port", &served.port, "--user", "demo", "--password", "pw", "--security", "explicit", "ls"]);
    ftp_host(&args)
}

#[test]
fn ftps_trust_is_chosen_on_the_command_line() {
    let served = serve_tls();
    // Public roots only: refused, and the message says how to fix it.
    let out = run_ls(&served, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--pin-cert"));
    // Pinned: accepted.
    let out = run_ls(&served, &["--pin-cert", &served.fingerprint]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a.txt\n");
    // Verification off: accepted, with a warning on every connection.
    let out = run_ls(&served, &["--insecure-accept-invalid-certs"]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("WARN") && stderr.contains("accepting an unverified TLS certificate"), "{stderr}");
}
