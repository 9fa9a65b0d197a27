//! A transfer's bytes on the wire, moved by a thread that has its data
//! socket to itself ([`super::mover::Detached`]): plain, or through rustls.
//! The threads of `save-to` and `send-from` ([`super::plain_copy`],
//! [`super::tls_copy`]) and of a body's read-ahead and write-behind
//! ([`super::pump`]) all receive and send with it.
//!
//! * [`Receiver`] waits for the first bytes, then takes whatever else has
//!   already arrived without waiting, until the buffer is full: few, large
//!   chunks, and one wake-up of the thread per burst rather than per TLS
//!   record.
//! * [`Sender`] puts a whole chunk on the connection with blocking sends.
//!   A blocking send waits in the kernel, woken as the server acknowledges,
//!   where a task on the runtime waited for readiness and wrote again for
//!   each few KiB the socket takes.

use std::io::{self, BufRead, Write};
use std::os::fd::BorrowedFd;
use std::time::Duration;

use bytes::BytesMut;
use rustix::net::{recv, RecvFlags};

use super::mover::{SendTo, Shared};
use super::pump::{Stopped, CHUNK};

/// What a thread needs of a data connection: the runtime's stream of its
/// socket, and the rustls connection that encrypts and decrypts for it
/// when it is a TLS one.
pub trait DataParts {
    fn parts(&mut self) -> (&mut tokio::net::TcpStream, Option<&mut rustls::ClientConnection>);
}

impl DataParts for suppaftp::tokio::TransferStream<suppaftp::tokio::AsyncRustlsStream> {
    fn parts(&mut self) -> (&mut tokio::net::TcpStream, Option<&mut rustls::ClientConnection>) {
        use suppaftp::tokio::{AsyncDataStream, TokioTlsStream};
        match self.get_mut() {
            AsyncDataStream::Ssl(tls) => {
                let (tcp, conn) = tls.mut_ref().get_mut();
                (tcp, Some(conn))
            }
            AsyncDataStream::Tcp(tcp) => (tcp, None),
        }
    }
}

impl DataParts for tokio::net::TcpStream {
    fn parts(&mut self) -> (&mut tokio::net::TcpStream, Option<&mut rustls::ClientConnection>) {
        (self, None)
    }
}

/// Most bytes a plain upload leaves unsent in its socket
/// (`TCP_NOTSENT_LOWAT`), raised from the data connection's
/// `DATA_NOTSENT_LOWAT` (32 KiB, `dial.rs`) by [`Sender::new`].
///
/// A blocking send of a chunk returns once the socket's unsent bytes fall
/// below the mark; the thread then fetches the next chunk (reads the file,
/// for `send-from`; waits for the guest's next write, for a body's
/// write-behind) before it sends again. At ~2 GB/s on loopback 32 KiB
/// drain in ~16 µs, a tenth of reading a MiB from tmpfs (150–210 µs), so
/// the socket had nothing left to send for most of it; and a write-behind's
/// thread, sending without a pause, slept and woke in the kernel's wait
/// for room many times per MiB. With 256 KiB:
/// - `send-from` uploads ran 18% (proftpd) and 24% (vsftpd) faster, the
///   client spending 12–15% less CPU per GiB and the server 6–10% less;
///   128 KiB and 1 MiB were faster than 32 KiB too, and apart from 256 KiB
///   by no more than the rounds' spread;
/// - a guest's `splice` into a body ran 14% and 16% faster, client and
///   server each spending less; a guest writing from its memory spent
///   11–15% less CPU per GiB, as fast against proftpd (whose CPU per GiB
///   rose 0.08 s) and 6% faster against vsftpd
///   (bench/ANALYSIS-2026-12-06-send-backlog.md, sections 1, 2 and 7).
///
/// TLS uploads keep 32 KiB: 128 and 256 KiB did not make them faster.
pub const PLAIN_SEND_NOTSENT_LOWAT: u32 = 256 * 1024;

/// An upload sent on a detached, blocking socket.
pub struct Sender<'a> {
    to: SendTo<'a>,
    /// A TLS connection's rustls side.
    conn: Option<&'a mut rustls::ClientConnection>,
}

impl<'a> Sender<'a> {
    /// A plain connection's socket gets [`PLAIN_SEND_NOTSENT_LOWAT`], left
    /// so afterwards: an upload ends by closing the connection. A socket
    /// without the option still moves every byte.
    pub fn new(socket: BorrowedFd<'a>, conn: Option<&'a mut rustls::ClientConnection>) -> Self {
        if conn.is_none() {
            let _ = socket2::SockRef::from(&socket).set_tcp_notsent_lowat(PLAIN_SEND_NOTSENT_LOWAT);
        }
        Sender { to: SendTo(socket), conn }
    }

    /// Put all of `chunk` on the connection, encrypted under TLS; each
    /// wait for the server to take bytes is bounded by `timeout`, in
    /// `shared`'s slices.
    pub fn send<E>(&mut self, shared: &Shared, timeout: Duration, chunk: &[u8]) -> Result<(), Stopped<E>> {
        let to = &mut self.to;
        let Some(conn) = &mut self.conn else {
            let mut sent = 0;
            return shared.send_until(timeout, || {
                sent += to.write(&chunk[sent..])?;
                Ok(sent == chunk.len())
            });
        };
        let mut taken = 0;
        while taken < chunk.len() {
            // rustls takes what its buffer limit allows (64 KiB by
            // default): a few records, sent before it takes more.
            taken += conn.writer().write(&chunk[taken..]).map_err(Stopped::Io)?;
            shared.send_until(timeout, || {
                conn.write_tls(to)?;
                Ok(!conn.wants_write())
            })?;
        }
        Ok(())
    }
}

/// A download received on a detached, blocking socket.
pub struct Receiver<'a> {
    socket: BorrowedFd<'a>,
    /// A TLS connection's rustls side, and what it has not taken yet.
    tls: Option<(&'a mut rustls::ClientConnection, Received)>,
}

impl<'a> Receiver<'a> {
    pub fn new(socket: BorrowedFd<'a>, conn: Option<&'a mut rustls::ClientConnection>) -> Self {
        let tls = conn.map(|conn| (conn, Received { buf: vec![0; CHUNK], at: 0, end: 0 }));
        Receiver { socket, tls }
    }

    /// Fill `buf`'s spare room with what arrives: wait (bounded by
    /// `timeout`, in `shared`'s slices) for the first bytes, then take what
    /// else is already there. Whether the data ended after the bytes
    /// added: cleanly (`Some(Ok)`: the server closed, after its
    /// close_notify under TLS) or not (`Some(Err)`, such as an end without
    /// close_notify). A failure before any byte arrived ends the transfer.
    pub fn receive<E>(
        &mut self,
        shared: &Shared,
        timeout: Duration,
        buf: &mut BytesMut,
    ) -> Result<Option<io::Result<()>>, Stopped<E>> {
        let socket = self.socket;
        match &mut self.tls {
            None => receive_plain(socket, shared, timeout, buf),
            Some((conn, received)) => decrypt(socket, conn, received, shared, timeout, buf),
        }
    }
}

fn receive_plain<E>(
    socket: BorrowedFd<'_>,
    shared: &Shared,
    timeout: Duration,
    buf: &mut BytesMut,
) -> Result<Option<io::Result<()>>, Stopped<E>> {
    if shared.wait_for(timeout, || recv_into(socket, buf, RecvFlags::empty()))? == 0 {
        return Ok(Some(Ok(())));
    }
    while buf.len() < buf.capacity() {
        match recv_into(socket, buf, RecvFlags::DONTWAIT) {
            Ok(0) => return Ok(Some(Ok(()))),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Ok(Some(Err(e))),
        }
    }
    Ok(None)
}

/// Receive into `buf`'s spare room without zeroing it first; the bytes
/// received (none at the end of the connection).
fn recv_into(socket: BorrowedFd<'_>, buf: &mut BytesMut, flags: RecvFlags) -> io::Result<usize> {
    let ((got, _), _) = recv(socket, buf.spare_capacity_mut(), flags)?;
    let n = got.len();
    // SAFETY: `recv` initialised the first `n` bytes of the spare room.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

fn decrypt<E>(
    socket: BorrowedFd<'_>,
    conn: &mut rustls::ClientConnection,
    received: &mut Received,
    shared: &Shared,
    timeout: Duration,
    buf: &mut BytesMut,
) -> Result<Option<io::Result<()>>, Stopped<E>> {
    let start = buf.len();
    loop {
        let mut reader = conn.reader();
        match reader.fill_buf() {
            Ok([]) => return Ok(Some(Ok(()))),
            Ok(plain) => {
                let n = plain.len().min(buf.capacity() - buf.len());
                buf.extend_from_slice(&plain[..n]);
                reader.consume(n);
                if buf.len() == buf.capacity() {
                    return Ok(None);
                }
                continue;
            }
            // rustls needs more of the connection's bytes.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // Such as an end without close_notify.
            Err(e) => return Ok(Some(Err(e))),
        }
        if received.is_empty() {
            let got = match buf.len() > start {
                false => Ok(shared.wait_for(timeout, || received.receive(socket, RecvFlags::empty()))?),
                true => match received.receive(socket, RecvFlags::DONTWAIT) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                    got => got,
                },
            };
            if let Err(e) = got {
                return Ok(Some(Err(e)));
            }
        }
        if let Err(e) = received.hand_to(conn) {
            // Tell the server why, if the socket takes it at once.
            let _ = conn.write_tls(&mut SendTo(socket));
            return Ok(Some(Err(e)));
        }
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
