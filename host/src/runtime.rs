//! Loading and running plugins: the wasmtime engine, the linker, the store
//! each run gets, and the public embedding API ([`Host`], [`Plugin`]).

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolConcurrencyLimitError, PoolingAllocationConfig, Store,
    UpdateDeadline,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

use crate::audit::AuditLog;
use crate::bindings::{Plugin as PluginBindings, PluginPre};
use crate::cache::{Cache, Origin};
use crate::client::{self, FtpCtx, FtpView};
use crate::connections::{ConnectionLimiter, LocalLimiter};
use crate::observe::TransferObserver;
use crate::policy::{Hint, Policy};
use crate::store_limits::{RunLimiter, StoreCaps, StoreLimit};
use crate::usage::{LimitKind, Stats};

/// Most bytes of a plugin's stdout or stderr kept when output is captured.
pub const MAX_CAPTURED_OUTPUT: usize = 16 * 1024 * 1024;
/// How often the engine's epoch advances: the granularity of the CPU limit,
/// and how often a busy plugin yields to others on the same thread.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Most plugin runs at once in one process (the instance pool's size).
/// One more run is refused with
/// [`RunError::Limit`] rather than waiting.
pub const MAX_CONCURRENT_RUNS: u32 = 256;

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
    /// The component needs more instances, memories or tables than the
    /// host's whole instance pool holds ([`POOL_MEMORIES`] and the others).
    #[error("the plugin is too big for this host's instance pool: {0:#}")]
    TooBigForPool(wasmtime::Error),
}

impl LoadError {
    /// A failure to compile or link `component`, told apart from a pool
    /// that is too small for it (wasmtime checks the pool when it loads).
    fn of(error: wasmtime::Error) -> LoadError {
        if format!("{error:#}").contains("pooling allocator") {
            LoadError::TooBigForPool(error)
        } else {
            LoadError::NotAPlugin(error)
        }
    }
}

/// Why a run failed on the host's side (a plugin returning `err` is not a
/// failure of the run: see [`RunReport::result`]).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The plugin trapped: a bug in it.
    #[error("plugin trapped: {0:#}")]
    Trap(wasmtime::Error),
    /// The plugin hit one of the operator's limits and was stopped.
    #[error("plugin stopped: {message}")]
    Limit {
        /// Which limit.
        limit: LimitKind,
        /// What happened, for the operator.
        message: String,
    },
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
    /// The operator's limits that stopped an operation of the plugin (which
    /// may have handled the error), as the host saw them.
    pub limits_hit: Vec<LimitKind>,
    /// What the operator could grant to allow the requests the policy refused.
    pub hints: Vec<Hint>,
}

/// Per-run extras for embedders that run jobs (the fleet worker).
#[derive(Default)]
pub struct RunOptions {
    /// Environment variables the plugin sees (none by default).
    pub env: Vec<(String, String)>,
    /// Audit this run here instead of the host's audit log.
    pub audit: Option<Arc<AuditLog>>,
}

/// The store data of one run.
struct RunState {
    wasi: WasiCtx,
    table: ResourceTable,
    ftp: FtpCtx,
    limits: RunLimiter,
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
    /// Runs holding slots of the engine's pool (shared by its hosts).
    live_runs: Arc<AtomicU32>,
    linker: Arc<Linker<RunState>>,
    policy: Arc<Policy>,
    /// One TLS client configuration per grant, built once per host.
    tls: Arc<[Arc<rustls::ClientConfig>]>,
    observer: Option<Arc<dyn TransferObserver>>,
    audit: Option<Arc<AuditLog>>,
    cache: Option<Cache>,
    /// Slots under each server's `max_connections`, shared by every run.
    connections: Arc<dyn ConnectionLimiter>,
}

impl Host {
    /// A host enforcing `policy`.
    pub fn new(policy: Policy) -> anyhow::Result<Self> {
        let (engine, live_runs) = shared_engine()?;
        let mut linker = Linker::new(&engine);
        // All of WASI p2 is linked because guest toolchains import it whether
        // used or not; the WasiCtx built per run grants no sockets, and no
        // files beyond the policy's granted directories.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        // Granted files stream 1 MiB per blocking-pool trip (wasmtime-wasi's: 64 KiB).
        crate::file_streams::add_to_linker(&mut linker)?;
        client::add_to_linker(&mut linker, ftp_view)?;
        let tls = policy.tls_configs()?.into();
        Ok(Host {
            engine,
            live_runs,
            linker: Arc::new(linker),
            policy: Arc::new(policy),
            tls,
            observer: None,
            audit: None,
            cache: None,
            connections: Arc::new(LocalLimiter::new()),
        })
    }

    /// Tell `observer` about every streaming transfer (the CLI's progress bars).
    pub fn with_observer(mut self, observer: Arc<dyn TransferObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Keep compiled plugins in `cache`, so later loads skip compiling.
    pub fn with_cache(mut self, cache: Cache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Write one JSON line per FTP operation of every run to `audit`.
    pub fn with_audit(mut self, audit: AuditLog) -> Self {
        self.audit = Some(Arc::new(audit));
        self
    }

    /// Count connections against `max_connections` with `limiter` instead of
    /// the in-process default (the fleet shares slots between workers).
    pub fn with_connection_limiter(mut self, limiter: Arc<dyn ConnectionLimiter>) -> Self {
        self.connections = limiter;
        self
    }

    /// The engine plugins are compiled with.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The policy plugins of this host run under.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The FTP client state for one run in a store of the embedder's own
    /// (see the crate docs): put it in the store's data beside a
    /// `ResourceTable`, and link with [`crate::add_to_linker`].
    pub fn ftp_ctx(&self, plugin_name: &str) -> FtpCtx {
        self.ftp_ctx_with(plugin_name, self.audit.clone())
    }

    /// [`ftp_ctx`](Self::ftp_ctx) auditing to `audit`.
    fn ftp_ctx_with(&self, plugin_name: &str, audit: Option<Arc<AuditLog>>) -> FtpCtx {
        let limits = self.policy.limits();
        let usage = crate::usage::Usage::new(
            plugin_name.to_string(),
            limits.max_operations,
            limits.max_run_bytes,
            self.observer.clone(),
            audit,
        );
        FtpCtx::new(self.policy.clone(), self.tls.clone(), usage).with_connections(self.connections.clone())
    }

    /// Compile a plugin from component bytes (or WAT text) and check that it
    /// targets the `naas:ftp/plugin` world.
    pub fn load(&self, bytes: &[u8]) -> Result<Plugin, LoadError> {
        self.load_named(bytes, "plugin")
    }

    /// [`load`](Self::load), naming the plugin in the audit log.
    pub fn load_named(&self, bytes: &[u8], name: &str) -> Result<Plugin, LoadError> {
        let (component, origin) = self.compile(bytes)?;
        let pre = self.linker.instantiate_pre(&component).map_err(LoadError::of)?;
        let pre = PluginPre::new(pre).map_err(LoadError::NotAPlugin)?;
        Ok(Plugin { host: self.clone(), pre, name: name.to_string(), origin })
    }

    /// Compile a component (or take it from the cache, or unseal an
    /// `ftp-host compile` output this host wrote).
    fn compile(&self, bytes: &[u8]) -> Result<(Component, Origin), LoadError> {
        if Engine::detect_precompiled(bytes).is_some() || bytes.starts_with(SEALED_MAGIC) {
            let cache = match &self.cache {
                Some(c) => c.clone(),
                None => {
                    Cache::open_default().map_err(|e| LoadError::NotAPlugin(wasmtime::Error::msg(format!("{e:#}"))))?
                }
            };
            let compiled =
                bytes.strip_prefix(SEALED_MAGIC).and_then(|b| cache.unseal(&self.engine, b)).ok_or_else(|| {
                LoadError::NotAPlugin(wasmtime::Error::msg(
                    "precompiled code that this host did not write (or that was changed since) is never loaded; pass the .wasm component instead",
                ))
            })?;
            // SAFETY: the MAC proves this host's `compile` wrote these bytes.
            let component = unsafe { Component::deserialize(&self.engine, compiled) }.map_err(LoadError::of)?;
            return Ok((component, Origin::Cached));
        }
        match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, bytes).map_err(LoadError::of),
            None => Component::new(&self.engine, bytes).map(|c| (c, Origin::Compiled)).map_err(LoadError::of),
        }
    }

    /// Compile `component` ahead of time into a file only a host with the
    /// same cache key (this machine's, by default) will load.
    pub fn precompile(&self, component: &[u8], cache: &Cache) -> anyhow::Result<Vec<u8>> {
        let compiled = self.engine.precompile_component(component)?;
        let mut out = SEALED_MAGIC.to_vec();
        out.extend_from_slice(&cache.seal(&self.engine, &compiled));
        Ok(out)
    }

    /// Read and [`load`](Self::load) a plugin file; the audit log names it by its file name.
    pub fn load_file(&self, path: &Path) -> Result<Plugin, LoadError> {
        let bytes =
            std::fs::read(path).map_err(|source| LoadError::Read { path: path.display().to_string(), source })?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "plugin".into());
        self.load_named(&bytes, &name)
    }
}

/// A compiled plugin, ready to run any number of times.
#[derive(Clone)]
pub struct Plugin {
    host: Host,
    pre: PluginPre<RunState>,
    name: String,
    origin: Origin,
}

impl Plugin {
    /// Whether loading compiled the plugin or found it in the cache.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// Run the plugin's `run` export once, in a fresh sandbox.
    pub async fn run(&self, args: &[String], output: Output) -> Result<RunReport, RunError> {
        self.run_with(args, output, RunOptions::default()).await
    }

    /// [`run`](Self::run) with per-run [`RunOptions`].
    pub async fn run_with(&self, args: &[String], output: Output, options: RunOptions) -> Result<RunReport, RunError> {
        let started = Instant::now();
        let policy = &self.host.policy;
        let mut wasi = WasiCtx::builder();
        wasi.args(&[String::from("plugin")]);
        wasi.envs(&options.env);
        for dir in policy.dirs() {
            let perms = if dir.read_only { FsPerms::ReadOnly } else { FsPerms::ReadWrite };
            wasi.preopened_dir(&dir.host, &dir.guest, perms).map_err(|e| {
                RunError::Instantiate(e.context(format!("cannot open granted directory {}", dir.host.display())))
            })?;
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
        let limits = policy.limits().clone();
        let audit = options.audit.or_else(|| self.host.audit.clone());
        let ftp = self.host.ftp_ctx_with(&self.name, audit.clone());
        let usage = ftp.usage().clone();
        let caps = StoreCaps {
            memory_bytes: limits.max_memory_bytes,
            instances: limits.max_instances,
            memories: limits.max_memories,
            tables: limits.max_tables,
            handles: limits.max_handles,
        };
        let mut table = ResourceTable::new();
        table.set_max_capacity(caps.handles);
        let state = RunState { wasi: wasi.build(), table, ftp, limits: RunLimiter::new(caps) };
        // Instances come from a fixed pool: refuse a run past it clearly
        // (held until the store, declared after it, is dropped).
        let _slot = RunSlot::take(&self.host.live_runs)?;
        let mut store = Store::new(&self.host.engine, state);
        store.limiter(|s| &mut s.limits);
        // At every tick: stop the guest past its CPU time (time not spent
        // waiting in host calls), else yield so other plugins run.
        let cpu_usage = usage.clone();
        let max_cpu = limits.max_cpu;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            let guest_time = started.elapsed().saturating_sub(cpu_usage.total_waited());
            if guest_time > max_cpu {
                return Err(wasmtime::Error::msg(CpuLimit(max_cpu)));
            }
            Ok(UpdateDeadline::Yield(1))
        });

        let call = async {
            let instance: PluginBindings =
                self.pre.instantiate_async(&mut store).await.map_err(|e| classify(e, &caps, RunError::Instantiate))?;
            instance.call_run(&mut store, args).await.map_err(|e| classify(e, &caps, RunError::Trap))
        };
        let finished = tokio::time::timeout(limits.max_wall_clock, call).await;
        if let Some(audit) = audit.filter(|a| a.has_writer()) {
            // The run's audit lines are written before it reports (the
            // fleet worker publishes a job's lines right after).
            let _ = tokio::task::spawn_blocking(move || audit.sync()).await;
        }
        let result = match finished {
            Ok(result) => result?,
            Err(_) => {
                return Err(RunError::Limit {
                    limit: LimitKind::WallClock,
                    message: format!("the run took longer than its wall-clock limit of {:?}", limits.max_wall_clock),
                })
            }
        };
        let stats = usage.stats();
        let (stdout, stderr) = match pipes {
            Some((out, err)) => (out.contents().to_vec(), err.contents().to_vec()),
            None => (Vec::new(), Vec::new()),
        };
        let (limits_hit, hints) = (usage.limits_hit(), usage.hints());
        Ok(RunReport { result, stdout, stderr, stats, duration: started.elapsed(), limits_hit, hints })
    }
}

/// The first bytes of an `ftp-host compile` output.
const SEALED_MAGIC: &[u8] = b"ftp-host-cwasm\0";

/// Linear-memory slots in the engine's pool: [`MAX_CONCURRENT_RUNS`] runs
/// at the default memories cap. Each slot reserves 4 GiB (+ guard) of
/// address space, no memory: 8 TiB in all, of the 128 TiB a process has.
pub const POOL_MEMORIES: u32 = MAX_CONCURRENT_RUNS * crate::policy::DEFAULT_MAX_MEMORIES as u32;
/// Table slots in the pool: [`MAX_CONCURRENT_RUNS`] runs at the default tables cap.
pub const POOL_TABLES: u32 = MAX_CONCURRENT_RUNS * crate::policy::DEFAULT_MAX_TABLES as u32;
/// Core-instance slots in the pool: [`MAX_CONCURRENT_RUNS`] runs at the default instances cap.
pub const POOL_CORE_INSTANCES: u32 = MAX_CONCURRENT_RUNS * crate::policy::DEFAULT_MAX_INSTANCES as u32;
/// Most elements of one table (8 MiB of address space per table slot); a
/// table declared larger does not instantiate, and `table.grow` past it
/// fails as past a declared maximum.
pub const POOL_TABLE_ELEMENTS: usize = 1 << 20;

/// The engine of this process: compiled plugins, the instance pool and the
/// epoch ticker are shared by every [`Host`].
///
/// Instances come from wasmtime's pooling allocator, so a run reuses a
/// memory slot instead of mapping and faulting in a fresh one (plugin
/// start-up in `BENCHMARKS.md`). The pool is sized for [`MAX_CONCURRENT_RUNS`]
/// runs at the policy's default caps; one run may take up to its own
/// policy's caps (the store limiter enforces those), so runs with raised
/// caps leave fewer slots to the others, and a run that finds the pool full
/// is refused with a [`LimitKind::Concurrency`] error naming the slots.
fn shared_engine() -> anyhow::Result<(Engine, Arc<AtomicU32>)> {
    static ENGINE: Mutex<Option<(Engine, Arc<AtomicU32>)>> = Mutex::new(None);
    let mut engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(shared) = engine.as_ref() {
        return Ok(shared.clone());
    }
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(MAX_CONCURRENT_RUNS)
        .total_stacks(MAX_CONCURRENT_RUNS)
        .total_core_instances(POOL_CORE_INSTANCES)
        .total_memories(POOL_MEMORIES)
        .total_tables(POOL_TABLES)
        // One run may use as much of the pool as its policy allows.
        .max_core_instances_per_component(POOL_CORE_INSTANCES)
        .max_memories_per_component(POOL_MEMORIES)
        .max_tables_per_component(POOL_TABLES)
        .max_memories_per_module(MAX_PER_MODULE)
        .max_tables_per_module(MAX_PER_MODULE)
        .table_elements(POOL_TABLE_ELEMENTS)
        // 32-bit memories: the store limiter enforces the policy's budget.
        .max_memory_size(1 << 32)
        // Reset a run's first dirty pages in place: see KEEP_RESIDENT.
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT)
        .pagemap_scan(wasmtime::Enabled::Auto);
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Epochs let the host stop a busy plugin and make it yield to others.
    config.epoch_interruption(true);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let new = Engine::new(&config).map_err(|e| anyhow::anyhow!("cannot reserve the plugin instance pool: {e:#}"))?;
    let weak = new.weak();
    std::thread::Builder::new()
        .name("ftp-host-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .context("cannot start the epoch thread")?;
    let shared = (new, Arc::new(AtomicU32::new(0)));
    *engine = Some(shared.clone());
    Ok(shared)
}

/// Dirty bytes of a linear memory (and of a table) that a pool slot resets
/// in place when a run ends, instead of giving the pages back to the kernel.
/// The next run in that slot then takes no page faults for them: plugin
/// start-up fell from ~45 to ~15 µs (`bench/ANALYSIS-2026-12-03-start-up.md`).
/// Where the kernel has `PAGEMAP_SCAN` (Linux 6.7+), only the pages a run
/// actually wrote are reset. 128 KiB covers what a plugin's start touches;
/// bigger memories are still given back past it, and an idle slot holds at
/// most this much per memory and table (wasmtime keeps up to 100 idle slots
/// warm: a few tens of MiB at worst). The e2e test
/// `a_run_never_sees_an_earlier_runs_memory` checks the reset.
const KEEP_RESIDENT: usize = 128 << 10;

/// Most memories (or tables) one core module may define: multi-memory
/// guests stay possible; the per-run caps are the store limiter's.
const MAX_PER_MODULE: u32 = 64;

/// One run's claim on its engine's pool.
struct RunSlot(Arc<AtomicU32>);

impl RunSlot {
    fn take(live: &Arc<AtomicU32>) -> Result<RunSlot, RunError> {
        if live.fetch_add(1, Ordering::AcqRel) >= MAX_CONCURRENT_RUNS {
            live.fetch_sub(1, Ordering::AcqRel);
            return Err(pool_full());
        }
        Ok(RunSlot(live.clone()))
    }
}

impl Drop for RunSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn pool_full() -> RunError {
    RunError::Limit {
        limit: LimitKind::Concurrency,
        message: format!(
            "too many plugins running at once: this host runs at most {MAX_CONCURRENT_RUNS} at a time (its instance \
             pool is full)"
        ),
    }
}

/// The error a CPU-limited guest is stopped with.
#[derive(Debug)]
struct CpuLimit(Duration);

impl std::fmt::Display for CpuLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the plugin ran for longer than its CPU limit of {:?}", self.0)
    }
}

impl std::error::Error for CpuLimit {}

/// Tell a limit the operator set from a bug in the plugin.
fn classify(error: wasmtime::Error, caps: &StoreCaps, otherwise: fn(wasmtime::Error) -> RunError) -> RunError {
    if let Some(cpu) = error.downcast_ref::<CpuLimit>() {
        return RunError::Limit { limit: LimitKind::Cpu, message: cpu.to_string() };
    }
    if let Some(full) = error.downcast_ref::<PoolConcurrencyLimitError>() {
        // Slots of the pool other runs hold (runs with raised caps take more).
        return RunError::Limit {
            limit: LimitKind::Concurrency,
            message: format!(
                "the plugin instance pool is full ({full}): other plugins running at once hold its slots; \
                 retry when they finish"
            ),
        };
    }
    if let Some(limit) = caps.exceeded(&error) {
        let kind = match limit {
            StoreLimit::Memory { .. } => LimitKind::Memory,
            StoreLimit::Instances(_) => LimitKind::Instances,
            StoreLimit::Memories(_) => LimitKind::Memories,
            StoreLimit::Tables(_) => LimitKind::Tables,
            StoreLimit::Handles(_) => LimitKind::Handles,
        };
        return RunError::Limit { limit: kind, message: limit.to_string() };
    }
    otherwise(error)
}

// The test runs the example plugin, built with the `demo` feature.
#[cfg(all(test, feature = "demo"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_run_past_a_full_pool_is_refused_with_a_limit_error() {
        let host = Host::new(Policy::new()).unwrap();
        let plugin = host.load(crate::demo::EXAMPLE_PLUGIN).unwrap();
        // As if MAX_CONCURRENT_RUNS runs held the engine's pool.
        host.live_runs.fetch_add(MAX_CONCURRENT_RUNS, Ordering::AcqRel);
        let refused = plugin.run(&[], Output::Capture).await;
        host.live_runs.fetch_sub(MAX_CONCURRENT_RUNS, Ordering::AcqRel);
        match refused {
            Err(RunError::Limit { limit: LimitKind::Concurrency, message }) => {
                assert!(message.contains("too many plugins running at once"), "{message}")
            }
            other => panic!("expected a limit error, got {other:?}"),
        }
        // The slot it did not get was not leaked: the next run starts.
        let report = plugin.run(&[], Output::Capture).await.unwrap();
        assert!(report.result.is_err(), "the example plugin with no arguments prints its usage");
    }
}
