//! The audit log: one JSON line per FTP operation (plugin, server,
//! operation, path, bytes, duration, outcome), to a file or stderr. Entries
//! are built only from the server label, the path and the guest-visible
//! error, none of which ever holds a password.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{describe, Error};

/// Where audit entries go.
pub struct AuditLog {
    sink: Mutex<Box<dyn Write + Send>>,
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

impl AuditLog {
    /// Append to a file (created if missing).
    pub fn to_file(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self::to_writer(Box::new(file)))
    }

    /// Write to stderr.
    pub fn to_stderr() -> Self {
        Self::to_writer(Box::new(std::io::stderr()))
    }

    /// Write to any writer (tests use a shared buffer).
    pub fn to_writer(sink: Box<dyn Write + Send>) -> Self {
        AuditLog { sink: Mutex::new(sink) }
    }

    /// Record one operation. A failing sink is reported once per entry on
    /// the trace, never to the guest: auditing must not change behaviour.
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
        let entry = Entry {
            time: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
            plugin,
            server,
            operation,
            path,
            bytes,
            duration_ms: duration.as_secs_f64() * 1000.0,
            outcome: if error.is_some() { "error" } else { "ok" },
            error: error.map(describe),
        };
        let mut line = serde_json::to_vec(&entry).expect("an audit entry serialises");
        line.push(b'\n');
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = sink.write_all(&line).and_then(|()| sink.flush()) {
            tracing::error!("cannot write the audit log: {e}");
        }
    }
}
