//! `std::io` adapters over a transfer's `wasi:io` streams, and the copy loops
//! (`splice` inside the host, or chunks through the plugin's memory).

use std::io;

use crate::bindings::naas::ftp::client::{Download, Upload};
use crate::bindings::wasi::io::streams::{InputStream, OutputStream, StreamError};
use crate::error::stream_error;
use crate::Error;

/// Most bytes one `splice` call may move: the host moves them without
/// copying them into the plugin.
const SPLICE_CHUNK: u64 = 4 * 1024 * 1024;
/// Chunk size of copies through the plugin's memory: 1 MiB, as the host's
/// own streams move, so a copy costs one host call per MiB each way.
const MEMORY_CHUNK: u64 = 1024 * 1024;

/// A download as `std::io::Read` (from [`Ftp::open_read`](crate::Ftp::open_read)).
///
/// Read to the end, then call [`finish`](Reader::finish): only the server's
/// final reply says the whole file arrived. Dropping a `Reader` without
/// `finish` aborts the transfer and leaves the session usable.
pub struct Reader {
    // Dropped in this order: the stream before its transfer.
    body: Option<InputStream>,
    download: Option<Download>,
}

impl Reader {
    pub(crate) fn new(download: Download) -> Result<Self, Error> {
        let body = download.body()?;
        Ok(Reader { body: Some(body), download: Some(download) })
    }

    /// The whole remote file's size, if the server reported it (`SIZE`).
    pub fn size(&self) -> Option<u64> {
        self.download.as_ref().and_then(|d| d.size())
    }

    /// Close the data connection and read the server's final reply. Returns
    /// the bytes read.
    pub fn finish(mut self) -> Result<u64, Error> {
        drop(self.body.take());
        let download = self.download.take().expect("a reader has its download until finish");
        Ok(Download::finish(download)?)
    }
}

impl io::Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let body = self.body.as_ref().expect("a reader has its body until finish");
        match body.blocking_read(buf.len() as u64) {
            Ok(chunk) => {
                buf[..chunk.len()].copy_from_slice(&chunk);
                Ok(chunk.len())
            }
            Err(StreamError::Closed) => Ok(0),
            Err(e) => Err(stream_error(e)),
        }
    }
}

/// An upload as `std::io::Write` (from [`Ftp::open_write`](crate::Ftp::open_write)).
///
/// Write everything, then call [`finish`](Writer::finish): only the server's
/// final reply says the whole file arrived. Dropping a `Writer` without
/// `finish` aborts the transfer.
pub struct Writer {
    // Dropped in this order: the stream before its transfer.
    body: Option<OutputStream>,
    upload: Option<Upload>,
}

impl Writer {
    pub(crate) fn new(upload: Upload) -> Result<Self, Error> {
        let body = upload.body()?;
        Ok(Writer { body: Some(body), upload: Some(upload) })
    }

    /// Flush, close the data connection and read the server's final reply.
    /// Returns the bytes the server received.
    pub fn finish(mut self) -> Result<u64, Error> {
        let flushed = self.body.as_ref().expect("a writer has its body until finish").blocking_flush();
        drop(self.body.take());
        let upload = self.upload.take().expect("a writer has its upload until finish");
        // The server's reply decides; a failed flush shows up there too.
        let sent = Upload::finish(upload)?;
        flushed.map_err(|e| Error::Io(format!("flushing the upload failed: {e:?}")))?;
        Ok(sent)
    }
}

impl io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let body = self.body.as_ref().expect("a writer has its body until finish");
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let permit = body.check_write().map_err(stream_error)? as usize;
            if permit == 0 {
                body.subscribe().block();
                continue;
            }
            let n = permit.min(buf.len());
            body.write(&buf[..n]).map_err(stream_error)?;
            return Ok(n);
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.body.as_ref().expect("a writer has its body until finish").blocking_flush().map_err(stream_error)
    }
}

/// Move everything from `from` to `to` inside the host (the caller flushes).
///
/// Not `blocking-splice`: it flushes after every chunk, so each file write
/// or network send would finish before the next chunk is read. Waiting for
/// room and data here keeps the host's read-ahead and write-behind busy at
/// the same time. One pollable per stream serves the whole transfer (they
/// are dropped before the streams, whose children they are).
pub(crate) fn splice_all(to: &OutputStream, from: &InputStream) -> Result<u64, StreamError> {
    let room = to.subscribe();
    let data = from.subscribe();
    let mut total = 0;
    loop {
        let permit = to.check_write()?;
        if permit == 0 {
            room.block();
            continue;
        }
        data.block();
        match to.splice(from, permit.min(SPLICE_CHUNK)) {
            Ok(n) => total += n,
            Err(StreamError::Closed) => return Ok(total),
            Err(e) => return Err(e),
        }
    }
}

/// Copy everything from `from` to `to` through the plugin's memory. One
/// pollable serves every wait for room (dropped before the streams).
pub(crate) fn copy_via_memory(from: &InputStream, to: &OutputStream) -> Result<u64, StreamError> {
    let room = to.subscribe();
    let mut total = 0;
    loop {
        let chunk = match from.blocking_read(MEMORY_CHUNK) {
            Ok(chunk) => chunk,
            Err(StreamError::Closed) => return Ok(total),
            Err(e) => return Err(e),
        };
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let permit = to.check_write()? as usize;
            if permit == 0 {
                room.block();
                continue;
            }
            let n = permit.min(rest.len());
            to.write(&rest[..n])?;
            rest = &rest[n..];
        }
        total += chunk.len() as u64;
    }
}
