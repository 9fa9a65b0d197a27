//! A deliberately hostile ftp-host plugin, for the sandbox attack suite and
//! the fault tests. It is built for wasm32-wasip2 by `tests/build.rs` and
//! reached from the tests as `ftp_host_e2e::harness::hostile_guest()`.
//!
//! `run(args)` takes one command:
//!
//! ```text
//! spin                                   busy-loop forever, no host calls
//! alloc MIB                              allocate MIB MiB (1 MiB chunks), touch every 4 KiB page
//! trap                                   execute `unreachable`: a trap, not an error
//! plant SEED KIB                         fill KIB KiB of heap with a marker made from SEED, then count
//!                                        the marker's 16-byte windows in the whole linear memory
//! scan SEED MIB                          grow the linear memory by MIB MiB, then count the marker's
//!                                        windows in all of it (a fresh run must find none)
//! sessions N PROFILE                     connect-profile(PROFILE) N times, keeping every session
//! connect HOST PORT USER PASSWORD [SECURITY]
//!                                        connect with guest credentials, then list-directory(none)
//! probe PROFILE [PATH...]                call everything on a profile session (see `probe`)
//! download-all PROFILE PATH              open-get PATH, read it all in 64 KiB chunks, finish
//! upload-zeros PROFILE PATH MIB          open-send PATH (replace), write MIB MiB of zeros, finish
//! list PROFILE names|entries             list-directory(none) or list(none), print the entry count
//! abandon PROFILE PATH                   open-get PATH, read one chunk, drop the download unfinished
//! stall-poll PROFILE PATH N              N sessions, open-get PATH on each, poll all bodies together
//!                                        until every one has failed or ended, then spin
//! orphans PROFILE PATH N                 N times: connect-profile, open-get PATH, drop the session but
//!                                        keep the download; then drop the downloads, wait 300 ms and
//!                                        connect-profile once more
//! cross-commit A PATH B                  open-send PATH on a session of profile A, write to it, drop
//!                                        session A, connect-profile B, then finish the upload
//! upload-pattern PROFILE PATH KIB        open-send PATH (replace) and write KIB KiB of `pattern(i)`,
//!                                        polling the body together with an expired timer after every
//!                                        write (the host's pending flush is cancelled each time), finish
//! save-to PROFILE PATH LOCAL HOW         open-get PATH and `save-to` a descriptor of the first granted
//!                                        directory: HOW is `dir` (the directory itself), `read` (LOCAL
//!                                        opened read-only) or `write` (LOCAL created for writing); then
//!                                        finish, or drop the download if save-to failed
//! send-from PROFILE PATH LOCAL HOW       the same for open-send PATH and `send-from`: `dir`, `read`
//!                                        (LOCAL opened for reading) or `write` (LOCAL opened write-only)
//! ```
//!
//! Output: one stdout line per FTP call, `CALL: ok VALUE` or `CALL: KIND: message`
//! (KIND being the WIT error case, as in the example guest), with CR and LF in
//! server-supplied text escaped as `\r` / `\n` so every call stays on one line.
//! Everything else (slashes, quotes, non-ASCII) is printed as is, so a test can
//! search the output for a secret. Errors returned from `run` are `KIND: message`.

// The plugin world, plus the clock and poll interfaces for the commands that
// poll several streams at once or against a timer.
wit_bindgen::generate!({
    path: "../../../wit",
    inline: "
        package test:hostile;
        world hostile {
            include naas:ftp/plugin@0.2.0;
            import wasi:clocks/monotonic-clock@0.2.12;
            import wasi:io/poll@0.2.12;
        }
    ",
    world: "hostile",
    generate_all,
});

use naas::ftp::client::{connect, connect_profile, Download, SendMode, Session, Upload};
use wasi::filesystem::types::{Descriptor, DescriptorFlags, OpenFlags, PathFlags};
use naas::ftp::types::{ConnectOptions, Error, Security};
use wasi::clocks::monotonic_clock;
use wasi::io::poll::{poll, Pollable};
use wasi::io::streams::StreamError;

const MIB: usize = 1024 * 1024;
/// Read and write chunk size of `download-all` / `upload-zeros`.
const CHUNK: u64 = 64 * 1024;
/// At most this many bytes of a downloaded file are printed by `probe`.
const PRINT_LIMIT: usize = 64 * 1024;

struct Plugin;

impl Guest for Plugin {
    fn run(args: Vec<String>) -> Result<String, String> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match args.as_slice() {
            ["spin"] => spin(),
            ["alloc", mib] => alloc(number(mib)?),
            ["trap"] => core::arch::wasm32::unreachable(),
            ["plant", seed, kib] => plant(number(seed)?, number(kib)?),
            ["scan", seed, mib] => scan(number(seed)?, number(mib)?),
            ["sessions", n, profile] => sessions(number(n)?, profile),
            ["connect", host, port, user, password, security @ ..] if security.len() <= 1 => {
                connect_with_credentials(host, number(port)?, user, password, security.first().copied().unwrap_or("none"))
            }
            ["probe", profile, paths @ ..] => probe(profile, paths),
            ["download-all", profile, path] => download_all(profile, path),
            ["upload-zeros", profile, path, mib] => upload_zeros(profile, path, number(mib)?),
            ["list", profile, how] => list(profile, how),
            ["abandon", profile, path] => abandon(profile, path),
            ["stall-poll", profile, path, n] => stall_poll(profile, path, number(n)?),
            ["orphans", profile, path, n] => orphans(profile, path, number(n)?),
            ["cross-commit", a, path, b] => cross_commit(a, path, b),
            ["upload-pattern", profile, path, kib] => upload_pattern(profile, path, number(kib)?),
            ["save-to", profile, path, local, how] => save_to(profile, path, local, how),
            ["send-from", profile, path, local, how] => send_from(profile, path, local, how),
            _ => Err(format!(
                "invalid-input: unknown command {args:?}: expected spin | alloc MIB | trap | plant SEED KIB | \
                 scan SEED MIB | sessions N PROFILE | \
                 connect HOST PORT USER PASSWORD [none|explicit|implicit] | probe PROFILE [PATH...] | \
                 download-all PROFILE PATH | upload-zeros PROFILE PATH MIB | list PROFILE names|entries | \
                 abandon PROFILE PATH | stall-poll PROFILE PATH N | orphans PROFILE PATH N | \
                 cross-commit A PATH B | upload-pattern PROFILE PATH KIB | \
                 save-to PROFILE PATH LOCAL dir|read|write | send-from PROFILE PATH LOCAL dir|read|write"
            )),
        }
    }
}

/// Byte `i` (mod 16) of the `plant`/`scan` marker: computed from the
/// run's argument so that the marker is nowhere in the module's own data.
fn marker(seed: u32, i: usize) -> u8 {
    (seed.wrapping_mul(2 * i as u32 + 1) >> 3) as u8 ^ 0xA5
}

/// How many 16-byte-aligned windows of the whole linear memory hold the
/// marker (read byte by byte, volatile, so nothing is optimised away).
fn count_marked(seed: u32) -> usize {
    let end = core::arch::wasm32::memory_size(0) * 65536;
    let mut found = 0;
    // From 16: address 0 is never handed out, and reading it is UB in Rust.
    for base in (16..end).step_by(16) {
        // SAFETY: every address below memory.size is mapped; volatile reads of plain bytes.
        if (0..16).all(|i| unsafe { ((base + i) as *const u8).read_volatile() } == marker(seed, i)) {
            found += 1;
        }
    }
    found
}

fn plant(seed: u32, kib: usize) -> Result<String, String> {
    // Laid out by address, so every 16-byte-aligned window inside is whole.
    let mut planted = vec![0u8; kib * 1024];
    let base = planted.as_ptr() as usize;
    for (offset, byte) in planted.iter_mut().enumerate() {
        *byte = marker(seed, (base + offset) % 16);
    }
    let found = count_marked(seed);
    core::hint::black_box(&planted);
    let whole = (base + planted.len()) / 16 - base.div_ceil(16);
    Ok(format!("planted {whole} windows, found {found}"))
}

fn scan(seed: u32, mib: usize) -> Result<String, String> {
    if core::arch::wasm32::memory_grow(0, mib * 16) == usize::MAX {
        return Err(format!("oom: cannot grow the memory by {mib} MiB"));
    }
    Ok(format!("found {}", count_marked(seed)))
}

/// A descriptor of the first granted directory for `save-to`/`send-from`:
/// the directory itself (`dir`), or `local` in it opened `read` or `write`
/// (created and truncated for writing).
fn local_descriptor(local: &str, how: &str) -> Result<Descriptor, String> {
    let (dir, _) = wasi::filesystem::preopens::get_directories()
        .into_iter()
        .next()
        .ok_or("denied: no directory was granted")?;
    let (open, flags) = match how {
        "dir" => return Ok(dir),
        "read" => (OpenFlags::empty(), DescriptorFlags::READ),
        "write" => (OpenFlags::CREATE | OpenFlags::TRUNCATE, DescriptorFlags::WRITE),
        other => return Err(format!("invalid-input: {other:?}: dir, read or write")),
    };
    dir.open_at(PathFlags::empty(), local, open, flags).map_err(|e| format!("io: open {local}: {e:?}"))
}

/// `open-get` + `save-to` (see the command list).
fn save_to(profile: &str, path: &str, local: &str, how: &str) -> Result<String, String> {
    let session = connect_profile(profile).map_err(|e| describe(&e))?;
    let file = local_descriptor(local, how)?;
    let transfer = session.open_get(path, 0).map_err(|e| describe(&e))?;
    let saved = report(&format!("save-to {path}"), transfer.save_to(&file, 0).map(|n| (n, format!("{n} bytes"))));
    if saved.is_err() {
        return Err(describe(&saved.unwrap_err()));
    }
    let n = report("finish", Download::finish(transfer).map(|n| (n, format!("{n} bytes")))).map_err(|e| describe(&e))?;
    Ok(format!("{n} bytes"))
}

/// `open-send` + `send-from` (see the command list).
fn send_from(profile: &str, path: &str, local: &str, how: &str) -> Result<String, String> {
    let session = connect_profile(profile).map_err(|e| describe(&e))?;
    let file = local_descriptor(local, how)?;
    let transfer = session.open_send(path, SendMode::Replace).map_err(|e| describe(&e))?;
    let sent = report(&format!("send-from {path}"), transfer.send_from(&file, 0).map(|n| (n, format!("{n} bytes"))));
    if sent.is_err() {
        return Err(describe(&sent.unwrap_err()));
    }
    let n = report("finish", Upload::finish(transfer).map(|n| (n, format!("{n} bytes")))).map_err(|e| describe(&e))?;
    Ok(format!("{n} bytes"))
}

/// Burn CPU forever without ever calling the host: only fuel or epoch
/// interruption can stop this.
fn spin() -> Result<String, String> {
    let mut n: u64 = 0;
    loop {
        // black_box: the loop must really run, not be folded away.
        n = core::hint::black_box(n.wrapping_add(1));
    }
}

/// Grow linear memory by `mib` MiB and write to every 4 KiB page of it, so
/// the memory is really committed on the host. A failed allocation (the
/// host's memory limit, or wasm32's 4 GiB ceiling) is reported, not aborted on.
fn alloc(mib: usize) -> Result<String, String> {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    for done in 0..mib {
        let mut chunk: Vec<u8> = Vec::new();
        if chunk.try_reserve_exact(MIB).is_err() || chunks.try_reserve(1).is_err() {
            return Err(format!("oom: allocation failed after {done} of {mib} MiB"));
        }
        let base = chunk.as_mut_ptr();
        for offset in (0..MIB).step_by(4096) {
            // SAFETY: within the capacity just reserved; volatile so the store is kept.
            unsafe { base.add(offset).write_volatile(1) };
        }
        chunks.push(chunk);
    }
    core::hint::black_box(&chunks);
    Ok(format!("allocated and touched {mib} MiB"))
}

/// Open `n` sessions on `profile` and keep them all open until the end.
fn sessions(n: usize, profile: &str) -> Result<String, String> {
    let mut open: Vec<Session> = Vec::new();
    for _ in 0..n {
        match connect_profile(profile) {
            Ok(session) => {
                println!("ok");
                open.push(session);
            }
            Err(e) => println!("{}", one_line(&describe(&e))),
        }
    }
    Ok(format!("opened {} of {n}", open.len()))
}

/// Connect with credentials the plugin chose, then list the directory.
fn connect_with_credentials(host: &str, port: u16, user: &str, password: &str, security: &str) -> Result<String, String> {
    let security = match security {
        "none" => Security::None,
        "explicit" => Security::Explicit,
        "implicit" => Security::Implicit,
        other => return Err(format!("invalid-input: bad security {other:?}: none, explicit or implicit")),
    };
    let options = ConnectOptions {
        host: host.into(),
        port: Some(port),
        user: user.into(),
        password: password.into(),
        security,
        force_prot: false,
        timeout_ms: None,
    };
    let session = report("connect", connect(&options).map(|s| (s, "".to_string()))).map_err(|e| describe(&e))?;
    let names = report("list-directory", session.list_directory(None).map(|n| (n.clone(), names_text(&n))))
        .map_err(|e| describe(&e))?;
    Ok(format!("{} entries", names.len()))
}

/// Call every session function on a profile session, printing each result:
/// the calls a plugin could use to learn the profile's password, or to leave
/// the directory the operator jailed the profile in.
///
/// ```text
/// connect-profile: ok
/// pwd: ok "/"                          (PWD's answer in quotes)
/// list-directory: ok 2 entries: a | b
/// then for each PATH:
/// list-directory PATH: ok N entries: ...
/// get PATH: ok N bytes: CONTENT       (first 64 KiB, lossy UTF-8)
/// size PATH: ok N
/// send PATH: ok N                     (sends the one byte "x")
/// open-get PATH: ok N bytes: CONTENT
/// cwd PATH: ok
/// and last:
/// quit: ok
/// ```
///
/// Returns `ok("K of M calls succeeded")`, or the error of `connect-profile`.
fn probe(profile: &str, paths: &[&str]) -> Result<String, String> {
    let session = report("connect-profile", connect_profile(profile).map(|s| (s, String::new()))).map_err(|e| describe(&e))?;
    let mut calls = 0;
    let mut succeeded = 0;
    let mut count = |ok: bool| {
        calls += 1;
        succeeded += ok as usize;
    };
    count(report("pwd", session.pwd().map(|p| ((), format!("\"{p}\"")))).is_ok());
    count(report("list-directory", session.list_directory(None).map(|n| ((), names_text(&n)))).is_ok());
    for path in paths {
        let path = path.to_string();
        let listing = session.list_directory(Some(&path)).map(|n| ((), names_text(&n)));
        count(report(&format!("list-directory {path}"), listing).is_ok());
        count(report(&format!("get {path}"), session.get(&path).map(|d| ((), bytes_text(&d)))).is_ok());
        count(report(&format!("size {path}"), session.size(&path).map(|n| ((), n.to_string()))).is_ok());
        count(report(&format!("send {path}"), session.send(&path, b"x").map(|n| ((), n.to_string()))).is_ok());
        count(report(&format!("open-get {path}"), read_all(&session, &path, true).map(|(_, d)| ((), bytes_text(&d)))).is_ok());
        count(report(&format!("cwd {path}"), session.cwd(&path).map(|()| ((), String::new()))).is_ok());
    }
    count(report("quit", session.quit().map(|()| ((), String::new()))).is_ok());
    Ok(format!("{succeeded} of {calls} calls succeeded"))
}

/// Stream a whole file through the plugin in 64 KiB chunks, discarding it.
///
/// Prints `download-all PATH: ok N bytes` or `download-all PATH: KIND: message`
/// and returns `ok("N bytes")` or that error.
fn download_all(profile: &str, path: &str) -> Result<String, String> {
    let session = connect_profile(profile).map_err(|e| describe(&e))?;
    let (n, _) = report(&format!("download-all {path}"), read_all(&session, path, false).map(|(n, d)| ((n, d), format!("{n} bytes"))))
        .map_err(|e| describe(&e))?;
    Ok(format!("{n} bytes"))
}

/// `open-get(path, 0)`, read the body to its end, drop it, `finish`. Returns
/// the byte count and, if `keep`, the first [`PRINT_LIMIT`] bytes. A failed
/// read still calls `finish`, whose error (the host's verdict: timeout,
/// too-large...) wins; a read error with a successful `finish` is `io`.
fn read_all(session: &Session, path: &str, keep: bool) -> Result<(u64, Vec<u8>), Error> {
    let transfer = session.open_get(path, 0)?;
    let body = transfer.body()?;
    let mut total: u64 = 0;
    let mut kept = Vec::new();
    let mut failure = None;
    loop {
        match body.blocking_read(CHUNK) {
            Ok(chunk) => {
                total += chunk.len() as u64;
                if keep && kept.len() < PRINT_LIMIT {
                    let room = PRINT_LIMIT - kept.len();
                    kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                failure = Some(format!("body read failed after {total} bytes: {}", e.to_debug_string()));
                break;
            }
        }
    }
    drop(body);
    match (Download::finish(transfer), failure) {
        (Ok(_), None) => Ok((total, kept)),
        (Ok(_), Some(failure)) => Err(Error::Io(failure)),
        (Err(e), None) => Err(e),
        (Err(e), Some(failure)) => Err(append(e, &format!(" ({failure})"))),
    }
}

/// Upload `mib` MiB of zeros through `check-write` / `write`, in writes of
/// at most 64 KiB.
///
/// Prints `upload-zeros PATH: ok N bytes` or `upload-zeros PATH: KIND: message`
/// and returns `ok("N bytes")` or that error. As in `read_all`, a failed
/// write still calls `finish`, whose error wins.
fn upload_zeros(profile: &str, path: &str, mib: u64) -> Result<String, String> {
    upload("upload-zeros", profile, path, mib * MIB as u64, CHUNK, |_| 0, false)
}

/// Byte `i` of the `upload-pattern` body (the tests compute the same).
fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

/// Upload `kib` KiB of [`pattern`] in writes as large as the stream
/// allows; after every write, poll the body together with a timer that is
/// already due, so the host's flush (started by the poll) is cancelled when
/// the timer wins. Prints `upload-pattern PATH: ok N bytes`.
fn upload_pattern(profile: &str, path: &str, kib: u64) -> Result<String, String> {
    upload("upload-pattern", profile, path, kib * 1024, u64::MAX, pattern, true)
}

/// Open-send `path` (replace) on a profile session and write `total` bytes,
/// byte `i` being `byte(i)`, in writes of at most `max_write` (and what
/// `check-write` permits); with `race_timer`, poll the body together with an
/// expired timer after every write. Prints and returns as `upload-zeros`.
fn upload(
    call: &str,
    profile: &str,
    path: &str,
    total: u64,
    max_write: u64,
    byte: fn(u64) -> u8,
    race_timer: bool,
) -> Result<String, String> {
    let session = connect_profile(profile).map_err(|e| describe(&e))?;
    let outcome = (|| {
        let transfer = session.open_send(path, SendMode::Replace)?;
        let body = transfer.body()?;
        let mut sent: u64 = 0;
        let mut failure = None;
        while sent < total {
            let permit = match body.check_write() {
                Ok(0) => {
                    body.subscribe().block();
                    continue;
                }
                Ok(permit) => permit.min(total - sent).min(max_write),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            let chunk: Vec<u8> = (sent..sent + permit).map(byte).collect();
            if let Err(e) = body.write(&chunk) {
                failure = Some(e);
                break;
            }
            sent += permit;
            if race_timer {
                let (due, ready) = (monotonic_clock::subscribe_duration(0), body.subscribe());
                poll(&[&ready, &due]);
            }
        }
        if failure.is_none() {
            failure = body.blocking_flush().err();
        }
        drop(body);
        let failure = failure.map(|e| match e {
            StreamError::Closed => format!("body closed after {sent} bytes"),
            StreamError::LastOperationFailed(e) => format!("body write failed after {sent} bytes: {}", e.to_debug_string()),
        });
        match (Upload::finish(transfer), failure) {
            (Ok(n), None) => Ok((n, format!("{n} bytes"))),
            (Ok(_), Some(failure)) => Err(Error::Io(failure)),
            (Err(e), None) => Err(e),
            (Err(e), Some(failure)) => Err(append(e, &format!(" ({failure})"))),
        }
    })();
    let n = report(&format!("{call} {path}"), outcome).map_err(|e| describe(&e))?;
    Ok(format!("{n} bytes"))
}


/// `list-directory(none)` (`names`) or `list(none)` (`entries`) on a
/// profile session. Prints `list: ok N entries` or `list: KIND: message`;
/// returns the count or that error.
fn list(profile: &str, how: &str) -> Result<String, String> {
    let session = connect_profile(profile).map_err(|e| describe(&e))?;
    let count = match how {
        "names" => session.list_directory(None).map(|n| n.len()),
        "entries" => session.list(None).map(|e| e.len()),
        other => return Err(format!("invalid-input: list {other:?}: names or entries")),
    };
    let n = report("list", count.map(|n| (n, format!("{n} entries")))).map_err(|e| describe(&e))?;
    Ok(format!("{n} entries"))
}

/// Open a download, read one chunk of it, and drop it unfinished (the
/// host drains or closes the data connection). Prints
/// `abandon PATH: ok read N bytes`.
fn abandon(profile: &str, path: &str) -> Result<String, String> {
    let session = connect_profile(profile).map_err(|e| describe(&e))?;
    let transfer = session.open_get(path, 0).map_err(|e| describe(&e))?;
    let body = transfer.body().map_err(|e| describe(&e))?;
    let read = body.blocking_read(CHUNK).map(|c| c.len()).unwrap_or(0);
    println!("abandon {path}: ok read {read} bytes");
    drop(body);
    drop(transfer);
    Ok(format!("read {read} bytes"))
}

/// Open `n` downloads of `path`, each on a session of its own, and poll all
/// their bodies together (one `wasi:io/poll` call at a time) until every
/// body has failed or ended; then busy-loop forever. Prints
/// `stall-poll: ok N bodies ended after MS ms` before spinning.
fn stall_poll(profile: &str, path: &str, n: usize) -> Result<String, String> {
    let mut sessions = Vec::new();
    let mut transfers = Vec::new();
    let mut bodies = Vec::new();
    for _ in 0..n {
        let session = connect_profile(profile).map_err(|e| describe(&e))?;
        let transfer = session.open_get(path, 0).map_err(|e| describe(&e))?;
        bodies.push(transfer.body().map_err(|e| describe(&e))?);
        transfers.push(transfer);
        sessions.push(session);
    }
    let started = monotonic_clock::now();
    let mut open: Vec<usize> = (0..n).collect();
    while !open.is_empty() {
        let ready: Vec<usize> = {
            let pollables: Vec<Pollable> = open.iter().map(|&i| bodies[i].subscribe()).collect();
            let refs: Vec<&Pollable> = pollables.iter().collect();
            poll(&refs).into_iter().map(|r| open[r as usize]).collect()
        };
        for i in ready {
            if bodies[i].read(CHUNK).is_err() {
                open.retain(|&o| o != i);
            }
        }
    }
    let ms = (monotonic_clock::now() - started) / 1_000_000;
    println!("stall-poll: ok {n} bodies ended after {ms} ms");
    let _ = std::io::Write::flush(&mut std::io::stdout());
    spin()
}

/// `n` times: connect-profile, open-get `path`, drop the session and keep
/// the download. Then drop every download, wait 300 ms (for the server to
/// see the connections closed), and connect once more. Prints one line per
/// call (`connect I: ...`, `open-get I: ...`, `connect after: ...`).
fn orphans(profile: &str, path: &str, n: usize) -> Result<String, String> {
    let mut kept: Vec<Download> = Vec::new();
    for i in 0..n {
        let Ok(session) = report(&format!("connect {i}"), connect_profile(profile).map(|s| (s, String::new()))) else {
            continue;
        };
        if let Ok(download) = report(&format!("open-get {i}"), session.open_get(path, 0).map(|d| (d, String::new()))) {
            kept.push(download);
        }
        drop(session);
    }
    let held = kept.len();
    drop(kept);
    monotonic_clock::subscribe_duration(300_000_000).block();
    let again = report("connect after", connect_profile(profile).map(|s| (s, String::new())));
    drop(again);
    Ok(format!("held {held} downloads"))
}

/// Open an upload of `path` on a session of profile `a`, write to it, drop
/// that session, open one of profile `b`, then finish the upload. Prints
/// `finish: ...` and `list b: ...`.
fn cross_commit(a: &str, path: &str, b: &str) -> Result<String, String> {
    let session_a = connect_profile(a).map_err(|e| describe(&e))?;
    let upload = session_a.open_send(path, SendMode::Replace).map_err(|e| describe(&e))?;
    let body = upload.body().map_err(|e| describe(&e))?;
    body.blocking_write_and_flush(b"written under profile a").map_err(|e| format!("io: {e:?}"))?;
    drop(body);
    drop(session_a);
    let session_b = connect_profile(b).map_err(|e| describe(&e))?;
    let finished = report("finish", Upload::finish(upload).map(|n| (n, n.to_string())));
    let _ = report("list b", session_b.list_directory(None).map(|n| ((), names_text(&n))));
    finished.map(|n| format!("{n} bytes")).map_err(|e| describe(&e))
}


/// Print `CALL: ok TEXT` or `CALL: KIND: message` on one line; pass the value on.
fn report<T>(call: &str, result: Result<(T, String), Error>) -> Result<T, Error> {
    match result {
        Ok((value, text)) if text.is_empty() => {
            println!("{call}: ok");
            Ok(value)
        }
        Ok((value, text)) => {
            println!("{call}: ok {}", one_line(&text));
            Ok(value)
        }
        Err(e) => {
            println!("{call}: {}", one_line(&describe(&e)));
            Err(e)
        }
    }
}

fn names_text(names: &[String]) -> String {
    format!("{} entries: {}", names.len(), names.join(" | "))
}

fn bytes_text(data: &[u8]) -> String {
    format!("{} bytes: {}", data.len(), String::from_utf8_lossy(&data[..data.len().min(PRINT_LIMIT)]))
}

/// Escape CR and LF only, so one call is one line and secrets stay greppable.
fn one_line(text: &str) -> String {
    text.replace('\r', "\\r").replace('\n', "\\n")
}

fn number<T: core::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("invalid-input: not a number: {text:?}"))
}

/// Add `extra` to an error's message, keeping its kind.
fn append(error: Error, extra: &str) -> Error {
    match error {
        Error::Denied(m) => Error::Denied(m + extra),
        Error::Connect(m) => Error::Connect(m + extra),
        Error::Tls(m) => Error::Tls(m + extra),
        Error::Auth(m) => Error::Auth(m + extra),
        Error::NotFound(m) => Error::NotFound(m + extra),
        Error::Permission(m) => Error::Permission(m + extra),
        Error::Timeout(m) => Error::Timeout(m + extra),
        Error::Protocol(mut p) => {
            p.message += extra;
            Error::Protocol(p)
        }
        Error::InvalidInput(m) => Error::InvalidInput(m + extra),
        Error::TooLarge(m) => Error::TooLarge(m + extra),
        Error::Io(m) => Error::Io(m + extra),
        Error::Unsupported(m) => Error::Unsupported(m + extra),
    }
}

/// `KIND: message`, KIND being the WIT error case (as in the example guest).
fn describe(error: &Error) -> String {
    match error {
        Error::Denied(m) => format!("denied: {m}"),
        Error::Connect(m) => format!("connect: {m}"),
        Error::Tls(m) => format!("tls: {m}"),
        Error::Auth(m) => format!("auth: {m}"),
        Error::NotFound(m) => format!("not-found: {m}"),
        Error::Permission(m) => format!("permission: {m}"),
        Error::Timeout(m) => format!("timeout: {m}"),
        Error::Protocol(p) => format!("protocol: {} {}", p.code, p.message),
        Error::InvalidInput(m) => format!("invalid-input: {m}"),
        Error::TooLarge(m) => format!("too-large: {m}"),
        Error::Io(m) => format!("io: {m}"),
        Error::Unsupported(m) => format!("unsupported: {m}"),
    }
}

export!(Plugin);
