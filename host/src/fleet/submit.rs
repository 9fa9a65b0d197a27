//! The producer side: `ftp-host publish` (a plugin into the store) and
//! `ftp-host submit` (a job onto the queue, optionally waiting for its result).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use async_nats::jetstream::context::Publish;
use futures_util::StreamExt;

use super::job::{Job, JobResult};
use super::{result_subject, store, Fleet, JOBS_SUBJECT};

/// A fresh job id: 128 random bits, hex.
pub fn new_job_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS has a random source");
    hex::encode(bytes)
}

/// Store a plugin's bytes; returns the digest.
pub async fn publish_plugin(fleet: &Fleet, bytes: &[u8]) -> anyhow::Result<String> {
    let bucket = store::bucket(fleet).await.context("the plugin store")?;
    store::publish(&bucket, bytes).await
}

/// Enqueue `job` (stored by JetStream before this returns). The job id is
/// also the message id, so a resubmit within two minutes is dropped.
pub async fn enqueue(fleet: &Fleet, job: &Job) -> anyhow::Result<()> {
    job.validate().map_err(|e| anyhow::anyhow!("invalid job: {e}"))?;
    let payload = serde_json::to_vec(job)?;
    fleet
        .js
        .send_publish(JOBS_SUBJECT, Publish::build().payload(payload.into()).message_id(&job.id))
        .await
        .context("cannot publish the job")?
        .await
        .context("the job was not stored")?;
    Ok(())
}

/// Enqueue `job` and wait up to `timeout` (`None`: forever) for its result.
pub async fn submit_and_wait(fleet: &Fleet, job: &Job, timeout: Option<Duration>) -> anyhow::Result<JobResult> {
    // Subscribe first, so the result cannot slip by between enqueue and wait.
    let mut results = fleet.client.subscribe(result_subject(&job.id)).await?;
    fleet.client.flush().await?;
    enqueue(fleet, job).await?;
    let wait = async {
        let msg = results.next().await.context("the NATS connection closed while waiting")?;
        serde_json::from_slice::<JobResult>(&msg.payload).context("the result is not valid JSON")
    };
    match timeout {
        Some(limit) => tokio::time::timeout(limit, wait)
            .await
            .map_err(|_| anyhow::anyhow!("no result for job {} within {limit:?}", job.id))?,
        None => wait.await,
    }
}

/// Milliseconds since the Unix epoch, `after` from now.
pub fn deadline_in(after: Duration) -> u64 {
    (SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + after).as_millis() as u64
}
