//! What a run uses: operation and byte counters, the budgets that cap them,
//! time spent waiting in host calls (so the CPU limit counts only the
//! guest's own time), and the record of every operation (trace and audit).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::audit::AuditLog;
use crate::error::{Error, Op};
use crate::transfer::{Direction, TransferObserver};

/// What a plugin run did through the FTP client.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// FTP operations performed.
    pub operations: u64,
    /// Bytes downloaded.
    pub bytes_downloaded: u64,
    /// Bytes uploaded.
    pub bytes_uploaded: u64,
}

/// Shared by a run's sessions and transfers.
pub(crate) struct Usage {
    operations: AtomicU64,
    bytes_downloaded: AtomicU64,
    bytes_uploaded: AtomicU64,
    waited_nanos: AtomicU64,
    max_operations: u64,
    max_run_bytes: Option<u64>,
    pub plugin: String,
    pub observer: Option<Arc<dyn TransferObserver>>,
    audit: Option<Arc<AuditLog>>,
}

impl Usage {
    pub fn new(
        plugin: String,
        max_operations: u64,
        max_run_bytes: Option<u64>,
        observer: Option<Arc<dyn TransferObserver>>,
        audit: Option<Arc<AuditLog>>,
    ) -> Arc<Self> {
        Arc::new(Usage {
            operations: AtomicU64::new(0),
            bytes_downloaded: AtomicU64::new(0),
            bytes_uploaded: AtomicU64::new(0),
            waited_nanos: AtomicU64::new(0),
            max_operations,
            max_run_bytes,
            plugin,
            observer,
            audit,
        })
    }

    pub fn stats(&self) -> Stats {
        Stats {
            operations: self.operations.load(Ordering::Relaxed),
            bytes_downloaded: self.bytes_downloaded.load(Ordering::Relaxed),
            bytes_uploaded: self.bytes_uploaded.load(Ordering::Relaxed),
        }
    }

    /// Count one operation against the run's budget.
    pub fn begin(&self, op: Op<'_>) -> Result<(), Error> {
        let done = self.operations.fetch_add(1, Ordering::Relaxed);
        if done >= self.max_operations {
            return Err(Error::Denied(format!(
                "{op}: this run used its budget of {} FTP operations",
                self.max_operations
            )));
        }
        Ok(())
    }

    /// Count `n` bytes moved, failing once the run's byte quota is passed.
    pub fn moved(&self, direction: Direction, n: u64, op: Op<'_>) -> Result<(), Error> {
        let counter = match direction {
            Direction::Download => &self.bytes_downloaded,
            Direction::Upload => &self.bytes_uploaded,
        };
        counter.fetch_add(n, Ordering::Relaxed);
        match self.max_run_bytes {
            Some(quota)
                if self.bytes_downloaded.load(Ordering::Relaxed) + self.bytes_uploaded.load(Ordering::Relaxed)
                    > quota =>
            {
                Err(Error::TooLarge(format!("{op}: this run reached its quota of {quota} bytes transferred")))
            }
            _ => Ok(()),
        }
    }

    /// Time spent waiting on the network, not running guest code.
    pub fn waited(&self, d: Duration) {
        self.waited_nanos.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    pub fn total_waited(&self) -> Duration {
        Duration::from_nanos(self.waited_nanos.load(Ordering::Relaxed))
    }

    /// Trace and audit one finished operation, counting its time as waiting.
    pub fn record<T>(&self, op: Op<'_>, started: Instant, bytes: u64, result: &Result<T, Error>) {
        let elapsed = started.elapsed();
        self.waited(elapsed);
        self.audit_only(op, elapsed, bytes, result);
    }

    /// Trace and audit one finished operation whose waiting was counted already.
    pub fn audit_only<T>(&self, op: Op<'_>, elapsed: Duration, bytes: u64, result: &Result<T, Error>) {
        let ms = elapsed.as_millis() as u64;
        match result {
            Ok(_) => {
                tracing::info!(target: "ftp_host::ftp", server = op.server, op = op.action, path = op.path, bytes, ms, "ok")
            }
            Err(e) => {
                tracing::info!(target: "ftp_host::ftp", server = op.server, op = op.action, path = op.path, bytes, ms, error = ?e, "failed")
            }
        }
        if let Some(audit) = &self.audit {
            audit.record(&self.plugin, op.server, op.action, op.path, bytes, elapsed, result.as_ref().err());
        }
    }
}
