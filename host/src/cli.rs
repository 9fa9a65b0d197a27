//! The `ftp-host` command line: argument parsing, output for people, exit
//! codes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::demo::{self, DemoServer};
use crate::policy::{Limits, Policy};
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
        /// Also trust the certificates in this PEM file for FTPS (a private CA
        /// or a self-signed server certificate).
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
        /// Largest file one in-memory get or send may move.
        #[arg(long, value_name = "BYTES", default_value_t = crate::policy::DEFAULT_MAX_TRANSFER_BYTES)]
        max_transfer: u64,
        /// Arguments passed to the plugin's `run` export.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Start the embedded FTP server with sample files and run the bundled
    /// example plugin against it: nothing to set up.
    Demo,
    /// Serve a directory with the embedded FTP server on 127.0.0.1 until
    /// interrupted (for trying plugins by hand).
    Serve {
        /// The directory to serve.
        root: PathBuf,
        /// Password of the `demo` account.
        #[arg(long, env = "FTP_HOST_SERVE_PASSWORD")]
        password: String,
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
            Command::Run { plugin, allow, ca_file, max_transfer, args } => {
                run(plugin, allow, ca_file, max_transfer, args).await
            }
            Command::Demo => run_demo().await,
            Command::Serve { root, password } => serve(root, password).await,
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
        _ => EnvFilter::new("warn"),
    };
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

async fn run(plugin: PathBuf, allow: Vec<String>, ca_file: Option<PathBuf>, max_transfer: u64, args: Vec<String>) -> anyhow::Result<u8> {
    let mut policy = Policy::new().with_limits(Limits { max_transfer_bytes: max_transfer, ..Limits::default() });
    for rule in &allow {
        policy = policy.allow(rule)?;
    }
    let mut trust = Trust::webpki();
    if let Some(path) = &ca_file {
        trust = trust.with_pem_file(path)?;
    }
    let host = Host::with_trust(policy, trust)?;
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

async fn run_demo() -> anyhow::Result<u8> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    demo::seed(dir.path())?;
    let password = "demo-password";
    let server = DemoServer::start(dir.path(), password).await?;
    let addr = server.addr();
    println!("== embedded FTP server on ftp://{addr} serving {}", server.root().display());
    println!("== running the example plugin (guest-examples/rust), granted only {addr}\n");

    let policy = Policy::new().allow(&addr.to_string())?;
    let host = Host::new(policy)?;
    let plugin = host.load(demo::EXAMPLE_PLUGIN)?;
    let args: Vec<String> = ["--host", &addr.ip().to_string(), "--port", &addr.port().to_string(), "--user", demo::DEMO_USER, "--password", password, "tour"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let code = finish(plugin.run(&args, Output::Inherit).await);

    println!("\n== the server's directory now holds:");
    let mut entries: Vec<_> = std::fs::read_dir(server.root())?.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        println!("  {:>8}  {}", entry.metadata()?.len(), entry.file_name().to_string_lossy());
    }
    Ok(code)
}

async fn serve(root: PathBuf, password: String) -> anyhow::Result<u8> {
    let server = DemoServer::start(&root, &password).await?;
    // One line a script can parse, then wait for Ctrl-C.
    println!("listening on {} as user {}", server.addr(), demo::DEMO_USER);
    tokio::signal::ctrl_c().await?;
    Ok(0)
}
