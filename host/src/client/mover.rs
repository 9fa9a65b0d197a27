//! What a thread moving a transfer's bytes between its data connection and
//! a granted file ([`super::plain_copy`], [`super::tls_save`]) shares with
//! its caller, and how it waits.
//!
//! The caller reads the bytes moved so far (for progress) and can ask the
//! thread to stop; a dropped caller does. A thread's waits on its
//! connection are bounded by the transfer's timeout and cut into
//! [`STOP_CHECK`] slices, so a stop is seen within one.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::pump::Stopped;

/// How often a thread waiting on its connection checks whether it was
/// asked to stop.
pub const STOP_CHECK: Duration = Duration::from_millis(100);

/// The state a thread and its caller share.
#[derive(Default)]
pub struct Shared {
    moved: AtomicU64,
    stop: AtomicBool,
}

impl Shared {
    /// Bytes the thread moved so far.
    pub fn moved(&self) -> u64 {
        self.moved.load(Ordering::Relaxed)
    }

    /// The thread moved `n` more bytes.
    pub fn add(&self, n: usize) {
        self.moved.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Ask the thread to stop at its next chunk or wait slice.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether the thread goes on: an error once it was asked to stop.
    pub fn go_on<E>(&self) -> Result<(), Stopped<E>> {
        match self.stop.load(Ordering::Relaxed) {
            true => Err(Stopped::Io(io::Error::other("the transfer was stopped"))),
            false => Ok(()),
        }
    }

    /// Whether a wait that began at `since` may go on: the time it has
    /// left of `timeout`, or why it ends.
    pub fn keep_waiting<E>(&self, since: Instant, timeout: Duration) -> Result<Duration, Stopped<E>> {
        self.go_on()?;
        match timeout.saturating_sub(since.elapsed()) {
            left if left.is_zero() => Err(Stopped::TimedOut(timeout)),
            left => Ok(left),
        }
    }
}
