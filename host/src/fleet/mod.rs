//! Fleet mode: many `ftp-host worker` processes pull jobs from NATS
//! JetStream, run each plugin exactly as `ftp-host run` would, and publish
//! one result per job. NATS does the queueing, redelivery and replication;
//! nothing here is a home-made queue.
//!
//! What lives where on the NATS server (created on first use by any command):
//! * stream `FTPHOST_JOBS` (work queue) on [`JOBS_SUBJECT`], read by the
//!   durable pull consumer [`CONSUMER`] with explicit acks, `ack_wait`,
//!   `max_deliver`; failed attempts are retried after a backoff;
//! * stream `FTPHOST_RESULTS` on `ftphost.result.<job>`, one message kept per
//!   subject: a re-run's result replaces the previous one;
//! * stream `FTPHOST_DEAD` on `ftphost.dead.<job>`: jobs that failed
//!   `max_deliver` times, with their last error;
//! * stream `FTPHOST_AUDIT` on `ftphost.audit.<job>`: each attempt's audit lines;
//! * object store [`PLUGIN_BUCKET`]: plugins by SHA-256 ([`store`]);
//! * key-value bucket [`LEASE_BUCKET`]: connection leases ([`leases`]).
//!
//! Modules: [`job`] (wire types), [`store`] (plugins), [`leases`]
//! (fleet-wide `max_connections`), [`metrics`] (Prometheus), [`worker`],
//! [`submit`] (`publish` and `submit`), [`cli`] (the subcommands' arguments).

pub mod cli;
pub mod job;
pub mod leases;
pub mod metrics;
pub mod store;
pub mod submit;
pub mod worker;

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, stream};

pub use job::{Job, JobResult};

/// The subject jobs are published on.
pub const JOBS_SUBJECT: &str = "ftphost.jobs";
/// The work-queue stream of jobs.
pub const JOBS_STREAM: &str = "FTPHOST_JOBS";
/// The durable consumer all workers share.
pub const CONSUMER: &str = "workers";
/// Results stream (one message per job id).
pub const RESULTS_STREAM: &str = "FTPHOST_RESULTS";
/// Dead-letter stream.
pub const DEAD_STREAM: &str = "FTPHOST_DEAD";
/// Audit stream.
pub const AUDIT_STREAM: &str = "FTPHOST_AUDIT";
/// Object store bucket of plugins.
pub const PLUGIN_BUCKET: &str = "ftphost-plugins";
/// Key-value bucket of connection leases.
pub const LEASE_BUCKET: &str = "ftphost-leases";
/// How long results, dead letters and audit lines are kept.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The subject of a job's result.
pub fn result_subject(job: &str) -> String {
    format!("ftphost.result.{job}")
}

/// The subject of a job's dead letter.
pub fn dead_subject(job: &str) -> String {
    format!("ftphost.dead.{job}")
}

/// The subject of a job's audit lines.
pub fn audit_subject(job: &str) -> String {
    format!("ftphost.audit.{job}")
}

/// A connection to the fleet's NATS server, with its streams in place.
#[derive(Clone)]
pub struct Fleet {
    /// The core client.
    pub client: async_nats::Client,
    /// JetStream on it.
    pub js: jetstream::Context,
}

impl Fleet {
    /// Connect to `url` and create the streams if missing. An unreachable
    /// server is a clear error, not a hang.
    pub async fn connect(url: &str) -> anyhow::Result<Fleet> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .name("ftp-host")
            .connect(url)
            .await
            .with_context(|| format!("cannot reach NATS at {url} (is nats-server running with -js?)"))?;
        let js = jetstream::new(client.clone());
        let fleet = Fleet { client, js };
        fleet
            .ensure_streams()
            .await
            .with_context(|| format!("cannot set up the fleet's JetStream streams on {url}"))?;
        Ok(fleet)
    }

    async fn ensure_streams(&self) -> anyhow::Result<()> {
        let configs = [
            stream::Config {
                name: JOBS_STREAM.into(),
                subjects: vec![JOBS_SUBJECT.into()],
                retention: stream::RetentionPolicy::WorkQueue,
                // Submitters set Nats-Msg-Id to the job id: a resubmit within this window is dropped.
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            },
            stream::Config {
                name: RESULTS_STREAM.into(),
                subjects: vec!["ftphost.result.*".into()],
                max_messages_per_subject: 1,
                max_age: RETENTION,
                ..Default::default()
            },
            stream::Config {
                name: DEAD_STREAM.into(),
                subjects: vec!["ftphost.dead.*".into()],
                max_age: RETENTION,
                ..Default::default()
            },
            stream::Config {
                name: AUDIT_STREAM.into(),
                subjects: vec!["ftphost.audit.*".into()],
                max_age: RETENTION,
                ..Default::default()
            },
        ];
        for config in configs {
            let name = config.name.clone();
            self.js.get_or_create_stream(config).await.with_context(|| format!("stream {name}"))?;
        }
        Ok(())
    }
}
