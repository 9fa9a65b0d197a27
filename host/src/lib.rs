//! ftp-host runs sandboxed WebAssembly plugins that move files over FTP and
//! FTPS, with no more power than their operator granted.
//!
//! A plugin is a WebAssembly component for the `plugin` world of
//! `wit/ftp.wit` (package `naas:ftp`). The host implements its `client`
//! interface with real sockets (suppaftp + rustls) behind one policy gate.
//!
//! Modules, one idea each:
//! * [`runtime`]: engine, linker, store; the embedding API ([`Host`], [`Plugin`]).
//! * [`session`]: the `naas:ftp/client` interface (`connect` and `session`).
//! * [`policy`]: the gate every dial, path and operation passes through; limits.
//! * [`error`]: the guest-visible error variant and the one mapping to it.
//! * [`tls`]: which certificates FTPS trusts.
//! * [`demo`]: the embedded FTP server and the bundled example plugin.
//! * [`cli`]: the `ftp-host` command line.

pub mod bindings;
pub mod cli;
pub mod demo;
pub mod error;
pub mod policy;
pub mod runtime;
pub mod session;
pub mod tls;

pub use policy::{Limits, Policy};
pub use runtime::{Host, LoadError, Output, Plugin, RunError, RunReport};
pub use session::Stats;
pub use tls::Trust;
