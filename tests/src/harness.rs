//! Running guests through the host, as the tests need it: a guest's bytes,
//! a policy, arguments in, the guest's verdict and output out.

use std::net::SocketAddr;

use ftp_host::{Host, Output, Policy, RunReport, Trust};


/// The Rust example plugin, built from `guest-examples/rust` by the host's build script.
pub fn rust_guest() -> &'static [u8] {
    ftp_host::demo::EXAMPLE_PLUGIN
}

/// Connection arguments understood by every example guest.
#[derive(Clone, Debug)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// `none`, `explicit` or `implicit`.
    pub security: &'static str,
    pub force_prot: bool,
}

impl Target {
    pub fn plain(addr: SocketAddr, user: &str, password: &str) -> Self {
        Target {
            host: addr.ip().to_string(),
            port: addr.port(),
            user: user.into(),
            password: password.into(),
            security: "none",
            force_prot: false,
        }
    }

    /// The guest's arguments: connection flags, then `command`.
    pub fn args(&self, command: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = [
            "--host", &self.host, "--port", &self.port.to_string(), "--user", &self.user,
            "--password", &self.password, "--security", self.security,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if self.force_prot {
            args.push("--force-prot".into());
        }
        args.extend(command.iter().map(|s| s.to_string()));
        args
    }

    /// A policy granting exactly this server, with the default trust.
    pub fn policy(&self) -> Policy {
        Policy::new().allow(&self.grant()).expect("valid grant")
    }

    /// A policy granting exactly this server, whose certificate is checked with `trust`.
    pub fn policy_trusting(&self, trust: Trust) -> Policy {
        Policy::new().allow_with_trust(&self.grant(), trust).expect("valid grant")
    }

    fn grant(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Run `guest` once under `policy`, capturing its output. A trap or load
/// failure fails the test with the host's message.
pub async fn run(guest: &[u8], policy: Policy, args: Vec<String>) -> RunReport {
    let host = Host::new(policy).expect("host starts");
    let plugin = host.load(guest).expect("guest loads");
    let report = plugin.run(&args, Output::Capture).await.expect("guest runs without trapping");
    eprintln!(
        "--- guest {:?}\n--- result: {:?}\n--- stdout:\n{}--- stderr:\n{}",
        args.last(),
        report.result,
        String::from_utf8_lossy(&report.stdout),
        String::from_utf8_lossy(&report.stderr)
    );
    report
}

/// The guest's stdout as text.
pub fn stdout(report: &RunReport) -> String {
    String::from_utf8_lossy(&report.stdout).into_owned()
}

/// The error kind (`not-found`, `auth`, ...) a guest reported as `KIND: message`.
pub fn error_kind(report: &RunReport) -> Option<&str> {
    report.result.as_ref().err().and_then(|e| e.split(':').next())
}

/// SHA-256 of `bytes`, hex.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
