//! The fuzz targets' properties on stable Rust, without libFuzzer: every
//! seed in `corpus/TARGET/` (and any crash reproducer saved in
//! `artifacts/TARGET/`), then generated inputs built from tokens that
//! matter to each parser. `FUZZ_REPLAY_CASES` sets how many per target
//! (default 20000); `FUZZ_REPLAY_SEED` the generator's seed.
//!
//! ```text
//! cargo test --release -p ftp-host-fuzz     # also part of `cargo test --workspace`
//! ```
//!
//! CI runs this (fuzz/ is a workspace member). Adding a target (say `listing`, for a
//! parser of server replies `ftp_host_fuzz::listing(&[u8])`):
//! 1. the property in `src/lib.rs`, taking the raw bytes;
//! 2. `fuzz_targets/listing.rs` (three lines, as the others) and its
//!    `[[bin]]` in `Cargo.toml`;
//! 3. seeds in `corpus/listing/` (real server replies are the best seeds);
//! 4. one test here: `#[test] fn listing_replay() { replay("listing",
//!    ftp_host_fuzz::listing, 4, |rng| rng.text(LISTING_TOKENS, 40).into_bytes()) }`
//!    with the tokens that matter to the parser.
//!
//! [`every_target_is_replayed`] fails until step 4 is done for every file
//! in `fuzz_targets/`.

use std::path::Path;

use ftp_host_fuzz::{allow, config, config_text, join, paths, paths_case, SECRET_ENV};

/// The files of `corpus/TARGET` and `artifacts/TARGET`, if any.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [root.join("corpus").join(target), root.join("artifacts").join(target)] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
        files.sort();
        out.extend(files.iter().map(|f| std::fs::read(f).unwrap()));
    }
    out
}

/// The targets this file replays: [`every_target_is_replayed`] checks it
/// against `fuzz_targets/`.
const REPLAYED: &[&str] = &["allow", "config", "listing", "paths"];

/// Replay `target`: every seed and saved crash through `property`, then
/// `cases() / cost` inputs from `generate` (a higher `cost` for slow properties).
pub fn replay(target: &str, property: fn(&[u8]), cost: usize, mut generate: impl FnMut(&mut Rng) -> Vec<u8>) {
    let seeds = seeds(target);
    assert!(!seeds.is_empty(), "no seeds in fuzz/corpus/{target}/: add a few real inputs");
    for seed in seeds {
        property(&seed);
    }
    let mut rng = Rng::new(target.bytes().fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b.into())));
    for _ in 0..cases() / cost.max(1) {
        property(&generate(&mut rng));
    }
}

#[test]
fn every_target_is_replayed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz_targets");
    let mut targets: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    targets.sort();
    assert_eq!(
        targets, REPLAYED,
        "every fuzz target needs a replay test here (see the module docs), and REPLAYED lists them"
    );
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    for target in REPLAYED {
        assert!(
            manifest.contains(&format!("path = \"fuzz_targets/{target}.rs\"")),
            "no [[bin]] for {target} in fuzz/Cargo.toml"
        );
        assert!(!seeds(target).is_empty(), "no seeds in fuzz/corpus/{target}/");
    }
}

fn cases() -> usize {
    std::env::var("FUZZ_REPLAY_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(20_000)
}

/// splitmix64: small, seedable, good enough to pick tokens.
pub struct Rng(u64);

impl Rng {
    fn new(salt: u64) -> Rng {
        let seed = std::env::var("FUZZ_REPLAY_SEED").ok().and_then(|n| n.parse().ok()).unwrap_or(0x5eed);
        Rng(seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
    #[allow(clippy::should_implement_trait)] // an endless generator, not an iterator
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    /// Up to `max` tokens, now and then a random character.
    pub fn text(&mut self, tokens: &[&str], max: usize) -> String {
        let mut s = String::new();
        for _ in 0..self.below(max + 1) {
            if self.below(10) == 0 {
                s.push(char::from_u32(self.below(0x1_0000) as u32).unwrap_or('\u{fffd}'));
            } else {
                s.push_str(self.pick(tokens));
            }
        }
        s
    }
}

const PATH_TOKENS: &[&str] = &[
    "/", "/", "/", "\\", "..", "..", ".", "out", "in", "etc", "passwd", "outside", "in2", "//", "*", "**", "?", "[",
    "]", "{", "}", "~", "\r\n", "\n", "\0", "é", "a", "/out", "/in", "/out/", "/in/", ":", " ", "%2e%2e", "\u{2215}",
];

#[test]
fn paths_replay() {
    for seed in seeds("paths") {
        paths(&seed);
    }
    let mut rng = Rng::new(1);
    for _ in 0..cases() {
        let (cwd, path, name) = (rng.text(PATH_TOKENS, 6), rng.text(PATH_TOKENS, 10), rng.text(PATH_TOKENS, 4));
        let glob = format!("{}{}", rng.pick(&["/", "", "/out/", "/in/"]), rng.text(PATH_TOKENS, 4));
        paths_case(&cwd, &path, &name, &glob);
        // The same case through the byte decoder the fuzzer uses.
        paths(&join(&[&cwd, &path, &name, &glob]));
    }
}

const HOST_TOKENS: &[&str] = &[
    "localhost",
    "127.0.0.1",
    "::1",
    "::",
    "ffff",
    "[",
    "]",
    ":",
    "21",
    "0",
    "99999",
    "65535",
    "-",
    "_",
    ".",
    "Example.COM",
    "fe80::1",
    "%",
    " ",
    "é",
    "a",
    "1.2.3.4",
    "::ffff:1.2.3.4",
    "\r\n",
    "/",
    "@",
    "*",
];

#[test]
fn allow_replay() {
    replay("allow", allow, 1, |rng| {
        let rule = rng.text(HOST_TOKENS, 6);
        let host = rng.text(HOST_TOKENS, 4);
        let port = rng.pick(&["", "21", "0", "990", "65535", "65536", "-1", "x", "*"]).to_string();
        join(&[&rule, &host, &port])
    });
}

/// Lines of a policy file, some valid, some not.
const CONFIG_LINES: &[&str] = &[
    "[network]",
    "allow_loopback = true",
    "allow_private = false",
    "allow_loopback = \"yes\"",
    "[limits]",
    "memory = \"64MiB\"",
    "memory = \"lots\"",
    "cpu = \"5s\"",
    "cpu = \"soon\"",
    "wall_clock = \"1h\"",
    "bytes_per_run = \"1GiB\"",
    "sessions = 2",
    "sessions = -1",
    "operations = 18446744073709551615",
    "list_entries = 0",
    "operation_timeout = \"0s\"",
    "[audit]",
    "file = \"-\"",
    "file = \"audit.jsonl\"",
    "[[dir]]",
    "host = \"/tmp\"",
    "guest = \"/x\"",
    "[[server]]",
    "[[server]]",
    "name = \"partner\"",
    "name = \"\"",
    "host = \"127.0.0.1\"",
    "host = \"::1\"",
    "host = \"ftp.example.com\"",
    "host = \"a b\"",
    "host = \"\"",
    "port = 21",
    "port = 0",
    "port = 99999",
    "security = \"explicit\"",
    "security = \"implicit\"",
    "security = \"maybe\"",
    "force_prot = true",
    "trust = \"webpki\"",
    "trust = \"accept-invalid\"",
    "trust = \"yolo\"",
    "pin_sha256 = \"00\"",
    "ca_file = \"/nonexistent.pem\"",
    "user = \"acme\"",
    "password = \"inline\"",
    "password_env = \"FTP_HOST_FUZZ_PASSWORD\"",
    "password_env = \"FTP_HOST_SURELY_UNSET\"",
    "password_file = \"/dev/null\"",
    "password_file = \"missing\"",
    "read = [\"/out/**\"]",
    "read = [\"relative/**\"]",
    "read = [\"/[\"]",
    "write = [\"/in/**\"]",
    "write = []",
    "read_only = true",
    "guest_credentials = true",
    "guest_credentials = false",
    "[sever]",
    "x = 1",
    "= =",
    "\"",
    "[[",
    "]]",
    "# comment",
    "",
];

#[test]
fn config_replay() {
    for seed in seeds("config") {
        config(&seed);
    }
    let mut rng = Rng::new(3);
    for _ in 0..cases() {
        let mut text = String::new();
        for _ in 0..rng.below(14) {
            text.push_str(rng.pick(CONFIG_LINES));
            text.push('\n');
        }
        config_text(&text);
        // Cut anywhere: errors must still name a line within the text.
        let cut = rng.below(text.len() + 1);
        if text.is_char_boundary(cut) {
            config_text(&text[..cut]);
        }
    }
    assert_eq!(
        std::env::var(SECRET_ENV).as_deref(),
        Ok(ftp_host_fuzz::SECRET),
        "the targets set the password variable"
    );
}

#[test]
fn listing_replay() {
    // Each case runs several clocks and both formats: a tenth of the cases.
    replay("listing", ftp_host_fuzz::listing::listing, 10, |rng| ftp_host_fuzz::listing::generate(|| rng.next()));
}
