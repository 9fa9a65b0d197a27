//! Remote paths: normalising what a guest passes (relative to the session's
//! current directory, with `.`, `..` and `//` resolved) and the read/write
//! rules an operator sets per server as globs. Pure functions, no I/O.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// Characters a path may never contain: CR and LF would end the FTP command
/// and start another; NUL truncates it in C servers.
const FORBIDDEN: [char; 3] = ['\r', '\n', '\0'];
/// Characters servers expand as globs in listing arguments, which would
/// reach names the normaliser never saw.
const LISTING_GLOBS: [char; 5] = ['*', '?', '[', '{', '~'];

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// Empty, too long, or with bytes FTP cannot carry.
    Invalid(String),
    /// Outside what the operator granted.
    Denied(String),
}

/// Resolve `path` against `cwd` into an absolute path with no `.`, `..` or
/// empty components. `..` at the root stays at the root, as on any server.
/// Backslashes count as separators, since IIS treats them so.
pub fn normalise(cwd: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let joined;
    let full = if path.starts_with('/') || path.starts_with('\\') {
        path
    } else {
        joined = format!("{cwd}/{path}");
        &joined
    };
    for part in full.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Check the bytes of a guest path.
pub fn check_bytes(path: &str, max_len: usize) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Invalid("empty path".into()));
    }
    if path.len() > max_len {
        return Err(PathError::Invalid(format!(
            "path of {} bytes is longer than the {max_len}-byte limit",
            path.len()
        )));
    }
    if path.contains(FORBIDDEN) {
        return Err(PathError::Invalid(format!("path {path:?} contains CR, LF or NUL, which FTP cannot carry")));
    }
    Ok(())
}

/// A listing argument must also be free of glob characters.
pub fn check_listing(path: &str) -> Result<(), PathError> {
    if path.contains(LISTING_GLOBS) {
        return Err(PathError::Invalid(format!(
            "listing path {path:?} contains a glob character ({}); list the directory and filter the names",
            LISTING_GLOBS.iter().collect::<String>()
        )));
    }
    Ok(())
}

/// What is done to a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read a file (get, open-get, size).
    Read,
    /// Write a file (send, open-send).
    Write,
    /// List or enter a directory.
    Browse,
}

/// Which paths of one server a plugin may read and write. The default
/// allows everything the server's account allows.
#[derive(Clone, Debug, Default)]
pub struct PathRules {
    read: Option<Patterns>,
    write: Option<Patterns>,
    read_only: bool,
}

#[derive(Clone, Debug)]
struct Patterns {
    set: GlobSet,
    sources: Vec<String>,
    /// The literal part of each pattern before its first wildcard, for
    /// deciding which directories lead to granted files.
    prefixes: Vec<String>,
}

impl Patterns {
    fn new(globs: &[String]) -> Result<Self, String> {
        let mut builder = GlobSetBuilder::new();
        let mut prefixes = Vec::new();
        for glob in globs {
            if !glob.starts_with('/') {
                return Err(format!("path pattern `{glob}` must be absolute, e.g. `/outbox/**`"));
            }
            builder.add(shell_glob(glob)?);
            // `/a/**` also grants the directory `/a` itself.
            if let Some(dir) = glob.strip_suffix("/**") {
                builder.add(shell_glob(if dir.is_empty() { "/" } else { dir })?);
            }
            let literal = glob.split(['*', '?', '[', '{']).next().unwrap_or("/");
            prefixes.push(literal.to_string());
        }
        let set = builder.build().map_err(|e| e.to_string())?;
        Ok(Patterns { set, sources: globs.to_vec(), prefixes })
    }

    fn matches(&self, path: &str) -> bool {
        self.set.is_match(path)
    }

    /// `dir` is an ancestor of some granted area (so browsing it is needed
    /// to reach granted files).
    fn leads_to(&self, dir: &str) -> bool {
        let dir = if dir == "/" { "/".to_string() } else { format!("{dir}/") };
        self.prefixes.iter().any(|p| p.starts_with(&dir))
    }
}

/// A glob where `*` and `?` stay within one path component, as in a shell;
/// only `**` crosses directories.
fn shell_glob(glob: &str) -> Result<Glob, String> {
    GlobBuilder::new(glob).literal_separator(true).build().map_err(|e| format!("path pattern `{glob}`: {e}"))
}

impl PathRules {
    /// Rules from read and write globs (`None`: no restriction of that
    /// kind) and a read-only switch.
    pub fn new(read: Option<&[String]>, write: Option<&[String]>, read_only: bool) -> Result<Self, String> {
        Ok(PathRules {
            read: read.map(Patterns::new).transpose()?,
            write: write.map(Patterns::new).transpose()?,
            read_only,
        })
    }

    fn readable(&self, path: &str) -> bool {
        self.read.as_ref().is_none_or(|p| p.matches(path))
    }

    fn writable(&self, path: &str) -> bool {
        !self.read_only && self.write.as_ref().is_none_or(|p| p.matches(path))
    }

    fn browsable(&self, dir: &str) -> bool {
        let any = |p: &Option<Patterns>| p.as_ref().is_none_or(|p| p.matches(dir) || p.leads_to(dir));
        any(&self.read) || (!self.read_only && any(&self.write))
    }

    /// May `access` be done to the normalised path `path`?
    pub fn check(&self, path: &str, access: Access) -> Result<(), PathError> {
        let (ok, what) = match access {
            Access::Read => (self.readable(path), "reading"),
            Access::Write => (self.writable(path), "writing"),
            Access::Browse => (self.browsable(path), "browsing"),
        };
        if ok {
            return Ok(());
        }
        let granted =
            |p: &Option<Patterns>| p.as_ref().map(|p| p.sources.join(", ")).unwrap_or_else(|| "everything".into());
        let why = if access == Access::Write && self.read_only {
            "the server is read-only for this plugin".to_string()
        } else {
            format!("read: {}; write: {}", granted(&self.read), granted(&self.write))
        };
        Err(PathError::Denied(format!("{what} `{path}` is not granted ({why})")))
    }

    /// May the entry `name` of the listed directory `dir` be shown?
    pub fn shows(&self, dir: &str, name: &str) -> bool {
        if self.read.is_none() && self.write.is_none() {
            return true;
        }
        let path = normalise(dir, name);
        self.readable(&path) || self.writable(&path) || self.browsable(&path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_a_server() {
        let cases = [
            ("/", "a.txt", "/a.txt"),
            ("/home/u", "a.txt", "/home/u/a.txt"),
            ("/home/u", "./x/../y//z", "/home/u/y/z"),
            ("/home/u", "../../../etc/passwd", "/etc/passwd"),
            ("/home/u", "/abs/./p/", "/abs/p"),
            ("/", "..", "/"),
            ("/a", "b\\..\\..\\c", "/c"),
            ("/a", "\\c", "/c"),
        ];
        for (cwd, path, want) in cases {
            assert_eq!(normalise(cwd, path), want, "{cwd} + {path}");
        }
    }

    #[test]
    fn checks_bytes() {
        assert!(check_bytes("a/b", 10).is_ok());
        for bad in ["", "x\r\nDELE y", "a\nb", "a\0", "0123456789a"] {
            assert!(check_bytes(bad, 10).is_err(), "{bad:?}");
        }
        assert!(check_listing("/dir").is_ok());
        assert!(check_listing("/dir/*").is_err());
        assert!(check_listing("{/etc,/x}").is_err());
    }

    fn rules(read: &[&str], write: &[&str], read_only: bool) -> PathRules {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        PathRules::new(Some(&v(read)), Some(&v(write)), read_only).unwrap()
    }

    #[test]
    fn jails_reads_and_writes() {
        let r = rules(&["/outbox/**", "/reports/*.csv"], &["/inbox/**"], false);
        assert!(r.check("/outbox/a/b.bin", Access::Read).is_ok());
        assert!(r.check("/reports/2026.csv", Access::Read).is_ok());
        assert!(r.check("/reports/secret.txt", Access::Read).is_err());
        assert!(r.check("/reports/private/salaries.csv", Access::Read).is_err(), "`*` stays in one directory");
        assert!(r.check("/etc/passwd", Access::Read).is_err());
        assert!(r.check("/inbox/new.bin", Access::Write).is_ok());
        assert!(r.check("/outbox/a.bin", Access::Write).is_err());
        assert!(r.check("/", Access::Browse).is_ok());
        assert!(r.check("/outbox", Access::Browse).is_ok());
        assert!(r.check("/reports", Access::Browse).is_ok());
        assert!(r.check("/etc", Access::Browse).is_err());
        assert!(r.shows("/reports", "a.csv"));
        assert!(!r.shows("/reports", "secret.txt"));
        assert!(!r.shows("/", "etc"));
        assert!(r.shows("/", "outbox"));
    }

    #[test]
    fn read_only_refuses_every_write() {
        let r = PathRules::new(None, None, true).unwrap();
        assert!(r.check("/any", Access::Read).is_ok());
        assert!(matches!(r.check("/any", Access::Write), Err(PathError::Denied(m)) if m.contains("read-only")));
    }

    #[test]
    fn patterns_must_be_absolute() {
        assert!(PathRules::new(Some(&["outbox/**".to_string()]), None, false).is_err());
    }
}
