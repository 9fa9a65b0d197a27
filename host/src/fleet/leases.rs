//! Fleet-wide `max_connections`: a [`ConnectionLimiter`] on a JetStream
//! key-value bucket. A server with a cap of N has N slot keys
//! (`<server-hex>.<slot>`); taking a slot is a `create` (compare-and-set: it
//! fails while the key exists), the holder renews it every third of the TTL,
//! and releasing deletes it. The bucket's `max_age` is the TTL, so the slots
//! of a killed worker free themselves.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::kv::{self, CreateErrorKind};

use super::metrics::{Metrics, ServerLabel};
use super::{Fleet, LEASE_BUCKET};
use crate::connections::{ConnectionLimiter, ConnectionPermit, LimitError};

/// Default lease TTL: how long a dead worker's slot stays taken.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(15);
/// Pause between attempts while every slot is taken.
const POLL: Duration = Duration::from_millis(20);

/// The lease bucket, created with `ttl` as its `max_age` if missing (an
/// existing bucket keeps its TTL).
pub async fn bucket(fleet: &Fleet, ttl: Duration) -> anyhow::Result<kv::Store> {
    match fleet.js.get_key_value(LEASE_BUCKET).await {
        Ok(store) => Ok(store),
        Err(_) => Ok(fleet
            .js
            .create_key_value(kv::Config {
                bucket: LEASE_BUCKET.into(),
                history: 1,
                max_age: ttl,
                ..Default::default()
            })
            .await?),
    }
}

/// Connection slots shared by every worker on one NATS server.
pub struct KvLimiter {
    kv: kv::Store,
    ttl: Duration,
    holder: String,
    metrics: Arc<Metrics>,
}

impl KvLimiter {
    /// Leases in `kv` (whose `max_age` is `ttl`), held in the name of `holder`.
    pub fn new(kv: kv::Store, ttl: Duration, holder: &str, metrics: Arc<Metrics>) -> Self {
        KvLimiter { kv, ttl, holder: holder.to_string(), metrics }
    }
}

/// One open connection, counted in the `open_connections` gauge until dropped.
struct Counted {
    metrics: Arc<Metrics>,
    server: ServerLabel,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.metrics.open_connections.get_or_create(&self.server).dec();
    }
}

/// A held slot key: renewed in the background, deleted on drop (only if
/// still ours: a lapsed lease another worker took is left alone).
struct Lease {
    kv: kv::Store,
    key: String,
    revision: Arc<AtomicU64>,
    renew: tokio::task::JoinHandle<()>,
    _counted: Counted,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renew.abort();
        let (kv, key, revision) = (self.kv.clone(), self.key.clone(), self.revision.load(Ordering::SeqCst));
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = kv.delete_expect_revision(&key, Some(revision)).await {
                    tracing::debug!("lease {key} not released ({e}); it expires with its TTL");
                }
            });
        }
    }
}

#[async_trait::async_trait]
impl ConnectionLimiter for KvLimiter {
    async fn acquire(&self, server: &str, max: Option<usize>, wait: Duration) -> Result<ConnectionPermit, LimitError> {
        let label = ServerLabel { server: server.to_string() };
        let count = || {
            self.metrics.open_connections.get_or_create(&label).inc();
            Counted { metrics: self.metrics.clone(), server: label.clone() }
        };
        let Some(max) = max else { return Ok(ConnectionPermit::new(count())) };
        let started = Instant::now();
        // Key tokens allow few characters; hex keeps any host name valid.
        let prefix = hex::encode(server);
        loop {
            for slot in 0..max {
                let key = format!("{prefix}.{slot}");
                match self.kv.create(&key, self.holder.clone().into()).await {
                    Ok(revision) => {
                        self.metrics.lease_wait_seconds.observe(started.elapsed().as_secs_f64());
                        let revision = Arc::new(AtomicU64::new(revision));
                        let renew = tokio::spawn(renew(
                            self.kv.clone(),
                            key.clone(),
                            self.holder.clone(),
                            revision.clone(),
                            self.ttl,
                        ));
                        return Ok(ConnectionPermit::new(Lease {
                            kv: self.kv.clone(),
                            key,
                            revision,
                            renew,
                            _counted: count(),
                        }));
                    }
                    Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {}
                    Err(e) => return Err(LimitError::Unavailable(format!("lease {key} on NATS: {e}"))),
                }
            }
            if started.elapsed() >= wait {
                self.metrics.lease_wait_seconds.observe(started.elapsed().as_secs_f64());
                return Err(LimitError::Timeout(wait, max));
            }
            // Spread retries so waiting workers do not move in lockstep.
            let jitter = Duration::from_millis(u64::from(rand_byte()) % 20);
            tokio::time::sleep(POLL + jitter).await;
        }
    }
}

/// Keep a lease alive: update it (compare-and-set on its revision) every
/// third of the TTL. A failed update means the lease lapsed; stop.
async fn renew(kv: kv::Store, key: String, holder: String, revision: Arc<AtomicU64>, ttl: Duration) {
    let mut tick = tokio::time::interval(ttl / 3);
    tick.tick().await;
    loop {
        tick.tick().await;
        match kv.update(&key, holder.clone().into(), revision.load(Ordering::SeqCst)).await {
            Ok(next) => revision.store(next, Ordering::SeqCst),
            Err(e) => {
                tracing::warn!(
                    "connection lease {key} could not be renewed ({e}); the fleet may exceed max_connections"
                );
                return;
            }
        }
    }
}

fn rand_byte() -> u8 {
    let mut b = [0u8; 1];
    let _ = getrandom::fill(&mut b);
    b[0]
}
