//! What a thread moving a transfer's bytes between its data connection and
//! a granted file ([`super::plain_copy`], [`super::tls_copy`]) shares with
//! its caller, how it waits, and how an upload's thread sends.
//!
//! The caller ([`Caller`]) reads the thread's progress and can ask it to
//! stop; a dropped caller does. A thread's waits on its connection are
//! bounded by the transfer's timeout and cut into [`STOP_CHECK`] slices,
//! so a stop is seen within one. An upload sends with blocking `send`s
//! ([`blocking_sends`]): each waits in the kernel, woken as the server
//! acknowledges, where a wait for readiness on the runtime paid a wake-up
//! and two writes for each few KiB the socket took
//! (bench/ANALYSIS-2026-12-05-plain-send.md).

use std::future::Future;
use std::io::{self, IoSlice};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::net::sockopt::{set_socket_timeout, Timeout};
use rustix::net::{send, sendmsg, SendAncillaryBuffer, SendFlags};

use super::pump::{Stopped, CHUNK};

/// How often a thread waiting on its connection checks whether it was
/// asked to stop.
pub const STOP_CHECK: Duration = Duration::from_millis(100);

/// How often a caller reports its thread's progress while it waits for it.
pub const PROGRESS_TICK: Duration = Duration::from_millis(100);

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

    /// Call `send`, a blocking send (of [`blocking_sends`]), until it says
    /// everything it had is on the connection (`Ok(true)`). A send that
    /// fails because a slice passed with nothing sent, or a signal came, is
    /// tried again while the wait since the last bytes went may go on;
    /// any other failure ends the transfer.
    pub fn send_until<E>(
        &self,
        timeout: Duration,
        mut send: impl FnMut() -> io::Result<bool>,
    ) -> Result<(), Stopped<E>> {
        let mut since = Instant::now();
        loop {
            match send() {
                Ok(true) => return Ok(()),
                Ok(false) => since = Instant::now(),
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => _ = self.keep_waiting(since, timeout)?,
                    io::ErrorKind::Interrupted => {}
                    _ => return Err(Stopped::Io(e)),
                },
            }
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

    /// Wait for `done` (the thread's end), calling `progress` with the
    /// bytes moved every [`PROGRESS_TICK`] and once more at the end.
    /// Cancel-safe when `done` is: what a dropped wait did not report,
    /// the next [`progress`](Self::progress) does.
    pub async fn follow<T>(&mut self, done: impl Future<Output = T>, mut progress: impl FnMut(u64)) -> T {
        let mut done = std::pin::pin!(done);
        let mut tick = tokio::time::interval(PROGRESS_TICK);
        loop {
            tokio::select! {
                out = &mut done => {
                    progress(self.progress());
                    return out;
                }
                _ = tick.tick() => progress(self.progress()),
            }
        }
    }
}

impl Drop for Caller {
    fn drop(&mut self) {
        self.shared.stop();
    }
}

/// Run `sends` with `socket` blocking, each send's wait cut into
/// [`STOP_CHECK`] slices (a slice that passes with nothing sent fails with
/// `WouldBlock`). The descriptor's file description is the transfer's
/// stream's too, which the runtime drives: it is non-blocking again before
/// this returns.
pub fn blocking_sends<T, E>(
    socket: BorrowedFd<'_>,
    sends: impl FnOnce() -> Result<T, Stopped<E>>,
) -> Result<T, Stopped<E>> {
    rustix::io::ioctl_fionbio(socket, false).map_err(io_error)?;
    let sent = set_socket_timeout(socket, Timeout::Send, Some(STOP_CHECK)).map_err(io_error).and_then(|()| sends());
    let restored =
        set_socket_timeout(socket, Timeout::Send, None).and_then(|()| rustix::io::ioctl_fionbio(socket, true));
    match (sent, restored) {
        (Ok(_), Err(e)) => Err(io_error(e)),
        (sent, _) => sent,
    }
}

/// An upload's loop: read `file` from `offset` on a [`CHUNK`] at a time,
/// count each chunk with `meter`, `send` all of it and note it moved, until
/// the file ends. Returns the bytes sent.
pub fn send_file<E>(
    shared: &Shared,
    file: &std::fs::File,
    mut offset: u64,
    meter: &mut impl FnMut(usize) -> Result<(), E>,
    mut send: impl FnMut(&[u8]) -> Result<(), Stopped<E>>,
) -> Result<u64, Stopped<E>> {
    let mut buf = vec![0u8; CHUNK];
    let start = offset;
    loop {
        shared.go_on()?;
        let n = loop {
            match file.read_at(&mut buf, offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                read => break read.map_err(Stopped::Local)?,
            }
        };
        if n == 0 {
            return Ok(offset - start);
        }
        meter(n).map_err(Stopped::Counted)?;
        send(&buf[..n])?;
        offset += n as u64;
        shared.add(n);
    }
}

/// A socket written with `send`/`sendmsg` and `MSG_NOSIGNAL`: a closed
/// connection is an error, never a SIGPIPE for a process that did not
/// ignore it.
pub struct SendTo<'a>(pub BorrowedFd<'a>);

impl io::Write for SendTo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(send(self.0, buf, SendFlags::NOSIGNAL)?)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Ok(sendmsg(self.0, bufs, &mut SendAncillaryBuffer::default(), SendFlags::NOSIGNAL)?)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A system call on the connection failed: the transfer ends with it.
pub fn io_error<E>(e: rustix::io::Errno) -> Stopped<E> {
    Stopped::Io(e.into())
}
