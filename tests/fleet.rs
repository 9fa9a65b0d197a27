//! The fleet end to end: a real `nats-server -js` (tests/src/nats.rs), real
//! `ftp-host worker` processes (signalled by PID), jobs submitted through
//! the library, results read off NATS.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ftp_host::demo::{DemoServer, DEMO_USER, EXAMPLE_PLUGIN};
use ftp_host::fleet::{self, store, submit, Fleet, Job, JobResult};
use ftp_host_e2e::harness::{hostile_guest, sha256, Target};
use ftp_host_e2e::nats::NatsServer;
use ftp_host_e2e::servers::{FtpServer, ServerOptions};
use futures_util::StreamExt;

const PASSWORD: &str = "fleet-pw";

/// A running `ftp-host worker`.
struct Worker {
    child: Child,
    name: String,
    metrics: Option<SocketAddr>,
}

impl Worker {
    /// Start a worker and wait for its "ready" line.
    fn start(nats: &NatsServer, name: &str, configs: &[&Path], extra: &[&str], env: &[(&str, &str)]) -> Worker {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ftp-host-cli"));
        cmd.arg("worker").args(["--nats", &nats.url(), "--name", name, "--metrics", "127.0.0.1:0"]);
        for c in configs {
            cmd.arg("--config").arg(c);
        }
        cmd.args(extra).envs(env.iter().copied()).env("RUST_LOG", "warn,ftp_host::fleet=info,libunftp=error");
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("the worker starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("worker {name} never got ready"));
        assert!(line.contains("ready"), "{line}");
        let metrics = line.split("metrics http://").nth(1).map(|a| a.trim_end_matches("/metrics").parse().unwrap());
        Worker { child, name: name.to_string(), metrics }
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Wait for the process to exit; its exit code.
    fn wait(&mut self, within: Duration) -> Option<i32> {
        let started = Instant::now();
        while started.elapsed() < within {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("worker {} did not exit within {within:?}", self.name);
    }

    /// `GET /metrics`, as text.
    fn scrape(&self) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(self.metrics.expect("metrics are on")).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        text
    }

    /// One sample's value (`name` with labels, if any, as printed).
    fn metric(&self, name: &str) -> f64 {
        let text = self.scrape();
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every result published while it lives, by job id (duplicates kept).
struct Results {
    seen: Arc<Mutex<HashMap<String, Vec<JobResult>>>>,
}

impl Results {
    async fn watch(fleet: &Fleet) -> Results {
        let mut sub = fleet.client.subscribe("ftphost.result.*").await.unwrap();
        fleet.client.flush().await.unwrap();
        let seen: Arc<Mutex<HashMap<String, Vec<JobResult>>>> = Default::default();
        let into = seen.clone();
        tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                let r: JobResult = serde_json::from_slice(&msg.payload).expect("a result is JSON");
                into.lock().unwrap().entry(r.job.clone()).or_default().push(r);
            }
        });
        Results { seen }
    }

    /// Wait until results for `n` distinct jobs arrived.
    async fn wait_for(&self, n: usize, within: Duration) -> HashMap<String, Vec<JobResult>> {
        let started = Instant::now();
        loop {
            let got = self.seen.lock().unwrap().clone();
            if got.len() >= n {
                // Let any duplicate show up before judging.
                tokio::time::sleep(Duration::from_millis(300)).await;
                return self.seen.lock().unwrap().clone();
            }
            assert!(started.elapsed() < within, "only {} of {n} results within {within:?}", got.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn job(id: &str, plugin: &str, policy: &str, args: Vec<String>) -> Job {
    Job { id: id.into(), plugin: plugin.into(), policy: policy.into(), args, deadline_ms: None }
}

/// A policy file named `NAME.toml` in `dir`.
fn policy_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

async fn dead_letters(fleet: &Fleet) -> u64 {
    let mut stream = fleet.js.get_stream(fleet::DEAD_STREAM).await.unwrap();
    stream.info().await.unwrap().state.messages
}

async fn start(dir: &Path) -> (NatsServer, Fleet, DemoServer, Target) {
    let nats = NatsServer::start().unwrap_or_else(|e| panic!("{e:#}"));
    let fleet = Fleet::connect(&nats.url()).await.unwrap();
    let root = dir.join("ftp");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("hello.txt"), "hi").unwrap();
    let demo = DemoServer::start(&root, PASSWORD).await.unwrap();
    let target = Target::plain(demo.addr(), DEMO_USER, PASSWORD);
    (nats, fleet, demo, target)
}

fn demo_policy(dir: &Path, demo: &DemoServer, extra: &str) -> PathBuf {
    let text = format!(
        "[network]\nallow_loopback = true\n[[server]]\nhost = \"127.0.0.1\"\nport = {}\n{extra}",
        demo.addr().port()
    );
    policy_file(dir, "demo", &text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_workers_run_300_jobs_once_each_and_their_metrics_and_audit_match() {
    let dir = tempfile::tempdir().unwrap();
    let (nats, fleet, demo, target) = start(dir.path()).await;
    let policy = demo_policy(dir.path(), &demo, "");
    let digest = submit::publish_plugin(&fleet, EXAMPLE_PLUGIN).await.unwrap();
    let workers: Vec<Worker> =
        (0..3).map(|i| Worker::start(&nats, &format!("w{i}"), &[&policy], &["--concurrency", "4"], &[])).collect();
    let results = Results::watch(&fleet).await;
    for i in 0..300 {
        submit::enqueue(&fleet, &job(&format!("small-{i}"), &digest, "demo", target.args(&["ls"]))).await.unwrap();
    }
    let got = results.wait_for(300, Duration::from_secs(180)).await;
    assert_eq!(got.len(), 300);
    for (id, rs) in &got {
        assert_eq!(rs.len(), 1, "job {id}: {rs:?}");
        let r = &rs[0];
        assert_eq!((r.outcome.as_str(), r.attempt, r.exit_code), ("ok", 1, 0), "job {id}: {r:?}");
        assert_eq!(r.stdout, "hello.txt\n");
    }
    assert_eq!(dead_letters(&fleet).await, 0);
    // Every worker took some; the counters add up to the jobs run.
    let per_worker: Vec<usize> =
        workers.iter().map(|w| got.values().filter(|rs| rs[0].worker == w.name).count()).collect();
    assert!(per_worker.iter().all(|&n| n > 0), "{per_worker:?}");
    let sum = |name: &str| workers.iter().map(|w| w.metric(name)).sum::<f64>();
    assert_eq!(sum("ftphost_jobs_received_total"), 300.0);
    assert_eq!(sum("ftphost_jobs_succeeded_total"), 300.0);
    assert_eq!(sum("ftphost_jobs_failed_total"), 0.0);
    assert_eq!(sum("ftphost_jobs_redelivered_total"), 0.0);
    assert_eq!(sum("ftphost_run_duration_seconds_count"), 300.0);
    for (w, n) in workers.iter().zip(&per_worker) {
        assert_eq!(w.metric("ftphost_jobs_succeeded_total"), *n as f64, "worker {}", w.name);
    }
    // Each job's audit lines are stored whole: a line per operation its result counts.
    let audit = fleet.js.get_stream(fleet::AUDIT_STREAM).await.unwrap();
    for (id, rs) in &got {
        let stored = audit
            .get_last_raw_message_by_subject(&fleet::audit_subject(id))
            .await
            .unwrap_or_else(|e| panic!("job {id}: no audit lines stored: {e}"));
        let lines = String::from_utf8_lossy(&stored.payload).into_owned();
        assert_eq!(lines.lines().count() as u64, rs[0].operations, "job {id}: {lines}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_download_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (nats, fleet, demo, target) = start(dir.path()).await;
    let big: Vec<u8> = (0..256u32 * 1024 * 1024).map(|i| (i ^ (i >> 13)) as u8).collect();
    std::fs::write(demo.root().join("big.bin"), &big).unwrap();
    let want = sha256(&big);
    drop(big);
    let dl = dir.path().join("dl");
    std::fs::create_dir(&dl).unwrap();
    let policy = demo_policy(dir.path(), &demo, &format!("[[dir]]\nhost = \"{}\"\nguest = \"/dl\"\n", dl.display()));
    let digest = submit::publish_plugin(&fleet, EXAMPLE_PLUGIN).await.unwrap();
    // A short ack_wait so the dead worker's job comes back soon.
    let fast = ["--ack-wait", "2s", "--concurrency", "1"];
    let mut first = Worker::start(&nats, "doomed", &[&policy], &fast, &[]);
    let results = Results::watch(&fleet).await;
    let args = target.args(&["download", "big.bin", "/dl/big.bin", "--resume"]);
    submit::enqueue(&fleet, &job("big", &digest, "demo", args)).await.unwrap();

    // Kill it once the download is under way.
    let part = dl.join("big.bin.part");
    let started = Instant::now();
    while std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "the download never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    first.signal("-KILL");
    first.wait(Duration::from_secs(10));
    let at_kill = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    assert!(!dl.join("big.bin").exists(), "the download finished before the kill; nothing was tested");
    eprintln!("killed with {at_kill} of {} bytes downloaded", 256 << 20);

    let _second = Worker::start(&nats, "survivor", &[&policy], &fast, &[]);
    let got = results.wait_for(1, Duration::from_secs(120)).await;
    let rs = &got["big"];
    assert_eq!(rs.len(), 1, "{rs:?}");
    assert_eq!((rs[0].outcome.as_str(), rs[0].worker.as_str()), ("ok", "survivor"), "{:?}", rs[0]);
    assert_eq!(rs[0].attempt, 2);
    assert_eq!(sha256(&std::fs::read(dl.join("big.bin")).unwrap()), want);
    assert!(!part.exists());
    assert_eq!(dead_letters(&fleet).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_running_jobs_finish_and_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let (nats, fleet, demo, target) = start(dir.path()).await;
    let blob: Vec<u8> = (0..64u32 * 1024 * 1024).map(|i| (i * 31) as u8).collect();
    std::fs::write(demo.root().join("blob.bin"), &blob).unwrap();
    let dl = dir.path().join("dl");
    std::fs::create_dir(&dl).unwrap();
    let policy = demo_policy(dir.path(), &demo, &format!("[[dir]]\nhost = \"{}\"\nguest = \"/dl\"\n", dl.display()));
    let digest = submit::publish_plugin(&fleet, EXAMPLE_PLUGIN).await.unwrap();
    let mut draining = Worker::start(&nats, "draining", &[&policy], &["--concurrency", "2", "--grace", "60s"], &[]);
    let results = Results::watch(&fleet).await;
    for i in 0..8 {
        let args = target.args(&["download", "blob.bin", &format!("/dl/b{i}.bin")]);
        submit::enqueue(&fleet, &job(&format!("drain-{i}"), &digest, "demo", args)).await.unwrap();
    }
    // SIGTERM while a download runs.
    let started = Instant::now();
    let running = loop {
        let parts: Vec<String> = std::fs::read_dir(&dl)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".part"))
            .collect();
        if !parts.is_empty() {
            break parts;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no download started");
        std::thread::sleep(Duration::from_millis(1));
    };
    draining.signal("-TERM");
    assert_eq!(draining.wait(Duration::from_secs(60)), Some(0));
    let finished = results.seen.lock().unwrap().clone();
    // The jobs running at SIGTERM finished on the draining worker.
    for part in &running {
        let id = format!("drain-{}", part.trim_start_matches('b').trim_end_matches(".bin.part"));
        let rs = finished.get(&id).unwrap_or_else(|| panic!("{id} was running at SIGTERM and has no result"));
        assert_eq!((rs[0].outcome.as_str(), rs[0].worker.as_str()), ("ok", "draining"), "{:?}", rs[0]);
    }
    assert!(finished.len() < 8, "the draining worker took every job; nothing was left to hand over");

    // The rest go to another worker: none lost, none twice.
    let _other = Worker::start(&nats, "other", &[&policy], &["--concurrency", "2"], &[]);
    let got = results.wait_for(8, Duration::from_secs(120)).await;
    for (id, rs) in &got {
        assert_eq!(rs.len(), 1, "{id}: {rs:?}");
        assert_eq!(rs[0].outcome, "ok", "{id}: {:?}", rs[0]);
    }
    for i in 0..8 {
        assert_eq!(std::fs::read(dl.join(format!("b{i}.bin"))).unwrap().len(), blob.len());
    }
    assert_eq!(dead_letters(&fleet).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_that_always_traps_is_dead_lettered_and_the_worker_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (nats, fleet, demo, target) = start(dir.path()).await;
    let policy = demo_policy(dir.path(), &demo, "");
    let hostile = submit::publish_plugin(&fleet, hostile_guest()).await.unwrap();
    let example = submit::publish_plugin(&fleet, EXAMPLE_PLUGIN).await.unwrap();
    let worker = Worker::start(&nats, "w", &[&policy], &["--max-deliver", "3", "--retry-backoff", "100ms"], &[]);
    let result = submit::submit_and_wait(
        &fleet,
        &job("trapper", &hostile, "demo", vec!["trap".into()]),
        Some(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    assert_eq!((result.outcome.as_str(), result.attempt, result.exit_code), ("trap", 3, 3), "{result:?}");

    let mut dead = fleet.js.get_stream(fleet::DEAD_STREAM).await.unwrap();
    let letter = dead.get_last_raw_message_by_subject(&fleet::dead_subject("trapper")).await.unwrap();
    let letter: serde_json::Value = serde_json::from_slice(&letter.payload).unwrap();
    assert_eq!(letter["attempts"], 3);
    assert!(letter["error"].as_str().unwrap().contains("trapped"), "{letter}");
    assert_eq!(letter["job"]["args"][0], "trap");
    assert_eq!(dead.info().await.unwrap().state.messages, 1);

    let ok = submit::submit_and_wait(
        &fleet,
        &job("after", &example, "demo", target.args(&["ls"])),
        Some(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    assert_eq!(ok.outcome, "ok", "{ok:?}");
    assert_eq!(worker.metric("ftphost_jobs_dead_lettered_total"), 1.0);
    assert_eq!(worker.metric("ftphost_jobs_redelivered_total"), 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_jobs_get_failed_results_naming_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let (nats, fleet, demo, target) = start(dir.path()).await;
    let policy = demo_policy(dir.path(), &demo, "");
    let example = submit::publish_plugin(&fleet, EXAMPLE_PLUGIN).await.unwrap();
    // Bytes stored under a digest they do not have.
    let wrong = "ab".repeat(32);
    store::bucket(&fleet).await.unwrap().put(wrong.as_str(), &mut &b"not the plugin you want"[..]).await.unwrap();
    let worker = Worker::start(&nats, "w", &[&policy], &[], &[]);
    let wait = Some(Duration::from_secs(60));
    let args = target.args(&["ls"]);

    let cases = [
        (job("no-policy", &example, "nightly", args.clone()), "unknown policy `nightly`"),
        (job("no-plugin", &"cd".repeat(32), "demo", args.clone()), "is not in the fleet's store"),
        (job("mismatch", &wrong, "demo", args.clone()), "does not match its bytes"),
    ];
    for (job, cause) in cases {
        let r = submit::submit_and_wait(&fleet, &job, wait).await.unwrap();
        assert_eq!((r.outcome.as_str(), r.exit_code, r.attempt), ("rejected", 2, 1), "{r:?}");
        assert!(r.error.as_deref().unwrap().contains(cause), "{}: {r:?}", job.id);
    }

    // A malformed message, straight onto the queue.
    let results = Results::watch(&fleet).await;
    let raw = br#"{"id":"garbled","plugin":"not-a-digest","policy":"demo"}"#;
    fleet.js.publish(fleet::JOBS_SUBJECT, raw.to_vec().into()).await.unwrap().await.unwrap();
    let got = results.wait_for(1, Duration::from_secs(60)).await;
    let r = &got["garbled"][0];
    assert_eq!(r.outcome, "rejected");
    assert!(r.error.as_deref().unwrap().contains("malformed job") && r.error.as_deref().unwrap().contains("SHA-256"));
    // Not JSON at all: no id to answer, so it is dead-lettered, never retried.
    fleet.js.publish(fleet::JOBS_SUBJECT, b"\x00garbage".to_vec().into()).await.unwrap().await.unwrap();

    // The worker is still serving.
    let ok = submit::submit_and_wait(&fleet, &job("fine", &example, "demo", args), wait).await.unwrap();
    assert_eq!(ok.outcome, "ok", "{ok:?}");
    assert_eq!(dead_letters(&fleet).await, 1);
    assert_eq!(worker.metric("ftphost_jobs_failed_total"), 5.0);
    assert_eq!(worker.metric("ftphost_jobs_redelivered_total"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_connections_holds_across_workers() {
    let dir = tempfile::tempdir().unwrap();
    let nats = NatsServer::start().unwrap_or_else(|e| panic!("{e:#}"));
    let fleet = Fleet::connect(&nats.url()).await.unwrap();
    let mut opts = ServerOptions::plain();
    opts.max_clients_per_user = Some(2);
    let server = FtpServer::proftpd(opts).unwrap_or_else(|e| panic!("proftpd did not start: {e:#}"));
    server.put_file("hello.txt", b"hi").unwrap();
    let policy = policy_file(
        dir.path(),
        "partner",
        &format!(
            "[network]\nallow_loopback = true\n[[server]]\nhost = \"127.0.0.1\"\nport = {}\nmax_connections = 2\n",
            server.port
        ),
    );
    let digest = submit::publish_plugin(&fleet, EXAMPLE_PLUGIN).await.unwrap();
    let workers: Vec<Worker> =
        (0..2).map(|i| Worker::start(&nats, &format!("w{i}"), &[&policy], &["--concurrency", "8"], &[])).collect();
    let target = Target::plain(server.addr(), &server.user, &server.password);
    let results = Results::watch(&fleet).await;
    for i in 0..20 {
        // Two listings per job: each holds its connection a little longer.
        let args = target.args(&["ls", ";", "ls"]);
        submit::enqueue(&fleet, &job(&format!("capped-{i}"), &digest, "partner", args)).await.unwrap();
    }
    let got = results.wait_for(20, Duration::from_secs(120)).await;
    for (id, rs) in &got {
        assert_eq!(rs.len(), 1, "{id}");
        assert_eq!(rs[0].outcome, "ok", "{id}: {:?}\nserver log:\n{}", rs[0], server.log());
    }
    let log = server.log();
    // proftpd answers a third login `530 Sorry, the maximum number of clients (2) for this user are already
    // connected.`, logged as `"PASS (hidden)" 530`.
    assert!(!log.contains("\"PASS (hidden)\" 530"), "the server refused a third login:\n{log}");
    // The cap made jobs wait.
    let waits: f64 = workers.iter().map(|w| w.metric("ftphost_lease_wait_seconds_count")).sum();
    assert!(waits >= 20.0, "{waits}");
}
