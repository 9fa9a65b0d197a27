//! What an interrupted run (Ctrl-C, SIGTERM) undoes before it exits.
//!
//! The run's guards undo their changes when dropped: the VM's free-page
//! reporting, the servers' cgroups, the work directory with its 1 GiB files
//! on tmpfs (memory until removed), the FTP servers themselves. A signal
//! ends the process without dropping anything, and the servers run in
//! process groups of their own, so a terminal's Ctrl-C never reaches them:
//! an interrupted run used to leave proftpd or vsftpd listening and the
//! files in RAM.
//!
//! On a signal [`install`]'s thread kills every descendant of this process
//! (a session is its listener's descendant while it runs), then each undo
//! step registered with [`on_interrupt`] runs, newest first (a server's
//! cgroup kills what is left in it, a session orphaned at that instant
//! included, before it goes), and the process exits with 130. Not a child
//! subreaper: vsftpd orphans one or two processes per session as it ends,
//! and adopting them left hundreds of zombies over a run.

use std::sync::Mutex;
use std::time::{Duration, Instant};

type Undo = Box<dyn FnOnce() + Send>;

/// Undo steps, in the order they were registered. Each must be harmless
/// when its guard was already dropped (a removed directory, a restored
/// parameter): a run can be interrupted after some guards are gone.
static UNDO: Mutex<Vec<Undo>> = Mutex::new(Vec::new());

/// How long the descendants get to die after SIGKILL (they cannot catch
/// it; this bounds a process stuck in the kernel).
const KILL_WAIT: Duration = Duration::from_secs(3);

/// Register `undo` to run if the run is interrupted.
pub fn on_interrupt(undo: impl FnOnce() + Send + 'static) {
    UNDO.lock().unwrap_or_else(|e| e.into_inner()).push(Box::new(undo));
}

/// Undo the run on SIGINT or SIGTERM. Call it once, in the benchmark's
/// own process (not in the case children).
pub fn install() {
    let spawned = std::thread::Builder::new().name("interrupt".into()).spawn(|| {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async {
            let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
        eprintln!("interrupted: stopping every process the run started and undoing its changes");
        kill_descendants();
        let steps = std::mem::take(&mut *UNDO.lock().unwrap_or_else(|e| e.into_inner()));
        for undo in steps.into_iter().rev() {
            undo();
        }
        // Anything the main thread started meanwhile.
        kill_descendants();
        std::process::exit(130);
    });
    if let Err(e) = spawned {
        eprintln!("warning: no thread to undo the run on Ctrl-C: {e}");
    }
}

/// SIGKILL every live descendant of this process until none is left (or
/// [`KILL_WAIT`] passes), reaping the children among them, so that their
/// cgroups are empty and their files closed when the undo steps run.
fn kill_descendants() {
    let deadline = Instant::now() + KILL_WAIT;
    loop {
        let live = descendants();
        for &pid in &live {
            // SAFETY: signalling a process by PID.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        // Reap our children that died (WNOHANG: never blocks).
        // SAFETY: waitpid on any child with a valid status pointer.
        while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
        if live.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            eprintln!("warning: processes {live:?} survived SIGKILL");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Live (not zombie) descendants of this process, from /proc.
fn descendants() -> Vec<i32> {
    let mut parent_of = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let mut fields = rest.split_whitespace();
        let (Some(state), Some(ppid)) = (fields.next(), fields.next().and_then(|p| p.parse::<i32>().ok())) else {
            continue;
        };
        parent_of.push((pid, ppid, state == "Z"));
    }
    let mut tree = vec![std::process::id() as i32];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(parent_of.iter().filter(|(_, ppid, _)| *ppid == parent).map(|(pid, _, _)| *pid));
        i += 1;
    }
    let zombie = |pid: &i32| parent_of.iter().any(|(p, _, z)| p == pid && *z);
    tree.into_iter().skip(1).filter(|pid| !zombie(pid)).collect()
}
