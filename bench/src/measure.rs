//! What one case costs: wall time, CPU time (getrusage) and resident memory
//! (VmRSS / VmHWM from /proc/self/status, with the high-water mark reset at
//! the start of the timed region so that it is the case's own peak).

use std::io;
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// CPU seconds and peak RSS from `getrusage` or `wait4`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub user_s: f64,
    pub sys_s: f64,
    pub maxrss_kib: u64,
}

fn seconds(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

fn usage_of(ru: &libc::rusage) -> Usage {
    Usage { user_s: seconds(ru.ru_utime), sys_s: seconds(ru.ru_stime), maxrss_kib: ru.ru_maxrss.max(0) as u64 }
}

/// `getrusage(RUSAGE_SELF)`: every thread of this process.
pub fn self_usage() -> Usage {
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    usage_of(&ru)
}

/// A field of /proc/self/status in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0).
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The cost of one timed region, as a child reports it to the parent.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Cost {
    pub wall_s: f64,
    pub user_s: f64,
    pub sys_s: f64,
    /// RSS when the timed region started.
    pub rss_start_kib: u64,
    /// Peak RSS during the timed region (absolute, not a delta).
    pub peak_kib: u64,
    /// Whether the peak could be reset at the start (else it is the process's lifetime peak).
    pub peak_is_per_case: bool,
}

impl Cost {
    pub fn cpu_s(&self) -> f64 {
        self.user_s + self.sys_s
    }
    pub fn growth_kib(&self) -> u64 {
        self.peak_kib.saturating_sub(self.rss_start_kib)
    }
}

/// A running measurement of this process.
pub struct Meter {
    started: Instant,
    usage: Usage,
    rss_start_kib: u64,
    reset: bool,
}

impl Meter {
    pub fn start() -> Meter {
        let reset = reset_peak_rss();
        let rss_start_kib = status_kib("VmRSS").unwrap_or(0);
        let usage = self_usage();
        Meter { started: Instant::now(), usage, rss_start_kib, reset }
    }

    pub fn stop(&self) -> Cost {
        let wall = self.started.elapsed();
        let usage = self_usage();
        let peak_kib = status_kib("VmHWM").unwrap_or(usage.maxrss_kib);
        Cost {
            wall_s: wall.as_secs_f64(),
            user_s: usage.user_s - self.usage.user_s,
            sys_s: usage.sys_s - self.usage.sys_s,
            rss_start_kib: self.rss_start_kib,
            peak_kib,
            peak_is_per_case: self.reset,
        }
    }
}

/// Run a command to completion and measure it with `wait4`: wall time, the
/// child's CPU time and its peak RSS. Returns the exit code (or -signal).
pub fn run_measured(cmd: &mut Command) -> io::Result<(i32, Cost)> {
    let started = Instant::now();
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: wait4 on our own child, writing into locals.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = started.elapsed();
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // The child is reaped: forget the handle so that nothing waits on it again.
    std::mem::forget(child);
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -libc::WTERMSIG(status) };
    let usage = usage_of(&ru);
    Ok((
        code,
        Cost {
            wall_s: wall.as_secs_f64(),
            user_s: usage.user_s,
            sys_s: usage.sys_s,
            rss_start_kib: 0,
            peak_kib: usage.maxrss_kib,
            peak_is_per_case: true,
        },
    ))
}

/// Median of a list (the mean of the two middle values for an even count).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// The p-th percentile (nearest rank), p in 0..=100.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// CPU seconds of a process (`children`: plus its reaped children's), from /proc/PID/stat.
pub fn proc_cpu(pid: u32, children: bool) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces: the fields start after the last ')'.
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    // state is f[0]; utime, stime, cutime, cstime are fields 14..=17 of the line.
    let get = |i: usize| f.get(i).copied().unwrap_or(0.0);
    let ticks = get(11) + get(12) + if children { get(13) + get(14) } else { 0.0 };
    ticks / clock_ticks()
}

/// Jiffies of all CPUs together, from the first line of /proc/stat: the
/// whole machine's busy time between two readings.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuTimes {
    /// Everything but idle and iowait.
    pub busy: u64,
    /// Taken by the hypervisor.
    pub steal: u64,
    pub total: u64,
}

impl CpuTimes {
    /// The counters as they are now.
    pub fn now() -> CpuTimes {
        let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let v: Vec<u64> =
            text.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal ...
        let total: u64 = v.iter().take(8).sum();
        let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
        CpuTimes { busy: total.saturating_sub(idle), steal: v.get(7).copied().unwrap_or(0), total }
    }

    /// Share of all CPUs busy since `earlier`, and the share stolen.
    pub fn shares_since(&self, earlier: &CpuTimes) -> (f64, f64) {
        let span = self.total.saturating_sub(earlier.total).max(1) as f64;
        (self.busy.saturating_sub(earlier.busy) as f64 / span, self.steal.saturating_sub(earlier.steal) as f64 / span)
    }
}

/// The CPU time of a server's whole process tree, in a cgroup of its own.
///
/// A listener's `cutime` holds only the sessions it reaped *and* what those
/// reaped in turn: vsftpd's unprivileged child (which moves the data) is not
/// always waited for by its parent, so its CPU never reached the listener
/// and the old column read 0.01 s for transfers that cost seconds. A cgroup
/// counts every member whoever reaps it.
pub struct CpuGroup {
    dir: std::path::PathBuf,
    /// `usage_usec` in `cpu.stat` (cgroup v2), else `cpuacct.usage` in ns (v1).
    v2: bool,
    /// Where this process lives in the same hierarchy: members go back there
    /// before the group is removed.
    home: std::path::PathBuf,
}

impl CpuGroup {
    /// Move `pid` (before it forks anything) into a new group named `name`:
    /// cgroup v2 where it is mounted, else v1's cpuacct; `None` where neither
    /// can be written (not root, a read-only /sys/fs/cgroup).
    pub fn adopt(pid: u32, name: &str) -> Option<CpuGroup> {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - FSTYPE SOURCE SUPER-OPTIONS
        let mount_of = |v2: bool| {
            mounts.lines().find_map(|l| {
                let (left, right) = l.split_once(" - ")?;
                let mut r = right.split_whitespace();
                let fstype = r.next()?;
                let supers = r.nth(1).unwrap_or("");
                let ok = if v2 {
                    fstype == "cgroup2"
                } else {
                    fstype == "cgroup" && supers.split(',').any(|o| o == "cpuacct")
                };
                let point = left.split_whitespace().nth(4)?;
                ok.then(|| std::path::PathBuf::from(point))
            })
        };
        // /proc/self/cgroup: "0::/path" (v2) or "N:cpu,cpuacct:/path" (v1).
        let own_path = |v2: bool| {
            own.lines().find_map(|l| {
                let mut f = l.splitn(3, ':');
                let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
                let ok = if v2 { controllers.is_empty() } else { controllers.split(',').any(|c| c == "cpuacct") };
                ok.then(|| path.trim_start_matches('/').to_string())
            })
        };
        [true, false].into_iter().find_map(|v2| {
            let root = mount_of(v2)?;
            let home = root.join(own_path(v2)?);
            let dir = root.join(format!("ftp-host-bench-{}-{name}", std::process::id()));
            std::fs::create_dir(&dir).ok()?;
            let removed = dir.clone();
            crate::interrupt::on_interrupt(move || kill_and_remove(&removed));
            let group = CpuGroup { dir, v2, home };
            (std::fs::write(group.dir.join("cgroup.procs"), pid.to_string()).is_ok() && group.cpu_s().is_some())
                .then_some(group)
        })
    }

    /// Seconds in which the group had runnable members and none of them had
    /// a CPU: the `full` total of `cpu.pressure` (cgroup v2 with PSI; `None`
    /// elsewhere). A session waiting here is not waiting for its client.
    /// Not `some`: vsftpd's two processes hand each record over, and one
    /// waiting while the other runs is the server at work, not held back.
    pub fn cpu_wait_s(&self) -> Option<f64> {
        if !self.v2 {
            return None;
        }
        let pressure = std::fs::read_to_string(self.dir.join("cpu.pressure")).ok()?;
        let full = pressure.lines().find(|l| l.starts_with("full "))?;
        let usec = full.split_whitespace().find_map(|f| f.strip_prefix("total="))?;
        Some(usec.parse::<f64>().ok()? / 1e6)
    }

    /// CPU seconds of every process that has been in the group.
    pub fn cpu_s(&self) -> Option<f64> {
        if self.v2 {
            let stat = std::fs::read_to_string(self.dir.join("cpu.stat")).ok()?;
            let usec = stat.lines().find_map(|l| l.strip_prefix("usage_usec "))?;
            Some(usec.trim().parse::<f64>().ok()? / 1e6)
        } else {
            let ns = std::fs::read_to_string(self.dir.join("cpuacct.usage")).ok()?;
            Some(ns.trim().parse::<f64>().ok()? / 1e9)
        }
    }
}

impl Drop for CpuGroup {
    fn drop(&mut self) {
        // A group with members cannot be removed: hand them back first.
        let members = std::fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
        for pid in members.lines() {
            let _ = std::fs::write(self.home.join("cgroup.procs"), pid);
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// An interrupted run: kill whatever is still in the group at `dir` (a
/// server's session orphaned as its listener died) and remove the group.
fn kill_and_remove(dir: &std::path::Path) {
    // cgroup v2 (Linux 5.14 on) kills every member at once; else each PID listed.
    if std::fs::write(dir.join("cgroup.kill"), "1").is_err() {
        let members = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in members.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
            // SAFETY: signalling a process by PID.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    // A group is removable once its members are gone.
    let deadline = Instant::now() + Duration::from_secs(2);
    while std::fs::remove_dir(dir).is_err() && dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}
