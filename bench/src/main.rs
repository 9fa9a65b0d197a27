//! `ftp-host-bench`: how fast, how hungry and how quick to start ftp-host's
//! plugins are, against native suppaftp, curl and lftp, on real FTP servers
//! (proftpd, vsftpd) on loopback. One run writes BENCHMARKS.md (see `scripts/bench.sh`).
//!
//! Every measured case runs in a child process of this binary (`ftp-host-bench
//! case JSON`, hidden), so that its CPU time and peak RSS are its own; the
//! parent starts the servers, creates and checks the files (SHA-256, outside
//! the timed region) and writes the report.

mod cases;
mod fleet;
mod interrupt;
mod measure;
mod oplog;
mod page_reporting;
mod pinning;
mod report;
mod suite;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "ftp-host-bench",
    about = "Benchmark ftp-host plugins against native suppaftp, curl and lftp on proftpd and vsftpd (loopback); writes BENCHMARKS.md"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    options: Options,
}

#[derive(Subcommand)]
enum Command {
    /// Run one measured case (used by the benchmark itself).
    #[command(hide = true)]
    Case { spec: String },
}

/// What to measure and how much.
#[derive(Args, Clone, Debug)]
pub struct Options {
    /// Size of the large file: bytes, or with a K/M/G suffix (powers of 1024).
    /// Default 1G (128M with --quick).
    #[arg(long, value_parser = parse_size)]
    pub size: Option<u64>,
    /// A smoke run to try things: 128 MiB, one run per case, fewer start-ups.
    #[arg(long)]
    pub quick: bool,
    /// Runs per transfer case; the report shows medians. Default 3 (1 with --quick).
    #[arg(long)]
    pub runs: Option<usize>,
    /// Size of the file for the embedded (libunftp) server, which is CPU-bound
    /// and slow. Default: min(--size, 256M).
    #[arg(long, value_parser = parse_size)]
    pub embedded_size: Option<u64>,
    /// Where to write the report. Default: BENCHMARKS.md at the workspace root
    /// for the full default run; target/bench/BENCHMARKS.quick.md with --quick;
    /// target/bench/BENCHMARKS.partial.md for any other selection.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Where the test files and the servers' roots go (a tmpfs keeps the disk
    /// out of the measurement).
    #[arg(long, default_value = "/dev/shm")]
    pub work_dir: PathBuf,
    /// Only these sections (comma-separated). Default: all.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Section>,
    /// Plugin start-ups to time. Default 1000 (200 with --quick).
    #[arg(long)]
    pub startup_runs: Option<usize>,
    /// Plugins (and native clients) downloading at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Size of the file each concurrent client downloads. Default 16M (4M with --quick).
    #[arg(long, value_parser = parse_size)]
    pub concurrency_size: Option<u64>,
    /// Entries of the directory listed in the listing case.
    #[arg(long, default_value_t = 10_000)]
    pub entries: usize,
    /// Servers of the transfer section (comma-separated). Default: all.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub servers: Vec<ServerChoice>,
    /// Clients of the transfer section (comma-separated). Default: all.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub clients: Vec<ClientChoice>,
    /// Keep the work directory (files, server logs) for a post-mortem.
    #[arg(long)]
    pub keep: bool,
    /// Leave the VM's free-page reporting on. By default it is paused for
    /// the run (and restored after): memory freed during the run would go
    /// back to the hypervisor, and a random round would pay its faults.
    #[arg(long)]
    pub keep_page_reporting: bool,
    /// Pin proftpd and vsftpd to this CPU and the benchmark with every client
    /// it starts to the others, so that neither side takes the other's
    /// cores (as when the server runs on another machine). Meant for
    /// `--only transfers`: the other sections then run on the remaining
    /// CPUs. Default: no pinning, client and server share the machine.
    #[arg(long, value_name = "CPU")]
    pub pin_server: Option<usize>,
    /// Do not measure again the missed speed ratios that neither the server
    /// nor the machine explains. By default each is run again, its two
    /// clients alternating for as many rounds, with proftpd and vsftpd on
    /// the last CPU and the clients on the others (as with `--pin-server`):
    /// where the ratio then meets its bound, the cores client and server
    /// share are what it missed by.
    #[arg(long)]
    pub no_second_look: bool,
    #[command(flatten)]
    pub fleet: fleet::FleetArgs,
}

/// The parts of the benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Section {
    /// Large download and upload, every client, every server.
    Transfers,
    /// The guest's linear memory: does it grow with the file size?
    Memory,
    /// Plugin start-up (instantiate + call).
    Startup,
    /// A 10,000-entry listing, guest vs native.
    Listing,
    /// 64 plugins at once vs 64 native clients.
    Concurrency,
    /// Per-operation latency of small transfers (the 40 ms question).
    Latency,
    /// Small jobs through 1 and 2 `ftp-host worker`s on NATS JetStream (src/fleet.rs).
    Fleet,
}

/// A server of the transfer section.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ServerChoice {
    /// proftpd, plain FTP.
    ProftpdPlain,
    /// proftpd, explicit FTPS + PROT P.
    ProftpdFtps,
    /// vsftpd, plain FTP.
    VsftpdPlain,
    /// vsftpd, explicit FTPS + PROT P.
    VsftpdFtps,
    /// The embedded libunftp server, plain FTP.
    Embedded,
}

/// A client of the transfer section.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ClientChoice {
    /// (a) guest, the host moves the file (save-to/send-from).
    Host,
    /// (b) guest, --via-memory.
    Memory,
    /// (f) guest, --splice (a wasi:io splice loop).
    Splice,
    /// (c) native suppaftp.
    Native,
    /// (d) curl.
    Curl,
    /// (e) lftp.
    Lftp,
    /// (a*) `ftp-host run`, a whole process.
    Cli,
}

fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.trim_end_matches("ib").trim_end_matches('b');
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    let n: u64 = digits.parse().map_err(|_| format!("bad size {text:?}: expected e.g. 1G, 64M, 4096"))?;
    let mult = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return Err(format!("bad size unit in {text:?}: K, M or G")),
    };
    n.checked_mul(mult).filter(|n| *n > 0).ok_or_else(|| format!("bad size {text:?}"))
}

fn main() -> ExitCode {
    // As `ftp-host` does: the in-process guest cases run the host library.
    ftp_host::allocator::keep_freed_chunks();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Case { spec }) => cases::child_main(&spec),
        None => suite::run(cli.options),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
