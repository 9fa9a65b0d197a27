//! The compiled-component cache. Compiling a Python or JavaScript plugin
//! takes 10-15 s; the cache keeps the compiled form so later runs start in
//! milliseconds.
//!
//! A cache entry is native code the host will run, so the cache is trusted
//! only as far as it is provably this user's own:
//! * the directory is created mode 0700, and a directory (or any directory
//!   above it) that another user owns or may write to is refused: the host
//!   then runs uncached, with a warning. With no `$HOME` (and no
//!   `$XDG_CACHE_HOME` or `$FTP_HOST_CACHE_DIR`) there is no cache at all,
//!   never a shared temporary directory;
//! * every entry carries an HMAC-SHA256 under a secret key kept in the
//!   directory (`cache-key`, mode 0600, refused unless this user's and
//!   private), over the component's SHA-256, the engine's compatibility hash
//!   and the compiled bytes: a corrupted, tampered, foreign or swapped file
//!   fails the check and is recompiled, never loaded;
//! * files are created with `O_EXCL | O_NOFOLLOW` and renamed into place, so
//!   a planted symlink is never written through;
//! * the entries are capped in total size ([`DEFAULT_MAX_CACHE_BYTES`], or
//!   `$FTP_HOST_CACHE_MAX_SIZE`), least recently used evicted first.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::SystemTime;

use anyhow::{bail, Context};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the MAC at the start of every entry.
const MAC_LEN: usize = 32;
/// Name of the key file inside the cache directory.
const KEY_FILE: &str = "cache-key";
/// Extension of cache entries.
const ENTRY_EXT: &str = "cwasm";
/// Default cap on the total size of the cache's entries.
pub const DEFAULT_MAX_CACHE_BYTES: u64 = 1 << 30;
/// Environment variable overriding [`DEFAULT_MAX_CACHE_BYTES`] (e.g. `512MiB`).
pub const MAX_SIZE_ENV: &str = "FTP_HOST_CACHE_MAX_SIZE";

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
    max_bytes: u64,
}

/// One cache entry, for `ftp-host cache list`.
#[derive(Clone, Debug)]
pub struct EntryInfo {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// When it was last loaded or written.
    pub last_used: SystemTime,
}

/// What the MAC of a sealed file binds it to.
enum Binding<'a> {
    /// A cache entry: this component, compiled by an engine with this hash.
    Entry { component_sha256: &'a [u8; 32], engine: u64 },
    /// An `ftp-host compile` output: any component, this engine.
    Sealed { engine: u64 },
}

impl Cache {
    /// `$FTP_HOST_CACHE_DIR`, else `$XDG_CACHE_HOME/ftp-host`, else
    /// `~/.cache/ftp-host`; `None` when none of these is set (never a shared
    /// temporary directory).
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("FTP_HOST_CACHE_DIR").filter(|d| !d.is_empty()) {
            return Some(dir.into());
        }
        std::env::var_os("XDG_CACHE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".cache")))
            .map(|base| base.join("ftp-host"))
    }

    /// Open the cache in [`default_dir`](Self::default_dir), sized by
    /// `$FTP_HOST_CACHE_MAX_SIZE`.
    pub fn open_default() -> anyhow::Result<Self> {
        let Some(dir) = Self::default_dir() else {
            bail!("no cache directory: set HOME, XDG_CACHE_HOME or FTP_HOST_CACHE_DIR (a shared temporary directory is never used)");
        };
        let mut cache = Self::open(&dir)?;
        if let Some(size) = std::env::var_os(MAX_SIZE_ENV) {
            let size = size.to_string_lossy().into_owned();
            cache.max_bytes = bytesize::ByteSize::from_str(&size)
                .map_err(|_| anyhow::anyhow!("{MAX_SIZE_ENV}=`{size}` is not a size; write e.g. \"512MiB\""))?
                .as_u64();
        }
        Ok(cache)
    }

    /// Open (creating if needed, mode 0700) a cache in `dir`. Refused when
    /// the directory, a directory above it, or its key is not provably this
    /// user's own (see the module docs).
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create the cache directory's parent {}", parent.display()))?;
        }
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("cannot create the cache directory {}", dir.display())),
        }
        check_dir(dir)?;
        let key = read_or_create_key(&dir.join(KEY_FILE))?;
        Ok(Cache { dir: dir.to_path_buf(), key, max_bytes: DEFAULT_MAX_CACHE_BYTES })
    }

    /// Cap the total size of the entries (least recently used evicted first).
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The cap on the total size of the entries.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn engine_hash(engine: &Engine) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        hasher.finish()
    }

    fn entry(&self, engine: &Engine, component_sha256: &[u8; 32]) -> PathBuf {
        self.dir.join(format!("{}-{:016x}.{ENTRY_EXT}", hex::encode(component_sha256), Self::engine_hash(engine)))
    }

    fn mac(&self, binding: &Binding<'_>, compiled: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        match binding {
            Binding::Entry { component_sha256, engine } => {
                mac.update(b"ftp-host cache entry v2\0");
                mac.update(&component_sha256[..]);
                mac.update(&engine.to_le_bytes());
            }
            Binding::Sealed { engine } => {
                mac.update(b"ftp-host compiled plugin v2\0");
                mac.update(&engine.to_le_bytes());
            }
        }
        mac.update(compiled);
        mac
    }

    fn seal_with(&self, binding: &Binding<'_>, compiled: &[u8]) -> Vec<u8> {
        let mut out = self.mac(binding, compiled).finalize().into_bytes().to_vec();
        out.extend_from_slice(compiled);
        out
    }

    fn unseal_with<'a>(&self, binding: &Binding<'_>, sealed: &'a [u8]) -> Option<&'a [u8]> {
        if sealed.len() < MAC_LEN {
            return None;
        }
        let (tag, compiled) = sealed.split_at(MAC_LEN);
        self.mac(binding, compiled).verify_slice(tag).ok().map(|()| compiled)
    }

    /// Seal an `ftp-host compile` output of `engine`: MAC, then the bytes.
    pub(crate) fn seal(&self, engine: &Engine, compiled: &[u8]) -> Vec<u8> {
        self.seal_with(&Binding::Sealed { engine: Self::engine_hash(engine) }, compiled)
    }

    /// The compiled bytes of a sealed file, if this cache's key sealed it
    /// for `engine`.
    pub(crate) fn unseal<'a>(&self, engine: &Engine, sealed: &'a [u8]) -> Option<&'a [u8]> {
        self.unseal_with(&Binding::Sealed { engine: Self::engine_hash(engine) }, sealed)
    }

    /// Load `component` compiled from the cache, or compile and store it.
    pub(crate) fn load_or_compile(&self, engine: &Engine, component: &[u8]) -> wasmtime::Result<(Component, Origin)> {
        let digest: [u8; 32] = Sha256::digest(component).into();
        let binding = Binding::Entry { component_sha256: &digest, engine: Self::engine_hash(engine) };
        let path = self.entry(engine, &digest);
        if let Ok(sealed) = read_nofollow(&path) {
            match self.unseal_with(&binding, &sealed) {
                // SAFETY: the MAC proves this host wrote these bytes with
                // `Engine::precompile_component` for this very component and
                // this engine's configuration.
                Some(compiled) => match unsafe { Component::deserialize(engine, compiled) } {
                    Ok(c) => {
                        touch(&path);
                        return Ok((c, Origin::Cached));
                    }
                    Err(e) => tracing::warn!("cache entry {} is unusable ({e}); recompiling", path.display()),
                },
                None => tracing::warn!("cache entry {} failed its integrity check; recompiling", path.display()),
            }
        }
        let compiled = engine.precompile_component(component)?;
        // SAFETY: compiled just now by this engine.
        let loaded = unsafe { Component::deserialize(engine, &compiled)? };
        match write_private(&path, &self.seal_with(&binding, &compiled)) {
            Ok(()) => {
                if let Err(e) = self.prune_to(self.max_bytes, Some(&path)) {
                    tracing::warn!("cannot shrink the cache in {}: {e:#}", self.dir.display());
                }
            }
            Err(e) => tracing::warn!("cannot store {} in the cache: {e}", path.display()),
        }
        Ok((loaded, Origin::Compiled))
    }

    /// The entries, least recently used first.
    pub fn entries(&self) -> anyhow::Result<Vec<EntryInfo>> {
        let mut out = Vec::new();
        for item in fs::read_dir(&self.dir).with_context(|| format!("cannot read {}", self.dir.display()))? {
            let item = item?;
            let path = item.path();
            if path.extension().is_none_or(|e| e != ENTRY_EXT) {
                continue;
            }
            let meta = item.metadata()?;
            if !meta.is_file() {
                continue;
            }
            out.push(EntryInfo { path, bytes: meta.len(), last_used: meta.modified()? });
        }
        out.sort_by_key(|e| e.last_used);
        Ok(out)
    }

    /// Remove least recently used entries until they total at most
    /// `max_bytes` (`keep`, the entry just written, goes last). Also removes
    /// temporary files left by interrupted writes. Returns the entries removed.
    pub fn prune_to(&self, max_bytes: u64, keep: Option<&Path>) -> anyhow::Result<Vec<EntryInfo>> {
        for item in fs::read_dir(&self.dir)?.flatten() {
            let name = item.file_name();
            let name = name.to_string_lossy();
            // Ours (`.NAME.tmpHEX`), older than a minute: an interrupted write.
            let stale = item.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok());
            if name.starts_with('.') && name.contains(".tmp") && stale.is_some_and(|s| s.as_secs() > 60) {
                let _ = fs::remove_file(item.path());
            }
        }
        let mut entries = self.entries()?;
        if let Some(keep) = keep {
            // The entry just written is the most recently used whatever its mtime says.
            if let Some(i) = entries.iter().position(|e| e.path == keep) {
                let e = entries.remove(i);
                entries.push(e);
            }
        }
        let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
        let mut removed = Vec::new();
        for entry in entries {
            if total <= max_bytes {
                break;
            }
            fs::remove_file(&entry.path).with_context(|| format!("cannot remove {}", entry.path.display()))?;
            total -= entry.bytes;
            removed.push(entry);
        }
        Ok(removed)
    }
}

/// The effective user id of this process.
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Refuse `dir` unless it is a real directory this user owns that no one
/// else may write to, below directories only this user or root can change
/// (or sticky ones, like /tmp, where no one can move another's entry).
fn check_dir(dir: &Path) -> anyhow::Result<()> {
    let me = euid();
    let meta = fs::symlink_metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    if !meta.is_dir() {
        bail!("refusing the cache directory {}: it is not a directory (a symbolic link?)", dir.display());
    }
    if meta.uid() != me {
        bail!(
            "refusing the cache directory {}: it belongs to uid {}, not to this user (uid {me})",
            dir.display(),
            meta.uid()
        );
    }
    if meta.mode() & 0o022 != 0 {
        bail!(
            "refusing the cache directory {}: others may write to it (mode {:o}); `chmod 700` it",
            dir.display(),
            meta.mode() & 0o7777
        );
    }
    let canonical = fs::canonicalize(dir).with_context(|| format!("cannot resolve {}", dir.display()))?;
    for ancestor in canonical.ancestors().skip(1) {
        let meta = fs::metadata(ancestor).with_context(|| format!("cannot read {}", ancestor.display()))?;
        let others_write = meta.mode() & 0o022 != 0;
        let sticky = meta.mode() & 0o1000 != 0;
        if (meta.uid() != me && meta.uid() != 0) || (others_write && !sticky) {
            bail!(
                "refusing the cache directory {}: {} above it may be changed by another user (owner uid {}, mode {:o})",
                dir.display(),
                ancestor.display(),
                meta.uid(),
                meta.mode() & 0o7777
            );
        }
    }
    Ok(())
}

/// The cache key: read if it is this user's private regular file, created
/// if missing; refused otherwise (someone else could know it).
fn read_or_create_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    match fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path) {
        Ok(mut file) => {
            let meta = file.metadata()?;
            if !meta.is_file() || meta.uid() != euid() || meta.mode() & 0o077 != 0 {
                bail!(
                    "refusing the cache key {}: it must be a file of this user's readable by no one else (owner uid {}, mode {:o})",
                    path.display(),
                    meta.uid(),
                    meta.mode() & 0o7777
                );
            }
            let mut bytes = Vec::new();
            Read::by_ref(&mut file).take(64).read_to_end(&mut bytes)?;
            if let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) {
                return Ok(key);
            }
            // Ours but cut short (an interrupted first run): make a new one;
            // every entry sealed with the old one is then recompiled.
            tracing::warn!("the cache key {} is damaged; making a new one", path.display());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| format!("refusing the cache key {} (a symbolic link?)", path.display()))
        }
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness for the cache key: {e}"))?;
    write_private(path, &key).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(key)
}

/// Read `path` without following a symbolic link.
fn read_nofollow(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut file = fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Mark an entry as just used (its mtime is the LRU clock).
fn touch(path: &Path) {
    if let Ok(file) = fs::OpenOptions::new().append(true).custom_flags(libc::O_NOFOLLOW).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

/// Write `bytes` to `path` atomically, readable by the owner only: a new
/// file (`O_EXCL | O_NOFOLLOW`, random name) renamed over `path`.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut salt = [0u8; 8];
    getrandom::fill(&mut salt).map_err(|e| std::io::Error::other(e.to_string()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp{}", hex::encode(salt)));
    let mut file =
        fs::OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(&tmp)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.set_permissions(fs::Permissions::from_mode(0o600)))
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn engine() -> Engine {
        Engine::new(wasmtime::Config::new().wasm_component_model(true)).unwrap()
    }

    #[test]
    fn seals_and_refuses_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        let cache = Cache::open(dir.path()).unwrap();
        let sealed = cache.seal(&engine, b"compiled code");
        assert_eq!(cache.unseal(&engine, &sealed), Some(&b"compiled code"[..]));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(cache.unseal(&engine, &tampered), None);
        assert_eq!(cache.unseal(&engine, b"short"), None);
        // Another cache (another key) cannot vouch for it.
        let other_dir = tempfile::tempdir().unwrap();
        let other = Cache::open(other_dir.path()).unwrap();
        assert_eq!(other.unseal(&engine, &sealed), None);
        // The key persists.
        assert_eq!(Cache::open(dir.path()).unwrap().key, cache.key);
    }

    /// Issue 13, item 17: the directory is created 0700 and the key 0600.
    #[test]
    fn the_directory_and_key_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let cache_dir = dir.path().join("new/ftp-host");
        Cache::open(&cache_dir).unwrap();
        assert_eq!(fs::metadata(&cache_dir).unwrap().mode() & 0o777, 0o700);
        assert_eq!(fs::metadata(cache_dir.join(KEY_FILE)).unwrap().mode() & 0o777, 0o600);
    }

    /// Issue 13, item 17: a directory or key someone else could have
    /// planted or could change is refused (the caller then runs uncached).
    #[test]
    fn a_directory_or_key_not_provably_ours_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();

        // Writable by others.
        let open = root.join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        let e = Cache::open(&open).unwrap_err().to_string();
        assert!(e.contains("others may write"), "{e}");

        // Below a directory others may write to (no sticky bit).
        let shared = root.join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
        let e = Cache::open(&shared.join("ftp-host")).unwrap_err().to_string();
        assert!(e.contains("may be changed by another user"), "{e}");

        // A symlink planted where the directory goes.
        let target = root.join("target");
        fs::create_dir(&target).unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o700)).unwrap();
        symlink(&target, root.join("link")).unwrap();
        let e = Cache::open(&root.join("link")).unwrap_err().to_string();
        assert!(e.contains("not a directory"), "{e}");

        // A key others can read, a key that is a symlink, a key of another user.
        let good = root.join("good");
        Cache::open(&good).unwrap();
        let key = good.join(KEY_FILE);
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        let e = Cache::open(&good).unwrap_err().to_string();
        assert!(e.contains("refusing the cache key"), "{e}");
        fs::remove_file(&key).unwrap();
        let planted = root.join("planted-key");
        fs::write(&planted, [7u8; 32]).unwrap();
        fs::set_permissions(&planted, fs::Permissions::from_mode(0o600)).unwrap();
        symlink(&planted, &key).unwrap();
        let e = Cache::open(&good).unwrap_err().to_string();
        assert!(e.contains("refusing the cache key"), "{e}");
        fs::remove_file(&key).unwrap();
        if euid() == 0 {
            // Only root can give a file away: test it where we can.
            fs::copy(&planted, &key).unwrap();
            std::os::unix::fs::chown(&key, Some(65534), None).unwrap();
            let e = Cache::open(&good).unwrap_err().to_string();
            assert!(e.contains("refusing the cache key"), "{e}");
            fs::remove_file(&key).unwrap();
            std::os::unix::fs::chown(&good, Some(65534), None).unwrap();
            let e = Cache::open(&good).unwrap_err().to_string();
            assert!(e.contains("not to this user"), "{e}");
        }
    }

    /// Issue 13, item 17: a write never goes through a symlink planted
    /// where the entry goes, nor where a predictable temporary file would
    /// go (the old `NAME.tmpPID`): temporary names are random and opened
    /// with `O_EXCL | O_NOFOLLOW`.
    #[test]
    fn writes_never_follow_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"untouched").unwrap();
        let entry = dir.path().join("x.cwasm");
        symlink(&victim, &entry).unwrap();
        symlink(&victim, entry.with_extension(format!("tmp{}", std::process::id()))).unwrap();
        write_private(&entry, b"new").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"untouched", "the symlink's target was written");
        assert!(!fs::symlink_metadata(&entry).unwrap().file_type().is_symlink());
        assert_eq!(read_nofollow(&entry).unwrap(), b"new");
        // Reading never follows one either.
        let link = dir.path().join("y.cwasm");
        symlink(&victim, &link).unwrap();
        assert!(read_nofollow(&link).is_err());
    }

    /// Issue 13, item 18: one plugin's entry copied over another's name is
    /// refused, and the other is compiled afresh.
    #[test]
    fn an_entry_swapped_between_components_is_recompiled() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        let cache = Cache::open(dir.path()).unwrap();
        let a: &[u8] = br#"(component (core module (func (export "a"))))"#;
        let b: &[u8] = br#"(component (core module (func (export "b"))) (core module))"#;
        assert_eq!(cache.load_or_compile(&engine, a).unwrap().1, Origin::Compiled);
        assert_eq!(cache.load_or_compile(&engine, b).unwrap().1, Origin::Compiled);
        assert_eq!(cache.load_or_compile(&engine, b).unwrap().1, Origin::Cached);
        let entry = |c: &[u8]| cache.entry(&engine, &Sha256::digest(c).into());
        fs::copy(entry(a), entry(b)).unwrap();
        let (component, origin) = cache.load_or_compile(&engine, b).unwrap();
        assert_eq!(origin, Origin::Compiled, "A's code was loaded as B");
        drop(component);
        // B's entry is B's again.
        assert_eq!(cache.load_or_compile(&engine, b).unwrap().1, Origin::Cached);
        // A sealed `compile` output is not a cache entry either, nor the reverse.
        let sealed = fs::read(entry(a)).unwrap();
        assert_eq!(cache.unseal(&engine, &sealed), None);
    }

    /// Issue 13, item 19: the entries stay under the cap, least recently
    /// used evicted first.
    #[test]
    fn the_cache_is_capped_least_recently_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        let components: Vec<String> =
            (0..3).map(|i| format!(r#"(component (core module (func (export "f{i}"))))"#)).collect();
        let one = {
            let cache = Cache::open(dir.path()).unwrap();
            cache.load_or_compile(&engine, components[0].as_bytes()).unwrap();
            cache.entries().unwrap()[0].bytes
        };
        // Room for two entries (they are about the same size).
        let cache = Cache::open(dir.path()).unwrap().with_max_bytes(one * 2 + one / 2);
        let old = SystemTime::now() - std::time::Duration::from_secs(3600);
        let set_used = |c: &str, t: SystemTime| {
            let path = cache.entry(&engine, &Sha256::digest(c.as_bytes()).into());
            fs::OpenOptions::new().append(true).open(path).unwrap().set_modified(t).unwrap();
        };
        cache.load_or_compile(&engine, components[1].as_bytes()).unwrap();
        set_used(&components[0], old);
        set_used(&components[1], old - std::time::Duration::from_secs(60));
        // Using 1 makes 0 the least recently used.
        assert_eq!(cache.load_or_compile(&engine, components[1].as_bytes()).unwrap().1, Origin::Cached);
        cache.load_or_compile(&engine, components[2].as_bytes()).unwrap();
        let left: Vec<PathBuf> = cache.entries().unwrap().into_iter().map(|e| e.path).collect();
        let path = |c: &String| cache.entry(&engine, &Sha256::digest(c.as_bytes()).into());
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(!left.contains(&path(&components[0])), "the least recently used entry was kept");
        assert!(left.contains(&path(&components[1])) && left.contains(&path(&components[2])));
        // Pruning to zero empties it; the key stays.
        assert_eq!(cache.prune_to(0, None).unwrap().len(), 2);
        assert!(cache.entries().unwrap().is_empty());
        assert!(dir.path().join(KEY_FILE).exists());
    }
}
