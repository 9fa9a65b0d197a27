//! The audit log: one JSON line per FTP operation (plugin, server,
//! operation, path, bytes, duration, outcome), to a file or stderr.
//!
//! Entries are built only from the server's address, the path and the
//! guest-visible error, none of which ever holds a password. Every field a
//! guest controls is cut to [`MAX_AUDIT_FIELD_BYTES`] (and marked as cut),
//! so a hostile plugin cannot make the host write giant lines; lines are
//! written by a thread of their own, never on the async executor (or, for a
//! log kept in memory, appended in place: that never blocks).

use std::io::Write;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{describe, Error};

/// Longest guest-controlled field (path, server name, error message) in an
/// audit line, in bytes; longer values are cut and end with `…[cut]`.
pub const MAX_AUDIT_FIELD_BYTES: usize = 1024;
/// Lines queued for the writer thread before `record` waits for it.
const AUDIT_QUEUE: usize = 4096;

enum Message {
    Line(Vec<u8>),
    /// Reply once every line before this one is written.
    Sync(SyncSender<()>),
}

/// Where audit entries go.
pub struct AuditLog {
    sink: Sink,
    /// Whether the lines go to stderr, where a plugin's own output may go too.
    stderr: bool,
}

enum Sink {
    /// A writer thread of its own: files and other writers may block.
    Thread(Mutex<SyncSender<Message>>),
    /// A buffer the lines are appended to in place: no thread to start per
    /// log, and nothing to wait for (the fleet worker keeps each job's lines
    /// this way).
    Memory(Arc<Mutex<Vec<u8>>>),
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditLog")
    }
}

/// One operation, as written.
#[derive(serde::Serialize)]
struct Entry<'a> {
    /// Seconds since the Unix epoch.
    time: f64,
    plugin: &'a str,
    server: &'a str,
    operation: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
    bytes: u64,
    duration_ms: f64,
    outcome: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `value` cut to [`MAX_AUDIT_FIELD_BYTES`] at a character boundary.
fn cap(value: &str) -> std::borrow::Cow<'_, str> {
    if value.len() <= MAX_AUDIT_FIELD_BYTES {
        return value.into();
    }
    let mut end = MAX_AUDIT_FIELD_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[cut]", &value[..end]).into()
}

fn writer(mut sink: Box<dyn Write + Send>, lines: Receiver<Message>) {
    for message in lines {
        match message {
            Message::Line(line) => {
                if let Err(e) = sink.write_all(&line).and_then(|()| sink.flush()) {
                    tracing::error!("cannot write the audit log: {e}");
                }
            }
            Message::Sync(done) => {
                let _ = done.send(());
            }
        }
    }
}

impl AuditLog {
    /// Append to a file (created if missing).
    pub fn to_file(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self::to_writer(Box::new(file)))
    }

    /// Write to stderr.
    pub fn to_stderr() -> Self {
        AuditLog { stderr: true, ..Self::to_writer(Box::new(std::io::stderr())) }
    }

    /// `-` means stderr, anything else a file to append to.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        match path.as_os_str() == "-" {
            true => Ok(Self::to_stderr()),
            false => Self::to_file(path),
        }
    }

    /// Whether the lines go to stderr. A plugin whose stderr is the same
    /// stream could then write lines that look like audit entries.
    pub fn is_stderr(&self) -> bool {
        self.stderr
    }

    /// Write to any writer (tests use a shared buffer).
    pub fn to_writer(sink: Box<dyn Write + Send>) -> Self {
        let (queue, lines) = sync_channel(AUDIT_QUEUE);
        std::thread::Builder::new()
            .name("ftp-host-audit".into())
            .spawn(move || writer(sink, lines))
            .expect("cannot start the audit writer thread");
        AuditLog { sink: Sink::Thread(Mutex::new(queue)), stderr: false }
    }

    /// Append to `lines`, in place: for a log read back by the caller.
    pub fn to_memory(lines: Arc<Mutex<Vec<u8>>>) -> Self {
        AuditLog { sink: Sink::Memory(lines), stderr: false }
    }

    /// Whether [`sync`](Self::sync) may block (lines go through a writer thread).
    pub(crate) fn has_writer(&self) -> bool {
        matches!(self.sink, Sink::Thread(_))
    }

    /// Wait until every entry recorded so far is written.
    pub fn sync(&self) {
        let Sink::Thread(queue) = &self.sink else { return };
        let (done, wait) = sync_channel(1);
        let sent = queue.lock().unwrap_or_else(|p| p.into_inner()).send(Message::Sync(done));
        if sent.is_ok() {
            let _ = wait.recv();
        }
    }

    /// Record one operation. A failing sink is reported on the trace, never
    /// to the guest: auditing must not change behaviour.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        &self,
        plugin: &str,
        server: &str,
        operation: &str,
        path: Option<&str>,
        bytes: u64,
        duration: Duration,
        error: Option<&Error>,
    ) {
        let (server, path) = (cap(server), path.map(cap));
        let entry = Entry {
            time: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
            plugin: &cap(plugin),
            server: &server,
            operation,
            path: path.as_deref(),
            bytes,
            duration_ms: duration.as_secs_f64() * 1000.0,
            outcome: if error.is_some() { "error" } else { "ok" },
            error: error.map(|e| cap(&describe(e)).into_owned()),
        };
        let mut line = serde_json::to_vec(&entry).expect("an audit entry serialises");
        line.push(b'\n');
        match &self.sink {
            Sink::Thread(queue) => {
                let _ = queue.lock().unwrap_or_else(|p| p.into_inner()).send(Message::Line(line));
            }
            Sink::Memory(lines) => lines.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_fields_are_capped() {
        let long = "é".repeat(MAX_AUDIT_FIELD_BYTES);
        let cut = cap(&long);
        assert!(cut.len() <= MAX_AUDIT_FIELD_BYTES + "…[cut]".len());
        assert!(cut.ends_with("…[cut]"));
        assert_eq!(cap("short"), "short");
    }

    #[test]
    fn a_log_in_memory_holds_each_line_as_soon_as_it_is_recorded() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let log = AuditLog::to_memory(lines.clone());
        assert!(!log.has_writer());
        log.record("p", "srv:21", "get", Some("/a"), 3, Duration::from_millis(1), None);
        let text = String::from_utf8(lines.lock().unwrap().clone()).unwrap();
        let entry: serde_json::Value = serde_json::from_str(text.strip_suffix('\n').unwrap()).unwrap();
        assert_eq!(
            (entry["operation"].as_str(), entry["path"].as_str(), entry["bytes"].as_u64()),
            (Some("get"), Some("/a"), Some(3))
        );
        log.sync();
    }
}
