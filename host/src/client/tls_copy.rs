//! A TLS transfer moved between its data connection and a granted file
//! (`download.save-to`, `upload.send-from`) by one blocking-pool thread,
//! the socket out of the runtime's reactor meanwhile ([`spawn_detached`]):
//!
//! * a download is received a [`CHUNK`] at most per `recv`, handed to
//!   rustls to decrypt, and written at its offset up to a [`CHUNK`] at a
//!   time ([`super::wire::Receiver`]);
//! * an upload is read from the file a [`CHUNK`] at a time and handed to
//!   rustls, which encrypts it into records that blocking `send`s put on
//!   the connection, as a plain upload's are ([`super::wire::Sender`]).
//!
//! The pump with a file stream (what a guest's `splice` loop uses) keeps two
//! threads busy: the pump's and the file stream's. Where the server shares
//! the client's cores, that second thread takes CPU time from the server,
//! which then waits for a CPU instead of moving bytes. One thread left the server waiting about a
//! quarter as long on downloads, and spent less CPU per byte in both
//! directions; uploads also ran faster
//! (bench/ANALYSIS-2026-12-05-tls-save.md, bench/ANALYSIS-2026-12-05-tls-send.md).
//! Receiving on the socket itself rather than through tokio-rustls on the
//! runtime's reactor took the wake-ups of a runtime thread off the path
//! too, and a quarter of the CPU a download costs
//! (bench/ANALYSIS-2026-12-05-reactor.md).
//!
//! The thread owns the stream until the transfer ends; [`TlsCopy::follow`]
//! and [`TlsCopy::stop`] then give it back for the final reply. Each wait
//! is bounded by the transfer's timeout and cut into
//! [`STOP_CHECK`](super::mover::STOP_CHECK) slices, so a copy that is
//! stopped or dropped ends soon; a dropped copy's thread closes the
//! connection. Every byte is counted by the caller's meter before it
//! reaches the file or the connection. Plain transfers never come here:
//! [`super::plain_copy`] moves them.

use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;

use super::mover::{send_file, spawn_detached, Caller, Shared};
use super::pump::{join, Ended, Stopped, Task, CHUNK};
use super::wire::{DataParts, Receiver, Sender};

/// A TLS transfer being moved by its thread.
pub struct TlsCopy<S, E> {
    task: Option<Task<S, E>>,
    /// Dropped with the copy, it stops the thread.
    caller: Caller,
}

impl<S, E> TlsCopy<S, E>
where
    S: DataParts + Send + 'static,
    E: Send + 'static,
{
    /// Start saving the rest of `stream` into `file` from `offset` on, until
    /// the server ends the data. `meter` is called with every chunk's byte
    /// count before it is written; `timeout` bounds each wait for bytes.
    pub fn save<M>(stream: S, file: Arc<std::fs::File>, offset: u64, timeout: Duration, meter: M) -> Self
    where
        M: FnMut(usize) -> Result<(), E> + Send + 'static,
    {
        Self::spawn(stream, timeout, meter, move |thread, socket, conn| thread.save(socket, conn, &file, offset))
    }

    /// Start sending `file` from `offset` on over `stream`, until the file
    /// ends. `meter` is called with every chunk's byte count before it is
    /// encrypted; `timeout` bounds each wait for the server to take bytes.
    pub fn send<M>(stream: S, file: Arc<std::fs::File>, offset: u64, timeout: Duration, meter: M) -> Self
    where
        M: FnMut(usize) -> Result<(), E> + Send + 'static,
    {
        Self::spawn(stream, timeout, meter, move |thread, socket, conn| thread.send(socket, conn, &file, offset))
    }

    /// Run `copy` on a thread of its own, with the stream's socket out of
    /// the reactor until it ends.
    fn spawn<M>(
        stream: S,
        timeout: Duration,
        meter: M,
        copy: impl FnOnce(Thread<M>, BorrowedFd<'_>, &mut rustls::ClientConnection) -> Result<(), Stopped<E>>
            + Send
            + 'static,
    ) -> Self
    where
        M: FnMut(usize) -> Result<(), E> + Send + 'static,
    {
        let (caller, shared) = Caller::new();
        let thread = Thread { shared, timeout, meter };
        let task = spawn_detached(stream, move |socket, conn| match conn {
            Some(conn) => copy(thread, socket, conn),
            None => Err(Stopped::Io(io::Error::other("a TLS copy's thread was given a plain connection"))),
        });
        TlsCopy { task: Some(task), caller }
    }

    /// Bytes moved since the last call.
    pub fn progress(&mut self) -> u64 {
        self.caller.progress()
    }

    /// Wait until the transfer is moved, or stopped, calling `progress`
    /// with the bytes moved as they go. Cancel-safe.
    pub async fn follow(&mut self, progress: impl FnMut(u64)) -> Ended<S, E> {
        self.caller.follow(join(&mut self.task), progress).await
    }

    /// Stop at the next chunk or wait slice and take the stream back. A
    /// download's bytes already read are in the file; an upload's records
    /// not yet sent stay with rustls, which sends them before its
    /// close_notify. Cancel-safe.
    pub async fn stop(&mut self) -> Ended<S, E> {
        self.caller.stop();
        join(&mut self.task).await
    }
}

/// A copy on its thread.
struct Thread<M> {
    shared: Arc<Shared>,
    timeout: Duration,
    meter: M,
}

impl<M, E> Thread<M>
where
    M: FnMut(usize) -> Result<(), E>,
{
    /// Receive the rest of the download into `file` from `offset` on,
    /// until the server's close_notify.
    fn save(
        mut self,
        socket: BorrowedFd<'_>,
        conn: &mut rustls::ClientConnection,
        file: &std::fs::File,
        mut offset: u64,
    ) -> Result<(), Stopped<E>> {
        let mut receiver = Receiver::new(socket, Some(conn));
        let mut plain = BytesMut::with_capacity(CHUNK);
        loop {
            self.shared.go_on()?;
            plain.clear();
            let ended = receiver.receive(&self.shared, self.timeout, &mut plain)?;
            let n = plain.len();
            (self.meter)(n).map_err(Stopped::Counted)?;
            file.write_all_at(&plain, offset).map_err(Stopped::Local)?;
            offset += n as u64;
            self.shared.add(n);
            match ended {
                Some(Ok(())) => return Ok(()),
                Some(Err(e)) => return Err(Stopped::Io(e)),
                None => {}
            }
        }
    }

    /// Send `file` from `offset` on.
    fn send(
        self,
        socket: BorrowedFd<'_>,
        conn: &mut rustls::ClientConnection,
        file: &std::fs::File,
        offset: u64,
    ) -> Result<(), Stopped<E>> {
        let Thread { shared, timeout, mut meter } = self;
        let mut sender = Sender::new(socket, Some(conn));
        send_file(&shared, file, offset, &mut meter, |chunk| sender.send(&shared, timeout, chunk)).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{
        assert_saved, counting_meter, data, file_with_prefix, non_blocking, receive_all, sending, tls_client, KEEP,
    };
    use super::*;
    use std::io::Write;
    use std::time::Instant;

    const WAIT: Duration = Duration::from_secs(10);

    // A current-thread runtime, as an embedder may run the host.
    #[tokio::test]
    async fn every_byte_lands_at_its_offset_is_counted_and_the_stream_comes_back() {
        let sent = data(3 * CHUNK + 4321);
        let (server, client) = tls_client(sending(sent.clone()));
        let (counted, meter) = counting_meter();
        let file = Arc::new(file_with_prefix());
        let mut copy = TlsCopy::save(client, file.clone(), KEEP.len() as u64, WAIT, meter);
        let mut reported = 0;
        let ended = copy.follow(|n| reported += n).await;
        server.join().unwrap();
        assert!(ended.result.is_ok(), "{:?}", ended.result.err().map(|_| ()));
        let client = ended.stream.expect("the stream comes back for the final reply");
        assert!(non_blocking(&client.socket), "the socket is non-blocking again");
        assert_eq!(reported, sent.len() as u64, "progress saw every byte");
        assert_eq!(copy.progress(), 0, "progress reports each byte once");
        assert_eq!(*counted.lock().unwrap(), sent.len());
        assert!(client.socket.peer_addr().is_ok(), "the stream holds its socket again, not a stand-in");
        assert_saved(&file, &sent);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_end_without_close_notify_fails_after_the_bytes_before_it() {
        let sent = data(CHUNK / 2);
        let (server, client) = tls_client({
            let sent = sent.clone();
            move |mut server| {
                server.write_all(&sent).unwrap();
                server.flush().unwrap();
                // A closed connection, no close_notify: a truncated download.
                server.sock.shutdown(std::net::Shutdown::Both).unwrap();
            }
        });
        let file = Arc::new(tempfile::tempfile().unwrap());
        let mut copy = TlsCopy::save(client, file.clone(), 0, WAIT, |_| Ok::<_, ()>(()));
        let ended = copy.follow(|_| {}).await;
        server.join().unwrap();
        assert!(matches!(&ended.result, Err(Stopped::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof));
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut &*file, &mut got).unwrap();
        assert!(got == sent, "what came before the end is in the file");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_count_stops_before_the_bytes_reach_the_file() {
        let (server, client) = tls_client(sending(data(1000)));
        let file = Arc::new(tempfile::tempfile().unwrap());
        let mut copy = TlsCopy::save(client, file.clone(), 0, WAIT, |_| Err("over budget"));
        let ended = copy.follow(|_| {}).await;
        server.join().unwrap();
        assert!(matches!(ended.result, Err(Stopped::Counted("over budget"))));
        assert_eq!(file.metadata().unwrap().len(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_server_times_out_and_stop_ends_a_wait() {
        // Servers that send nothing until the test ends.
        let silent = || {
            let (release, held) = std::sync::mpsc::channel::<()>();
            let (_server, client) = tls_client(move |server| {
                let _ = held.recv();
                drop(server);
            });
            (release, client)
        };
        let file = Arc::new(tempfile::tempfile().unwrap());
        let (_release, client) = silent();
        let mut copy = TlsCopy::save(client, file.clone(), 0, Duration::from_millis(300), |_| Ok::<_, ()>(()));
        let ended = tokio::time::timeout(WAIT, copy.follow(|_| {})).await.unwrap();
        assert!(matches!(ended.result, Err(Stopped::TimedOut(_))));
        assert!(non_blocking(&ended.stream.unwrap().socket));

        let (_release, client) = silent();
        let mut copy = TlsCopy::save(client, file, 0, WAIT, |_| Ok::<_, ()>(()));
        let started = Instant::now();
        let ended = tokio::time::timeout(WAIT, copy.stop()).await.unwrap();
        assert!(matches!(ended.result, Err(Stopped::Io(_))));
        assert!(ended.stream.is_some());
        assert!(started.elapsed() < Duration::from_secs(2), "stopped within a wait slice: {:?}", started.elapsed());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_upload_is_sent_from_its_offset_encrypted_and_counted() {
        let (server, client) = tls_client(receive_all);
        let sent = data(3 * CHUNK + 4321);
        let mut file = file_with_prefix();
        std::io::Write::write_all(&mut file, &sent).unwrap();
        let (counted, meter) = counting_meter();
        let mut copy = TlsCopy::send(client, Arc::new(file), KEEP.len() as u64, WAIT, meter);
        let mut reported = 0;
        let ended = copy.follow(|n| reported += n).await;
        assert!(ended.result.is_ok());
        let client = ended.stream.expect("the stream comes back for the final reply");
        assert!(non_blocking(&client.socket), "the socket is non-blocking again");
        assert_eq!(reported, sent.len() as u64, "progress saw every byte");
        assert_eq!(*counted.lock().unwrap(), sent.len());
        client.close();
        assert!(server.join().unwrap() == sent, "the server decrypted the file after the offset");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_count_stops_an_upload_before_the_bytes_are_sent() {
        let (server, client) = tls_client(receive_all);
        let file = Arc::new(tempfile::tempfile().unwrap());
        file.set_len(CHUNK as u64).unwrap();
        let mut copy = TlsCopy::send(client, file, 0, WAIT, |_| Err("over budget"));
        let ended = copy.follow(|_| {}).await;
        assert!(matches!(ended.result, Err(Stopped::Counted("over budget"))));
        ended.stream.unwrap().close();
        assert!(server.join().unwrap().is_empty(), "nothing was sent");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_upload_nobody_reads_times_out_and_leaves_the_socket_non_blocking() {
        let (release, held) = std::sync::mpsc::channel::<()>();
        // The server reads nothing until the test ends.
        let (_server, client) = tls_client(move |server| {
            let _ = held.recv();
            drop(server);
        });
        // More than loopback's socket buffers hold.
        let file = Arc::new(tempfile::tempfile().unwrap());
        file.set_len(256 * CHUNK as u64).unwrap();
        let started = Instant::now();
        let mut copy = TlsCopy::send(client, file, 0, Duration::from_millis(300), |_| Ok::<_, ()>(()));
        let ended = tokio::time::timeout(WAIT, copy.follow(|_| {})).await.unwrap();
        assert!(matches!(ended.result, Err(Stopped::TimedOut(_))));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(non_blocking(&ended.stream.unwrap().socket));
        drop(release);
    }
}
