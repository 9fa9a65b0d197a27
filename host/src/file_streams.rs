//! Streams over the guest's granted files that move 1 MiB per trip to the
//! blocking thread pool: `wasi:filesystem` `read-via-stream` and
//! `write-via-stream`, replacing wasmtime-wasi's own (64 KiB per trip).
//!
//! A guest that `splice`s between a file and an FTP transfer moves one
//! stream permit per call; with 64 KiB file streams a 1 GiB transfer takes
//! 16,384 serialized thread-pool round trips and the FTP socket idles
//! during each (bench/ANALYSIS-2026-12-01.md). The input stream also reads
//! one chunk ahead, so the next file read overlaps sending this one, each
//! chunk into a buffer of its own that a whole-chunk read hands over with
//! its allocation (see [`FileIn`]).
//!
//! The output stream writes behind the guest: a write queues its bytes (at
//! most [`FILE_QUEUE`] held) and returns, and one trip to the blocking pool
//! writes everything queued by then, so a guest splicing a download into a
//! file does not wait for each chunk's write, and the trips (thread hand-offs
//! and wake-ups) are fewer than the chunks.
//!
//! Semantics follow wasmtime-wasi's streams: the same permission checks and
//! errors (a failed write is reported by the next call), `flush` complete
//! once `ready` returns, and `cancel` writing what was accepted before the
//! stream goes.

use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use tokio::task::JoinHandle;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::Descriptor;
use wasmtime_wasi::p2::bindings::filesystem::types::ErrorCode;
use wasmtime_wasi::p2::{
    DynInputStream, DynOutputStream, InputStream, OutputStream, Pollable, StreamError, StreamResult,
};
use wasmtime_wasi::WasiView;

/// The largest write permit, and the bytes one blocking-pool read takes:
/// the read-ahead of an input stream (held twice: one chunk handed out, one
/// being read).
pub const FILE_CHUNK: usize = 1024 * 1024;

/// The `wasi:filesystem/types` instance these functions replace: the
/// version wasmtime-wasi 48 defines (guests importing an older 0.2.x
/// resolve to it).
const FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";

/// Replace `read-via-stream` and `write-via-stream` in `linker`, which must
/// already hold wasmtime-wasi's p2 functions.
pub fn add_to_linker<T: WasiView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut types = linker.instance(FILESYSTEM_TYPES)?;
    types.func_wrap("[method]descriptor.read-via-stream", |mut store, (fd, offset): (Resource<Descriptor>, u64)| {
        let table = store.data_mut().ctx().table;
        let file = match table.get(&fd)? {
            Descriptor::File(f) => f.file.clone(),
            Descriptor::Dir(_) => return Ok((Err(ErrorCode::IsDirectory),)),
        };
        let stream: DynInputStream = Box::new(FileIn::new(file, offset));
        Ok((Ok(table.push(stream)?),))
    })?;
    types.func_wrap(
        "[method]descriptor.write-via-stream",
        |mut store, (fd, offset): (Resource<Descriptor>, u64)| {
            let table = store.data_mut().ctx().table;
            let file = match table.get(&fd)? {
                Descriptor::File(f) if f.perms.write_not_permitted() => return Ok((Err(ErrorCode::NotPermitted),)),
                Descriptor::File(f) => f.file.clone(),
                Descriptor::Dir(_) => return Ok((Err(ErrorCode::BadDescriptor),)),
            };
            let stream: DynOutputStream = Box::new(FileOut::new(file, offset));
            Ok((Ok(table.push(stream)?),))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

fn failed(e: io::Error) -> StreamError {
    StreamError::LastOperationFailed(e.into())
}

fn joined<T>(result: Result<io::Result<T>, tokio::task::JoinError>) -> io::Result<T> {
    result.unwrap_or_else(|e| Err(io::Error::other(e)))
}

// ---- output -------------------------------------------------------------------

/// Most bytes a `write-via-stream` holds that are not yet in the file: the
/// guest goes on splicing while earlier chunks are written, and each trip
/// to the blocking pool writes everything queued by then.
pub const FILE_QUEUE: usize = 4 * FILE_CHUNK;

/// `write-via-stream`: positional writes from the stream's offset on, written behind
/// the guest: a write queues its bytes and returns; one trip to the
/// blocking pool at a time writes what is queued.
struct FileOut {
    file: Arc<std::fs::File>,
    /// Bytes accepted, not yet handed to a trip.
    queued: Vec<Bytes>,
    /// Where the first queued byte goes (the next write's, when none is).
    queued_at: u64,
    /// Bytes accepted and not yet written (queued or in the trip).
    held: usize,
    /// The trip in flight and how many bytes it writes.
    trip: Option<(JoinHandle<io::Result<()>>, usize)>,
    /// The guest asked for a flush: no permits until everything is written.
    flushing: bool,
    /// A trip failed; reported once, then the stream is closed.
    error: Option<io::Error>,
    closed: bool,
}

impl FileOut {
    fn new(file: Arc<std::fs::File>, position: u64) -> Self {
        FileOut {
            file,
            queued: Vec::new(),
            queued_at: position,
            held: 0,
            trip: None,
            flushing: false,
            error: None,
            closed: false,
        }
    }

    /// Hand everything queued to the blocking pool, unless a trip is in
    /// flight (it is started again when that one ends).
    fn start_trip(&mut self) {
        if self.trip.is_some() || self.queued.is_empty() || self.error.is_some() {
            return;
        }
        let chunks = std::mem::take(&mut self.queued);
        let n = chunks.iter().map(Bytes::len).sum();
        let (file, mut at) = (self.file.clone(), self.queued_at);
        self.queued_at += n as u64;
        let task = tokio::task::spawn_blocking(move || {
            for chunk in chunks {
                file.write_all_at(&chunk, at)?;
                at += chunk.len() as u64;
            }
            Ok(())
        });
        self.trip = Some((task, n));
    }

    /// The trip ended with `result`: its bytes are out of the queue.
    fn trip_ended(&mut self, result: io::Result<()>, n: usize) {
        self.held -= n;
        match result {
            Ok(()) => self.start_trip(),
            Err(e) => self.error = Some(e),
        }
    }

    /// Note a trip that has ended, without waiting.
    fn poll_trip(&mut self) {
        let Some((task, _)) = &mut self.trip else { return };
        if !task.is_finished() {
            return;
        }
        if let Some(result) = task.now_or_never() {
            let (_, n) = self.trip.take().expect("a trip is in flight");
            self.trip_ended(joined(result), n);
        }
    }

    /// Wait for the trip in flight, if any. Cancel-safe: the handle stays
    /// in place until it yields.
    async fn wait_trip(&mut self) {
        let Some((task, _)) = &mut self.trip else { return };
        let result = task.await;
        let (_, n) = self.trip.take().expect("a trip is in flight");
        self.trip_ended(joined(result), n);
    }

    /// The stream's state for a call that needs it open: an error once,
    /// then closed.
    fn check_open(&mut self) -> StreamResult<()> {
        if let Some(e) = self.error.take() {
            self.closed = true;
            return Err(failed(e));
        }
        match self.closed {
            true => Err(StreamError::Closed),
            false => Ok(()),
        }
    }

    fn permit(&self) -> usize {
        match self.flushing {
            true => 0,
            false => (FILE_QUEUE - self.held).min(FILE_CHUNK),
        }
    }
}

#[async_trait::async_trait]
impl OutputStream for FileOut {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.poll_trip();
        self.check_open()?;
        if bytes.len() > self.permit() {
            return Err(StreamError::trap("write larger than the permit from check-write"));
        }
        if bytes.is_empty() {
            return Ok(());
        }
        self.held += bytes.len();
        self.queued.push(bytes);
        self.start_trip();
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        // `ready` returns once everything accepted is in the file.
        self.poll_trip();
        self.check_open()?;
        if self.held > 0 {
            self.flushing = true;
        }
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.poll_trip();
        self.check_open()?;
        Ok(self.permit())
    }

    async fn cancel(&mut self) {
        // A blocking write cannot be stopped: finish what was accepted, so
        // that a dropped stream leaves no write landing later and loses
        // none the guest was told went through.
        while self.trip.is_some() {
            self.wait_trip().await;
        }
        self.closed = true;
    }
}

#[async_trait::async_trait]
impl Pollable for FileOut {
    async fn ready(&mut self) {
        // Room for a whole chunk, or (after a flush) nothing held; a failure
        // is ready too (the next call reports it).
        while self.trip.is_some() && (self.flushing || self.permit() < FILE_CHUNK) {
            self.wait_trip().await;
        }
        if self.held == 0 || self.error.is_some() {
            self.flushing = false;
        }
    }
}

// ---- input --------------------------------------------------------------------

/// `read-via-stream`: positional reads from `offset` on, one chunk ahead.
///
/// Each chunk is read into an allocation of its own, and a read that takes
/// the whole chunk gets it whole: wasmtime-wasi turns what `read` returns
/// into a `Vec<u8>` before copying it into the guest's memory, and a
/// `Bytes` that is alone in its allocation becomes that `Vec` without a
/// copy. Pooled buffers, still referenced by the pool, were copied once
/// more: a third user-space copy of every byte a guest reads through its
/// memory, 8% more CPU per GiB on such uploads
/// (bench/ANALYSIS-2026-12-05-intel.md). Freed after the copy into the
/// guest, as that `Vec` was, the allocation is kept for the next chunk by
/// the settings of [`crate::allocator`]: page faults did not change
/// (measured there too).
struct FileIn {
    file: Arc<std::fs::File>,
    /// Where the next read starts.
    next: u64,
    /// Read, not yet taken by the guest.
    buf: Bytes,
    /// The next chunk, being read.
    reading: Option<JoinHandle<io::Result<Bytes>>>,
    eof: bool,
    error: Option<io::Error>,
}

impl FileIn {
    fn new(file: Arc<std::fs::File>, offset: u64) -> Self {
        FileIn { file, next: offset, buf: Bytes::new(), reading: None, eof: false, error: None }
    }

    fn start_read(&mut self) {
        if self.reading.is_some() || self.eof || self.error.is_some() {
            return;
        }
        let (file, at) = (self.file.clone(), self.next);
        self.next += FILE_CHUNK as u64;
        let mut buf = BytesMut::with_capacity(FILE_CHUNK);
        self.reading = Some(tokio::task::spawn_blocking(move || {
            // Fill the chunk unless the file ends: a short chunk would shift
            // every later read's offset.
            while buf.len() < FILE_CHUNK {
                match read_at_into(&file, &mut buf, FILE_CHUNK, at) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(buf.freeze())
        }));
    }
}

/// Reads what follows `buf`'s bytes in the file (`buf` holds the bytes from
/// `start` on) into its spare room, up to `size` bytes in all, without
/// zeroing that room first: `read_at` wants an initialised slice, and
/// zeroing 1 MiB before every read was a memset of the whole upload
/// (bench/ANALYSIS-2026-12-02-page-faults.md).
fn read_at_into(file: &std::fs::File, buf: &mut BytesMut, size: usize, start: u64) -> io::Result<usize> {
    let filled = buf.len();
    let room = &mut buf.spare_capacity_mut()[..size - filled];
    let (read, _) = rustix::io::pread(file, room, start + filled as u64)?;
    let n = read.len();
    // SAFETY: `pread` initialised the first `n` bytes of the spare room.
    unsafe { buf.set_len(filled + n) };
    Ok(n)
}

#[async_trait::async_trait]
impl InputStream for FileIn {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        if !self.buf.is_empty() {
            if size >= self.buf.len() {
                // Whole, so it leaves alone in its allocation (see FileIn).
                return Ok(std::mem::take(&mut self.buf));
            }
            return Ok(self.buf.split_to(size));
        }
        if let Some(e) = self.error.take() {
            self.eof = true;
            return Err(failed(e));
        }
        if self.eof {
            return Err(StreamError::Closed);
        }
        if size > 0 {
            self.start_read();
        }
        Ok(Bytes::new())
    }

    async fn cancel(&mut self) {
        if let Some(task) = self.reading.take() {
            let _ = task.await;
        }
        self.eof = true;
    }
}

#[async_trait::async_trait]
impl Pollable for FileIn {
    async fn ready(&mut self) {
        if !self.buf.is_empty() || self.eof || self.error.is_some() {
            return;
        }
        self.start_read();
        let Some(task) = self.reading.take() else { return };
        match joined(task.await) {
            Ok(chunk) if chunk.is_empty() => self.eof = true,
            Ok(chunk) => {
                // A short chunk is the end of the file (as it was then).
                let last = chunk.len() < FILE_CHUNK;
                self.buf = chunk;
                if last {
                    self.eof = true;
                } else {
                    self.start_read();
                }
            }
            Err(e) => self.error = Some(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_out(dir: &tempfile::TempDir, offset: u64) -> (std::path::PathBuf, FileOut) {
        let path = dir.path().join("out");
        let file = std::fs::OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path).unwrap();
        (path, FileOut::new(Arc::new(file), offset))
    }

    /// Write `data` the way a guest's check-write loop does.
    async fn write_all(out: &mut FileOut, mut data: Bytes) {
        while !data.is_empty() {
            let permit = out.check_write().unwrap();
            if permit == 0 {
                out.ready().await;
                continue;
            }
            out.write(data.split_to(permit.min(data.len()))).unwrap();
        }
    }

    fn pattern(len: usize) -> Bytes {
        (0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>().into()
    }

    /// Read `stream` to its end the way a guest's read loop does, asking
    /// for `size` bytes at a time, giving each chunk to `keep`.
    async fn read_all(stream: &mut FileIn, size: usize, mut keep: impl FnMut(Bytes)) {
        loop {
            stream.ready().await;
            match stream.read(size) {
                Ok(chunk) => keep(chunk),
                Err(StreamError::Closed) => return,
                Err(e) => panic!("read failed: {e:?}"),
            }
        }
    }

    /// A file of `len` patterned bytes and an input stream over it from
    /// `offset` on (the directory goes with the third value).
    fn file_in(len: usize, offset: u64) -> (Bytes, FileIn, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in");
        let data = pattern(len);
        std::fs::write(&path, &data).unwrap();
        let stream = FileIn::new(Arc::new(std::fs::File::open(&path).unwrap()), offset);
        (data, stream, dir)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn reads_every_byte_from_the_offset_each_chunk_becoming_a_vec_without_a_copy() {
        let (data, mut stream, _dir) = file_in(5 * FILE_CHUNK + 12_345, 1000);
        let (mut got, mut copied) = (Vec::new(), 0);
        read_all(&mut stream, FILE_CHUNK, |chunk| {
            // What wasmtime-wasi does with it before the guest's copy.
            let at = chunk.as_ptr();
            let vec = Vec::<u8>::from(chunk);
            if !vec.is_empty() && vec.as_ptr() != at {
                copied += 1;
            }
            got.extend_from_slice(&vec);
        })
        .await;
        assert!(got == data[1000..], "{} bytes read, {} expected", got.len(), data.len() - 1000);
        assert_eq!(copied, 0, "chunks copied on their way to a Vec");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn reads_smaller_than_a_chunk_take_it_piece_by_piece() {
        let (data, mut stream, _dir) = file_in(2 * FILE_CHUNK + 7, 0);
        let mut got = Vec::new();
        read_all(&mut stream, 100_000, |chunk| {
            assert!(chunk.len() <= 100_000);
            got.extend_from_slice(&chunk);
        })
        .await;
        assert!(got == data, "{} bytes read, {} expected", got.len(), data.len());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn writes_behind_in_order_and_flush_waits_for_all() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut out) = file_out(&dir, 0);
        let data = pattern(3 * FILE_QUEUE + 12_345);
        // Small writes too: the queue takes many chunks per trip.
        write_all(&mut out, data.slice(..100_000)).await;
        for piece in data.slice(100_000..).chunks(77_777) {
            write_all(&mut out, Bytes::copy_from_slice(piece)).await;
        }
        out.flush().unwrap();
        out.ready().await;
        assert_eq!(out.held, 0);
        assert_eq!(out.check_write().unwrap(), FILE_CHUNK);
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn no_permit_while_a_flush_is_pending() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut out) = file_out(&dir, 0);
        // A trip in flight that ends only when the test says so.
        let (go, gate) = std::sync::mpsc::channel::<()>();
        out.trip = Some((tokio::task::spawn_blocking(move || gate.recv().map_err(io::Error::other)), 10));
        out.held = 10;
        out.flush().unwrap();
        assert_eq!(out.check_write().unwrap(), 0, "no permit while a flush is pending");
        go.send(()).unwrap();
        out.ready().await;
        assert_eq!(out.held, 0);
        assert_eq!(out.check_write().unwrap(), FILE_CHUNK);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_queue_holds_at_most_file_queue_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut out) = file_out(&dir, 0);
        let mut accepted = 0;
        // Without waiting, the permits stop once FILE_QUEUE bytes are held.
        loop {
            let permit = out.check_write().unwrap();
            if permit == 0 {
                break;
            }
            out.write(pattern(permit)).unwrap();
            accepted += permit;
            assert!(out.held <= FILE_QUEUE);
            if accepted > 2 * FILE_QUEUE {
                // The trips were quick enough to free room: the bound held throughout.
                break;
            }
        }
        assert!(matches!(out.write(pattern(FILE_CHUNK + 1)), Err(StreamError::Trap(_))));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn cancel_writes_what_was_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut out) = file_out(&dir, 3);
        let data = pattern(2 * FILE_CHUNK + 5);
        write_all(&mut out, data.clone()).await;
        out.cancel().await;
        let written = std::fs::read(&path).unwrap();
        assert_eq!(&written[3..], &data[..]);
        assert!(matches!(out.check_write(), Err(StreamError::Closed)));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failed_write_is_reported_once_then_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("read-only");
        std::fs::write(&path, b"").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let mut out = FileOut::new(Arc::new(file), 0);
        out.write(pattern(10)).unwrap();
        // The write fails on the blocking pool; the next call after it ends says so.
        while out.trip.is_some() {
            out.wait_trip().await;
        }
        assert!(matches!(out.flush(), Err(StreamError::LastOperationFailed(_))));
        assert!(matches!(out.check_write(), Err(StreamError::Closed)));
    }
}
