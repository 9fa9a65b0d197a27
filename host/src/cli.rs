//! The `ftp-host` command line: argument parsing, output for people and for
//! schedulers (`--json`), and exit codes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::audit::AuditLog;
use crate::cache::Cache;
use crate::demo::{self, DemoServer};
use crate::policy::{DirGrant, Hint, NetworkRules, Policy};
use crate::progress::StderrProgress;
use crate::runtime::{Host, LoadError, Output, RunError, RunReport};
use crate::tls::Trust;
use crate::usage::LimitKind;

/// Exit code: the plugin returned an error.
pub const EXIT_PLUGIN_ERROR: u8 = 1;
/// Exit code: bad usage or configuration (clap uses it too).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the plugin could not be loaded, trapped, or hit a limit.
pub const EXIT_TRAP: u8 = 3;

/// Run sandboxed WebAssembly plugins that move files over FTP and FTPS.
///
/// Exit codes: 0 the plugin succeeded; 1 the plugin returned an error; 2 bad
/// usage or configuration; 3 the file is not a plugin, or it trapped or hit a
/// limit.
#[derive(Parser)]
#[command(name = "ftp-host", version, about, long_about)]
struct Cli {
    /// Trace every FTP operation on stderr (same as RUST_LOG=ftp_host=debug).
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

/// What a plugin is granted, from a policy file and/or flags.
#[derive(Args)]
struct Grants {
    /// The policy file (see `ftp-host check --help` and the README). Flags add to it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Grant a server for the plugin's own credentials: HOST (the FTP ports
    /// 21 and 990 only), HOST:PORT, or HOST:* for every port (repeatable).
    #[arg(long = "allow", value_name = "HOST[:PORT]")]
    allow: Vec<String>,
    /// Let the plugin use a host directory: HOST_DIR or HOST_DIR::GUEST_DIR,
    /// with `:ro` after GUEST_DIR for read-only (repeatable). It sees nothing
    /// else of the host's files.
    #[arg(long = "dir", value_name = "HOST_DIR[::GUEST_DIR[:ro]]", value_parser = parse_dir)]
    dirs: Vec<DirGrant>,
    /// Allow granted names that resolve to loopback addresses.
    #[arg(long)]
    allow_loopback: bool,
    /// Allow granted names that resolve to private-network addresses.
    #[arg(long)]
    allow_private: bool,
    /// FTPS: trust only the certificates in this PEM file (a private CA
    /// or a self-signed server certificate) instead of the public roots.
    #[arg(long, value_name = "PEM", group = "trust")]
    ca_file: Option<PathBuf>,
    /// FTPS: trust exactly the certificate with this SHA-256 fingerprint.
    #[arg(long, value_name = "SHA256", group = "trust")]
    pin_cert: Option<String>,
    /// FTPS: accept any certificate. Anyone on the path can then read and
    /// change the transfer: for tests only; warns on every connection.
    #[arg(long, group = "trust")]
    insecure_accept_invalid_certs: bool,
    /// Largest file one in-memory get or send may move, in bytes.
    #[arg(long, value_name = "BYTES")]
    max_transfer: Option<u64>,
    /// Most guest memory, in MiB.
    #[arg(long, value_name = "MIB")]
    max_memory_mib: Option<usize>,
    /// Most time running guest code, in seconds.
    #[arg(long, value_name = "SECS")]
    max_cpu_secs: Option<u64>,
    /// Most time for the whole run, in seconds.
    #[arg(long, value_name = "SECS")]
    max_wall_secs: Option<u64>,
    /// Append one JSON line per FTP operation to FILE (`-`: stderr).
    #[arg(long, value_name = "FILE")]
    audit: Option<PathBuf>,
}

// Parsed once per process: the size of the `run` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run a plugin (a component for the naas:ftp `plugin` world, or its
    /// `ftp-host compile` output).
    Run {
        /// The plugin's .wasm (or .cwasm) file.
        plugin: PathBuf,
        #[command(flatten)]
        grants: Grants,
        /// Compile every time; do not read or write the compiled-plugin cache.
        #[arg(long)]
        no_cache: bool,
        /// Print one JSON object with the outcome on stdout at the end (the
        /// plugin's own output is captured into it).
        #[arg(long)]
        json: bool,
        /// Arguments passed to the plugin's `run` export.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Validate a policy file without running anything.
    Check {
        /// The policy file.
        config: PathBuf,
    },
    /// Show what a plugin imports and exports and, with a policy, what it
    /// would be granted and denied.
    Inspect {
        /// The plugin's .wasm file.
        plugin: PathBuf,
        /// A policy file to check it against.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compile a plugin ahead of time. The output runs only on hosts sharing
    /// this machine's cache key (see the README).
    Compile {
        /// The plugin's .wasm file.
        plugin: PathBuf,
        /// Where to write the compiled plugin.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Show or shrink the compiled-plugin cache (`$FTP_HOST_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/ftp-host`, else `~/.cache/ftp-host`).
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Start the embedded FTP server with sample files and run the bundled
    /// example plugin against it: nothing to set up.
    Demo {
        /// Use explicit FTPS (AUTH TLS, protected data connections) with a
        /// certificate generated now and trusted for this server only.
        #[arg(long)]
        tls: bool,
    },
    /// Serve a directory with the embedded FTP server on 127.0.0.1 until
    /// interrupted (for trying plugins by hand).
    Serve {
        /// The directory to serve.
        root: PathBuf,
        /// Password of the `demo` account.
        #[arg(long, env = "FTP_HOST_SERVE_PASSWORD")]
        password: String,
        /// Require explicit FTPS, with a certificate generated now (its
        /// fingerprint is printed, for `run --pin-cert`).
        #[arg(long)]
        tls: bool,
    },
    /// Store a plugin in the fleet's NATS object store and print its SHA-256.
    #[cfg(feature = "fleet")]
    Publish(crate::fleet::cli::PublishArgs),
    /// Queue a job for the fleet's workers (see README "Running a fleet").
    #[cfg(feature = "fleet")]
    Submit(crate::fleet::cli::SubmitArgs),
    /// Run jobs from the fleet's queue under this machine's policies, until SIGTERM.
    #[cfg(feature = "fleet")]
    Worker(crate::fleet::cli::WorkerArgs),
}

/// `ftp-host cache ...`.
#[derive(Subcommand)]
enum CacheAction {
    /// List the entries, least recently used first, and their total size.
    List,
    /// Remove least recently used entries down to a size (default: the
    /// cache's cap, 1 GiB or `$FTP_HOST_CACHE_MAX_SIZE`).
    Prune {
        /// Keep at most this much, e.g. `200MiB`; `0` empties the cache.
        #[arg(long, value_name = "SIZE")]
        max_size: Option<String>,
    },
}

/// Parse the command line, run it, and return the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_TRAP);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run { plugin, grants, no_cache, json, args } => run(&plugin, grants, no_cache, json, args).await,
            Command::Check { config } => check(&config),
            Command::Inspect { plugin, config, json } => inspect(&plugin, config.as_deref(), json),
            Command::Compile { plugin, output } => compile(&plugin, &output),
            Command::Cache { action } => cache_command(action),
            Command::Demo { tls } => run_demo(tls).await,
            Command::Serve { root, password, tls } => serve(root, password, tls).await,
            #[cfg(feature = "fleet")]
            Command::Publish(args) => crate::fleet::cli::publish(args).await,
            #[cfg(feature = "fleet")]
            Command::Submit(args) => crate::fleet::cli::submit(args).await,
            #[cfg(feature = "fleet")]
            Command::Worker(args) => crate::fleet::cli::worker(args).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn init_tracing(verbose: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::new(spec),
        _ if verbose => EnvFilter::new("ftp_host=debug"),
        // libunftp (the demo server) warns about every client disconnect.
        _ => EnvFilter::new("warn,libunftp=error"),
    };
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .finish();
    // suppaftp logs every control command through `log` at trace level,
    // `PASS` included: its records never reach the trace, whatever RUST_LOG
    // asks for. The other crates' `log` records do.
    let _ = tracing_log::LogTracer::builder().ignore_crate("suppaftp").init();
    let _ = tracing::subscriber::set_global_default(subscriber);
}

fn parse_dir(value: &str) -> Result<DirGrant, String> {
    value.parse()
}

/// The policy and audit log from a policy file plus flags.
fn build_policy(g: Grants) -> anyhow::Result<(Policy, Option<AuditLog>)> {
    let (mut policy, mut audit) = match &g.config {
        Some(path) => {
            let config = crate::config::load(path)?;
            let audit = config.open_audit().context("cannot open the audit log")?;
            (config.policy, audit)
        }
        None => (Policy::new(), None),
    };
    let trust = match (&g.ca_file, &g.pin_cert) {
        (Some(path), _) => Some(Trust::from_pem_file(path)?),
        (_, Some(fp)) => Some(Trust::pinned(fp)?),
        _ if g.insecure_accept_invalid_certs => Some(Trust::AcceptInvalid),
        _ => None,
    };
    if let Some(trust) = trust {
        policy = policy.with_default_trust(trust);
    }
    for rule in &g.allow {
        policy = policy.allow(rule)?;
    }
    for dir in g.dirs {
        policy = policy.with_dir(dir);
    }
    let network = policy.network();
    policy = policy.with_network(NetworkRules {
        allow_loopback: network.allow_loopback || g.allow_loopback,
        allow_private: network.allow_private || g.allow_private,
    });
    let mut limits = policy.limits().clone();
    if let Some(v) = g.max_transfer {
        limits.max_transfer_bytes = v;
    }
    if let Some(v) = g.max_memory_mib {
        limits.max_memory_bytes = v << 20;
    }
    if let Some(v) = g.max_cpu_secs {
        limits.max_cpu = Duration::from_secs(v);
    }
    if let Some(v) = g.max_wall_secs {
        limits.max_wall_clock = Duration::from_secs(v);
    }
    policy = policy.with_limits(limits);
    if let Some(path) = &g.audit {
        audit = Some(AuditLog::open(path)?);
    }
    Ok((policy, audit))
}

/// The `--json` result: one object a scheduler can parse.
#[derive(Serialize)]
struct JsonResult<'a> {
    /// `ok`, `plugin-error`, `trap`, `limit` or `not-a-plugin`.
    outcome: &'a str,
    exit_code: u8,
    /// The plugin's success message.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    /// The plugin's error, or the host's reason for stopping it.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    duration_ms: f64,
    operations: u64,
    bytes_downloaded: u64,
    bytes_uploaded: u64,
    /// Limits the run hit, as the host saw them (`cpu`, `memory`, `run-bytes`, ...).
    limits_hit: Vec<LimitKind>,
    /// `compiled` (this run compiled the plugin) or `cached`.
    #[serde(skip_serializing_if = "Option::is_none")]
    plugin: Option<&'a str>,
    stdout: String,
    stderr: String,
}

async fn run(plugin_path: &Path, grants: Grants, no_cache: bool, json: bool, args: Vec<String>) -> anyhow::Result<u8> {
    let (policy, audit) = build_policy(grants)?;
    let mut host = Host::new(policy)?;
    if !json {
        host = host.with_observer(Arc::new(StderrProgress::new()));
    }
    if !no_cache {
        match Cache::open_default() {
            Ok(cache) => host = host.with_cache(cache),
            Err(e) => tracing::warn!("running without the compiled-plugin cache: {e:#}"),
        }
    }
    if let Some(audit) = audit {
        if audit.is_stderr() && !json {
            anyhow::bail!(
                "the audit log on stderr (`-`) would share the stream with the plugin's own stderr, where the \
                 plugin could write lines that look like audit entries; write the audit log to a file, or add \
                 --json (the plugin's output is then captured in the result)"
            );
        }
        host = host.with_audit(audit);
    }
    let started = std::time::Instant::now();
    let plugin = match host.load_file(plugin_path) {
        Ok(p) => p,
        Err(e @ LoadError::Read { .. }) => return Err(e.into()),
        Err(e) => {
            if json {
                print_json(&JsonResult {
                    outcome: "not-a-plugin",
                    exit_code: EXIT_TRAP,
                    message: None,
                    error: Some(e.to_string()),
                    duration_ms: 0.0,
                    operations: 0,
                    bytes_downloaded: 0,
                    bytes_uploaded: 0,
                    limits_hit: vec![],
                    plugin: None,
                    stdout: String::new(),
                    stderr: String::new(),
                });
            } else {
                eprintln!("error: {e}");
            }
            return Ok(EXIT_TRAP);
        }
    };
    let origin = match plugin.origin() {
        crate::cache::Origin::Compiled => "compiled",
        crate::cache::Origin::Cached => "cached",
    };
    let output = if json { Output::Capture } else { Output::Inherit };
    let outcome = plugin.run(&args, output).await;
    if !json {
        return Ok(finish(outcome));
    }
    let code = exit_code(&outcome);
    let result = match &outcome {
        Ok(report) => JsonResult {
            outcome: if report.result.is_ok() { "ok" } else { "plugin-error" },
            exit_code: code,
            message: report.result.as_ref().ok().map(String::as_str),
            error: report.result.as_ref().err().cloned(),
            duration_ms: report.duration.as_secs_f64() * 1000.0,
            operations: report.stats.operations,
            bytes_downloaded: report.stats.bytes_downloaded,
            bytes_uploaded: report.stats.bytes_uploaded,
            limits_hit: report.limits_hit.clone(),
            plugin: Some(origin),
            stdout: String::from_utf8_lossy(&report.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&report.stderr).into_owned(),
        },
        Err(e) => JsonResult {
            outcome: if matches!(e, RunError::Limit { .. }) { "limit" } else { "trap" },
            exit_code: code,
            message: None,
            error: Some(e.to_string()),
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            operations: 0,
            bytes_downloaded: 0,
            bytes_uploaded: 0,
            limits_hit: match e {
                RunError::Limit { limit, .. } => vec![*limit],
                _ => vec![],
            },
            plugin: Some(origin),
            stdout: String::new(),
            stderr: String::new(),
        },
    };
    print_json(&result);
    Ok(code)
}

fn print_json(result: &JsonResult<'_>) {
    println!("{}", serde_json::to_string(result).expect("the result serialises"));
}

fn exit_code(outcome: &Result<RunReport, RunError>) -> u8 {
    match outcome {
        Ok(report) if report.result.is_ok() => 0,
        Ok(_) => EXIT_PLUGIN_ERROR,
        Err(_) => EXIT_TRAP,
    }
}

/// Report a run's outcome to the operator and pick the exit code.
fn finish(outcome: Result<RunReport, RunError>) -> u8 {
    let code = exit_code(&outcome);
    match outcome {
        Ok(report) => {
            let s = &report.stats;
            let summary = format!(
                "{} FTP operations, {} bytes down, {} bytes up, {:.2} s",
                s.operations,
                s.bytes_downloaded,
                s.bytes_uploaded,
                report.duration.as_secs_f64()
            );
            match report.result {
                Ok(message) => eprintln!("plugin succeeded: {message} ({summary})"),
                Err(message) => eprintln!("plugin failed: {message} ({summary})"),
            }
            for hint in &report.hints {
                eprintln!("hint: {}", flag_hint(hint));
            }
        }
        Err(e) => eprintln!("error: {e}"),
    }
    code
}

/// What to pass on this command line to allow what the policy refused.
fn flag_hint(hint: &Hint) -> String {
    match hint {
        Hint::GrantServer { host, port } => {
            format!("the plugin asked for {0}; grant it with --allow {0}", crate::policy::server_label(host, *port))
        }
        Hint::AllowLoopback => "the server resolves to a loopback address; allow that with --allow-loopback".into(),
        Hint::AllowPrivate => "the server resolves to a private address; allow that with --allow-private".into(),
        Hint::TrustCertificate { server } => format!(
            "the certificate of {server} is not trusted; trust its CA with --ca-file FILE, or pin it with \
             --pin-cert SHA256 (after checking the fingerprint with the server's administrator)"
        ),
    }
}

fn check(path: &Path) -> anyhow::Result<u8> {
    let config = crate::config::load(path)?;
    let p = &config.policy;
    println!("{}: valid", path.display());
    for g in p.grants() {
        match g.profile_settings() {
            Some(profile) => println!(
                "  profile {:<12} {}:{} ({:?}, user {})",
                profile.name,
                profile.host,
                profile.port(),
                profile.security,
                profile.user
            ),
            None => println!("  server  {:<12} (the plugin's own credentials)", g.rule()),
        }
    }
    for d in p.dirs() {
        println!("  dir     {} as {}{}", d.host.display(), d.guest, if d.read_only { " (read-only)" } else { "" });
    }
    Ok(0)
}

fn inspect(plugin: &Path, config: Option<&Path>, json: bool) -> anyhow::Result<u8> {
    let bytes = std::fs::read(plugin).with_context(|| format!("cannot read plugin {}", plugin.display()))?;
    let policy = config.map(crate::config::load).transpose()?.map(|c| c.policy);
    let host = Host::new(policy.clone().unwrap_or_default())?;
    let report = crate::inspect::inspect(&host, &bytes, policy.as_ref())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{} ({} bytes)", plugin.display(), report.size_bytes);
        match (&report.world, &report.problem) {
            (Some(world), _) => println!("  world:   {world}"),
            (None, Some(problem)) => println!("  NOT A PLUGIN: {problem}"),
            _ => {}
        }
        println!("  naas:ftp functions: {}", report.ftp_functions.join(", "));
        println!("  WASI interfaces:    {}", report.wasi_interfaces.join(", "));
        if !report.other_imports.is_empty() {
            println!("  other imports:      {}", report.other_imports.join(", "));
        }
        println!("  exports:            {}", report.exports.join(", "));
        if let Some(g) = &report.policy {
            println!(
                "  granted servers:    {}",
                if g.servers.is_empty() { "none".into() } else { g.servers.join(", ") }
            );
            println!(
                "  granted profiles:   {}",
                if g.profiles.is_empty() { "none".into() } else { g.profiles.join(", ") }
            );
            println!(
                "  granted dirs:       {}",
                if g.directories.is_empty() { "none".into() } else { g.directories.join(", ") }
            );
            println!("  limits:             {}", g.limits);
            for d in &g.denied {
                println!("  denied: {d}");
            }
        }
    }
    Ok(if report.is_plugin { 0 } else { EXIT_TRAP })
}

fn compile(plugin: &Path, output: &Path) -> anyhow::Result<u8> {
    let bytes = std::fs::read(plugin).with_context(|| format!("cannot read plugin {}", plugin.display()))?;
    let host = Host::new(Policy::new())?;
    // Refuse to compile what could never run.
    host.load(&bytes)?;
    let cache = Cache::open_default()?;
    let compiled = host.precompile(&bytes, &cache)?;
    std::fs::write(output, compiled).with_context(|| format!("cannot write {}", output.display()))?;
    println!(
        "compiled {} to {} (loads on hosts using the cache key in {})",
        plugin.display(),
        output.display(),
        cache.dir().display()
    );
    Ok(0)
}

fn cache_command(action: CacheAction) -> anyhow::Result<u8> {
    let cache = Cache::open_default()?;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    match action {
        CacheAction::List => {
            let entries = cache.entries()?;
            println!("{} ({} entries)", cache.dir().display(), entries.len());
            for e in &entries {
                let age = e.last_used.elapsed().unwrap_or_default();
                println!(
                    "  {:>9.1} MiB  used {:>8} ago  {}",
                    mib(e.bytes),
                    humantime::format_duration(Duration::from_secs(age.as_secs())).to_string(),
                    e.path.file_name().unwrap_or_default().to_string_lossy()
                );
            }
            let total: u64 = entries.iter().map(|e| e.bytes).sum();
            println!("total {:.1} MiB of at most {:.1} MiB", mib(total), mib(cache.max_bytes()));
        }
        CacheAction::Prune { max_size } => {
            let max = match max_size {
                Some(size) => bytesize::ByteSize::from_str(&size)
                    .map_err(|_| anyhow::anyhow!("`{size}` is not a size; write e.g. \"200MiB\" or 0"))?
                    .as_u64(),
                None => cache.max_bytes(),
            };
            let removed = cache.prune_to(max, None)?;
            let freed: u64 = removed.iter().map(|e| e.bytes).sum();
            println!("removed {} entries ({:.1} MiB) from {}", removed.len(), mib(freed), cache.dir().display());
        }
    }
    Ok(0)
}

async fn run_demo(tls: bool) -> anyhow::Result<u8> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    demo::seed(dir.path())?;
    let password = "demo-password";
    let (server, policy, security) = if tls {
        let server = DemoServer::start_tls(dir.path(), password).await?;
        let cert = server.certificate().expect("a TLS server has a certificate").clone();
        let fingerprint = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(cert.as_ref()));
        let policy = Policy::new().allow_with_trust(&server.addr().to_string(), Trust::Roots(vec![cert]))?;
        println!("== embedded FTPS server (explicit, TLS required on control and data connections)");
        println!("== its certificate was generated now: sha256:{fingerprint}; it is trusted for this server only");
        (server, policy, "explicit")
    } else {
        let server = DemoServer::start(dir.path(), password).await?;
        let policy = Policy::new().allow(&server.addr().to_string())?;
        (server, policy, "none")
    };
    let addr = server.addr();
    let scheme = if tls { "ftpes" } else { "ftp" };
    println!("== embedded FTP server on {scheme}://{addr} serving {}", server.root().display());
    println!("== running the example plugin (guest-examples/rust), granted only {addr}\n");

    let host = Host::new(policy)?;
    let plugin = host.load(demo::EXAMPLE_PLUGIN)?;
    let mut args: Vec<String> = [
        "--host",
        &addr.ip().to_string(),
        "--port",
        &addr.port().to_string(),
        "--user",
        demo::DEMO_USER,
        "--password",
        password,
        "--security",
        security,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if tls {
        args.push("--force-prot".into());
    }
    args.push("tour".into());
    let code = finish(plugin.run(&args, Output::Inherit).await);

    println!("\n== the server's directory now holds:");
    let mut entries: Vec<_> = std::fs::read_dir(server.root())?.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        println!("  {:>8}  {}", entry.metadata()?.len(), entry.file_name().to_string_lossy());
    }
    Ok(code)
}

async fn serve(root: PathBuf, password: String, tls: bool) -> anyhow::Result<u8> {
    let server =
        if tls { DemoServer::start_tls(&root, &password).await? } else { DemoServer::start(&root, &password).await? };
    // Lines a script can parse, then wait for Ctrl-C.
    println!("listening on {} as user {}", server.addr(), demo::DEMO_USER);
    if let Some(cert) = server.certificate() {
        println!(
            "explicit FTPS required; certificate sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(cert.as_ref()))
        );
    }
    tokio::signal::ctrl_c().await?;
    Ok(0)
}
