//! `ftp-host inspect`: what a plugin asks for (which `naas:ftp` functions,
//! which WASI interfaces), and, with a policy, what it would be granted and
//! denied, before it is ever run.

use serde::Serialize;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::Component;

use crate::policy::Policy;
use crate::runtime::Host;

/// What a plugin is and asks for.
#[derive(Debug, Serialize)]
pub struct Inspection {
    /// Size of the component in bytes.
    pub size_bytes: u64,
    /// Whether it is a plugin this host can run.
    pub is_plugin: bool,
    /// The world it targets, when it is a plugin.
    pub world: Option<String>,
    /// Why it is not a plugin, when it is not.
    pub problem: Option<String>,
    /// The `naas:ftp` functions it imports (`client.connect`,
    /// `client.[method]session.get`, ...).
    pub ftp_functions: Vec<String>,
    /// The WASI interfaces it imports.
    pub wasi_interfaces: Vec<String>,
    /// Any other import (a plugin has none).
    pub other_imports: Vec<String>,
    /// Its exports.
    pub exports: Vec<String>,
    /// What the policy would give it, if one was given.
    pub policy: Option<Grants>,
}

/// What a policy grants and denies a plugin.
#[derive(Debug, Serialize)]
pub struct Grants {
    /// Servers it may `connect` to with its own credentials.
    pub servers: Vec<String>,
    /// Profiles it may `connect-profile` to (name and address only).
    pub profiles: Vec<String>,
    /// Host directories it may use.
    pub directories: Vec<String>,
    /// What it asks for that it would not get.
    pub denied: Vec<String>,
    /// The limits it would run under.
    pub limits: String,
}

/// Look at a component without running it.
pub fn inspect(host: &Host, bytes: &[u8], policy: Option<&Policy>) -> anyhow::Result<Inspection> {
    let engine = host.engine();
    let component = Component::new(engine, bytes)?;
    let ty = component.component_type();
    let (mut ftp, mut wasi, mut other) = (Vec::new(), Vec::new(), Vec::new());
    for (name, item) in ty.imports(engine) {
        if name.starts_with("naas:ftp/") {
            if let ComponentItem::ComponentInstance(instance) = &item.ty {
                let iface = name.trim_start_matches("naas:ftp/").split('@').next().unwrap_or(name);
                for (f, item) in instance.exports(engine) {
                    if matches!(item.ty, ComponentItem::ComponentFunc(_)) {
                        ftp.push(format!("{iface}.{f}"));
                    }
                }
            }
        } else if name.starts_with("wasi:") {
            wasi.push(name.to_string());
        } else {
            other.push(name.to_string());
        }
    }
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let problem = host.load(bytes).err().map(|e| e.to_string());
    let policy = policy.map(|p| grants(p, &ftp, &wasi));
    Ok(Inspection {
        size_bytes: bytes.len() as u64,
        is_plugin: problem.is_none(),
        world: problem.is_none().then(|| "naas:ftp/plugin@0.1.0".to_string()),
        problem,
        ftp_functions: ftp,
        wasi_interfaces: wasi,
        other_imports: other,
        exports,
        policy,
    })
}

fn grants(policy: &Policy, ftp: &[String], wasi: &[String]) -> Grants {
    let mut servers = Vec::new();
    let mut profiles = Vec::new();
    for g in policy.grants() {
        match g.profile_settings() {
            Some(p) => profiles.push(format!("{} ({}:{}, {:?})", p.name, p.host, p.port(), p.security)),
            None => servers.push(g.rule().to_string()),
        }
    }
    let directories: Vec<String> =
        policy.dirs().iter().map(|d| format!("{} as {}", d.host.display(), d.guest)).collect();
    let mut denied = Vec::new();
    let uses = |f: &str| ftp.iter().any(|x| x.ends_with(f));
    if uses("client.connect") && servers.is_empty() {
        denied.push("connect: no server is granted for the plugin's own credentials".to_string());
    }
    if uses("client.connect-profile") && profiles.is_empty() {
        denied.push("connect-profile: no profile is configured".to_string());
    }
    if wasi.iter().any(|w| w.starts_with("wasi:sockets/")) {
        denied.push(
            "wasi:sockets: linked, but every address is refused (the FTP client is the only network)".to_string(),
        );
    }
    if wasi.iter().any(|w| w.starts_with("wasi:filesystem/")) && directories.is_empty() {
        denied.push("wasi:filesystem: no directory is granted".to_string());
    }
    if wasi.iter().any(|w| w.starts_with("wasi:cli/environment")) {
        denied.push("wasi:cli/environment: the plugin sees no environment variables".to_string());
    }
    let l = policy.limits();
    let limits = format!(
        "memory {} MiB, CPU {:?}, wall clock {:?}, {} sessions, {} operations, in-memory transfers {} MiB, bytes per run {}",
        l.max_memory_bytes >> 20,
        l.max_cpu,
        l.max_wall_clock,
        l.max_sessions,
        l.max_operations,
        l.max_transfer_bytes >> 20,
        l.max_run_bytes.map_or("unlimited".to_string(), |b| format!("{} MiB", b >> 20)),
    );
    Grants { servers, profiles, directories, denied, limits }
}
