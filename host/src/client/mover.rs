//! What a thread moving a transfer's bytes on its data connection (to or
//! from a granted file: [`super::plain_copy`], [`super::tls_copy`]; to or
//! from a body's queue: [`super::pump`]) shares with its caller, how it has
//! the connection's socket, and how it waits.
//!
//! The caller ([`Caller`]) reads the thread's progress and can ask it to
//! stop; a dropped caller does. While a thread moves a transfer, its
//! socket is out of the runtime's reactor and blocking ([`Detached`]), so
//! the kernel wakes the thread, and only it, when the server sends or
//! takes bytes. A wait is bounded by the transfer's timeout and cut into
//! [`STOP_CHECK`] slices ([`Shared::wait_for`]), so a stop is seen within
//! one.

use std::future::Future;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::net::{send, sendmsg, SendAncillaryBuffer, SendFlags};
use tokio::runtime::Handle;

use super::pump::{Stopped, Task, CHUNK};
use super::wire::DataParts;

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
    fn keep_waiting<E>(&self, since: Instant, timeout: Duration) -> Result<Duration, Stopped<E>> {
        self.go_on()?;
        match timeout.saturating_sub(since.elapsed()) {
            left if left.is_zero() => Err(Stopped::TimedOut(timeout)),
            left => Ok(left),
        }
    }

    /// Call `call`, a blocking call on a [`Detached`] socket, until it
    /// succeeds. A call that fails because a slice passed with nothing
    /// moved, or a signal came, is tried again while the wait may go on;
    /// any other failure ends the transfer.
    pub fn wait_for<T, E>(&self, timeout: Duration, mut call: impl FnMut() -> io::Result<T>) -> Result<T, Stopped<E>> {
        let since = Instant::now();
        loop {
            match call() {
                Ok(done) => return Ok(done),
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => _ = self.keep_waiting(since, timeout)?,
                    io::ErrorKind::Interrupted => {}
                    _ => return Err(Stopped::Io(e)),
                },
            }
        }
    }

    /// Call `send` until it says everything it had is on the connection
    /// (`Ok(true)`): [`wait_for`](Self::wait_for), its wait starting again
    /// whenever some bytes went.
    pub fn send_until<E>(
        &self,
        timeout: Duration,
        mut send: impl FnMut() -> io::Result<bool>,
    ) -> Result<(), Stopped<E>> {
        while !self.wait_for(timeout, &mut send)? {}
        Ok(())
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

/// A data connection's socket taken out of the runtime's reactor while a
/// thread moves the transfer on it: blocking, each wait cut into
/// [`STOP_CHECK`] slices (a slice that passes with nothing moved fails
/// with `WouldBlock`). Dropped, it puts the socket back into its stream,
/// non-blocking and registered again.
///
/// The reactor watches a socket edge-triggered: left in it, every segment
/// that arrives (and every acknowledgement that makes room for a waiting
/// send) woke a runtime thread with nothing to do, beside the thread that
/// moves the bytes. On a proftpd FTPS download that was ~20,000 wake-ups
/// per GiB, landing on the server's CPU and preempting it
/// (bench/ANALYSIS-2026-12-05-reactor.md).
pub struct Detached<'a> {
    /// The transfer's stream: a stand-in holds its place meanwhile.
    slot: &'a mut tokio::net::TcpStream,
    socket: Option<std::net::TcpStream>,
    runtime: Handle,
}

impl<'a> Detached<'a> {
    /// Take the socket out of `slot`, a stream of `runtime`'s reactor.
    pub fn new(slot: &'a mut tokio::net::TcpStream, runtime: &Handle) -> io::Result<Self> {
        // tokio's stream leaves its reactor only by value: an unconnected
        // socket stands in, and fails any use until the real one is back.
        let stand_in = {
            let _entered = runtime.enter();
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
            socket.set_nonblocking(true)?;
            tokio::net::TcpStream::from_std(socket.into())?
        };
        let socket = std::mem::replace(slot, stand_in).into_std()?;
        let detached = Detached { slot, socket: Some(socket), runtime: runtime.clone() };
        let socket = detached.socket.as_ref().expect("just taken");
        socket.set_read_timeout(Some(STOP_CHECK))?;
        socket.set_write_timeout(Some(STOP_CHECK))?;
        socket.set_nonblocking(false)?;
        Ok(detached)
    }

    /// The socket, blocking.
    pub fn socket(&self) -> BorrowedFd<'_> {
        self.socket.as_ref().expect("the socket is back only once dropped").as_fd()
    }
}

impl Drop for Detached<'_> {
    fn drop(&mut self) {
        let Some(socket) = self.socket.take() else { return };
        // As the runtime needs it: no wait in a read or a write, no slices.
        let _ = socket.set_nonblocking(true);
        let _ = socket.set_read_timeout(None);
        let _ = socket.set_write_timeout(None);
        let _entered = self.runtime.enter();
        // Registering fails only on a runtime shutting down; the stand-in
        // stays then, and the transfer's next use of its stream fails.
        if let Ok(stream) = tokio::net::TcpStream::from_std(socket) {
            *self.slot = stream;
        }
    }
}

/// Run `work` on a blocking-pool thread with `stream`'s socket out of the
/// runtime's reactor ([`Detached`]) while it runs; the thread's task then
/// yields the stream, back in the reactor, with `work`'s result.
pub fn spawn_detached<S, E>(
    mut stream: S,
    work: impl for<'a> FnOnce(BorrowedFd<'a>, Option<&'a mut rustls::ClientConnection>) -> Result<(), Stopped<E>>
        + Send
        + 'static,
) -> Task<S, E>
where
    S: DataParts + Send + 'static,
    E: Send + 'static,
{
    let runtime = Handle::current();
    tokio::task::spawn_blocking(move || {
        let (tcp, conn) = stream.parts();
        let result = match Detached::new(tcp, &runtime) {
            Ok(detached) => work(detached.socket(), conn),
            Err(e) => Err(Stopped::Io(e)),
        };
        (stream, result)
    })
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{connection, non_blocking};
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_detached_socket_blocks_in_slices_and_goes_back_to_its_stream() {
        let (mut server, mut client) = connection().await;
        let address = client.peer_addr().unwrap();
        {
            let detached = Detached::new(&mut client, &Handle::current()).unwrap();
            let socket = detached.socket();
            assert!(!non_blocking(&socket), "the thread's calls wait in the kernel");
            let mut buf = [0u8; 8];
            let started = Instant::now();
            let waited = rustix::net::recv(socket, &mut buf[..], rustix::net::RecvFlags::empty());
            assert_eq!(waited.err(), Some(rustix::io::Errno::AGAIN), "a silent slice ends the wait");
            assert!(started.elapsed() < STOP_CHECK * 5, "{:?}", started.elapsed());
        }
        assert!(non_blocking(&client), "the runtime's stream never blocks");
        assert_eq!(client.peer_addr().unwrap(), address, "the stream holds its socket again");
        // The reactor drives it again: a read waits for the server's bytes.
        let read = tokio::spawn(async move {
            let mut got = [0u8; 5];
            client.read_exact(&mut got).await.map(|_| got)
        });
        tokio::time::sleep(STOP_CHECK).await;
        server.write_all(b"again").await.unwrap();
        assert_eq!(&read.await.unwrap().unwrap(), b"again");
    }
}
