//! The `naas:ftp/client` interface, implemented with suppaftp over sockets
//! the host dials itself.
//!
//! * this module: the per-run state ([`FtpCtx`]), the view the host traits
//!   are implemented on ([`FtpView`]), the linker glue, and
//!   [`FtpView::on_session`], the one helper every session operation runs
//!   through (budget, policy gate, deadline, accounting, audit);
//! * [`dial`]: opening a control connection (resolve, gate, TLS, login);
//! * [`connect`]: `connect` and `connect-profile`;
//! * [`session`]: the `session` resource, one short method per WIT call;
//! * [`ops`]: the FTP protocol steps those methods run, as free functions;
//! * [`transfer`]: streaming `download` and `upload` and their streams;
//! * [`pump`]: read-ahead and write-behind on their data connections;
//! * [`plain_copy`] and [`tls_copy`]: `save-to` and `send-from` of a plain
//!   and of a TLS transfer, each on one blocking-pool thread; [`mover`]:
//!   what such a thread (and a pump's) shares with its caller, and how it
//!   has the socket; [`wire`]: how those threads receive and send, plain
//!   or through rustls.

mod connect;
mod dial;
mod mover;
mod ops;
mod plain_copy;
mod pump;
mod session;
#[cfg(test)]
mod test_support;
mod tls_copy;
mod transfer;
mod wire;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use suppaftp::tokio::AsyncRustlsFtpStream;
use suppaftp::FtpResult;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use crate::bindings::{client, types};
use crate::connections::ConnectionLimiter;
use crate::error::{self, Action, Error, HostError, HostResult, Op};
use crate::policy::{Access, Policy, Refusal};
use crate::usage::{LimitKind, Usage};

// Public (named by the bindings) but not reachable from outside the crate.
pub use session::Session;
pub use transfer::{Download, Upload};

/// Per-run state of the FTP client: the policy, the TLS configurations and
/// what the run holds and has used.
pub struct FtpCtx {
    policy: Arc<Policy>,
    /// One TLS configuration per grant of `policy`, in grant order.
    tls: Arc<[Arc<rustls::ClientConfig>]>,
    /// Control connections alive now. A connection counts until the last
    /// thing using it (its session, a transfer opened on it) is gone.
    open_sessions: Arc<AtomicUsize>,
    /// Sessions, downloads and uploads held now.
    resources: usize,
    usage: Arc<Usage>,
    /// Slots under each server's `max_connections`, shared beyond this run.
    connections: Option<Arc<dyn ConnectionLimiter>>,
}

impl FtpCtx {
    pub(crate) fn new(policy: Arc<Policy>, tls: Arc<[Arc<rustls::ClientConfig>]>, usage: Arc<Usage>) -> Self {
        FtpCtx { policy, tls, open_sessions: Arc::default(), resources: 0, usage, connections: None }
    }

    /// Count control connections against each server's `max_connections`
    /// with `limiter` (shared by every run of a host, or a whole fleet).
    pub(crate) fn with_connections(mut self, limiter: Arc<dyn ConnectionLimiter>) -> Self {
        self.connections = Some(limiter);
        self
    }

    /// What the run has used, shared with its transfers.
    pub(crate) fn usage(&self) -> &Arc<Usage> {
        &self.usage
    }

    /// Refuse before any network work if one more resource would pass the
    /// cap. The slot is taken by [`FtpView::push`] once the resource exists
    /// (calls on one store never overlap, so nothing can take it in between).
    fn check_room(&self, op: Op<'_>) -> Result<(), Refusal> {
        let max = self.policy.limits().max_resources;
        if self.resources >= max {
            self.usage.hit(LimitKind::Resources);
            return Err(Refusal::denied(format!(
                "{op}: this plugin holds {max} sessions and transfers, the most its operator allows; finish or drop some"
            )));
        }
        Ok(())
    }
}

/// Holds one of a run's session slots; dropped with the control connection.
pub(crate) struct SessionSlot(Arc<AtomicUsize>);

impl SessionSlot {
    /// Take a slot if fewer than `max` are taken.
    fn take(open: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| SessionSlot(open.clone()))
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The view the host traits are implemented on: borrowed from any store
/// that carries an [`FtpCtx`] and a `ResourceTable`.
pub struct FtpView<'a> {
    /// The FTP client's state.
    pub ctx: &'a mut FtpCtx,
    /// The store's resource table, which holds sessions and transfers.
    pub table: &'a mut ResourceTable,
}

struct HasFtp;

impl HasData for HasFtp {
    type Data<'a> = FtpView<'a>;
}

/// Add the `naas:ftp` interfaces to `linker`; `view` borrows the FTP state
/// out of the store's data.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> FtpView<'_>,
) -> wasmtime::Result<()> {
    types::add_to_linker::<T, HasFtp>(linker, view)?;
    client::add_to_linker::<T, HasFtp>(linker, view)
}

impl types::Host for FtpView<'_> {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<Error> {
        match err {
            HostError::Guest(e) => Ok(e),
            HostError::Trap(t) => Err(t),
        }
    }
}

/// Run one network step under its deadline, mapping its error.
pub(crate) async fn deadline<T>(
    timeout: Duration,
    op: Op<'_>,
    fut: impl Future<Output = FtpResult<T>>,
) -> Result<T, Error> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(error::from_ftp(err, op)),
        Err(_) => Err(error::timeout(op, timeout)),
    }
}

/// What an operation's protocol steps get: the control connection, the
/// operation for messages, its deadline, and the run's accounting.
pub(crate) struct Conn<'a> {
    ftp: &'a mut AsyncRustlsFtpStream,
    /// The session's cached `FEAT` answer.
    features: &'a mut Option<Vec<String>>,
    pub op: Op<'a>,
    pub timeout: Duration,
    pub usage: &'a Arc<Usage>,
    pub policy: &'a Arc<Policy>,
    /// The grant the session was opened under.
    pub grant: usize,
    /// Bytes the operation moved, for the audit line.
    pub moved: u64,
}

impl<'a> Conn<'a> {
    /// Run one suppaftp call under the operation's deadline.
    pub async fn call<'s, T, F>(&'s mut self, f: impl FnOnce(&'s mut AsyncRustlsFtpStream) -> F) -> Result<T, Error>
    where
        F: Future<Output = FtpResult<T>> + 's,
    {
        let (timeout, op) = (self.timeout, self.op);
        deadline(timeout, op, f(self.ftp)).await
    }

    /// The server's `FEAT` lines, asked once per session; empty when the
    /// server has no `FEAT`. Turns on `OPTS UTF8 ON` when offered.
    pub async fn features(&mut self) -> Result<Vec<String>, Error> {
        if let Some(features) = self.features.as_ref() {
            return Ok(features.clone());
        }
        let features = ops::features(self).await?;
        *self.features = Some(features.clone());
        Ok(features)
    }
}

impl FtpView<'_> {
    /// Put a new session or transfer in the table, taking its resource slot.
    fn push<T: Send + 'static>(&mut self, resource: T) -> HostResult<Resource<T>> {
        let resource = self.table.push(resource)?;
        self.ctx.resources += 1;
        Ok(resource)
    }

    /// Give back a resource slot.
    fn release(&mut self) {
        self.ctx.resources = self.ctx.resources.saturating_sub(1);
    }

    /// Run one operation on a session: count it against the run's budget,
    /// pass every path through the policy gate (refusals are audited, and
    /// nothing reaches the server), run `body` on the control connection
    /// under the deadline, close the session if the connection broke, and
    /// trace and audit the outcome. `paths` are the guest's paths with the
    /// access each needs; `body` gets them normalised, as the server is sent
    /// them. This is where every session call of the WIT goes through.
    pub(crate) async fn on_session<T>(
        &mut self,
        this: &Resource<Session>,
        action: Action,
        paths: &[(&str, Access)],
        body: impl AsyncFnOnce(&mut Conn<'_>, &[String]) -> Result<T, Error>,
    ) -> HostResult<T> {
        let started = Instant::now();
        let session = self.table.get(this)?;
        let (label, address, secure, grant, cwd, timeout) = (
            session.label.clone(),
            session.address.clone(),
            session.secure,
            session.grant,
            session.cwd.clone(),
            session.timeout,
        );
        let op = Op { server: &label, secure, action, path: paths.first().map(|p| p.0) };
        let gate = self.ctx.usage.begin(op).and_then(|()| {
            paths.iter().map(|(path, access)| self.ctx.policy.check_path(grant, &cwd, path, *access, &op)).collect()
        });
        let targets: Vec<String> = match gate {
            Ok(targets) => targets,
            Err(refusal) => return Err(self.ctx.usage.record_refusal(op, &address, started, refusal).into()),
        };
        let op = Op { path: targets.first().map(String::as_str), ..op };
        let usage = self.ctx.usage.clone();
        let policy = self.ctx.policy.clone();
        let control = self.table.get(this)?.control.clone();
        let _waiting = usage.waiting();
        let mut control = control.lock().await;
        let (result, moved) = match control.parts() {
            Err(closed) => (Err(closed.error(op)), 0),
            Ok((ftp, features)) => {
                let mut conn = Conn { ftp, features, op, timeout, usage: &usage, policy: &policy, grant, moved: 0 };
                let result = body(&mut conn, &targets).await;
                (result, conn.moved)
            }
        };
        control.after(&result);
        drop(control);
        usage.record(op, &address, started.elapsed(), moved, &result);
        Ok(result?)
    }
}
