//! Streaming transfers: the `download` and `upload` resources and the
//! `wasi:io` streams they hand out, so a guest moves files of any size in
//! constant memory, and can `splice` them to and from local files without
//! the bytes entering its memory.
//!
//! A resource and its body stream share one `Transfer`: the stream moves
//! bytes, the resource's `finish` completes the transfer with the server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use suppaftp::tokio::{AsyncRustlsStream, TransferStream as FtpTransfer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;
use wasmtime_wasi::p2::{
    DynInputStream, DynOutputStream, InputStream, OutputStream, Pollable, StreamError, StreamResult,
};

use crate::error::{self, Error, Op};
use crate::usage::Usage;

/// Bytes one `ready` of a download reads ahead at most, and the write
/// permit of an upload: large enough that a `splice` loop makes few calls,
/// small enough to bound the host's memory per transfer.
pub const STREAM_CHUNK: usize = 1024 * 1024;

/// Most bytes a download dropped without `finish` reads and discards so it
/// can end normally rather than be cut (see `Transfer::abort`).
pub const ABANDON_DRAIN_BYTES: u64 = 16 * 1024 * 1024;

/// Which way a transfer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the server.
    Download,
    /// To the server.
    Upload,
}

/// What a streaming transfer is, for observers.
#[derive(Clone, Debug)]
pub struct TransferInfo {
    /// Which way.
    pub direction: Direction,
    /// `host:port` of the server.
    pub server: String,
    /// Whether the data connection is TLS-protected.
    pub secure: bool,
    /// The remote path.
    pub path: String,
    /// The remote file's size, if known (downloads only).
    pub size: Option<u64>,
    /// Where the transfer starts in the remote file.
    pub offset: u64,
}

/// Told about streaming transfers as they go: the CLI draws progress bars
/// with it. Calls come from the host's async tasks and must not block.
pub trait TransferObserver: Send + Sync {
    /// A transfer started; the returned value follows it.
    fn started(&self, info: &TransferInfo) -> Box<dyn TransferProgress>;
}

/// Follows one transfer.
pub trait TransferProgress: Send + Sync {
    /// `total` bytes have moved so far.
    fn advanced(&self, total: u64);
    /// The transfer ended: `Ok(bytes)` once the server confirmed it.
    fn finished(&self, outcome: Result<u64, &Error>, elapsed: Duration);
}

/// State shared by a download or upload resource and its body stream.
pub(crate) struct Transfer {
    info: TransferInfo,
    stream: Option<FtpTransfer<AsyncRustlsStream>>,
    /// Download: bytes read ahead, not yet taken by the guest.
    /// Upload: unused.
    buf: BytesMut,
    /// Upload: bytes accepted from the guest, not yet sent.
    pending: Bytes,
    eof: bool,
    /// The first failure; later stream calls and `finish` report it.
    failed: Option<Error>,
    /// Bytes moved between the guest and the server.
    moved: u64,
    timeout: Duration,
    usage: Arc<Usage>,
    progress: Option<Box<dyn TransferProgress>>,
    started: Instant,
}

type Shared = Arc<Mutex<Transfer>>;

impl Transfer {
    fn op(&self) -> Op<'_> {
        let action = match self.info.direction {
            Direction::Download => "download",
            Direction::Upload => "upload",
        };
        Op { server: &self.info.server, secure: self.info.secure, action, path: Some(&self.info.path) }
    }

    fn count(&mut self, n: usize) {
        self.moved += n as u64;
        let usage = self.usage.clone();
        if let Err(e) = usage.moved(self.info.direction, n as u64, self.op()) {
            self.fail(e);
        }
        if let Some(p) = &self.progress {
            p.advanced(self.moved);
        }
    }

    fn fail(&mut self, error: Error) {
        self.failed.get_or_insert(error);
    }

    fn stream_error(&self) -> Option<StreamError> {
        self.failed.as_ref().map(|e| StreamError::LastOperationFailed(wasmtime::format_err!("{}", error::describe(e))))
    }

    /// Download: read what the data connection has, up to [`STREAM_CHUNK`].
    async fn fill(&mut self) {
        if !self.buf.is_empty() || self.eof || self.failed.is_some() {
            return;
        }
        let Some(stream) = self.stream.as_mut() else { return };
        self.buf.reserve(STREAM_CHUNK);
        let timeout = self.timeout;
        let waiting = Instant::now();
        let read = tokio::time::timeout(timeout, stream.read_buf(&mut self.buf)).await;
        self.usage.waited(waiting.elapsed());
        let first = match read {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                let e = error::from_io(e, self.op());
                return self.fail(e);
            }
            Err(_) => {
                let e = error::timeout(self.op(), timeout);
                return self.fail(e);
            }
        };
        if first == 0 {
            self.eof = true;
            return;
        }
        // Take whatever else is already there (TLS hands out one record per
        // read), without waiting: fewer, larger chunks for the guest.
        let mut total = first;
        while self.buf.len() < STREAM_CHUNK {
            match stream.read_buf(&mut self.buf).now_or_never() {
                Some(Ok(0)) => {
                    self.eof = true;
                    break;
                }
                Some(Ok(n)) => total += n,
                Some(Err(e)) => {
                    let e = error::from_io(e, self.op());
                    self.fail(e);
                    break;
                }
                None => break,
            }
        }
        self.count(total);
    }

    /// Upload: send what the guest wrote.
    async fn drain(&mut self) {
        if self.pending.is_empty() || self.failed.is_some() {
            return;
        }
        let Some(stream) = self.stream.as_mut() else { return };
        let pending = std::mem::take(&mut self.pending);
        let timeout = self.timeout;
        let waiting = Instant::now();
        let written = tokio::time::timeout(timeout, stream.write_all(&pending)).await;
        self.usage.waited(waiting.elapsed());
        match written {
            Ok(Ok(())) => self.count(pending.len()),
            Ok(Err(e)) => {
                let e = error::from_io(e, self.op());
                self.fail(e)
            }
            Err(_) => {
                let e = error::timeout(self.op(), timeout);
                self.fail(e)
            }
        }
    }

    /// Complete the transfer with the server: its final reply decides.
    async fn finish(&mut self) -> Result<u64, Error> {
        self.drain().await;
        let stream = self.stream.take();
        let result = match (self.failed.take(), stream) {
            (Some(e), _) => Err(e),
            (None, None) => Err(Error::InvalidInput(format!("{}: the transfer is already finished", self.op()))),
            (None, Some(stream)) => {
                let timeout = self.timeout;
                match tokio::time::timeout(timeout, stream.finish()).await {
                    Ok(Ok(())) => Ok(self.moved),
                    Ok(Err(e)) => Err(error::from_ftp(e, self.op())),
                    Err(_) => Err(error::timeout(self.op(), timeout)),
                }
            }
        };
        self.report(&result);
        result
    }

    /// Abandon the transfer, keeping the session usable. An upload is
    /// ended (the server keeps what it received). A download is read to its
    /// end if that is near, so the server finishes normally: servers treat a
    /// data connection closed under them as an error, and proftpd ends the
    /// whole session when that happens under TLS. A download with more left
    /// is closed (TLS close_notify first) and its reply left for the
    /// session's next command; the session may then be lost.
    async fn abort(&mut self) {
        let Some(mut stream) = self.stream.take() else { return };
        let near_end = match self.info.direction {
            Direction::Upload => true,
            Direction::Download => {
                let mut left = ABANDON_DRAIN_BYTES;
                let mut scratch = vec![0u8; 64 * 1024];
                let drain = async {
                    loop {
                        match stream.read(&mut scratch).await {
                            Ok(0) => return true,
                            Ok(n) if (n as u64) < left => left -= n as u64,
                            _ => return false,
                        }
                    }
                };
                self.eof || tokio::time::timeout(self.timeout, drain).await.unwrap_or(false)
            }
        };
        if near_end {
            let _ = tokio::time::timeout(self.timeout, stream.finish()).await;
        } else {
            let _ = tokio::time::timeout(self.timeout, stream.get_mut().shutdown()).await;
        }
        let result = Err(Error::Io(format!("{}: dropped without finish", self.op())));
        self.report(&result);
    }

    fn report(&mut self, result: &Result<u64, Error>) {
        if let Some(p) = self.progress.take() {
            p.finished(result.as_ref().copied(), self.started.elapsed());
        }
        let op = Op {
            action: if self.info.direction == Direction::Download { "finish download" } else { "finish upload" },
            ..self.op()
        };
        // The waiting was counted as it happened; the audit wants the whole transfer.
        let usage = self.usage.clone();
        usage.audit_only(op, self.started.elapsed(), self.moved, result);
    }
}

/// The `download` resource.
pub struct Download {
    shared: Shared,
    body_taken: bool,
}

/// The `upload` resource.
pub struct Upload {
    shared: Shared,
    body_taken: bool,
    /// Set when the upload goes to a temporary name first.
    pub(crate) staged: Option<Staged>,
}

/// An atomic upload: the bytes go to `temp`, renamed to `target` once the
/// server confirmed them, removed otherwise.
#[derive(Clone, Debug)]
pub(crate) struct Staged {
    /// The temporary name, in the target's directory.
    pub temp: String,
    /// The name the file gets once complete.
    pub target: String,
    /// The `session` resource the upload came from (its rep in the table).
    pub session: u32,
}

/// A temporary name next to `target`, hidden on Unix servers.
pub(crate) fn staging_name(target: &str) -> String {
    let (dir, name) = target.rsplit_once('/').unwrap_or(("", target));
    let mut tag = [0u8; 6];
    let _ = getrandom::fill(&mut tag);
    format!("{dir}/.{name}.ftp-host-{}.part", hex::encode(tag))
}

/// Everything a transfer needs from its session.
pub(crate) struct Opened {
    pub info: TransferInfo,
    pub stream: FtpTransfer<AsyncRustlsStream>,
    pub timeout: Duration,
    pub usage: Arc<Usage>,
}

fn shared(opened: Opened) -> Shared {
    let progress = opened.usage.observer.as_ref().map(|o| o.started(&opened.info));
    Arc::new(Mutex::new(Transfer {
        info: opened.info,
        stream: Some(opened.stream),
        buf: BytesMut::new(),
        pending: Bytes::new(),
        eof: false,
        failed: None,
        moved: 0,
        timeout: opened.timeout,
        usage: opened.usage,
        progress,
        started: Instant::now(),
    }))
}

fn body_twice(shared: &Shared) -> Error {
    let what = shared.try_lock().map(|t| t.op().to_string()).unwrap_or_else(|_| "transfer".into());
    Error::InvalidInput(format!("{what}: the body stream was already taken"))
}

impl Download {
    pub(crate) fn new(opened: Opened) -> Self {
        Download { shared: shared(opened), body_taken: false }
    }

    pub(crate) fn body(&mut self) -> Result<DynInputStream, Error> {
        if std::mem::replace(&mut self.body_taken, true) {
            return Err(body_twice(&self.shared));
        }
        Ok(Box::new(DownloadBody { shared: self.shared.clone() }))
    }

    pub(crate) fn size(&self) -> Option<u64> {
        self.shared.try_lock().ok().and_then(|t| t.info.size)
    }

    pub(crate) async fn finish(self) -> Result<u64, Error> {
        self.shared.lock().await.finish().await
    }

    pub(crate) async fn abort(self) {
        self.shared.lock().await.abort().await
    }
}

impl Upload {
    pub(crate) fn new(opened: Opened, staged: Option<Staged>) -> Self {
        Upload { shared: shared(opened), body_taken: false, staged }
    }

    pub(crate) fn body(&mut self) -> Result<DynOutputStream, Error> {
        if std::mem::replace(&mut self.body_taken, true) {
            return Err(body_twice(&self.shared));
        }
        Ok(Box::new(UploadBody { shared: self.shared.clone() }))
    }

    pub(crate) async fn finish(self) -> Result<u64, Error> {
        self.shared.lock().await.finish().await
    }

    pub(crate) async fn abort(self) {
        self.shared.lock().await.abort().await
    }
}

/// The `input-stream` of a download.
struct DownloadBody {
    shared: Shared,
}

#[async_trait::async_trait]
impl Pollable for DownloadBody {
    async fn ready(&mut self) {
        self.shared.lock().await.fill().await
    }
}

impl InputStream for DownloadBody {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        // Guest calls on one store never overlap; a held lock means a
        // `ready` is still filling, so nothing is ready yet.
        let Ok(mut t) = self.shared.try_lock() else { return Ok(Bytes::new()) };
        if !t.buf.is_empty() {
            let n = size.min(t.buf.len());
            return Ok(t.buf.split_to(n).freeze());
        }
        if let Some(e) = t.stream_error() {
            return Err(e);
        }
        if t.eof || t.stream.is_none() {
            return Err(StreamError::Closed);
        }
        Ok(Bytes::new())
    }
}

/// The `output-stream` of an upload.
struct UploadBody {
    shared: Shared,
}

#[async_trait::async_trait]
impl Pollable for UploadBody {
    async fn ready(&mut self) {
        self.shared.lock().await.drain().await
    }
}

impl OutputStream for UploadBody {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let Ok(mut t) = self.shared.try_lock() else {
            return Err(StreamError::trap("write without a permit from check-write"));
        };
        if let Some(e) = t.stream_error() {
            return Err(e);
        }
        if t.stream.is_none() {
            return Err(StreamError::Closed);
        }
        if !t.pending.is_empty() || bytes.len() > STREAM_CHUNK {
            return Err(StreamError::trap("write larger than the permit from check-write"));
        }
        t.pending = bytes;
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        // Every `ready` sends all pending bytes: nothing more to do here.
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        let Ok(t) = self.shared.try_lock() else { return Ok(0) };
        if let Some(e) = t.stream_error() {
            return Err(e);
        }
        if t.stream.is_none() {
            return Err(StreamError::Closed);
        }
        Ok(if t.pending.is_empty() { STREAM_CHUNK } else { 0 })
    }
}
