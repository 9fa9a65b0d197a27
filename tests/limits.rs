//! What a plugin's WebAssembly may allocate inside the host (issue 13,
//! items 2 and 3): one memory budget for all linear memories and tables of a
//! run together, caps on instances, memories and tables, and a cap on the
//! host handles (the store's resource table) it holds at once.
//!
//! Each plugin here is a component written in WAT in the test (the host
//! compiles WAT text directly), so no guest toolchain is involved: it does
//! exactly the one hostile thing the test is about. Each test asserts the
//! typed limit error and that the host's resident memory grew by less than
//! twice the limit (peak RSS, reset before the run).
//!
//! The tests hold one lock so that one test's allocations never show up in
//! another's RSS measurement.

// The RSS measurements must not overlap: one test at a time holds SERIAL
// across its awaits, on purpose.
#![allow(clippy::await_holding_lock)]

use std::sync::Mutex;

use ftp_host::{Host, LimitKind, Limits, LoadError, Output, Policy, RunError};

const MIB: usize = 1024 * 1024;
/// The memory budget every test runs under.
const BUDGET: usize = 16 * MIB;

static SERIAL: Mutex<()> = Mutex::new(());

/// A resident-memory field of /proc/self/status, in bytes.
fn status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status is readable (Linux)");
    let line =
        status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kib: usize = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number of kB");
    kib * 1024
}

/// Run `wat` (a component) under `limits` with no arguments; return the
/// outcome and how much the process's peak RSS rose above its RSS before.
async fn run_measured(wat: &str, limits: Limits) -> (Result<Result<String, String>, RunError>, usize) {
    let host = Host::new(Policy::new().with_limits(limits)).expect("host starts");
    let plugin = host.load(wat.as_bytes()).unwrap_or_else(|e| panic!("the test component loads: {e}"));
    // Reset the peak ("5": VmHWM := VmRSS), so the peak below is this run's.
    std::fs::write("/proc/self/clear_refs", "5").expect("can reset the peak RSS (/proc/self/clear_refs)");
    let before = status_bytes("VmRSS:");
    let outcome = plugin.run(&[], Output::Capture).await.map(|r| r.result);
    let peak = status_bytes("VmHWM:");
    (outcome, peak.saturating_sub(before))
}

fn limits() -> Limits {
    Limits { max_memory_bytes: BUDGET, max_cpu: std::time::Duration::from_secs(20), ..Limits::default() }
}

/// A component exporting `run` whose core module is `module` (which must
/// export `memory`, `cabi_realloc` and `run: (i32 i32) -> i32` returning a
/// pointer to a zeroed 12-byte area: `ok("")`), instantiated once, plus
/// `extra` more instances of it. `imports` and `with` are spliced in for
/// components that import host functions.
fn component(imports: &str, module: &str, with: &str, extra: usize) -> String {
    let extra: String = (0..extra).map(|_| format!("(core instance (instantiate $m {with}))\n")).collect();
    format!(
        r#"(component $C
  {imports}
  (core module $m {module})
  (core instance $i (instantiate $m {with}))
  {extra}
  (func $run (param "args" (list string)) (result (result string (error string)))
    (canon lift (core func $i "run") (memory (core memory $i "memory")) (realloc (core func $i "cabi_realloc"))))
  (export "run" (func $run))
)"#
    )
}

const REALLOC: &str = r#"(func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) i32.const 1024)"#;

fn expect_limit(outcome: &Result<Result<String, String>, RunError>, needle: &str) {
    match outcome {
        Err(RunError::Limit { message: why, .. }) => {
            assert!(why.contains(needle), "the limit error does not say {needle:?}: {why}")
        }
        other => panic!("expected a limit error about {needle:?}, got {other:?}"),
    }
}

fn expect_rss_under(growth: usize, limit: usize) {
    assert!(growth < 2 * limit, "host RSS grew by {} MiB, over twice the {} MiB limit", growth / MIB, limit / MIB);
}

/// (a) `table.grow` by 2^28 elements (2 GiB of host memory if committed)
/// is a limit error: table storage comes out of the memory budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growing_a_table_by_2_pow_28_elements_is_a_memory_limit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let module = format!(
        r#"(memory (export "memory") 1)
        (table $t 1 funcref)
        {REALLOC}
        (func (export "run") (param i32 i32) (result i32)
          ;; -1 (refused without a trap) would be a pass for the host too,
          ;; but then the plugin returns err so the test sees it.
          (if (i32.eq (table.grow $t (ref.null func) (i32.const 268435456)) (i32.const -1))
            (then unreachable))
          i32.const 16)"#
    );
    let (outcome, growth) = run_measured(&component("", &module, "", 0), limits()).await;
    expect_limit(&outcome, "table");
    expect_limit(&outcome, "memory limit");
    expect_rss_under(growth, BUDGET);
}

/// A module declaring 32 memories and growing each by 3/4 of the budget,
/// touching every page.
fn thirty_two_memories() -> String {
    let pages = (BUDGET * 3 / 4 / 65536) as i32;
    let mut module = String::from(r#"(memory (export "memory") 1)"#);
    let mut body = String::new();
    for k in 1..32 {
        module.push_str(&format!("(memory $m{k} 0)\n"));
        body.push_str(&format!(
            "(if (i32.eq (memory.grow $m{k} (i32.const {pages})) (i32.const -1)) (then unreachable))\n\
             (memory.fill $m{k} (i32.const 0) (i32.const 1) (i32.const {bytes}))\n",
            bytes = pages * 65536
        ));
    }
    module.push_str(REALLOC);
    module.push_str(&format!(r#"(func (export "run") (param i32 i32) (result i32) {body} i32.const 16)"#));
    component("", &module, "", 0)
}

/// (b) 32 memories: past the memory count cap, the run stops at
/// instantiation with a limit error naming memories.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_memories_are_past_the_memories_cap() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (outcome, growth) = run_measured(&thirty_two_memories(), limits()).await;
    expect_limit(&outcome, "linear memories");
    expect_rss_under(growth, BUDGET);
}

/// (b) The same 32 memories with the count cap lifted: each memory alone is
/// within the budget, together they are not; the second growth stops the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memories_share_one_budget() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (outcome, growth) = run_measured(&thirty_two_memories(), Limits { max_memories: 64, ..limits() }).await;
    expect_limit(&outcome, "linear memory");
    expect_limit(&outcome, "memory limit");
    expect_rss_under(growth, BUDGET);
}

/// (c) 64 core instances: stopped by the instance cap; and with that cap
/// lifted, 64 instances each filling its own memory to 3/4 of the budget
/// are still stopped by the one budget, never near 64 times it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_core_instances_are_capped_and_share_the_budget() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let small = format!(
        r#"(memory (export "memory") 1)
        {REALLOC}
        (func (export "run") (param i32 i32) (result i32) i32.const 16)"#
    );
    let (outcome, growth) =
        run_measured(&component("", &small, "", 63), Limits { max_memories: 1000, ..limits() }).await;
    expect_limit(&outcome, "instances");
    expect_rss_under(growth, BUDGET);

    let pages = BUDGET * 3 / 4 / 65536;
    // Each instance's memory starts at 3/4 of the budget and its start
    // function fills it, so every instance costs real host memory.
    let big = format!(
        r#"(memory (export "memory") {pages})
        {REALLOC}
        (func $fill (memory.fill (i32.const 0) (i32.const 1) (i32.const {bytes})))
        (start $fill)
        (func (export "run") (param i32 i32) (result i32) i32.const 16)"#,
        bytes = pages * 65536
    );
    let (outcome, growth) =
        run_measured(&component("", &big, "", 63), Limits { max_memories: 1000, max_instances: 1000, ..limits() })
            .await;
    expect_limit(&outcome, "memory limit");
    expect_rss_under(growth, BUDGET);
}

/// A component with more linear memories than the host's whole instance
/// pool has slots is refused when it is loaded, naming the pool and the
/// count, even under caps that would allow it (the pool is sized for many
/// runs at the default caps).
#[test]
fn a_component_bigger_than_the_instance_pool_is_refused_at_load() {
    // 64 memories per instance (the most one module may define), and
    // enough instances for more memories than the pool has slots.
    let per_instance = 64;
    let extra = ftp_host::POOL_MEMORIES as usize / per_instance;
    let memories: String = (1..per_instance).map(|_| "(memory 1)\n").collect();
    let many = format!(
        r#"(memory (export "memory") 1)
        {memories}
        {REALLOC}
        (func (export "run") (param i32 i32) (result i32) i32.const 16)"#
    );
    let wanted = (extra + 1) * per_instance;
    let caps = Limits { max_memories: wanted, max_instances: extra + 1, ..limits() };
    let host = Host::new(Policy::new().with_limits(caps)).expect("host starts");
    match host.load(component("", &many, "", extra).as_bytes()) {
        Err(e @ LoadError::TooBigForPool(_)) => {
            let why = e.to_string();
            assert!(why.contains("instance pool") && why.contains(&wanted.to_string()), "{why}");
        }
        Err(other) => panic!("expected a refusal naming the pool, got: {other}"),
        Ok(_) => panic!("a component with more memories than the pool loaded"),
    }
}

/// Within its limits the same kind of component runs normally: the caps
/// do not get in the way of an ordinary plugin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_within_its_limits_runs() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let module = format!(
        r#"(memory (export "memory") 1)
        (table $t 1 funcref)
        {REALLOC}
        (func (export "run") (param i32 i32) (result i32)
          (if (i32.eq (table.grow $t (ref.null func) (i32.const 1000)) (i32.const -1)) (then unreachable))
          (if (i32.eq (memory.grow (i32.const 100)) (i32.const -1)) (then unreachable))
          i32.const 16)"#
    );
    let (outcome, _) = run_measured(&component("", &module, "", 2), limits()).await;
    assert_eq!(outcome.expect("runs"), Ok(String::new()));
}

/// Item 3: a plugin that keeps creating WASI pollables (each an entry of
/// the store's resource table) without dropping them is stopped at the
/// `handles` cap, with an error that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasi_handles_are_capped() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let imports = r#"
  (import "wasi:io/poll@0.2.0" (instance $poll (export "pollable" (type (sub resource)))))
  (alias export $poll "pollable" (type $pollable))
  (import "wasi:clocks/monotonic-clock@0.2.0" (instance $clock
    (alias outer $C $pollable (type $p))
    (export "pollable" (type $pe (eq $p)))
    (type $own (own $pe))
    (export "subscribe-duration" (func (param "when" u64) (result $own)))))
  (core func $sub (canon lower (func $clock "subscribe-duration")))
  (core instance $host (export "sub" (func $sub)))"#;
    let module = format!(
        r#"(import "host" "sub" (func $sub (param i64) (result i32)))
        (memory (export "memory") 1)
        {REALLOC}
        (func (export "run") (param i32 i32) (result i32)
          (local $i i32)
          (loop $again
            (drop (call $sub (i64.const 1000000000)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $again (i32.lt_u (local.get $i) (i32.const 100000))))
          i32.const 16)"#
    );
    let with = r#"(with "host" (instance $host))"#;
    let (outcome, _) =
        run_measured(&component(imports, &module, with, 0), Limits { max_handles: 1000, ..limits() }).await;
    expect_limit(&outcome, "more than 1000 host handles");
}

// ================================================================ local directories

/// Item 20: a read-only directory grant (`HOST::GUEST:ro`). The example
/// plugin's `download` writes `NAME.part` into the granted directory and
/// renames it over `NAME`: into a read-only grant that write fails with a
/// clear error, and the file already there is unchanged, with no part file
/// left behind. The same download into a read-write grant works (the
/// control that the write really was attempted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_into_a_read_only_dir_grant_fails_and_changes_nothing() {
    use ftp_host::demo::{DemoServer, DEMO_USER, EXAMPLE_PLUGIN};
    use ftp_host::DirGrant;

    let served = tempfile::tempdir().unwrap();
    std::fs::write(served.path().join("report.csv"), b"from the server\n").unwrap();
    let server = DemoServer::start(served.path(), "pw").await.unwrap();
    let addr = server.addr();
    let local = tempfile::tempdir().unwrap();
    std::fs::write(local.path().join("report.csv"), b"kept locally\n").unwrap();
    let args: Vec<String> = [
        "--host",
        "127.0.0.1",
        "--port",
        &addr.port().to_string(),
        "--user",
        DEMO_USER,
        "--password",
        "pw",
        "download",
        "report.csv",
        "/local/report.csv",
    ]
    .map(String::from)
    .into();
    let run = |grant: &str| {
        let grant: DirGrant = grant.parse().unwrap();
        let policy = Policy::new().allow(&addr.to_string()).unwrap().with_dir(grant);
        let args = args.clone();
        async move {
            let plugin = Host::new(policy).unwrap().load(EXAMPLE_PLUGIN).unwrap();
            plugin.run(&args, Output::Capture).await.expect("runs").result
        }
    };

    let ro = format!("{}::/local:ro", local.path().display());
    let outcome = run(&ro).await;
    let why = outcome.expect_err("a download into a read-only grant must fail");
    assert!(why.starts_with("io: cannot write /local/report.csv.part"), "{why}");
    assert!(why.contains("not-permitted"), "the error does not say why: {why}");
    assert_eq!(std::fs::read(local.path().join("report.csv")).unwrap(), b"kept locally\n");
    let names: Vec<_> = std::fs::read_dir(local.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["report.csv"], "nothing else appeared in the read-only directory");

    let rw = format!("{}::/local", local.path().display());
    let outcome = run(&rw).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(std::fs::read(local.path().join("report.csv")).unwrap(), b"from the server\n");
}

/// A listing is read line by line under its caps (issue 13, item 1): a
/// server that answers `NLST`/`LIST` endlessly, with the longest operation
/// timeout the policy allows, ends as `too-large` at the first cap it
/// reaches — entries (`a\r\n` forever), bytes (1000-byte names forever),
/// or the line length (one endless name) — the listing's bytes count
/// against the run, and the host's resident memory grows by less than
/// 64 MiB (it grew without bound, 5.5 GB in 20 s, when suppaftp buffered
/// whole listings).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_listing_keeps_the_host_memory_flat() {
    use ftp_host::Grant;
    use ftp_host_e2e::harness::{hostile_guest, plain_profile};
    use ftp_host_e2e::hostile_server::{HostileServer, Script};
    use std::time::Duration;

    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let longest = Limits::default().max_timeout;
    let limits = Limits {
        default_timeout: longest,
        max_timeout: longest,
        max_wall_clock: longest,
        max_cpu: Duration::from_secs(60),
        ..Limits::default()
    };
    let (max_entries, max_bytes) = (limits.max_list_entries, limits.max_list_bytes);
    let long_name = [vec![b'n'; 1000], b"\r\n".to_vec()].concat();
    let cases: [(&[u8], String); 3] = [
        (b"a\r\n", format!("more than {max_entries} entries")),
        (&long_name, format!("more than {max_bytes} bytes")),
        (b"n", "line".to_string()),
    ];
    for (line, cap) in cases {
        let server = HostileServer::start(Script::new().endless_listing(line));
        let profile = plain_profile("p", server.addr(), "alice", "pw");
        let policy = Policy::new().grant(Grant::profile(profile).unwrap()).with_limits(limits.clone());
        let plugin =
            Host::new(policy).unwrap().load_named(hostile_guest(), "hostile").expect("the hostile guest loads");
        for how in ["names", "entries"] {
            std::fs::write("/proc/self/clear_refs", "5").expect("can reset the peak RSS (/proc/self/clear_refs)");
            let before = status_bytes("VmRSS:");
            let args = ["list", "p", how].map(String::from);
            let report = plugin.run(&args, Output::Capture).await.expect("the run ends with the plugin's verdict");
            let grew = status_bytes("VmHWM:").saturating_sub(before);
            let why = report.result.expect_err("an endless listing cannot succeed");
            assert!(why.starts_with("too-large: ") && why.contains(&cap), "{how}, {cap}: {why}");
            assert!(report.limits_hit.contains(&LimitKind::Listing), "{how}: {:?}", report.limits_hit);
            let down = report.stats.bytes_downloaded;
            assert!(down > 0 && down <= max_bytes + MIB as u64, "{how}, {cap}: {down} listing bytes counted");
            assert!(grew < 64 * MIB, "{how}, {cap}: the host's RSS grew by {} MiB", grew / MIB);
        }
    }
}
