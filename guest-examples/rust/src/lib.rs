//! Example plugin for ftp-host, written like a user of the classic FTP driver would:
//! `connect`, `list_directory`, `get`, `send`.
//!
//! Usage (everything after `--` on the `ftp-host run` command line):
//!
//! ```text
//! --host H [--port P] [--user U] [--password W] [--security none|explicit|implicit]
//! [--force-prot] COMMAND [ARGS...]
//!
//! tour [DIR]           list DIR, download every file (size + SHA-256), upload a
//!                      report, list again
//! ls [DIR]             print the names in DIR
//! sha256 PATH...       download each file and print its size and SHA-256
//! cat PATH             download a file and print it
//! put PATH TEXT        upload TEXT to PATH
//! head PATH N          print the first N bytes of PATH, then abandon the transfer
//! download REMOTE LOCAL [--resume] [--via-memory]
//!                      stream REMOTE into the local file LOCAL (in a directory
//!                      the operator granted with --dir): written to LOCAL.part,
//!                      renamed to LOCAL once the server confirms the transfer;
//!                      --resume continues an interrupted LOCAL.part
//! upload LOCAL REMOTE [--append|--resume] [--via-memory]
//!                      stream the local file LOCAL to REMOTE; --resume
//!                      continues after the bytes the server already has
//! ```
//!
//! Several commands can run on one session, separated by `;` arguments:
//! `head big.bin 10 ';' ls`.
//!
//! `download` and `upload` `splice` between the FTP stream and the file
//! stream, so the file's bytes never enter this plugin's memory;
//! `--via-memory` copies 64 KiB chunks through it instead (for comparison).
//!
//! Errors are reported as `KIND: message`, KIND being the WIT error case, so an
//! operator (or a test) can tell a missing file from a wrong password.

wit_bindgen::generate!({ path: "../../wit", world: "plugin", generate_all });

use naas::ftp::client::{connect, Download, SendMode, Session, Upload};
use naas::ftp::types::{ConnectOptions, Error, Security};
use sha2::{Digest, Sha256};
use wasi::filesystem::preopens::get_directories;
use wasi::filesystem::types::{Descriptor, DescriptorFlags, OpenFlags, PathFlags};
use wasi::io::streams::{InputStream, OutputStream, StreamError};

/// Most bytes one `splice` call may move: the host moves them without
/// copying them into this plugin.
const SPLICE_CHUNK: u64 = 4 * 1024 * 1024;
/// Chunk size of `--via-memory` copies.
const MEMORY_CHUNK: u64 = 64 * 1024;

struct Plugin;

impl Guest for Plugin {
    fn run(args: Vec<String>) -> Result<String, String> {
        let (options, command) = parse_args(args)?;
        let session = connect(&options).map_err(|e| describe(&e))?;
        let mut summaries = Vec::new();
        for command in command.split(|arg| arg == ";").filter(|c| !c.is_empty()) {
            summaries.push(run_command(&session, command)?);
        }
        session.quit().map_err(|e| describe(&e))?;
        // A component never exits, so nothing flushes stdout for us.
        let _ = std::io::Write::flush(&mut std::io::stdout());
        Ok(summaries.join("; "))
    }
}

fn run_command(ftp: &Session, command: &[String]) -> Result<String, String> {
    let flag = |name: &str| command.iter().any(|a| a == name);
    let positional: Vec<&str> = command.iter().map(String::as_str).filter(|a| !a.starts_with("--")).collect();
    match (positional.first().copied(), positional.get(1).copied(), positional.get(2).copied()) {
        (Some("download"), Some(remote), Some(local)) => download(ftp, remote, local, flag("--resume"), flag("--via-memory")),
        (Some("upload"), Some(local), Some(remote)) => {
            upload(ftp, local, remote, flag("--append"), flag("--resume"), flag("--via-memory"))
        }
        (Some("head"), Some(path), Some(n)) => head(ftp, path, n.parse().map_err(|_| format!("bad byte count {n:?}"))?),
        _ => simple_command(ftp, command).map_err(|e| describe(&e)),
    }
}

fn simple_command(ftp: &Session, command: &[String]) -> Result<String, Error> {
    let arg = |i: usize| command.get(i).map(String::as_str);
    match (arg(0), arg(1)) {
        (Some("tour"), dir) => tour(ftp, dir),
        (Some("ls"), dir) => {
            let names = ftp.list_directory(dir)?;
            for name in &names {
                println!("{name}");
            }
            Ok(format!("{} entries", names.len()))
        }
        (Some("sha256"), Some(_)) => {
            for path in &command[1..] {
                let data = ftp.get(path)?;
                println!("{}  {}  {}", hex(&Sha256::digest(&data)), data.len(), path);
            }
            Ok(format!("{} files checked", command.len() - 1))
        }
        (Some("cat"), Some(path)) => {
            let data = ftp.get(path)?;
            // The exact bytes, binary or not.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &data);
            Ok(format!("{} bytes", data.len()))
        }
        (Some("put"), Some(path)) => {
            let text = arg(2).unwrap_or_default();
            let sent = ftp.send(path, text.as_bytes())?;
            Ok(format!("uploaded {sent} bytes to {path}"))
        }
        _ => Err(Error::InvalidInput(format!(
            "unknown command {command:?}: expected tour, ls, sha256, cat, put, head, download or upload"
        ))),
    }
}

/// Print the first `n` bytes of a remote file, then drop the transfer
/// without finishing it: the host aborts it and the session stays usable.
fn head(ftp: &Session, path: &str, n: u64) -> Result<String, String> {
    let transfer = ftp.open_get(path, 0).map_err(|e| describe(&e))?;
    let body = transfer.body().map_err(|e| describe(&e))?;
    let mut data = Vec::new();
    while (data.len() as u64) < n {
        match body.blocking_read(n - data.len() as u64) {
            Ok(chunk) => data.extend_from_slice(&chunk),
            Err(_) => break,
        }
    }
    print!("{}", String::from_utf8_lossy(&data));
    drop(body);
    drop(transfer);
    Ok(format!("{} bytes of {path}", data.len()))
}

/// Stream `remote` into the local file `local`, atomically: the bytes go to
/// `local.part`, which becomes `local` only once the server confirmed the
/// whole transfer.
fn download(ftp: &Session, remote: &str, local: &str, resume: bool, via_memory: bool) -> Result<String, String> {
    let (dir, name) = local_dir(local)?;
    let part = format!("{name}.part");
    let offset = if resume { dir.stat_at(PathFlags::empty(), &part).map(|s| s.size).unwrap_or(0) } else { 0 };
    // Ask the server first: a missing file must not leave an empty part behind.
    let transfer = ftp.open_get(remote, offset).map_err(|e| describe(&e))?;
    let flags = if offset == 0 { OpenFlags::CREATE | OpenFlags::TRUNCATE } else { OpenFlags::CREATE };
    let file = dir
        .open_at(PathFlags::empty(), &part, flags, DescriptorFlags::WRITE)
        .map_err(|e| format!("io: cannot write {local}.part: {e:?}"))?;
    let body = transfer.body().map_err(|e| describe(&e))?;
    let out = file.write_via_stream(offset).map_err(|e| format!("io: {local}.part: {e:?}"))?;
    let copied = if via_memory { copy_via_memory(&body, &out) } else { splice_all(&out, &body) };
    let flushed = out.blocking_flush();
    drop((body, out, file));
    // The server's final reply decides, even when the copy looked fine.
    let outcome = Download::finish(transfer).map_err(|e| describe(&e));
    let result = match (outcome, copied, flushed) {
        (Err(e), _, _) => Err(e),
        (Ok(_), Err(e), _) => Err(format!("io: writing {local}.part failed: {e:?}")),
        (Ok(_), Ok(_), Err(e)) => Err(format!("io: writing {local}.part failed: {e:?}")),
        (Ok(n), Ok(_), Ok(())) => dir
            .rename_at(&part, &dir, &name)
            .map(|_| format!("downloaded {remote} to {local} ({} bytes, {n} this time)", offset + n))
            .map_err(|e| format!("io: cannot rename {local}.part to {local}: {e:?}")),
    };
    if result.is_err() && !resume {
        // Keep nothing half-written; with --resume the part is kept to continue later.
        let _ = dir.unlink_file_at(&part);
    }
    result
}

/// Stream the local file `local` to `remote`.
fn upload(ftp: &Session, local: &str, remote: &str, append: bool, resume: bool, via_memory: bool) -> Result<String, String> {
    let (dir, name) = local_dir(local)?;
    let file = dir
        .open_at(PathFlags::empty(), &name, OpenFlags::empty(), DescriptorFlags::READ)
        .map_err(|e| format!("io: cannot read {local}: {e:?}"))?;
    let (mode, offset) = if resume {
        // Whatever the server already has, it keeps; missing file: start at 0.
        let have = match ftp.size(remote) {
            Ok(size) => size,
            Err(Error::NotFound(_)) => 0,
            Err(e) => return Err(describe(&e)),
        };
        (SendMode::ResumeAt(have), have)
    } else if append {
        (SendMode::Append, 0)
    } else {
        (SendMode::Replace, 0)
    };
    let input = file.read_via_stream(offset).map_err(|e| format!("io: {local}: {e:?}"))?;
    let transfer = ftp.open_send(remote, mode).map_err(|e| describe(&e))?;
    let body = transfer.body().map_err(|e| describe(&e))?;
    let copied = if via_memory { copy_via_memory(&input, &body) } else { splice_all(&body, &input) };
    drop((body, input, file));
    let sent = Upload::finish(transfer).map_err(|e| describe(&e))?;
    copied.map_err(|e| format!("io: reading {local} failed: {e:?}"))?;
    Ok(format!("uploaded {local} to {remote} ({sent} bytes from offset {offset})"))
}

/// Move everything from `from` to `to` inside the host.
fn splice_all(to: &OutputStream, from: &InputStream) -> Result<u64, StreamError> {
    let mut total = 0;
    loop {
        match to.blocking_splice(from, SPLICE_CHUNK) {
            Ok(n) => total += n,
            Err(StreamError::Closed) => return Ok(total),
            Err(e) => return Err(e),
        }
    }
}

/// Copy everything from `from` to `to` through this plugin's memory.
fn copy_via_memory(from: &InputStream, to: &OutputStream) -> Result<u64, StreamError> {
    let mut total = 0;
    loop {
        let chunk = match from.blocking_read(MEMORY_CHUNK) {
            Ok(chunk) => chunk,
            Err(StreamError::Closed) => return Ok(total),
            Err(e) => return Err(e),
        };
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let permit = to.check_write()? as usize;
            if permit == 0 {
                to.subscribe().block();
                continue;
            }
            let n = permit.min(rest.len());
            to.write(&rest[..n])?;
            rest = &rest[n..];
        }
        total += chunk.len() as u64;
    }
}

/// The granted directory holding `path`, and the path inside it.
fn local_dir(path: &str) -> Result<(Descriptor, String), String> {
    let dirs = get_directories();
    let names: Vec<String> = dirs.iter().map(|(_, name)| name.clone()).collect();
    for (dir, name) in dirs {
        let prefix = name.trim_end_matches('/');
        if let Some(rest) = path.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) {
            return Ok((dir, rest.to_string()));
        }
    }
    Err(format!(
        "denied: {path} is not in a directory the operator granted (granted: {names:?}); the operator can add --dir HOST_DIR::GUEST_DIR"
    ))
}

/// The demo: what an automation job does with the classic driver.
fn tour(ftp: &Session, dir: Option<&str>) -> Result<String, Error> {
    if let Some(dir) = dir {
        ftp.cwd(dir)?;
    }
    println!("connected; remote directory is {}", ftp.pwd()?);
    let mut names = ftp.list_directory(None)?;
    names.sort();
    println!("listing ({} entries):", names.len());
    for name in &names {
        println!("  {name}");
    }
    let mut report = String::new();
    let mut files = 0;
    for name in &names {
        match ftp.get(name) {
            Ok(data) => {
                let line = format!("{}  {:>8}  {}", hex(&Sha256::digest(&data)), data.len(), name);
                println!("downloaded {line}");
                report.push_str(&line);
                report.push('\n');
                files += 1;
            }
            // A directory in the listing: not a file to download.
            Err(Error::NotFound(_)) | Err(Error::Permission(_)) => println!("skipped {name} (not a file)"),
            Err(e) => return Err(e),
        }
    }
    let sent = ftp.send("checksums.txt", report.as_bytes())?;
    println!("uploaded checksums.txt ({sent} bytes)");
    let after = ftp.list_directory(None)?;
    println!("listing now has {} entries", after.len());
    Ok(format!("{files} files downloaded and checksummed, report uploaded"))
}

fn parse_args(args: Vec<String>) -> Result<(ConnectOptions, Vec<String>), String> {
    let mut options = ConnectOptions {
        host: String::new(),
        port: None,
        user: "anonymous".into(),
        password: String::new(),
        security: Security::None,
        force_prot: false,
        timeout_ms: None,
    };
    let mut args = args.into_iter();
    let mut command = Vec::new();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--host" => options.host = value("--host")?,
            "--port" => {
                let port = value("--port")?;
                options.port = Some(port.parse().map_err(|_| format!("bad --port {port:?}"))?);
            }
            "--user" => options.user = value("--user")?,
            "--password" => options.password = value("--password")?,
            "--security" => {
                options.security = match value("--security")?.as_str() {
                    "none" => Security::None,
                    "explicit" => Security::Explicit,
                    "implicit" => Security::Implicit,
                    other => return Err(format!("bad --security {other:?}: none, explicit or implicit")),
                }
            }
            "--force-prot" => options.force_prot = true,
            "--timeout-ms" => {
                let ms = value("--timeout-ms")?;
                options.timeout_ms = Some(ms.parse().map_err(|_| format!("bad --timeout-ms {ms:?}"))?);
            }
            _ => {
                command.push(arg);
                command.extend(args);
                break;
            }
        }
    }
    if options.host.is_empty() {
        return Err("usage: --host HOST [--port P] [--user U] [--password W] [--security none|explicit|implicit] [--force-prot] [--timeout-ms N] tour|ls|sha256|cat|put|head|download|upload ...".into());
    }
    if command.is_empty() {
        command.push("tour".into());
    }
    Ok((options, command))
}

/// `KIND: message`, KIND being the WIT error case.
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

export!(Plugin);
