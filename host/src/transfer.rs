//! Streaming transfers: the `download` and `upload` resources and the
//! `wasi:io` streams they hand out, so a guest moves files of any size in
//! constant memory, and can `splice` them to and from local files without
//! the bytes entering its memory.
//!
//! A resource and its body stream share one `Transfer`: the stream moves
//! bytes, the resource's `finish` completes the transfer with the server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use suppaftp::tokio::{AsyncRustlsStream, TransferStream as FtpTransfer};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;
use wasmtime_wasi::p2::{
    DynInputStream, DynOutputStream, InputStream, OutputStream, Pollable, StreamError, StreamResult,
};

use crate::error::{self, Error, Op};
use crate::pump::{self, Next, Stopped};
use crate::usage::Usage;

/// Bytes a download hands out per chunk at most, and the write permit of
/// an upload: large enough that a `splice` loop makes few calls, small
/// enough to bound the host's memory per transfer (with the pump's queue,
/// [`pump::QUEUE_BYTES`]).
pub const STREAM_CHUNK: usize = pump::CHUNK;

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

type DataStream = FtpTransfer<AsyncRustlsStream>;

/// State shared by a download or upload resource and its body stream.
pub(crate) struct Transfer {
    info: TransferInfo,
    /// The data connection, once no pump holds it.
    stream: Option<DataStream>,
    /// Download: the task reading the data connection ahead.
    reader: Option<pump::Reader<DataStream, Error>>,
    /// Upload: the task sending what the guest wrote.
    writer: Option<pump::Writer<DataStream, Error>>,
    /// Download: the chunk the guest is taking.
    buf: Bytes,
    eof: bool,
    /// The first failure; later stream calls and `finish` report it.
    failed: Option<Error>,
    /// Bytes moved between the guest and the host (the pumps count the
    /// bytes on the connection against the run's budget as they cross).
    moved: u64,
    timeout: Duration,
    usage: Arc<Usage>,
    progress: Option<Box<dyn TransferProgress>>,
    started: Instant,
}

type Shared = Arc<Mutex<Transfer>>;

impl Transfer {
    fn op(&self) -> Op<'_> {
        op_of(&self.info)
    }

    fn count(&mut self, n: usize) {
        self.moved += n as u64;
        if let Some(p) = &self.progress {
            p.advanced(self.moved);
        }
    }

    /// Start the pump that owns the data connection until the transfer ends.
    fn start_pump(&mut self) {
        let Some(stream) = self.stream.take() else { return };
        let (usage, info) = (self.usage.clone(), self.info.clone());
        // Every byte on the data connection counts against the run's budget.
        let meter = move |n: usize| usage.moved(info.direction, n as u64, op_of(&info));
        match self.info.direction {
            Direction::Download => self.reader = Some(pump::Reader::spawn(stream, meter, self.timeout)),
            Direction::Upload => self.writer = Some(pump::Writer::spawn(stream, meter, self.timeout)),
        }
    }

    /// A pump ended: take the stream back and its failure, if any.
    fn pump_ended(&mut self, ended: pump::Ended<DataStream, Error>) {
        self.stream = ended.stream;
        let error = match ended.result {
            Ok(()) => return,
            Err(Stopped::Io(e)) => error::from_io(e, self.op()),
            Err(Stopped::TimedOut(t)) => error::timeout(self.op(), t),
            Err(Stopped::Counted(e)) => e,
        };
        self.fail(error);
    }

    /// Upload: note a writer that stopped on a failure.
    fn check_writer(&mut self) {
        if let Some(ended) = self.writer.as_mut().and_then(|w| w.ended()) {
            self.writer = None;
            self.pump_ended(ended);
        }
    }

    /// Stop the pump, if one runs, and take the data connection back.
    async fn stop_pump(&mut self) {
        if let Some(reader) = self.reader.as_mut() {
            let ended = reader.stop().await;
            self.reader = None;
            self.pump_ended(ended);
        }
        if let Some(writer) = self.writer.as_mut() {
            let ended = writer.close().await;
            self.writer = None;
            self.pump_ended(ended);
        }
    }

    fn fail(&mut self, error: Error) {
        self.failed.get_or_insert(error);
    }

    fn stream_error(&self) -> Option<StreamError> {
        self.failed.as_ref().map(|e| StreamError::LastOperationFailed(wasmtime::format_err!("{}", error::describe(e))))
    }

    /// Download: take the next chunk the pump read. Cancel-safe.
    async fn fill(&mut self) {
        if !self.buf.is_empty() || self.eof || self.failed.is_some() {
            return;
        }
        let Some(reader) = self.reader.as_mut() else { return };
        let waiting = Instant::now();
        let next = reader.next().await;
        self.usage.waited(waiting.elapsed());
        match next {
            Next::Chunk(chunk) => {
                self.count(chunk.len());
                self.buf = chunk;
            }
            Next::End(ended) => {
                self.reader = None;
                self.eof = ended.result.is_ok();
                self.pump_ended(ended);
            }
        }
    }

    /// Upload: wait until the pump has room. Cancel-safe.
    async fn drain(&mut self) {
        let Some(writer) = self.writer.as_mut() else { return };
        let waiting = Instant::now();
        let ended = writer.ready().await;
        self.usage.waited(waiting.elapsed());
        if let Some(ended) = ended {
            self.writer = None;
            self.pump_ended(ended);
        }
    }

    /// Complete the transfer with the server: its final reply decides.
    async fn finish(&mut self) -> Result<u64, Error> {
        self.stop_pump().await;
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
        // A download: let the pump read on (counting every byte) while it is near the end.
        let mut near_end = self.eof || self.info.direction == Direction::Upload;
        if let Some(reader) = self.reader.as_mut() {
            let mut left = ABANDON_DRAIN_BYTES;
            let drain = async {
                loop {
                    match reader.next().await {
                        Next::Chunk(c) if (c.len() as u64) < left => left -= c.len() as u64,
                        Next::Chunk(_) => return None,
                        Next::End(ended) => return Some(ended),
                    }
                }
            };
            if let Ok(Some(ended)) = tokio::time::timeout(self.timeout, drain).await {
                near_end = ended.result.is_ok();
                self.reader = None;
                self.stream = ended.stream;
            }
        }
        self.stop_pump().await;
        let Some(mut stream) = self.stream.take() else { return };
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

fn op_of(info: &TransferInfo) -> Op<'_> {
    let action = match info.direction {
        Direction::Download => "download",
        Direction::Upload => "upload",
    };
    Op { server: &info.server, secure: info.secure, action, path: Some(&info.path) }
}

fn shared(opened: Opened) -> Shared {
    let progress = opened.usage.observer.as_ref().map(|o| o.started(&opened.info));
    let mut transfer = Transfer {
        info: opened.info,
        stream: Some(opened.stream),
        reader: None,
        writer: None,
        buf: Bytes::new(),
        eof: false,
        failed: None,
        moved: 0,
        timeout: opened.timeout,
        usage: opened.usage,
        progress,
        started: Instant::now(),
    };
    transfer.start_pump();
    Arc::new(Mutex::new(transfer))
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
            return Ok(t.buf.split_to(n));
        }
        if let Some(e) = t.stream_error() {
            return Err(e);
        }
        if t.eof || t.reader.is_none() {
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
        t.check_writer();
        if let Some(e) = t.stream_error() {
            return Err(e);
        }
        let n = bytes.len();
        let Some(writer) = t.writer.as_mut() else { return Err(StreamError::Closed) };
        if writer.push(bytes).is_err() {
            return Err(StreamError::trap("write larger than the permit from check-write"));
        }
        t.count(n);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        // The pump sends everything queued; `finish` waits for it.
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        let Ok(mut t) = self.shared.try_lock() else { return Ok(0) };
        t.check_writer();
        if let Some(e) = t.stream_error() {
            return Err(e);
        }
        match &t.writer {
            Some(writer) => Ok(writer.permit()),
            None => Err(StreamError::Closed),
        }
    }
}
