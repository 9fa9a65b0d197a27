//! Read-ahead and write-behind on a data connection (R2 of issue 15): a
//! task per transfer moves bytes between the connection and a queue bounded
//! in bytes, so the network stays busy while the guest (or the file it
//! splices with) works.
//!
//! Without it a download reads the socket only when the guest asks, and an
//! upload sends only when the guest waits: socket and file take turns, and
//! under TLS decryption never overlaps the file writes.
//!
//! This module owns the data connection while a transfer moves bytes, and
//! nothing else: the transfer ([`super::transfer`]) keeps its control
//! connection, its session slot, its failure and its final reply. Both pumps
//! - hold at most [`QUEUE_BYTES`] queued, plus one read of at most [`CHUNK`];
//! - call the caller's meter with every byte that crosses the connection,
//!   as it crosses (bytes read ahead and never taken count too); a meter
//!   error stops the pump and is carried to the caller;
//! - are cancel-safe: every `async fn` here can be dropped at an `.await`
//!   and called again without losing or repeating bytes (bytes a writer
//!   accepted belong to its task until they are sent);
//! - give the stream back when they end, so the caller can read the
//!   server's final reply; a pump dropped without ending stops its task
//!   (the connection is closed with it, never left to a detached task).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;

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

/// A download's read-ahead.
pub struct Reader<S, E> {
    chunks: mpsc::UnboundedReceiver<Bytes>,
    /// Free bytes of the queue.
    room: Arc<Semaphore>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<Task<S, E>>,
}

impl<S, E> Reader<S, E>
where
    S: AsyncRead + Unpin + Send + 'static,
    E: Send + 'static,
{
    /// Start reading `stream` ahead. `meter` is called with every read's
    /// byte count; `timeout` bounds each read.
    pub fn spawn<M>(stream: S, meter: M, timeout: Duration) -> Self
    where
        M: FnMut(usize) -> Result<(), E> + Send + 'static,
    {
        let (tx, chunks) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel();
        let room = Arc::new(Semaphore::new(QUEUE_BYTES));
        let task = tokio::spawn(read_ahead(stream, tx, room.clone(), stopped, meter, timeout));
        Reader { chunks, room, stop: Some(stop), task: Some(task) }
    }

    /// The next chunk, or how the pump ended. Cancel-safe.
    pub async fn next(&mut self) -> Next<S, E> {
        match self.chunks.recv().await {
            Some(chunk) => {
                self.room.add_permits(chunk.len());
                Next::Chunk(chunk)
            }
            // The task dropped its sender: it has ended.
            None => Next::End(join(&mut self.task).await),
        }
    }

    /// Stop reading now and take the stream back; queued bytes are dropped
    /// (they were counted when read). Cancel-safe.
    pub async fn stop(&mut self) -> Ended<S, E> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        join(&mut self.task).await
    }
}

impl<S, E> Drop for Reader<S, E> {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn read_ahead<S, E, M>(
    mut stream: S,
    chunks: mpsc::UnboundedSender<Bytes>,
    room: Arc<Semaphore>,
    mut stop: oneshot::Receiver<()>,
    mut meter: M,
    timeout: Duration,
) -> (S, Result<(), Stopped<E>>)
where
    S: AsyncRead + Unpin,
    M: FnMut(usize) -> Result<(), E>,
{
    let mut buffers = ReadBuffers::new(CHUNK);
    let mut buf = BytesMut::with_capacity(CHUNK);
    let result = loop {
        // Room for a whole chunk first, so the queue never passes its bound.
        let permit = tokio::select! {
            biased;
            _ = &mut stop => break Ok(()),
            permit = room.clone().acquire_many_owned(permits(CHUNK)) => match permit {
                Ok(permit) => permit,
                Err(_) => break Ok(()),
            },
        };
        permit.forget();
        if buf.capacity() < MIN_READ_ROOM {
            buf = buffers.next(std::mem::take(&mut buf));
        }
        let read = tokio::select! {
            biased;
            _ = &mut stop => break Ok(()),
            read = tokio::time::timeout(timeout, stream.read_buf(&mut buf)) => read,
        };
        match read {
            Ok(Ok(0)) => break Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => break Err(Stopped::Io(e)),
            Err(_) => break Err(Stopped::TimedOut(timeout)),
        }
        // Take whatever else is already there without waiting (TLS hands
        // out one record per read): fewer, larger chunks.
        let (mut at_end, mut failed) = (false, None);
        while buf.len() < buf.capacity() {
            match stream.read_buf(&mut buf).now_or_never() {
                Some(Ok(0)) => {
                    at_end = true;
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    failed = Some(e);
                    break;
                }
                None => break,
            }
        }
        let chunk = buf.split().freeze();
        room.add_permits(CHUNK - chunk.len());
        if let Err(e) = meter(chunk.len()) {
            break Err(Stopped::Counted(e));
        }
        if chunks.send(chunk).is_err() {
            break Ok(());
        }
        if let Some(e) = failed {
            break Err(Stopped::Io(e));
        }
        if at_end {
            break Ok(());
        }
    };
    (stream, result)
}

// ---- write-behind ----------------------------------------------------------

/// An upload's write-behind.
pub struct Writer<S, E> {
    chunks: Option<mpsc::UnboundedSender<Bytes>>,
    /// Free bytes of the queue; closed when the task ends.
    room: Arc<Semaphore>,
    task: Option<Task<S, E>>,
}

impl<S, E> Writer<S, E>
where
    S: AsyncWrite + Unpin + Send + 'static,
    E: Send + 'static,
{
    /// Start sending to `stream` what [`push`](Self::push) queues. `meter`
    /// is called with every write's byte count once it is sent; `timeout`
    /// bounds each write.
    pub fn spawn<M>(stream: S, meter: M, timeout: Duration) -> Self
    where
        M: FnMut(usize) -> Result<(), E> + Send + 'static,
    {
        let (chunks, rx) = mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(QUEUE_BYTES));
        let task = tokio::spawn(write_behind(stream, rx, room.clone(), meter, timeout));
        Writer { chunks: Some(chunks), room, task: Some(task) }
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
            // Closed: the task is returning.
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

impl<S, E> Drop for Writer<S, E> {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn write_behind<S, E, M>(
    mut stream: S,
    mut chunks: mpsc::UnboundedReceiver<Bytes>,
    room: Arc<Semaphore>,
    mut meter: M,
    timeout: Duration,
) -> (S, Result<(), Stopped<E>>)
where
    S: AsyncWrite + Unpin,
    M: FnMut(usize) -> Result<(), E>,
{
    let result = loop {
        let Some(bytes) = chunks.recv().await else { break Ok(()) };
        // Past the last queued chunk, push out what TLS still buffers, so
        // "everything was sent" (`flushed`) is true on the wire.
        let send = async {
            stream.write_all(&bytes).await?;
            if chunks.is_empty() {
                stream.flush().await?;
            }
            Ok::<_, io::Error>(())
        };
        match tokio::time::timeout(timeout, send).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => break Err(Stopped::Io(e)),
            Err(_) => break Err(Stopped::TimedOut(timeout)),
        }
        room.add_permits(bytes.len());
        if let Err(e) = meter(bytes.len()) {
            break Err(Stopped::Counted(e));
        }
    };
    // Wake a `ready` or `flushed` waiting for room that will never come.
    room.close();
    (stream, result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    type Meter = Box<dyn FnMut(usize) -> Result<(), String> + Send>;

    fn counter() -> (Arc<AtomicUsize>, Meter) {
        let total = Arc::new(AtomicUsize::new(0));
        let seen = total.clone();
        let meter = move |n| {
            seen.fetch_add(n, Ordering::SeqCst);
            Ok(())
        };
        (total, Box::new(meter))
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    const WAIT: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn reader_delivers_every_byte_in_order_and_counts_it() {
        let sent = data(10 * CHUNK + 123);
        let (mut server, client) = tokio::io::duplex(64 * 1024);
        let writer = {
            let sent = sent.clone();
            tokio::spawn(async move { server.write_all(&sent).await })
        };
        let (counted, meter) = counter();
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
                    assert!(end.stream.is_some());
                    break;
                }
            }
        }
        writer.await.unwrap().unwrap();
        assert_eq!(got, sent);
        assert_eq!(counted.load(Ordering::SeqCst), sent.len());
    }

    #[tokio::test]
    async fn reader_queue_is_bounded_in_bytes_and_counts_what_it_read() {
        let (mut server, client) = tokio::io::duplex(CHUNK);
        tokio::spawn(async move {
            let block = vec![1u8; CHUNK];
            while server.write_all(&block).await.is_ok() {}
        });
        let (counted, meter) = counter();
        let mut reader = Reader::<_, String>::spawn(client, meter, WAIT);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let read = counted.load(Ordering::SeqCst);
        assert!(read <= QUEUE_BYTES, "read ahead {read} bytes with nobody taking them");
        assert!(read > 0);
        // Taking a chunk makes room for more, still within the bound.
        let Next::Chunk(first) = reader.next().await else { panic!("no chunk") };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let read = counted.load(Ordering::SeqCst);
        assert!(read <= QUEUE_BYTES + first.len(), "read ahead {read} bytes");
        let end = reader.stop().await;
        assert!(end.stream.is_some() && end.result.is_ok());
    }

    #[tokio::test]
    async fn small_reads_share_one_allocation() {
        // 1,000 reads of 100 bytes each, the reader taking them as they come:
        // the chunks are views of a few buffers, not a chunk-sized buffer each.
        let (mut server, client) = tokio::io::duplex(100);
        tokio::spawn(async move {
            for _ in 0..1000 {
                server.write_all(&[7u8; 100]).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let (_, meter) = counter();
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

    #[tokio::test]
    async fn reader_carries_the_meter_error() {
        let (mut server, client) = tokio::io::duplex(CHUNK);
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

    #[tokio::test]
    async fn a_dropped_reader_closes_the_connection() {
        let (mut server, client) = tokio::io::duplex(1024);
        let (_, meter) = counter();
        let reader = Reader::<_, String>::spawn(client, meter, WAIT);
        tokio::task::yield_now().await;
        drop(reader);
        let mut rest = Vec::new();
        // The client side is dropped with the task: the server sees the end.
        tokio::time::timeout(WAIT, server.read_to_end(&mut rest)).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn writer_sends_everything_even_when_ready_and_flush_are_dropped() {
        let sent = data(9 * CHUNK + 77);
        let (server, client) = tokio::io::duplex(64 * 1024);
        let collector = tokio::spawn(async move {
            let mut server = server;
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.map(|_| got)
        });
        let (counted, meter) = counter();
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
        assert_eq!(counted.load(Ordering::SeqCst), sent.len(), "flushed: everything was sent");
        let mut end = writer.close().await;
        assert!(end.result.is_ok());
        end.stream.take().unwrap().shutdown().await.unwrap();
        assert_eq!(collector.await.unwrap().unwrap(), sent);
    }

    #[tokio::test]
    async fn writer_refuses_past_its_room_and_reports_a_dead_connection() {
        let (server, client) = tokio::io::duplex(1024);
        let (_, meter) = counter();
        let mut writer = Writer::<_, String>::spawn(client, meter, WAIT);
        assert!(writer.push(Bytes::from(vec![0u8; CHUNK + 1])).is_err(), "more than a chunk at once");
        for _ in 0..QUEUE_BYTES / CHUNK {
            writer.push(Bytes::from(vec![0u8; CHUNK])).unwrap();
        }
        assert_eq!(writer.permit(), 0);
        assert!(writer.push(Bytes::from_static(b"x")).is_err());
        drop(server);
        let end = writer.ready().await.expect("the writer stopped");
        assert!(matches!(end.result, Err(Stopped::Io(_))));
        assert_eq!(writer.permit(), 0);
    }

    #[tokio::test]
    async fn writer_times_out_a_stuck_write_and_carries_the_meter_error() {
        let (_server, client) = tokio::io::duplex(1024);
        let (_, meter) = counter();
        let mut writer = Writer::<_, String>::spawn(client, meter, Duration::from_millis(50));
        writer.push(Bytes::from(vec![0u8; 4096])).unwrap();
        let end = writer.flushed().await.expect("the writer stopped");
        assert!(matches!(end.result, Err(Stopped::TimedOut(_))));

        let (server, client) = tokio::io::duplex(CHUNK);
        let meter = |_: usize| Err("over budget".to_string());
        let mut writer = Writer::<_, String>::spawn(client, meter, WAIT);
        writer.push(Bytes::from_static(b"abc")).unwrap();
        let end = writer.close().await;
        assert!(matches!(end.result, Err(Stopped::Counted(ref e)) if e == "over budget"));
        drop(server);
    }
}
