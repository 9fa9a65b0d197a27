//! A TLS transfer moved between its data connection and a granted file
//! (`download.save-to`, `upload.send-from`) by one blocking-pool thread,
//! the socket out of the runtime's reactor meanwhile ([`Detached`]):
//!
//! * a download is received a [`CHUNK`] at most per `recv`, handed to
//!   rustls to decrypt, and written at its offset up to a [`CHUNK`] at a
//!   time;
//! * an upload is read from the file a [`CHUNK`] at a time and handed to
//!   rustls, which encrypts it into records that blocking `send`s put on
//!   the connection, as a plain upload's are.
//!
//! The pump with a file stream (what a guest's `splice` loop uses) keeps two
//! threads busy: the pump on the runtime and the file stream on the
//! blocking pool. Where the server shares the client's cores, that second
//! thread takes CPU time from the server, which then waits for a CPU
//! instead of moving bytes. One thread left the server waiting about a
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

use std::io::{self, Read, Write};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Duration;

use rustix::net::{recv, RecvFlags};
use suppaftp::tokio::{AsyncDataStream, AsyncRustlsStream, TokioTlsStream, TransferStream};
use tokio::runtime::Handle;

use super::mover::{send_file, Caller, Detached, SendTo, Shared};
use super::pump::{join, Ended, Stopped, Task, CHUNK};

/// What a copy's thread needs of a TLS data connection: the runtime's
/// stream of its socket, and the rustls connection that encrypts and
/// decrypts for it.
pub trait TlsParts {
    /// `None` on a plain connection.
    fn parts(&mut self) -> Option<(&mut tokio::net::TcpStream, &mut rustls::ClientConnection)>;
}

impl TlsParts for TransferStream<AsyncRustlsStream> {
    fn parts(&mut self) -> Option<(&mut tokio::net::TcpStream, &mut rustls::ClientConnection)> {
        match self.get_mut() {
            AsyncDataStream::Ssl(tls) => {
                let (tcp, conn) = tls.mut_ref().get_mut();
                Some((tcp, conn))
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
    S: TlsParts + Send + 'static,
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
        mut stream: S,
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
        let runtime = Handle::current();
        let task = tokio::task::spawn_blocking(move || {
            let result = match stream.parts() {
                Some((tcp, conn)) => match Detached::new(tcp, &runtime) {
                    Ok(detached) => copy(thread, detached.socket(), conn),
                    Err(e) => Err(Stopped::Io(e)),
                },
                None => Err(Stopped::Io(io::Error::other("a TLS copy's thread was given a plain connection"))),
            };
            (stream, result)
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
        let mut received = Received { buf: vec![0; CHUNK], at: 0, end: 0 };
        let mut plain = vec![0; CHUNK];
        loop {
            self.shared.go_on()?;
            let (n, ended) = self.decrypt_chunk(socket, conn, &mut received, &mut plain)?;
            (self.meter)(n).map_err(Stopped::Counted)?;
            file.write_all_at(&plain[..n], offset).map_err(Stopped::Local)?;
            offset += n as u64;
            self.shared.add(n);
            match ended {
                Some(Ok(())) => return Ok(()),
                Some(Err(e)) => return Err(Stopped::Io(e)),
                None => {}
            }
        }
    }

    /// Decrypt into `plain` what arrives: wait for the first bytes, then
    /// take whatever else is already there without waiting, until `plain`
    /// is full. The bytes decrypted, and whether the data ended: cleanly
    /// (close_notify) or with a failure after those bytes.
    fn decrypt_chunk(
        &self,
        socket: BorrowedFd<'_>,
        conn: &mut rustls::ClientConnection,
        received: &mut Received,
        plain: &mut [u8],
    ) -> Result<(usize, Option<io::Result<()>>), Stopped<E>> {
        let mut n = 0;
        loop {
            match conn.reader().read(&mut plain[n..]) {
                Ok(0) => return Ok((n, Some(Ok(())))),
                Ok(m) => {
                    n += m;
                    if n == plain.len() {
                        return Ok((n, None));
                    }
                    continue;
                }
                // rustls needs more of the connection's bytes.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // Such as an end without close_notify.
                Err(e) => return Ok((n, Some(Err(e)))),
            }
            if received.is_empty() {
                let got = match n {
                    0 => Ok(self.shared.wait_for(self.timeout, || received.receive(socket, RecvFlags::empty()))?),
                    _ => match received.receive(socket, RecvFlags::DONTWAIT) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((n, None)),
                        got => got,
                    },
                };
                if let Err(e) = got {
                    return Ok((n, Some(Err(e))));
                }
            }
            if let Err(e) = received.hand_to(conn) {
                // Tell the server why, if the socket takes it at once.
                let _ = conn.write_tls(&mut SendTo(socket));
                return Ok((n, Some(Err(e))));
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
        let mut to = SendTo(socket);
        send_file(&shared, file, offset, &mut meter, |chunk| {
            let mut taken = 0;
            while taken < chunk.len() {
                // rustls takes what its buffer limit allows (64 KiB by
                // default): a few records, sent before it takes more.
                taken += conn.writer().write(&chunk[taken..]).map_err(Stopped::Io)?;
                shared.send_until(timeout, || {
                    conn.write_tls(&mut to)?;
                    Ok(!conn.wants_write())
                })?;
            }
            Ok(())
        })
        .map(drop)
    }
}

/// What one `recv` brought and rustls has not taken yet.
struct Received {
    buf: Vec<u8>,
    at: usize,
    end: usize,
}

impl Received {
    fn is_empty(&self) -> bool {
        self.at == self.end
    }

    /// Receive what has arrived, up to the buffer's size; none at the end
    /// of the connection.
    fn receive(&mut self, socket: BorrowedFd<'_>, flags: RecvFlags) -> io::Result<()> {
        let (n, _) = recv(socket, &mut self.buf[..], flags)?;
        (self.at, self.end) = (0, n);
        Ok(())
    }

    /// Hand rustls what it takes of the bytes received (at most a record's
    /// worth per call; none, the end of the connection) and have it
    /// decrypt them.
    fn hand_to(&mut self, conn: &mut rustls::ClientConnection) -> io::Result<()> {
        let mut rest = &self.buf[self.at..self.end];
        self.at += conn.read_tls(&mut rest)?;
        conn.process_new_packets().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{
        assert_saved, counting_meter, data, file_with_prefix, non_blocking, receive_all, tls_connection, TlsServer,
        KEEP,
    };
    use super::*;
    use std::time::Instant;

    const WAIT: Duration = Duration::from_secs(10);

    /// The client's side of a TLS connection, as a copy's thread takes it.
    struct Client {
        socket: tokio::net::TcpStream,
        conn: rustls::ClientConnection,
    }

    impl TlsParts for Client {
        fn parts(&mut self) -> Option<(&mut tokio::net::TcpStream, &mut rustls::ClientConnection)> {
            Some((&mut self.socket, &mut self.conn))
        }
    }

    impl Client {
        /// End the connection as a transfer's `finish` does: close_notify,
        /// the write side shut, and what the server sent (TLS 1.3 session
        /// tickets) read until it closes, so the close resets nothing
        /// still unsent.
        fn close(mut self) {
            self.conn.send_close_notify();
            let mut socket = self.socket.into_std().expect("the stream is the runtime's again");
            socket.set_nonblocking(false).unwrap();
            while self.conn.wants_write() {
                self.conn.write_tls(&mut socket).unwrap();
            }
            socket.shutdown(std::net::Shutdown::Write).unwrap();
            let _ = std::io::Read::read_to_end(&mut socket, &mut Vec::new());
        }
    }

    /// A TLS connection whose server runs `serve` on its own thread.
    fn tls_client<T: Send + 'static>(
        serve: impl FnOnce(TlsServer) -> T + Send + 'static,
    ) -> (std::thread::JoinHandle<T>, Client) {
        let (server, socket, conn) = tls_connection(serve);
        (server, Client { socket: tokio::net::TcpStream::from_std(socket).unwrap(), conn })
    }

    /// A server that sends `bytes`, then close_notify, and closes.
    fn sending(bytes: Vec<u8>) -> impl FnOnce(TlsServer) + Send + 'static {
        move |mut server| {
            server.write_all(&bytes).unwrap();
            server.conn.send_close_notify();
            server.flush().unwrap();
        }
    }

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
