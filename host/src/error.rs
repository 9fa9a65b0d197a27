//! The two tiers of errors, and the operations they are about.
//!
//! * [`Error`] (generated from the WIT `error` variant) is what a guest may
//!   see and act on. [`from_ftp`] is the one place that turns suppaftp, I/O
//!   and TLS failures into it, and `From<Refusal>` the one place that turns
//!   a policy refusal into it. Every message names the server (or the
//!   profile), the operation and the path, and says how to fix what the user
//!   can fix.
//! * Host bugs and misuse of the component model (a stale resource handle)
//!   are `wasmtime::Error`s, which trap the guest. [`HostError`] carries
//!   either tier through `?`; bindgen's `trappable_error_type` splits them
//!   again at the boundary.
//!
//! No message built here ever contains a password: the only inputs are the
//! server label, the operation, the path and the server's reply.

use std::fmt;
use std::time::Duration;

use suppaftp::{FtpError, Status};

pub use crate::bindings::types::{Error, ProtocolError};
use crate::policy::{Refusal, RefusalKind};

/// How a TLS error says the certificate is not trusted: the operator can
/// trust its CA or pin it (the CLI turns this into its flags).
pub(crate) const UNTRUSTED_CERTIFICATE: &str =
    "; the operator can trust its CA (a CA file) or pin the certificate's SHA-256 in the policy";

/// `534`: the server requires TLS for this user (RFC 4217); suppaftp has no name for it.
const REPLY_TLS_REQUIRED: u16 = 534;
/// `522`: vsftpd's answer to a data connection without (resumed) TLS.
const REPLY_DATA_TLS_REFUSED: u16 = 522;

/// Every FTP operation the host performs for a guest, as audited and named
/// in messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Dial and greet a server.
    Connect,
    /// `AUTH TLS`, or `PBSZ`/`PROT` under implicit TLS.
    TlsNegotiation,
    /// `USER` + `PASS`.
    Login,
    /// `NLST` (`list-directory`).
    ListNames,
    /// `MLSD` or `LIST` (`list`).
    List,
    /// `stat`.
    Stat,
    /// Whole-file `RETR` into memory (`get`).
    Download,
    /// Whole-file `STOR` from memory (`send`).
    Upload,
    /// `SIZE`.
    Size,
    /// `PWD`.
    Pwd,
    /// `CWD`.
    Cwd,
    /// `QUIT`.
    Quit,
    /// `RETR` as a stream (`open-get`).
    OpenDownload,
    /// `STOR`/`APPE` as a stream (`open-send`).
    OpenUpload,
    /// The final reply of a streamed download.
    FinishDownload,
    /// The final reply of a streamed upload.
    FinishUpload,
    /// `RNFR`/`RNTO` of a staged upload onto its target.
    RenameIntoPlace,
    /// `MKD`.
    Mkdir,
    /// `RMD`.
    Rmdir,
    /// `DELE`.
    Delete,
    /// `RNFR` + `RNTO`.
    Rename,
    /// `MDTM`.
    Modified,
    /// `MFMT`.
    SetModified,
    /// `FEAT`.
    Features,
}

impl Action {
    /// The noun used in messages and the audit log.
    pub fn noun(self) -> &'static str {
        match self {
            Action::Connect => "connect",
            Action::TlsNegotiation => "TLS negotiation",
            Action::Login => "login",
            Action::ListNames => "listing",
            Action::List => "list",
            Action::Stat => "stat",
            Action::Download => "download",
            Action::Upload => "upload",
            Action::Size => "size",
            Action::Pwd => "pwd",
            Action::Cwd => "cwd",
            Action::Quit => "quit",
            Action::OpenDownload => "open download",
            Action::OpenUpload => "open upload",
            Action::FinishDownload => "finish download",
            Action::FinishUpload => "finish upload",
            Action::RenameIntoPlace => "rename into place",
            Action::Mkdir => "mkdir",
            Action::Rmdir => "rmdir",
            Action::Delete => "delete",
            Action::Rename => "rename",
            Action::Modified => "modified",
            Action::SetModified => "set-modified",
            Action::Features => "features",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.noun())
    }
}

/// What was being done when an error happened, for the error message.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Op<'a> {
    /// What the guest may see of the server: `host:port` for its own
    /// connections, `profile `NAME`` for the operator's.
    pub server: &'a str,
    /// Whether the session uses TLS: a refused data connection then most
    /// likely failed its TLS handshake.
    pub secure: bool,
    /// What was attempted.
    pub action: Action,
    /// The remote path involved, if any.
    pub path: Option<&'a str>,
}

impl fmt::Display for Op<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path {
            Some(path) => write!(f, "{} of `{}` on {}", self.action, path, self.server),
            None => write!(f, "{} on {}", self.action, self.server),
        }
    }
}

/// Either tier: a guest-visible [`Error`], or a trap. Host methods return
/// it so one `?` handles both.
#[derive(Debug)]
pub(crate) enum HostError {
    /// Returned to the guest as the WIT `error`.
    Guest(Error),
    /// Traps the guest: a host bug or a misuse of the component model.
    Trap(wasmtime::Error),
}

/// What every host method of `naas:ftp` returns.
pub(crate) type HostResult<T> = Result<T, HostError>;

impl From<Error> for HostError {
    fn from(e: Error) -> Self {
        HostError::Guest(e)
    }
}

impl From<wasmtime::Error> for HostError {
    fn from(e: wasmtime::Error) -> Self {
        HostError::Trap(e)
    }
}

impl From<wasmtime::component::ResourceTableError> for HostError {
    fn from(e: wasmtime::component::ResourceTableError) -> Self {
        HostError::Trap(e.into())
    }
}

impl From<Refusal> for HostError {
    fn from(r: Refusal) -> Self {
        HostError::Guest(r.into())
    }
}

/// The one mapping from a policy refusal to the guest's [`Error`].
impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        match r.kind {
            RefusalKind::Denied => Error::Denied(r.message),
            RefusalKind::Invalid => Error::InvalidInput(r.message),
        }
    }
}

/// Marker carried inside an `io::Error` when the policy refused a dial made
/// from inside suppaftp (the passive data connection), so that
/// [`from_ftp`] can report it as `denied` rather than a connection failure.
#[derive(Debug)]
pub(crate) struct PolicyDenied(pub String);

impl fmt::Display for PolicyDenied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyDenied {}

/// The operation did not finish in time.
pub(crate) fn timeout(op: Op<'_>, after: Duration) -> Error {
    Error::Timeout(format!(
        "{op} did not finish within {} ms; the server may be overloaded or unreachable",
        after.as_millis()
    ))
}

/// Map an I/O error of the control or data connection.
pub(crate) fn from_io(err: std::io::Error, op: Op<'_>) -> Error {
    use std::io::ErrorKind::*;
    if let Some(denied) = err.get_ref().and_then(|e| e.downcast_ref::<PolicyDenied>()) {
        return Error::Denied(format!("{op}: {denied}"));
    }
    if let Some(tls) = err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        return tls_error(tls, op);
    }
    if let Some(big) = err.get_ref().and_then(|e| e.downcast_ref::<suppaftp::ReplyTooLarge>()) {
        return Error::Protocol(ProtocolError {
            code: 0,
            message: format!("{op}: {big}; the server is broken or hostile"),
        });
    }
    match err.kind() {
        TimedOut => Error::Timeout(format!("{op}: {err}")),
        ConnectionRefused => {
            Error::Connect(format!("{op}: connection refused; check that the server is running and the port is right"))
        }
        ConnectionReset | ConnectionAborted | BrokenPipe | NotConnected | UnexpectedEof => {
            Error::Connect(format!("{op}: the connection was lost ({err})"))
        }
        HostUnreachable | NetworkUnreachable | AddrNotAvailable => Error::Connect(format!("{op}: {err}")),
        _ => Error::Io(format!("{op}: {err}")),
    }
}

/// A TLS failure, with what the operator can do about it.
fn tls_error(err: &rustls::Error, op: Op<'_>) -> Error {
    use rustls::CertificateError as C;
    let hint = match err {
        rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "; connect with a name the certificate lists, or have the certificate reissued"
        }
        rustls::Error::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => "; the server's administrator must renew its certificate",
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => UNTRUSTED_CERTIFICATE,
        rustls::Error::InvalidCertificate(C::Other(other))
            if other.0.downcast_ref::<crate::tls::PinMismatch>().is_some() =>
        {
            "; the certificate changed: confirm the new one with the server's administrator before re-pinning"
        }
        _ => "",
    };
    Error::Tls(format!("{op}: TLS failed: {err}{hint}"))
}

/// The one mapping from suppaftp's errors to the guest's [`Error`].
pub(crate) fn from_ftp(err: FtpError, op: Op<'_>) -> Error {
    match err {
        FtpError::ConnectionError(io) => from_io(io, op),
        // suppaftp flattens handshake failures to text; the rustls error inside
        // an io::Error (data connections) is typed and handled by from_io.
        FtpError::SecureError(detail) => {
            // suppaftp flattens the handshake's rustls error to its text.
            let untrusted = ["UnknownIssuer", "BadSignature"].iter().any(|c| detail.contains(c));
            let hint = if untrusted { UNTRUSTED_CERTIFICATE } else { "" };
            Error::Tls(format!("{op}: TLS failed: {}{hint}", detail.trim_start_matches("Secure error: ")))
        }
        FtpError::UnexpectedResponse(response) => {
            let text = String::from_utf8_lossy(&response.body).trim().to_string();
            // suppaftp reports codes it has no name for as 0: read them from the text.
            let code = match u16::try_from(response.status.code()).unwrap_or(0) {
                0 => text.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0),
                code => code,
            };
            from_reply(code, text, op)
        }
        FtpError::BadResponse => Error::Protocol(ProtocolError {
            code: 0,
            message: format!("{op}: the server sent a reply that is not valid FTP"),
        }),
        FtpError::InvalidAddress(e) => Error::Protocol(ProtocolError {
            code: 0,
            message: format!("{op}: the server sent an invalid address ({e})"),
        }),
        FtpError::DataConnectionAlreadyOpen => Error::InvalidInput(format!(
            "{op}: a download or upload is still open on this session; finish or drop it first"
        )),
    }
}

/// Classify a negative reply by its code, using the text only to tell
/// "no such file" from "not allowed" within 550, which servers share.
pub(crate) fn from_reply(code: u16, text: String, op: Op<'_>) -> Error {
    // Some replies reach us with their code still in front.
    let text = match text.strip_prefix(&code.to_string()) {
        Some(rest) if rest.starts_with([' ', '-']) => rest[1..].to_string(),
        _ => text,
    };
    let lower = text.to_ascii_lowercase();
    let not_found =
        ["no such", "not found", "does not exist", "doesn't exist", "not exist"].iter().any(|p| lower.contains(p));
    let refused = ["permission", "denied", "not allowed", "access"].iter().any(|p| lower.contains(p));
    let wants_tls = ["tls", "ssl", "encrypt", "secure"].iter().any(|p| lower.contains(p));
    // proftpd MaxClientsPerUser: `530 Sorry, the maximum number of clients (2) for this user are already connected.`
    let too_many = ["maximum number of clients", "too many", "max clients"].iter().any(|p| lower.contains(p));
    let status = Status::from(u32::from(code));
    let at_login = matches!(op.action, Action::Login | Action::Connect);
    match status {
        // pure-ftpd: `421 ... reconnect using TLS`; others 530/534 at login.
        Status::NotAvailable | Status::NotLoggedIn if at_login && wants_tls && !op.secure => {
            tls_required(code, &text, op)
        }
        _ if code == REPLY_TLS_REQUIRED && !op.secure => tls_required(code, &text, op),
        Status::NotAvailable | Status::NotLoggedIn if at_login && too_many => Error::Connect(format!(
            "{op}: the server refused the login: too many connections ({code} {text}); the operator can cap this \
             server's connections (max_connections) so runs wait for a free one"
        )),
        _ => from_status(status, code, text, not_found, refused, op),
    }
}

/// The server wants TLS: say so, and how to connect.
fn tls_required(code: u16, text: &str, op: Op<'_>) -> Error {
    Error::Tls(format!(
        "{op}: the server requires TLS ({code} {text}); connect with security explicit (or implicit on port 990)"
    ))
}

/// [`from_reply`] for replies that need only their status and text.
fn from_status(status: Status, code: u16, text: String, not_found: bool, refused: bool, op: Op<'_>) -> Error {
    match (status, op.action) {
        (Status::NotLoggedIn | Status::NeedPassword | Status::LoginNeedAccount, Action::Login) => {
            Error::Auth(format!("{op}: the server rejected the user name or password ({text}); check the credentials"))
        }
        (Status::NotLoggedIn | Status::StoringNeedAccount, _) => Error::Auth(format!("{op}: not logged in ({text})")),
        (_, Action::TlsNegotiation) => Error::Tls(format!(
            "{op}: the server refused AUTH TLS ({code} {text}); it may not offer FTPS: \
             ask its administrator, or use security none only on a network you trust"
        )),
        (Status::NotImplemented | Status::NotImplementedParameter | Status::CommandNotImplemented, _) => {
            Error::Unsupported(format!("{op}: the server does not implement this command ({code} {text})"))
        }
        // vsftpd says 522, proftpd 425, when a data connection's TLS handshake fails.
        (Status::CannotOpenDataConnection, _) | (Status::Unknown, _)
            if op.secure && (code == REPLY_DATA_TLS_REFUSED || status == Status::CannotOpenDataConnection) =>
        {
            Error::Tls(format!(
                "{op}: the server refused the data connection's TLS ({text}); servers that require \
                 TLS session reuse (vsftpd require_ssl_reuse, proftpd's default) refuse data \
                 connections that do not resume the control connection's session"
            ))
        }
        (Status::FileUnavailable | Status::RequestFileActionIgnored, _) if not_found => {
            Error::NotFound(format!("{op}: no such file or directory ({text})"))
        }
        (
            Status::FileUnavailable | Status::BadFilename | Status::RequestFileActionIgnored | Status::ExceededStorage,
            _,
        ) if refused => Error::Permission(format!("{op}: the server refused ({text})")),
        (Status::FileUnavailable, _) => Error::NotFound(format!("{op}: file unavailable ({text})")),
        (Status::BadFilename, _) => Error::Permission(format!("{op}: file name not allowed ({text})")),
        (Status::NotAvailable, _) => Error::Connect(format!(
            "{op}: the server closed the session ({text}); if it limits connections per user, \
             set max_connections for this server in the policy"
        )),
        (Status::CannotOpenDataConnection | Status::TransferAborted, _) => {
            Error::Io(format!("{op}: data connection failed ({text})"))
        }
        _ => Error::Protocol(ProtocolError { code, message: format!("{op}: {text}") }),
    }
}

/// Errors after which the control connection cannot be trusted: it timed
/// out mid-reply, is gone, or sent something that is not FTP.
pub(crate) fn breaks_session(e: &Error) -> bool {
    matches!(e, Error::Timeout(_) | Error::Connect(_) | Error::Protocol(ProtocolError { code: 0, .. }))
}

/// `KIND: message`, KIND being the WIT case: how the host shows a guest error
/// in a `wasi:io` stream error, in logs and in the audit log.
pub fn describe(error: &Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn login() -> Op<'static> {
        Op { server: "profile `partner`", secure: false, action: Action::Login, path: None }
    }

    #[test]
    fn a_login_refused_for_too_many_connections_names_max_connections() {
        let text = "Sorry, the maximum number of clients (2) for this user are already connected.".to_string();
        let error = from_reply(530, text, login());
        assert!(matches!(&error, Error::Connect(m) if m.contains("max_connections")), "{error:?}");
    }

    #[test]
    fn a_reply_code_is_shown_once() {
        let error = from_reply(534, "534 A TLS connection is required".into(), login());
        assert!(matches!(&error, Error::Tls(m) if m.contains("(534 A TLS") && !m.contains("534 534")), "{error:?}");
    }
}
