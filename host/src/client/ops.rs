//! The FTP protocol steps of each session call, as free functions on a
//! [`Conn`]: no policy, no accounting, no audit (the caller,
//! [`super::FtpView::on_session`], does those once for every call).

use suppaftp::Status;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Conn;
use crate::bindings::types::{Datetime, Entry, EntryKind};
use crate::error::{self, Error, ProtocolError};
use crate::listing::{self, Cap, Caps, Kind, ListFormat, ReadLinesError, Timestamp};
use crate::observe::Direction;
use crate::policy::paths::{check_bytes, normalise, PathRules};
use crate::policy::{Access, MAX_PATH_BYTES};
use crate::usage::LimitKind;

/// Size of one read from a data connection into a `get` buffer.
const READ_CHUNK: usize = 256 * 1024;
/// Most `FEAT` lines kept: real servers list a few dozen.
const MAX_FEATURES: usize = 256;
/// Replies that open a data connection.
const DATA_OPENING: [Status; 2] = [Status::AboutToSend, Status::AlreadyOpen];

/// `NLST`: names only, and only those the grant lets the plugin see.
pub async fn list_names(c: &mut Conn<'_>, dir: &str, rules: &PathRules) -> Result<Vec<String>, Error> {
    let Listed::Names(lines) = read_listing(c, &format!("NLST {dir}"), None).await? else {
        unreachable!("NLST is read as names")
    };
    Ok(lines
        .into_iter()
        // Some servers prefix the directory, some list `.` and `..`.
        .map(|line| String::from_utf8_lossy(&line).rsplit('/').next().unwrap_or_default().to_string())
        // Names no path could carry back (NUL, CR, LF, too long) are useless to the plugin.
        .filter(|n| check_bytes(n, MAX_PATH_BYTES).is_ok())
        .filter(|n| n != "." && n != ".." && rules.shows(dir, n))
        .collect())
}

/// `MLSD` when the server offers `MLST`, else `LIST` parsed.
pub async fn list(c: &mut Conn<'_>, dir: &str, rules: &PathRules) -> Result<Vec<Entry>, Error> {
    let mlsd = c.features().await?.iter().any(|f| f.to_ascii_uppercase().starts_with("MLST"));
    let (command, format) = match mlsd {
        true => (format!("MLSD {dir}"), ListFormat::Mlsd),
        false => (format!("LIST {dir}"), ListFormat::List),
    };
    let Listed::Entries(entries) = read_listing(c, &command, Some(format)).await? else {
        unreachable!("MLSD and LIST are read as entries")
    };
    Ok(entries
        .into_iter()
        // A name no path could carry (NUL, too long) is useless to the plugin.
        .filter(|e| check_bytes(&e.name, MAX_PATH_BYTES).is_ok())
        .filter(|e| rules.shows(dir, &e.name))
        .map(to_wit)
        .collect())
}

/// `MLST`; else `SIZE` + `MDTM` (with `CWD` to tell a directory); else the
/// parent's listing.
pub async fn stat(c: &mut Conn<'_>, path: &str) -> Result<Entry, Error> {
    let features = c.features().await?;
    let name = path.rsplit('/').next().unwrap_or_default().to_string();
    if features.iter().any(|f| f.to_ascii_uppercase().starts_with("MLST")) {
        let reply = c.call(|ftp| ftp.mlst(Some(path))).await?;
        if let Some(entry) = listing::parse_mlst(&reply) {
            return Ok(to_wit(listing::Entry { name, ..entry }));
        }
    }
    match c.call(|ftp| ftp.size(path)).await {
        Ok(size) => {
            let modified = modified(c, path).await.ok();
            return Ok(Entry {
                name,
                kind: EntryKind::File,
                size: Some(size as u64),
                modified,
                permissions: None,
                target: None,
            });
        }
        Err(Error::NotFound(_)) | Err(Error::Unsupported(_)) | Err(Error::Protocol(_)) | Err(Error::Permission(_)) => {}
        Err(e) => return Err(e),
    }
    // Not a file with a size: a directory, or the server has no SIZE. The
    // parent's listing says which.
    let parent = match path.rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((dir, _)) => dir.to_string(),
    };
    if path == "/" {
        return Ok(Entry {
            name: "/".into(),
            kind: EntryKind::Directory,
            size: None,
            modified: None,
            permissions: None,
            target: None,
        });
    }
    let entries = list(c, &parent, &PathRules::default()).await?;
    entries
        .into_iter()
        .find(|e| e.name == name)
        .ok_or_else(|| Error::NotFound(format!("{}: no such file or directory", c.op)))
}

/// A whole file into memory, capped.
pub async fn get(c: &mut Conn<'_>, path: &str) -> Result<Vec<u8>, Error> {
    let (timeout, op) = (c.timeout, c.op);
    let limit = c.policy.limits().max_transfer_bytes;
    let mut stream = c.call(|ftp| ftp.retr_as_stream(path)).await?;
    let mut data = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let n = match tokio::time::timeout(timeout, stream.read(&mut chunk)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(error::from_io(e, op)),
            Err(_) => return Err(error::timeout(op, timeout)),
        };
        if n == 0 {
            break;
        }
        c.moved += n as u64;
        let over = data.len() as u64 + n as u64 > limit;
        let quota = c.usage.moved(Direction::Download, n as u64, op);
        if over || quota.is_err() {
            // Best effort: the limit error matters more than a failed ABOR.
            let _ = c.call(|ftp| ftp.abort(stream)).await;
            quota?;
            c.usage.hit(LimitKind::TransferBytes);
            return Err(Error::TooLarge(format!(
                "{op}: the file is larger than the {limit}-byte limit for in-memory transfers; stream it with \
                 open-get, or ask the operator to raise the limit"
            )));
        }
        data.extend_from_slice(&chunk[..n]);
    }
    // Only the server's final reply says the file arrived whole.
    super::deadline(timeout, op, stream.finish()).await?;
    Ok(data)
}

/// A whole file from memory, to a temporary name renamed into place once
/// complete (see `open-send`), or in place when staging is off.
pub async fn send(c: &mut Conn<'_>, target: &str, data: &[u8], staging: bool) -> Result<u64, Error> {
    let (timeout, op) = (c.timeout, c.op);
    let limit = c.policy.limits().max_transfer_bytes;
    if data.len() as u64 > limit {
        c.usage.hit(LimitKind::TransferBytes);
        return Err(Error::TooLarge(format!(
            "{op}: {} bytes is more than the {limit}-byte limit for in-memory transfers; stream it with open-send",
            data.len()
        )));
    }
    let temp = match staging {
        true => Some(staging_name(c, target)?),
        false => None,
    };
    // Counted before it is sent: the quota is checked before the server sees a byte.
    c.usage.moved(Direction::Upload, data.len() as u64, op)?;
    let destination = temp.as_deref().unwrap_or(target);
    let sent = async {
        let mut stream = c.call(|ftp| ftp.put_with_stream(destination)).await?;
        for chunk in data.chunks(READ_CHUNK) {
            match tokio::time::timeout(timeout, stream.write_all(chunk)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(error::from_io(e, op)),
                Err(_) => return Err(error::timeout(op, timeout)),
            }
        }
        super::deadline(timeout, op, stream.finish()).await?;
        Ok(data.len() as u64)
    }
    .await;
    c.moved = *sent.as_ref().unwrap_or(&0);
    match temp {
        Some(temp) => commit(c, sent, &temp, target).await,
        None => sent,
    }
}

/// A temporary name next to `target` for an atomic replacement, hidden on
/// Unix servers. It must pass the write rules like any other path: a
/// plugin may never leave a file under a name the operator did not allow.
pub fn staging_name(c: &Conn<'_>, target: &str) -> Result<String, Error> {
    let (dir, name) = target.rsplit_once('/').unwrap_or(("", target));
    let mut tag = [0u8; 6];
    let _ = getrandom::fill(&mut tag);
    let temp = format!("{dir}/.{name}.ftp-host-{}.part", hex::encode(tag));
    match c.policy.check_path(c.grant, "/", &temp, Access::Write, &c.op) {
        Ok(temp) => Ok(temp),
        Err(_) => Err(Error::Denied(format!(
            "{}: a replacement is written to a temporary name first (`{dir}/.{name}.ftp-host-*.part`), which the \
             write rules do not allow; the operator can allow such names (e.g. `{dir}/.*.part`), or turn staging \
             off for this server (staging = false), or write with append",
            c.op
        ))),
    }
}

/// The last step of an atomic upload: rename the temporary file to its
/// target if the upload succeeded, remove it (best effort) if not.
pub async fn commit(c: &mut Conn<'_>, sent: Result<u64, Error>, temp: &str, target: &str) -> Result<u64, Error> {
    let renamed = match sent {
        Ok(bytes) => {
            let op = c.op;
            c.op = error::Op { action: error::Action::RenameIntoPlace, ..op };
            let renamed = c.call(|ftp| ftp.rename(temp, target)).await.map(|()| bytes);
            c.op = op;
            renamed
        }
        Err(e) => Err(e),
    };
    match &renamed {
        // A dead or confused control connection cannot remove anything: do
        // not spend another deadline trying.
        Err(e) if !error::breaks_session(e) => {
            let _ = c.call(|ftp| ftp.rm(temp)).await;
        }
        _ => {}
    }
    renamed
}

/// `MKD`; with `parents`, each missing ancestor first and an existing
/// directory is success.
pub async fn mkdir(c: &mut Conn<'_>, path: &str, parents: bool) -> Result<(), Error> {
    if !parents {
        return c.call(|ftp| ftp.mkdir(path)).await;
    }
    let mut prefix = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        prefix.push('/');
        prefix.push_str(part);
        let dir = normalise("/", &prefix);
        // Ancestors above the grant may be refused by the rules: only the
        // directories the plugin may write are created.
        if c.policy.check_path(c.grant, "/", &dir, Access::Write, &c.op).is_err() {
            continue;
        }
        match c.call(|ftp| ftp.mkdir(&dir)).await {
            Ok(()) => {}
            // It may exist already: CWD says so without a listing.
            Err(e @ (Error::NotFound(_) | Error::Permission(_) | Error::Protocol(_))) => {
                if !is_directory(c, &dir).await? {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whether `dir` is a directory: `CWD` there and back.
async fn is_directory(c: &mut Conn<'_>, dir: &str) -> Result<bool, Error> {
    let back = c.call(|ftp| ftp.pwd()).await?;
    match c.call(|ftp| ftp.cwd(dir)).await {
        Ok(()) => {
            c.call(|ftp| ftp.cwd(&back)).await?;
            Ok(true)
        }
        Err(Error::NotFound(_) | Error::Permission(_) | Error::Protocol(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `MDTM`, read from the raw reply (suppaftp's parser drops fractions).
pub async fn modified(c: &mut Conn<'_>, path: &str) -> Result<Datetime, Error> {
    let op = c.op;
    let reply = c.call(|ftp| ftp.custom_command(format!("MDTM {path}"), &[Status::File])).await?;
    let text = String::from_utf8_lossy(&reply.body).to_string();
    listing::parse_mdtm(&text).map(to_datetime).ok_or_else(|| {
        Error::Protocol(ProtocolError {
            code: 213,
            message: format!("{op}: the server's MDTM reply is not a time ({})", text.trim()),
        })
    })
}

/// `MFMT`, when the server offers it.
pub async fn set_modified(c: &mut Conn<'_>, path: &str, time: Datetime) -> Result<(), Error> {
    let features = c.features().await?;
    if !features.iter().any(|f| f.to_ascii_uppercase().starts_with("MFMT")) {
        return Err(Error::Unsupported(format!(
            "{}: the server does not offer MFMT, so modification times cannot be set",
            c.op
        )));
    }
    let stamp =
        listing::format_mfmt(Timestamp { seconds: time.seconds, nanoseconds: time.nanoseconds }).ok_or_else(|| {
            Error::InvalidInput(format!("{}: the time is outside the years 0000-9999 MFMT can express", c.op))
        })?;
    c.call(|ftp| ftp.custom_command(format!("MFMT {stamp} {path}"), &[Status::File])).await.map(|_| ())
}

/// `FEAT` (a server without it has no features), then `OPTS UTF8 ON` when
/// the server offers UTF-8 names.
pub async fn features(c: &mut Conn<'_>) -> Result<Vec<String>, Error> {
    let features = match c.call(|ftp| ftp.feat()).await {
        Ok(features) => features,
        Err(Error::Unsupported(_) | Error::Protocol(ProtocolError { code: 500..=599, .. })) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    // `MLST type*;size*;` comes back as a name and a value: one line again.
    let mut features: Vec<String> = features
        .into_iter()
        .map(|(name, value)| match value {
            Some(value) => format!("{name} {value}"),
            None => name,
        })
        .take(MAX_FEATURES)
        .collect();
    features.sort();
    if features.iter().any(|f| f.eq_ignore_ascii_case("UTF8")) {
        // Best effort: names are decoded lossily either way.
        let _ =
            c.call(|ftp| ftp.custom_command("OPTS UTF8 ON", &[Status::CommandOk, Status::CommandNotImplemented])).await;
    }
    Ok(features)
}

/// A listing as read: names (`NLST`) or parsed entries.
enum Listed {
    Names(Vec<Vec<u8>>),
    Entries(Vec<listing::Entry>),
}

/// Run a listing command and read it as it arrives (names, or entries
/// parsed as `format` says), which
/// stops as soon as a cap is reached: the operator's entry and byte caps, and
/// [`listing::MAX_LIST_LINE_BYTES`]. Every byte counts against the run's
/// quota. Then close the data connection: its final reply when the listing
/// was read to its end, an `ABOR` when it was cut short (the session stays
/// usable, or is closed if the server does not cooperate).
async fn read_listing(c: &mut Conn<'_>, command: &str, format: Option<ListFormat>) -> Result<Listed, Error> {
    let (timeout, op) = (c.timeout, c.op);
    let limits = c.policy.limits();
    let caps = Caps::new(limits.max_list_entries, limits.max_list_bytes);
    let (_, mut stream) = c.call(|ftp| ftp.custom_data_command(command, &DATA_OPENING)).await?;
    let usage = c.usage.clone();
    let mut moved = 0;
    let mut count = |n: u64| {
        moved += n;
        usage.moved(Direction::Download, n, op)
    };
    let read = async {
        match format {
            None => listing::read_lines(&mut stream, caps, &mut count).await.map(Listed::Names),
            Some(format) => listing::read_listing(&mut stream, caps, format, Timestamp::now(), &mut count)
                .await
                .map(Listed::Entries),
        }
    };
    let read = match tokio::time::timeout(timeout, read).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(ReadLinesError::TooLarge { cap, limit })) => {
            c.usage.hit(LimitKind::Listing);
            let what = match cap {
                Cap::Entries => format!("more than {limit} entries; list a narrower directory"),
                Cap::Bytes => format!("more than {limit} bytes; list a narrower directory"),
                Cap::LineBytes => format!("a line longer than {limit} bytes; the server is broken or hostile"),
            };
            Err(Error::TooLarge(format!("{op}: the listing has {what}")))
        }
        Ok(Err(ReadLinesError::Io(e))) => Err(error::from_io(e, op)),
        Ok(Err(ReadLinesError::Budget(e))) => Err(e),
        Err(_) => Err(error::timeout(op, timeout)),
    };
    c.moved += moved;
    match read {
        Ok(value) => super::deadline(timeout, op, stream.finish()).await.map(|()| value),
        Err(e) => {
            if !error::breaks_session(&e) {
                if let Err(abort) = c.call(|ftp| ftp.abort(stream)).await {
                    // The server did not take the ABOR: the session cannot be trusted.
                    return Err(if error::breaks_session(&abort) { abort } else { e });
                }
            }
            Err(e)
        }
    }
}

fn to_datetime(t: Timestamp) -> Datetime {
    Datetime { seconds: t.seconds, nanoseconds: t.nanoseconds }
}

/// A parsed listing entry as the guest sees it.
fn to_wit(e: listing::Entry) -> Entry {
    Entry {
        name: e.name,
        kind: match e.kind {
            Kind::File => EntryKind::File,
            Kind::Directory => EntryKind::Directory,
            Kind::Symlink => EntryKind::Symlink,
            Kind::Other => EntryKind::Other,
        },
        size: e.size,
        modified: e.modified.map(to_datetime),
        permissions: e.permissions,
        target: e.target,
    }
}
