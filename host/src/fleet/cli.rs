//! The fleet's subcommands (`publish`, `submit`, `worker`): their arguments
//! and what each does; `crate::cli` only dispatches here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::job::Job;
use super::{store, submit, worker, Fleet};

/// Where the NATS server is.
#[derive(Args, Clone, Debug)]
pub struct NatsArgs {
    /// The NATS server (with JetStream on: `nats-server -js`).
    #[arg(long, value_name = "URL", env = "FTP_HOST_NATS", default_value = "nats://127.0.0.1:4222")]
    pub nats: String,
}

/// `ftp-host publish`.
#[derive(Args)]
pub struct PublishArgs {
    /// The plugin's .wasm file.
    pub plugin: PathBuf,
    #[command(flatten)]
    nats: NatsArgs,
}

/// `ftp-host submit`.
#[derive(Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    nats: NatsArgs,
    /// The plugin's SHA-256, as `ftp-host publish` printed it.
    #[arg(long, value_name = "DIGEST")]
    pub plugin: String,
    /// The name of a policy the workers have (a policy file's stem).
    #[arg(long, value_name = "NAME")]
    pub policy: String,
    /// The job's id (default: random). Resubmitting an id within two minutes is a no-op.
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// Do not start the job later than this many seconds from now; stop it if still running then.
    #[arg(long, value_name = "SECS")]
    pub deadline_secs: Option<u64>,
    /// Wait for the result and print it as `run --json` does (plus job,
    /// attempt and worker); exit with its exit code.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (exit code 2).
    #[arg(long, value_name = "SECS", requires = "wait")]
    pub timeout_secs: Option<u64>,
    /// Arguments passed to the plugin's `run` export.
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// `ftp-host worker`.
#[derive(Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    nats: NatsArgs,
    /// A policy file (its stem names the policy: `nightly.toml` is `nightly`)
    /// or a directory of them (repeatable). Jobs may only name these.
    #[arg(long = "config", value_name = "FILE|DIR", required = true)]
    pub configs: Vec<PathBuf>,
    /// Jobs run at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Serve Prometheus metrics on ADDR (e.g. 127.0.0.1:9464; port 0 picks one, printed on stdout).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// This worker's name in results (default: host name and process id).
    #[arg(long)]
    pub name: Option<String>,
    /// How long a delivered job may go without an ack before NATS redelivers
    /// it (used when this worker creates the consumer).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub ack_wait: Duration,
    /// Deliveries of a job before it is dead-lettered (used when this worker creates the consumer).
    #[arg(long, default_value_t = 5)]
    pub max_deliver: i64,
    /// Wait before retrying a failed attempt; doubles with each attempt.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    pub retry_backoff: Duration,
    /// On SIGTERM, how long running jobs may take to finish.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub grace: Duration,
    /// How long a dead worker's connection leases last (used when this worker creates the bucket).
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_ttl: Duration,
    /// Compile every plugin; do not use the compiled-plugin cache on disk.
    #[arg(long)]
    pub no_cache: bool,
}

/// `ftp-host publish`: print the digest.
pub async fn publish(args: PublishArgs) -> anyhow::Result<u8> {
    let bytes = std::fs::read(&args.plugin).with_context(|| format!("cannot read plugin {}", args.plugin.display()))?;
    anyhow::ensure!(
        bytes.len() as u64 <= store::MAX_PLUGIN_BYTES,
        "{} has {} bytes, more than the {} the fleet's store takes",
        args.plugin.display(),
        bytes.len(),
        store::MAX_PLUGIN_BYTES
    );
    let fleet = Fleet::connect(&args.nats.nats).await?;
    let digest = submit::publish_plugin(&fleet, &bytes).await?;
    println!("{digest}");
    Ok(0)
}

/// `ftp-host submit`: print the job id, or with `--wait` the result.
pub async fn submit(args: SubmitArgs) -> anyhow::Result<u8> {
    let job = Job {
        id: args.id.unwrap_or_else(submit::new_job_id),
        plugin: args.plugin.trim_start_matches("sha256:").to_string(),
        policy: args.policy,
        args: args.args,
        deadline_ms: args.deadline_secs.map(|s| submit::deadline_in(Duration::from_secs(s))),
    };
    job.validate().map_err(|e| anyhow::anyhow!("invalid job: {e}"))?;
    let fleet = Fleet::connect(&args.nats.nats).await?;
    if !args.wait {
        submit::enqueue(&fleet, &job).await?;
        println!("{}", job.id);
        return Ok(0);
    }
    let result = submit::submit_and_wait(&fleet, &job, args.timeout_secs.map(Duration::from_secs)).await?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(result.exit_code)
}

/// `ftp-host worker`: run until SIGTERM.
pub async fn worker(args: WorkerArgs) -> anyhow::Result<u8> {
    worker::run(worker::WorkerOptions {
        nats: args.nats.nats,
        configs: args.configs,
        concurrency: args.concurrency,
        metrics: args.metrics,
        name: args.name.unwrap_or_else(worker::default_name),
        ack_wait: args.ack_wait,
        max_deliver: args.max_deliver,
        retry_backoff: args.retry_backoff,
        grace: args.grace,
        lease_ttl: args.lease_ttl,
        no_cache: args.no_cache,
    })
    .await
}
