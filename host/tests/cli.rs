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
    serve(&["--password", "pw", "--tls"])
}

/// `ftp-host serve DIR ARGS...` on a fresh directory holding `a.txt`.
fn serve(args: &[&str]) -> Served {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "a").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ftp-host"))
        .arg("serve")
        .arg(dir.path())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let port = first.split_whitespace().nth(2).unwrap().rsplit(':').next().unwrap().to_string();
    let fingerprint = match args.contains(&"--tls") {
        true => lines.next().unwrap().unwrap().rsplit("sha256:").next().unwrap().to_string(),
        false => String::new(),
    };
    Served { child, port, fingerprint, _dir: dir }
}

fn run_ls(served: &Served, trust: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let plugin = example_plugin(dir.path());
    let grant = format!("127.0.0.1:{}", served.port);
    let mut args = vec!["run", &plugin, "--allow", &grant];
    args.extend_from_slice(trust);
    args.extend([
        "--",
        "--host",
        "127.0.0.1",
        "--port",
        &served.port,
        "--user",
        "demo",
        "--password",
        "pw",
        "--security",
        "explicit",
        "ls",
    ]);
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

fn ftp_host_env(args: &[&str], cache: &std::path::Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_ftp-host"))
        .args(args)
        .env_remove("RUST_LOG")
        .env("FTP_HOST_CACHE_DIR", cache)
        .output()
        .unwrap();
    eprintln!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

#[test]
fn the_second_run_loads_the_compiled_plugin_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let plugin = example_plugin(dir.path());
    // No server granted: the plugin fails fast with `denied`; compiling is what is measured.
    let args = ["run", &plugin, "--json", "--", "--host", "127.0.0.1", "--port", "9", "ls"];
    let first = json_of(&ftp_host_env(&args, &cache));
    assert_eq!(first["plugin"], "compiled");
    let second = json_of(&ftp_host_env(&args, &cache));
    assert_eq!(second["plugin"], "cached");

    // A corrupted entry is detected, never loaded, and replaced.
    let entry = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .unwrap();
    let mut bytes = std::fs::read(&entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&entry, &bytes).unwrap();
    let out = ftp_host_env(&args, &cache);
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed its integrity check"));
    assert_eq!(json_of(&out)["plugin"], "compiled");
    assert_eq!(json_of(&ftp_host_env(&args, &cache))["plugin"], "cached", "the entry was rewritten");

    // --no-cache compiles every time.
    let mut no_cache = args.to_vec();
    no_cache.insert(2, "--no-cache");
    assert_eq!(json_of(&ftp_host_env(&no_cache, &cache))["plugin"], "compiled");
}

#[test]
fn compiled_plugins_run_only_where_they_were_compiled() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let plugin = example_plugin(dir.path());
    let cwasm = dir.path().join("example.cwasm");
    let out = ftp_host_env(&["compile", &plugin, "-o", cwasm.to_str().unwrap()], &cache);
    assert_eq!(out.status.code(), Some(0));
    let args = ["run", cwasm.to_str().unwrap(), "--json", "--", "--host", "127.0.0.1", "--port", "9", "ls"];
    let out = ftp_host_env(&args, &cache);
    assert_eq!(json_of(&out)["outcome"], "plugin-error", "it ran (and was denied the server)");
    // Another machine (another cache key) refuses it.
    let out = ftp_host_env(&args, &dir.path().join("other-cache"));
    assert_eq!(out.status.code(), Some(3));
    assert!(json_of(&out)["error"].as_str().unwrap().contains("did not write"));
}

#[test]
fn json_results_and_exit_codes_are_distinct() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let plugin = example_plugin(dir.path());
    let served = dir.path().join("srv");
    std::fs::create_dir(&served).unwrap();
    std::fs::write(served.join("a.txt"), "a").unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ftp-host"))
        .args(["serve", served.to_str().unwrap(), "--password", "pw"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let line = {
        use std::io::BufRead;
        std::io::BufReader::new(child.0.stdout.take().unwrap()).lines().next().unwrap().unwrap()
    };
    let port = line.split_whitespace().nth(2).unwrap().rsplit(':').next().unwrap().to_string();
    let grant = format!("127.0.0.1:{port}");
    let conn = ["--host", "127.0.0.1", "--port", &port, "--user", "demo", "--password", "pw"];

    let mut ok = vec!["run", &plugin, "--allow", &grant, "--json", "--"];
    ok.extend(conn);
    ok.push("ls");
    let out = ftp_host_env(&ok, &cache);
    let v = json_of(&out);
    assert_eq!((out.status.code(), v["outcome"].as_str()), (Some(0), Some("ok")));
    assert_eq!(v["stdout"], "a.txt\n");
    assert_eq!(v["message"], "1 entries");
    assert!(v["operations"].as_u64().unwrap() >= 3);
    assert!(v["duration_ms"].as_f64().unwrap() > 0.0);

    let mut failing = ok.clone();
    *failing.last_mut().unwrap() = "cat";
    failing.push("missing.txt");
    let out = ftp_host_env(&failing, &cache);
    let v = json_of(&out);
    assert_eq!((out.status.code(), v["outcome"].as_str()), (Some(1), Some("plugin-error")));
    assert!(v["error"].as_str().unwrap().starts_with("not-found:"));

    drop(child);

    let out = ftp_host_env(&["run", "/nonexistent.wasm", "--json"], &cache);
    assert_eq!(out.status.code(), Some(2));

    let bogus = dir.path().join("bogus.wasm");
    std::fs::write(&bogus, b"\0asm\x01\0\0\0").unwrap();
    let out = ftp_host_env(&["run", bogus.to_str().unwrap(), "--json"], &cache);
    assert_eq!((out.status.code(), json_of(&out)["outcome"].as_str()), (Some(3), Some("not-a-plugin")));
}

#[test]
fn inspect_shows_what_a_plugin_asks_for_and_what_a_policy_grants() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = example_plugin(dir.path());
    let policy = dir.path().join("ftp-host.toml");
    std::fs::write(&policy, "[[server]]\nhost = \"ftp.example.org\"\nport = 21\n").unwrap();
    let out = ftp_host(&["inspect", &plugin, "--config", policy.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["world"], "naas:ftp/plugin@0.1.0");
    let ftp: Vec<&str> = v["ftp_functions"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(ftp.contains(&"client.connect") && ftp.contains(&"client.[method]session.open-get"), "{ftp:?}");
    assert!(v["wasi_interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().starts_with("wasi:filesystem/preopens")));
    assert_eq!(v["policy"]["servers"][0], "ftp.example.org:21");
    assert!(v["policy"]["denied"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d.as_str().unwrap().starts_with("wasi:filesystem")));

    let out = ftp_host(&["inspect", &plugin]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("naas:ftp functions: "));

    let bogus = dir.path().join("bogus.wasm");
    std::fs::write(&bogus, b"(component)").unwrap();
    let out = ftp_host(&["inspect", bogus.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("NOT A PLUGIN"));
}

#[test]
fn check_validates_a_policy_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[[server]]\nname = \"partner\"\nhost = \"ftp.partner.test\"\nuser = \"acme\"\npassword_file = \"pw\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
    let out = ftp_host(&["check", good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("profile partner"), "{stdout}");
    assert!(!stdout.contains("s3cret"));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[limits]\nsessions = 2\ncpu = \"forever\"\n").unwrap();
    let out = ftp_host(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.toml:3: `forever` is not a duration"), "{stderr}");
}

/// A child process killed when the test ends, passing or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Issue 13, item 19: `cache list` shows the entries and `cache prune`
/// removes them (down to a size, here 0), keeping the key.
#[test]
fn cache_list_and_prune() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let plugin = example_plugin(dir.path());
    let args = ["run", &plugin, "--json", "--", "--host", "127.0.0.1", "--port", "9", "ls"];
    assert_eq!(json_of(&ftp_host_env(&args, &cache))["plugin"], "compiled");
    let out = ftp_host_env(&["cache", "list"], &cache);
    assert_eq!(out.status.code(), Some(0));
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("(1 entries)") && listed.contains(".cwasm") && listed.contains("total"), "{listed}");
    let out = ftp_host_env(&["cache", "prune", "--max-size", "0"], &cache);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("removed 1 entries"));
    assert!(String::from_utf8_lossy(&ftp_host_env(&["cache", "list"], &cache).stdout).contains("(0 entries)"));
    assert!(cache.join("cache-key").exists());
    assert_eq!(json_of(&ftp_host_env(&args, &cache))["plugin"], "compiled", "pruned entries are compiled afresh");
}

/// Issue 13, item 17: with no HOME (and no cache variables) the host runs
/// uncached with a warning, never caching in a shared temporary directory.
#[test]
fn without_home_there_is_no_cache() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = example_plugin(dir.path());
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_ftp-host"))
            .args(["run", &plugin, "--json", "--", "--host", "127.0.0.1", "--port", "9", "ls"])
            .env_remove("RUST_LOG")
            .env_remove("HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("FTP_HOST_CACHE_DIR")
            .env("TMPDIR", dir.path())
            .output()
            .unwrap();
        eprintln!("stderr:\n{}", String::from_utf8_lossy(&out.stderr));
        out
    };
    for _ in 0..2 {
        let out = run();
        assert_eq!(json_of(&out)["plugin"], "compiled");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("running without the compiled-plugin cache: no cache directory"), "{stderr}");
    }
    assert!(!dir.path().join("ftp-host").exists(), "a cache appeared in the temporary directory");
}

/// Issue 13, item 17: a cache directory others may write to is refused:
/// the run goes on uncached, with a warning.
#[test]
fn a_cache_directory_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let plugin = example_plugin(dir.path());
    let args = ["run", &plugin, "--json", "--", "--host", "127.0.0.1", "--port", "9", "ls"];
    for _ in 0..2 {
        let out = ftp_host_env(&args, &cache);
        assert_eq!(json_of(&out)["plugin"], "compiled");
        assert!(String::from_utf8_lossy(&out.stderr).contains("others may write to it"));
    }
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0, "nothing was written into it");
}

/// No log level shows a password (issue 13, item 11): the demo (the
/// plugin's own credentials) and a profile run, both under
/// `RUST_LOG=trace`, where suppaftp would log `PASS ...` if its records
/// reached the trace.
#[test]
fn no_trace_level_shows_a_password() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ftp-host"))
            .args(args)
            .env("RUST_LOG", "trace")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code(), all)
    };
    let (code, all) = run(&["demo"], &[]);
    assert_eq!(code, Some(0), "{all}");
    assert!(all.contains("TRACE"), "RUST_LOG=trace traced nothing:\n{all}");
    assert!(!all.contains("demo-password"), "the trace shows the demo's password:\n{all}");

    let secret = "pr0file-S3cret";
    let served = serve(&["--password", secret]);
    let dir = tempfile::tempdir().unwrap();
    let plugin = example_plugin(dir.path());
    let config = dir.path().join("ftp-host.toml");
    std::fs::write(
        &config,
        format!(
            "[[server]]\nname = \"partner\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"demo\"\npassword_env = \"PARTNER_PW\"\n",
            served.port
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let (code, all) =
        run(&["run", "--config", &config, &plugin, "--", "--profile", "partner", "ls"], &[("PARTNER_PW", secret)]);
    assert_eq!(code, Some(0), "{all}");
    assert!(all.contains("a.txt"), "the profile run did not list the server:\n{all}");
    assert!(!all.contains(secret), "the trace shows the profile's password:\n{all}");
}

/// `--audit -` would mix audit lines with the plugin's own stderr, where the
/// plugin could forge them (issue 13, item 14): refused as a usage error,
/// before the plugin runs. With `--json` (the plugin's output captured) it
/// is fine.
#[test]
fn the_audit_log_never_shares_stderr_with_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = example_plugin(dir.path());
    let out = ftp_host(&["run", "--audit", "-", &plugin, "--", "--host", "127.0.0.1", "--port", "9", "ls"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("audit") && stderr.contains("--json"), "{stderr}");
    assert!(!stderr.contains("plugin failed"), "the plugin ran: {stderr}");

    let out = ftp_host(&["run", "--json", "--audit", "-", &plugin, "--", "--host", "127.0.0.1", "--port", "9", "ls"]);
    assert_eq!(out.status.code(), Some(1), "the plugin runs (and is denied its server)");
    let audit = String::from_utf8_lossy(&out.stderr);
    let line = audit.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no audit line: {audit}"));
    let entry: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(entry["operation"], "connect", "{line}");
}
