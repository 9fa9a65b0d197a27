//! A TLS download saved into a granted file (`download.save-to`) on one
//! blocking-pool thread: it reads from the data connection (rustls decrypts
//! as it reads) up to [`CHUNK`], writes that at its offset, and reads again.
//!
//! The pump with a file stream (what a guest's `splice` loop uses) keeps two
//! threads busy: the pump reads ahead while the blocking pool writes. Where
//! the server shares the client's cores, that second thread takes CPU time
//! from the server, which then waits for a CPU instead of sending. One
//! thread left the server waiting about a quarter as long, was faster
//! against native suppaftp on proftpd, and spent less CPU per byte
//! (bench/ANALYSIS-2026-12-05-tls-save.md).
//!
//! The thread owns the stream until the download ends; [`Saver::join`] then
//! gives it back for the final reply. Its reads run on the runtime's I/O
//! driver through `Handle::block_on` (on a current-thread runtime, the
//! thread awaiting the saver drives it), each wait bounded by the
//! transfer's timeout and cut into [`STOP_CHECK`] slices, so a saver that is
//! stopped or dropped ends soon; a dropped saver's thread closes the
//! connection. Every byte is counted by the caller's meter as it crosses,
//! before it reaches the file. Plain downloads never come here: the kernel
//! moves them ([`super::plain_copy`]).

use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::runtime::Handle;

use super::mover::{Caller, Shared, STOP_CHECK};
use super::pump::{join, Ended, Stopped, Task, CHUNK};

/// A TLS download being saved into a file by its thread.
pub struct Saver<S, E> {
    task: Option<Task<S, E>>,
    /// Dropped with the saver, it stops the thread.
    caller: Caller,
}

impl<S, E> Saver<S, E>
where
    S: AsyncRead + Unpin + Send + 'static,
    E: Send + 'static,
{
    /// Start saving the rest of `stream` into `file` from `offset` on, until
    /// the server ends the data. `meter` is called with every read's byte
    /// count; `timeout` bounds each wait for bytes.
    pub fn spawn<M>(stream: S, file: Arc<std::fs::File>, offset: u64, timeout: Duration, meter: M) -> Self
    where
        M: FnMut(usize) -> Result<(), E> + Send + 'static,
    {
        let (caller, shared) = Caller::new();
        let thread = Thread { shared, runtime: Handle::current(), timeout, meter };
        let task = tokio::task::spawn_blocking(move || thread.save(stream, &file, offset));
        Saver { task: Some(task), caller }
    }

    /// Bytes saved since the last call.
    pub fn progress(&mut self) -> u64 {
        self.caller.progress()
    }

    /// Wait until the download is saved, or stopped. Cancel-safe.
    pub async fn join(&mut self) -> Ended<S, E> {
        join(&mut self.task).await
    }

    /// Stop at the next read or wait slice and take the stream back. Bytes
    /// already read are in the file. Cancel-safe.
    pub async fn stop(&mut self) -> Ended<S, E> {
        self.caller.stop();
        join(&mut self.task).await
    }
}

/// A saver on its thread.
struct Thread<M> {
    shared: Arc<Shared>,
    runtime: Handle,
    timeout: Duration,
    meter: M,
}

impl<M, E> Thread<M>
where
    M: FnMut(usize) -> Result<(), E>,
{
    fn save<S: AsyncRead + Unpin>(
        mut self,
        mut stream: S,
        file: &std::fs::File,
        offset: u64,
    ) -> (S, Result<(), Stopped<E>>) {
        let result = self.save_all(&mut stream, file, offset);
        (stream, result)
    }

    fn save_all<S: AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
        file: &std::fs::File,
        mut offset: u64,
    ) -> Result<(), Stopped<E>> {
        let mut buf = BytesMut::with_capacity(CHUNK);
        loop {
            buf.clear();
            let (at_end, failed) = self.read_chunk(stream, &mut buf)?;
            (self.meter)(buf.len()).map_err(Stopped::Counted)?;
            file.write_all_at(&buf, offset).map_err(Stopped::Local)?;
            offset += buf.len() as u64;
            self.shared.add(buf.len());
            match failed {
                Some(e) => return Err(Stopped::Io(e)),
                None if at_end => return Ok(()),
                None => {}
            }
        }
    }

    /// Wait for the next bytes, then take whatever else is already there
    /// without waiting (TLS hands out one record per read), up to a chunk:
    /// whether the data ended, and a failure after some bytes were read.
    fn read_chunk<S: AsyncRead + Unpin>(
        &self,
        stream: &mut S,
        buf: &mut BytesMut,
    ) -> Result<(bool, Option<io::Error>), Stopped<E>> {
        let since = Instant::now();
        let first = loop {
            let slice = self.shared.keep_waiting(since, self.timeout)?.min(STOP_CHECK);
            if let Ok(read) = self.runtime.block_on(tokio::time::timeout(slice, stream.read_buf(buf))) {
                break read;
            }
        };
        match first {
            Ok(0) => return Ok((true, None)),
            Ok(_) => {}
            Err(e) => return Err(Stopped::Io(e)),
        }
        let _entered = self.runtime.enter();
        while buf.len() < buf.capacity() {
            match stream.read_buf(buf).now_or_never() {
                Some(Ok(0)) => return Ok((true, None)),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Ok((false, Some(e))),
                None => break,
            }
        }
        Ok((false, None))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{assert_saved, connection, counting_meter, data, file_with_prefix, serve, KEEP};
    use super::*;
    use tokio::io::AsyncWriteExt;

    const WAIT: Duration = Duration::from_secs(10);

    // A current-thread runtime, as an embedder may run the host: its one
    // thread drives the connection's I/O while it awaits the saver.
    #[tokio::test]
    async fn every_byte_lands_at_its_offset_is_counted_and_the_stream_comes_back() {
        let (server, client) = connection().await;
        let sent = data(3 * CHUNK + 4321);
        let writer = serve(server, sent.clone());
        let (counted, meter) = counting_meter();
        let file = Arc::new(file_with_prefix());
        let mut saver = Saver::spawn(client, file.clone(), KEEP.len() as u64, WAIT, meter);
        let ended = saver.join().await;
        writer.await.unwrap();
        assert!(ended.result.is_ok());
        assert!(ended.stream.is_some(), "the stream comes back for the final reply");
        assert_eq!(saver.progress(), sent.len() as u64);
        assert_eq!(saver.progress(), 0, "progress reports each byte once");
        assert_eq!(*counted.lock().unwrap(), sent.len());
        assert_saved(&file, &sent);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_count_stops_before_the_bytes_reach_the_file() {
        let (mut server, client) = connection().await;
        server.write_all(&data(1000)).await.unwrap();
        let file = Arc::new(tempfile::tempfile().unwrap());
        let mut saver = Saver::spawn(client, file.clone(), 0, WAIT, |_| Err("over budget"));
        let ended = saver.join().await;
        assert!(matches!(ended.result, Err(Stopped::Counted("over budget"))));
        assert_eq!(file.metadata().unwrap().len(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_server_times_out_and_stop_ends_a_wait() {
        let (_server, client) = connection().await;
        let file = Arc::new(tempfile::tempfile().unwrap());
        let mut saver = Saver::spawn(client, file.clone(), 0, Duration::from_millis(300), |_| Ok::<_, ()>(()));
        let ended = tokio::time::timeout(WAIT, saver.join()).await.unwrap();
        assert!(matches!(ended.result, Err(Stopped::TimedOut(_))));

        let (_server, client) = connection().await;
        let mut saver = Saver::spawn(client, file, 0, WAIT, |_| Ok::<_, ()>(()));
        let started = Instant::now();
        let ended = tokio::time::timeout(WAIT, saver.stop()).await.unwrap();
        assert!(matches!(ended.result, Err(Stopped::Io(_))));
        assert!(ended.stream.is_some());
        assert!(started.elapsed() < Duration::from_secs(2), "stopped within a wait slice: {:?}", started.elapsed());
    }
}
