//! `ftp-host worker`: pull jobs, run each plugin as `ftp-host run` would,
//! publish one result per job, ack only after the result is stored.
//!
//! Policies live with the worker: each `--config` file is one policy, named
//! by its file stem (`nightly.toml` is policy `nightly`); a directory adds
//! every `*.toml` in it. A job only names one.
//!
//! Per delivery: a malformed job, an unknown policy, a missing plugin or a
//! digest mismatch is a final `rejected` result (retrying cannot help); a
//! plugin that succeeds or returns an error is a final result; a trap, a
//! limit or a NATS failure is retried (nak with backoff) until the
//! consumer's `max_deliver`, after which the job goes to the dead-letter
//! subject with its last error and its last result is published. While a
//! job runs the worker sends in-progress acks every third of `ack_wait`, so
//! only a dead worker's jobs are redelivered.
//!
//! The plugin learns its job from two environment variables:
//! `FTP_HOST_JOB_ID` and `FTP_HOST_JOB_ATTEMPT` (1 for the first delivery).

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use async_nats::jetstream::consumer::{pull, AckPolicy, PullConsumer};
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::object_store::ObjectStore;
use async_nats::jetstream::{AckKind, Message};
use futures_util::StreamExt;
use tokio::sync::watch;

use super::job::{valid_name, Job, JobResult};
use super::leases::KvLimiter;
use super::metrics::Metrics;
use super::{audit_subject, dead_subject, result_subject, store, Fleet, CONSUMER, JOBS_STREAM};
use crate::audit::AuditLog;
use crate::cache::{Cache, Origin};
use crate::runtime::{Host, Output, Plugin, RunOptions};

/// Most bytes of audit lines in one audit message (NATS caps messages at 1 MiB by default).
const MAX_AUDIT_CHUNK: usize = 512 * 1024;
/// Longest backoff between failed attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long one pull request waits for a job; also how long a draining
/// worker may take to notice it should stop pulling.
const PULL_EXPIRES: Duration = Duration::from_secs(1);
/// Most compiled plugins kept in memory (per policy and digest).
const MAX_LOADED: usize = 64;

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// NATS server URL.
    pub nats: String,
    /// Policy files, or directories of them.
    pub configs: Vec<PathBuf>,
    /// Jobs run at once.
    pub concurrency: usize,
    /// Where to serve Prometheus metrics.
    pub metrics: Option<SocketAddr>,
    /// This worker's name (results say who ran them).
    pub name: String,
    /// Consumer `ack_wait` (when this worker creates the consumer).
    pub ack_wait: Duration,
    /// Consumer `max_deliver` (when this worker creates the consumer).
    pub max_deliver: i64,
    /// Wait before retrying a failed attempt; doubles with each attempt.
    pub retry_backoff: Duration,
    /// On SIGTERM, how long running jobs may take to finish.
    pub grace: Duration,
    /// TTL of connection leases (when this worker creates the bucket).
    pub lease_ttl: Duration,
    /// Do not use the compiled-plugin cache on disk.
    pub no_cache: bool,
}

/// Load policies: files are named by their stem, directories add each `*.toml`.
pub fn load_policies(paths: &[PathBuf]) -> anyhow::Result<HashMap<String, crate::config::Config>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read policy directory {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            found.sort();
            anyhow::ensure!(!found.is_empty(), "policy directory {} has no *.toml files", path.display());
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    let mut policies = HashMap::new();
    for file in files {
        let name = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        anyhow::ensure!(
            valid_name(&name),
            "policy file {}: its name `{name}` is the policy's name, so use only letters, digits, `-` and `_`",
            file.display()
        );
        let config = crate::config::load(&file)?;
        anyhow::ensure!(
            policies.insert(name.clone(), config).is_none(),
            "two policy files are named `{name}` ({})",
            file.display()
        );
    }
    anyhow::ensure!(!policies.is_empty(), "no policy given: pass --config FILE.toml or --config DIR");
    Ok(policies)
}

/// One policy's host, and the audit file its policy asks for.
struct PolicyHost {
    host: Host,
    audit_file: Option<PathBuf>,
}

struct Worker {
    opts: WorkerOptions,
    fleet: Fleet,
    plugins: ObjectStore,
    hosts: HashMap<String, PolicyHost>,
    loaded: Mutex<HashMap<(String, String), Plugin>>,
    metrics: Arc<Metrics>,
    max_deliver: i64,
    ack_wait: Duration,
}

/// What to do with a delivery once its attempt is over.
enum Verdict {
    /// Publish the result, ack.
    Final(JobResult),
    /// Retry later; after the last delivery, dead-letter it.
    Retry(JobResult),
}

/// Run a worker until SIGTERM or Ctrl-C, then drain. Returns the exit code.
pub async fn run(opts: WorkerOptions) -> anyhow::Result<u8> {
    anyhow::ensure!(opts.concurrency >= 1, "--concurrency must be at least 1");
    let policies = load_policies(&opts.configs)?;
    let fleet = Fleet::connect(&opts.nats).await?;
    let jobs = fleet.js.get_stream(JOBS_STREAM).await.context("the jobs stream")?;
    let consumer: PullConsumer = jobs
        .get_or_create_consumer(
            CONSUMER,
            pull::Config {
                durable_name: Some(CONSUMER.into()),
                ack_policy: AckPolicy::Explicit,
                ack_wait: opts.ack_wait,
                max_deliver: opts.max_deliver,
                ..Default::default()
            },
        )
        .await
        .context("cannot create the workers' consumer")?;
    // An existing consumer keeps its settings; go by them.
    let (max_deliver, ack_wait) = {
        let config = &consumer.cached_info().config;
        (config.max_deliver, config.ack_wait)
    };
    let plugins = store::bucket(&fleet).await.context("the plugin store")?;
    let metrics = Arc::new(Metrics::new());
    let leases = super::leases::bucket(&fleet, opts.lease_ttl).await.context("the lease bucket")?;
    let limiter = Arc::new(KvLimiter::new(leases, opts.lease_ttl, &opts.name, metrics.clone()));
    let cache = if opts.no_cache {
        None
    } else {
        match Cache::open_default() {
            Ok(cache) => Some(cache),
            Err(e) => {
                tracing::warn!("running without the compiled-plugin cache: {e:#}");
                None
            }
        }
    };
    let mut hosts = HashMap::new();
    let mut names: Vec<String> = policies.keys().cloned().collect();
    names.sort();
    for (name, config) in policies {
        let mut host = Host::new(config.policy)?.with_connection_limiter(limiter.clone());
        if let Some(cache) = &cache {
            host = host.with_cache(cache.clone());
        }
        hosts.insert(name, PolicyHost { host, audit_file: config.audit });
    }
    let metrics_addr = match opts.metrics {
        Some(addr) => Some(super::metrics::serve(metrics.clone(), addr).await?),
        None => None,
    };
    let worker = Arc::new(Worker {
        opts: opts.clone(),
        fleet,
        plugins,
        hosts,
        loaded: Mutex::new(HashMap::new()),
        metrics,
        max_deliver,
        ack_wait,
    });

    let (stop_tx, stop) = watch::channel(false);
    let mut slots = tokio::task::JoinSet::new();
    for _ in 0..opts.concurrency {
        slots.spawn(slot(worker.clone(), consumer.clone(), stop.clone()));
    }
    // A line scripts and tests wait for.
    println!(
        "worker {} ready: policies {}; concurrency {}; max_deliver {max_deliver}; ack_wait {ack_wait:?}{}",
        opts.name,
        names.join(", "),
        opts.concurrency,
        metrics_addr.map(|a| format!("; metrics http://{a}/metrics")).unwrap_or_default()
    );
    let _ = std::io::stdout().flush();

    wait_for_stop().await;
    eprintln!("worker {}: stopping; running jobs have {:?} to finish", opts.name, opts.grace);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(opts.grace, async { while slots.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        // Their jobs stay unacked and are redelivered to other workers after ack_wait.
        eprintln!("worker {}: grace period over; leaving unfinished jobs to others", opts.name);
        slots.abort_all();
    }
    let _ = worker.fleet.client.flush().await;
    eprintln!("worker {}: stopped", opts.name);
    Ok(0)
}

async fn wait_for_stop() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// One job at a time, until told to stop.
async fn slot(worker: Arc<Worker>, consumer: PullConsumer, stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        let mut batch = match consumer.batch().max_messages(1).expires(PULL_EXPIRES).messages().await {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!("cannot pull jobs: {e}; retrying");
                tokio::time::sleep(PULL_EXPIRES).await;
                continue;
            }
        };
        while let Some(msg) = batch.next().await {
            let msg = match msg {
                Ok(msg) => msg,
                Err(e) => {
                    tracing::debug!("pull: {e}");
                    break;
                }
            };
            if *stop.borrow() {
                // Pulled after the stop: hand it straight back to the others.
                let _ = msg.ack_with(AckKind::Nak(None)).await;
                continue;
            }
            worker.handle(msg).await;
        }
    }
}

impl Worker {
    async fn handle(&self, msg: Message) {
        let attempt = msg.info().map(|i| i.delivered.max(1) as u64).unwrap_or(1);
        let sequence = msg.info().map(|i| i.stream_sequence).unwrap_or(0);
        self.metrics.received.inc();
        if attempt > 1 {
            self.metrics.redelivered.inc();
        }
        let job = match Job::parse(&msg.payload) {
            Ok(job) => job,
            Err(bad) => {
                let stored = match &bad.id {
                    Some(id) => {
                        self.publish_result(&JobResult::rejected(id, attempt, &self.opts.name, bad.to_string())).await
                    }
                    // No id to answer on: keep it with the dead letters.
                    None => self.publish_dead(&format!("malformed-{sequence}"), None, attempt, &bad.to_string()).await,
                };
                self.metrics.failed.inc();
                self.settle(&msg, stored, "malformed job").await;
                return;
            }
        };
        tracing::info!(job = job.id, attempt, "job started");

        // Run it, telling NATS we are alive while it runs.
        let audit = Arc::new(Mutex::new(Vec::new()));
        let run = self.execute(&job, attempt, audit.clone());
        tokio::pin!(run);
        // The first tick one period from now: an interval's immediate first
        // tick still waits for the timer wheel's next millisecond.
        let period = (self.ack_wait / 3).max(Duration::from_millis(100));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let verdict = loop {
            tokio::select! {
                verdict = &mut run => break verdict,
                _ = tick.tick() => {
                    if let Err(e) = msg.ack_with(AckKind::Progress).await {
                        tracing::warn!(job = job.id, "in-progress ack failed: {e}");
                    }
                }
            }
        };
        let lines = std::mem::take(&mut *audit.lock().unwrap_or_else(|p| p.into_inner()));
        // The audit lines go out first, but their acks are awaited only after
        // the result is stored (and before the job is acked), so the result
        // does not wait a round trip for them.
        let audit_acks = self.send_audit(&job.id, attempt, &lines).await;

        match verdict {
            Verdict::Final(result) => {
                let stored = self.publish_result(&result).await;
                self.confirm_audit(&job.id, audit_acks).await;
                if stored.is_ok() {
                    self.count_final(&result);
                }
                self.settle(&msg, stored, &job.id).await;
            }
            Verdict::Retry(result) if (attempt as i64) < self.max_deliver || self.max_deliver < 1 => {
                self.confirm_audit(&job.id, audit_acks).await;
                let backoff =
                    self.opts.retry_backoff.saturating_mul(1 << (attempt - 1).min(16) as u32).min(MAX_BACKOFF);
                tracing::info!(job = job.id, attempt, "attempt failed ({:?}); retrying in {backoff:?}", result.error);
                if let Err(e) = msg.ack_with(AckKind::Nak(Some(backoff))).await {
                    tracing::warn!(job = job.id, "nak failed: {e}; the job returns after ack_wait");
                }
            }
            Verdict::Retry(result) => {
                let error = result.error.clone().unwrap_or_default();
                let mut stored = self.publish_dead(&job.id, Some(&job), attempt, &error).await;
                if stored.is_ok() {
                    stored = self.publish_result(&result).await;
                }
                self.confirm_audit(&job.id, audit_acks).await;
                if stored.is_ok() {
                    self.metrics.dead_lettered.inc();
                    self.metrics.failed.inc();
                }
                self.settle(&msg, stored, &job.id).await;
            }
        }
    }

    /// Ack once the outcome is stored; otherwise leave the job to be redelivered.
    async fn settle(&self, msg: &Message, stored: anyhow::Result<()>, what: &str) {
        match stored {
            Ok(()) => {
                if let Err(e) = msg.double_ack().await {
                    tracing::warn!("ack of {what} failed ({e}); it may run again, and its result will be replaced");
                }
            }
            Err(e) => tracing::error!("cannot store the outcome of {what}: {e:#}; leaving it to be redelivered"),
        }
    }

    fn count_final(&self, result: &JobResult) {
        if result.outcome == "ok" {
            self.metrics.succeeded.inc();
        } else {
            self.metrics.failed.inc();
        }
    }

    async fn execute(&self, job: &Job, attempt: u64, audit: Arc<Mutex<Vec<u8>>>) -> Verdict {
        let worker = self.opts.name.as_str();
        let reject = |why: String| Verdict::Final(JobResult::rejected(&job.id, attempt, worker, why));
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let remaining = match job.deadline_ms {
            Some(deadline) if deadline <= now_ms => {
                return reject(format!("the job's deadline passed {} ms ago", now_ms - deadline))
            }
            Some(deadline) => Duration::from_millis(deadline - now_ms),
            None => Duration::MAX,
        };
        let Some(policy) = self.hosts.get(&job.policy) else {
            let mut known: Vec<&str> = self.hosts.keys().map(String::as_str).collect();
            known.sort();
            return reject(format!("unknown policy `{}`: worker {worker} has {}", job.policy, known.join(", ")));
        };
        let plugin = match self.plugin(&job.policy, policy, &job.plugin).await {
            Ok(plugin) => plugin,
            Err(PluginError::Fetch(e)) if e.is_transient() => {
                return Verdict::Retry(JobResult::bare(
                    &job.id,
                    attempt,
                    worker,
                    "trap",
                    crate::cli::EXIT_TRAP,
                    e.to_string(),
                ))
            }
            Err(PluginError::Fetch(e)) => return reject(e.to_string()),
            Err(PluginError::Load(e)) => {
                return Verdict::Final(JobResult::bare(
                    &job.id,
                    attempt,
                    worker,
                    "not-a-plugin",
                    crate::cli::EXIT_TRAP,
                    e,
                ))
            }
        };
        let origin = match plugin.origin() {
            Origin::Compiled => "compiled",
            Origin::Cached => "cached",
        };
        // Without an audit file the lines only go to NATS: keep them in
        // memory, with no writer thread to start per job.
        let log = match &policy.audit_file {
            Some(file) => AuditLog::to_writer(Box::new(JobAudit { lines: audit.clone(), file: file.clone() })),
            None => AuditLog::to_memory(audit.clone()),
        };
        let options = RunOptions {
            env: vec![("FTP_HOST_JOB_ID".into(), job.id.clone()), ("FTP_HOST_JOB_ATTEMPT".into(), attempt.to_string())],
            audit: Some(Arc::new(log)),
        };
        let started = Instant::now();
        let outcome = match tokio::time::timeout(remaining, plugin.run_with(&job.args, Output::Capture, options)).await
        {
            Ok(outcome) => outcome,
            Err(_) => {
                let mut r = JobResult::bare(
                    &job.id,
                    attempt,
                    worker,
                    "limit",
                    crate::cli::EXIT_TRAP,
                    "plugin stopped: the job's deadline passed while it ran".into(),
                );
                r.limits_hit = vec![crate::LimitKind::WallClock];
                return Verdict::Final(r);
            }
        };
        let elapsed = started.elapsed();
        let result = JobResult::from_run(&job.id, attempt, worker, &outcome, origin, elapsed.as_secs_f64() * 1000.0);
        self.metrics.run_seconds.observe(elapsed.as_secs_f64());
        self.metrics.run_bytes.observe((result.bytes_downloaded + result.bytes_uploaded) as f64);
        let denials = count_denials(&audit.lock().unwrap_or_else(|p| p.into_inner()));
        self.metrics.policy_denials.inc_by(denials);
        match outcome {
            Ok(_) => Verdict::Final(result),
            Err(_) => Verdict::Retry(result),
        }
    }

    /// The compiled plugin for this policy and digest: from memory, or
    /// fetched, verified and compiled (through the disk cache).
    async fn plugin(&self, policy_name: &str, policy: &PolicyHost, digest: &str) -> Result<Plugin, PluginError> {
        let key = (policy_name.to_string(), digest.to_string());
        if let Some(plugin) = self.loaded.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(plugin.clone());
        }
        let bytes = store::fetch(&self.plugins, digest).await.map_err(PluginError::Fetch)?;
        let host = policy.host.clone();
        let name = format!("sha256:{}", &digest[..16]);
        let plugin = tokio::task::spawn_blocking(move || host.load_named(&bytes, &name))
            .await
            .map_err(|e| PluginError::Load(format!("compiling the plugin failed: {e}")))?
            .map_err(|e| PluginError::Load(e.to_string()))?;
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if loaded.len() >= MAX_LOADED {
            loaded.clear();
        }
        loaded.insert(key, plugin.clone());
        Ok(plugin)
    }

    async fn publish(&self, subject: String, payload: Vec<u8>) -> anyhow::Result<()> {
        self.fleet
            .js
            .publish(subject.clone(), payload.into())
            .await
            .with_context(|| format!("publishing to {subject}"))?
            .await
            .with_context(|| format!("storing {subject}"))?;
        Ok(())
    }

    async fn publish_result(&self, result: &JobResult) -> anyhow::Result<()> {
        let payload = serde_json::to_vec(result).expect("a result serialises");
        self.publish(result_subject(&result.job), payload).await
    }

    async fn publish_dead(&self, id: &str, job: Option<&Job>, attempts: u64, error: &str) -> anyhow::Result<()> {
        let letter = serde_json::json!({
            "job": job,
            "id": id,
            "attempts": attempts,
            "worker": self.opts.name,
            "error": error,
        });
        self.publish(dead_subject(id), serde_json::to_vec(&letter).expect("a dead letter serialises")).await
    }

    /// Send audit lines in chunks of whole lines, without waiting for
    /// JetStream's acks ([`Self::confirm_audit`] does). Losing them is
    /// logged, not retried (the job's result matters more).
    async fn send_audit(&self, id: &str, attempt: u64, lines: &[u8]) -> Vec<PublishAckFuture> {
        let mut acks = Vec::new();
        let mut rest = lines;
        while !rest.is_empty() {
            let mut end = rest.len().min(MAX_AUDIT_CHUNK);
            if end < rest.len() {
                end = rest[..end].iter().rposition(|&b| b == b'\n').map(|i| i + 1).unwrap_or(end);
            }
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Ftp-Host-Attempt", attempt.to_string().as_str());
            match self.fleet.js.publish_with_headers(audit_subject(id), headers, rest[..end].to_vec().into()).await {
                Ok(ack) => acks.push(ack),
                Err(e) => {
                    tracing::warn!(job = id, "audit lines not stored: {e:#}");
                    break;
                }
            }
            rest = &rest[end..];
        }
        acks
    }

    /// Wait until JetStream stored the audit lines sent by [`Self::send_audit`].
    async fn confirm_audit(&self, id: &str, acks: Vec<PublishAckFuture>) {
        for ack in acks {
            if let Err(e) = ack.await {
                tracing::warn!(job = id, "audit lines not stored: {e:#}");
                return;
            }
        }
    }
}

enum PluginError {
    Fetch(store::FetchError),
    Load(String),
}

/// A job's audit lines when its policy has an audit file: kept for NATS,
/// and appended to the file.
struct JobAudit {
    lines: Arc<Mutex<Vec<u8>>>,
    file: PathBuf,
}

impl Write for JobAudit {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        append(&self.file, buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn append(path: &Path, buf: &[u8]) -> std::io::Result<()> {
    if path.as_os_str() == "-" {
        return std::io::stderr().write_all(buf);
    }
    std::fs::OpenOptions::new().create(true).append(true).open(path)?.write_all(buf)
}

/// Audited operations the policy refused.
fn count_denials(lines: &[u8]) -> u64 {
    lines
        .split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .filter(|entry| entry.get("error").and_then(|e| e.as_str()).is_some_and(|e| e.starts_with("denied")))
        .count() as u64
}

/// A default worker name: the host name and the process id.
pub fn default_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    let host: String = host.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    format!("{host}-{}", std::process::id())
}
