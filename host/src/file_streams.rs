//! Streams over the guest's granted files that move 1 MiB per trip to the
//! blocking thread pool: `wasi:filesystem` `read-via-stream` and
//! `write-via-stream`, replacing wasmtime-wasi's own (64 KiB per trip).
//!
//! A guest that `splice`s between a file and an FTP transfer moves one
//! stream permit per call; with 64 KiB file streams a 1 GiB transfer takes
//! 16,384 serialized thread-pool round trips and the FTP socket idles
//! during each (bench/ANALYSIS-2026-12-01.md). The input stream also reads
//! one chunk ahead, so the next file read overlaps sending this one.
//!
//! Semantics follow wasmtime-wasi's streams: the same permission checks and
//! errors, a write permit only when no write is in flight, `flush` complete
//! once `ready` returns, and `cancel` waiting for the operation in flight.

use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::Descriptor;
use wasmtime_wasi::p2::bindings::filesystem::types::ErrorCode;
use wasmtime_wasi::p2::{
    DynInputStream, DynOutputStream, InputStream, OutputStream, Pollable, StreamError, StreamResult,
};
use wasmtime_wasi::WasiView;

/// Bytes one blocking-pool operation reads or writes: the write permit,
/// and the read-ahead of an input stream (held twice: one chunk handed out,
/// one being read).
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
            let stream: DynOutputStream = Box::new(FileOut { file, position: offset, state: OutState::Ready });
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

enum OutState {
    /// No write in flight: a permit of [`FILE_CHUNK`].
    Ready,
    Writing(JoinHandle<io::Result<()>>),
    /// The last write failed; reported once, then the stream is closed.
    Failed(io::Error),
    Closed,
}

/// `write-via-stream`: positional writes from `position` on.
struct FileOut {
    file: Arc<std::fs::File>,
    position: u64,
    state: OutState,
}

impl FileOut {
    fn take_error(&mut self) -> StreamError {
        match std::mem::replace(&mut self.state, OutState::Closed) {
            OutState::Failed(e) => failed(e),
            _ => StreamError::Closed,
        }
    }
}

#[async_trait::async_trait]
impl OutputStream for FileOut {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        match self.state {
            OutState::Ready => {}
            OutState::Closed => return Err(StreamError::Closed),
            OutState::Failed(_) => return Err(self.take_error()),
            OutState::Writing(_) => return Err(StreamError::trap("write without a permit from check-write")),
        }
        if bytes.len() > FILE_CHUNK {
            return Err(StreamError::trap("write larger than the permit from check-write"));
        }
        if bytes.is_empty() {
            return Ok(());
        }
        let (file, at) = (self.file.clone(), self.position);
        self.position += bytes.len() as u64;
        self.state = OutState::Writing(tokio::task::spawn_blocking(move || file.write_all_at(&bytes, at)));
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        // Writes are unbuffered: the one in flight is complete when `ready`
        // returns, which is what a flush promises.
        match self.state {
            OutState::Closed => Err(StreamError::Closed),
            OutState::Failed(_) => Err(self.take_error()),
            _ => Ok(()),
        }
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        match self.state {
            OutState::Ready => Ok(FILE_CHUNK),
            OutState::Writing(_) => Ok(0),
            OutState::Closed => Err(StreamError::Closed),
            OutState::Failed(_) => Err(self.take_error()),
        }
    }

    async fn cancel(&mut self) {
        // A blocking write cannot be stopped: wait for it, so that a dropped
        // stream leaves no write landing later.
        if let OutState::Writing(task) = std::mem::replace(&mut self.state, OutState::Closed) {
            let _ = task.await;
        }
    }
}

#[async_trait::async_trait]
impl Pollable for FileOut {
    async fn ready(&mut self) {
        if let OutState::Writing(task) = &mut self.state {
            self.state = match joined(task.await) {
                Ok(()) => OutState::Ready,
                Err(e) => OutState::Failed(e),
            };
        }
    }
}

// ---- input --------------------------------------------------------------------

/// `read-via-stream`: positional reads from `offset` on, one chunk ahead.
struct FileIn {
    file: Arc<std::fs::File>,
    /// Where the next read starts.
    next: u64,
    /// Read, not yet taken by the guest.
    buf: Bytes,
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
        self.reading = Some(tokio::task::spawn_blocking(move || {
            let mut chunk = BytesMut::zeroed(FILE_CHUNK);
            let mut filled = 0;
            // Fill the chunk unless the file ends: a short chunk would shift
            // every later read's offset.
            while filled < FILE_CHUNK {
                match file.read_at(&mut chunk[filled..], at + filled as u64) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            chunk.truncate(filled);
            Ok(chunk.freeze())
        }));
    }
}

#[async_trait::async_trait]
impl InputStream for FileIn {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        if !self.buf.is_empty() {
            let n = size.min(self.buf.len());
            return Ok(self.buf.split_to(n));
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
