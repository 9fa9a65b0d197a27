//! Example plugin for ftp-host, written like a user of the classic FTP driver would:
//! `connect`, `list_directory`, `get`, `send`.
//!
//! Usage (everything after `--` on the `ftp-host run` command line):
//!
//! ```text
//! --host H [--port P] [--user U] [--password W] [--security none|explicit|implicit]
//! [--force-prot] COMMAND [ARGS...]
//! --profile NAME COMMAND [ARGS...]     (a server profile of the operator's policy)
//!
//! tour [DIR]           list DIR, download every file (size + SHA-256), upload a
//!                      report, list again
//! ls [DIR]             print the names in DIR
//! sha256 PATH...       download each file and print its size and SHA-256
//! cat PATH             download a file and print it
//! put PATH TEXT        upload TEXT to PATH
//! head PATH N          print the first N bytes of PATH, then abandon the transfer
//! download REMOTE LOCAL [--resume] [--splice|--via-memory]
//!                      stream REMOTE into the local file LOCAL (in a directory
//!                      the operator granted with --dir): written to LOCAL.part,
//!                      renamed to LOCAL once the server confirms the transfer;
//!                      --resume continues an interrupted LOCAL.part
//! upload LOCAL REMOTE [--append|--resume] [--splice|--via-memory]
//!                      stream the local file LOCAL to REMOTE; --resume
//!                      continues after the bytes the server already has
//! ls -l [DIR]          print DIR's entries, sorted by name: KIND SIZE MODIFIED NAME
//!                      (the format of guest-examples/README.md)
//! stat PATH            print what PATH is (the same columns)
//! mkdir [-p] DIR       create DIR (-p: and its missing parents; no error if it exists)
//! rm PATH              delete a file
//! rmdir DIR            remove an empty directory
//! mv FROM TO           rename or move a file or directory
//! mirror REMOTE_DIR LOCAL_DIR
//!                      copy REMOTE_DIR recursively into LOCAL_DIR (in a
//!                      granted directory), downloading only files that are
//!                      new or changed (size or modification time), each into
//!                      a temporary name renamed into place; a second run
//!                      transfers nothing
//! ```
//!
//! Several commands can run on one session, separated by `;` arguments:
//! `head big.bin 10 ';' ls`.
//!
//! `download` and `upload` have the host move the whole file between the
//! FTP connection and the local file (`save-to`/`send-from`), so the file's
//! bytes never enter this plugin's memory; `--splice` moves them with a
//! `wasi:io` `splice` loop instead, `--via-memory` copies 1 MiB chunks
//! through the plugin (both for comparison).
//!
//! Errors are reported as `KIND: message`, KIND being the WIT error case, so an
//! operator (or a test) can tell a missing file from a wrong password.
//!
//! Written with the `naas-ftp` library (`guest-libs/rust`): connection,
//! errors, streaming and local files come from there.

use naas_ftp::{format_datetime, kind_name, Connect, Entry, Error, Ftp, Security, UploadMode, Via};
use sha2::{Digest, Sha256};

mod mirror;

struct Plugin;

impl naas_ftp::Guest for Plugin {
    fn run(args: Vec<String>) -> Result<String, String> {
        let (server, command) = parse_args(args)?;
        let ftp = match server {
            Server::Profile(name) => naas_ftp::connect_profile(&name)?,
            Server::Connect(connect) => connect.open()?,
        };
        let mut summaries = Vec::new();
        for command in command.split(|arg| arg == ";").filter(|c| !c.is_empty()) {
            summaries.push(run_command(&ftp, command)?);
        }
        ftp.quit()?;
        // A component never exits, so nothing flushes stdout for us.
        let _ = std::io::Write::flush(&mut std::io::stdout());
        Ok(summaries.join("; "))
    }
}

/// How `download` and `upload` move the bytes: `--splice`, `--via-memory`,
/// or the host (the default).
fn via(flag: &impl Fn(&str) -> bool) -> Via {
    match (flag("--splice"), flag("--via-memory")) {
        (true, _) => Via::Splice,
        (_, true) => Via::Memory,
        _ => Via::Host,
    }
}

fn run_command(ftp: &Ftp, command: &[String]) -> Result<String, String> {
    let flag = |name: &str| command.iter().any(|a| a == name);
    let positional: Vec<&str> = command.iter().map(String::as_str).filter(|a| !a.starts_with("--")).collect();
    match (positional.first().copied(), positional.get(1).copied(), positional.get(2).copied()) {
        (Some("download"), Some(remote), Some(local)) => {
            let done = ftp.download_with(remote, local, flag("--resume"), via(&flag))?;
            Ok(format!("downloaded {remote} to {local} ({} bytes, {} this time)", done.offset + done.bytes, done.bytes))
        }
        (Some("upload"), Some(local), Some(remote)) => {
            let mode = if flag("--resume") {
                UploadMode::Resume
            } else if flag("--append") {
                UploadMode::Append
            } else {
                UploadMode::Replace
            };
            let done = ftp.upload_with(local, remote, mode, via(&flag))?;
            Ok(format!("uploaded {local} to {remote} ({} bytes from offset {})", done.bytes, done.offset))
        }
        (Some("head"), Some(path), Some(n)) => head(ftp, path, n.parse().map_err(|_| format!("bad byte count {n:?}"))?),
        (Some("mirror"), Some(remote), Some(local)) => Ok(mirror::mirror(ftp, remote, local)?),
        _ => Ok(simple_command(ftp, command)?),
    }
}

fn simple_command(ftp: &Ftp, command: &[String]) -> Result<String, Error> {
    let arg = |i: usize| command.get(i).map(String::as_str);
    match (arg(0), arg(1)) {
        (Some("tour"), dir) => tour(ftp, dir),
        (Some("ls"), Some("-l")) => {
            let mut entries = ftp.list(arg(2))?;
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            for entry in &entries {
                println!("{}", long_line(entry, &entry.name));
            }
            Ok(format!("{} entries", entries.len()))
        }
        (Some("stat"), Some(path)) => {
            let entry = ftp.stat(path)?;
            println!("{}", long_line(&entry, path));
            Ok(format!("{path}: {}", kind_name(entry.kind)))
        }
        (Some("mkdir"), Some("-p")) if arg(2).is_some() => {
            let dir = arg(2).unwrap_or_default();
            ftp.mkdir(dir, true)?;
            Ok(format!("created directory {dir}"))
        }
        (Some("mkdir"), Some(dir)) => {
            ftp.mkdir(dir, false)?;
            Ok(format!("created directory {dir}"))
        }
        (Some("rm"), Some(path)) => {
            ftp.delete(path)?;
            Ok(format!("deleted {path}"))
        }
        (Some("rmdir"), Some(dir)) => {
            ftp.rmdir(dir)?;
            Ok(format!("removed directory {dir}"))
        }
        (Some("mv"), Some(from)) if arg(2).is_some() => {
            let to = arg(2).unwrap_or_default();
            ftp.rename(from, to)?;
            Ok(format!("renamed {from} to {to}"))
        }
        (Some("ls"), dir) => {
            let names = ftp.list_directory(dir)?;
            for name in &names {
                println!("{name}");
            }
            Ok(format!("{} entries", names.len()))
        }
        (Some("sha256"), Some(_)) => {
            for path in &command[1..] {
                let data = ftp.read(path)?;
                println!("{}  {}  {}", hex(&Sha256::digest(&data)), data.len(), path);
            }
            Ok(format!("{} files checked", command.len() - 1))
        }
        (Some("cat"), Some(path)) => {
            let data = ftp.read(path)?;
            // The exact bytes, binary or not.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &data);
            Ok(format!("{} bytes", data.len()))
        }
        (Some("put"), Some(path)) => {
            let text = arg(2).unwrap_or_default();
            let sent = ftp.write(path, text.as_bytes())?;
            Ok(format!("uploaded {sent} bytes to {path}"))
        }
        _ => Err(Error::InvalidInput(format!(
            "unknown command {command:?}: expected tour, ls, sha256, cat, put, head, download, upload, stat, mkdir, rm, rmdir, mv or mirror"
        ))),
    }
}

/// Print the first `n` bytes of a remote file, then drop the transfer
/// without finishing it: the host aborts it and the session stays usable.
fn head(ftp: &Ftp, path: &str, n: u64) -> Result<String, String> {
    let mut reader = ftp.open_read(path, 0)?;
    let mut data = vec![0; n as usize];
    let mut got = 0;
    while got < data.len() {
        match std::io::Read::read(&mut reader, &mut data[got..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => got += k,
        }
    }
    data.truncate(got);
    print!("{}", String::from_utf8_lossy(&data));
    drop(reader);
    Ok(format!("{} bytes of {path}", data.len()))
}

/// The demo: what an automation job does with the classic driver.
fn tour(ftp: &Ftp, dir: Option<&str>) -> Result<String, Error> {
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
        match ftp.read(name) {
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
    let sent = ftp.write("checksums.txt", report.as_bytes())?;
    println!("uploaded checksums.txt ({sent} bytes)");
    let after = ftp.list_directory(None)?;
    println!("listing now has {} entries", after.len());
    Ok(format!("{files} files downloaded and checksummed, report uploaded"))
}

/// Where to connect: the plugin's own options, or an operator's profile.
enum Server {
    Connect(Connect),
    Profile(String),
}

fn parse_args(args: Vec<String>) -> Result<(Server, Vec<String>), String> {
    let (mut host, mut user, mut password) = (String::new(), "anonymous".to_string(), String::new());
    let mut profile = None;
    let (mut port, mut security, mut force_prot, mut timeout_ms) = (None, Security::None, false, None);
    let mut args = args.into_iter();
    let mut command = Vec::new();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--host" => host = value("--host")?,
            "--profile" => profile = Some(value("--profile")?),
            "--port" => {
                let p = value("--port")?;
                port = Some(p.parse::<u16>().map_err(|_| format!("bad --port {p:?}"))?);
            }
            "--user" => user = value("--user")?,
            "--password" => password = value("--password")?,
            "--security" => {
                security = match value("--security")?.as_str() {
                    "none" => Security::None,
                    "explicit" => Security::Explicit,
                    "implicit" => Security::Implicit,
                    other => return Err(format!("bad --security {other:?}: none, explicit or implicit")),
                }
            }
            "--force-prot" => force_prot = true,
            "--timeout-ms" => {
                let ms = value("--timeout-ms")?;
                timeout_ms = Some(ms.parse::<u32>().map_err(|_| format!("bad --timeout-ms {ms:?}"))?);
            }
            _ => {
                command.push(arg);
                command.extend(args);
                break;
            }
        }
    }
    if command.is_empty() {
        command.push("tour".into());
    }
    if let Some(name) = profile {
        return Ok((Server::Profile(name), command));
    }
    if host.is_empty() {
        return Err("usage: (--host HOST [--port P] [--user U] [--password W] [--security none|explicit|implicit] [--force-prot] [--timeout-ms N] | --profile NAME) tour|ls|sha256|cat|put|head|download|upload|stat|mkdir|rm|rmdir|mv|mirror ...".into());
    }
    let mut connect = naas_ftp::connect(&user, &password).host(&host).security(security).force_prot(force_prot);
    if let Some(port) = port {
        connect = connect.port(port);
    }
    if let Some(ms) = timeout_ms {
        connect = connect.timeout(std::time::Duration::from_millis(ms.into()));
    }
    Ok((Server::Connect(connect), command))
}

/// The `ls -l` line every example prints (guest-examples/README.md):
/// `KIND SIZE MODIFIED NAME`, single spaces, `-` for what the server did
/// not say, and ` -> TARGET` when the entry has a target.
fn long_line(entry: &Entry, name: &str) -> String {
    let size = entry.size.map_or("-".to_string(), |s| s.to_string());
    let time = entry.modified.as_ref().map_or("-".to_string(), format_datetime);
    let mut line = format!("{} {size} {time} {name}", kind_name(entry.kind));
    if let Some(target) = &entry.target {
        line.push_str(&format!(" -> {target}"));
    }
    line
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

naas_ftp::export!(Plugin);
