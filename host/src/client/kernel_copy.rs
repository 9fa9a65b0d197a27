//! The kernel moves a plain FTP download from the data connection into a
//! granted file (`download.save-to`): `splice(2)` from the socket into a
//! pipe (the socket's pages, not a copy), then from the pipe into the file.
//!
//! Through a user-space buffer every byte is copied twice on this side (the
//! socket's into the buffer, the buffer into the file's pages); here once.
//! Only plain connections: under TLS the bytes must pass through rustls.
//! Uploads stay on the user-space path: `sendfile(2)` was measured and made
//! the receiving server spend more CPU per byte, which is what bounds an
//! upload (bench/ANALYSIS-2026-12-03-host-moves.md).
//!
//! A copy runs on one blocking-pool thread, on a duplicate of the socket's
//! descriptor (non-blocking, as tokio set it: each wait is a `poll` bounded
//! by the transfer's timeout and by [`STOP_CHECK`], so a dropped call stops
//! its thread soon). Every byte is counted by the caller's meter as it
//! crosses, as the pumps count theirs, before it reaches the file.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::pipe::{fcntl_setpipe_size, pipe_with, splice, PipeFlags, SpliceFlags};

use super::pump::{Stopped, CHUNK};

/// How often a copy waiting on its socket checks whether its caller is gone.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// What a copy's thread and its caller share: the bytes moved so far, and
/// whether the caller is gone.
#[derive(Default)]
struct Shared {
    moved: AtomicU64,
    stop: AtomicBool,
}

/// Sets the stop flag when the caller's future is dropped.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
    }
}

/// Move a download from `socket` into `file` from `offset` on, until the
/// server closes the connection; `progress` is called with the bytes moved
/// so far while it runs. Returns the bytes moved.
///
/// `socket` is a duplicate of the data connection's descriptor: the
/// transfer keeps its stream for the final reply, and a thread outliving a
/// dropped call never touches a descriptor closed under it.
pub async fn socket_to_file<E, M>(
    socket: OwnedFd,
    file: Arc<std::fs::File>,
    offset: u64,
    timeout: Duration,
    meter: M,
    mut progress: impl FnMut(u64),
) -> Result<u64, Stopped<E>>
where
    E: Send + 'static,
    M: FnMut(usize) -> Result<(), E> + Send + 'static,
{
    let shared = Arc::new(Shared::default());
    let _stop = StopOnDrop(shared.clone());
    let on_thread = shared.clone();
    let mut task =
        tokio::task::spawn_blocking(move || Copy { socket, shared: on_thread, timeout, meter }.run(&file, offset));
    let mut tick = tokio::time::interval(STOP_CHECK);
    let moved = || shared.moved.load(Ordering::Relaxed);
    loop {
        tokio::select! {
            joined = &mut task => {
                progress(moved());
                return joined.unwrap_or_else(|e| Err(Stopped::Io(io::Error::other(e))));
            }
            _ = tick.tick() => progress(moved()),
        }
    }
}

/// A copy on its thread.
struct Copy<M> {
    socket: OwnedFd,
    shared: Arc<Shared>,
    timeout: Duration,
    meter: M,
}

impl<M, E> Copy<M>
where
    M: FnMut(usize) -> Result<(), E>,
{
    fn run(mut self, file: &std::fs::File, mut offset: u64) -> Result<u64, Stopped<E>> {
        let (pipe_out, pipe_in) = pipe_with(PipeFlags::CLOEXEC).map_err(io_error)?;
        // A pipe holds 64 KiB unless asked for more; one chunk per trip.
        let room = fcntl_setpipe_size(&pipe_in, CHUNK).unwrap_or(64 * 1024);
        let start = offset;
        loop {
            let read = splice(&self.socket, None, &pipe_in, None, room, SpliceFlags::MOVE | SpliceFlags::NONBLOCK);
            let n = match read {
                Ok(0) => return Ok(offset - start),
                Ok(n) => n,
                Err(rustix::io::Errno::AGAIN) => {
                    self.wait_readable()?;
                    continue;
                }
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(io_error(e)),
            };
            (self.meter)(n).map_err(Stopped::Counted)?;
            let mut left = n;
            while left > 0 {
                match splice(&pipe_out, None, file, Some(&mut offset), left, SpliceFlags::MOVE) {
                    Ok(0) => return Err(Stopped::Local(io::ErrorKind::WriteZero.into())),
                    Ok(m) => left -= m,
                    Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(Stopped::Local(e.into())),
                }
            }
            self.shared.moved.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Wait until the socket has bytes (or an end, or an error): at most the
    /// transfer's timeout, and only while the caller is there.
    fn wait_readable(&self) -> Result<(), Stopped<E>> {
        let since = Instant::now();
        loop {
            if self.shared.stop.load(Ordering::Relaxed) {
                return Err(Stopped::Io(io::Error::other("the call was abandoned")));
            }
            let left = self.timeout.saturating_sub(since.elapsed());
            if left.is_zero() {
                return Err(Stopped::TimedOut(self.timeout));
            }
            let slice = Timespec::try_from(left.min(STOP_CHECK)).expect("a slice of at most STOP_CHECK");
            let mut fds = [PollFd::from_borrowed_fd(self.socket.as_fd(), PollFlags::IN)];
            match poll(&mut fds, Some(&slice)) {
                // Readiness, a hang-up or an error: the next call says which.
                Ok(n) if n > 0 => return Ok(()),
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(io_error(e)),
            }
        }
    }
}

fn io_error<E>(e: rustix::io::Errno) -> Stopped<E> {
    Stopped::Io(e.into())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{assert_saved, counting_meter, data, file_with_prefix, serve, KEEP};
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    /// A loopback connection and a duplicate of the client side's
    /// descriptor, as a transfer hands it over.
    async fn connection() -> (TcpStream, TcpStream, OwnedFd) {
        let (server, client) = super::super::test_support::connection().await;
        let fd = client.as_fd().try_clone_to_owned().unwrap();
        (server, client, fd)
    }

    const WAIT: Duration = Duration::from_secs(10);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_byte_lands_at_its_offset_and_is_counted() {
        let (server, _client, fd) = connection().await;
        let sent = data(5 * CHUNK + 4321);
        let writer = serve(server, sent.clone());
        let file = file_with_prefix();
        let (counted, meter) = counting_meter();
        let mut last = 0;
        let at = KEEP.len() as u64;
        let moved = socket_to_file(fd, Arc::new(file.try_clone().unwrap()), at, WAIT, meter, |n| last = n).await;
        writer.await.unwrap();
        assert!(matches!(moved, Ok(n) if n == sent.len() as u64), "{:?}", moved.err().map(|_| ()));
        assert_eq!(last, sent.len() as u64, "progress saw every byte");
        assert_eq!(*counted.lock().unwrap(), sent.len());
        assert_saved(&file, &sent);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_meter_stops_the_copy_as_bytes_arrive() {
        let (mut server, _client, fd) = connection().await;
        tokio::spawn(async move {
            let block = vec![1u8; CHUNK];
            while server.write_all(&block).await.is_ok() {}
        });
        let mut left = 2 * CHUNK;
        let meter = move |n: usize| -> Result<(), String> {
            left = left.checked_sub(n).ok_or_else(|| "over budget".to_string())?;
            Ok(())
        };
        let file = Arc::new(tempfile::tempfile().unwrap());
        let moved = socket_to_file(fd, file.clone(), 0, WAIT, meter, |_| {}).await;
        assert!(matches!(moved, Err(Stopped::Counted(ref e)) if e == "over budget"));
        // Refused bytes never reach the file: at most the budget is written.
        assert!(file.metadata().unwrap().len() <= 2 * CHUNK as u64);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_connection_times_out() {
        let (_server, _client, fd) = connection().await;
        let file = Arc::new(tempfile::tempfile().unwrap());
        let started = Instant::now();
        let moved = socket_to_file(fd, file, 0, Duration::from_millis(300), |_| Ok::<_, String>(()), |_| {}).await;
        assert!(matches!(moved, Err(Stopped::TimedOut(_))));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_call_stops_its_thread() {
        let (mut server, client, fd) = connection().await;
        let file = Arc::new(tempfile::tempfile().unwrap());
        let copy = socket_to_file(fd, file, 0, WAIT, |_| Ok::<_, String>(()), |_| {});
        // Dropped while it waits on a silent connection.
        assert!(tokio::time::timeout(Duration::from_millis(200), copy).await.is_err());
        // The thread closes its duplicate within a STOP_CHECK: then only the
        // client's own descriptor holds the socket, and dropping it closes
        // the connection (the server reads the end).
        tokio::time::sleep(STOP_CHECK * 3).await;
        drop(client);
        let mut rest = Vec::new();
        // Well before the copy's own timeout (WAIT) would close it.
        let read =
            tokio::time::timeout(Duration::from_secs(2), tokio::io::AsyncReadExt::read_to_end(&mut server, &mut rest))
                .await;
        assert!(matches!(read, Ok(Ok(0))), "the connection closed once the thread let go");
    }
}
