//! A TLS transfer moved between its data connection and a granted file
//! (`download.save-to`, `upload.send-from`) by one blocking-pool thread:
//!
//! * a download is read from the connection (rustls decrypts as it reads)
//!   up to [`CHUNK`], written at its offset, and read again;
//! * an upload is read from the file a [`CHUNK`] at a time and handed to
//!   rustls, which encrypts it into records that blocking `send`s put on
//!   the connection ([`blocking_sends`]), as a plain upload's are.
//!
//! The pump with a file stream (what a guest's `splice` loop uses) keeps two
//! threads busy: the pump on the runtime and the file stream on the
//! blocking pool. Where the server shares the client's cores, that second
//! thread takes CPU time from the server, which then waits for a CPU
//! instead of moving bytes. One thread left the server waiting about a
//! quarter as long on downloads, and spent less CPU per byte in both
//! directions; uploads also ran faster
//! (bench/ANALYSIS-2026-12-05-tls-save.md, bench/ANALYSIS-2026-12-05-tls-send.md).
//!
//! The thread owns the stream until the transfer ends; [`TlsCopy::join`]
//! then gives it back for the final reply. A download's reads run on the
//! runtime's I/O driver through `Handle::block_on` (on a current-thread
//! runtime, the thread awaiting the copy drives it); an upload's sends
//! block in the kernel, on the connection's socket made blocking while the
//! thread has it. Each wait is bounded by the transfer's timeout and cut
//! into [`STOP_CHECK`] slices, so a copy that is stopped or dropped ends
//! soon; a dropped copy's thread closes the connection. Every byte is
//! counted by the caller's meter before it reaches the file or the
//! connection. Plain transfers never come here: [`super::plain_copy`]
//! moves them.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::FutureExt;
use suppaftp::tokio::{AsyncDataStream, AsyncRustlsStream, TokioTlsStream, TransferStream};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::runtime::Handle;

use super::mover::{blocking_sends, send_file, Caller, SendTo, Shared, STOP_CHECK};
use super::pump::{join, Ended, Stopped, Task, CHUNK};

/// What an upload's thread needs of a TLS data connection: the socket, and
/// the rustls connection that encrypts for it.
pub trait TlsParts {
    /// `None` on a plain connection.
    fn parts(&mut self) -> Option<(BorrowedFd<'_>, &mut rustls::ClientConnection)>;
}

impl TlsParts for TransferStream<AsyncRustlsStream> {
    fn parts(&mut self) -> Option<(BorrowedFd<'_>, &mut rustls::ClientConnection)> {
        match self.get_mut() {
            AsyncDataStream::Ssl(tls) => {
                let (tcp, conn) = tls.mut_ref().get_mut();
                let tcp: &tokio::net::TcpStream = tcp;
                Some((tcp.as_fd(), conn))
            }
            AsyncDataStream::Tcp(_) => None,
        }
    }
}

/// A TLS transfer being moved by its thread.
pub struct TlsCopy<S, E> {
    task: Option<Task<S, E>>,
    /// Dropped with the copy, it stops the thread.
    caller: Caller,
}

impl<S, E> TlsCopy<S, E>
where
    S: Send + 'static,
    E: Send + 'static,
{
    /// Start saving the rest of `stream` into `file` from `offset` on, until
    /// the server ends the data. `meter` is called with every read's byte
    /// count; `timeout` bounds each wait for bytes.
    pub fn save<M>(stream: S, file: Arc<std::fs::File>, offset: u64, timeout: Duration, meter: M) -> Self
    where
        S: AsyncRead + Unpin,
        M: FnMut(usize) -> Result<(), E> + Send + 'static,
    {
        Self::spawn(timeout, meter, move |thread| thread.save(stream, &file, offset))
    }

    /// Start sending `file` from `offset` on over `stream`, until the file
    /// ends. `meter` is called with every chunk's byte count before it is
    /// encrypted; `timeout` bounds each wait for the server to take bytes.
    pub fn send<M>(stream: S, file: Arc<std::fs::File>, offset: u64, timeout: Duration, meter: M) -> Self
    where
        S: TlsParts,
        M: FnMut(usize) -> Result<(), E> + Send + 'static,
    {
        Self::spawn(timeout, meter, move |thread| thread.send(stream, &file, offset))
    }

    fn spawn<M>(
        timeout: Duration,
        meter: M,
        run: impl FnOnce(Thread<M>) -> (S, Result<(), Stopped<E>>) + Send + 'static,
    ) -> Self
    where
        M: FnMut(usize) -> Result<(), E> + Send + 'static,
    {
        let (caller, shared) = Caller::new();
        let thread = Thread { shared, runtime: Handle::current(), timeout, meter };
        let task = tokio::task::spawn_blocking(move || run(thread));
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
    runtime: Handle,
    timeout: Duration,
    meter: M,
}

impl<M, E> Thread<M>
where
    M: FnMut(usize) -> Result<(), E>,
{
    fn save<S: AsyncRead + Unpin>(
        mut self,
        mut stream: S,
        file: &std::fs::File,
        offset: u64,
    ) -> (S, Result<(), Stopped<E>>) {
        let result = self.save_all(&mut stream, file, offset);
        (stream, result)
    }

    fn save_all<S: AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
        file: &std::fs::File,
        mut offset: u64,
    ) -> Result<(), Stopped<E>> {
        let mut buf = BytesMut::with_capacity(CHUNK);
        loop {
            buf.clear();
            let (at_end, failed) = self.read_chunk(stream, &mut buf)?;
            (self.meter)(buf.len()).map_err(Stopped::Counted)?;
            file.write_all_at(&buf, offset).map_err(Stopped::Local)?;
            offset += buf.len() as u64;
            self.shared.add(buf.len());
            match failed {
                Some(e) => return Err(Stopped::Io(e)),
                None if at_end => return Ok(()),
                None => {}
            }
        }
    }

    /// Wait for the next bytes, then take whatever else is already there
    /// without waiting (TLS hands out one record per read), up to a chunk:
    /// whether the data ended, and a failure after some bytes were read.
    fn read_chunk<S: AsyncRead + Unpin>(
        &self,
        stream: &mut S,
        buf: &mut BytesMut,
    ) -> Result<(bool, Option<io::Error>), Stopped<E>> {
        let since = Instant::now();
        let first = loop {
            let slice = self.shared.keep_waiting(since, self.timeout)?.min(STOP_CHECK);
            if let Ok(read) = self.runtime.block_on(tokio::time::timeout(slice, stream.read_buf(buf))) {
                break read;
            }
        };
        match first {
            Ok(0) => return Ok((true, None)),
            Ok(_) => {}
            Err(e) => return Err(Stopped::Io(e)),
        }
        let _entered = self.runtime.enter();
        while buf.len() < buf.capacity() {
            match stream.read_buf(buf).now_or_never() {
                Some(Ok(0)) => return Ok((true, None)),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Ok((false, Some(e))),
                None => break,
            }
        }
        Ok((false, None))
    }

    /// Send `file` from `offset` on, the socket blocking meanwhile.
    fn send<S: TlsParts>(self, mut stream: S, file: &std::fs::File, offset: u64) -> (S, Result<(), Stopped<E>>) {
        let Thread { shared, timeout, mut meter, .. } = self;
        let result = match stream.parts() {
            Some((socket, conn)) => {
                let mut to = SendTo(socket);
                blocking_sends(socket, || {
                    send_file(&shared, file, offset, &mut meter, |chunk| {
                        let mut taken = 0;
                        while taken < chunk.len() {
                            // rustls takes what its buffer limit allows (64 KiB
                            // by default): a few records, sent before it takes more.
                            taken += conn.writer().write(&chunk[taken..]).map_err(Stopped::Io)?;
                            shared.send_until(timeout, || {
                                conn.write_tls(&mut to)?;
                                Ok(!conn.wants_write())
                            })?;
                        }
                        Ok(())
                    })
                })
                .map(drop)
            }
            None => Err(Stopped::Io(io::Error::other("a TLS upload's thread was given a plain connection"))),
        };
        (stream, result)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{
        assert_saved, connection, counting_meter, data, file_with_prefix, non_blocking, receive_all, serve,
        tls_connection, TlsServer, KEEP,
    };
    use super::*;
    use tokio::io::AsyncWriteExt;

    const WAIT: Duration = Duration::from_secs(10);

    // A current-thread runtime, as an embedder may run the host: its one
    // thread drives the connection's I/O while it awaits the copy.
    #[tokio::test]
    async fn every_byte_lands_at_its_offset_is_counted_and_the_stream_comes_back() {
        let (server, client) = connection().await;
        let sent = data(3 * CHUNK + 4321);
        let writer = serve(server, sent.clone());
        let (counted, meter) = counting_meter();
        let file = Arc::new(file_with_prefix());
        let mut copy = TlsCopy::save(client, file.clone(), KEEP.len() as u64, WAIT, meter);
        let mut reported = 0;
        let ended = copy.follow(|n| reported += n).await;
        writer.await.unwrap();
        assert!(ended.result.is_ok());
        assert!(ended.stream.is_some(), "the stream comes back for the final reply");
        assert_eq!(reported, sent.len() as u64, "progress saw every byte");
        assert_eq!(copy.progress(), 0, "progress reports each byte once");
        assert_eq!(*counted.lock().unwrap(), sent.len());
        assert_saved(&file, &sent);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_count_stops_before_the_bytes_reach_the_file() {
        let (mut server, client) = connection().await;
        server.write_all(&data(1000)).await.unwrap();
        let file = Arc::new(tempfile::tempfile().unwrap());
        let mut copy = TlsCopy::save(client, file.clone(), 0, WAIT, |_| Err("over budget"));
        let ended = copy.follow(|_| {}).await;
        assert!(matches!(ended.result, Err(Stopped::Counted("over budget"))));
        assert_eq!(file.metadata().unwrap().len(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_server_times_out_and_stop_ends_a_wait() {
        let (_server, client) = connection().await;
        let file = Arc::new(tempfile::tempfile().unwrap());
        let mut copy = TlsCopy::save(client, file.clone(), 0, Duration::from_millis(300), |_| Ok::<_, ()>(()));
        let ended = tokio::time::timeout(WAIT, copy.follow(|_| {})).await.unwrap();
        assert!(matches!(ended.result, Err(Stopped::TimedOut(_))));

        let (_server, client) = connection().await;
        let mut copy = TlsCopy::save(client, file, 0, WAIT, |_| Ok::<_, ()>(()));
        let started = Instant::now();
        let ended = tokio::time::timeout(WAIT, copy.stop()).await.unwrap();
        assert!(matches!(ended.result, Err(Stopped::Io(_))));
        assert!(ended.stream.is_some());
        assert!(started.elapsed() < Duration::from_secs(2), "stopped within a wait slice: {:?}", started.elapsed());
    }

    /// The client's side of a TLS connection, as an upload's thread takes it.
    struct Client {
        socket: std::net::TcpStream,
        conn: rustls::ClientConnection,
    }

    impl TlsParts for Client {
        fn parts(&mut self) -> Option<(BorrowedFd<'_>, &mut rustls::ClientConnection)> {
            Some((self.socket.as_fd(), &mut self.conn))
        }
    }

    impl Client {
        /// End the connection as a transfer's `finish` does: close_notify,
        /// the write side shut, and what the server sent (TLS 1.3 session
        /// tickets) read until it closes, so the close resets nothing
        /// still unsent.
        fn close(mut self) {
            self.conn.send_close_notify();
            self.socket.set_nonblocking(false).unwrap();
            while self.conn.wants_write() {
                self.conn.write_tls(&mut self.socket).unwrap();
            }
            self.socket.shutdown(std::net::Shutdown::Write).unwrap();
            let _ = std::io::Read::read_to_end(&mut self.socket, &mut Vec::new());
        }
    }

    fn tls_client<T: Send + 'static>(
        serve: impl FnOnce(TlsServer) -> T + Send + 'static,
    ) -> (std::thread::JoinHandle<T>, Client) {
        let (server, socket, conn) = tls_connection(serve);
        (server, Client { socket, conn })
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
