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
//! * [`transfer`]: streaming downloads and uploads (`download`, `upload` and their `wasi:io` streams).
//! * [`policy`]: the gate every dial, path and operation passes through; limits.
//! * [`config`]: the policy file (`ftp-host.toml`).
//! * [`error`]: the guest-visible error variant and the one mapping to it.
//! * [`tls`]: which certificates FTPS trusts.
//! * [`store_limits`]: one memory budget for all of a run's memories and tables; instance, table, handle caps.
//! * [`usage`]: what a run used, against its budgets; [`audit`]: the JSON audit log.
//! * [`cache`]: compiled plugins kept between runs, integrity-checked.
//! * [`demo`]: the embedded FTP server and the bundled example plugin.
//! * [`inspect`]: what a plugin asks for, before it runs.
//! * [`progress`]: progress bars and rate lines for the CLI.
//! * [`cli`]: the `ftp-host` command line.
//!
//! # Embedding
//!
//! Grant servers in a [`Policy`], create a [`Host`], load a plugin, run it:
//!
//! ```
//! use ftp_host::demo::{DemoServer, DEMO_USER, EXAMPLE_PLUGIN};
//! use ftp_host::{Host, Output, Policy};
//!
//! # #[tokio::main] async fn main() -> anyhow::Result<()> {
//! // An FTP server to talk to: the embedded one, serving a temp dir.
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("hello.txt"), "hi")?;
//! let server = DemoServer::start(dir.path(), "pw").await?;
//! let addr = server.addr();
//!
//! // The plugin may reach this one server and nothing else.
//! let host = Host::new(Policy::new().allow(&addr.to_string())?)?;
//! let plugin = host.load(EXAMPLE_PLUGIN)?;
//! let args: Vec<String> = ["--host", "127.0.0.1", "--port", &addr.port().to_string(),
//!     "--user", DEMO_USER, "--password", "pw", "ls"].map(String::from).into();
//! let report = plugin.run(&args, Output::Capture).await?;
//!
//! assert_eq!(report.result, Ok("1 entries".to_string()));
//! assert_eq!(report.stdout, b"hello.txt\n");
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

pub mod audit;
pub mod bindings;
pub mod cache;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod inspect;
pub mod policy;
pub mod progress;
pub mod runtime;
pub mod session;
pub mod store_limits;
pub mod tls;
pub mod transfer;
pub mod usage;

pub use audit::AuditLog;
pub use cache::{Cache, Origin};
pub use policy::{DirGrant, Grant, Limits, NetworkRules, PathRules, Policy, Profile, Secret, SecurityMode};
pub use runtime::{Host, LoadError, Output, Plugin, RunError, RunReport};
pub use tls::Trust;
pub use transfer::{TransferInfo, TransferObserver, TransferProgress};
pub use usage::Stats;
