//! The compiled-component cache. Compiling a Python or JavaScript plugin
//! takes 10-15 s; the cache keeps the compiled form so later runs start in
//! milliseconds.
//!
//! Entries are keyed by the component's SHA-256 and the engine's
//! compatibility hash. Deserialising compiled code is only safe for files
//! this host wrote, so every entry carries an HMAC-SHA256 under a secret key
//! kept in the cache directory (mode 0600): a corrupted, tampered or foreign
//! file fails the check and is recompiled, never loaded.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the MAC at the start of every entry.
const MAC_LEN: usize = 32;
/// Name of the key file inside the cache directory.
const KEY_FILE: &str = "cache-key";

/// How a component was obtained, for reports and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Compiled now (and stored, if there is a cache).
    Compiled,
    /// Loaded from the cache.
    Cached,
}

/// A directory of compiled components this host wrote.
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
    key: [u8; 32],
}

impl Cache {
    /// `$FTP_HOST_CACHE_DIR`, else `$XDG_CACHE_HOME/ftp-host`, else
    /// `~/.cache/ftp-host`.
    pub fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("FTP_HOST_CACHE_DIR") {
            return dir.into();
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("ftp-host")
    }

    /// Open (creating if needed) a cache in `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create the cache directory {}", dir.display()))?;
        let key_path = dir.join(KEY_FILE);
        let key = match fs::read(&key_path) {
            Ok(bytes) if bytes.len() == 32 => bytes.try_into().expect("length checked"),
            _ => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness for the cache key: {e}"))?;
                write_private(&key_path, &key).with_context(|| format!("cannot write {}", key_path.display()))?;
                key
            }
        };
        Ok(Cache { dir: dir.to_path_buf(), key })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, engine: &Engine, component: &[u8]) -> PathBuf {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let digest = hex::encode(Sha256::digest(component));
        self.dir.join(format!("{digest}-{:016x}.cwasm", hasher.finish()))
    }

    fn mac(&self, bytes: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(bytes);
        mac
    }

    /// Seal compiled bytes: MAC, then the bytes.
    pub(crate) fn seal(&self, compiled: &[u8]) -> Vec<u8> {
        let mut out = self.mac(compiled).finalize().into_bytes().to_vec();
        out.extend_from_slice(compiled);
        out
    }

    /// The compiled bytes of a sealed file, if this cache's key sealed it.
    pub(crate) fn unseal<'a>(&self, sealed: &'a [u8]) -> Option<&'a [u8]> {
        if sealed.len() < MAC_LEN {
            return None;
        }
        let (tag, compiled) = sealed.split_at(MAC_LEN);
        self.mac(compiled).verify_slice(tag).ok().map(|()| compiled)
    }

    /// Load `component` compiled from the cache, or compile and store it.
    pub(crate) fn load_or_compile(&self, engine: &Engine, component: &[u8]) -> wasmtime::Result<(Component, Origin)> {
        let path = self.entry(engine, component);
        if let Ok(sealed) = fs::read(&path) {
            match self.unseal(&sealed) {
                // SAFETY: the MAC proves this host wrote these bytes with
                // `Engine::precompile_component` for this engine's configuration.
                Some(compiled) => match unsafe { Component::deserialize(engine, compiled) } {
                    Ok(c) => return Ok((c, Origin::Cached)),
                    Err(e) => tracing::warn!("cache entry {} is unusable ({e}); recompiling", path.display()),
                },
                None => tracing::warn!("cache entry {} failed its integrity check; recompiling", path.display()),
            }
        }
        let compiled = engine.precompile_component(component)?;
        // SAFETY: compiled just now by this engine.
        let loaded = unsafe { Component::deserialize(engine, &compiled)? };
        if let Err(e) = write_private(&path, &self.seal(&compiled)) {
            tracing::warn!("cannot store {} in the cache: {e}", path.display());
        }
        Ok((loaded, Origin::Compiled))
    }
}

/// Write `bytes` to `path` atomically, readable by the owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_refuses_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let sealed = cache.seal(b"compiled code");
        assert_eq!(cache.unseal(&sealed), Some(&b"compiled code"[..]));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(cache.unseal(&tampered), None);
        assert_eq!(cache.unseal(b"short"), None);
        // Another cache (another key) cannot vouch for it.
        let other = Cache::open(tempfile::tempdir().unwrap().path()).unwrap();
        assert_eq!(other.unseal(&sealed), None);
        // The key persists.
        assert_eq!(Cache::open(dir.path()).unwrap().key, cache.key);
    }
}
