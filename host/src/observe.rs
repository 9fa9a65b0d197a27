//! Watching streaming transfers from outside the sandbox: the CLI draws its
//! progress bars through [`TransferObserver`]; embedders can do the same.

use std::time::Duration;

use crate::error::Error;

/// Which way a transfer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the server.
    Download,
    /// To the server.
    Upload,
}

/// What a streaming transfer is, for observers.
#[derive(Clone, Debug)]
pub struct TransferInfo {
    /// Which way.
    pub direction: Direction,
    /// The server as the plugin names it: `host:port`, or `profile `NAME``.
    pub server: String,
    /// Whether the data connection is TLS-protected.
    pub secure: bool,
    /// The remote path.
    pub path: String,
    /// The remote file's size, if known (downloads only).
    pub size: Option<u64>,
    /// Where the transfer starts in the remote file.
    pub offset: u64,
}

/// Told about streaming transfers as they go. Calls come from the host's
/// async tasks and must not block.
pub trait TransferObserver: Send + Sync {
    /// A transfer started; the returned value follows it.
    fn started(&self, info: &TransferInfo) -> Box<dyn TransferProgress>;
}

/// Follows one transfer.
pub trait TransferProgress: Send + Sync {
    /// `total` bytes have moved so far.
    fn advanced(&self, total: u64);
    /// The transfer ended: `Ok(bytes)` once the server confirmed it.
    fn finished(&self, outcome: Result<u64, &Error>, elapsed: Duration);
}
