//! The two tiers of errors.
//!
//! * [`Error`] (generated from the WIT `error` variant) is what a guest may
//!   see and act on. `from_ftp` is the one place that turns suppaftp, I/O and
//!   TLS failures into it; every message names the server, the operation and
//!   the path, and says how to fix what the user can fix.
//! * Host bugs and misuse of the component model (a stale resource handle)
//!   are `wasmtime::Error`s, which trap the guest.
//!
//! No message built here ever contains a password: the only inputs are the
//! server label, the operation, the path and the server's reply.

use std::fmt;
use std::time::Duration;

use suppaftp::FtpError;

pub use crate::bindings::types::{Error, ProtocolError};

/// What was being done when an error happened, for the error message.
#[derive(Clone, Copy)]
pub(crate) struct Op<'a> {
    /// `host:port` of the server.
    pub server: &'a str,
    /// Whether the session uses TLS: a refused data connection then most
    /// likely failed its TLS handshake.
    pub secure: bool,
    /// What was attempted, as a noun phrase: "login", "download", "listing".
    pub action: &'static str,
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
        return tls_error(&tls.to_string(), op);
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

fn tls_error(detail: &str, op: Op<'_>) -> Error {
    let hint = if detail.contains("not valid for name") {
        "; connect with a name the certificate lists, or have the certificate reissued"
    } else if detail.contains("Expired") || detail.contains("expired") || detail.contains("NotValidYet") {
        "; the server's administrator must renew its certificate"
    } else if detail.contains("UnknownIssuer") || detail.contains("BadSignature") {
        "; the operator can trust its CA (--ca-file) or pin the certificate (--pin-cert)"
    } else if detail.contains("pinned") {
        "; the certificate changed: confirm the new one with the server's administrator before re-pinning"
    } else {
        ""
    };
    Error::Tls(format!("{op}: TLS failed: {detail}{hint}"))
}

/// The one mapping from suppaftp's errors to the guest's [`Error`].
pub(crate) fn from_ftp(err: FtpError, op: Op<'_>) -> Error {
    match err {
        FtpError::ConnectionError(io) => from_io(io, op),
        FtpError::SecureError(detail) => tls_error(detail.trim_start_matches("Secure error: "), op),
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
fn from_reply(code: u16, text: String, op: Op<'_>) -> Error {
    let lower = text.to_ascii_lowercase();
    let not_found =
        ["no such", "not found", "does not exist", "doesn't exist", "not exist"].iter().any(|p| lower.contains(p));
    let refused = ["permission", "denied", "not allowed", "access"].iter().any(|p| lower.contains(p));
    match code {
        530 | 331 | 332 if op.action == "login" => {
            Error::Auth(format!("{op}: the server rejected the user name or password ({text}); check the credentials"))
        }
        530 | 532 => Error::Auth(format!("{op}: not logged in ({text})")),
        _ if op.action == "TLS negotiation" => Error::Tls(format!(
            "{op}: the server refused AUTH TLS ({code} {text}); it may not offer FTPS: \
             ask its administrator, or use security none only on a network you trust"
        )),
        // vsftpd says 522, proftpd 425, when a data connection's TLS handshake fails.
        522 | 425 if op.secure => Error::Tls(format!(
            "{op}: the server refused the data connection's TLS ({text}); servers that require \
             TLS session reuse (vsftpd require_ssl_reuse, proftpd's default) refuse data \
             connections that do not resume the control connection's session"
        )),
        550 | 450 if not_found => Error::NotFound(format!("{op}: no such file or directory ({text})")),
        550 | 553 | 450 | 552 if refused => Error::Permission(format!("{op}: the server refused ({text})")),
        550 => Error::NotFound(format!("{op}: file unavailable ({text})")),
        553 => Error::Permission(format!("{op}: file name not allowed ({text})")),
        421 => Error::Connect(format!("{op}: the server closed the session ({text})")),
        425 | 426 => Error::Io(format!("{op}: data connection failed ({text})")),
        _ => Error::Protocol(ProtocolError { code, message: format!("{op}: {text}") }),
    }
}

/// `KIND: message`, KIND being the WIT case: how the host shows a guest error
/// in a `wasi:io` stream error and in logs.
pub(crate) fn describe(error: &Error) -> String {
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
