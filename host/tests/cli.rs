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
