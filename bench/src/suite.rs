//! The parent process: plan, servers, files, the cases in order, checks,
//! and the report.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use ftp_host::demo::{DemoServer, DEMO_USER};
use ftp_host_e2e::servers::{FtpServer, ServerKind, ServerOptions, TlsVersion};
use sha2::{Digest, Sha256};

use crate::cases::{Case, CaseResult, Client, Direction, Endpoint, RESULT_PREFIX};
use crate::measure::{run_measured, Cost, CpuGroup, CpuTimes};
use crate::oplog::OpTime;
use crate::{report, ClientChoice, Options, Section, ServerChoice};

const MIB: u64 = 1 << 20;
/// proftpd's listener sleeps 2 x 200 ms after any session process exits
/// (see tests/src/servers.rs): wait longer than that before the next
/// connection so that no case pays for the previous one.
const PROFTPD_SETTLE: Duration = Duration::from_millis(600);
/// vsftpd forks a session process per connection; a short pause lets the
/// previous one exit.
const VSFTPD_SETTLE: Duration = Duration::from_millis(150);
const EMBEDDED_PASSWORD: &str = "bench-password";
/// File the guest-memory probe bisects with. Large enough for the guest's
/// heap to reach its steady state: the via-memory download, which receives
/// chunks of varying length, needed 1.88 MiB for 4 MiB, 2.06 for 16 MiB and
/// 2.12 for 64 MiB, 256 MiB and 1 GiB alike (bisected at each size,
/// 2026-12-03); with 4 MiB the 1 GiB run missed by one page.
const PROBE_SIZE: u64 = 64 * MIB;

/// How much of everything.
#[derive(Clone, Debug)]
pub struct Plan {
    pub quick: bool,
    pub size: u64,
    pub runs: usize,
    pub embedded_size: u64,
    pub startup_runs: usize,
    pub concurrency: usize,
    pub concurrency_size: u64,
    pub entries: usize,
    pub listing_runs: usize,
    pub ops: usize,
    pub sections: Vec<Section>,
    pub out: PathBuf,
    pub work_dir: PathBuf,
    pub keep: bool,
    pub keep_page_reporting: bool,
    pub pin_server: Option<usize>,
    /// Measure unexplained misses again with the servers pinned apart.
    pub second_look: bool,
    pub servers: Vec<ServerId>,
    pub clients: Vec<Client>,
    pub fleet: crate::fleet::FleetArgs,
}

impl Plan {
    /// The guest-memory probe's file: [`PROBE_SIZE`], or the large file if smaller.
    pub fn probe_size(&self) -> u64 {
        PROBE_SIZE.min(self.size)
    }

    fn new(o: Options) -> Plan {
        let quick = o.quick;
        let size = o.size.unwrap_or(if quick { 128 * MIB } else { 1024 * MIB });
        // The fleet section alone needs none of the large files.
        let small = o.only == [Section::Fleet];
        let size = if small && o.size.is_none() { MIB } else { size };
        let root = workspace_root();
        let sections = if o.only.is_empty() {
            vec![
                Section::Transfers,
                Section::Memory,
                Section::Startup,
                Section::Listing,
                Section::Concurrency,
                Section::Latency,
                Section::Fleet,
            ]
        } else {
            o.only.clone()
        };
        Plan {
            quick,
            size,
            runs: o.runs.unwrap_or(if quick { 1 } else { 3 }).max(1),
            embedded_size: o.embedded_size.unwrap_or(size.min(256 * MIB)),
            startup_runs: o.startup_runs.unwrap_or(if quick { 200 } else { 1000 }).max(1),
            concurrency: o.concurrency.max(1),
            concurrency_size: o.concurrency_size.unwrap_or(if quick || small { 4 * MIB } else { 16 * MIB }),
            entries: o.entries,
            listing_runs: if quick { 3 } else { 7 },
            ops: 20,
            sections,
            // Only the full, default run may replace the committed report.
            out: o.out.clone().unwrap_or_else(|| {
                let full = !quick
                    && o.size.is_none()
                    && o.runs.is_none()
                    && o.embedded_size.is_none()
                    && o.only.is_empty()
                    && o.servers.is_empty()
                    && o.clients.is_empty()
                    && o.startup_runs.is_none()
                    && o.concurrency == 64
                    && o.concurrency_size.is_none()
                    && o.entries == 10_000;
                if full {
                    root.join("BENCHMARKS.md")
                } else if quick {
                    root.join("target/bench/BENCHMARKS.quick.md")
                } else {
                    root.join("target/bench/BENCHMARKS.partial.md")
                }
            }),
            work_dir: o.work_dir,
            keep: o.keep,
            keep_page_reporting: o.keep_page_reporting,
            pin_server: o.pin_server,
            second_look: !o.no_second_look,
            servers: if o.servers.is_empty() {
                ServerId::ALL.to_vec()
            } else {
                o.servers
                    .iter()
                    .map(|s| match s {
                        ServerChoice::ProftpdPlain => ServerId::ProftpdPlain,
                        ServerChoice::ProftpdFtps => ServerId::ProftpdFtps,
                        ServerChoice::VsftpdPlain => ServerId::VsftpdPlain,
                        ServerChoice::VsftpdFtps => ServerId::VsftpdFtps,
                        ServerChoice::Embedded => ServerId::Embedded,
                    })
                    .collect()
            },
            clients: if o.clients.is_empty() {
                Client::ALL.to_vec()
            } else {
                o.clients
                    .iter()
                    .map(|c| match c {
                        ClientChoice::Host => Client::GuestHost,
                        ClientChoice::Memory => Client::GuestMemory,
                        ClientChoice::Splice => Client::GuestSplice,
                        ClientChoice::Native => Client::Native,
                        ClientChoice::Curl => Client::Curl,
                        ClientChoice::Lftp => Client::Lftp,
                        ClientChoice::Cli => Client::Cli,
                    })
                    .collect()
            },
            fleet: o.fleet.clone(),
        }
    }

    pub fn has(&self, s: Section) -> bool {
        self.sections.contains(&s)
    }
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("bench/ is in the workspace").to_path_buf()
}

// ---- results ------------------------------------------------------------------

/// Which server a measurement was made against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServerId {
    ProftpdPlain,
    ProftpdFtps,
    VsftpdPlain,
    VsftpdFtps,
    Embedded,
}

impl ServerId {
    pub const ALL: [ServerId; 5] = [
        ServerId::ProftpdPlain,
        ServerId::ProftpdFtps,
        ServerId::VsftpdPlain,
        ServerId::VsftpdFtps,
        ServerId::Embedded,
    ];
    /// The servers the targets are about.
    pub const REAL: [ServerId; 4] =
        [ServerId::ProftpdPlain, ServerId::ProftpdFtps, ServerId::VsftpdPlain, ServerId::VsftpdFtps];

    pub fn label(self) -> &'static str {
        match self {
            ServerId::ProftpdPlain => "proftpd, plain FTP",
            ServerId::ProftpdFtps => "proftpd, explicit FTPS + PROT P",
            ServerId::VsftpdPlain => "vsftpd, plain FTP",
            ServerId::VsftpdFtps => "vsftpd, explicit FTPS + PROT P (TLS 1.2)",
            ServerId::Embedded => "embedded libunftp, plain FTP (reference only: CPU-bound, slow)",
        }
    }

    pub fn short(self) -> &'static str {
        match self {
            ServerId::ProftpdPlain => "proftpd plain",
            ServerId::ProftpdFtps => "proftpd FTPS",
            ServerId::VsftpdPlain => "vsftpd plain",
            ServerId::VsftpdFtps => "vsftpd FTPS",
            ServerId::Embedded => "embedded (reference)",
        }
    }

    pub fn tls(self) -> bool {
        matches!(self, ServerId::ProftpdFtps | ServerId::VsftpdFtps)
    }
}

#[derive(Clone, Debug)]
pub struct TransferStat {
    pub server: ServerId,
    pub direction: Direction,
    pub client: Client,
    pub bytes: u64,
    pub costs: Vec<Cost>,
    /// The round (0-based) each of `costs` was measured in: clients are
    /// interleaved within a round, so two clients' costs pair by round.
    pub rounds: Vec<usize>,
    /// The server's CPU seconds in each measured case (real servers only).
    pub server_cpu: Vec<f64>,
    /// Seconds the server's processes were runnable without a CPU, per
    /// measured case (empty where the kernel does not tell: no cgroup v2 PSI).
    pub server_wait: Vec<f64>,
    /// The share of all cores busy while the client ran, per measured case.
    pub machine_busy: Vec<f64>,
    pub load_ms: Vec<f64>,
    pub errors: Vec<String>,
}

impl TransferStat {
    pub fn mbps(&self) -> Vec<f64> {
        self.costs.iter().map(|c| self.bytes as f64 / c.wall_s / 1e6).collect()
    }
}

#[derive(Clone, Debug)]
pub struct MemoryProbe {
    pub client: Client,
    pub direction: Direction,
    /// Smallest `max_memory_bytes` the probe-size transfer succeeded with.
    pub min_bytes: Result<u64, String>,
    /// The full-size transfer under exactly that cap.
    pub full: Result<Cost, String>,
}

#[derive(Clone, Debug)]
pub struct StartupStat {
    pub capture: bool,
    pub result: Result<CaseResult, String>,
}

#[derive(Clone, Debug)]
pub struct ListingStat {
    pub client: Client,
    pub result: Result<CaseResult, String>,
}

#[derive(Clone, Debug)]
pub struct ConcurrencyStat {
    pub client: Client,
    pub runs: Vec<Result<CaseResult, String>>,
}

#[derive(Clone, Debug)]
pub struct LatencyStat {
    pub server: &'static str,
    pub client: String,
    pub result: Result<CaseResult, String>,
}

#[derive(Clone, Debug, Default)]
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub kernel: String,
    pub os: String,
    pub mem_gib: f64,
    pub load_start: String,
    pub load_end: String,
    /// /proc/stat at the start.
    pub stat_start: CpuTimes,
    /// Share of all CPUs busy during the run (everything on the machine), and stolen by the hypervisor.
    pub busy_share: f64,
    pub steal_share: f64,
    pub date: String,
    pub curl: String,
    pub lftp: String,
    pub proftpd: String,
    pub vsftpd: String,
    pub rustc: String,
    /// What the run did with the VM's free-page reporting.
    pub page_reporting: String,
    /// Which CPUs servers and clients ran on (`--pin-server`), or that they shared them.
    pub pinning: String,
}

pub struct Results {
    pub plan: Plan,
    pub machine: Machine,
    pub command: String,
    pub transfers: Vec<TransferStat>,
    pub memory: Vec<MemoryProbe>,
    pub startup: Vec<StartupStat>,
    pub listing: Vec<ListingStat>,
    pub concurrency: Vec<ConcurrencyStat>,
    pub latency: Vec<LatencyStat>,
    pub demo: Option<Result<Vec<f64>, String>>,
    pub fleet: Option<Result<crate::fleet::FleetStat, String>>,
    /// Unexplained misses measured again with the servers pinned apart.
    pub second_look: Option<SecondLook>,
    pub elapsed: Duration,
}

/// The transfer section's second look ([`second_look`]).
pub struct SecondLook {
    /// Which CPUs servers and clients had ("the servers on CPU 1, ..."),
    /// or why they could not be pinned apart.
    pub cpus: Result<String, String>,
    pub transfers: Vec<TransferStat>,
}

// ---- helpers --------------------------------------------------------------------

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).with_context(|| format!("chmod {}", path.display()))
}

/// Incompressible bytes, the same for a given size every time.
fn make_file(path: &Path, size: u64) -> Result<String> {
    use std::io::Write;
    let mut file = std::io::BufWriter::with_capacity(4 * MIB as usize, fs::File::create(path)?);
    let mut hasher = Sha256::new();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15 ^ size;
    let mut buf = vec![0u8; MIB as usize];
    let mut left = size;
    while left > 0 {
        for word in buf.chunks_exact_mut(8) {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            word.copy_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        file.write_all(&buf[..n])?;
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    file.flush()?;
    set_mode(path, 0o644)?;
    Ok(hex::encode(hasher.finalize()))
}

fn sha256_file(path: &Path) -> Result<(u64, String)> {
    let mut file = fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 4 * MIB as usize];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, hex::encode(hasher.finalize())))
}

fn verify(path: &Path, size: u64, sha: &str) -> Result<()> {
    let (got_size, got_sha) = sha256_file(path)?;
    ensure!(got_size == size, "{}: {got_size} bytes, expected {size}", path.display());
    ensure!(got_sha == sha, "{}: SHA-256 {got_sha}, expected {sha}", path.display());
    Ok(())
}

fn remove(path: &Path) {
    let _ = fs::remove_file(path);
}

/// Run one case in a child process of this binary.
pub fn run_child(case: &Case) -> Result<CaseResult> {
    static CHILDREN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CHILDREN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let exe = std::env::current_exe()?;
    let spec = serde_json::to_string(case)?;
    // For profiling: FTP_HOST_BENCH_WRAPPER="perf record -g -o /tmp/case-{n}-{case}.data"
    // runs every case under that command ({n} = the case's number, {case} =
    // `Case::slug`, such as `b-download-tls`).
    let mut cmd = match std::env::var("FTP_HOST_BENCH_WRAPPER") {
        Ok(wrapper) if !wrapper.trim().is_empty() => {
            let slug = case.slug();
            let mut words =
                wrapper.split_whitespace().map(|w| w.replace("{n}", &n.to_string()).replace("{case}", &slug));
            let mut cmd = Command::new(words.next().expect("not empty"));
            cmd.args(words).arg(&exe);
            cmd
        }
        _ => Command::new(&exe),
    };
    let out = cmd.arg("case").arg(spec).stdin(Stdio::null()).output().context("starting a case")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("case failed ({}): {}", out.status, tail.join("\n"));
    }
    let line = stdout.lines().find_map(|l| l.strip_prefix(RESULT_PREFIX)).context("the case printed no result")?;
    Ok(serde_json::from_str(line)?)
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() { o.stderr } else { o.stdout };
            String::from_utf8_lossy(&text).lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_else(|| "?".into())
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn machine() -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|r| r.trim_start_matches([' ', '\t', ':']).trim().to_string()))
        .unwrap_or_else(|| "?".into());
    let mem_kib: f64 = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                l.strip_prefix("MemTotal:").and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0.0);
    let os = fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string())))
        .unwrap_or_default();
    Machine {
        nproc: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        cpu,
        kernel: fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string(),
        os,
        mem_gib: mem_kib / (1024.0 * 1024.0),
        load_start: loadavg(),
        load_end: String::new(),
        stat_start: CpuTimes::now(),
        busy_share: f64::NAN,
        steal_share: f64::NAN,
        date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        curl: command_output("curl", &["--version"]),
        // "LFTP | Version 4.9.2 | Copyright ...": the bars would split the report's table.
        lftp: command_output("lftp", &["--version"]).replace(" | ", ", "),
        proftpd: command_output(ftp_host_e2e::servers::PROFTPD_BIN, &["-v"]),
        vsftpd: format!(
            "vsftpd {}",
            // The package's version, beside its usr/ (`vsftpd -v` writes to its stdin).
            Path::new(ftp_host_e2e::servers::VSFTPD_BIN)
                .ancestors()
                .nth(3)
                .and_then(|root| fs::read_to_string(root.join("VERSION")).ok())
                .unwrap_or_else(|| "?".into())
                .trim()
        ),
        rustc: command_output("rustc", &["--version"]),
        page_reporting: String::new(),
        pinning: String::new(),
    }
}

// ---- servers --------------------------------------------------------------------

/// A server under test and how to reach its files.
struct Target {
    id: ServerId,
    endpoint: Endpoint,
    root: PathBuf,
    settle: Duration,
    /// The real server's process tree, whose CPU is the server's cost of a
    /// case; `None` for the embedded server (in this process) or where no
    /// cgroup can be made.
    cpu: Option<CpuGroup>,
    /// The real server's listener, which forks its sessions.
    pid: Option<u32>,
}

impl Target {
    fn real(id: ServerId, server: &FtpServer) -> Target {
        Target {
            id,
            endpoint: Endpoint {
                host: server.host.clone(),
                port: server.port,
                user: server.user.clone(),
                password: server.password.clone(),
                tls: id.tls(),
                cert_pem: id.tls().then(|| server.cert_pem.clone()),
            },
            root: server.root.clone(),
            settle: if server.kind == ServerKind::Proftpd { PROFTPD_SETTLE } else { VSFTPD_SETTLE },
            cpu: CpuGroup::adopt(server.pid(), &id.short().replace(" ", "-")),
            pid: Some(server.pid()).filter(|&pid| pid != 0),
        }
    }

    fn embedded(server: &DemoServer) -> Target {
        Target {
            id: ServerId::Embedded,
            endpoint: Endpoint {
                host: server.addr().ip().to_string(),
                port: server.addr().port(),
                user: DEMO_USER.into(),
                password: EMBEDDED_PASSWORD.into(),
                tls: false,
                cert_pem: None,
            },
            root: server.root().to_path_buf(),
            settle: Duration::from_millis(50),
            cpu: None,
            pid: None,
        }
    }

    fn settle(&self) {
        std::thread::sleep(self.settle);
    }

    /// CPU seconds of the server's processes so far.
    fn server_cpu(&self) -> Option<f64> {
        self.cpu.as_ref().and_then(CpuGroup::cpu_s)
    }

    /// Seconds the server's processes have waited for a CPU so far.
    fn server_wait(&self) -> Option<f64> {
        self.cpu.as_ref().and_then(CpuGroup::cpu_wait_s)
    }

    fn curl(&self, args: &[&str], remote: &str) -> Command {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--user", &format!("{}:{}", self.endpoint.user, self.endpoint.password)]);
        if self.endpoint.tls {
            cmd.arg("--ssl-reqd").arg("--cacert").arg(self.endpoint.cert_pem.as_ref().expect("FTPS has a certificate"));
        }
        cmd.args(args).arg(format!("ftp://{}:{}/{remote}", self.endpoint.host, self.endpoint.port));
        cmd
    }

    /// lftp running `command` (`get R -o L` / `put L -o R`) and exiting.
    fn lftp(&self, command: &str) -> Command {
        let e = &self.endpoint;
        let mut script = String::from("set cmd:fail-exit yes; set net:max-retries 1; set net:timeout 60; ");
        match &e.cert_pem {
            Some(pem) if e.tls => script.push_str(&format!(
                "set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ftp:ssl-protect-list yes; set ssl:ca-file {}; ",
                pem.display()
            )),
            _ => script.push_str("set ftp:ssl-allow no; "),
        }
        script.push_str(&format!("open -u {},{} -p {} {}; {command}", e.user, e.password, e.port, e.host));
        let mut cmd = Command::new("lftp");
        cmd.arg("-c").arg(script);
        cmd
    }

    /// `ftp-host run` of the example plugin with `guest` arguments, the
    /// local directory granted as /data.
    fn cli(&self, tools: &Tools, local: &Path, guest: &[&str]) -> Command {
        let e = &self.endpoint;
        let mut cmd = Command::new(&tools.ftp_host);
        cmd.env("FTP_HOST_CACHE_DIR", &tools.cache_dir);
        cmd.arg("run").arg(&tools.plugin);
        cmd.args(["--allow", &format!("{}:{}", e.host, e.port), "--allow-loopback"]);
        if let Some(pem) = &e.cert_pem {
            cmd.arg("--ca-file").arg(pem);
        }
        cmd.arg("--dir").arg(format!("{}::{}", local.display(), crate::cases::GUEST_DIR));
        cmd.arg("--").args(crate::cases::guest_args(e, guest));
        cmd
    }
}

/// A source file: where it is, its size and digest.
#[derive(Clone)]
struct Source {
    /// Name in the granted local directory and in every server root.
    name: String,
    size: u64,
    sha: String,
}

struct Env {
    local: PathBuf,
    tools: Tools,
}

/// What the whole-process clients need.
struct Tools {
    /// The `ftp-host` binary built beside this one.
    ftp_host: PathBuf,
    /// The example plugin as a file.
    plugin: PathBuf,
    /// Its compiled-plugin cache (warmed before the first measurement).
    cache_dir: PathBuf,
    /// Where whole-process clients write their output.
    log: PathBuf,
}

/// Run a whole-process client, measured; its output goes to `log` and its
/// tail is the error when it fails.
fn run_process(mut cmd: Command, log: &Path, what: &str) -> Result<CaseResult> {
    let out = fs::File::create(log)?;
    cmd.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
    let (code, cost) = run_measured(&mut cmd).with_context(|| format!("starting {what}"))?;
    if code != 0 {
        let text = fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(6).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("{what} exited with {code}: {}", tail.join(" / "));
    }
    Ok(CaseResult { cost, ..Default::default() })
}

impl Env {
    /// `runs` rounds of `clients` on one server and direction, after an
    /// untimed native transfer; each client's figures, in `clients` order.
    /// `round` names a round in the progress lines ("run").
    fn rounds(
        &self,
        target: &Target,
        direction: Direction,
        clients: &[Client],
        runs: usize,
        src: &Source,
        round: &str,
    ) -> Vec<TransferStat> {
        let mut stats: BTreeMap<usize, TransferStat> = BTreeMap::new();
        // Untimed: the first 1 GiB written after a pause lands in memory
        // the VM handed back to its hypervisor and runs 3-4x slower
        // whoever writes it (bench/ANALYSIS-2026-12-02-first-touch.md).
        if let Err(e) = self.transfer(target, direction, Client::Native, src, None) {
            eprintln!("{} {} warm-up: FAILED: {e:#}", target.id.label(), direction.label());
        }
        for run in 0..runs {
            // Each round starts with the next client, so no client is
            // always the one after a pause or after the same other.
            let n = clients.len();
            for i in (0..n).map(|k| (run + k) % n) {
                let client = clients[i];
                let stat = stats.entry(i).or_insert_with(|| TransferStat {
                    server: target.id,
                    direction,
                    client,
                    bytes: src.size,
                    costs: Vec::new(),
                    rounds: Vec::new(),
                    server_cpu: Vec::new(),
                    server_wait: Vec::new(),
                    machine_busy: Vec::new(),
                    load_ms: Vec::new(),
                    errors: Vec::new(),
                });
                // The session has ended before `transfer` returns
                // (it checks the file afterwards).
                let (server_before, wait_before) = (target.server_cpu(), target.server_wait());
                match self.transfer(target, direction, client, src, None) {
                    Ok((r, busy)) => {
                        let mut server = match (server_before, target.server_cpu()) {
                            (Some(before), Some(after)) => {
                                stat.server_cpu.push(after - before);
                                format!(", server {:.2} s CPU", after - before)
                            }
                            _ => String::new(),
                        };
                        if let (Some(before), Some(after)) = (wait_before, target.server_wait()) {
                            stat.server_wait.push(after - before);
                            server.push_str(&format!(", {:.2} s waiting for a CPU", after - before));
                        }
                        stat.machine_busy.push(busy);
                        eprintln!(
                            "{} {} {} {round} {}: {:.0} MB/s, {:.2} s CPU, peak RSS {:.1} MiB{server}",
                            target.id.label(),
                            direction.label(),
                            client.label(),
                            run + 1,
                            src.size as f64 / r.cost.wall_s / 1e6,
                            r.cost.cpu_s(),
                            r.cost.peak_kib as f64 / 1024.0
                        );
                        stat.costs.push(r.cost);
                        stat.rounds.push(run);
                        if r.load_ms > 0.0 {
                            stat.load_ms.push(r.load_ms);
                        }
                    }
                    Err(e) => {
                        eprintln!(
                            "{} {} {} {round} {}: FAILED: {e:#}",
                            target.id.label(),
                            direction.label(),
                            client.label(),
                            run + 1
                        );
                        stat.errors.push(format!("{e:#}"));
                    }
                }
            }
        }
        stats.into_values().collect()
    }

    /// Run one transfer (any client) and check the file that arrived; also
    /// the share of all cores busy while the client ran.
    fn transfer(
        &self,
        target: &Target,
        direction: Direction,
        client: Client,
        src: &Source,
        max_memory: Option<usize>,
    ) -> Result<(CaseResult, f64)> {
        let remote_up = "up.bin";
        let local_down = "down.bin";
        // The destination must not exist beforehand: a stale file could pass the check.
        let arrived = match direction {
            Direction::Download => self.local.join(local_down),
            Direction::Upload => target.root.join(remote_up),
        };
        remove(&arrived);
        remove(&self.local.join(format!("{local_down}.part")));
        target.settle();
        let stat_before = CpuTimes::now();
        let result = match client {
            Client::Curl => {
                let cmd = match direction {
                    Direction::Download => {
                        target.curl(&["-o", self.local.join(local_down).to_str().unwrap()], &src.name)
                    }
                    Direction::Upload => target.curl(&["-T", self.local.join(&src.name).to_str().unwrap()], remote_up),
                };
                run_process(cmd, &self.tools.log, "curl")?
            }
            Client::Lftp => {
                let cmd = match direction {
                    Direction::Download => {
                        target.lftp(&format!("get {} -o {}", src.name, self.local.join(local_down).display()))
                    }
                    Direction::Upload => {
                        target.lftp(&format!("put {} -o {remote_up}", self.local.join(&src.name).display()))
                    }
                };
                run_process(cmd, &self.tools.log, "lftp")?
            }
            Client::Cli => {
                let (local, remote) = (format!("{}/", crate::cases::GUEST_DIR), src.name.as_str());
                let cmd = match direction {
                    Direction::Download => {
                        target.cli(&self.tools, &self.local, &["download", remote, &format!("{local}{local_down}")])
                    }
                    Direction::Upload => {
                        target.cli(&self.tools, &self.local, &["upload", &format!("{local}{}", src.name), remote_up])
                    }
                };
                run_process(cmd, &self.tools.log, "ftp-host run")?
            }
            _ => {
                let (remote, local_name) = match direction {
                    Direction::Download => (src.name.clone(), local_down.to_string()),
                    Direction::Upload => (remote_up.to_string(), src.name.clone()),
                };
                run_child(&Case::Transfer {
                    client,
                    direction,
                    endpoint: target.endpoint.clone(),
                    remote,
                    local_dir: self.local.clone(),
                    local_name,
                    max_memory,
                })?
            }
        };
        let (busy, _) = CpuTimes::now().shares_since(&stat_before);
        let checked = verify(&arrived, src.size, &src.sha);
        remove(&arrived);
        checked?;
        Ok((result, busy))
    }
}

/// The missed speed ratios that neither the server nor the machine
/// explains, measured again, their two clients alternating for `runs`
/// rounds, with the real servers on a core of their own and the clients on
/// the others (as `--pin-server`). `None` when nothing needed it.
fn second_look(env: &Env, targets: &[Target], src: &Source, results: &Results, runs: usize) -> Option<SecondLook> {
    let cases = crate::report::unexplained(results);
    if cases.is_empty() {
        return None;
    }
    let pids: Vec<u32> = targets.iter().filter_map(|t| t.pid).collect();
    let measured = crate::pinning::Pinning::last_cpu().and_then(|pinning| {
        // Dropped at the end of this closure: everything is unpinned.
        let _apart = pinning.apart(&pids)?;
        let mut transfers = Vec::new();
        for (server, direction, clients) in cases {
            let Some(target) = targets.iter().find(|t| t.id == server) else { continue };
            eprintln!(
                "second look: {} {}, {} / {}, {}...",
                server.label(),
                direction.label(),
                clients[0].letter(),
                clients[1].letter(),
                pinning.cpus()
            );
            transfers.extend(env.rounds(target, direction, &clients, runs, src, "own-core run"));
        }
        Ok((pinning.cpus(), transfers))
    });
    Some(match measured {
        Ok((cpus, transfers)) => SecondLook { cpus: Ok(cpus), transfers },
        Err(e) => SecondLook { cpus: Err(format!("{e:#}")), transfers: Vec::new() },
    })
}

// ---- the run --------------------------------------------------------------------

pub fn run(options: Options) -> Result<()> {
    let started = Instant::now();
    // scripts/bench.sh says how it was called; else this process's own command line.
    let command =
        std::env::var("FTP_HOST_BENCH_COMMAND").unwrap_or_else(|_| std::env::args().collect::<Vec<_>>().join(" "));
    let plan = Plan::new(options);
    // Before any thread is started: threads and child processes inherit it.
    let pinning = plan.pin_server.map(crate::pinning::Pinning::start).transpose()?;
    crate::interrupt::install();
    // Held to the end of the run: dropping it restores the VM's setting.
    let page_reporting = crate::page_reporting::PageReporting::pause(plan.keep_page_reporting);
    let mut machine = machine();
    machine.page_reporting = page_reporting.describe();
    machine.pinning = pinning.as_ref().map_or_else(
        || "none: client and server share every core (in a deployment the server has a machine of its own; `--pin-server CPU` separates them)".into(),
        crate::pinning::Pinning::describe,
    );
    eprintln!(
        "ftp-host-bench: {} MiB files, {} run(s) per case, sections {:?}, report -> {}",
        plan.size / MIB,
        plan.runs,
        plan.sections,
        plan.out.display()
    );

    // Everything on a tmpfs, traversable by the servers' unprivileged users.
    fs::create_dir_all(&plan.work_dir)?;
    let work = tempfile::Builder::new().prefix("ftp-host-bench-").tempdir_in(&plan.work_dir)?;
    if !plan.keep {
        let dir = work.path().to_path_buf();
        crate::interrupt::on_interrupt(move || drop(fs::remove_dir_all(dir)));
    }
    set_mode(work.path(), 0o755)?;
    let tmp = work.path().join("tmp");
    fs::create_dir(&tmp)?;
    set_mode(&tmp, 0o755)?;
    // The fixture puts the servers' roots and configuration under TMPDIR.
    std::env::set_var("TMPDIR", &tmp);
    let local = work.path().join("local");
    fs::create_dir(&local)?;
    set_mode(&local, 0o755)?;
    // The whole-process guest: the `ftp-host` binary built beside this one,
    // the example plugin as a file, a cache of its own.
    let exe_dir = std::env::current_exe()?.parent().context("no directory for this binary")?.to_path_buf();
    let tools = Tools {
        ftp_host: exe_dir.join("ftp-host"),
        plugin: work.path().join("plugin.wasm"),
        cache_dir: work.path().join("cache"),
        log: work.path().join("client.log"),
    };
    ensure!(
        tools.ftp_host.is_file(),
        "{} is missing: build it first (cargo build --release -p ftp-host; scripts/bench.sh does)",
        tools.ftp_host.display()
    );
    fs::write(&tools.plugin, ftp_host::demo::EXAMPLE_PLUGIN)?;
    fs::create_dir(&tools.cache_dir)?;
    let env = Env { local: local.clone(), tools };

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;

    // Files.
    eprintln!("creating test files...");
    let make = |name: &str, size: u64| -> Result<Source> {
        let sha = make_file(&local.join(name), size)?;
        Ok(Source { name: name.into(), size, sha })
    };
    let big = make("big.bin", plan.size)?;
    let embedded_big =
        if plan.embedded_size == plan.size { big.clone() } else { make("big-embedded.bin", plan.embedded_size)? };
    let probe = make("probe.bin", plan.probe_size())?;
    let conc = make("conc.bin", plan.concurrency_size)?;
    let small = make("small.bin", 1024)?;
    let sources = [&big, &embedded_big, &probe, &conc, &small];

    // Servers: enough passive ports for the concurrent case. proftpd picks
    // one at random and answers 425 when another session is listening on
    // it (two sessions between bind and listen in the same instant): with
    // twice the sessions in ports, 1 of 64 concurrent downloads in 9 runs
    // failed so once; eight times as many make that a quarter as likely.
    eprintln!("starting proftpd and vsftpd (plain, explicit FTPS) and the embedded server...");
    let mut plain_options = ServerOptions::plain();
    plain_options.passive_ports = (plan.concurrency as u16).saturating_mul(8).max(64);
    let proftpd_plain = FtpServer::start(ServerKind::Proftpd, plain_options).context("starting proftpd (plain)")?;
    let proftpd_ftps =
        FtpServer::start(ServerKind::Proftpd, ServerOptions::explicit()).context("starting proftpd (FTPS)")?;
    let vsftpd_plain =
        FtpServer::start(ServerKind::Vsftpd, ServerOptions::plain()).context("starting vsftpd (plain)")?;
    // TLS 1.2: with 1.3, vsftpd sends session tickets on every data
    // connection, and curl fails uploads with 426 (see tests/src/servers.rs).
    let vsftpd_ftps =
        FtpServer::start(ServerKind::Vsftpd, ServerOptions::explicit().max_tls_version(TlsVersion::Tls12))
            .context("starting vsftpd (FTPS)")?;
    // vsftpd serves a directory in its system user's home, which is not on
    // the tmpfs: point it at one that is (chroot follows the link).
    for (name, server) in [("vsftpd-plain-root", &vsftpd_plain), ("vsftpd-ftps-root", &vsftpd_ftps)] {
        let root = work.path().join(name);
        fs::create_dir(&root)?;
        set_mode(&root, 0o755)?;
        std::os::unix::fs::chown(&root, Some(server.uid), Some(server.gid))?;
        fs::remove_dir(&server.root).with_context(|| format!("replacing {}", server.root.display()))?;
        std::os::unix::fs::symlink(&root, &server.root)?;
    }
    let embedded_root = work.path().join("embedded-root");
    fs::create_dir(&embedded_root)?;
    let embedded = runtime.block_on(DemoServer::start(&embedded_root, EMBEDDED_PASSWORD))?;
    let targets = [
        Target::real(ServerId::ProftpdPlain, &proftpd_plain),
        Target::real(ServerId::ProftpdFtps, &proftpd_ftps),
        Target::real(ServerId::VsftpdPlain, &vsftpd_plain),
        Target::real(ServerId::VsftpdFtps, &vsftpd_ftps),
        Target::embedded(&embedded),
    ];
    let embedded_target = &targets[4];
    if let Some(pinning) = &pinning {
        for server in [&proftpd_plain, &proftpd_ftps, &vsftpd_plain, &vsftpd_ftps] {
            let pid = server.pid();
            ensure!(pid != 0, "no PID for {:?}: it cannot be pinned", server.kind);
            pinning.server(pid)?;
        }
    }
    for target in &targets {
        for src in sources {
            let dest = target.root.join(&src.name);
            if !dest.exists() {
                fs::hard_link(local.join(&src.name), &dest).with_context(|| format!("linking {}", dest.display()))?;
            }
        }
    }
    let plain = &targets[0];

    // Warm the whole-process client's cache: later runs load the compiled plugin.
    if plan.clients.contains(&Client::Cli) {
        let mut warm = Command::new(&env.tools.ftp_host);
        warm.env("FTP_HOST_CACHE_DIR", &env.tools.cache_dir).arg("run").arg(&env.tools.plugin);
        let _ = warm.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status()?;
        ensure!(
            fs::read_dir(&env.tools.cache_dir)?.count() > 0,
            "`ftp-host run` left nothing in its cache {}",
            env.tools.cache_dir.display()
        );
    }

    let mut results = Results {
        plan: plan.clone(),
        machine: Machine::default(),
        command,
        transfers: Vec::new(),
        memory: Vec::new(),
        startup: Vec::new(),
        listing: Vec::new(),
        concurrency: Vec::new(),
        latency: Vec::new(),
        demo: None,
        fleet: None,
        second_look: None,
        elapsed: Duration::ZERO,
    };

    if plan.has(Section::Startup) {
        for capture in [true, false] {
            eprintln!(
                "start-up: {} runs (output {})...",
                plan.startup_runs,
                if capture { "captured" } else { "inherited" }
            );
            let result = run_child(&Case::Startup { runs: plan.startup_runs, warmup: 20, capture })
                .map_err(|e| format!("{e:#}"));
            results.startup.push(StartupStat { capture, result });
        }
    }

    if plan.has(Section::Transfers) {
        for target in targets.iter().filter(|t| plan.servers.contains(&t.id)) {
            let src = if target.id == ServerId::Embedded { &embedded_big } else { &big };
            for direction in [Direction::Download, Direction::Upload] {
                results.transfers.extend(env.rounds(target, direction, &plan.clients, plan.runs, src, "run"));
            }
        }
        if plan.second_look && plan.pin_server.is_none() {
            results.second_look = second_look(&env, &targets, &big, &results, plan.runs);
        }
    }

    if plan.has(Section::Memory) {
        for client in [Client::GuestHost, Client::GuestMemory] {
            for direction in [Direction::Download, Direction::Upload] {
                eprintln!(
                    "guest memory: {} {}: bisecting the memory cap with a {} KiB file...",
                    client.label(),
                    direction.label(),
                    probe.size / 1024
                );
                let min_bytes = bisect_memory(&env, plain, direction, client, &probe);
                let full = match &min_bytes {
                    Ok(cap) => env
                        .transfer(plain, direction, client, &big, Some(*cap as usize))
                        .map(|(r, _)| r.cost)
                        .map_err(|e| format!("{e:#}")),
                    Err(e) => Err(e.clone()),
                };
                eprintln!("  cap {:?} -> full size: {}", min_bytes, if full.is_ok() { "ok" } else { "FAILED" });
                results.memory.push(MemoryProbe { client, direction, min_bytes, full });
            }
        }
    }

    if plan.has(Section::Listing) {
        let dir = "many";
        let path = plain.root.join(dir);
        fs::create_dir_all(&path)?;
        set_mode(&path, 0o755)?;
        for i in 0..plan.entries {
            fs::File::create(path.join(format!("entry-{i:06}.dat")))?;
        }
        for client in [Client::GuestHost, Client::Native] {
            plain.settle();
            eprintln!("listing {} entries: {}...", plan.entries, client.label());
            let result = run_child(&Case::Listing {
                client,
                endpoint: plain.endpoint.clone(),
                path: dir.into(),
                runs: plan.listing_runs,
                gap_ms: PROFTPD_SETTLE.as_millis() as u64,
            })
            .and_then(|r| {
                ensure!(r.note == format!("{} entries", plan.entries), "listing returned {}", r.note);
                Ok(r)
            })
            .map_err(|e| format!("{e:#}"));
            results.listing.push(ListingStat { client, result });
        }
    }

    if plan.has(Section::Concurrency) {
        let dir = local.join("concurrent");
        fs::create_dir_all(&dir)?;
        set_mode(&dir, 0o755)?;
        let mut stats = vec![
            ConcurrencyStat { client: Client::GuestHost, runs: Vec::new() },
            ConcurrencyStat { client: Client::Native, runs: Vec::new() },
        ];
        for run in 0..plan.runs {
            // Alternate which goes first (see the transfers' rotation).
            let n = stats.len();
            for i in (0..n).map(|k| (run + k) % n) {
                let stat = &mut stats[i];
                std::thread::sleep(Duration::from_millis(1000));
                let result = run_child(&Case::Concurrent {
                    client: stat.client,
                    endpoint: plain.endpoint.clone(),
                    remote: conc.name.clone(),
                    local_dir: dir.clone(),
                    n: plan.concurrency,
                })
                .and_then(|r| {
                    for i in 0..plan.concurrency {
                        let file = dir.join(format!("c{i}.bin"));
                        let checked = verify(&file, conc.size, &conc.sha);
                        remove(&file);
                        checked?;
                    }
                    Ok(r)
                })
                .map_err(|e| format!("{e:#}"));
                match &result {
                    Ok(r) => eprintln!(
                        "{} x {} run {}: {:.0} MB/s aggregate",
                        plan.concurrency,
                        stat.client.label(),
                        run + 1,
                        (plan.concurrency as u64 * conc.size) as f64 / r.cost.wall_s / 1e6
                    ),
                    Err(e) => eprintln!("{} x {} run {}: FAILED: {e}", plan.concurrency, stat.client.label(), run + 1),
                }
                stat.runs.push(result);
            }
        }
        results.concurrency = stats;
    }

    if plan.has(Section::Startup) {
        // `ftp-host demo` as a user runs it (the embedded server, the example
        // plugin from the cache, a download and an upload).
        let mut times = Vec::new();
        let mut failed = None;
        for i in 0..(if plan.quick { 3 } else { 7 }) {
            let mut cmd = Command::new(&env.tools.ftp_host);
            cmd.env("FTP_HOST_CACHE_DIR", &env.tools.cache_dir).arg("demo");
            match run_process(cmd, &env.tools.log, "ftp-host demo") {
                // The first run compiles the plugin into the cache.
                Ok(r) if i > 0 => times.push(r.cost.wall_s * 1e3),
                Ok(_) => {}
                Err(e) => {
                    failed = Some(format!("{e:#}"));
                    break;
                }
            }
        }
        eprintln!("ftp-host demo: {times:.0?} ms");
        results.demo = Some(match failed {
            Some(e) => Err(e),
            None => Ok(times),
        });
    }

    if plan.has(Section::Latency) {
        for target in [&targets[0], embedded_target] {
            let server = if target.id == ServerId::Embedded { "embedded libunftp" } else { "proftpd" };
            let clients: [(Client, bool, bool, &str); 3] = [
                (Client::GuestHost, true, false, "guest (the host sets TCP_NODELAY)"),
                (Client::Native, false, false, "native suppaftp, defaults (Nagle on)"),
                (Client::Native, true, false, "native suppaftp + TCP_NODELAY"),
            ];
            for (client, nodelay, quickack, label) in clients {
                target.settle();
                eprintln!("latency: {server}, {label}: {} small downloads in one session...", plan.ops);
                let result = run_child(&Case::Ops {
                    client,
                    endpoint: target.endpoint.clone(),
                    path: small.name.clone(),
                    n: plan.ops,
                    nodelay,
                    quickack,
                })
                .map_err(|e| format!("{e:#}"));
                results.latency.push(LatencyStat { server, client: label.to_string(), result });
            }
        }
    }

    if plan.has(Section::Fleet) {
        results.fleet = Some(crate::fleet::run(&plan, &runtime).map_err(|e| format!("{e:#}")));
        if let Some(Err(e)) = &results.fleet {
            eprintln!("fleet: FAILED: {e}");
        }
    }

    drop(embedded);
    drop(runtime);
    drop(proftpd_plain);
    drop(proftpd_ftps);
    drop(vsftpd_plain);
    drop(vsftpd_ftps);
    machine.load_end = loadavg();
    (machine.busy_share, machine.steal_share) = CpuTimes::now().shares_since(&machine.stat_start);
    results.machine = machine;
    results.elapsed = started.elapsed();

    let text = report::render(&results);
    if let Some(parent) = plan.out.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(&plan.out, &text).with_context(|| format!("writing {}", plan.out.display()))?;
    println!("{}", report::summary(&results));
    eprintln!("wrote {} ({:.0} s)", plan.out.display(), results.elapsed.as_secs_f64());
    if plan.keep {
        eprintln!("kept {}", work.keep().display());
    }
    Ok(())
}

/// The smallest guest memory cap, in 64 KiB pages, under which the probe
/// transfer still succeeds.
fn bisect_memory(
    env: &Env,
    target: &Target,
    direction: Direction,
    client: Client,
    probe: &Source,
) -> Result<u64, String> {
    const PAGE: u64 = 64 * 1024;
    let ok = |pages: u64| env.transfer(target, direction, client, probe, Some((pages * PAGE) as usize)).is_ok();
    // Exponential search up from 1 MiB, then bisection.
    let (mut lo, mut hi) = (0u64, 16u64);
    while !ok(hi) {
        lo = hi;
        hi *= 2;
        if hi > 4096 {
            return Err("does not run under a 256 MiB cap".into());
        }
    }
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if ok(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi * PAGE)
}

/// For OpTime lists: the median of one operation's milliseconds.
pub fn op_median(ops: &[OpTime], op: &str) -> Option<f64> {
    let v: Vec<f64> = ops.iter().filter(|o| o.op == op).map(|o| o.ms as f64).collect();
    (!v.is_empty()).then(|| crate::measure::median(&v))
}
