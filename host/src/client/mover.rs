//! What a thread moving a transfer's bytes between its data connection and
//! a granted file ([`super::plain_copy`], [`super::tls_save`]) shares with
//! its caller, and how it waits.
//!
//! The caller ([`Caller`]) reads the thread's progress and can ask it to
//! stop; a dropped caller does. A thread's waits on its
//! connection are bounded by the transfer's timeout and cut into
//! [`STOP_CHECK`] slices, so a stop is seen within one.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
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

/// The caller's side of a thread's [`Shared`]: it reports the thread's
/// progress, and dropping it asks the thread to stop.
pub struct Caller {
    shared: Arc<Shared>,
    /// The bytes [`progress`](Self::progress) has reported.
    reported: u64,
}

impl Caller {
    /// A caller, and the state to hand its thread.
    pub fn new() -> (Caller, Arc<Shared>) {
        let shared = Arc::new(Shared::default());
        (Caller { shared: shared.clone(), reported: 0 }, shared)
    }

    /// Bytes the thread moved since the last call.
    pub fn progress(&mut self) -> u64 {
        let moved = self.shared.moved();
        let new = moved - self.reported;
        self.reported = moved;
        new
    }

    /// Ask the thread to stop at its next chunk or wait slice.
    pub fn stop(&self) {
        self.shared.stop();
    }
}

impl Drop for Caller {
    fn drop(&mut self) {
        self.shared.stop();
    }
}
