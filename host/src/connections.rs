//! Connection limits per server: a `[[server]]`'s `max_connections` caps
//! the control connections open to it at once. The host asks a
//! [`ConnectionLimiter`] for a [`ConnectionPermit`] before it dials, and the
//! session holds the permit until it is dropped.
//!
//! [`LocalLimiter`] (the default) counts within one [`Host`](crate::Host):
//! a semaphore per server shared by all its runs. The fleet's limiter
//! (`fleet::leases`) counts across every worker with key-value leases.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

/// Why no permit was granted.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Every permit stayed taken for the whole wait.
    #[error("waited {0:?} for one of the {1} connections its operator allows to this server")]
    Timeout(Duration, usize),
    /// The limiter itself failed (e.g. the fleet's key-value store is unreachable).
    #[error("cannot take a connection slot: {0}")]
    Unavailable(String),
}

/// A held connection slot; dropping it frees the slot.
pub struct ConnectionPermit {
    _held: Option<Box<dyn Send + Sync>>,
}

impl ConnectionPermit {
    /// A permit that holds `slot` (anything whose drop frees the slot).
    pub fn new(slot: impl Send + Sync + 'static) -> Self {
        ConnectionPermit { _held: Some(Box::new(slot)) }
    }

    /// A permit for a server without a cap: holds nothing.
    pub fn unlimited() -> Self {
        ConnectionPermit { _held: None }
    }
}

/// Hands out connection slots per server.
#[async_trait::async_trait]
pub trait ConnectionLimiter: Send + Sync + 'static {
    /// Wait at most `wait` for one of `max` slots of `server` (`None`: no
    /// cap; the limiter may still count the connection). The time waiting is
    /// wall-clock time of the run, never CPU time.
    async fn acquire(&self, server: &str, max: Option<usize>, wait: Duration) -> Result<ConnectionPermit, LimitError>;
}

/// The in-process limiter: one semaphore per server.
#[derive(Default)]
pub struct LocalLimiter {
    servers: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl LocalLimiter {
    /// A limiter with no slot taken.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl ConnectionLimiter for LocalLimiter {
    async fn acquire(&self, server: &str, max: Option<usize>, wait: Duration) -> Result<ConnectionPermit, LimitError> {
        let Some(max) = max else { return Ok(ConnectionPermit::unlimited()) };
        let semaphore = {
            let mut servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
            servers.entry(server.to_string()).or_insert_with(|| Arc::new(Semaphore::new(max))).clone()
        };
        match tokio::time::timeout(wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(ConnectionPermit::new(permit)),
            Ok(Err(_)) => Err(LimitError::Unavailable("the limiter was closed".into())),
            Err(_) => Err(LimitError::Timeout(wait, max)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_third_waits_until_one_is_dropped() {
        let limiter = Arc::new(LocalLimiter::new());
        let wait = Duration::from_millis(50);
        let a = limiter.acquire("s:21", Some(2), wait).await.unwrap();
        let _b = limiter.acquire("s:21", Some(2), wait).await.unwrap();
        assert!(matches!(limiter.acquire("s:21", Some(2), wait).await, Err(LimitError::Timeout(_, 2))));
        // Another server has its own slots; no cap means no wait.
        limiter.acquire("t:21", Some(1), wait).await.unwrap();
        limiter.acquire("s:21", None, wait).await.unwrap();
        drop(a);
        limiter.acquire("s:21", Some(2), wait).await.unwrap();
    }
}
