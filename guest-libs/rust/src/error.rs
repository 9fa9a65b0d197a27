//! The error type: one variant per WIT `error` case, plus conversions to and
//! from what the streams and local files report.

use std::fmt;

use crate::bindings::naas::ftp::types::Error as WitError;
use crate::bindings::wasi::io::streams::StreamError;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a call failed: the WIT `error` cases, each with the host's message
/// (which names the server, the operation and the path). `Display` shows
/// `KIND: message`, KIND being the WIT case (`not-found`, `auth`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The operator's policy does not allow this server, path or operation
    /// (also: a local path outside every granted directory).
    Denied(String),
    /// The server could not be reached, or the session was lost.
    Connect(String),
    /// TLS failed: refused, untrusted certificate, failed handshake.
    Tls(String),
    /// The server rejected the user name or password.
    Auth(String),
    /// The file or directory does not exist.
    NotFound(String),
    /// The server refused the operation on this path for this user.
    Permission(String),
    /// The operation did not finish within its deadline.
    Timeout(String),
    /// The server answered with an unexpected reply.
    Protocol {
        /// The FTP reply code (0 if the reply could not be parsed).
        code: u16,
        /// The server's reply text.
        message: String,
    },
    /// An argument is invalid.
    InvalidInput(String),
    /// A size limit set by the operator was reached.
    TooLarge(String),
    /// Any other I/O failure, on the network or on a local file.
    Io(String),
    /// The server does not implement the command (502/504, or missing from `FEAT`).
    Unsupported(String),
}

impl Error {
    /// The WIT case's name: `denied`, `not-found`, `protocol`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Denied(_) => "denied",
            Error::Connect(_) => "connect",
            Error::Tls(_) => "tls",
            Error::Auth(_) => "auth",
            Error::NotFound(_) => "not-found",
            Error::Permission(_) => "permission",
            Error::Timeout(_) => "timeout",
            Error::Protocol { .. } => "protocol",
            Error::InvalidInput(_) => "invalid-input",
            Error::TooLarge(_) => "too-large",
            Error::Io(_) => "io",
            Error::Unsupported(_) => "unsupported",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Protocol { code, message } => write!(f, "protocol: {code} {message}"),
            Error::Denied(m)
            | Error::Connect(m)
            | Error::Tls(m)
            | Error::Auth(m)
            | Error::NotFound(m)
            | Error::Permission(m)
            | Error::Timeout(m)
            | Error::InvalidInput(m)
            | Error::TooLarge(m)
            | Error::Io(m)
            | Error::Unsupported(m) => write!(f, "{}: {m}", self.kind()),
        }
    }
}

impl std::error::Error for Error {}

impl From<WitError> for Error {
    fn from(error: WitError) -> Self {
        match error {
            WitError::Denied(m) => Error::Denied(m),
            WitError::Connect(m) => Error::Connect(m),
            WitError::Tls(m) => Error::Tls(m),
            WitError::Auth(m) => Error::Auth(m),
            WitError::NotFound(m) => Error::NotFound(m),
            WitError::Permission(m) => Error::Permission(m),
            WitError::Timeout(m) => Error::Timeout(m),
            WitError::Protocol(p) => Error::Protocol { code: p.code, message: p.message },
            WitError::InvalidInput(m) => Error::InvalidInput(m),
            WitError::TooLarge(m) => Error::TooLarge(m),
            WitError::Io(m) => Error::Io(m),
            WitError::Unsupported(m) => Error::Unsupported(m),
        }
    }
}

/// So that `?` works in `run`, which returns `Result<String, String>`.
impl From<Error> for String {
    fn from(error: Error) -> Self {
        error.to_string()
    }
}

/// For the `std::io` adapters: the kind maps to the nearest `io::ErrorKind`,
/// and the [`Error`] stays inside (`io::Error::get_ref`).
impl From<Error> for std::io::Error {
    fn from(error: Error) -> Self {
        use std::io::ErrorKind;
        let kind = match &error {
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Denied(_) | Error::Permission(_) | Error::Auth(_) => ErrorKind::PermissionDenied,
            Error::Timeout(_) => ErrorKind::TimedOut,
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::Connect(_) => ErrorKind::ConnectionAborted,
            Error::Unsupported(_) => ErrorKind::Unsupported,
            _ => ErrorKind::Other,
        };
        std::io::Error::new(kind, error)
    }
}

/// A stream failure as an `io::Error` (`Closed` only reaches here on writes).
pub(crate) fn stream_error(error: StreamError) -> std::io::Error {
    match error {
        StreamError::Closed => std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the stream is closed"),
        StreamError::LastOperationFailed(e) => std::io::Error::other(e.to_debug_string()),
    }
}
