//! A real `nats-server` with JetStream, for the fleet tests: started on a
//! free loopback port with its own store directory, stopped by PID on drop.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Debian's server binary (package `nats-server`).
pub const NATS_SERVER_BIN: &str = "/usr/sbin/nats-server";
/// Installs it.
pub const INSTALL_SCRIPT: &str = "scripts/install-nats.sh";

/// A running `nats-server -js`.
pub struct NatsServer {
    child: Child,
    /// The client port on 127.0.0.1.
    pub port: u16,
    /// Holds the JetStream store and the server's log.
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// Start a server and wait until it accepts connections.
    pub fn start() -> Result<NatsServer> {
        if !Path::new(NATS_SERVER_BIN).exists() {
            bail!("{NATS_SERVER_BIN} is missing: install it with {INSTALL_SCRIPT} (Debian package nats-server)");
        }
        // A port taken between picking and binding: try again with another.
        let mut last = None;
        for _ in 0..5 {
            match Self::start_once() {
                Ok(server) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn start_once() -> Result<NatsServer> {
        let dir = tempfile::tempdir()?;
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
        let log = std::fs::File::create(dir.path().join("nats.log"))?;
        let child = Command::new(NATS_SERVER_BIN)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.path().join("store"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start nats-server")?;
        let mut server = NatsServer { child, port, dir };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Some(status) = server.child.try_wait()? {
                bail!("nats-server exited at start-up ({status}):\n{}", server.log());
            }
            // Its own "ready" line, not just an open port: a server that lost
            // the port to another test's exits, and that one would answer.
            if server.log().contains("Server is ready") && TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("nats-server did not listen on port {port} within 10 s:\n{}", server.log())
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nats.log")).unwrap_or_default()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
