//! The `session` resource: one logged-in control connection. Each WIT call
//! is a few lines: which action, which paths with which access, and the
//! protocol steps from [`super::ops`], all run through
//! [`FtpView::on_session`].

use std::sync::Arc;
use std::time::Duration;

use suppaftp::tokio::AsyncRustlsFtpStream;
use tokio::sync::Mutex;
use wasmtime::component::Resource;

use super::transfer::{self, Download, Upload};
use super::{ops, FtpView, SessionSlot};
use crate::bindings::client::{HostSession, SendMode};
use crate::bindings::types::{Datetime, Entry};
use crate::connections::ConnectionPermit;
use crate::error::{breaks_session, Action, Error, HostResult, Op};
use crate::policy::Access;

/// A control connection, shared by its session and the transfers opened on
/// it: it lives, and holds its session slot, until the last of them is gone,
/// and a transfer always finishes on the connection it was opened on.
pub(crate) struct Control {
    /// `None` once the session was quit or broken.
    ftp: Option<AsyncRustlsFtpStream>,
    /// Why `ftp` is `None`, for the error of any later call.
    closed: Closed,
    /// The server's `FEAT` lines, once asked.
    features: Option<Vec<String>>,
    _slot: SessionSlot,
    /// Last, so the socket closes before the server's connection slot is freed.
    _permit: Option<ConnectionPermit>,
}

/// Why a control connection is gone.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Closed {
    /// The guest quit the session.
    Quit,
    /// A timeout, a lost connection or an unreadable reply.
    Broken,
}

impl Closed {
    /// The error for a call on a closed session.
    pub fn error(self, op: Op<'_>) -> Error {
        let why = match self {
            Closed::Quit => "it was quit",
            Closed::Broken => "a previous operation timed out, lost the connection or got an unreadable reply",
        };
        Error::InvalidInput(format!("{op}: the session is closed ({why}); connect again"))
    }
}

pub(crate) type SharedControl = Arc<Mutex<Control>>;

impl Control {
    pub(crate) fn new(
        ftp: AsyncRustlsFtpStream,
        features: Vec<String>,
        slot: SessionSlot,
        permit: Option<ConnectionPermit>,
    ) -> SharedControl {
        let control =
            Control { ftp: Some(ftp), closed: Closed::Quit, features: Some(features), _slot: slot, _permit: permit };
        Arc::new(Mutex::new(control))
    }

    /// The connection and the feature cache, or why there is none.
    pub(crate) fn parts(&mut self) -> Result<(&mut AsyncRustlsFtpStream, &mut Option<Vec<String>>), Closed> {
        match self.ftp.as_mut() {
            Some(ftp) => Ok((ftp, &mut self.features)),
            None => Err(self.closed),
        }
    }

    /// A timed-out command leaves the control connection in an unknown
    /// state: close it rather than guess.
    pub(crate) fn after<T>(&mut self, result: &Result<T, Error>) {
        if let Err(e) = result {
            if breaks_session(e) {
                self.ftp = None;
                self.closed = Closed::Broken;
            }
        }
    }

    /// Log out: the connection is gone whatever the server answers.
    fn quit(&mut self) -> Option<AsyncRustlsFtpStream> {
        self.closed = Closed::Quit;
        self.ftp.take()
    }
}

/// Most time `quit` waits for the server to close the connection.
const QUIT_LINGER: Duration = Duration::from_millis(500);

/// Wait (at most `within`) until the server closes a connection it answered
/// QUIT on. A server counts a session until it has ended it (proftpd's
/// `MaxClientsPerUser`): a connection slot freed as soon as QUIT is answered
/// let the next run's login in while the server still counted this one.
async fn server_closed(ftp: &AsyncRustlsFtpStream, within: Duration) {
    let socket = ftp.get_ref().await;
    let mut scratch = [0u8; 512];
    let _ = tokio::time::timeout(within, async {
        while socket.readable().await.is_ok() {
            match socket.try_read(&mut scratch) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                // Bytes after the reply (a TLS close_notify) are dropped.
                Ok(n) if n > 0 => continue,
                _ => return,
            }
        }
    })
    .await;
}

/// One logged-in connection: the `session` resource.
pub struct Session {
    pub(crate) control: SharedControl,
    /// How the guest sees the server: `host:port`, or `profile `NAME`` for
    /// an operator's profile, whose address the guest never learns.
    pub(crate) label: String,
    /// `host:port` as dialed, for the operator's trace and audit log only.
    pub(crate) address: String,
    /// Deadline of each network operation.
    pub(crate) timeout: Duration,
    /// Whether the session uses TLS (its data connections too).
    pub(crate) secure: bool,
    /// The policy grant it was opened under: its path rules apply.
    pub(crate) grant: usize,
    /// The current directory as the host tracks it: every path is
    /// normalised against it and sent to the server absolute.
    pub(crate) cwd: String,
}

impl HostSession for FtpView<'_> {
    async fn list_directory(&mut self, this: Resource<Session>, path: Option<String>) -> HostResult<Vec<String>> {
        let rules = self.ctx.policy.paths(self.table.get(&this)?.grant).clone();
        let path = path.as_deref().unwrap_or(".");
        self.on_session(&this, Action::ListNames, &[(path, Access::Browse)], async |c, p| {
            ops::list_names(c, &p[0], &rules).await
        })
        .await
    }

    async fn list(&mut self, this: Resource<Session>, path: Option<String>) -> HostResult<Vec<Entry>> {
        let rules = self.ctx.policy.paths(self.table.get(&this)?.grant).clone();
        let path = path.as_deref().unwrap_or(".");
        self.on_session(&this, Action::List, &[(path, Access::Browse)], async |c, p| ops::list(c, &p[0], &rules).await)
            .await
    }

    async fn stat(&mut self, this: Resource<Session>, path: String) -> HostResult<Entry> {
        self.on_session(&this, Action::Stat, &[(&path, Access::Read)], async |c, p| ops::stat(c, &p[0]).await).await
    }

    async fn get(&mut self, this: Resource<Session>, path: String) -> HostResult<Vec<u8>> {
        self.on_session(&this, Action::Download, &[(&path, Access::Read)], async |c, p| ops::get(c, &p[0]).await).await
    }

    async fn send(&mut self, this: Resource<Session>, dest_path: String, data: Vec<u8>) -> HostResult<u64> {
        let staging = self.ctx.policy.staging(self.table.get(&this)?.grant);
        self.on_session(&this, Action::Upload, &[(&dest_path, Access::Write)], async |c, p| {
            ops::send(c, &p[0], &data, staging).await
        })
        .await
    }

    async fn size(&mut self, this: Resource<Session>, path: String) -> HostResult<u64> {
        self.on_session(&this, Action::Size, &[(&path, Access::Read)], async |c, p| {
            c.call(|ftp| ftp.size(&p[0])).await.map(|s| s as u64)
        })
        .await
    }

    async fn pwd(&mut self, this: Resource<Session>) -> HostResult<String> {
        let cwd = self.table.get(&this)?.cwd.clone();
        // The host's own view, which every path is resolved against: no round trip.
        self.on_session(&this, Action::Pwd, &[], async |_, _| Ok(cwd)).await
    }

    async fn cwd(&mut self, this: Resource<Session>, path: String) -> HostResult<()> {
        let target = self
            .on_session(&this, Action::Cwd, &[(&path, Access::Browse)], async |c, p| {
                c.call(|ftp| ftp.cwd(&p[0])).await.map(|()| p[0].clone())
            })
            .await?;
        self.table.get_mut(&this)?.cwd = target;
        Ok(())
    }

    async fn quit(&mut self, this: Resource<Session>) -> HostResult<()> {
        let control = self.table.get(&this)?.control.clone();
        self.on_session(&this, Action::Quit, &[], async |c, _| c.call(|ftp| ftp.quit()).await).await?;
        let ftp = control.lock().await.quit();
        if let Some(ftp) = ftp {
            server_closed(&ftp, QUIT_LINGER).await;
        }
        Ok(())
    }

    async fn mkdir(&mut self, this: Resource<Session>, path: String, parents: bool) -> HostResult<()> {
        self.on_session(&this, Action::Mkdir, &[(&path, Access::Write)], async |c, p| {
            ops::mkdir(c, &p[0], parents).await
        })
        .await
    }

    async fn rmdir(&mut self, this: Resource<Session>, path: String) -> HostResult<()> {
        self.on_session(&this, Action::Rmdir, &[(&path, Access::Write)], async |c, p| {
            c.call(|ftp| ftp.rmdir(&p[0])).await
        })
        .await
    }

    async fn delete(&mut self, this: Resource<Session>, path: String) -> HostResult<()> {
        self.on_session(&this, Action::Delete, &[(&path, Access::Write)], async |c, p| {
            c.call(|ftp| ftp.rm(&p[0])).await
        })
        .await
    }

    async fn rename(&mut self, this: Resource<Session>, from: String, to: String) -> HostResult<()> {
        self.on_session(&this, Action::Rename, &[(&from, Access::Write), (&to, Access::Write)], async |c, p| {
            c.call(|ftp| ftp.rename(&p[0], &p[1])).await
        })
        .await
    }

    async fn modified(&mut self, this: Resource<Session>, path: String) -> HostResult<Datetime> {
        self.on_session(&this, Action::Modified, &[(&path, Access::Read)], async |c, p| ops::modified(c, &p[0]).await)
            .await
    }

    async fn set_modified(&mut self, this: Resource<Session>, path: String, time: Datetime) -> HostResult<()> {
        self.on_session(&this, Action::SetModified, &[(&path, Access::Write)], async |c, p| {
            ops::set_modified(c, &p[0], time).await
        })
        .await
    }

    async fn features(&mut self, this: Resource<Session>) -> HostResult<Vec<String>> {
        self.on_session(&this, Action::Features, &[], async |c, _| c.features().await).await
    }

    async fn open_get(&mut self, this: Resource<Session>, path: String, offset: u64) -> HostResult<Resource<Download>> {
        self.ctx.check_room(self.op_of(&this, Action::OpenDownload)?)?;
        let download = self
            .on_session(&this, Action::OpenDownload, &[(&path, Access::Read)], async |c, p| {
                transfer::open_download(c, &p[0], offset).await
            })
            .await?;
        let download = download.into_download(self.table.get(&this)?);
        self.push(download)
    }

    async fn open_send(
        &mut self,
        this: Resource<Session>,
        path: String,
        mode: SendMode,
    ) -> HostResult<Resource<Upload>> {
        self.ctx.check_room(self.op_of(&this, Action::OpenUpload)?)?;
        let staging = self.ctx.policy.staging(self.table.get(&this)?.grant);
        let upload = self
            .on_session(&this, Action::OpenUpload, &[(&path, Access::Write)], async |c, p| {
                transfer::open_upload(c, &p[0], mode, staging).await
            })
            .await?;
        let upload = upload.into_upload(self.table.get(&this)?);
        self.push(upload)
    }

    async fn drop(&mut self, this: Resource<Session>) -> wasmtime::Result<()> {
        // The control connection closes (without waiting) once no transfer
        // opened on it is left either.
        self.table.delete(this)?;
        self.release();
        Ok(())
    }
}

impl FtpView<'_> {
    /// The operation `action` on session `this`, for messages before any path is known.
    fn op_of(&self, this: &Resource<Session>, action: Action) -> HostResult<Op<'_>> {
        let session = self.table.get(this)?;
        Ok(Op { server: &session.label, secure: session.secure, action, path: None })
    }
}
