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

use anyhow::{bail, Result};

/// Which CPUs the servers and the clients run on.
pub struct Pinning {
    server: usize,
    clients: Vec<usize>,
}

impl Pinning {
    /// Pin this thread (call it before any other thread is started: threads
    /// and child processes inherit it) to every CPU it may use but `server`.
    pub fn start(server: usize) -> Result<Pinning> {
        let allowed = allowed_cpus()?;
        if !allowed.contains(&server) {
            bail!("--pin-server {server}: this process may run on CPUs {allowed:?} only");
        }
        let clients: Vec<usize> = allowed.into_iter().filter(|&c| c != server).collect();
        if clients.is_empty() {
            bail!("--pin-server needs 2 CPUs or more; this process may run on CPU {server} only");
        }
        set_affinity(0, &clients)?;
        Ok(Pinning { server, clients })
    }

    /// Pin a server's listener (its sessions are forked later and inherit it).
    pub fn server(&self, pid: u32) -> Result<()> {
        set_affinity(pid, &[self.server])
    }

    /// One line for the report's Machine table.
    pub fn describe(&self) -> String {
        let list: Vec<String> = self.clients.iter().map(usize::to_string).collect();
        format!(
            "`--pin-server {}`: the transfer section's proftpd and vsftpd on CPU {}, this benchmark and every client it starts (and the embedded server) on CPU {}",
            self.server,
            self.server,
            list.join(", ")
        )
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
}
