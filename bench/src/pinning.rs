//! The FTP server on a core of its own (`--pin-server CPU`).
//!
//! On loopback, client and server share the machine's cores: a client that
//! keeps more threads busy (the host's pump beside its file reads) takes
//! CPU, cache and wake-ups from the single-threaded server session, and on
//! 2 cores that moves the figures (`bench/ANALYSIS-2026-12-04-own-core.md`).
//! In a deployment the server runs on another machine. Pinning the real
//! servers to one CPU and this process
//! (so every client it starts: in-process cases, curl, lftp, `ftp-host run`)
//! to the others gives each side cores the other cannot take. The embedded
//! server runs in this process and stays with the clients, and so does every
//! other section (the fleet's workers too): the option is meant for
//! `--only transfers`.
//!
//! Without the option, a run still pins for its second look
//! ([`Pinning::apart`]): a missed ratio that neither the server nor the
//! machine explains is measured again with the servers on a core of their
//! own, to tell whether sharing the cores is what it misses by.

use anyhow::{anyhow, bail, Context, Result};

/// Which CPUs the servers and the clients run on.
pub struct Pinning {
    server: usize,
    clients: Vec<usize>,
    /// Every CPU this process could use before it pinned anything.
    allowed: Vec<usize>,
}

impl Pinning {
    /// The servers on `server`, the clients on every other CPU this
    /// process may use; nothing is pinned yet.
    pub fn new(server: usize) -> Result<Pinning> {
        let allowed = allowed_cpus()?;
        if !allowed.contains(&server) {
            bail!("the servers' CPU {server}: this process may run on CPUs {allowed:?} only");
        }
        let clients: Vec<usize> = allowed.iter().copied().filter(|&c| c != server).collect();
        if clients.is_empty() {
            bail!("pinning servers and clients apart needs 2 CPUs or more; this process may run on CPU {server} only");
        }
        Ok(Pinning { server, clients, allowed })
    }

    /// The servers on the last CPU this process may use.
    pub fn last_cpu() -> Result<Pinning> {
        let last = allowed_cpus()?.into_iter().max().context("this process may run on no CPU")?;
        Pinning::new(last)
    }

    /// Pin this thread (call it before any other thread is started: threads
    /// and child processes inherit it) to every CPU it may use but `server`.
    pub fn start(server: usize) -> Result<Pinning> {
        let pinning = Pinning::new(server).map_err(|e| anyhow!("--pin-server {server}: {e}"))?;
        set_affinity(0, &pinning.clients)?;
        Ok(pinning)
    }

    /// Pin a server's listener (its sessions are forked later and inherit it).
    pub fn server(&self, pid: u32) -> Result<()> {
        set_affinity(pid, &[self.server])
    }

    /// Pin the servers' listeners (`servers`) and this thread, so the
    /// clients it starts from now on, until the guard is dropped: then
    /// both go back to every CPU this process could use.
    pub fn apart(&self, servers: &[u32]) -> Result<Apart<'_>> {
        // The guard undoes whatever was pinned if a later step fails.
        let mut apart = Apart { pinning: self, servers: Vec::new() };
        set_affinity(0, &self.clients)?;
        for &pid in servers {
            self.server(pid)?;
            apart.servers.push(pid);
        }
        Ok(apart)
    }

    /// One line for the report's Machine table.
    pub fn describe(&self) -> String {
        format!(
            "`--pin-server {}`: the transfer section's proftpd and vsftpd on CPU {}, this benchmark and every client it starts (and the embedded server) on CPU {}",
            self.server,
            self.server,
            self.client_cpus()
        )
    }

    /// "the servers on CPU 1, the clients on CPU 0".
    pub fn cpus(&self) -> String {
        format!("the servers on CPU {}, the clients on CPU {}", self.server, self.client_cpus())
    }

    fn client_cpus(&self) -> String {
        let list: Vec<String> = self.clients.iter().map(usize::to_string).collect();
        list.join(", ")
    }
}

/// Servers and this thread pinned apart ([`Pinning::apart`]) while it lives.
pub struct Apart<'a> {
    pinning: &'a Pinning,
    servers: Vec<u32>,
}

impl Drop for Apart<'_> {
    fn drop(&mut self) {
        let all = &self.pinning.allowed;
        for &pid in &self.servers {
            if let Err(e) = set_affinity(pid, all) {
                eprintln!("ftp-host-bench: unpinning server {pid}: {e:#}");
            }
        }
        if let Err(e) = set_affinity(0, all) {
            eprintln!("ftp-host-bench: unpinning the benchmark: {e:#}");
        }
    }
}

/// The CPUs this process may run on (its affinity mask: `taskset` narrows it).
fn allowed_cpus() -> Result<Vec<usize>> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity
    // fills it, and CPU_ISSET only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            bail!("sched_getaffinity: {}", std::io::Error::last_os_error());
        }
        Ok((0..libc::CPU_SETSIZE as usize).filter(|&cpu| libc::CPU_ISSET(cpu, &set)).collect())
    }
}

fn set_affinity(pid: u32, cpus: &[usize]) -> Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and
    // sched_setaffinity only read and write the set passed to them.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(pid as libc::pid_t, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        bail!("sched_setaffinity(pid {pid}, CPUs {cpus:?}): {}", std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpu_this_process_may_not_use_is_refused_before_anything_is_pinned() {
        let before = allowed_cpus().unwrap();
        assert!(!before.is_empty());
        let refused = Pinning::start(libc::CPU_SETSIZE as usize + 1).err().expect("an unusable CPU is refused");
        assert!(refused.to_string().contains("may run on CPUs"), "{refused}");
        assert_eq!(allowed_cpus().unwrap(), before, "the refusal changed this thread's CPUs");
    }

    #[test]
    fn apart_pins_this_thread_off_the_servers_cpu_until_dropped() {
        let before = allowed_cpus().unwrap();
        if before.len() < 2 {
            // One CPU: `new` refuses, as the run then reports.
            assert!(Pinning::last_cpu().is_err());
            return;
        }
        let pinning = Pinning::last_cpu().unwrap();
        let server = *before.iter().max().unwrap();
        {
            let _apart = pinning.apart(&[]).unwrap();
            let pinned = allowed_cpus().unwrap();
            assert!(!pinned.contains(&server), "{pinned:?}");
            assert_eq!(pinned.len(), before.len() - 1);
        }
        assert_eq!(allowed_cpus().unwrap(), before, "dropping the guard did not unpin");
    }
}
