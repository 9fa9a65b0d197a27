//! Read-ahead and write-behind on a data connection (R2 of issue 15): a
//! thread per transfer moves bytes between the connection and a queue
//! bounded in bytes, so the network stays busy while the guest (or the file
//! it splices with) works.
//!
//! Without it a download reads the socket only when the guest asks, and an
//! upload sends only when the guest waits: socket and file take turns, and
//! under TLS decryption never overlaps the file writes.
//!
//! This module owns the data connection while a transfer moves bytes, and
//! nothing else: the transfer ([`super::transfer`]) keeps its control
//! connection, its session slot, its failure and its final reply. Both pumps
//! - run on a blocking-pool thread that has the socket to itself
//!   ([`super::mover::spawn_detached`]) and moves the bytes with
//!   [`super::wire`], as `save-to` and `send-from` do; so each transfer in
//!   flight holds a thread of the runtime's blocking pool (512 by default)
//!   until it ends;
//! - hold at most [`QUEUE_BYTES`] queued, plus one read of at most [`CHUNK`];
//! - call the caller's meter with every byte that crosses the connection,
//!   as it crosses (bytes read ahead and never taken count too); a meter
//!   error stops the pump and is carried to the caller;
//! - are cancel-safe: every `async fn` here can be dropped at an `.await`
//!   and called again without losing or repeating bytes (bytes a writer
//!   accepted belong to its thread until they are sent);
//! - give the stream back when they end, so the caller can read the
//!   server's final reply; a pump dropped without ending stops its thread
//!   within a [`STOP_CHECK`](super::mover::STOP_CHECK) slice, and the
//!   connection is closed with it.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

use super::mover::{spawn_detached, Caller, Shared};
use super::wire::{DataParts, Receiver, Sender};
use crate::read_buffers::ReadBuffers;

/// Most bytes one read from the connection takes, and the most one write to
/// a [`Writer`] may hand over: large enough that a guest's `splice` loop
/// makes few calls, small enough to bound the host's memory per transfer.
pub const CHUNK: usize = 1024 * 1024;

/// Most bytes queued between a pump's task and its caller: four chunks, so
/// the connection keeps moving for a few chunks while the guest or its file
/// is slow, and a transfer's queue stays a few MiB however large the file.
pub const QUEUE_BYTES: usize = 4 * CHUNK;

/// A read buffer with less spare room than this is replaced by a fresh
/// [`CHUNK`]: chunks are split off one allocation, so a connection that
/// hands out small reads (TLS records) does not pin a whole chunk each.
const MIN_READ_ROOM: usize = 64 * 1024;

/// Why a pump stopped early.
#[derive(Debug)]
pub enum Stopped<E> {
    /// The connection failed.
    Io(io::Error),
    /// One read or write waited longer than the pump's timeout.
    TimedOut(Duration),
    /// The meter refused the bytes (e.g. the run's byte budget ran out).
    Counted(E),
    /// The local file failed (a [`super::plain_copy`], never a pump).
    Local(io::Error),
}

/// How a pump ended: the stream (unless its task panicked) and whether the
/// data moved in full.
pub struct Ended<S, E> {
    /// The data connection, for the transfer's final reply.
    pub stream: Option<S>,
    /// `Ok`: a download read to its end (or was stopped), or an upload sent
    /// everything.
    pub result: Result<(), Stopped<E>>,
}

pub(super) type Task<S, E> = JoinHandle<(S, Result<(), Stopped<E>>)>;

/// Take the result of a finished task, or wait for it. Cancel-safe: the
/// handle stays in place until it yields.
pub(super) async fn join<S, E>(task: &mut Option<Task<S, E>>) -> Ended<S, E> {
    let Some(handle) = task.as_mut() else {
        return Ended { stream: None, result: Ok(()) };
    };
    let joined = handle.await;
    *task = None;
    match joined {
        Ok((stream, result)) => Ended { stream: Some(stream), result },
        Err(e) => Ended { stream: None, result: Err(Stopped::Io(io::Error::other(e))) },
    }
}

/// Semaphore permits for `n` bytes (`n` is at most [`QUEUE_BYTES`]).
fn permits(n: usize) -> u32 {
    u32::try_from(n).expect("queue sizes fit in u32")
}

// ---- read-ahead ------------------------------------------------------------

/// What [`Reader::next`] yields.
pub enum Next<S, E> {
    /// The next bytes of the download, in order (never empty).
    Chunk(Bytes),
    /// Nothing more: the pump ended (at the end of the data or not).
    End(Ended<S, E>),
}

/// A download's read-ahead: a blocking-pool thread receives the data
/// connection's bytes, its socket out of the runtime's reactor meanwhile
/// ([`spawn_detached`]), and queues them for [`next`](Self::next).
///
/// On the runtime the reactor woke a worker for every segment that
/// arrived, and under TLS the task read one record per wake-up; beside the
/// guest's own thread that took the server's CPU on loopback, as it did
/// for `save-to` (bench/ANALYSIS-2026-12-05-reactor.md). The thread is
/// woken by the kernel, takes what arrived (decrypting it), and wakes the
/// caller once per chunk.
pub struct Reader<S, E> {
    chunks: mpsc::UnboundedReceiver<Bytes>,
    /// Free bytes of the queue; closed to stop the thread.
    room: Arc<Semaphore>,
    /// Dropped with the reader, it stops the thread.
    caller: Caller,
    task: Option<Task<S, E>>,
}

impl<S, E> Reader<S, E>
where
    S: DataParts + Send + 'static,
    E: Send + 'static,
{
    /// Start reading `stream` ahead. `meter` is called with every read's
    /// byte count; `timeout` bounds each wait for bytes.
    pub fn spawn<M>(stream: S, meter: M, timeout: Duration) -> Self
    where
        M: FnMut(usize) -> Result<(), E> + Send + 'static,
    {
        let (tx, chunks) = mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(QUEUE_BYTES));
        let (caller, shared) = Caller::new();
        let ahead = ReadAhead { chunks: tx, room: room.clone(), shared, meter, timeout, runtime: Handle::current() };
        let task = spawn_detached(stream, move |socket, conn| ahead.run(Receiver::new(socket, conn)));
        Reader { chunks, room, caller, task: Some(task) }
    }

    /// The next chunk, or how the pump ended. Cancel-safe.
    pub async fn next(&mut self) -> Next<S, E> {
        match self.chunks.recv().await {
            Some(chunk) => {
                self.room.add_permits(chunk.len());
                Next::Chunk(chunk)
            }
            // The thread dropped its sender: it has ended.
            None => Next::End(join(&mut self.task).await),
        }
    }

    /// Stop reading (within a [`STOP_CHECK`](super::mover::STOP_CHECK)
    /// slice) and take the stream back; queued bytes are dropped (they
    /// were counted when read). Cancel-safe.
    pub async fn stop(&mut self) -> Ended<S, E> {
        self.caller.stop();
        self.room.close();
        join(&mut self.task).await
    }
}

impl<S, E> Drop for Reader<S, E> {
    fn drop(&mut self) {
        // The caller, dropped next, stops a wait for bytes; this one for room.
        self.room.close();
    }
}

/// A read-ahead on its thread.
struct ReadAhead<M> {
    chunks: mpsc::UnboundedSender<Bytes>,
    room: Arc<Semaphore>,
    shared: Arc<Shared>,
    meter: M,
    timeout: Duration,
    runtime: Handle,
}

impl<M> ReadAhead<M> {
    /// Receive until the data ends, the caller stops or drops the reader,
    /// or a failure: a stop is not one.
    fn run<E>(mut self, mut receiver: Receiver<'_>) -> Result<(), Stopped<E>>
    where
        M: FnMut(usize) -> Result<(), E>,
    {
        let result = self.receive(&mut receiver);
        match self.shared.go_on::<E>() {
            Ok(()) => result,
            Err(_) => Ok(()),
        }
    }

    fn receive<E>(&mut self, receiver: &mut Receiver<'_>) -> Result<(), Stopped<E>>
    where
        M: FnMut(usize) -> Result<(), E>,
    {
        let mut buffers = ReadBuffers::new(CHUNK);
        let mut buf = BytesMut::new();
        loop {
            // Room for a whole chunk first, so the queue never passes its
            // bound. Waiting here is rare: the caller wakes it per chunk.
            match self.runtime.block_on(self.room.acquire_many(permits(CHUNK))) {
                Ok(permit) => permit.forget(),
                Err(_) => return Ok(()),
            }
            if buf.capacity() < MIN_READ_ROOM {
                buf = buffers.next(std::mem::take(&mut buf));
            }
            let ended = receiver.receive(&self.shared, self.timeout, &mut buf)?;
            let chunk = buf.split().freeze();
            let n = chunk.len();
            self.room.add_permits(CHUNK - n);
            if n > 0 {
                (self.meter)(n).map_err(Stopped::Counted)?;
                if self.chunks.send(chunk).is_err() {
                    return Ok(());
                }
            }
            match ended {
                Some(Ok(())) => return Ok(()),
                Some(Err(e)) => return Err(Stopped::Io(e)),
                None => {}
            }
        }
    }
}

// ---- write-behind ----------------------------------------------------------

/// An upload's write-behind: a blocking-pool thread sends what
/// [`push`](Self::push) queues with blocking sends (encrypting it first
/// under TLS), its socket out of the runtime's reactor meanwhile
/// ([`spawn_detached`]), for the reasons the [`Reader`] has one.
pub struct Writer<S, E> {
    chunks: Option<mpsc::UnboundedSender<Bytes>>,
    /// Free bytes of the queue; closed when the thread ends.
    room: Arc<Semaphore>,
    /// Dropped with the writer, it stops the thread: what is queued then
    /// is not sent.
    _caller: Caller,
    task: Option<Task<S, E>>,
}

impl<S, E> Writer<S, E>
where
    S: DataParts + Send + 'static,
    E: Send + 'static,
{
    /// Start sending to `stream` what [`push`](Self::push) queues. `meter`
    /// is called with every chunk's byte count once it is sent; `timeout`
    /// bounds each wait for the server to take bytes.
    pub fn spawn<M>(stream: S, meter: M, timeout: Duration) -> Self
    where
        M: FnMut(usize) -> Result<(), E> + Send + 'static,
    {
        let (chunks, rx) = mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(QUEUE_BYTES));
        let (caller, shared) = Caller::new();
        let behind = WriteBehind { chunks: rx, room: room.clone(), shared, meter, timeout };
        let task = spawn_detached(stream, move |socket, conn| {
            let _batch = conn.is_none().then(BatchPolicy::enter);
            behind.send(Sender::new(socket, conn))
        });
        Writer { chunks: Some(chunks), room, _caller: caller, task: Some(task) }
    }

    /// How many bytes [`push`](Self::push) accepts now (at most [`CHUNK`]);
    /// 0 until [`ready`](Self::ready) finds room.
    pub fn permit(&self) -> usize {
        if self.chunks.is_none() || self.room.is_closed() {
            return 0;
        }
        self.room.available_permits().min(CHUNK)
    }

    /// Queue `bytes` (at most [`permit`](Self::permit)); gives them back
    /// when there is no room or the writer has ended.
    pub fn push(&mut self, bytes: Bytes) -> Result<(), Bytes> {
        if bytes.is_empty() {
            return Ok(());
        }
        let Some(chunks) = &self.chunks else { return Err(bytes) };
        if bytes.len() > CHUNK {
            return Err(bytes);
        }
        let Ok(permit) = self.room.try_acquire_many(permits(bytes.len())) else { return Err(bytes) };
        permit.forget();
        chunks.send(bytes).map_err(|e| e.0)
    }

    /// Wait until a whole chunk fits; `Some` when the writer ended instead
    /// (it failed). Cancel-safe.
    pub async fn ready(&mut self) -> Option<Ended<S, E>> {
        self.room_for(CHUNK).await
    }

    /// Wait until everything queued was sent; `Some` when the writer ended
    /// instead (it failed). Cancel-safe.
    pub async fn flushed(&mut self) -> Option<Ended<S, E>> {
        self.room_for(QUEUE_BYTES).await
    }

    async fn room_for(&mut self, bytes: usize) -> Option<Ended<S, E>> {
        match self.room.acquire_many(permits(bytes)).await {
            // Dropping the permit gives the room back: this only waits.
            Ok(_room) => None,
            // Closed: the thread is returning.
            Err(_) => Some(join(&mut self.task).await),
        }
    }

    /// The end of a writer that stopped on its own (an error), if it has.
    pub fn ended(&mut self) -> Option<Ended<S, E>> {
        if !self.task.as_ref().is_some_and(|t| t.is_finished()) {
            return None;
        }
        join(&mut self.task).now_or_never()
    }

    /// Send everything queued, then give the stream back. Cancel-safe.
    pub async fn close(&mut self) -> Ended<S, E> {
        self.chunks = None;
        join(&mut self.task).await
    }
}

/// `SCHED_BATCH` for the calling thread while this lives, then
/// `SCHED_OTHER` again (blocking-pool threads are reused). A thread under
/// any other policy, one its embedder chose, is left as it is.
///
/// A plain write-behind's thread sleeps in the kernel's wait for room and
/// is woken by the ACKs the server's reads send. On loopback those are
/// processed in the server's context, and the woken thread preempted the
/// server on its own core: ~1,600 times per GiB of a via-memory upload to
/// proftpd, against ~50 for native suppaftp, whose sender never sleeps on
/// the socket. A batch thread does not preempt on waking and otherwise
/// gets its fair share: the server was preempted ~330 times, and
/// via-memory uploads ran 3–9% faster, b/c round by round 0.75 → 0.85
/// (proftpd) and 0.80 → 0.86 (vsftpd)
/// (bench/ANALYSIS-2026-12-06-send-backlog.md, section 10). Where the
/// policy cannot be set the thread runs as before.
struct BatchPolicy {
    entered: bool,
}

impl BatchPolicy {
    fn enter() -> Self {
        let normal = policy() == libc::SCHED_OTHER;
        BatchPolicy { entered: normal && set_policy(libc::SCHED_BATCH) }
    }
}

impl Drop for BatchPolicy {
    fn drop(&mut self) {
        if self.entered {
            set_policy(libc::SCHED_OTHER);
        }
    }
}

/// The calling thread's scheduling policy.
fn policy() -> libc::c_int {
    // SAFETY: no arguments but pid 0, the calling thread.
    unsafe { libc::sched_getscheduler(0) }
}

/// Set the calling thread's scheduling policy (priority 0, the only one
/// `SCHED_OTHER` and `SCHED_BATCH` have); whether it was set.
fn set_policy(policy: libc::c_int) -> bool {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid `sched_param` for the call's duration;
    // pid 0 is the calling thread.
    unsafe { libc::sched_setscheduler(0, policy, &param) == 0 }
}

/// A write-behind on its thread.
struct WriteBehind<M> {
    chunks: mpsc::UnboundedReceiver<Bytes>,
    room: Arc<Semaphore>,
    shared: Arc<Shared>,
    meter: M,
    timeout: Duration,
}

impl<M> Drop for WriteBehind<M> {
    /// The thread is returning (or never started sending): wake a `ready`
    /// or `flushed` waiting for room that will never come.
    fn drop(&mut self) {
        self.room.close();
    }
}

impl<M> WriteBehind<M> {
    /// Send every chunk queued until the writer is closed (or dropped:
    /// then stop).
    fn send<E>(mut self, mut sender: Sender<'_>) -> Result<(), Stopped<E>>
    where
        M: FnMut(usize) -> Result<(), E>,
    {
        while let Some(bytes) = self.chunks.blocking_recv() {
            self.shared.go_on()?;
            sender.send(&self.shared, self.timeout, &bytes)?;
            self.room.add_permits(bytes.len());
            (self.meter)(bytes.len()).map_err(Stopped::Counted)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::mover::STOP_CHECK;
    use super::super::test_support::{
        connection, counting_meter, data, non_blocking, receive_all, sending, serve, tls_client,
    };
    use super::super::wire::PLAIN_SEND_NOTSENT_LOWAT;
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const WAIT: Duration = Duration::from_secs(10);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reader_delivers_every_byte_in_order_and_counts_it() {
        let sent = data(10 * CHUNK + 123);
        let (server, client) = connection().await;
        let writer = serve(server, sent.clone());
        let (counted, meter) = counting_meter();
        let mut reader = Reader::<_, String>::spawn(client, meter, WAIT);
        let mut got = Vec::new();
        // Interrupt `next` often: no chunk may be lost or repeated.
        loop {
            let next = tokio::select! {
                next = reader.next() => next,
                _ = tokio::task::yield_now() => continue,
            };
            match next {
                Next::Chunk(c) => got.extend_from_slice(&c),
                Next::End(end) => {
                    assert!(end.result.is_ok());
                    let stream = end.stream.expect("the stream comes back for the final reply");
                    assert!(non_blocking(&stream), "the runtime's stream never blocks");
                    assert!(stream.peer_addr().is_ok(), "the stream holds its socket again, not a stand-in");
                    break;
                }
            }
        }
        writer.await.unwrap();
        assert_eq!(got, sent);
        assert_eq!(*counted.lock().unwrap(), sent.len());
    }

    // A current-thread runtime, as an embedder may run the host.
    #[tokio::test]
    async fn reader_decrypts_a_tls_download_and_gives_the_stream_back() {
        let sent = data(3 * CHUNK + 4321);
        let (server, client) = tls_client(sending(sent.clone()));
        let (counted, meter) = counting_meter();
        let mut reader = Reader::<_, String>::spawn(client, meter, WAIT);
        let mut got = Vec::new();
        let end = loop {
            match reader.next().await {
                Next::Chunk(c) => got.extend_from_slice(&c),
                Next::End(end) => break end,
            }
        };
        server.join().unwrap();
        assert!(end.result.is_ok());
        assert!(got == sent, "every byte decrypted, in order");
        assert_eq!(*counted.lock().unwrap(), sent.len());
        let client = end.stream.expect("the stream comes back for the final reply");
        assert!(non_blocking(&client.socket) && client.socket.peer_addr().is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reader_queue_is_bounded_in_bytes_and_counts_what_it_read() {
        let (mut server, client) = connection().await;
        tokio::spawn(async move {
            let block = vec![1u8; CHUNK];
            while server.write_all(&block).await.is_ok() {}
        });
        let (counted, meter) = counting_meter();
        let mut reader = Reader::<_, String>::spawn(client, meter, WAIT);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let read = *counted.lock().unwrap();
        assert!(read <= QUEUE_BYTES, "read ahead {read} bytes with nobody taking them");
        assert!(read > 0);
        // Taking a chunk makes room for more, still within the bound.
        let Next::Chunk(first) = reader.next().await else { panic!("no chunk") };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let read = *counted.lock().unwrap();
        assert!(read <= QUEUE_BYTES + first.len(), "read ahead {read} bytes");
        // A stop ends a wait for room at once, and is not a failure.
        let started = std::time::Instant::now();
        let end = reader.stop().await;
        assert!(end.stream.is_some() && end.result.is_ok());
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stop_ends_a_wait_for_bytes_within_a_slice_and_a_silent_server_times_out() {
        let (_server, client) = connection().await;
        let (_, meter) = counting_meter();
        let mut reader = Reader::<_, String>::spawn(client, meter, WAIT);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        let end = tokio::time::timeout(WAIT, reader.stop()).await.unwrap();
        assert!(end.result.is_ok(), "a stop is not a failure");
        assert!(started.elapsed() < 3 * STOP_CHECK, "{:?}", started.elapsed());

        let (_server, client) = connection().await;
        let (_, meter) = counting_meter();
        let mut reader = Reader::<_, String>::spawn(client, meter, Duration::from_millis(300));
        let Next::End(end) = tokio::time::timeout(WAIT, reader.next()).await.unwrap() else { panic!("a chunk") };
        assert!(matches!(end.result, Err(Stopped::TimedOut(_))));
        assert!(non_blocking(&end.stream.unwrap()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_reads_share_one_allocation() {
        // 1,000 sends of 100 bytes each, the reader taking them as they come:
        // the chunks are views of a few buffers, not a chunk-sized buffer each.
        let (mut server, client) = connection().await;
        server.set_nodelay(true).unwrap();
        tokio::spawn(async move {
            for _ in 0..1000 {
                server.write_all(&[7u8; 100]).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let (_, meter) = counting_meter();
        let mut reader = Reader::<_, String>::spawn(client, meter, WAIT);
        let mut chunks = Vec::new();
        while let Next::Chunk(c) = reader.next().await {
            chunks.push(c);
        }
        let total: usize = chunks.iter().map(Bytes::len).sum();
        assert_eq!(total, 100_000);
        let mut buffers: Vec<*const u8> = Vec::new();
        for c in &chunks {
            // A chunk starting where the previous one ended shares its buffer.
            if buffers.last().is_none_or(|&end| end != c.as_ptr()) {
                buffers.push(c.as_ptr());
            }
            *buffers.last_mut().unwrap() = c.as_ptr().wrapping_add(c.len());
        }
        assert!(buffers.len() <= 2, "{} buffers for {} chunks", buffers.len(), chunks.len());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reader_carries_the_meter_error() {
        let (mut server, client) = connection().await;
        tokio::spawn(async move { server.write_all(&data(3 * CHUNK)).await });
        let mut left = CHUNK;
        let meter = move |n: usize| {
            left = left.checked_sub(n).ok_or_else(|| "over budget".to_string())?;
            Ok(())
        };
        let mut reader = Reader::<_, String>::spawn(client, meter, WAIT);
        let mut got = 0;
        let end = loop {
            match reader.next().await {
                Next::Chunk(c) => got += c.len(),
                Next::End(end) => break end,
            }
        };
        assert!(got <= CHUNK);
        assert!(matches!(end.result, Err(Stopped::Counted(ref e)) if e == "over budget"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_reader_closes_the_connection() {
        let (mut server, client) = connection().await;
        let (_, meter) = counting_meter();
        let reader = Reader::<_, String>::spawn(client, meter, WAIT);
        tokio::task::yield_now().await;
        drop(reader);
        let mut rest = Vec::new();
        // The thread stops and drops the client's side: the server sees the end.
        tokio::time::timeout(WAIT, server.read_to_end(&mut rest)).await.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writer_sends_everything_even_when_ready_and_flush_are_dropped() {
        let sent = data(9 * CHUNK + 77);
        let (mut server, client) = connection().await;
        let collector = tokio::spawn(async move {
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.map(|_| got)
        });
        let (counted, meter) = counting_meter();
        let mut writer = Writer::<_, String>::spawn(client, meter, WAIT);
        let mut rest = Bytes::from(sent.clone());
        let mut round = 0;
        while !rest.is_empty() {
            round += 1;
            // Drop `ready` or `flushed` before they finish, most of the time.
            let wait = async {
                match round % 2 {
                    0 => writer.ready().await,
                    _ => writer.flushed().await,
                }
            };
            tokio::select! {
                ended = wait => assert!(ended.is_none()),
                _ = tokio::task::yield_now() => {}
            }
            let n = writer.permit().min(rest.len()).min(100_000);
            if n > 0 {
                writer.push(rest.split_to(n)).unwrap();
            }
        }
        assert!(writer.flushed().await.is_none());
        assert_eq!(*counted.lock().unwrap(), sent.len(), "flushed: everything was sent");
        let mut end = writer.close().await;
        assert!(end.result.is_ok());
        let mut stream = end.stream.take().unwrap();
        assert!(non_blocking(&stream) && stream.peer_addr().is_ok(), "the stream is the runtime's again");
        let unsent = socket2::SockRef::from(&stream).tcp_notsent_lowat().unwrap();
        assert_eq!(unsent, PLAIN_SEND_NOTSENT_LOWAT, "a plain upload's backlog outlasts the wait for a write");
        stream.shutdown().await.unwrap();
        assert_eq!(collector.await.unwrap().unwrap(), sent);
    }

    // A current-thread runtime, as an embedder may run the host.
    #[tokio::test]
    async fn writer_encrypts_a_tls_upload() {
        let sent = data(3 * CHUNK + 4321);
        let (server, client) = tls_client(receive_all);
        let (counted, meter) = counting_meter();
        let mut writer = Writer::<_, String>::spawn(client, meter, WAIT);
        let mut rest = Bytes::from(sent.clone());
        while !rest.is_empty() {
            assert!(writer.ready().await.is_none());
            writer.push(rest.split_to(writer.permit().min(rest.len()))).unwrap();
        }
        let end = writer.close().await;
        assert!(end.result.is_ok());
        assert_eq!(*counted.lock().unwrap(), sent.len());
        let client = end.stream.expect("the stream comes back for the final reply");
        let unsent = socket2::SockRef::from(&client.socket).tcp_notsent_lowat().unwrap();
        assert_ne!(unsent, PLAIN_SEND_NOTSENT_LOWAT, "TLS keeps the data connection's mark");
        client.close();
        assert!(server.join().unwrap() == sent, "the server decrypted every byte, in order");
    }

    #[test]
    fn the_batch_policy_holds_while_its_guard_lives_and_is_undone_after() {
        assert_eq!(policy(), libc::SCHED_OTHER);
        let guard = BatchPolicy::enter();
        assert_eq!(policy(), libc::SCHED_BATCH, "the sending thread does not preempt on waking");
        drop(guard);
        assert_eq!(policy(), libc::SCHED_OTHER, "the pool's thread is given back as it was");

        assert!(set_policy(libc::SCHED_IDLE));
        drop(BatchPolicy::enter());
        assert_eq!(policy(), libc::SCHED_IDLE, "a policy the embedder chose is left alone");
        set_policy(libc::SCHED_OTHER);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writer_refuses_past_its_room_and_reports_a_dead_connection() {
        // A server that reads nothing: the connection's buffers fill, then the queue.
        let (server, client) = connection().await;
        let (counted, meter) = counting_meter();
        let mut writer = Writer::<_, String>::spawn(client, meter, WAIT);
        assert!(writer.push(Bytes::from(vec![0u8; CHUNK + 1])).is_err(), "more than a chunk at once");
        let mut pushed = 0;
        while tokio::time::timeout(Duration::from_millis(500), writer.ready()).await.is_ok() {
            writer.push(Bytes::from(vec![0u8; CHUNK])).unwrap();
            pushed += CHUNK;
        }
        assert!(writer.permit() < CHUNK);
        assert!(writer.push(Bytes::from(vec![0u8; CHUNK])).is_err());
        let queued = pushed - *counted.lock().unwrap();
        assert!(queued <= QUEUE_BYTES, "{queued} bytes queued");
        drop(server);
        let end = tokio::time::timeout(WAIT, writer.ready()).await.unwrap().expect("the writer stopped");
        assert!(matches!(end.result, Err(Stopped::Io(_))));
        assert_eq!(writer.permit(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writer_times_out_a_stuck_write_and_carries_the_meter_error() {
        let (_server, client) = connection().await;
        let (_, meter) = counting_meter();
        let mut writer = Writer::<_, String>::spawn(client, meter, Duration::from_millis(300));
        // Nobody reads: once the connection's buffers are full, a send waits past its timeout.
        let end = loop {
            if let Some(end) = tokio::time::timeout(WAIT, writer.ready()).await.unwrap() {
                break end;
            }
            writer.push(Bytes::from(vec![0u8; CHUNK])).unwrap();
        };
        assert!(matches!(end.result, Err(Stopped::TimedOut(_))));
        assert!(non_blocking(&end.stream.unwrap()));

        let (_server, client) = connection().await;
        let meter = |_: usize| Err("over budget".to_string());
        let mut writer = Writer::<_, String>::spawn(client, meter, WAIT);
        writer.push(Bytes::from_static(b"abc")).unwrap();
        let end = writer.close().await;
        assert!(matches!(end.result, Err(Stopped::Counted(ref e)) if e == "over budget"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_writer_stops_and_closes_the_connection() {
        let (mut server, client) = connection().await;
        let (_, meter) = counting_meter();
        let mut writer = Writer::<_, String>::spawn(client, meter, WAIT);
        writer.push(Bytes::from_static(b"sent")).unwrap();
        assert!(writer.flushed().await.is_none());
        drop(writer);
        let mut got = Vec::new();
        tokio::time::timeout(WAIT, server.read_to_end(&mut got)).await.unwrap().unwrap();
        assert_eq!(got, b"sent");
    }
}
