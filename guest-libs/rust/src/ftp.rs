//! [`connect`], [`connect_profile`] and the session wrapper [`Ftp`] with the
//! classic driver's verbs, streaming and local-file transfers.

use std::time::Duration;

use crate::bindings::naas::ftp::client::{self, Download, SendMode, Session, Upload};
use crate::bindings::naas::ftp::types::{ConnectOptions, Datetime, Entry, Security};
use crate::bindings::wasi::filesystem::types::{Descriptor, DescriptorFlags, OpenFlags, PathFlags};
use crate::local::{base_name, local_dir};
use crate::stream::{copy_via_memory, splice_all};
use crate::{Error, Reader, Result, Writer};

/// The implicit FTPS port: `secure(true)` on it means implicit TLS.
const IMPLICIT_PORT: u16 = 990;

/// Start a connection with the plugin's own credentials, the classic
/// `connect(user, passwd, host=…, port=…, secure=False, force_prot=False)`:
///
/// ```ignore
/// let ftp = naas_ftp::connect("user", "passwd").host("ftp.example.com").open()?;                 // plain FTP
/// let ftp = naas_ftp::connect("user", "passwd").host("h").port(990).secure(true).open()?;        // implicit FTPS
/// let ftp = naas_ftp::connect("user", "passwd").host("h").secure(true).force_prot(true).open()?; // explicit FTPS
/// ```
///
/// The operator's policy must allow the server for guest credentials.
pub fn connect(user: &str, passwd: &str) -> Connect {
    Connect {
        options: ConnectOptions {
            host: String::new(),
            port: None,
            user: user.to_string(),
            password: passwd.to_string(),
            security: Security::None,
            force_prot: false,
            timeout_ms: None,
        },
        secure: false,
        security: None,
    }
}

/// Connect to a server profile the operator configured by name: the host
/// supplies address, security and credentials; the plugin never sees them.
pub fn connect_profile(name: &str) -> Result<Ftp> {
    Ok(Ftp::from_session(client::connect_profile(name)?))
}

/// The settings of a [`connect`], applied by [`open`](Connect::open).
#[derive(Clone, Debug)]
pub struct Connect {
    options: ConnectOptions,
    secure: bool,
    security: Option<Security>,
}

impl Connect {
    /// Server name or IP address (required).
    pub fn host(mut self, host: &str) -> Self {
        self.options.host = host.to_string();
        self
    }

    /// TCP port; default 21, or 990 for implicit FTPS.
    pub fn port(mut self, port: u16) -> Self {
        self.options.port = Some(port);
        self
    }

    /// The classic `secure` flag: TLS, never falling back to clear text.
    /// Implicit FTPS on port 990, explicit (`AUTH TLS`) on any other port.
    /// [`security`](Connect::security) chooses exactly.
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// Exactly which protection: `Security::None`, `Explicit` or `Implicit`.
    pub fn security(mut self, security: Security) -> Self {
        self.security = Some(security);
        self
    }

    /// The classic `force_prot`: protect the data connection (`PROT P`). The
    /// host always does under TLS; without TLS it is an `invalid-input` error.
    pub fn force_prot(mut self, force_prot: bool) -> Self {
        self.options.force_prot = force_prot;
        self
    }

    /// Deadline of each network operation (the host may cap it).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout_ms = Some(timeout.as_millis().min(u32::MAX as u128) as u32);
        self
    }

    /// The WIT `connect-options` this builder stands for.
    pub fn options(&self) -> ConnectOptions {
        let mut options = self.options.clone();
        options.security = match (self.security, self.secure) {
            (Some(security), _) => security,
            (None, false) => Security::None,
            (None, true) if options.port == Some(IMPLICIT_PORT) => Security::Implicit,
            (None, true) => Security::Explicit,
        };
        options
    }

    /// Connect, secure the connection, log in.
    pub fn open(&self) -> Result<Ftp> {
        Ok(Ftp::from_session(client::connect(&self.options())?))
    }
}

/// How [`Ftp::upload_with`] writes the remote file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadMode {
    /// Create or replace it (atomically, by the host).
    Replace,
    /// Add to its end.
    Append,
    /// Keep what the server has (`SIZE`, 0 if it has nothing) and send the
    /// rest of the local file from there.
    Resume,
}

/// How [`Ftp::download_with`] and [`Ftp::upload_with`] move the bytes
/// between the local file and the FTP connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Via {
    /// The host moves the whole file in one call (`download.save-to`,
    /// `upload.send-from`): the fastest; the kernel moves plain-FTP
    /// downloads from the socket into the file.
    #[default]
    Host,
    /// A `wasi:io` `splice` loop between the transfer's stream and the
    /// file's stream: the bytes stay in the host, the plugin makes one call
    /// per chunk.
    Splice,
    /// 1 MiB chunks through the plugin's memory (for comparison).
    Memory,
}

/// What [`Ftp::download_with`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Downloaded {
    /// Where this transfer started in the file (0 unless resumed).
    pub offset: u64,
    /// Bytes received this time.
    pub bytes: u64,
}

/// What [`Ftp::upload_with`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uploaded {
    /// Where this transfer started in the local file (0 unless resumed).
    pub offset: u64,
    /// Bytes the server acknowledged this time.
    pub bytes: u64,
}

/// One logged-in FTP session. Dropping it closes the connection; [`quit`]
/// says goodbye first.
///
/// [`quit`]: Ftp::quit
pub struct Ftp {
    session: Session,
}

impl Ftp {
    /// Wrap a session from the raw bindings.
    pub fn from_session(session: Session) -> Self {
        Ftp { session }
    }

    /// The raw session, for calls without a wrapper here.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The classic `get(path, dest_path=None)`: download the remote `path`
    /// into a granted local directory, as `dest_path` or, by default, under
    /// its base name in the first granted directory. Streamed (the bytes do
    /// not pass through the plugin) and atomic (see [`download_to`]).
    /// Returns the file's size.
    ///
    /// [`download_to`]: Ftp::download_to
    pub fn get(&self, path: &str, dest_path: Option<&str>) -> Result<u64> {
        self.download_to(path, dest_path.unwrap_or(base_name(path)))
    }

    /// The classic `send(path, dest_path=None)`: upload the local file `path`
    /// (in a granted directory) to `dest_path` or, by default, its base name
    /// in the session's current remote directory. Streamed; the host replaces
    /// the remote file atomically. Returns the bytes sent.
    pub fn send(&self, path: &str, dest_path: Option<&str>) -> Result<u64> {
        self.upload_from(path, dest_path.unwrap_or(base_name(path)))
    }

    /// The classic `list_directory(path=None)`: the names in a remote
    /// directory (the current one by default), without `.` and `..`.
    pub fn list_directory(&self, path: Option<&str>) -> Result<Vec<String>> {
        Ok(self.session.list_directory(path)?)
    }

    /// A whole remote file, in memory (up to the operator's in-memory limit;
    /// use [`open_read`](Ftp::open_read) or [`get`](Ftp::get) beyond).
    pub fn read(&self, path: &str) -> Result<Vec<u8>> {
        Ok(self.session.get(path)?)
    }

    /// Upload `data` to `path`, replacing it atomically. Returns the bytes
    /// the server acknowledged.
    pub fn write(&self, path: &str, data: &[u8]) -> Result<u64> {
        Ok(self.session.send(path, data)?)
    }

    /// A remote file's size (`SIZE`).
    pub fn size(&self, path: &str) -> Result<u64> {
        Ok(self.session.size(path)?)
    }

    /// The current remote directory (`PWD`).
    pub fn pwd(&self) -> Result<String> {
        Ok(self.session.pwd()?)
    }

    /// Change the current remote directory (`CWD`).
    pub fn cwd(&self, path: &str) -> Result<()> {
        Ok(self.session.cwd(path)?)
    }

    /// Log out (`QUIT`) and close the connection.
    pub fn quit(self) -> Result<()> {
        Ok(self.session.quit()?)
    }

    /// Start reading `path` from byte `offset` on, as `std::io::Read`.
    pub fn open_read(&self, path: &str, offset: u64) -> Result<Reader> {
        Reader::new(self.session.open_get(path, offset)?)
    }

    /// Start writing `path` as `mode` says, as `std::io::Write`.
    pub fn open_write(&self, path: &str, mode: SendMode) -> Result<Writer> {
        Writer::new(self.session.open_send(path, mode)?)
    }

    /// Download `remote` into the local file `local` (see [`local_dir`]):
    /// moved by the host into `local.part`, which becomes `local` only
    /// once the server confirmed the whole transfer; on failure nothing is
    /// left behind. Returns the bytes received.
    ///
    /// [`local_dir`]: crate::local_dir
    pub fn download_to(&self, remote: &str, local: &str) -> Result<u64> {
        Ok(self.download_with(remote, local, false, Via::Host)?.bytes)
    }

    /// [`download_to`](Ftp::download_to) with choices: `resume` continues an
    /// interrupted `local.part` (and keeps it on failure, to continue later);
    /// `via` says how the bytes move.
    pub fn download_with(&self, remote: &str, local: &str, resume: bool, via: Via) -> Result<Downloaded> {
        let (dir, name) = local_dir(local)?;
        let part = format!("{name}.part");
        let offset = if resume { dir.stat_at(PathFlags::empty(), &part).map(|s| s.size).unwrap_or(0) } else { 0 };
        let bytes = self.fetch(remote, &dir, &name, &part, offset, via, resume, local)?;
        Ok(Downloaded { offset, bytes })
    }

    /// Download `remote` into `name`, a path inside the local directory `dir`
    /// (from [`local_dir`](crate::local_dir)), atomically: moved by the host into a
    /// hidden temporary name in the same directory (`.NAME.part`), renamed to
    /// `name` once the server confirmed the transfer, removed on failure.
    /// Returns the bytes received.
    pub fn download_into(&self, remote: &str, dir: &Descriptor, name: &str) -> Result<u64> {
        let part = match name.rsplit_once('/') {
            Some((parent, base)) => format!("{parent}/.{base}.part"),
            None => format!(".{name}.part"),
        };
        self.fetch(remote, dir, name, &part, 0, Via::Host, false, name)
    }

    /// The download behind [`download_with`](Ftp::download_with) and
    /// [`download_into`](Ftp::download_into): `remote` from `offset` into
    /// `part` in `dir`, renamed to `name` when the server confirmed it. `part`
    /// is removed on failure unless `keep_part` (a resumable download);
    /// `label` names the local file in messages.
    #[allow(clippy::too_many_arguments)]
    fn fetch(
        &self,
        remote: &str,
        dir: &Descriptor,
        name: &str,
        part: &str,
        offset: u64,
        via: Via,
        keep_part: bool,
        label: &str,
    ) -> Result<u64> {
        // Ask the server first: a missing file must not leave an empty part behind.
        let transfer = self.session.open_get(remote, offset)?;
        let flags = if offset == 0 { OpenFlags::CREATE | OpenFlags::TRUNCATE } else { OpenFlags::CREATE };
        let file = dir
            .open_at(PathFlags::empty(), part, flags, DescriptorFlags::WRITE)
            .map_err(|e| Error::Io(format!("cannot write {label}.part: {e:?}")))?;
        let copied = match via {
            // A failure is the host's typed error, and `finish` reports it too.
            Via::Host => transfer.save_to(&file, offset).map(drop).map_err(Error::from),
            Via::Splice | Via::Memory => {
                let body = transfer.body()?;
                let out = file.write_via_stream(offset).map_err(|e| Error::Io(format!("{label}.part: {e:?}")))?;
                let copied = match via {
                    Via::Memory => copy_via_memory(&body, &out),
                    _ => splice_all(&out, &body),
                };
                let copied = copied.and_then(|_| out.blocking_flush());
                copied.map_err(|e| Error::Io(format!("writing {label}.part failed: {e:?}")))
            }
        };
        drop(file);
        // The server's final reply decides, even when the copy looked fine.
        let outcome = Download::finish(transfer).map_err(Error::from);
        let result = match (outcome, copied) {
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(e),
            (Ok(bytes), Ok(())) => dir
                .rename_at(part, dir, name)
                .map(|_| bytes)
                .map_err(|e| Error::Io(format!("cannot rename {label}.part to {label}: {e:?}"))),
        };
        if result.is_err() && !keep_part {
            // Keep nothing half-written; a resumable part is kept to continue later.
            let _ = dir.unlink_file_at(part);
        }
        result
    }

    /// Upload the local file `local` (see [`local_dir`]) to `remote`, moved
    /// by the host; the host replaces `remote` atomically. Returns the bytes
    /// sent.
    ///
    /// [`local_dir`]: crate::local_dir
    pub fn upload_from(&self, local: &str, remote: &str) -> Result<u64> {
        Ok(self.upload_with(local, remote, UploadMode::Replace, Via::Host)?.bytes)
    }

    /// [`upload_from`](Ftp::upload_from) with choices: how the remote file is
    /// written, and how the bytes move.
    pub fn upload_with(&self, local: &str, remote: &str, mode: UploadMode, via: Via) -> Result<Uploaded> {
        let (dir, name) = local_dir(local)?;
        let file = dir
            .open_at(PathFlags::empty(), &name, OpenFlags::empty(), DescriptorFlags::READ)
            .map_err(|e| Error::Io(format!("cannot read {local}: {e:?}")))?;
        let (mode, offset) = match mode {
            UploadMode::Resume => {
                // Whatever the server already has, it keeps; missing file: start at 0.
                let have = match self.session.size(remote) {
                    Ok(size) => size,
                    Err(client::Error::NotFound(_)) => 0,
                    Err(e) => return Err(e.into()),
                };
                (SendMode::ResumeAt(have), have)
            }
            UploadMode::Append => (SendMode::Append, 0),
            UploadMode::Replace => (SendMode::Replace, 0),
        };
        let transfer = self.session.open_send(remote, mode)?;
        let copied = match via {
            // A failure is the host's typed error, and `finish` reports it too.
            Via::Host => transfer.send_from(&file, offset).map(drop).map_err(Error::from),
            Via::Splice | Via::Memory => {
                let input = file.read_via_stream(offset).map_err(|e| Error::Io(format!("{local}: {e:?}")))?;
                let body = transfer.body()?;
                let copied = match via {
                    Via::Memory => copy_via_memory(&input, &body),
                    _ => splice_all(&body, &input),
                };
                copied.map(drop).map_err(|e| Error::Io(format!("reading {local} failed: {e:?}")))
            }
        };
        drop(file);
        // A failed copy is not finished: dropping the upload aborts it, so
        // a replacement never puts part of the file in place.
        copied?;
        let bytes = Upload::finish(transfer)?;
        Ok(Uploaded { offset, bytes })
    }

    /// The entries of a remote directory (the current one by default), with
    /// kind, size and time: `MLSD` where the server has it, else `LIST`
    /// parsed (times then approximate, see the WIT's `entry`). No `.`/`..`.
    pub fn list(&self, path: Option<&str>) -> Result<Vec<Entry>> {
        Ok(self.session.list(path)?)
    }

    /// What `path` is: kind, size, time (`MLST`, else `SIZE` + `MDTM`).
    pub fn stat(&self, path: &str) -> Result<Entry> {
        Ok(self.session.stat(path)?)
    }

    /// Create a directory (`MKD`); with `parents`, like `mkdir -p`.
    pub fn mkdir(&self, path: &str, parents: bool) -> Result<()> {
        Ok(self.session.mkdir(path, parents)?)
    }

    /// Remove an empty directory (`RMD`).
    pub fn rmdir(&self, path: &str) -> Result<()> {
        Ok(self.session.rmdir(path)?)
    }

    /// Delete a file (`DELE`).
    pub fn delete(&self, path: &str) -> Result<()> {
        Ok(self.session.delete(path)?)
    }

    /// Rename or move a file or directory (`RNFR` + `RNTO`).
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        Ok(self.session.rename(from, to)?)
    }

    /// A file's modification time (`MDTM`), UTC.
    pub fn modified(&self, path: &str) -> Result<Datetime> {
        Ok(self.session.modified(path)?)
    }

    /// Set a file's modification time (`MFMT`); [`Error::Unsupported`] where
    /// the server cannot.
    pub fn set_modified(&self, path: &str, time: Datetime) -> Result<()> {
        Ok(self.session.set_modified(path, time)?)
    }

    /// The server's `FEAT` lines.
    pub fn features(&self) -> Result<Vec<String>> {
        Ok(self.session.features()?)
    }
}
