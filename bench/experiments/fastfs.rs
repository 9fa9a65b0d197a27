//! EXPERIMENT (bench): `read-via-stream` / `write-via-stream` with 1 MiB
//! chunks (wasmtime-wasi's own file streams move 64 KiB per blocking-pool
//! round trip), read-ahead on input. Enabled with FTP_HOST_EXP_FASTFS=1.

use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::Descriptor;
use wasmtime_wasi::p2::bindings::filesystem::types::ErrorCode;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, InputStream, OutputStream, Pollable, StreamError, StreamResult};
use wasmtime_wasi::WasiView;

const CHUNK: usize = 1 << 20;

/// Shadow `read-via-stream` and `write-via-stream` in `linker` (after
/// `wasmtime_wasi::p2::add_to_linker_async`).
pub fn add<T: WasiView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut inst = linker.instance("wasi:filesystem/types@0.2.12")?;
    inst.func_wrap("[method]descriptor.write-via-stream", |mut store, (fd, offset): (Resource<Descriptor>, u64)| {
        let table = store.data_mut().ctx().table;
        let file = match table.get(&fd)? {
            Descriptor::File(f) if f.perms.write_not_permitted() => return Ok((Err(ErrorCode::NotPermitted),)),
            Descriptor::File(f) => f.file.clone(),
            Descriptor::Dir(_) => return Ok((Err(ErrorCode::IsDirectory),)),
        };
        let stream: DynOutputStream = Box::new(Out { file, pos: offset, state: OutState::Ready });
        Ok((Ok(table.push(stream)?),))
    })?;
    inst.func_wrap("[method]descriptor.read-via-stream", |mut store, (fd, offset): (Resource<Descriptor>, u64)| {
        let table = store.data_mut().ctx().table;
        let file = match table.get(&fd)? {
            Descriptor::File(f) => f.file.clone(),
            Descriptor::Dir(_) => return Ok((Err(ErrorCode::IsDirectory),)),
        };
        let stream: DynInputStream = Box::new(In { file, next: offset, buf: Bytes::new(), pending: None, eof: false, error: None });
        Ok((Ok(table.push(stream)?),))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

enum OutState {
    Ready,
    Waiting(tokio::task::JoinHandle<io::Result<()>>),
    Error(io::Error),
    Closed,
}

struct Out {
    file: Arc<std::fs::File>,
    pos: u64,
    state: OutState,
}

#[async_trait::async_trait]
impl OutputStream for Out {
    fn write(&mut self, buf: Bytes) -> StreamResult<()> {
        match self.state {
            OutState::Ready => {}
            OutState::Closed => return Err(StreamError::Closed),
            _ => return Err(StreamError::trap("write not permitted: check_write not called first")),
        }
        let (file, pos) = (self.file.clone(), self.pos);
        self.pos += buf.len() as u64;
        self.state = OutState::Waiting(tokio::task::spawn_blocking(move || file.write_all_at(&buf, pos)));
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        match std::mem::replace(&mut self.state, OutState::Closed) {
            OutState::Error(e) => Err(StreamError::LastOperationFailed(e.into())),
            OutState::Closed => Err(StreamError::Closed),
            other => {
                self.state = other;
                Ok(())
            }
        }
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        match &self.state {
            OutState::Ready => Ok(CHUNK),
            OutState::Waiting(_) => Ok(0),
            OutState::Closed => Err(StreamError::Closed),
            OutState::Error(_) => match std::mem::replace(&mut self.state, OutState::Closed) {
                OutState::Error(e) => Err(StreamError::LastOperationFailed(e.into())),
                _ => unreachable!(),
            },
        }
    }

    async fn cancel(&mut self) {
        if let OutState::Waiting(h) = std::mem::replace(&mut self.state, OutState::Closed) {
            let _ = h.await;
        }
    }
}

#[async_trait::async_trait]
impl Pollable for Out {
    async fn ready(&mut self) {
        if let OutState::Waiting(h) = &mut self.state {
            self.state = match h.await {
                Ok(Ok(())) => OutState::Ready,
                Ok(Err(e)) => OutState::Error(e),
                Err(e) => OutState::Error(io::Error::other(e)),
            };
        }
    }
}

struct In {
    file: Arc<std::fs::File>,
    /// Offset of the next read to start.
    next: u64,
    buf: Bytes,
    pending: Option<tokio::task::JoinHandle<io::Result<Bytes>>>,
    eof: bool,
    error: Option<io::Error>,
}

impl In {
    fn spawn(&mut self) {
        let (file, pos) = (self.file.clone(), self.next);
        self.next += CHUNK as u64;
        self.pending = Some(tokio::task::spawn_blocking(move || {
            let mut b = BytesMut::zeroed(CHUNK);
            let n = file.read_at(&mut b, pos)?;
            b.truncate(n);
            Ok(b.freeze())
        }));
    }
}

#[async_trait::async_trait]
impl InputStream for In {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        if !self.buf.is_empty() {
            let n = size.min(self.buf.len());
            return Ok(self.buf.split_to(n));
        }
        if let Some(e) = self.error.take() {
            self.eof = true;
            return Err(StreamError::LastOperationFailed(e.into()));
        }
        if self.eof {
            return Err(StreamError::Closed);
        }
        if self.pending.is_none() {
            self.spawn();
        }
        Ok(Bytes::new())
    }

    async fn cancel(&mut self) {
        if let Some(h) = self.pending.take() {
            let _ = h.await;
        }
    }
}

#[async_trait::async_trait]
impl Pollable for In {
    async fn ready(&mut self) {
        if !self.buf.is_empty() || self.eof || self.error.is_some() {
            return;
        }
        if self.pending.is_none() {
            self.spawn();
        }
        let h = self.pending.take().expect("spawned");
        match h.await {
            Ok(Ok(b)) if b.is_empty() => self.eof = true,
            Ok(Ok(b)) => {
                let short = b.len() < CHUNK;
                self.buf = b;
                if short {
                    // A regular file reads short only at its end.
                    self.eof = true;
                } else {
                    self.spawn();
                }
            }
            Ok(Err(e)) => self.error = Some(e),
            Err(e) => self.error = Some(io::Error::other(e)),
        }
    }
}
