//! ftp-host runs sandboxed WebAssembly plugins that move files over FTP and
//! FTPS, with no more power than their operator granted.
//!
//! A plugin is a WebAssembly component for the `plugin` world of
//! `wit/ftp.wit` (package `naas:ftp`). The host implements its `client`
//! interface with real sockets (suppaftp + rustls) behind one policy gate.
//!
//! Modules, one idea each:
//! * `runtime`: engine, linker, store; the embedding API ([`Host`], [`Plugin`]).
//! * `client`: the `naas:ftp/client` interface (`connect`, `session`, streaming
//!   `download` and `upload`), each call through one operation helper.
//! * [`listing`]: parsing `MLSD` and `LIST` lines, and time stamps.
//! * [`policy`]: the gate every dial, path and operation passes through; limits.
//! * [`config`]: the policy file (`ftp-host.toml`).
//! * `error`: the guest-visible error variant and the one mapping to it.
//! * [`tls`]: which certificates FTPS trusts.
//! * `usage`: what a run used, against its budgets; [`audit`]: the JSON audit log.
//! * `observe`: watching streaming transfers (progress bars).
//! * `store_limits`: one memory budget for all of a run's memories and tables; instance, table, handle caps.
//! * [`cache`]: compiled plugins kept between runs, integrity-checked.
//! * [`connections`]: per-server connection limits (`max_connections`).
//! * `fleet` (feature `fleet`, default): workers, jobs and leases on NATS JetStream.
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

//! # A store of your own
//!
//! [`Plugin::run`] builds a fresh store per run. An embedder that keeps its
//! own store data puts an [`FtpCtx`] (from [`Host::ftp_ctx`], which carries
//! the policy, TLS settings and accounting) and a `ResourceTable` in it, and
//! links the interfaces with [`add_to_linker`] through a [`FtpView`]:
//!
//! ```
//! use ftp_host::wasmtime::component::{Component, Linker, ResourceTable};
//! use ftp_host::wasmtime::Store;
//! use ftp_host::wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
//! use ftp_host::{demo::EXAMPLE_PLUGIN, FtpCtx, FtpView, Host, Policy};
//!
//! struct MyState {
//!     wasi: WasiCtx,
//!     table: ResourceTable,
//!     ftp: FtpCtx,
//! }
//!
//! impl WasiView for MyState {
//!     fn ctx(&mut self) -> WasiCtxView<'_> {
//!         WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
//!     }
//! }
//!
//! # #[tokio::main] async fn main() -> anyhow::Result<()> {
//! let host = Host::new(Policy::new())?;
//! let mut linker = Linker::<MyState>::new(host.engine());
//! ftp_host::wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
//! ftp_host::add_to_linker(&mut linker, |s| FtpView { ctx: &mut s.ftp, table: &mut s.table })?;
//!
//! let state = MyState { wasi: WasiCtx::builder().build(), table: ResourceTable::new(), ftp: host.ftp_ctx("mine") };
//! let mut store = Store::new(host.engine(), state);
//! // The engine interrupts guests by epoch: give this store a deadline.
//! store.epoch_deadline_async_yield_and_update(1);
//! let component = Component::new(host.engine(), EXAMPLE_PLUGIN)?;
//! let instance = linker.instantiate_async(&mut store, &component).await?;
//! let run = instance.get_typed_func::<(Vec<String>,), (Result<String, String>,)>(&mut store, "run")?;
//! let (result,) = run.call_async(&mut store, (vec!["--host".into(), "ftp.example.com".into(), "ls".into()],)).await?;
//! // Nothing is granted: the plugin's connect was denied before any packet left.
//! assert!(result.unwrap_err().contains("denied"));
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

pub mod allocator;
pub mod audit;
mod bindings;
pub mod cache;
#[cfg(feature = "cli")]
pub mod cli;
mod client;
pub mod config;
pub mod connections;
#[cfg(feature = "demo")]
pub mod demo;
mod error;
mod file_streams;
#[cfg(feature = "fleet")]
pub mod fleet;
pub mod inspect;
pub mod listing;
mod observe;
pub mod policy;
#[cfg(feature = "cli")]
pub mod progress;
mod read_buffers;
mod runtime;
mod store_limits;
pub mod tls;
mod usage;

pub use audit::AuditLog;
pub use cache::{Cache, Origin};
pub use client::{add_to_linker, FtpCtx, FtpView};
pub use error::{describe, Action, Error as GuestError};
pub use observe::{Direction, TransferInfo, TransferObserver, TransferProgress};
pub use policy::{
    DirGrant, Grant, Hint, Limits, NetworkRules, PathRules, Policy, Profile, Refusal, RefusalKind, Secret, SecurityMode,
};
pub use runtime::{
    Host, LoadError, Output, Plugin, RunError, RunOptions, RunReport, MAX_CONCURRENT_RUNS, POOL_CORE_INSTANCES,
    POOL_MEMORIES, POOL_TABLES, POOL_TABLE_ELEMENTS,
};
pub use tls::Trust;
pub use usage::{LimitKind, Stats};
/// The wasmtime this crate is built on, for embedders' own stores.
pub use wasmtime;
/// The wasmtime-wasi this crate is built on.
pub use wasmtime_wasi;
