//! Soak: many plugin runs in ONE host process against the embedded FTP
//! server, watching the process's memory (VmRSS) and open file descriptors.
//!
//! ```text
//! cargo run --release -p ftp-host-e2e --bin soak -- [--runs 1000] [--warmup 100] [--concurrent 64] [--max-growth 10]
//! ```
//!
//! 1. `--runs` sequential runs of the Rust example plugin (loaded once), each
//!    one session: connect, list the directory, get a small file (checked
//!    by SHA-256), send a small file (checked on disk), quit.
//! 2. RSS is read after run `--warmup` and after the last run; the soak
//!    fails (exit 1) if it grew by more than `--max-growth` percent, if open
//!    file descriptors grew by more than 16, or if any run failed.
//! 3. `--concurrent` plugins run at once, the same job each, all must succeed.
//!
//! Prints a short table on stdout (progress goes to stderr); `scripts/soak.sh`
//! runs the full soak and appends the table to BENCHMARKS.md.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ftp_host::demo::{DemoServer, DEMO_USER, EXAMPLE_PLUGIN};
use ftp_host::{Host, Output, Plugin, Policy};
use sha2::Digest;

const PASSWORD: &str = "soak-pw";
/// File descriptors the sequential phase may leave open beyond the warm-up's.
const MAX_FD_GROWTH: i64 = 16;

struct Options {
    runs: usize,
    warmup: usize,
    concurrent: usize,
    max_growth_percent: f64,
}

fn usage() -> &'static str {
    "usage: soak [--runs N (1000)] [--warmup N (100, at most runs/2)] [--concurrent N (64)] [--max-growth PERCENT (10)]"
}

fn parse_args() -> Result<Options> {
    let mut options = Options { runs: 1000, warmup: 100, concurrent: 64, max_growth_percent: 10.0 };
    let mut warmup_given = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value\n{}", usage()));
        match arg.as_str() {
            "--runs" => options.runs = value()?.parse().context("--runs")?,
            "--warmup" => {
                options.warmup = value()?.parse().context("--warmup")?;
                warmup_given = true;
            }
            "--concurrent" => options.concurrent = value()?.parse().context("--concurrent")?,
            "--max-growth" => options.max_growth_percent = value()?.parse().context("--max-growth")?,
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{}", usage()),
        }
    }
    if !warmup_given {
        options.warmup = options.warmup.min(options.runs / 2);
    }
    if options.runs == 0 || options.warmup == 0 || options.warmup >= options.runs {
        bail!("need 0 < --warmup < --runs\n{}", usage());
    }
    Ok(options)
}

/// A `/proc/self/status` field in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    status_kib("VmRSS")
}

fn open_fds() -> i64 {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count() as i64).unwrap_or(-1)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// One job: connect, list, get a small file, send a small file, quit.
async fn job(plugin: &Plugin, port: u16, root: &Path, readme_sha: &str, name: &str) -> Result<Duration> {
    let payload = format!("soak upload {name}");
    let args: Vec<String> = [
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--user",
        DEMO_USER,
        "--password",
        PASSWORD,
        "ls",
        ";",
        "sha256",
        "readme.txt",
        ";",
        "put",
        name,
        &payload,
    ]
    .map(String::from)
    .into();
    let report = plugin
        .run(&args, Output::Capture)
        .await
        .with_context(|| format!("{name}: the run failed on the host's side"))?;
    if let Err(e) = &report.result {
        bail!("{name}: the plugin failed: {e}\nstderr: {}", String::from_utf8_lossy(&report.stderr));
    }
    let out = String::from_utf8_lossy(&report.stdout);
    if !out.contains(&format!("{readme_sha}  ")) {
        bail!("{name}: wrong download: {out}");
    }
    let landed = std::fs::read(root.join(name)).with_context(|| format!("{name}: the upload is missing"))?;
    if landed != payload.as_bytes() {
        bail!("{name}: the upload has the wrong bytes");
    }
    Ok(report.duration)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Phase {
    name: &'static str,
    runs: usize,
    wall: Duration,
    latencies: Vec<Duration>,
    rss_before: u64,
    rss_after: u64,
    fds_before: i64,
    fds_after: i64,
}

fn table(phases: &[Phase]) -> String {
    let mut out = String::new();
    out.push_str("| phase | runs | wall | runs/s | p50 | p99 | max | RSS before | RSS after | fds before/after |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for p in phases {
        let mut sorted = p.latencies.clone();
        sorted.sort();
        out.push_str(&format!(
            "| {} | {} | {:.2} s | {:.0} | {} | {} | {} | {} | {} | {}/{} |\n",
            p.name,
            p.runs,
            p.wall.as_secs_f64(),
            p.runs as f64 / p.wall.as_secs_f64(),
            ms(percentile(&sorted, 0.5)),
            ms(percentile(&sorted, 0.99)),
            ms(sorted.last().copied().unwrap_or_default()),
            mib(p.rss_before),
            mib(p.rss_after),
            p.fds_before,
            p.fds_after,
        ));
    }
    out
}

async fn soak(options: &Options) -> Result<bool> {
    let started = Instant::now();
    let root = tempfile::tempdir()?;
    ftp_host::demo::seed(root.path())?;
    let readme_sha = hex_sha256(&std::fs::read(root.path().join("readme.txt"))?);
    let server = DemoServer::start(root.path(), PASSWORD).await?;
    let port = server.addr().port();
    let host = Host::new(Policy::new().allow(&server.addr().to_string())?)?;
    let plugin = host.load(EXAMPLE_PLUGIN)?;
    let rss_start = rss_kib();
    let fds_start = open_fds();
    eprintln!(
        "soak: {} sequential runs ({} warm-up), then {} concurrent; RSS at start {}",
        options.runs,
        options.warmup,
        options.concurrent,
        mib(rss_start)
    );

    // Sequential: warm-up, then the measured runs.
    let mut latencies = Vec::with_capacity(options.runs);
    let (mut rss_warm, mut fds_warm, mut measured_from) = (0, 0, Instant::now());
    let sequential_started = Instant::now();
    for i in 1..=options.runs {
        // A few names, reused: the server's directory stays small.
        let name = format!("soak-{}.txt", i % 16);
        latencies.push(job(&plugin, port, root.path(), &readme_sha, &name).await?);
        if i == options.warmup {
            rss_warm = rss_kib();
            fds_warm = open_fds();
            measured_from = Instant::now();
        }
        if i % 100 == 0 || i == options.runs {
            eprintln!("soak: run {i}/{}: RSS {}, {} fds", options.runs, mib(rss_kib()), open_fds());
        }
    }
    let sequential_wall = sequential_started.elapsed();
    let measured_wall = measured_from.elapsed();
    let rss_end = rss_kib();
    let fds_end = open_fds();

    // Concurrent: all at once.
    let concurrent_rss_before = rss_kib();
    let concurrent_fds_before = open_fds();
    let concurrent_started = Instant::now();
    let tasks: Vec<_> = (0..options.concurrent)
        .map(|i| {
            let plugin = plugin.clone();
            let root = root.path().to_path_buf();
            let readme_sha = readme_sha.clone();
            tokio::spawn(async move { job(&plugin, port, &root, &readme_sha, &format!("concurrent-{i}.txt")).await })
        })
        .collect();
    let mut concurrent = Vec::with_capacity(options.concurrent);
    let mut concurrent_failures = Vec::new();
    for task in tasks {
        match task.await.context("a concurrent run panicked")? {
            Ok(d) => concurrent.push(d),
            Err(e) => concurrent_failures.push(format!("{e:#}")),
        }
    }
    let concurrent_wall = concurrent_started.elapsed();
    // Let the server's session tasks end before counting descriptors.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let concurrent_rss_after = rss_kib();
    let concurrent_fds_after = open_fds();

    let phases = [
        Phase {
            name: "sequential, all",
            runs: options.runs,
            wall: sequential_wall,
            latencies: latencies.clone(),
            rss_before: rss_start,
            rss_after: rss_end,
            fds_before: fds_start,
            fds_after: fds_end,
        },
        Phase {
            name: "sequential, after warm-up",
            runs: options.runs - options.warmup,
            wall: measured_wall,
            latencies: latencies[options.warmup..].to_vec(),
            rss_before: rss_warm,
            rss_after: rss_end,
            fds_before: fds_warm,
            fds_after: fds_end,
        },
        Phase {
            name: "concurrent",
            runs: options.concurrent,
            wall: concurrent_wall,
            latencies: concurrent,
            rss_before: concurrent_rss_before,
            rss_after: concurrent_rss_after,
            fds_before: concurrent_fds_before,
            fds_after: concurrent_fds_after,
        },
    ];
    let growth = (rss_end as f64 - rss_warm as f64) / rss_warm.max(1) as f64 * 100.0;
    let fd_growth = fds_end - fds_warm;
    let rss_ok = growth <= options.max_growth_percent;
    let fds_ok = fd_growth <= MAX_FD_GROWTH;
    let concurrent_ok = concurrent_failures.is_empty();

    print!("{}", table(&phases));
    println!();
    println!(
        "RSS growth after warm-up (run {} -> run {}): {} -> {} = {:+.1}% (limit +{}%): {}",
        options.warmup,
        options.runs,
        mib(rss_warm),
        mib(rss_end),
        growth,
        options.max_growth_percent,
        if rss_ok { "ok" } else { "FAIL" }
    );
    println!(
        "Open fds after warm-up -> end: {fds_warm} -> {fds_end} ({fd_growth:+}, limit +{MAX_FD_GROWTH}): {}",
        if fds_ok { "ok" } else { "FAIL" }
    );
    println!(
        "Concurrent: {} of {} runs succeeded: {}; peak RSS of the process (VmHWM): {}",
        options.concurrent - concurrent_failures.len(),
        options.concurrent,
        if concurrent_ok { "ok" } else { "FAIL" },
        mib(status_kib("VmHWM"))
    );
    println!(
        "Machine: {} cores; soak took {:.1} s",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        started.elapsed().as_secs_f64()
    );
    for failure in &concurrent_failures {
        println!("concurrent failure: {failure}");
    }
    drop(server);
    Ok(rss_ok && fds_ok && concurrent_ok)
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("soak: {e:#}");
            return ExitCode::from(2);
        }
    };
    match soak(&options).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            println!("soak: FAIL: {e:#}");
            eprintln!("soak: {e:#}");
            ExitCode::FAILURE
        }
    }
}
