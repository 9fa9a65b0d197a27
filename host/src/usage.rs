//! What a run uses: operation and byte counters, the budgets that cap them,
//! the time spent waiting in host calls (so the CPU limit counts only the
//! guest's own time), the refusals and limits the host itself saw, and the
//! record of every operation (trace and audit).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::audit::AuditLog;
use crate::error::{Error, Op};
use crate::observe::{Direction, TransferObserver};
use crate::policy::{Hint, Refusal};

/// Most distinct refusal hints a run keeps for its report.
const MAX_HINTS: usize = 16;

/// What a plugin run did through the FTP client.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// FTP operations performed.
    pub operations: u64,
    /// Bytes downloaded (file bodies and listings).
    pub bytes_downloaded: u64,
    /// Bytes uploaded.
    pub bytes_uploaded: u64,
}

/// A limit of the operator's that stopped something in a run, as the host
/// itself saw it (never guessed from what the plugin printed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitKind {
    /// `cpu`: the guest's own running time.
    Cpu,
    /// `wall_clock`: the whole run's time.
    WallClock,
    /// `memory`: linear memory and tables together.
    Memory,
    /// `operations`: FTP operations per run.
    Operations,
    /// `bytes_per_run`: bytes moved in all.
    RunBytes,
    /// `transfer_bytes`: one in-memory `get` or `send`.
    TransferBytes,
    /// `list_entries` / `list_bytes`: one listing.
    Listing,
    /// `sessions`: sessions open at once.
    Sessions,
    /// `resources`: host resources held at once.
    Resources,
    /// Plugins running at once in one host process (its instance pool).
    Concurrency,
    /// `instances`: WebAssembly instances of one run.
    Instances,
    /// `memories`: linear memories of one run.
    Memories,
    /// `tables`: tables of one run.
    Tables,
    /// `handles`: host handles (resource table entries) held at once.
    Handles,
}

/// Waiting state: how many host waits are in progress, since when, and the
/// total of past intervals during which at least one was.
#[derive(Default)]
struct Waits {
    active: usize,
    since: Option<Instant>,
    total: Duration,
}

/// Shared by a run's sessions and transfers.
pub(crate) struct Usage {
    operations: AtomicU64,
    bytes_downloaded: AtomicU64,
    bytes_uploaded: AtomicU64,
    waits: Mutex<Waits>,
    limits_hit: Mutex<Vec<LimitKind>>,
    hints: Mutex<Vec<Hint>>,
    max_operations: u64,
    max_run_bytes: Option<u64>,
    pub plugin: String,
    pub observer: Option<Arc<dyn TransferObserver>>,
    audit: Option<Arc<AuditLog>>,
}

/// Counts as waiting while it lives. Overlapping waits (a guest polling
/// several transfers at once) count once: the union of the intervals, not
/// their sum, so the CPU limit cannot be stretched by waiting in parallel.
pub(crate) struct Waiting {
    usage: Arc<Usage>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut w = self.usage.waits.lock().unwrap_or_else(|e| e.into_inner());
        w.active -= 1;
        if w.active == 0 {
            if let Some(since) = w.since.take() {
                w.total += since.elapsed();
            }
        }
    }
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
            waits: Mutex::default(),
            limits_hit: Mutex::default(),
            hints: Mutex::default(),
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

    /// Note that a limit stopped something.
    pub fn hit(&self, limit: LimitKind) {
        let mut hit = self.limits_hit.lock().unwrap_or_else(|e| e.into_inner());
        if !hit.contains(&limit) {
            hit.push(limit);
        }
    }

    /// The limits that stopped something, in the order first hit.
    pub fn limits_hit(&self) -> Vec<LimitKind> {
        self.limits_hit.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Keep what would have allowed a refused request, for the operator.
    pub fn refused(&self, refusal: &Refusal) {
        if let Some(hint) = &refusal.hint {
            let mut hints = self.hints.lock().unwrap_or_else(|e| e.into_inner());
            if hints.len() < MAX_HINTS && !hints.contains(hint) {
                hints.push(hint.clone());
            }
        }
    }

    /// What the operator could grant to allow this run's refused requests.
    pub fn hints(&self) -> Vec<Hint> {
        self.hints.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Count one operation against the run's budget.
    pub fn begin(&self, op: Op<'_>) -> Result<(), Refusal> {
        let done = self.operations.fetch_add(1, Ordering::Relaxed);
        if done >= self.max_operations {
            self.hit(LimitKind::Operations);
            return Err(Refusal::denied(format!(
                "{op}: this run used its budget of {} FTP operations",
                self.max_operations
            )));
        }
        Ok(())
    }

    /// Count `n` bytes moved, failing once the run's byte quota is passed.
    /// Every byte read from or written to a data connection passes here.
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
                self.hit(LimitKind::RunBytes);
                Err(Error::TooLarge(format!("{op}: this run reached its quota of {quota} bytes transferred")))
            }
            _ => Ok(()),
        }
    }

    /// Start waiting on the network (not running guest code) until the
    /// returned guard is dropped.
    pub fn waiting(self: &Arc<Self>) -> Waiting {
        let mut w = self.waits.lock().unwrap_or_else(|e| e.into_inner());
        if w.active == 0 {
            w.since = Some(Instant::now());
        }
        w.active += 1;
        Waiting { usage: self.clone() }
    }

    /// Time during which at least one host wait was in progress.
    pub fn total_waited(&self) -> Duration {
        let w = self.waits.lock().unwrap_or_else(|e| e.into_inner());
        w.total + w.since.map_or(Duration::ZERO, |s| s.elapsed())
    }

    /// Audit a refusal of the gate (a plugin probing its jail leaves a
    /// trace), keep its hint, and give the guest's error for it.
    pub fn record_refusal(&self, op: Op<'_>, address: &str, started: Instant, refusal: Refusal) -> Error {
        self.refused(&refusal);
        let error = Error::from(refusal);
        self.record(op, address, started.elapsed(), 0, &Err::<(), _>(error.clone()));
        error
    }

    /// Trace and audit one finished operation. `address` is the server's
    /// real address, for the operator only (`op.server` may name a profile).
    pub fn record<T>(&self, op: Op<'_>, address: &str, elapsed: Duration, bytes: u64, result: &Result<T, Error>) {
        if let Err(Error::Tls(message)) = result {
            if message.ends_with(crate::error::UNTRUSTED_CERTIFICATE) {
                let hint = Hint::TrustCertificate { server: op.server.to_string() };
                let mut hints = self.hints.lock().unwrap_or_else(|e| e.into_inner());
                if hints.len() < MAX_HINTS && !hints.contains(&hint) {
                    hints.push(hint);
                }
            }
        }
        let ms = elapsed.as_millis() as u64;
        let (server, action, path) = (op.server, op.action.noun(), op.path);
        match result {
            Ok(_) => tracing::info!(target: "ftp_host::ftp", server, address, op = action, path, bytes, ms, "ok"),
            Err(e) => {
                tracing::info!(target: "ftp_host::ftp", server, address, op = action, path, bytes, ms, error = ?e, "failed")
            }
        }
        if let Some(audit) = &self.audit {
            audit.record(&self.plugin, address, action, path, bytes, elapsed, result.as_ref().err());
        }
    }
}
