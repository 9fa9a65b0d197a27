//! The `ftp-host` command line: argument parsing, output for people, exit
//! codes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::demo::{self, DemoServer};
use crate::policy::{DirGrant, Limits, Policy};
use crate::progress::StderrProgress;
use crate::runtime::{Host, LoadError, Output, RunReport};
use crate::tls::Trust;

/// Exit code: the plugin returned an error.
pub const EXIT_PLUGIN_ERROR: u8 = 1;
/// Exit code: bad usage or configuration (clap uses it too).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the plugin could not be loaded, trapped, or hit a limit.
pub const EXIT_TRAP: u8 = 3;

/// Run sandboxed WebAssembly plugins that move files over FTP and FTPS.
#[derive(Parser)]
#[command(name = "ftp-host", version, about)]
struct Cli {
    /// Trace every FTP operation on stderr (same as RUST_LOG=ftp_host=debug).
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a plugin (a component for the naas:ftp `plugin` world).
    Run {
        /// The plugin's .wasm file.
        plugin: PathBuf,
        /// Grant a server: HOST or HOST:PORT (repeatable). Nothing is granted by default.
        #[arg(long = "allow", value_name = "HOST[:PORT]")]
        allow: Vec<String>,
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
        /// Let the plugin use a host directory: HOST_DIR or HOST_DIR::GUEST_DIR
        /// (repeatable). It sees nothing else of the host's files.
        #[arg(long = "dir", value_name = "HOST_DIR[::GUEST_DIR]", value_parser = parse_dir)]
        dirs: Vec<DirGrant>,
        /// Largest file one in-memory get or send may move.
        #[arg(long, value_name = "BYTES", default_value_t = crate::policy::DEFAULT_MAX_TRANSFER_BYTES)]
        max_transfer: u64,
        /// Arguments passed to the plugin's `run` export.
        #[arg(last = true)]
        args: Vec<String>,
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
            Command::Run { plugin, allow, dirs, ca_file, pin_cert, insecure_accept_invalid_certs, max_transfer, args } => {
                let trust = match (ca_file, pin_cert) {
                    (Some(path), _) => Trust::from_pem_file(&path),
                    (_, Some(fp)) => Trust::pinned(&fp),
                    _ if insecure_accept_invalid_certs => Ok(Trust::AcceptInvalid),
                    _ => Ok(Trust::WebPki),
                };
                match trust {
                    Ok(trust) => run(plugin, allow, dirs, trust, max_transfer, args).await,
                    Err(e) => Err(e),
                }
            }
            Command::Demo { tls } => run_demo(tls).await,
            Command::Serve { root, password, tls } => serve(root, password, tls).await,
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
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::new(spec),
        _ if verbose => EnvFilter::new("ftp_host=debug"),
        // libunftp (the demo server) warns about every client disconnect.
        _ => EnvFilter::new("warn,libunftp=error"),
    };
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

fn parse_dir(value: &str) -> Result<DirGrant, String> {
    value.parse()
}

async fn run(plugin: PathBuf, allow: Vec<String>, dirs: Vec<DirGrant>, trust: Trust, max_transfer: u64, args: Vec<String>) -> anyhow::Result<u8> {
    let mut policy = Policy::new()
        .with_limits(Limits { max_transfer_bytes: max_transfer, ..Limits::default() })
        .with_default_trust(trust);
    for rule in &allow {
        policy = policy.allow(rule)?;
    }
    for dir in dirs {
        policy = policy.with_dir(dir);
    }
    let host = Host::new(policy)?.with_observer(Arc::new(StderrProgress::new()));
    let plugin = match host.load_file(&plugin) {
        Ok(p) => p,
        Err(e @ LoadError::Read { .. }) => return Err(e.into()),
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_TRAP);
        }
    };
    Ok(finish(plugin.run(&args, Output::Inherit).await))
}

/// Report a run's outcome to the operator and pick the exit code.
fn finish(outcome: Result<RunReport, crate::runtime::RunError>) -> u8 {
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
                Ok(message) => {
                    eprintln!("plugin succeeded: {message} ({summary})");
                    0
                }
                Err(message) => {
                    eprintln!("plugin failed: {message} ({summary})");
                    EXIT_PLUGIN_ERROR
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_TRAP
        }
    }
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
    let mut args: Vec<String> = ["--host", &addr.ip().to_string(), "--port", &addr.port().to_string(), "--user", demo::DEMO_USER, "--password", password, "--security", security]
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
    let server = if tls { DemoServer::start_tls(&root, &password).await? } else { DemoServer::start(&root, &password).await? };
    // Lines a script can parse, then wait for Ctrl-C.
    println!("listening on {} as user {}", server.addr(), demo::DEMO_USER);
    if let Some(cert) = server.certificate() {
        println!("explicit FTPS required; certificate sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(cert.as_ref())));
    }
    tokio::signal::ctrl_c().await?;
    Ok(0)
}
