//! The properties the fuzz targets check, one function per target, each
//! taking the fuzzer's raw bytes. The targets in `fuzz_targets/` call them
//! under libFuzzer (`cargo fuzz run TARGET`); `tests/replay.rs` calls them on
//! stable over the seed corpus and generated inputs. A property that does
//! not hold panics, which is what both report.
//!
//! * [`config`]: the policy-file loader never panics, names the file (and a
//!   line within the text) in every error, and never shows a password.
//! * [`paths`]: the normaliser's output is absolute with no `.`, `..` or
//!   empty components and is a fixed point; a path the rules for `/out/**`
//!   accept for reading never normalises outside `/out` (nor a write outside
//!   `/in/**`); listings never show a name outside the jail; arbitrary
//!   globs never panic.
//! * [`allow`]: an allow-list grant parses iff `Policy::allow` takes it,
//!   shows as lowercase `HOST[:PORT]` and reads back as itself; a profile's
//!   host and port give a grant that does the same.

/// The listing parsers' properties (the `listing` target).
pub mod listing;

use std::path::Path;
use std::sync::{Once, OnceLock};

use ftp_host::config;
use ftp_host::policy::paths::{check_bytes, check_listing, normalise, Access, PathRules};
use ftp_host::policy::{AllowRule, MAX_PATH_BYTES};
use ftp_host::{Grant, Policy, Profile, Secret, SecurityMode};

/// Separates the fields of a multi-field input (ASCII unit separator).
pub const FIELD_SEPARATOR: u8 = 0x1f;

/// The password [`config`] inputs can reach through `password_env`.
pub const SECRET: &str = "fuzz-S3cret-never-shown";
/// The environment variable holding [`SECRET`].
pub const SECRET_ENV: &str = "FTP_HOST_FUZZ_PASSWORD";
/// The path the policy text is parsed as coming from (its directory does not exist).
pub const CONFIG_PATH: &str = "/nonexistent-ftp-host-fuzz/ftp-host.toml";

/// Split raw bytes into `n` text fields at [`FIELD_SEPARATOR`] (missing
/// fields are empty; the last takes the rest). Invalid UTF-8 is replaced.
pub fn fields(data: &[u8], n: usize) -> Vec<String> {
    let mut out: Vec<String> =
        data.splitn(n, |b| *b == FIELD_SEPARATOR).map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    out.resize(n, String::new());
    out
}

/// Join fields into one input, the inverse of [`fields`] (for seeds).
pub fn join(fields: &[&str]) -> Vec<u8> {
    fields.iter().map(|f| f.as_bytes()).collect::<Vec<_>>().join(&FIELD_SEPARATOR)
}

// ============================================================ config

/// Target `config`: `data` as policy-file text.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        config_text(text);
    }
}

/// The properties of [`config`] for one text.
pub fn config_text(text: &str) {
    static ENV: Once = Once::new();
    // Set once, before any parse reads the environment.
    ENV.call_once(|| std::env::set_var(SECRET_ENV, SECRET));
    let path = Path::new(CONFIG_PATH);
    let echoes_secret = text.contains(SECRET);
    match config::parse(text, path) {
        Ok(config) => {
            let shown = format!("{config:?}");
            assert!(echoes_secret || !shown.contains(SECRET), "a loaded policy shows its password: {shown}");
            for grant in config.policy.grants() {
                let rule = grant.rule();
                assert_rule(rule);
                if let Some(profile) = grant.profile_settings() {
                    assert!(echoes_secret || !format!("{profile:?}").contains(SECRET), "a profile shows its password");
                }
            }
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(shown.starts_with(CONFIG_PATH), "an error that does not name the file: {shown}");
            // `PATH:LINE: message`, the line within the text.
            let rest = &shown[CONFIG_PATH.len()..];
            if let Some(line) =
                rest.strip_prefix(':').and_then(|r| r.split(':').next()).and_then(|l| l.parse::<usize>().ok())
            {
                let lines = text.matches('\n').count() + 1;
                assert!(line >= 1 && line <= lines, "error line {line} of a {lines}-line text: {shown}");
            }
            assert!(echoes_secret || !shown.contains(SECRET), "an error shows the password: {shown}");
        }
    }
}

// ============================================================ paths

/// Whether `path` is `dir` or below it.
pub fn within(path: &str, dir: &str) -> bool {
    path == dir || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

/// The rules of a profile jailed to read `/out/**` and write `/in/**`
/// (built once: compiling globs dominates a case otherwise).
pub fn jail() -> &'static PathRules {
    static JAIL: OnceLock<PathRules> = OnceLock::new();
    JAIL.get_or_init(|| {
        PathRules::new(Some(&["/out/**".to_string()]), Some(&["/in/**".to_string()]), false).expect("valid globs")
    })
}

/// An absolute path with no `.`, `..` or empty components, and no backslash.
pub fn assert_normal(path: &str) {
    assert!(path.starts_with('/'), "not absolute: {path:?}");
    assert!(!path.contains('\\'), "a backslash survived: {path:?}");
    if path != "/" {
        for part in path[1..].split('/') {
            assert!(!matches!(part, "" | "." | ".."), "component {part:?} in {path:?}");
        }
    }
}

/// Target `paths`: fields `cwd`, `path`, `name` (a listed entry) and `glob`.
pub fn paths(data: &[u8]) {
    let f = fields(data, 4);
    paths_case(&f[0], &f[1], &f[2], &f[3]);
}

/// The properties of [`paths`] for one case.
pub fn paths_case(cwd: &str, path: &str, name: &str, glob: &str) {
    // The normaliser, on anything.
    let raw = normalise(cwd, path);
    assert_normal(&raw);
    assert_eq!(normalise("/", &raw), raw, "not a fixed point");
    assert_eq!(normalise(cwd, &raw), raw, "an absolute path depends on the cwd");
    // `..` never climbs above the root, and a relative path stays under the cwd
    // unless it climbs out with `..`.
    let session_cwd = normalise("/", cwd);
    let full = normalise(&session_cwd, path);
    assert_normal(&full);
    let climbs = path.split(['/', '\\']).any(|p| p == "..");
    if !path.starts_with(['/', '\\']) && !climbs {
        assert!(within(&full, &session_cwd) || session_cwd == "/", "{path:?} from {session_cwd:?} left it: {full:?}");
    }

    // The bytes gate.
    let ok = check_bytes(path, MAX_PATH_BYTES).is_ok();
    let bad = path.is_empty() || path.len() > MAX_PATH_BYTES || path.contains(['\r', '\n', '\0']);
    assert_eq!(ok, !bad, "check_bytes({path:?})");
    if check_listing(path).is_ok() {
        assert!(!path.contains(['*', '?', '[', '{', '~']), "a listing glob passed: {path:?}");
    }

    // The jail, as the session applies it: the normalised path against the rules.
    let rules = jail();
    if rules.check(&full, Access::Read).is_ok() {
        assert!(within(&full, "/out"), "reading {full:?} ({path:?} from {session_cwd:?}) passed a /out/** jail");
    }
    if rules.check(&full, Access::Write).is_ok() {
        assert!(within(&full, "/in"), "writing {full:?} ({path:?} from {session_cwd:?}) passed an /in/** jail");
    }
    if rules.check(&full, Access::Browse).is_ok() {
        assert!(full == "/" || within(&full, "/out") || within(&full, "/in"), "browsing {full:?} passed the jail");
    }
    if rules.shows(&full, name) {
        let shown = normalise(&full, name);
        assert!(
            shown == "/" || within(&shown, "/out") || within(&shown, "/in"),
            "listing {full:?} shows {name:?} ({shown:?})"
        );
    }
    static READ_ONLY: OnceLock<PathRules> = OnceLock::new();
    let read_only = READ_ONLY.get_or_init(|| PathRules::new(None, None, true).unwrap());
    assert!(read_only.check(&full, Access::Write).is_err(), "a read-only grant took a write");

    // Arbitrary operator globs: refused or usable, never a panic.
    if let Ok(rules) = PathRules::new(Some(&[glob.to_string()]), Some(&[glob.to_string()]), false) {
        assert!(glob.starts_with('/'), "a relative pattern was accepted: {glob:?}");
        for access in [Access::Read, Access::Write, Access::Browse] {
            let _ = rules.check(&full, access);
        }
        let _ = rules.shows(&full, name);
    }
}

// ============================================================ allow

/// Target `allow`: fields `rule` (an `--allow` value) and `host`, `port`
/// (a profile's server).
pub fn allow(data: &[u8]) {
    let f = fields(data, 3);
    allow_case(&f[0], &f[1], &f[2]);
}

/// The properties of [`allow`] for one case.
pub fn allow_case(rule: &str, host: &str, port: &str) {
    let parsed = rule.parse::<AllowRule>();
    let policy = Policy::new().allow(rule);
    assert_eq!(parsed.is_ok(), policy.is_ok(), "parse and Policy::allow disagree on {rule:?}");
    if let (Ok(parsed), Ok(policy)) = (&parsed, &policy) {
        assert_eq!(policy.grants().len(), 1);
        assert_eq!(policy.grants()[0].rule(), parsed);
        assert_rule(parsed);
    }
    if let Err(e) = &parsed {
        let shown = e.to_string();
        assert!(shown.contains("HOST:PORT"), "an error without the expected form: {shown}");
    }

    let profile = Profile {
        name: "p".into(),
        host: host.to_string(),
        port: port.parse().ok(),
        security: SecurityMode::None,
        force_prot: false,
        user: "u".into(),
        password: Secret::new(SECRET),
    };
    let expected_port = profile.port();
    if let Ok(grant) = Grant::profile(profile) {
        let rule = grant.rule();
        assert_rule(rule);
        let shown = rule.to_string();
        let shown_port = shown.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok());
        assert_eq!(shown_port, Some(expected_port), "a profile grant lost its port: {shown}");
        assert!(!format!("{grant:?}").contains(SECRET), "a grant shows its password");
    }
}

/// A rule shows as lowercase `HOST`, `HOST:PORT`, `HOST:*` or `[V6]:PORT`,
/// of safe characters, with a non-zero port, and reads back as itself.
pub fn assert_rule(rule: &AllowRule) {
    let shown = rule.to_string();
    assert_eq!(shown.parse::<AllowRule>().as_ref().ok(), Some(rule), "{shown:?} does not read back as itself");
    assert_eq!(shown, shown.to_ascii_lowercase(), "not lowercase: {shown:?}");
    assert!(
        !shown.is_empty() && shown.chars().all(|c| c.is_ascii_alphanumeric() || ".-_:[]*".contains(c)),
        "unsafe characters: {shown:?}"
    );
    let (host, port) = match shown.strip_prefix('[') {
        Some(rest) => {
            let (v6, tail) = rest.split_once(']').expect("a closing bracket");
            assert!(v6.parse::<std::net::Ipv6Addr>().is_ok(), "bracketed but not IPv6: {shown:?}");
            (v6, tail.strip_prefix(':'))
        }
        None => match shown.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (shown.as_str(), None),
        },
    };
    assert!(!host.is_empty(), "empty host: {shown:?}");
    if let Some(port) = port {
        assert!(port == "*" || port.parse::<u16>().is_ok_and(|p| p != 0), "bad port in {shown:?}");
    }
}
