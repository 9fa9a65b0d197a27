//! Streaming transfers: the `download` and `upload` resources and the
//! `wasi:io` streams they hand out, so a guest moves files of any size in
//! constant memory, and can `splice` them to and from local files without
//! the bytes entering its memory.
//!
//! A resource and its body stream share one `Transfer`: the stream moves
//! bytes, the resource's `finish` completes the transfer with the server.
//! A transfer holds its session's control connection: it finishes on the
//! connection it was opened on, and keeps the session slot taken until it
//! is gone. Once the guest takes the body, the data connection belongs to
//! a pump ([`super::pump`]) that reads ahead of a download or writes behind
//! an upload, counting every byte against the run's budget as it crosses.
//!
//! `save-to` and `send-from` move the whole rest of a transfer between its
//! data connection and a granted file in one call, instead of the body: one
//! blocking-pool thread moves it, a plain one ([`super::plain_copy`]) or a
//! TLS one ([`super::tls_copy`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use suppaftp::tokio::{AsyncDataStream as FtpData, AsyncRustlsStream, TransferStream as FtpTransfer};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;
use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::{Descriptor, OpenMode};
use wasmtime_wasi::p2::{
    DynInputStream, DynOutputStream, InputStream, OutputStream, Pollable, StreamError, StreamResult,
};

use super::ops::{commit, staging_name};
use super::plain_copy;
use super::pump::{self, Next, Stopped};
use super::session::{Session, SharedControl};
use super::tls_copy::TlsCopy;
use super::{Conn, FtpView};
use crate::bindings::client::{HostDownload, HostUpload, SendMode};
use crate::error::{self, describe, Action, Error, HostResult, Op};
use crate::observe::{Direction, TransferInfo, TransferProgress};
use crate::policy::Policy;
use crate::usage::Usage;

/// Most bytes a download dropped without `finish` reads and discards so it
/// can end normally rather than be cut (see `Transfer::abort`). They count
/// against the run's byte quota like any other.
pub const ABANDON_DRAIN_BYTES: u64 = 16 * 1024 * 1024;

type DataStream = FtpTransfer<AsyncRustlsStream>;

/// A data connection just opened by `open-get` or `open-send`, not yet
/// tied to its session's resources.
pub(crate) struct Opened {
    info: TransferInfo,
    stream: DataStream,
    timeout: Duration,
    usage: Arc<Usage>,
    policy: Arc<Policy>,
    staged: Option<Staged>,
}

/// An atomic upload: the bytes go to `temp`, renamed to `target` once the
/// server confirmed them, removed otherwise.
#[derive(Clone, Debug)]
struct Staged {
    temp: String,
    target: String,
}

/// `REST` (when resuming) + `RETR`, with `SIZE` first for progress.
pub(super) async fn open_download(c: &mut Conn<'_>, path: &str, offset: u64) -> Result<Opened, Error> {
    let op = c.op;
    // Best effort, for progress: not every server answers SIZE, and RETR reports a missing file.
    let size = c.call(|ftp| ftp.size(path)).await.ok().map(|s| s as u64);
    if offset > 0 {
        let at =
            usize::try_from(offset).map_err(|_| Error::InvalidInput(format!("{op}: offset {offset} is too large")))?;
        c.call(|ftp| ftp.resume_transfer(at)).await?;
    }
    let stream = c.call(|ftp| ftp.retr_as_stream(path)).await?;
    let info = TransferInfo {
        direction: Direction::Download,
        server: op.server.to_string(),
        secure: op.secure,
        path: path.to_string(),
        size,
        offset,
    };
    Ok(Opened { info, stream, timeout: c.timeout, usage: c.usage.clone(), policy: c.policy.clone(), staged: None })
}

/// `STOR` (to a staging name when replacing and `staging` is on), `APPE`,
/// or `REST` + `STOR`.
pub(super) async fn open_upload(
    c: &mut Conn<'_>,
    target: &str,
    mode: SendMode,
    staging: bool,
) -> Result<Opened, Error> {
    let op = c.op;
    // A replacement goes to a temporary name first: readers of the target
    // see the old file or the whole new one, never a part.
    let staged = match mode {
        SendMode::Replace if staging => Some(Staged { temp: staging_name(c, target)?, target: target.to_string() }),
        _ => None,
    };
    let offset = match mode {
        SendMode::ResumeAt(offset) => offset,
        _ => 0,
    };
    let stream = match mode {
        SendMode::Replace => {
            let destination = staged.as_ref().map_or(target, |s| s.temp.as_str());
            c.call(|ftp| ftp.put_with_stream(destination)).await?
        }
        SendMode::Append => c.call(|ftp| ftp.append_with_stream(target)).await?,
        SendMode::ResumeAt(offset) => {
            let at = usize::try_from(offset)
                .map_err(|_| Error::InvalidInput(format!("{op}: offset {offset} is too large")))?;
            c.call(|ftp| ftp.resume_transfer(at)).await?;
            c.call(|ftp| ftp.put_with_stream(target)).await?
        }
    };
    let info = TransferInfo {
        direction: Direction::Upload,
        server: op.server.to_string(),
        secure: op.secure,
        path: target.to_string(),
        size: None,
        offset,
    };
    Ok(Opened { info, stream, timeout: c.timeout, usage: c.usage.clone(), policy: c.policy.clone(), staged })
}

impl Opened {
    /// Tie the transfer to the session it was opened on.
    fn shared(self, session: &Session) -> Shared {
        let progress = self.usage.observer.as_ref().map(|o| o.started(&self.info));
        Arc::new(Mutex::new(Transfer {
            info: self.info,
            address: session.address.clone(),
            grant: session.grant,
            control: session.control.clone(),
            policy: self.policy,
            staged: self.staged,
            pump: Pump::Idle,
            stream: Some(self.stream),
            buf: Bytes::new(),
            flushing: false,
            eof: false,
            failed: None,
            moved: 0,
            timeout: self.timeout,
            usage: self.usage,
            progress,
            started: Instant::now(),
        }))
    }

    pub(super) fn into_download(self, session: &Session) -> Download {
        Download { shared: self.shared(session), body_taken: false }
    }

    pub(super) fn into_upload(self, session: &Session) -> Upload {
        Upload { shared: self.shared(session), body_taken: false }
    }
}

/// State shared by a download or upload resource and its body stream.
struct Transfer {
    info: TransferInfo,
    /// `host:port` as dialed, for the audit log.
    address: String,
    grant: usize,
    /// The session's control connection: the transfer's final reply and a
    /// staged upload's rename happen there, and nowhere else.
    control: SharedControl,
    policy: Arc<Policy>,
    staged: Option<Staged>,
    /// The task moving the data connection's bytes, from when the guest
    /// takes the body (or calls `save-to` on a TLS download) until the
    /// transfer ends or the pump stops on its own.
    pump: Pump,
    /// The data connection while no pump has it (before the body is taken,
    /// or once the pump gave it back), for `save-to`/`send-from` and the
    /// final reply.
    stream: Option<DataStream>,
    /// Download: the chunk the guest is taking.
    buf: Bytes,
    /// Upload: the guest asked for a flush; `ready` waits until the pump
    /// sent everything.
    flushing: bool,
    /// Download: the pump read to the end of the data.
    eof: bool,
    /// The first failure; later stream calls and `finish` report it.
    failed: Option<Error>,
    /// Bytes moved between the guest and the host (the pump counts the
    /// bytes on the connection against the run's budget as they cross).
    moved: u64,
    timeout: Duration,
    usage: Arc<Usage>,
    progress: Option<Box<dyn TransferProgress>>,
    started: Instant,
}

type Shared = Arc<Mutex<Transfer>>;

/// The pump of a transfer's data connection, by direction; `None` once it
/// ended and gave the stream back.
enum Pump {
    /// Not started: the body was not taken (yet).
    Idle,
    Download(Option<pump::Reader<DataStream, Error>>),
    Upload(Option<pump::Writer<DataStream, Error>>),
    /// A TLS `save-to` or `send-from`: one thread moves the bytes.
    Tls(Option<TlsCopy<DataStream, Error>>),
}

impl Pump {
    /// Start the pump that owns `stream` until the transfer ends. Every
    /// byte on the data connection counts against the run's budget.
    fn start(stream: DataStream, info: &TransferInfo, usage: &Arc<Usage>, timeout: Duration) -> Self {
        let meter = meter(usage, info);
        match info.direction {
            Direction::Download => Pump::Download(Some(pump::Reader::spawn(stream, meter, timeout))),
            Direction::Upload => Pump::Upload(Some(pump::Writer::spawn(stream, meter, timeout))),
        }
    }

    fn reader(&mut self) -> Option<&mut pump::Reader<DataStream, Error>> {
        match self {
            Pump::Download(reader) => reader.as_mut(),
            Pump::Idle | Pump::Upload(_) | Pump::Tls(_) => None,
        }
    }

    fn writer(&mut self) -> Option<&mut pump::Writer<DataStream, Error>> {
        match self {
            Pump::Upload(writer) => writer.as_mut(),
            Pump::Idle | Pump::Download(_) | Pump::Tls(_) => None,
        }
    }

    fn tls_copy(&mut self) -> Option<&mut TlsCopy<DataStream, Error>> {
        match self {
            Pump::Tls(copy) => copy.as_mut(),
            Pump::Idle | Pump::Download(_) | Pump::Upload(_) => None,
        }
    }

    fn running(&self) -> bool {
        matches!(self, Pump::Download(Some(_)) | Pump::Upload(Some(_)) | Pump::Tls(Some(_)))
    }

    /// Forget the pump once it has ended.
    fn ended(&mut self) {
        match self {
            Pump::Idle => {}
            Pump::Download(reader) => *reader = None,
            Pump::Upload(writer) => *writer = None,
            Pump::Tls(copy) => *copy = None,
        }
    }
}

/// `n` more bytes moved between the guest and the host: the transfer's
/// count, and its observer told.
fn advance(moved: &mut u64, progress: &Option<Box<dyn TransferProgress>>, n: u64) {
    *moved += n;
    if let Some(p) = progress {
        p.advanced(*moved);
    }
}

/// Counts every byte on the data connection against the run's budget.
fn meter(usage: &Arc<Usage>, info: &TransferInfo) -> impl FnMut(usize) -> Result<(), Error> + Send + 'static {
    let (usage, info) = (usage.clone(), info.clone());
    move |n: usize| usage.moved(info.direction, n as u64, op_of(&info))
}

fn op_of(info: &TransferInfo) -> Op<'_> {
    let action = match info.direction {
        Direction::Download => Action::Download,
        Direction::Upload => Action::Upload,
    };
    Op { server: &info.server, secure: info.secure, action, path: Some(&info.path) }
}

impl Transfer {
    fn op(&self) -> Op<'_> {
        op_of(&self.info)
    }

    /// Bytes the guest took or gave (the budget is the pump's, on the wire).
    fn count(&mut self, n: usize) {
        advance(&mut self.moved, &self.progress, n as u64);
    }

    /// Give the data connection to a pump, unless one has it already.
    fn start_pump(&mut self) {
        // The stream is taken only for a pump that starts: one that ended
        // gave it back for the final reply.
        if matches!(self.pump, Pump::Idle) {
            if let Some(stream) = self.stream.take() {
                self.pump = Pump::start(stream, &self.info, &self.usage, self.timeout);
            }
        }
    }

    /// The pump ended: take the stream back, and its failure, if any.
    fn pump_ended(&mut self, ended: pump::Ended<DataStream, Error>) {
        if let Some(moved) = self.pump.tls_copy().map(TlsCopy::progress) {
            self.count(moved as usize);
        }
        self.pump.ended();
        self.stream = ended.stream;
        if let Err(stopped) = ended.result {
            self.stopped(stopped);
        }
    }

    /// The bytes stopped moving early: note why.
    fn stopped(&mut self, stopped: Stopped<Error>) {
        let error = match stopped {
            Stopped::Io(e) => error::from_io(e, self.op()),
            Stopped::TimedOut(t) => error::timeout(self.op(), t),
            Stopped::Counted(e) => e,
            Stopped::Local(e) => self.local_failed(e),
        };
        self.fail(error);
    }

    /// The granted file of a `save-to` or `send-from` failed.
    fn local_failed(&self, e: impl std::fmt::Display) -> Error {
        let (verb, noun) = match self.info.direction {
            Direction::Download => ("writing", "save-to"),
            Direction::Upload => ("reading", "send-from"),
        };
        Error::Io(format!("{}: {verb} the local file of `{noun}` failed: {e}", self.op()))
    }

    /// Upload: note a writer that stopped on a failure.
    fn check_writer(&mut self) {
        if let Some(ended) = self.pump.writer().and_then(|w| w.ended()) {
            self.pump_ended(ended);
        }
    }

    /// Stop the pump, if it runs, and take the data connection back: a
    /// download's read-ahead is dropped (it was counted), an upload's queue
    /// is sent first. Cancel-safe.
    async fn stop_pump(&mut self) {
        let ended = match &mut self.pump {
            Pump::Download(Some(reader)) => reader.stop().await,
            Pump::Upload(Some(writer)) => writer.close().await,
            Pump::Tls(Some(copy)) => copy.stop().await,
            Pump::Idle | Pump::Download(None) | Pump::Upload(None) | Pump::Tls(None) => return,
        };
        self.pump_ended(ended);
    }

    fn fail(&mut self, error: Error) {
        self.failed.get_or_insert(error);
    }

    fn stream_error(&self) -> Option<StreamError> {
        self.failed.as_ref().map(|e| StreamError::LastOperationFailed(wasmtime::format_err!("{}", describe(e))))
    }

    /// Download: take the next chunk the pump read. Cancel-safe.
    async fn fill(&mut self) {
        if !self.buf.is_empty() || self.eof || self.failed.is_some() {
            return;
        }
        let Some(reader) = self.pump.reader() else { return };
        let waiting = self.usage.waiting();
        let next = reader.next().await;
        drop(waiting);
        match next {
            Next::Chunk(chunk) => {
                self.count(chunk.len());
                self.buf = chunk;
            }
            Next::End(ended) => {
                self.eof = ended.result.is_ok();
                self.pump_ended(ended);
            }
        }
    }

    /// Upload: wait until the pump has room for a chunk, or, after a flush,
    /// until it sent everything. Cancel-safe: bytes the guest wrote are the
    /// pump's, and a dropped wait loses nothing.
    async fn drain(&mut self) {
        let flushing = self.flushing;
        let Some(writer) = self.pump.writer() else { return };
        let waiting = self.usage.waiting();
        let ended = match flushing {
            true => writer.flushed().await,
            false => writer.ready().await,
        };
        drop(waiting);
        self.flushing = false;
        if let Some(ended) = ended {
            self.pump_ended(ended);
        }
    }

    /// `save-to` or `send-from`: move the whole rest of the transfer
    /// between its data connection and `file` from `offset` on. Returns the
    /// bytes moved; a failure is also kept for `finish`.
    async fn move_file(&mut self, file: Arc<std::fs::File>, offset: u64) -> Result<u64, Error> {
        let before = self.moved;
        let _waiting = self.usage.waiting();
        match self.stream.as_ref().map(|s| s.get_ref()) {
            None => return Err(Error::InvalidInput(format!("{}: the transfer is already finished", self.op()))),
            Some(FtpData::Tcp(_)) => self.plain_copy(file, offset).await,
            Some(_) => self.tls_copy(file, offset).await,
        }
        match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(self.moved - before),
        }
    }

    /// Plain FTP: one thread moves the bytes, on a duplicate of the data
    /// connection's descriptor.
    async fn plain_copy(&mut self, file: Arc<std::fs::File>, offset: u64) {
        let (direction, meter, timeout) = (self.info.direction, meter(&self.usage, &self.info), self.timeout);
        let Transfer { stream, moved, progress, .. } = self;
        let Some(FtpData::Tcp(tcp)) = stream.as_mut().map(|s| s.get_mut()) else { return };
        let copied = plain_copy::copy(direction, tcp, file, offset, timeout, meter, |n| advance(moved, progress, n));
        match copied.await {
            Ok(_) => self.eof = direction == Direction::Download,
            Err(stopped) => self.stopped(stopped),
        }
    }

    /// TLS: one thread moves the bytes, rustls encrypting or decrypting on
    /// it. Cancel-safe: the copy is the transfer's until it ends.
    async fn tls_copy(&mut self, file: Arc<std::fs::File>, offset: u64) {
        if matches!(self.pump, Pump::Idle) {
            if let Some(stream) = self.stream.take() {
                let (meter, timeout) = (meter(&self.usage, &self.info), self.timeout);
                self.pump = Pump::Tls(Some(match self.info.direction {
                    Direction::Download => TlsCopy::save(stream, file, offset, timeout, meter),
                    Direction::Upload => TlsCopy::send(stream, file, offset, timeout, meter),
                }));
            }
        }
        let Transfer { pump, moved, progress, .. } = self;
        let Some(copy) = pump.tls_copy() else { return };
        let ended = copy.follow(|n| advance(moved, progress, n)).await;
        self.eof = ended.result.is_ok() && self.info.direction == Direction::Download;
        self.pump_ended(ended);
    }

    /// Complete the transfer with the server: its final reply decides; a
    /// staged upload is then renamed into place on its own connection.
    async fn finish(&mut self) -> Result<u64, Error> {
        {
            let _waiting = self.usage.waiting();
            self.stop_pump().await;
        }
        let stream = self.stream.take();
        let result = match (self.failed.take(), stream) {
            (Some(e), _) => Err(e),
            (None, None) => Err(Error::InvalidInput(format!("{}: the transfer is already finished", self.op()))),
            (None, Some(stream)) => {
                let timeout = self.timeout;
                let _waiting = self.usage.waiting();
                match tokio::time::timeout(timeout, stream.finish()).await {
                    Ok(Ok(())) => Ok(self.moved),
                    Ok(Err(e)) => Err(error::from_ftp(e, self.op())),
                    Err(_) => Err(error::timeout(self.op(), timeout)),
                }
            }
        };
        let result = self.settle(result).await;
        self.report(&result);
        result
    }

    /// Rename a staged upload into place, or remove it, on the connection
    /// the upload was opened on.
    async fn settle(&mut self, result: Result<u64, Error>) -> Result<u64, Error> {
        let Some(staged) = self.staged.take() else { return result };
        let control = self.control.clone();
        let mut control = control.lock().await;
        let op = Op { action: Action::FinishUpload, ..self.op() };
        let settled = match control.parts() {
            Err(closed) => result.and(Err(closed.error(op))),
            Ok((ftp, features)) => {
                let usage = self.usage.clone();
                let _waiting = usage.waiting();
                let mut conn = Conn {
                    ftp,
                    features,
                    op,
                    timeout: self.timeout,
                    usage: &usage,
                    policy: &self.policy,
                    grant: self.grant,
                    moved: 0,
                };
                commit(&mut conn, result, &staged.temp, &staged.target).await
            }
        };
        control.after(&settled);
        settled
    }

    /// Abandon the transfer, keeping the session usable. An upload is
    /// ended (the server keeps what it received; a staged one is removed).
    /// A download is read to its end if that is near, so the server
    /// finishes normally: servers treat a data connection closed under them
    /// as an error, and proftpd ends the whole session when that happens
    /// under TLS. A download with more left is closed (TLS close_notify
    /// first) and its reply left for the session's next command; the
    /// session may then be lost. Bytes drained count like any other.
    async fn abort(&mut self) {
        let _waiting = self.usage.waiting();
        // A download: let the pump read on (counting every byte, a budget
        // error included) while the end is near.
        let mut near_end = self.eof || self.info.direction == Direction::Upload;
        if !near_end && self.failed.is_none() {
            self.start_pump();
        }
        if let Some(reader) = self.pump.reader() {
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
                self.pump_ended(ended);
            }
        }
        self.stop_pump().await;
        let Some(mut stream) = self.stream.take() else { return };
        if near_end {
            let _ = tokio::time::timeout(self.timeout, stream.finish()).await;
        } else {
            let _ = tokio::time::timeout(self.timeout, stream.get_mut().shutdown()).await;
        }
        let result = self.settle(Err(Error::Io(format!("{}: dropped without finish", self.op())))).await;
        self.report(&result);
    }

    fn report(&mut self, result: &Result<u64, Error>) {
        if let Some(p) = self.progress.take() {
            p.finished(result.as_ref().copied(), self.started.elapsed());
        }
        let action = match self.info.direction {
            Direction::Download => Action::FinishDownload,
            Direction::Upload => Action::FinishUpload,
        };
        let op = Op { action, ..self.op() };
        self.usage.record(op, &self.address, self.started.elapsed(), self.moved, result);
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
}

fn body_twice(shared: &Shared) -> Error {
    let what = shared.try_lock().map(|t| t.op().to_string()).unwrap_or_else(|_| "transfer".into());
    Error::InvalidInput(format!("{what}: the body stream was already taken"))
}

fn take_body(shared: &Shared, taken: &mut bool) -> Result<(), Error> {
    match std::mem::replace(taken, true) {
        true => Err(body_twice(shared)),
        false => Ok(()),
    }
}

impl HostDownload for FtpView<'_> {
    async fn body(&mut self, this: Resource<Download>) -> HostResult<Resource<DynInputStream>> {
        let download = self.table.get_mut(&this)?;
        take_body(&download.shared, &mut download.body_taken)?;
        let shared = download.shared.clone();
        shared.lock().await.start_pump();
        let body: DynInputStream = Box::new(DownloadBody { shared });
        Ok(self.table.push(body)?)
    }

    async fn save_to(&mut self, this: Resource<Download>, file: Resource<Descriptor>, offset: u64) -> HostResult<u64> {
        move_file(self, this, file, offset).await
    }

    async fn size(&mut self, this: Resource<Download>) -> wasmtime::Result<Option<u64>> {
        Ok(self.table.get(&this)?.shared.try_lock().ok().and_then(|t| t.info.size))
    }

    async fn finish(&mut self, this: Resource<Download>) -> HostResult<u64> {
        let download = self.table.delete(this)?;
        self.release();
        let finished = download.shared.lock().await.finish().await;
        Ok(finished?)
    }

    async fn drop(&mut self, this: Resource<Download>) -> wasmtime::Result<()> {
        let download = self.table.delete(this)?;
        self.release();
        download.shared.lock().await.abort().await;
        Ok(())
    }
}

impl HostUpload for FtpView<'_> {
    async fn body(&mut self, this: Resource<Upload>) -> HostResult<Resource<DynOutputStream>> {
        let upload = self.table.get_mut(&this)?;
        take_body(&upload.shared, &mut upload.body_taken)?;
        let shared = upload.shared.clone();
        shared.lock().await.start_pump();
        let body: DynOutputStream = Box::new(UploadBody { shared });
        Ok(self.table.push(body)?)
    }

    async fn send_from(&mut self, this: Resource<Upload>, file: Resource<Descriptor>, offset: u64) -> HostResult<u64> {
        move_file(self, this, file, offset).await
    }

    async fn finish(&mut self, this: Resource<Upload>) -> HostResult<u64> {
        let upload = self.table.delete(this)?;
        self.release();
        let finished = upload.shared.lock().await.finish().await;
        Ok(finished?)
    }

    async fn drop(&mut self, this: Resource<Upload>) -> wasmtime::Result<()> {
        let upload = self.table.delete(this)?;
        self.release();
        upload.shared.lock().await.abort().await;
        Ok(())
    }
}

/// A `download` or `upload` resource.
trait TransferResource: Send + 'static {
    fn parts(&mut self) -> (&Shared, &mut bool);
}

impl TransferResource for Download {
    fn parts(&mut self) -> (&Shared, &mut bool) {
        (&self.shared, &mut self.body_taken)
    }
}

impl TransferResource for Upload {
    fn parts(&mut self) -> (&Shared, &mut bool) {
        (&self.shared, &mut self.body_taken)
    }
}

/// `save-to` and `send-from`: check the granted file, take the body's place,
/// and move the bytes.
async fn move_file<R: TransferResource>(
    view: &mut FtpView<'_>,
    this: Resource<R>,
    file: Resource<Descriptor>,
    offset: u64,
) -> HostResult<u64> {
    let (shared, taken) = view.table.get_mut(&this)?.parts();
    if *taken {
        return Err(body_twice(shared).into());
    }
    let shared = shared.clone();
    let mut transfer = shared.lock().await;
    // A refused descriptor leaves the body to take.
    let file = local_file(view.table.get(&file)?, &transfer)?;
    *view.table.get_mut(&this)?.parts().1 = true;
    Ok(transfer.move_file(file, offset).await?)
}

/// The file behind a `save-to` or `send-from` descriptor, if it is one the
/// transfer may use: a file (not a directory), opened for writing (to save
/// to) or reading (to send from), in a directory granted for writing when
/// saving to it.
fn local_file(fd: &Descriptor, t: &Transfer) -> Result<Arc<std::fs::File>, Error> {
    let (call, mode, verb) = match t.info.direction {
        Direction::Download => ("save-to", OpenMode::WRITE, "writing"),
        Direction::Upload => ("send-from", OpenMode::READ, "reading"),
    };
    let f = match fd {
        Descriptor::File(f) => f,
        Descriptor::Dir(_) => {
            return Err(Error::InvalidInput(format!("{}: `{call}` needs a file, not a directory", t.op())))
        }
    };
    if mode == OpenMode::WRITE && f.perms.write_not_permitted() {
        return Err(Error::Denied(format!(
            "{}: the local directory of `{call}` is granted read-only; the operator can grant it writable",
            t.op()
        )));
    }
    if !f.open_mode.contains(mode) {
        return Err(Error::InvalidInput(format!(
            "{}: the local file of `{call}` is not open for {verb}; open it with that flag",
            t.op()
        )));
    }
    Ok(f.file.clone())
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
        if t.eof || !t.pump.running() {
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
        let flushing = t.flushing;
        let Some(writer) = t.pump.writer() else { return Err(StreamError::Closed) };
        if flushing || writer.push(bytes).is_err() {
            return Err(StreamError::trap("write larger than the permit from check-write"));
        }
        t.count(n);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        // `ready` then waits until the pump sent everything; `finish` does too.
        let Ok(mut t) = self.shared.try_lock() else { return Ok(()) };
        if t.pump.running() {
            t.flushing = true;
        }
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        let Ok(mut t) = self.shared.try_lock() else { return Ok(0) };
        t.check_writer();
        if let Some(e) = t.stream_error() {
            return Err(e);
        }
        let flushing = t.flushing;
        match t.pump.writer() {
            // Nothing more until a flush is done, as `wasi:io` says.
            Some(_) if flushing => Ok(0),
            Some(writer) => Ok(writer.permit()),
            None => Err(StreamError::Closed),
        }
    }
}
