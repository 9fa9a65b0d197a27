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
//! ```
//!
//! Errors are reported as `KIND: message`, KIND being the WIT error case, so an
//! operator (or a test) can tell a missing file from a wrong password.

wit_bindgen::generate!({ path: "../../wit", world: "plugin", generate_all });

use naas::ftp::client::{connect, Session};
use naas::ftp::types::{ConnectOptions, Error, Security};
use sha2::{Digest, Sha256};

struct Plugin;

impl Guest for Plugin {
    fn run(args: Vec<String>) -> Result<String, String> {
        let (options, command) = parse_args(args)?;
        let session = connect(&options).map_err(|e| describe(&e))?;
        let summary = run_command(&session, &command).map_err(|e| describe(&e))?;
        session.quit().map_err(|e| describe(&e))?;
        Ok(summary)
    }
}

fn run_command(ftp: &Session, command: &[String]) -> Result<String, Error> {
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
            print!("{}", String::from_utf8_lossy(&data));
            Ok(format!("{} bytes", data.len()))
        }
        (Some("put"), Some(path)) => {
            let text = arg(2).unwrap_or_default();
            let sent = ftp.send(path, text.as_bytes())?;
            Ok(format!("uploaded {sent} bytes to {path}"))
        }
        _ => Err(Error::InvalidInput(format!(
            "unknown command {command:?}: expected tour, ls, sha256, cat or put"
        ))),
    }
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
        return Err("usage: --host HOST [--port P] [--user U] [--password W] [--security none|explicit|implicit] [--force-prot] tour|ls|sha256|cat|put ...".into());
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
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

export!(Plugin);
