//! `connect` (the plugin's own credentials, to a granted server) and
//! `connect-profile` (the operator's credentials, by name): the gate picks
//! the grant, then one path opens the session with its retries and budgets.

use std::time::Instant;

use wasmtime::component::Resource;

use super::dial::{self, Dial};
use super::session::{Control, Session};
use super::{FtpView, SessionSlot};
use crate::bindings::client;
use crate::bindings::types::{ConnectOptions, Security};
use crate::error::{Action, Error, HostResult, Op};
use crate::policy::{server_label, Refusal, SecurityMode};
use crate::usage::LimitKind;

impl client::Host for FtpView<'_> {
    async fn connect(&mut self, options: ConnectOptions) -> HostResult<Resource<Session>> {
        let ConnectOptions { host, port, user, password, security, force_prot, timeout_ms } = options;
        let security = match security {
            Security::None => SecurityMode::None,
            Security::Explicit => SecurityMode::Explicit,
            Security::Implicit => SecurityMode::Implicit,
        };
        let port = port.unwrap_or(security.default_port());
        let label = server_label(&host, port);
        let grant = if force_prot && security == SecurityMode::None {
            Err(Refusal::invalid(format!(
                "connect to {label}: force-prot needs TLS; set security to explicit or implicit"
            )))
        } else {
            self.ctx.policy.check_connect(&host, port)
        };
        let timeout = self.ctx.policy.timeout(timeout_ms);
        let dial = grant.map(|grant| Dial {
            grant,
            host: &host,
            port,
            user: &user,
            password: &password,
            security,
            timeout,
            label: &label,
        });
        self.open(&label, &label, dial).await
    }

    async fn connect_profile(&mut self, name: String) -> HostResult<Resource<Session>> {
        let policy = self.ctx.policy.clone();
        // Errors name the profile: the plugin never learns the address.
        let label = format!("profile `{name}`");
        let profile = policy.check_profile(&name).and_then(|(grant, p)| match p.force_prot {
            // The same rule as a guest's own connect: PROT P needs TLS.
            true if p.security == SecurityMode::None => Err(Refusal::invalid(format!(
                "{label}: force_prot is set without TLS; the operator must fix the profile"
            ))),
            _ => Ok((grant, p)),
        });
        let address = profile.as_ref().map_or_else(|_| label.clone(), |(_, p)| server_label(&p.host, p.port()));
        let dial = profile.map(|(grant, p)| Dial {
            grant,
            host: &p.host,
            port: p.port(),
            user: &p.user,
            password: p.password.expose(),
            security: p.security,
            timeout: policy.timeout(None),
            label: &label,
        });
        self.open(&label, &address, dial).await
    }
}

impl FtpView<'_> {
    /// Open a session through the gate's chosen grant (retrying a failed
    /// connect as the policy allows) and push it.
    async fn open(
        &mut self,
        label: &str,
        address: &str,
        dial: Result<Dial<'_>, Refusal>,
    ) -> HostResult<Resource<Session>> {
        let started = Instant::now();
        let op = Op { server: label, secure: false, action: Action::Connect, path: None };
        let limits = self.ctx.policy.limits().clone();
        let gate = self.ctx.usage.begin(op).and(dial).and_then(|dial| {
            self.ctx.check_room(op)?;
            let slot = SessionSlot::take(&self.ctx.open_sessions, limits.max_sessions).ok_or_else(|| {
                self.ctx.usage.hit(LimitKind::Sessions);
                Refusal::denied(format!(
                    "{op}: this plugin already has {} sessions open, the most its operator allows; quit one first",
                    limits.max_sessions
                ))
            })?;
            Ok((dial, slot))
        });
        let (dial, slot) = match gate {
            Ok(gate) => gate,
            Err(refusal) => return Err(self.ctx.usage.record_refusal(op, address, started, refusal).into()),
        };
        let usage = self.ctx.usage.clone();
        let waiting = usage.waiting();
        let mut opened = dial::open(self.ctx, &dial).await;
        let mut backoff = limits.connect_backoff;
        for _ in 0..limits.connect_retries {
            // Unreachable, reset, timed out, or `421 too many connections`: worth another try.
            if !matches!(opened, Err(Error::Connect(_)) | Err(Error::Timeout(_))) {
                break;
            }
            tracing::info!(target: "ftp_host::ftp", server = address, "connect failed; retrying in {backoff:?}");
            tokio::time::sleep(backoff).await;
            backoff *= 2;
            opened = dial::open(self.ctx, &dial).await;
        }
        drop(waiting);
        let secure = dial.security != SecurityMode::None;
        let op = Op { secure, ..op };
        usage.record(op, address, started.elapsed(), 0, &opened);
        let opened = opened?;
        let session = Session {
            control: Control::new(opened.ftp, opened.features, slot, opened.permit),
            label: label.to_string(),
            address: address.to_string(),
            timeout: dial.timeout,
            secure,
            grant: dial.grant,
            cwd: opened.cwd,
        };
        self.push(session)
    }
}
