//! Loading and running plugins: the wasmtime engine, the linker, the store
//! each run gets, and the public embedding API ([`Host`], [`Plugin`]).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{Plugin as PluginBindings, PluginPre};
use crate::policy::Policy;
use crate::session::{self, FtpCtx, FtpView, Stats};
use crate::transfer::TransferObserver;

/// Most bytes of a plugin's stdout or stderr kept when output is captured.
pub const MAX_CAPTURED_OUTPUT: usize = 16 * 1024 * 1024;

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read plugin {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not a WebAssembly component, or do not target the
    /// `naas:ftp/plugin` world.
    #[error("not a naas:ftp plugin: {0:#}\n(a plugin is a WebAssembly component built for the `plugin` world of wit/ftp.wit, e.g. with `cargo build --target wasm32-wasip2`)")]
    NotAPlugin(wasmtime::Error),
}

/// Why a run failed on the host's side (a plugin returning `err` is not a
/// failure of the run: see [`RunReport::result`]).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The plugin trapped: a bug in it, or a limit it hit.
    #[error("plugin trapped: {0:#}")]
    Trap(wasmtime::Error),
    /// The plugin could not be started.
    #[error("plugin could not start: {0:#}")]
    Instantiate(wasmtime::Error),
}

/// Where a plugin's stdout and stderr go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// The host process's own stdout and stderr.
    Inherit,
    /// Kept in the [`RunReport`], up to [`MAX_CAPTURED_OUTPUT`] bytes each.
    Capture,
}

/// What one run of a plugin produced.
#[derive(Debug)]
pub struct RunReport {
    /// The plugin's own verdict: its `run` export's result.
    pub result: Result<String, String>,
    /// Captured stdout (empty with [`Output::Inherit`]).
    pub stdout: Vec<u8>,
    /// Captured stderr (empty with [`Output::Inherit`]).
    pub stderr: Vec<u8>,
    /// What the plugin did through the FTP client.
    pub stats: Stats,
    /// Wall-clock time of the run.
    pub duration: Duration,
}

/// The store data of one run.
struct RunState {
    wasi: WasiCtx,
    table: ResourceTable,
    ftp: FtpCtx,
    limits: StoreLimits,
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

fn ftp_view(state: &mut RunState) -> FtpView<'_> {
    FtpView { ctx: &mut state.ftp, table: &mut state.table }
}

/// A plugin host: an engine, the interfaces plugins may import, and the
/// operator's policy. Create one and load any number of plugins with it.
///
/// ```no_run
/// # async fn example() -> anyhow::Result<()> {
/// use ftp_host::{Host, Output, Policy};
///
/// let policy = Policy::new().allow("ftp.example.com:21")?;
/// let host = Host::new(policy)?;
/// let plugin = host.load_file("plugin.wasm".as_ref())?;
/// let report = plugin.run(&["ls".to_string()], Output::Capture).await?;
/// println!("{:?}: {}", report.result, String::from_utf8_lossy(&report.stdout));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Host {
    engine: Engine,
    linker: Arc<Linker<RunState>>,
    policy: Arc<Policy>,
    /// One TLS client configuration per grant, built once per host.
    tls: Arc<[Arc<rustls::ClientConfig>]>,
    observer: Option<Arc<dyn TransferObserver>>,
}

impl Host {
    /// A host enforcing `policy`.
    pub fn new(policy: Policy) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        // All of WASI p2 is linked because guest toolchains import it whether
        // used or not; the WasiCtx built per run grants no sockets, and no
        // files beyond the policy's granted directories.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        session::add_to_linker(&mut linker, ftp_view)?;
        let tls = policy.tls_configs()?.into();
        Ok(Host { engine, linker: Arc::new(linker), policy: Arc::new(policy), tls, observer: None })
    }

    /// Tell `observer` about every streaming transfer (the CLI's progress bars).
    pub fn with_observer(mut self, observer: Arc<dyn TransferObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The policy plugins of this host run under.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Compile a plugin from component bytes (or WAT text) and check that it
    /// targets the `naas:ftp/plugin` world.
    pub fn load(&self, bytes: &[u8]) -> Result<Plugin, LoadError> {
        let component = Component::new(&self.engine, bytes).map_err(LoadError::NotAPlugin)?;
        let pre = self.linker.instantiate_pre(&component).map_err(LoadError::NotAPlugin)?;
        let pre = PluginPre::new(pre).map_err(LoadError::NotAPlugin)?;
        Ok(Plugin { host: self.clone(), pre })
    }

    /// Read and [`load`](Self::load) a plugin file.
    pub fn load_file(&self, path: &Path) -> Result<Plugin, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read { path: path.display().to_string(), source })?;
        self.load(&bytes)
    }
}

/// A compiled plugin, ready to run any number of times.
#[derive(Clone)]
pub struct Plugin {
    host: Host,
    pre: PluginPre<RunState>,
}

impl Plugin {
    /// Run the plugin's `run` export once, in a fresh sandbox.
    pub async fn run(&self, args: &[String], output: Output) -> Result<RunReport, RunError> {
        let started = Instant::now();
        let policy = &self.host.policy;
        let mut wasi = WasiCtx::builder();
        wasi.args(&[String::from("plugin")]);
        for dir in policy.dirs() {
            wasi.preopened_dir(&dir.host, &dir.guest, FsPerms::ReadWrite)
                .map_err(|e| RunError::Instantiate(e.context(format!("cannot open granted directory {}", dir.host.display()))))?;
        }
        let pipes = match output {
            Output::Inherit => {
                wasi.inherit_stdout().inherit_stderr();
                None
            }
            Output::Capture => {
                let out = MemoryOutputPipe::new(MAX_CAPTURED_OUTPUT);
                let err = MemoryOutputPipe::new(MAX_CAPTURED_OUTPUT);
                wasi.stdout(out.clone()).stderr(err.clone());
                Some((out, err))
            }
        };
        let state = RunState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            ftp: FtpCtx::new(policy.clone(), self.host.tls.clone(), self.host.observer.clone()),
            limits: StoreLimitsBuilder::new().memory_size(policy.limits().max_memory_bytes).instances(16).build(),
        };
        let mut store = Store::new(&self.host.engine, state);
        store.limiter(|s| &mut s.limits);

        let instance: PluginBindings = self.pre.instantiate_async(&mut store).await.map_err(RunError::Instantiate)?;
        let result = instance.call_run(&mut store, args).await.map_err(RunError::Trap)?;
        let stats = store.data().ftp.stats();
        let (stdout, stderr) = match pipes {
            Some((out, err)) => (out.contents().to_vec(), err.contents().to_vec()),
            None => (Vec::new(), Vec::new()),
        };
        Ok(RunReport { result, stdout, stderr, stats, duration: started.elapsed() })
    }
}
