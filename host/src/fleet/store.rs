//! Plugins in the fleet: a JetStream object store keyed by each plugin's
//! SHA-256. `publish` puts a plugin once; workers fetch it by digest, check
//! the digest against the bytes, and compile it once into their local cache.

use async_nats::jetstream::object_store::{self, GetErrorKind, ObjectStore};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::{Fleet, PLUGIN_BUCKET};

/// Largest plugin the store takes or a worker reads, in bytes (checked
/// while the bytes arrive).
pub const MAX_PLUGIN_BYTES: u64 = 64 * 1024 * 1024;

/// Why a plugin could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No plugin with this digest was published.
    #[error("plugin sha256:{0} is not in the fleet's store; publish it with `ftp-host publish PLUGIN.wasm`")]
    Missing(String),
    /// The stored bytes do not hash to the digest they are stored under.
    #[error("plugin sha256:{digest} does not match its bytes (they hash to sha256:{actual}); not running it")]
    DigestMismatch {
        /// The digest asked for.
        digest: String,
        /// What the stored bytes hash to.
        actual: String,
    },
    /// The stored object is larger than [`MAX_PLUGIN_BYTES`].
    #[error("plugin sha256:{0} is larger than the {MAX_PLUGIN_BYTES} bytes a plugin may have")]
    TooLarge(String),
    /// NATS failed (worth retrying).
    #[error("cannot fetch plugin sha256:{0}: {1}")]
    Store(String, String),
}

impl FetchError {
    /// Whether a later attempt could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, FetchError::Store(..))
    }
}

/// The plugin bucket, created if missing.
pub async fn bucket(fleet: &Fleet) -> anyhow::Result<ObjectStore> {
    match fleet.js.get_object_store(PLUGIN_BUCKET).await {
        Ok(store) => Ok(store),
        Err(_) => Ok(fleet
            .js
            .create_object_store(object_store::Config { bucket: PLUGIN_BUCKET.into(), ..Default::default() })
            .await?),
    }
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Store `bytes` under their digest (once; publishing again changes nothing)
/// and return the digest.
pub async fn publish(store: &ObjectStore, bytes: &[u8]) -> anyhow::Result<String> {
    anyhow::ensure!(
        bytes.len() as u64 <= MAX_PLUGIN_BYTES,
        "the plugin has {} bytes, more than the {MAX_PLUGIN_BYTES} the fleet's store takes",
        bytes.len()
    );
    let digest = digest(bytes);
    if store.info(&digest).await.is_ok() {
        return Ok(digest);
    }
    store.put(digest.as_str(), &mut &bytes[..]).await?;
    Ok(digest)
}

/// Fetch the plugin stored under `digest` and check that its bytes hash to it.
pub async fn fetch(store: &ObjectStore, digest: &str) -> Result<Vec<u8>, FetchError> {
    let object = match store.get(digest).await {
        Ok(object) => object,
        Err(e) if e.kind() == GetErrorKind::NotFound => return Err(FetchError::Missing(digest.into())),
        Err(e) => return Err(FetchError::Store(digest.into(), e.to_string())),
    };
    let mut bytes = Vec::new();
    // One byte more than allowed tells "too large" from "exactly the limit".
    object
        .take(MAX_PLUGIN_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| FetchError::Store(digest.into(), e.to_string()))?;
    if bytes.len() as u64 > MAX_PLUGIN_BYTES {
        return Err(FetchError::TooLarge(digest.into()));
    }
    let actual = self::digest(&bytes);
    if actual != digest {
        return Err(FetchError::DigestMismatch { digest: digest.into(), actual });
    }
    Ok(bytes)
}
