//! A plain FTP transfer moved between its data connection and a granted
//! file (`download.save-to`, `upload.send-from`) by one blocking-pool
//! thread, on a duplicate of the socket's descriptor, the socket out of the
//! runtime's reactor meanwhile ([`Detached`]):
//!
//! * a download with `splice(2)` from the socket into a pipe (the socket's
//!   pages, not a copy), then from the pipe into the file. Through a
//!   user-space buffer every byte is copied twice on this side; here once;
//! * an upload read from the file a [`CHUNK`] at a time and sent with
//!   blocking `send`s. A blocking send waits in the kernel, woken as the
//!   server acknowledges, where the pump waited for readiness and wrote
//!   again for each few KiB the socket takes (`DATA_NOTSENT_LOWAT` of
//!   `dial.rs` keeps that small): the host spent 9–15% less CPU per GiB
//!   and uploads ran 4–14% faster. `sendfile(2)` spent half the CPU but
//!   made the server spend a quarter to a third more, and ran slower
//!   (bench/ANALYSIS-2026-12-05-plain-send.md). The socket may hold
//!   [`PLAIN_SEND_NOTSENT_LOWAT`](super::wire::PLAIN_SEND_NOTSENT_LOWAT)
//!   unsent meanwhile, so the connection keeps moving while the thread
//!   reads the next chunk.
//!
//! Only plain connections: under TLS the bytes must pass through rustls.
//!
//! Each wait is bounded by the transfer's timeout and cut into
//! [`STOP_CHECK`](super::mover::STOP_CHECK) slices ([`super::mover`]), so a
//! dropped call stops its thread soon. Every byte is counted by the
//! caller's meter before it reaches the file or the connection. The
//! transfer keeps its stream for the final reply: the thread's duplicate
//! descriptor is never one closed under it.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::Duration;

use rustix::pipe::{fcntl_setpipe_size, pipe_with, splice, PipeFlags, SpliceFlags};
use tokio::runtime::Handle;

use super::mover::{io_error, send_file, Caller, Detached, Shared};
use super::pump::{Stopped, CHUNK};
use super::wire::Sender;
use crate::observe::Direction;

/// Move a transfer between the data connection `stream` and `file`, from
/// `offset` on: a download until the server closes the connection, an
/// upload until the file ends. `progress` is called with the bytes moved
/// since its last call while it runs; dropping the future stops the
/// thread and gives `stream` its socket back. Returns the bytes moved.
pub async fn copy<E, M>(
    direction: Direction,
    stream: &mut tokio::net::TcpStream,
    file: Arc<std::fs::File>,
    offset: u64,
    timeout: Duration,
    meter: M,
    progress: impl FnMut(u64),
) -> Result<u64, Stopped<E>>
where
    E: Send + 'static,
    M: FnMut(usize) -> Result<(), E> + Send + 'static,
{
    let detached = Detached::new(stream, &Handle::current()).map_err(Stopped::Io)?;
    let socket = detached.socket().try_clone_to_owned().map_err(Stopped::Io)?;
    let (mut caller, shared) = Caller::new();
    let copy = Copy { shared, timeout, meter };
    let task = tokio::task::spawn_blocking(move || match direction {
        Direction::Download => copy.download(socket.as_fd(), &file, offset),
        Direction::Upload => copy.upload(socket.as_fd(), &file, offset),
    });
    let joined = caller.follow(task, progress).await;
    joined.unwrap_or_else(|e| Err(Stopped::Io(io::Error::other(e))))
}

/// A copy on its thread.
struct Copy<M> {
    shared: Arc<Shared>,
    timeout: Duration,
    meter: M,
}

impl<M, E> Copy<M>
where
    M: FnMut(usize) -> Result<(), E>,
{
    /// Splice the socket's bytes into `file` until the server closes.
    fn download(mut self, socket: BorrowedFd<'_>, file: &std::fs::File, mut offset: u64) -> Result<u64, Stopped<E>> {
        let (pipe_out, pipe_in) = pipe_with(PipeFlags::CLOEXEC).map_err(io_error)?;
        // A pipe holds 64 KiB unless asked for more; one chunk per trip.
        let room = fcntl_setpipe_size(&pipe_in, CHUNK).unwrap_or(64 * 1024);
        let start = offset;
        loop {
            self.shared.go_on()?;
            // Waits for the server's bytes, and returns what has arrived.
            let n = self
                .shared
                .wait_for(self.timeout, || Ok(splice(socket, None, &pipe_in, None, room, SpliceFlags::MOVE)?))?;
            if n == 0 {
                return Ok(offset - start);
            }
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
            self.shared.add(n);
        }
    }

    /// Send `file` from `offset` on, the socket blocking meanwhile.
    fn upload(self, socket: BorrowedFd<'_>, file: &std::fs::File, offset: u64) -> Result<u64, Stopped<E>> {
        let Copy { shared, timeout, mut meter } = self;
        let mut sender = Sender::new(socket, None);
        send_file(&shared, file, offset, &mut meter, |chunk| sender.send(&shared, timeout, chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::super::mover::STOP_CHECK;
    use super::super::test_support::{
        assert_saved, connection, counting_meter, data, file_with_prefix, non_blocking, serve, KEEP,
    };
    use super::super::wire::PLAIN_SEND_NOTSENT_LOWAT;
    use super::*;
    use std::time::Instant;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    const WAIT: Duration = Duration::from_secs(10);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_byte_lands_at_its_offset_and_is_counted() {
        let (server, mut client) = connection().await;
        let sent = data(5 * CHUNK + 4321);
        let writer = serve(server, sent.clone());
        let file = file_with_prefix();
        let (counted, meter) = counting_meter();
        let mut reported = 0;
        let at = KEEP.len() as u64;
        let moved = copy(Direction::Download, &mut client, Arc::new(file.try_clone().unwrap()), at, WAIT, meter, |n| {
            reported += n
        })
        .await;
        writer.await.unwrap();
        assert!(matches!(moved, Ok(n) if n == sent.len() as u64), "{:?}", moved.err().map(|_| ()));
        assert_eq!(reported, sent.len() as u64, "progress saw every byte");
        assert_eq!(*counted.lock().unwrap(), sent.len());
        assert_saved(&file, &sent);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_meter_stops_the_copy_as_bytes_arrive() {
        let (mut server, mut client) = connection().await;
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
        let moved = copy(Direction::Download, &mut client, file.clone(), 0, WAIT, meter, |_| {}).await;
        assert!(matches!(moved, Err(Stopped::Counted(ref e)) if e == "over budget"));
        // Refused bytes never reach the file: at most the budget is written.
        assert!(file.metadata().unwrap().len() <= 2 * CHUNK as u64);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_connection_times_out() {
        let (_server, mut client) = connection().await;
        let file = Arc::new(tempfile::tempfile().unwrap());
        let started = Instant::now();
        let moved = copy(
            Direction::Download,
            &mut client,
            file,
            0,
            Duration::from_millis(300),
            |_| Ok::<_, String>(()),
            |_| {},
        )
        .await;
        assert!(matches!(moved, Err(Stopped::TimedOut(_))));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_call_stops_its_thread() {
        let (mut server, mut client) = connection().await;
        let file = Arc::new(tempfile::tempfile().unwrap());
        let copy = copy(Direction::Download, &mut client, file, 0, WAIT, |_| Ok::<_, String>(()), |_| {});
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

    /// Read what the client sends until it closes the connection.
    fn receive(mut server: TcpStream) -> tokio::task::JoinHandle<Vec<u8>> {
        tokio::spawn(async move {
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut server, &mut got).await.unwrap();
            got
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_upload_sends_the_file_from_its_offset_and_counts_every_byte() {
        let (server, mut client) = connection().await;
        let received = receive(server);
        let sent = data(5 * CHUNK + 4321);
        let mut file = file_with_prefix();
        std::io::Write::write_all(&mut file, &sent).unwrap();
        let (counted, meter) = counting_meter();
        let mut reported = 0;
        let at = KEEP.len() as u64;
        let moved = copy(Direction::Upload, &mut client, Arc::new(file), at, WAIT, meter, |n| reported += n).await;
        assert!(matches!(moved, Ok(n) if n == sent.len() as u64), "{:?}", moved.err().map(|_| ()));
        assert!(non_blocking(&client), "the stream is non-blocking again");
        let unsent = socket2::SockRef::from(&client).tcp_notsent_lowat().unwrap();
        assert_eq!(unsent, PLAIN_SEND_NOTSENT_LOWAT, "a backlog that outlasts reading the next chunk");
        drop(client);
        assert!(received.await.unwrap() == sent, "the server got the file after the offset");
        assert_eq!(reported, sent.len() as u64, "progress saw every byte");
        assert_eq!(*counted.lock().unwrap(), sent.len());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_meter_stops_an_upload_before_refused_bytes_are_sent() {
        let (server, mut client) = connection().await;
        let received = receive(server);
        let file = tempfile::tempfile().unwrap();
        file.set_len(5 * CHUNK as u64).unwrap();
        let mut left = 2 * CHUNK;
        let meter = move |n: usize| -> Result<(), String> {
            left = left.checked_sub(n).ok_or_else(|| "over budget".to_string())?;
            Ok(())
        };
        let moved = copy(Direction::Upload, &mut client, Arc::new(file), 0, WAIT, meter, |_| {}).await;
        assert!(matches!(moved, Err(Stopped::Counted(ref e)) if e == "over budget"));
        drop(client);
        assert_eq!(received.await.unwrap().len(), 2 * CHUNK, "the budget's bytes and no more");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_upload_nobody_reads_times_out_and_leaves_the_stream_non_blocking() {
        let (_server, mut client) = connection().await;
        // More than loopback's socket buffers hold.
        let file = tempfile::tempfile().unwrap();
        file.set_len(256 * CHUNK as u64).unwrap();
        let started = Instant::now();
        let moved = copy(
            Direction::Upload,
            &mut client,
            Arc::new(file),
            0,
            Duration::from_millis(300),
            |_| Ok::<_, String>(()),
            |_| {},
        )
        .await;
        assert!(matches!(moved, Err(Stopped::TimedOut(_))));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(non_blocking(&client));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_upload_stops_its_thread() {
        let (server, mut client) = connection().await;
        let file = tempfile::tempfile().unwrap();
        file.set_len(256 * CHUNK as u64).unwrap();
        let copy = copy(Direction::Upload, &mut client, Arc::new(file), 0, WAIT, |_| Ok::<_, String>(()), |_| {});
        // Dropped while the server reads nothing.
        assert!(tokio::time::timeout(Duration::from_millis(200), copy).await.is_err());
        tokio::time::sleep(STOP_CHECK * 3).await;
        assert!(non_blocking(&client), "the thread gave the stream back as it found it");
        drop(client);
        // The connection closes once the thread let go: the server reads
        // what was sent, then the end, well before WAIT.
        let read = tokio::time::timeout(Duration::from_secs(2), receive(server)).await;
        assert!(matches!(read, Ok(Ok(got)) if got.len() < 256 * CHUNK));
    }
}
