//! BENCHMARKS.md: generated tables, targets and the machine only; the
//! hand-written analysis lives in dated files beside this crate
//! (bench/ANALYSIS-YYYY-MM-DD.md), which the report points to.

use std::fmt::Write as _;

use crate::cases::{Client, Direction};
use crate::measure::{median, percentile};
use crate::suite::{op_median, Results, ServerId, TransferStat};
use crate::Section;

const MIB: f64 = 1024.0 * 1024.0;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn size_label(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes & ((1 << 30) - 1) == 0 {
        format!("{} GiB", bytes >> 30)
    } else if bytes >= 1 << 20 {
        format!("{} MiB", bytes as f64 / MIB)
    } else {
        format!("{} KiB", bytes / 1024)
    }
}

fn find(r: &Results, server: ServerId, direction: Direction, client: Client) -> Option<&TransferStat> {
    find_in(&r.transfers, server, direction, client)
}

fn find_in(list: &[TransferStat], server: ServerId, direction: Direction, client: Client) -> Option<&TransferStat> {
    list.iter().find(|t| t.server == server && t.direction == direction && t.client == client)
}

/// The smallest and largest of positive samples (MB/s, ms).
fn min_max(v: &[f64]) -> (f64, f64) {
    (v.iter().cloned().fold(f64::INFINITY, f64::min), v.iter().cloned().fold(0.0, f64::max))
}

fn median_mbps(t: Option<&TransferStat>) -> Option<f64> {
    let t = t?;
    let v = t.mbps();
    (!v.is_empty()).then(|| median(&v))
}

/// One target line: what, the measured value, the verdict.
struct Target {
    what: String,
    measured: String,
    pass: Option<bool>,
    /// One of the per-case transfer targets (shown as a matrix).
    per_case: bool,
}

fn verdict(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "met",
        Some(false) => "**MISSED**",
        None => "not measured",
    }
}

fn targets(r: &Results) -> Vec<Target> {
    let mut out = Vec::new();
    for (what, measured, pass) in crate::fleet::targets(r) {
        out.push(Target { what, measured, pass, per_case: false });
    }
    if r.plan.has(Section::Transfers) {
        for (name, what, rule) in TRANSFER_TARGETS {
            let what = target_name(name, what, rule);
            for server in ServerId::REAL {
                for direction in [Direction::Download, Direction::Upload] {
                    let Some(v) = rule.value(r, server, direction) else { continue };
                    out.push(Target {
                        what: format!("{what}, {} {}", server.short(), direction.label()),
                        measured: format!("{v:.2}"),
                        pass: Some(rule.passes(v)),
                        per_case: true,
                    });
                }
            }
        }
        // Peak RSS of the host process during a large guest transfer.
        let peaks: Vec<(u64, String)> = r
            .transfers
            .iter()
            .filter(|t| t.client.is_guest() && t.server != ServerId::Embedded)
            .flat_map(|t| {
                t.costs.iter().map(move |c| {
                    (c.peak_kib, format!("{} {} {}", t.client.label(), t.direction.label(), t.server.label()))
                })
            })
            .collect();
        if let Some((peak, which)) = peaks.iter().max_by_key(|p| p.0) {
            out.push(Target {
                what: format!("host peak RSS <= 64 MiB during a {} transfer", size_label(r.plan.size)),
                measured: format!("{:.1} MiB (worst: {which})", mib(*peak)),
                pass: Some(*peak <= 64 * 1024),
                per_case: false,
            });
        }
    }
    if r.plan.has(Section::Memory) && !r.memory.is_empty() {
        let all_ok = r.memory.iter().all(|m| m.full.is_ok());
        let caps: Vec<String> = r
            .memory
            .iter()
            .map(|m| match &m.min_bytes {
                Ok(b) => format!("{:.2}", *b as f64 / MIB),
                Err(_) => "?".into(),
            })
            .collect();
        out.push(Target {
            what: "guest memory does not grow with file size".into(),
            measured: format!(
                "{} transfers ran under the cap found with a {} file ({} MiB)",
                size_label(r.plan.size),
                size_label(r.plan.probe_size()),
                caps.join(" / ")
            ),
            pass: Some(all_ok),
            per_case: false,
        });
    }
    if let Some(s) = r.startup.iter().find(|s| s.capture) {
        if let Ok(res) = &s.result {
            let (m, p99) = (median(&res.samples_ms), percentile(&res.samples_ms, 99.0));
            out.push(Target {
                what: "plugin start (InstancePre, pooling allocator) <= 30 µs median, <= 100 µs p99".into(),
                measured: format!("{:.0} µs median, {:.0} µs p99", m * 1e3, p99 * 1e3),
                pass: Some(m <= 0.030 && p99 <= 0.100),
                per_case: false,
            });
        }
    }
    if let Some(l) = r.latency.iter().find(|l| l.server == "embedded libunftp" && l.client.starts_with("guest")) {
        if let Ok(res) = &l.result {
            // The whole session over its downloads: connect and log-in included.
            let m = res.cost.wall_s * 1e3 / r.plan.ops as f64;
            out.push(Target {
                what: "embedded server, one small download on an open session <= 2 ms".into(),
                measured: format!("{m:.1} ms (guest; whole session / downloads, log-in included)"),
                pass: Some(m <= 2.0),
                per_case: false,
            });
        }
    }
    if let Some(Ok(times)) = &r.demo {
        if !times.is_empty() {
            let m = median(times);
            out.push(Target {
                what: "`ftp-host demo` wall time <= 0.5 s (warm build, cached plugin)".into(),
                measured: format!("{:.2} s median", m / 1e3),
                pass: Some(m <= 500.0),
                per_case: false,
            });
        }
    }
    if let Some(ratio) = listing_ratio(r) {
        out.push(Target {
            what: format!("listing {} entries, guest/native <= 1.2", r.plan.entries),
            measured: format!("{ratio:.2}"),
            pass: Some(ratio <= 1.2),
            per_case: false,
        });
    }
    if let Some(ratio) = concurrency_ratio(r) {
        out.push(Target {
            what: format!("{} plugins at once >= 0.95 of native aggregate", r.plan.concurrency),
            measured: format!("{ratio:.2}"),
            pass: Some(ratio >= 0.95),
            per_case: false,
        });
    }
    out
}

/// A ratio of two clients' medians (MB/s, or CPU seconds) and its bound.
#[derive(Clone, Copy)]
enum Rule {
    /// MB/s of the first / the second >= bound.
    Faster(Client, Client, f64),
    /// CPU s per GiB of the first / the second <= bound.
    Cpu(Client, Client, f64),
}

/// The targets every (server, direction) case is held to: a short name
/// (the round-by-round table's), what it compares, and the rule.
const TRANSFER_TARGETS: [(&str, &str, Rule); 5] = [
    ("a/c", "guest, host moves the file / native", Rule::Faster(Client::GuestHost, Client::Native, 1.0)),
    ("a*/d", "`ftp-host run` / curl, whole processes", Rule::Faster(Client::Cli, Client::Curl, 1.0)),
    ("a*/e", "`ftp-host run` / lftp, whole processes", Rule::Faster(Client::Cli, Client::Lftp, 1.0)),
    ("b/c", "guest via memory / native", Rule::Faster(Client::GuestMemory, Client::Native, 0.9)),
    ("CPU s a/c", "guest, host moves the file / native", Rule::Cpu(Client::GuestHost, Client::Native, 1.2)),
];

/// "a/c (what it compares) >= 1.0": a target's full name.
fn target_name(name: &str, what: &str, rule: Rule) -> String {
    let op = match rule {
        Rule::Faster(..) => ">=",
        Rule::Cpu(..) => "<=",
    };
    format!("{name} ({what}) {op} {:.1}", rule.bound())
}

impl Rule {
    fn value(self, r: &Results, server: ServerId, direction: Direction) -> Option<f64> {
        let (a, b) = self.clients();
        let of = |client| find(r, server, direction, client);
        match self {
            Rule::Faster(..) => Some(median_mbps(of(a))? / median_mbps(of(b))?),
            Rule::Cpu(..) => Some(median_cpu(of(a))? / median_cpu(of(b))?),
        }
    }

    fn passes(self, v: f64) -> bool {
        match self {
            Rule::Faster(_, _, bound) => v >= bound,
            Rule::Cpu(_, _, bound) => v <= bound,
        }
    }

    /// The client held to the bound, and its reference.
    fn clients(self) -> (Client, Client) {
        match self {
            Rule::Faster(a, b, _) | Rule::Cpu(a, b, _) => (a, b),
        }
    }

    fn bound(self) -> f64 {
        match self {
            Rule::Faster(_, _, bound) | Rule::Cpu(_, _, bound) => bound,
        }
    }

    /// The ratio round by round: the two clients ran back to back in the
    /// same round, so a slow spell of the machine hits both.
    fn per_round(self, a: &TransferStat, b: &TransferStat) -> Vec<f64> {
        let metric = |t: &TransferStat| match self {
            Rule::Faster(..) => t.mbps(),
            Rule::Cpu(..) => t.costs.iter().map(|c| c.cpu_s()).collect(),
        };
        let (ma, mb) = (metric(a), metric(b));
        a.rounds
            .iter()
            .zip(&ma)
            .filter_map(|(round, x)| b.rounds.iter().position(|r| r == round).map(|j| x / mb[j]))
            .collect()
    }

    /// Where an interval of this ratio lies against the bound.
    fn place(self, lo: f64, hi: f64) -> Place {
        let (meets, misses) = match self {
            Rule::Faster(_, _, bound) => (lo >= bound, hi < bound),
            Rule::Cpu(_, _, bound) => (hi <= bound, lo > bound),
        };
        if meets {
            Place::Meets
        } else if misses {
            Place::Misses
        } else {
            Place::Spans
        }
    }
}

/// The server's CPU over the wall time, per measured case.
fn server_busy(t: &TransferStat) -> Vec<f64> {
    t.server_cpu.iter().zip(&t.costs).map(|(s, c)| s / c.wall_s).collect()
}

/// The server's wait for a CPU over the wall time, per measured case
/// (empty where not measured).
fn server_waiting(t: &TransferStat) -> Vec<f64> {
    t.server_wait.iter().zip(&t.costs).map(|(w, c)| w / c.wall_s).collect()
}

fn median_cpu(t: Option<&TransferStat>) -> Option<f64> {
    let t = t.filter(|t| !t.costs.is_empty())?;
    Some(median(&t.costs.iter().map(|c| c.cpu_s()).collect::<Vec<_>>()))
}

/// The transfer targets as one matrix: a row per case, a column per target.
fn target_matrix(out: &mut String, r: &Results) {
    let _ = write!(out, "| server | direction |");
    for (name, what, rule) in TRANSFER_TARGETS {
        let _ = write!(out, " {} |", target_name(name, what, rule));
    }
    let _ = write!(out, " busy, (a) / (c): server, machine |");
    let _ = writeln!(out, "\n|---|---|{}", "---:|".repeat(TRANSFER_TARGETS.len() + 1));
    for server in ServerId::REAL {
        for direction in [Direction::Download, Direction::Upload] {
            let _ = write!(out, "| {} | {} |", server.short(), direction.label());
            for (_, _, rule) in TRANSFER_TARGETS {
                let cell = match rule.value(r, server, direction) {
                    Some(v) if rule.passes(v) => format!("{v:.2}"),
                    // A miss never reads as the bound (0.998 is not "1.00").
                    Some(v) if rule.passes((v * 100.0).round() / 100.0) => format!("**{v:.3} ✗**"),
                    Some(v) => format!("**{v:.2} ✗**"),
                    None => "-".into(),
                };
                let _ = write!(out, " {cell} |");
            }
            let busy = |client, of: fn(&TransferStat) -> Vec<f64>| {
                find(r, server, direction, client)
                    .map(of)
                    .filter(|v| !v.is_empty())
                    .map_or("-".to_string(), |v| format!("{:.0}%", 100.0 * median(&v)))
            };
            let _ = write!(
                out,
                " {} / {}, {} / {} |",
                busy(Client::GuestHost, server_busy),
                busy(Client::Native, server_busy),
                busy(Client::GuestHost, |t| t.machine_busy.clone()),
                busy(Client::Native, |t| t.machine_busy.clone()),
            );
            out.push('\n');
        }
    }
    out.push('\n');
}

/// A distribution-free interval for the median of `v`: the k-th smallest
/// and k-th largest value, k as large as keeps the coverage at 95% or more
/// (with few values only min–max is left, and its coverage is lower).
/// Returns (low, high, coverage).
fn median_interval(v: &[f64]) -> Option<(f64, f64, f64)> {
    let n = v.len();
    if n < 2 {
        return None;
    }
    let mut sorted = v.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    // P(Binomial(n, 1/2) <= j) for j = 0..n.
    let mut cdf = Vec::with_capacity(n + 1);
    let (mut term, mut sum) = (0.5f64.powi(n as i32), 0.0);
    for j in 0..=n {
        sum += term;
        cdf.push(sum);
        term *= (n - j) as f64 / (j + 1) as f64;
    }
    let coverage = |k: usize| 1.0 - 2.0 * cdf[k - 1];
    let k = (1..=n / 2).take_while(|&k| k == 1 || coverage(k) >= 0.95).last()?;
    Some((sorted[k - 1], sorted[n - k], coverage(k)))
}

/// Where a round-by-round interval lies against its bound.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Place {
    /// The whole interval meets the bound.
    Meets,
    /// This run cannot tell the ratio from its bound.
    Spans,
    /// The whole interval misses the bound.
    Misses,
}

impl Place {
    /// "above"/"below" for speed, "under"/"over" for CPU.
    fn label(self, rule: Rule) -> &'static str {
        match (self, rule) {
            (Place::Meets, Rule::Faster(..)) => "above",
            (Place::Meets, Rule::Cpu(..)) => "under",
            (Place::Spans, _) => "spans",
            (Place::Misses, Rule::Faster(..)) => "**below**",
            (Place::Misses, Rule::Cpu(..)) => "**over**",
        }
    }
}

/// A rule's ratio round by round: the median of the paired ratios, its
/// interval and coverage, and where it lies against the bound.
struct Paired {
    median: f64,
    lo: f64,
    hi: f64,
    coverage: f64,
    place: Place,
}

fn paired(r: &Results, server: ServerId, direction: Direction, rule: Rule) -> Option<Paired> {
    let (client, reference) = rule.clients();
    let ratios = rule.per_round(find(r, server, direction, client)?, find(r, server, direction, reference)?);
    let (lo, hi, coverage) = median_interval(&ratios)?;
    Some(Paired { median: median(&ratios), lo, hi, coverage, place: rule.place(lo, hi) })
}

/// Whether a ratio target holds round by round: the paired ratios' median,
/// its interval, and where the interval lies against the bound.
fn paired_table(out: &mut String, r: &Results) {
    let _ = writeln!(out, "Round by round: in each round the clients run back to back, so a client's ratio to its reference *within* a round (a/c, b/c, CPU s a/c in-process; a*/d, a*/e whole processes) is less exposed to the machine's slow spells than the ratio of medians above. The median of those per-round ratios, a distribution-free interval for it (order statistics; its coverage depends on the number of rounds), and where the interval lies against the target: **below** (speed) or **over** (CPU) means the client misses it in this run beyond the rounds' spread, **spans** that this run cannot tell it from the bound. (c)'s spread is its own slowest and fastest round, MB/s.\n");
    let _ = write!(out, "| server | direction |");
    for (name, _, rule) in TRANSFER_TARGETS {
        let _ = write!(out, " {name} per round (interval, coverage) | vs {:.1} |", rule.bound());
    }
    let _ = writeln!(out, " (c) min–max |\n|---|---|{}---:|", "---:|---|".repeat(TRANSFER_TARGETS.len()));
    for server in ServerId::REAL {
        for direction in [Direction::Download, Direction::Upload] {
            let Some(native) = find(r, server, direction, Client::Native) else { continue };
            let _ = write!(out, "| {} | {} |", server.short(), direction.label());
            for (_, _, rule) in TRANSFER_TARGETS {
                match paired(r, server, direction, rule) {
                    Some(p) => {
                        let _ = write!(
                            out,
                            " {:.2} ({:.2}–{:.2}, {:.0}%) | {} |",
                            p.median,
                            p.lo,
                            p.hi,
                            p.coverage * 100.0,
                            p.place.label(rule)
                        );
                    }
                    None => {
                        let _ = write!(out, " - | - |");
                    }
                }
            }
            let mbps = native.mbps();
            match min_max(&mbps) {
                (lo, hi) if !mbps.is_empty() => {
                    let _ = writeln!(out, " {lo:.0}–{hi:.0} |");
                }
                _ => out.push_str(" - |\n"),
            }
        }
    }
    out.push('\n');
}

/// A server session running, or runnable and waiting for a CPU, at least
/// this share of the time sets the speed: one session is one
/// single-threaded process, and it (almost) never waited for its client.
const SERVER_BOUND: f64 = 0.9;
/// All cores at or above this share busy: client and server together use
/// the whole machine.
const MACHINE_BOUND: f64 = 0.85;

/// What limited both clients of a ratio, from their medians (server
/// running or waiting for a CPU, machine busy), each as (client, reference).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Limit {
    /// The server's session process, for both: it ran, or waited for a CPU
    /// (cores it shares with the client), but did not wait for the client.
    Server,
    /// Every core of the machine, for both.
    Machine,
    /// Neither, but the ratio meets its bound with the servers on a core
    /// of their own (the second look): the cores client and server share.
    SharedCores,
    /// Neither, for at least one of the two.
    None,
}

fn limit(server_runnable: (f64, f64), machine_busy: (f64, f64)) -> Limit {
    if server_runnable.0 >= SERVER_BOUND && server_runnable.1 >= SERVER_BOUND {
        Limit::Server
    } else if machine_busy.0 >= MACHINE_BOUND && machine_busy.1 >= MACHINE_BOUND {
        Limit::Machine
    } else {
        Limit::None
    }
}

/// The median of shares, NaN for none.
fn share(v: Vec<f64>) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        median(&v)
    }
}

/// The share of the time the server was running or waiting for a CPU, case
/// by case (its busy share alone where the wait is not measured).
fn server_runnable(t: &TransferStat) -> f64 {
    let (busy, waiting) = (server_busy(t), server_waiting(t));
    match waiting.len() == busy.len() {
        true => share(busy.iter().zip(&waiting).map(|(b, w)| b + w).collect()),
        false => share(busy),
    }
}

/// Each ratio that misses its bound (by the medians, or round by round).
/// A speed ratio comes with the figures that say what limited it: the
/// server's busy share and its wait for a CPU, the machine's busy share,
/// and the CPU per GiB each side spent. A CPU ratio comes with each
/// client's own spread over the rounds: nothing outside the client limits
/// it, and what the run can tell is the round-by-round interval.
fn misses(out: &mut String, r: &Results) {
    let (mut speed, mut cpu) = (Vec::new(), Vec::new());
    let mut unbound = 0;
    let cpus = match r.second_look.as_ref().map(|l| &l.cpus) {
        Some(Ok(cpus)) => cpus.as_str(),
        _ => "",
    };
    for miss in missed(r) {
        match miss.rule {
            Rule::Faster(..) => {
                let (line, limit) = speed_line(&miss, cpus);
                unbound += usize::from(limit == Limit::None);
                speed.push(line);
            }
            Rule::Cpu(..) => cpu.push(cpu_line(&miss)),
        }
    }
    if !speed.is_empty() {
        let second = match (r.plan.second_look, r.plan.pin_server, r.second_look.as_ref().map(|l| &l.cpus)) {
            (_, Some(_), _) => "The servers had a core of their own throughout (`--pin-server`)".to_string(),
            (false, ..) => "Misses were not measured again (`--no-second-look`)".to_string(),
            (true, None, Some(Err(e))) => format!("The second look could not pin the servers apart: {e}"),
            (true, None, _) => "A miss that neither explains is measured again after the section (the second look): its two clients alternating for as many rounds, with the servers on a core of their own and the clients on the others, as `--pin-server` does. Where the ratio of medians then meets its bound, the miss is put down to the **shared cores**: on a 2-core machine the client's threads and the single-threaded server session take CPU from each other, which a server on a machine of its own does not".to_string(),
        };
        let _ = writeln!(
            out,
            "What limited each missed speed ratio ({} of them; {} with no measured limit outside the clients). A miss is a ratio of medians below its bound, or a round-by-round interval below it. Busy shares and CPU per GiB are the two clients' medians; the server's wait for a CPU is the time it had runnable processes and none of them running (`full` in the `cpu.pressure` of its cgroup) over the case's wall time, and a server running or waiting for a CPU was not waiting for its client. {second}:\n",
            speed.len(),
            unbound
        );
        for line in speed {
            let _ = writeln!(out, "{line}");
        }
        out.push('\n');
    }
    if !cpu.is_empty() {
        let _ = writeln!(
            out,
            "Missed CPU ratios ({}): a ratio of medians over its bound, or a round-by-round interval over it. The clients' CPU per GiB are their medians, and each client's own rounds show how far the same work's cost moved in this run:\n",
            cpu.len()
        );
        for line in cpu {
            let _ = writeln!(out, "{line}");
        }
        out.push('\n');
    }
}

/// A transfer target one case missed: by its ratio of medians, or round by
/// round. `x` is the client the rule holds to its bound, `y` its reference.
struct Miss<'a> {
    server: ServerId,
    direction: Direction,
    name: &'static str,
    rule: Rule,
    ratio: f64,
    paired: Option<Paired>,
    x: &'a TransferStat,
    y: &'a TransferStat,
    /// The two clients measured again with the servers pinned apart.
    second: Option<(&'a TransferStat, &'a TransferStat)>,
}

/// Every missed transfer target, by server, direction and target.
fn missed(r: &Results) -> Vec<Miss<'_>> {
    let mut found = Vec::new();
    for server in ServerId::REAL {
        for direction in [Direction::Download, Direction::Upload] {
            for (name, _, rule) in TRANSFER_TARGETS {
                let (client, reference) = rule.clients();
                let (Some(x), Some(y)) = (find(r, server, direction, client), find(r, server, direction, reference))
                else {
                    continue;
                };
                let Some(ratio) = rule.value(r, server, direction) else { continue };
                let paired = paired(r, server, direction, rule);
                if rule.passes(ratio) && paired.as_ref().is_none_or(|p| p.place != Place::Misses) {
                    continue;
                }
                let again = r.second_look.as_ref().map_or(&[][..], |l| &l.transfers[..]);
                let second =
                    find_in(again, server, direction, client).zip(find_in(again, server, direction, reference));
                found.push(Miss { server, direction, name, rule, ratio, paired, x, y, second });
            }
        }
    }
    found
}

/// The missed speed ratios that neither the server nor the machine
/// explains: the cases (server, direction, the two clients) the run
/// measures again with the servers pinned apart.
pub fn unexplained(r: &Results) -> Vec<(ServerId, Direction, [Client; 2])> {
    missed(r)
        .into_iter()
        .filter(|m| matches!(m.rule, Rule::Faster(..)) && m.measured_limit() == Limit::None)
        .map(|m| (m.server, m.direction, [m.x.client, m.y.client]))
        .collect()
}

/// The size of the case's file, in GiB.
fn gib(t: &TransferStat) -> f64 {
    t.bytes as f64 / (1u64 << 30) as f64
}

impl Miss<'_> {
    /// "- proftpd FTPS download, a/c 0.95 (round by round 0.98, 0.89–1.04, spans): "
    fn opening(&self) -> String {
        let round = self.paired.as_ref().map_or("-".to_string(), |p| {
            format!("{:.2}, {:.2}–{:.2}, {}", p.median, p.lo, p.hi, p.place.label(self.rule))
        });
        format!(
            "- {} {}, {} {:.2} (round by round {round}): ",
            self.server.short(),
            self.direction.label(),
            self.name,
            self.ratio
        )
    }

    /// What the shared run's figures say limited both clients.
    fn measured_limit(&self) -> Limit {
        let machine = (share(self.x.machine_busy.clone()), share(self.y.machine_busy.clone()));
        limit((server_runnable(self.x), server_runnable(self.y)), machine)
    }

    /// With the servers pinned apart: the ratio of medians, the two
    /// medians (MB/s) and the rounds.
    fn second_ratio(&self) -> Option<(f64, (f64, f64), usize)> {
        let (x, y) = self.second?;
        let medians = (median_mbps(Some(x))?, median_mbps(Some(y))?);
        Some((medians.0 / medians.1, medians, x.costs.len().min(y.costs.len())))
    }

    /// "((a) / (c))": whose figures the line's pairs are.
    fn whose(&self) -> String {
        format!("(({}) / ({}))", self.x.client.letter(), self.y.client.letter())
    }

    /// The two clients' median CPU s per GiB.
    fn client_cpu(&self) -> Option<(f64, f64)> {
        let per_gib = |t: &TransferStat| median_cpu(Some(t)).map(|c| c / gib(t));
        per_gib(self.x).zip(per_gib(self.y))
    }

    /// The server's median CPU s per GiB with each client.
    fn server_cpu(&self) -> Option<(f64, f64)> {
        let per_gib = |t: &TransferStat| (!t.server_cpu.is_empty()).then(|| median(&t.server_cpu) / gib(t));
        per_gib(self.x).zip(per_gib(self.y))
    }
}

/// A missed speed ratio: what limited it (the server, the machine, the
/// shared cores by the second look, or nothing measured), the busy shares
/// that say so, and the CPU per GiB.
fn speed_line(m: &Miss, cpus: &str) -> (String, Limit) {
    let (x, y) = (m.x, m.y);
    let busy = (share(server_busy(x)), share(server_busy(y)));
    let waits = (share(server_waiting(x)), share(server_waiting(y)));
    let machine = (share(x.machine_busy.clone()), share(y.machine_busy.clone()));
    let second = m.second_ratio();
    let limit = match m.measured_limit() {
        Limit::None if second.is_some_and(|(ratio, ..)| m.rule.passes(ratio)) => Limit::SharedCores,
        measured => measured,
    };
    let mut line = m.opening();
    match limit {
        Limit::Server => {
            let _ = write!(
                line,
                "server-bound: the {} session was running or waiting for a CPU ≥ {:.0}% of the time for both",
                m.server.short(),
                SERVER_BOUND * 100.0
            );
        }
        Limit::Machine => {
            let _ = write!(line, "machine-bound: all cores ≥ {:.0}% busy for both", MACHINE_BOUND * 100.0);
        }
        Limit::SharedCores | Limit::None => {
            let (verdict, met) = match limit {
                Limit::SharedCores => ("shared cores", "meeting its bound"),
                _ => ("**no measured limit**", "**still missing it**"),
            };
            let _ = write!(
                line,
                "{verdict}: neither the server (running or waiting for a CPU ≥ {:.0}%) nor the machine (≥ {:.0}%) was saturated for both",
                SERVER_BOUND * 100.0,
                MACHINE_BOUND * 100.0
            );
            if let Some((ratio, (mx, my), rounds)) = second {
                let _ = write!(
                    line,
                    "; with {cpus} (second look, {rounds} rounds) {} reads **{ratio:.2}**, {met} ({mx:.0} / {my:.0} MB/s)",
                    m.name
                );
            }
        }
    }
    let _ = write!(line, ". Server busy {:.0}% / {:.0}%", busy.0 * 100.0, busy.1 * 100.0);
    if !waits.0.is_nan() && !waits.1.is_nan() {
        let _ = write!(line, ", waiting for a CPU {:.0}% / {:.0}%", waits.0 * 100.0, waits.1 * 100.0);
    }
    let _ = write!(line, ", machine busy {:.0}% / {:.0}%", machine.0 * 100.0, machine.1 * 100.0);
    let server_cpu = m.server_cpu();
    if let Some((sx, sy)) = server_cpu {
        let _ = write!(line, "; server CPU s per GiB {sx:.2} / {sy:.2}");
    }
    if let Some((cx, cy)) = m.client_cpu() {
        let _ = write!(line, "; client CPU s per GiB {cx:.2} / {cy:.2}");
    }
    let _ = write!(line, " {}.", m.whose());
    // Where the server sets the speed, a client is slower only by keeping it
    // waiting (for data or for a CPU) or by making it work more per byte:
    // say so where it did the latter.
    if let Some((sx, sy)) = server_cpu.filter(|(sx, sy)| sx > &(sy * 1.05)) {
        let _ = write!(
            line,
            " The server spent {:.0}% more CPU per GiB on ({})'s bytes.",
            (sx / sy - 1.0) * 100.0,
            x.client.letter()
        );
    }
    (line, limit)
}

/// A missed CPU ratio: each client's CPU per GiB and its spread over the
/// rounds, and the server's beside it.
fn cpu_line(m: &Miss) -> String {
    let rounds = |t: &TransferStat| {
        let (lo, hi) = min_max(&t.costs.iter().map(|c| c.cpu_s() / gib(t)).collect::<Vec<_>>());
        format!("{lo:.2}–{hi:.2}")
    };
    let mut line = m.opening();
    let client_cpu = m.client_cpu();
    if let Some((cx, cy)) = client_cpu {
        let _ = write!(line, "client CPU s per GiB {cx:.2} / {cy:.2}, ");
    }
    let _ = write!(line, "each client's own rounds {} / {}", rounds(m.x), rounds(m.y));
    if let Some((sx, sy)) = m.server_cpu() {
        let _ = write!(line, "; server CPU s per GiB {sx:.2} / {sy:.2}");
        // A client's TCP work can land on either side of a loopback
        // connection: the two together say whether it costs the machine
        // more or moved.
        if let Some((cx, cy)) = client_cpu {
            let _ = write!(line, "; client and server together {:.2} / {:.2}", cx + sx, cy + sy);
        }
    }
    let _ = write!(line, " {}.", m.whose());
    line
}

fn listing_median(r: &Results, client: Client) -> Option<f64> {
    let l = r.listing.iter().find(|l| l.client == client)?;
    l.result.as_ref().ok().map(|res| median(&res.samples_ms))
}

fn listing_ratio(r: &Results) -> Option<f64> {
    Some(listing_median(r, Client::GuestHost)? / listing_median(r, Client::Native)?)
}

fn concurrency_mbps(r: &Results, client: Client) -> Option<f64> {
    let c = r.concurrency.iter().find(|c| c.client == client)?;
    let total = (r.plan.concurrency as u64 * r.plan.concurrency_size) as f64;
    let v: Vec<f64> = c.runs.iter().filter_map(|x| x.as_ref().ok()).map(|x| total / x.cost.wall_s / 1e6).collect();
    (!v.is_empty()).then(|| median(&v))
}

fn concurrency_ratio(r: &Results) -> Option<f64> {
    Some(concurrency_mbps(r, Client::GuestHost)? / concurrency_mbps(r, Client::Native)?)
}

fn transfer_table(out: &mut String, r: &Results, server: ServerId) {
    let rows: Vec<&TransferStat> = r.transfers.iter().filter(|t| t.server == server).collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "### {} ({} file)\n", server.label(), size_label(rows[0].bytes));
    let _ = writeln!(
        out,
        "| direction | client | MB/s (median) | MB/s (min–max) | CPU s (user+sys) | CPU s per GiB | peak RSS MiB | RSS growth MiB | server CPU s | server busy | machine busy |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for t in rows {
        if t.costs.is_empty() {
            let _ = writeln!(
                out,
                "| {} | {} | FAILED: {} | | | | | | | | |",
                t.direction.label(),
                t.client.label(),
                one_line(t.errors.first())
            );
            continue;
        }
        let mbps = t.mbps();
        let cpu: Vec<f64> = t.costs.iter().map(|c| c.cpu_s()).collect();
        let user: Vec<f64> = t.costs.iter().map(|c| c.user_s).collect();
        let sys: Vec<f64> = t.costs.iter().map(|c| c.sys_s).collect();
        let peak = t.costs.iter().map(|c| c.peak_kib).max().unwrap_or(0);
        let growth = if t.client.is_process() {
            "n/a".to_string()
        } else {
            format!("{:.1}", mib(t.costs.iter().map(|c| c.growth_kib()).max().unwrap_or(0)))
        };
        let (min, max) = min_max(&mbps);
        let gib = gib(t);
        let failed = if t.errors.is_empty() { String::new() } else { format!(" ({} failed)", t.errors.len()) };
        let (server_cpu, server_busy) = match t.server_cpu.is_empty() {
            true => ("n/a".to_string(), "n/a".to_string()),
            false => (format!("{:.2}", median(&t.server_cpu)), format!("{:.0}%", 100.0 * median(&server_busy(t)))),
        };
        let _ = writeln!(
            out,
            "| {} | {} | **{:.0}**{failed} | {:.0}–{:.0} | {:.2} ({:.2}+{:.2}) | {:.2} | {:.1} | {} | {server_cpu} | {server_busy} | {:.0}% |",
            t.direction.label(),
            t.client.label(),
            median(&mbps),
            min,
            max,
            median(&cpu),
            median(&user),
            median(&sys),
            median(&cpu) / gib,
            mib(peak),
            growth,
            100.0 * median(&t.machine_busy)
        );
    }
    out.push('\n');
}

fn one_line(s: Option<&String>) -> String {
    s.map(|s| s.lines().next().unwrap_or("").replace('|', "/")).unwrap_or_default()
}

fn ratios_table(out: &mut String, r: &Results) {
    let _ = writeln!(out, "### Ratios (of medians)\n");
    let _ = writeln!(out, "In-process: a/c, b/c and f/c (the guest inside this benchmark's process vs native suppaftp in the same kind of process). Whole processes: a*/d and a*/e (`ftp-host run` vs curl and lftp, process start to exit). CPU: CPU seconds of the same cases.\n");
    let _ = writeln!(
        out,
        "| server | direction | a/c | b/c | f/c | a*/d | a*/e | a*/c | CPU s a/c | CPU s b/c | CPU s a*/d |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for server in ServerId::ALL {
        for direction in [Direction::Download, Direction::Upload] {
            let get = |c| median_mbps(find(r, server, direction, c));
            let cpu = |c| median_cpu(find(r, server, direction, c));
            if get(Client::GuestHost).is_none() && get(Client::Native).is_none() && get(Client::Cli).is_none() {
                continue;
            }
            let fmt = |x: Option<f64>, y: Option<f64>| match (x, y) {
                (Some(x), Some(y)) => format!("{:.2}", x / y),
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                server.short(),
                direction.label(),
                fmt(get(Client::GuestHost), get(Client::Native)),
                fmt(get(Client::GuestMemory), get(Client::Native)),
                fmt(get(Client::GuestSplice), get(Client::Native)),
                fmt(get(Client::Cli), get(Client::Curl)),
                fmt(get(Client::Cli), get(Client::Lftp)),
                fmt(get(Client::Cli), get(Client::Native)),
                fmt(cpu(Client::GuestHost), cpu(Client::Native)),
                fmt(cpu(Client::GuestMemory), cpu(Client::Native)),
                fmt(cpu(Client::Cli), cpu(Client::Curl)),
            );
        }
    }
    out.push('\n');
}

pub fn render(r: &Results) -> String {
    let mut out = String::new();
    let p = &r.plan;
    let m = &r.machine;
    let _ = writeln!(out, "# ftp-host benchmarks\n");
    let _ = writeln!(
        out,
        "Generated by `ftp-host-bench` (crate `bench/`) on {}{}. Regenerate with:\n\n```sh\n{}\n```\n",
        m.date,
        if p.quick { " — a **--quick** smoke run, not the reference numbers" } else { "" },
        if p.quick { "scripts/bench.sh --quick" } else { "scripts/bench.sh" }
    );
    let _ = writeln!(
        out,
        "This report was produced by: `{}` (wall time of the whole run: {:.0} s).\n",
        r.command,
        r.elapsed.as_secs_f64()
    );
    let _ = writeln!(out, "## Machine\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| CPU | {} × `{}` (nproc) |", m.nproc, m.cpu);
    let _ = writeln!(out, "| kernel | {} ({}) |", m.kernel, m.os);
    let _ = writeln!(out, "| memory | {:.1} GiB |", m.mem_gib);
    let _ = writeln!(
        out,
        "| machine load | load average {} at the start, {} at the end; during the run {:.0}% of all CPU time was busy (this benchmark, its servers and everything else), {:.1}% stolen by the hypervisor. {}, so absolute MB/s move between rounds (the min–max columns): compare ratios and CPU seconds |",
        m.load_start,
        m.load_end,
        m.busy_share * 100.0,
        m.steal_share * 100.0,
        if p.pin_server.is_some() {
            "Client and server each have their own cores (CPU pinning, below), on one VM"
        } else {
            "Client and server share these cores"
        }
    );
    let _ = writeln!(out, "| free-page reporting | {} |", m.page_reporting);
    let _ = writeln!(out, "| CPU pinning | {} |", m.pinning);
    let _ = writeln!(out, "| toolchain | {} |", m.rustc);
    let _ = writeln!(
        out,
        "| servers | {}; {}; the embedded server is libunftp 0.24 in the benchmark process |",
        m.proftpd, m.vsftpd
    );
    let _ = writeln!(out, "| curl | {} |", m.curl);
    let _ = writeln!(out, "| lftp | {} |", m.lftp);
    out.push('\n');

    let _ = writeln!(out, "## Method\n");
    let _ = writeln!(
        out,
        "- Everything on loopback (127.0.0.1). Files, server roots and the plugin's granted directory are on a tmpfs (`{}`), so the disk is not measured.",
        p.work_dir.display()
    );
    let _ = writeln!(out, "- Clients: **(a)** the Rust example guest (`guest-examples/rust`) run with `Plugin::run` through the `ftp_host` library, `download REMOTE /data/FILE` / `upload /data/FILE REMOTE`, the local directory granted with `Policy::with_dir` — it hands the host the local file's descriptor (`download.save-to` / `upload.send-from`) and the host moves the whole file on one thread that has the data socket to itself (out of the runtime's reactor meanwhile): `splice(2)` from the socket into the file for plain downloads; for TLS downloads, `recv`s of up to 1 MiB handed to rustls and the plaintext written up to 1 MiB at a time; for uploads, 1 MiB of the file at a time sent with blocking sends (rustls encrypting on that thread for TLS); the bytes never enter guest memory; **(b)** the same with `--via-memory` (1 MiB chunks through guest memory; the transfer's stream is read ahead or written behind, 4 MiB at most queued, by a thread that has the data socket to itself as in (a)); **(f)** the same with `--splice`: a `wasi:io` `splice` loop between the transfer's stream and the file's stream (one guest call per chunk, bytes still in the host); **(c)** native suppaftp 12.2.1 (tokio + rustls/ring, the host's versions), a 1 MiB read/write loop between the data stream and a `tokio::fs::File`, one shared rustls `ClientConfig` trusting the server's certificate (TLS session resumption on data connections); **(d)** `curl -o` / `curl -T` (`--ssl-reqd --cacert` for FTPS); **(e)** `lftp -c 'open ...; get R -o L'` / `put L -o R` (`ftp:ssl-force`, `ftp:ssl-protect-data`, `ssl:ca-file` for FTPS); **(a\\*)** the guest of (a) as a user runs it: `ftp-host run plugin.wasm --allow H:P --allow-loopback [--ca-file PEM] --dir LOCAL::/data -- ... download|upload ...`, a whole process with the compiled plugin loaded from its cache (warmed once before the first measurement).");
    let _ = writeln!(out, "- MB/s = 10^6 bytes per second of the whole operation: connect, log in, transfer, server's final reply, quit (for curl, lftp and `ftp-host run`: process start to exit; for the in-process guest: instantiation included).");
    let _ = writeln!(out, "- Medians of {} run(s) per case, clients interleaved within each run, each run starting with the next client (run 1 with (a), run 2 with the second client, ...), after one untimed native transfer per server and direction: the first large write after a pause lands in memory the VM gave back to its hypervisor and is several times slower whoever makes it (`bench/ANALYSIS-2026-12-02-first-touch.md`); and the VM's free-page reporting is paused for the run where it can be (Machine, above), so memory one transfer frees is still the VM's when the next one writes. Every case runs in a fresh child process of the benchmark (or is curl, lftp, `ftp-host run` itself), so **CPU s** is that process's user+sys time for the timed region (getrusage of itself, or wait4 for whole processes) and **peak RSS** is its VmHWM, reset at the start of the timed region through `/proc/self/clear_refs` (whole processes: ru_maxrss). **RSS growth** is the peak minus the RSS when the timed region started (the compiled plugin, wasmtime and tokio are already resident). **server CPU s** is the real server's CPU for the same case (every process of the server, in a cgroup of its own: vsftpd's data-moving child is not always reaped by its parent, so the listener's cutime missed it; n/a where no cgroup can be made, and for the embedded server, which runs in the benchmark process) and **server busy** that CPU over the case's wall time: one session is one single-threaded server process, so near 100% the server, not the client, sets the speed. **machine busy** is the share of all cores busy (/proc/stat) while the client process ran (its start included): near 100%, client and server together use the whole machine.", p.runs);
    let _ = writeln!(out, "- Every transfer's file is checked afterwards (size and SHA-256 against the source; outside the timed region); a failed check fails the case.");
    let _ = writeln!(out, "- proftpd's listener sleeps ~400 ms after any session ends: the benchmark waits 600 ms before each proftpd case (150 ms for vsftpd) so that no case pays for the previous one; its 5-second timers (scoreboard scrubbing, controls), which left it deaf for 400 ms each time, are off (`tests/src/servers.rs`). vsftpd's FTPS runs TLS 1.2: with 1.3 it sends session tickets on every data connection and curl's uploads fail (426).");
    out.push('\n');

    let _ = writeln!(out, "## Targets\n");
    if m.busy_share > 0.8 {
        let _ = writeln!(
            out,
            "_The machine was {:.0}% busy during this run (other engineers' work included): single MB/s ratios swing by ±50% between runs (see the min–max columns). The CPU-second ratios in the ratios table are steadier._\n",
            m.busy_share * 100.0
        );
    }
    if p.has(Section::Transfers) {
        let _ = writeln!(out, "Transfer targets, per case (ratios of medians; ✗ = missed). The last column is what limits a case: the server's CPU over the wall time (one single-threaded session process: near 100% the server sets the speed) and the share of all cores busy, for (a) and (c), medians:\n");
        target_matrix(&mut out, r);
        paired_table(&mut out, r);
        misses(&mut out, r);
    }
    let _ = writeln!(out, "| target | measured | verdict |\n|---|---|---|");
    for t in targets(r).into_iter().filter(|t| !t.per_case) {
        let _ = writeln!(out, "| {} | {} | {} |", t.what, t.measured, verdict(t.pass));
    }
    out.push('\n');

    if p.has(Section::Transfers) {
        let _ = writeln!(out, "## Large transfers\n");
        for server in ServerId::ALL {
            transfer_table(&mut out, r, server);
        }
        ratios_table(&mut out, r);
        let load: Vec<f64> = r.transfers.iter().flat_map(|t| t.load_ms.iter().cloned()).collect();
        if !load.is_empty() {
            let _ = writeln!(out, "Not in the timed region: `Host::new` + `Host::load` (compiling the 120 KB guest with Cranelift) took {:.0} ms median per guest case.\n", median(&load));
        }
    }

    if p.has(Section::Memory) && !r.memory.is_empty() {
        let _ = writeln!(out, "## Guest memory vs file size\n");
        let _ = writeln!(out, "The smallest `Limits::max_memory_bytes` (guest linear memory cap, 64 KiB steps) under which a {} transfer succeeds was found by bisection; then the {} transfer ran under exactly that cap. If the guest's memory grew with the file, the large transfer would trap.\n", size_label(p.probe_size()), size_label(p.size));
        let _ = writeln!(
            out,
            "| client | direction | smallest cap ({} file) | {} file under that cap | MB/s | host peak RSS MiB |",
            size_label(p.probe_size()),
            size_label(p.size)
        );
        let _ = writeln!(out, "|---|---|---:|---|---:|---:|");
        for mp in &r.memory {
            let cap = match &mp.min_bytes {
                Ok(b) => format!("{:.2} MiB", *b as f64 / MIB),
                Err(e) => format!("FAILED: {}", one_line(Some(e))),
            };
            let (ok, mbps, peak) = match &mp.full {
                Ok(c) => (
                    "ok".to_string(),
                    format!("{:.0}", p.size as f64 / c.wall_s / 1e6),
                    format!("{:.1}", mib(c.peak_kib)),
                ),
                Err(e) => (format!("FAILED: {}", one_line(Some(e))), "-".into(), "-".into()),
            };
            let _ =
                writeln!(out, "| {} | {} | {cap} | {ok} | {mbps} | {peak} |", mp.client.label(), mp.direction.label());
        }
        out.push('\n');
    }

    if p.has(Section::Startup) && !r.startup.is_empty() {
        let _ = writeln!(out, "## Plugin start-up\n");
        let _ = writeln!(out, "`Plugin::run` of the Rust guest with no arguments (it returns its usage error at once): a fresh `WasiCtx` and store, instantiation through the `InstancePre` made by `Host::load`, the call, teardown. {} timed runs after 20 warm-up runs, in one process. The host compiles once per `Host::load` (or loads a cached compilation) and instantiates from wasmtime's pooling allocator (one pool per process, sized for `MAX_CONCURRENT_RUNS` runs at the default caps: `host/src/runtime.rs`), so a run reuses a memory slot instead of mapping a fresh one, and the slot keeps the pages the previous run dirtied resident (up to `KEEP_RESIDENT`, 128 KiB, reset in place) so the next start takes no page faults for them.\n", p.startup_runs);
        let _ = writeln!(out, "| output | median ms | p99 ms | mean ms | max ms | compile (`Host::new` + `load`) ms |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for s in &r.startup {
            let label = if s.capture { "`Output::Capture`" } else { "`Output::Inherit`" };
            match &s.result {
                Ok(res) => {
                    let v = &res.samples_ms;
                    let mean = v.iter().sum::<f64>() / v.len() as f64;
                    let max = v.iter().cloned().fold(0.0, f64::max);
                    let _ = writeln!(
                        out,
                        "| {label} | **{:.3}** | {:.3} | {:.3} | {:.2} | {:.0} |",
                        median(v),
                        percentile(v, 99.0),
                        mean,
                        max,
                        res.load_ms
                    );
                }
                Err(e) => {
                    let _ = writeln!(out, "| {label} | FAILED: {} | | | | |", one_line(Some(e)));
                }
            }
        }
        out.push('\n');
    }

    if p.has(Section::Listing) && !r.listing.is_empty() {
        let _ = writeln!(out, "## Listing {} entries (proftpd, plain)\n", p.entries);
        let _ = writeln!(out, "Each run: connect, log in, `NLST many`, quit. The guest is `ls many`, which also prints every name to its (captured) stdout. Median of {} runs.\n", p.listing_runs);
        let _ = writeln!(out, "| client | median ms | min–max ms | host-side ms (connect / listing / quit, from the host's operation log) |");
        let _ = writeln!(out, "|---|---:|---:|---|");
        for l in &r.listing {
            match &l.result {
                Ok(res) => {
                    let v = &res.samples_ms;
                    let (min, max) = min_max(v);
                    let host = if l.client.is_guest() {
                        let f = |op| op_median(&res.ops, op).map_or("-".into(), |v| format!("{v:.0}"));
                        format!("{} / {} / {}", f("connect"), f("listing"), f("quit"))
                    } else {
                        "-".into()
                    };
                    let label = if l.client.is_guest() { "guest `ls`" } else { "native suppaftp `nlst`" };
                    let _ = writeln!(out, "| {label} | **{:.1}** | {:.1}–{:.1} | {host} |", median(v), min, max);
                }
                Err(e) => {
                    let _ = writeln!(out, "| {} | FAILED: {} | | |", l.client.label(), one_line(Some(e)));
                }
            }
        }
        if let Some(ratio) = listing_ratio(r) {
            let _ = writeln!(out, "\nguest / native = **{ratio:.2}**");
        }
        out.push('\n');
    }

    if p.has(Section::Concurrency) && !r.concurrency.is_empty() {
        let _ = writeln!(
            out,
            "## {} downloads at once (proftpd, plain, {} each)\n",
            p.concurrency,
            size_label(p.concurrency_size)
        );
        let _ = writeln!(out, "One process: {} tokio tasks on the default multi-threaded runtime, each a `Plugin::run` of one loaded plugin (`download`: the host moves the file) — or a native suppaftp session. Aggregate = all bytes / wall time from the first start to the last finish. Median of {} run(s).\n", p.concurrency, p.runs);
        let _ =
            writeln!(out, "| client | aggregate MB/s | per-client ms (median / p99 / max) | CPU s | peak RSS MiB |");
        let _ = writeln!(out, "|---|---:|---|---:|---:|");
        for c in &r.concurrency {
            let ok: Vec<_> = c.runs.iter().filter_map(|x| x.as_ref().ok()).collect();
            let label = if c.client.is_guest() {
                format!("{} plugins", p.concurrency)
            } else {
                format!("{} native sessions", p.concurrency)
            };
            if ok.is_empty() {
                let err = c.runs.iter().find_map(|x| x.as_ref().err());
                let _ = writeln!(out, "| {label} | FAILED: {} | | | |", one_line(err));
                continue;
            }
            let per: Vec<f64> = ok.iter().flat_map(|x| x.samples_ms.iter().cloned()).collect();
            let cpu: Vec<f64> = ok.iter().map(|x| x.cost.cpu_s()).collect();
            let peak = ok.iter().map(|x| x.cost.peak_kib).max().unwrap_or(0);
            let max = per.iter().cloned().fold(0.0, f64::max);
            let _ = writeln!(
                out,
                "| {label} | **{:.0}** | {:.0} / {:.0} / {:.0} | {:.2} | {:.1} |",
                concurrency_mbps(r, c.client).unwrap_or(f64::NAN),
                median(&per),
                percentile(&per, 99.0),
                max,
                median(&cpu),
                mib(peak)
            );
        }
        if let Some(ratio) = concurrency_ratio(r) {
            let _ = writeln!(out, "\nplugins / native = **{ratio:.2}**");
        }
        // A run that failed is not in the medians: say so, and why.
        for c in &r.concurrency {
            let failed: Vec<_> = c.runs.iter().filter_map(|x| x.as_ref().err()).collect();
            if !failed.is_empty() && failed.len() < c.runs.len() {
                let _ = writeln!(
                    out,
                    "\n{}: {} of {} runs failed and are left out of its figures; the first: {}",
                    c.client.label(),
                    failed.len(),
                    c.runs.len(),
                    one_line(failed.first().copied())
                );
            }
        }
        out.push('\n');
    }

    if p.has(Section::Latency) && !r.latency.is_empty() {
        let _ = writeln!(out, "## Per-operation latency (the 40 ms question)\n");
        let _ = writeln!(out, "One session: connect, log in, {} downloads of a 1 KiB file in a row (`cat` in the guest; `retr_as_stream` + `read_to_end` + `finish` natively: PASV, RETR, data connection, 150 ... 226), quit. Individual times: for the guest, the host's own log of each `get` (whole milliseconds); natively, timed around each download.\n", p.ops);
        let _ = writeln!(
            out,
            "| server | client | session ms / {} | per download: median ms | p90 ms | max ms | whole session ms |",
            p.ops
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|");
        for l in &r.latency {
            match &l.result {
                Ok(res) => {
                    let v = &res.samples_ms;
                    let max = v.iter().cloned().fold(0.0, f64::max);
                    let _ = writeln!(
                        out,
                        "| {} | {} | **{:.1}** | {:.1} | {:.1} | {:.1} | {:.0} |",
                        l.server,
                        l.client,
                        res.cost.wall_s * 1e3 / p.ops as f64,
                        median(v),
                        percentile(v, 90.0),
                        max,
                        res.cost.wall_s * 1e3
                    );
                }
                Err(e) => {
                    let _ = writeln!(out, "| {} | {} | FAILED: {} | | | | |", l.server, l.client, one_line(Some(e)));
                }
            }
        }
        out.push('\n');
    }

    crate::fleet::render(&mut out, r);

    if let Some(demo) = &r.demo {
        let _ = writeln!(out, "## `ftp-host demo`\n");
        match demo {
            Ok(times) if !times.is_empty() => {
                let (min, max) = min_max(times);
                let _ = writeln!(out, "Whole process, start to exit, the plugin from a warm cache: median **{:.0} ms** of {} runs (min {min:.0}, max {max:.0}).\n", median(times), times.len());
            }
            Ok(_) => {}
            Err(e) => {
                let _ = writeln!(out, "FAILED: {}\n", one_line(Some(e)));
            }
        }
    }

    let _ = writeln!(out, "## Analysis\n");
    let _ = writeln!(out, "Hand-written, dated analyses of these numbers (profiles, limits, what changed) are in `bench/ANALYSIS-*.md`; this file holds only what the benchmark generates.");
    out
}

/// The headline numbers, for the terminal.
pub fn summary(r: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nTargets:");
    for t in targets(r) {
        let _ = writeln!(out, "  {:<58} {:<40} {}", t.what, t.measured, verdict(t.pass).trim_matches('*'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{limit, median_interval, speed_line, Limit, Miss, Place, Rule};
    use crate::cases::{Client, Direction};
    use crate::measure::Cost;
    use crate::suite::{ServerId, TransferStat};

    /// A client's rounds of a 1 GiB download: one wall time per round; the
    /// server and the machine half busy.
    fn rounds(client: Client, walls: &[f64]) -> TransferStat {
        let n = walls.len();
        TransferStat {
            server: ServerId::ProftpdFtps,
            direction: Direction::Download,
            client,
            bytes: 1 << 30,
            costs: walls.iter().map(|&wall_s| Cost { wall_s, ..Cost::default() }).collect(),
            rounds: (0..n).collect(),
            server_cpu: walls.iter().map(|w| w / 2.0).collect(),
            server_wait: vec![0.0; n],
            machine_busy: vec![0.5; n],
            load_ms: Vec::new(),
            errors: Vec::new(),
        }
    }

    #[test]
    fn an_unexplained_miss_is_put_down_to_shared_cores_only_when_the_second_look_meets_the_bound() {
        let rule = Rule::Faster(Client::GuestMemory, Client::Native, 0.9);
        let (x, y) = (rounds(Client::GuestMemory, &[1.25; 3]), rounds(Client::Native, &[1.0; 3]));
        let miss = |second| Miss {
            server: ServerId::ProftpdFtps,
            direction: Direction::Download,
            name: "b/c",
            rule,
            ratio: 0.8,
            paired: None,
            x: &x,
            y: &y,
            second,
        };
        let cpus = "the servers on CPU 1, the clients on CPU 0";
        assert_eq!(miss(None).measured_limit(), Limit::None);
        assert_eq!(speed_line(&miss(None), cpus).1, Limit::None);

        let (met_x, met_y) = (rounds(Client::GuestMemory, &[1.05; 3]), rounds(Client::Native, &[1.0; 3]));
        let (line, found) = speed_line(&miss(Some((&met_x, &met_y))), cpus);
        assert_eq!(found, Limit::SharedCores, "{line}");
        assert!(line.contains("b/c reads **0.95**, meeting its bound"), "{line}");

        let (still_x, still_y) = (rounds(Client::GuestMemory, &[1.2; 3]), rounds(Client::Native, &[1.0; 3]));
        let (line, found) = speed_line(&miss(Some((&still_x, &still_y))), cpus);
        assert_eq!(found, Limit::None, "{line}");
        assert!(line.contains("**still missing it**"), "{line}");
    }

    #[test]
    fn a_miss_is_bound_by_the_server_or_the_machine_only_when_both_clients_were() {
        assert_eq!(limit((0.92, 0.97), (0.5, 0.5)), Limit::Server);
        assert_eq!(limit((0.92, 0.80), (0.90, 0.86)), Limit::Machine);
        assert_eq!(limit((0.80, 0.83), (0.80, 0.87)), Limit::None);
        assert_eq!(limit((0.95, f64::NAN), (f64::NAN, 0.9)), Limit::None);
    }

    #[test]
    fn a_speed_interval_meets_above_its_bound_and_a_cpu_interval_under_it() {
        let faster = Rule::Faster(Client::GuestHost, Client::Native, 1.0);
        let cpu = Rule::Cpu(Client::GuestHost, Client::Native, 1.2);
        assert_eq!(faster.place(1.0, 1.3), Place::Meets);
        assert_eq!(faster.place(0.9, 1.1), Place::Spans);
        assert_eq!(faster.place(0.8, 0.99), Place::Misses);
        assert_eq!(cpu.place(0.8, 1.2), Place::Meets);
        assert_eq!(cpu.place(1.04, 1.36), Place::Spans);
        assert_eq!(cpu.place(1.21, 1.5), Place::Misses);
    }

    #[test]
    fn the_median_interval_is_the_narrowest_pair_of_order_statistics_that_keeps_95_percent() {
        let twelve: Vec<f64> = (1..=12).map(f64::from).rev().collect();
        let (lo, hi, coverage) = median_interval(&twelve).unwrap();
        // k = 3: 1 - 2 * P(B(12, 1/2) <= 2) = 1 - 2 * 79 / 4096.
        assert_eq!((lo, hi), (3.0, 10.0));
        assert!((coverage - (1.0 - 158.0 / 4096.0)).abs() < 1e-12, "{coverage}");
        // Five rounds leave only min–max, at 1 - 2 / 32.
        let (lo, hi, coverage) = median_interval(&[0.9, 1.1, 1.0, 0.8, 1.2]).unwrap();
        assert_eq!((lo, hi), (0.8, 1.2));
        assert!((coverage - 0.9375).abs() < 1e-12, "{coverage}");
        assert!(median_interval(&[1.0]).is_none());
    }
}
