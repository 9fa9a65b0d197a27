//! A worker's Prometheus metrics (prometheus-client) and the small HTTP
//! endpoint (hyper) that serves them as text on `GET /metrics`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The `server` label (a granted `host:port`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerLabel {
    /// `host:port`.
    pub server: String,
}

/// Everything a worker counts.
pub struct Metrics {
    registry: Registry,
    /// Job messages received (every delivery).
    pub received: Counter,
    /// Jobs whose final result is `ok`.
    pub succeeded: Counter,
    /// Jobs whose final result is anything else.
    pub failed: Counter,
    /// Deliveries after the first (a worker died, or an attempt failed).
    pub redelivered: Counter,
    /// Jobs moved to the dead-letter subject.
    pub dead_lettered: Counter,
    /// Run wall-clock time, seconds.
    pub run_seconds: Histogram,
    /// Bytes a run moved (down plus up).
    pub run_bytes: Histogram,
    /// Operations the policy refused (audited denials).
    pub policy_denials: Counter,
    /// Control connections open now, per server.
    pub open_connections: Family<ServerLabel, Gauge>,
    /// Time spent waiting for a connection lease, seconds.
    pub lease_wait_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All at zero, registered under the `ftphost_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ftphost");
        let m = Metrics {
            received: Counter::default(),
            succeeded: Counter::default(),
            failed: Counter::default(),
            redelivered: Counter::default(),
            dead_lettered: Counter::default(),
            run_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 18)),
            run_bytes: Histogram::new(exponential_buckets(1024.0, 4.0, 14)),
            policy_denials: Counter::default(),
            open_connections: Family::default(),
            lease_wait_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            registry: Registry::default(),
        };
        registry.register("jobs_received", "Job deliveries received", m.received.clone());
        registry.register("jobs_succeeded", "Jobs whose final result is ok", m.succeeded.clone());
        registry.register("jobs_failed", "Jobs whose final result is not ok", m.failed.clone());
        registry.register("jobs_redelivered", "Deliveries after a job's first", m.redelivered.clone());
        registry.register("jobs_dead_lettered", "Jobs moved to the dead-letter subject", m.dead_lettered.clone());
        registry.register("run_duration_seconds", "Wall-clock time of plugin runs", m.run_seconds.clone());
        registry.register("run_bytes", "Bytes one run moved, down plus up", m.run_bytes.clone());
        registry.register("policy_denials", "Operations the policy refused", m.policy_denials.clone());
        registry.register("open_connections", "FTP control connections open now", m.open_connections.clone());
        registry.register("lease_wait_seconds", "Time waiting for a connection lease", m.lease_wait_seconds.clone());
        Metrics { registry, ..m }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

/// Serve `metrics` on `addr` until the process ends; returns the bound
/// address (`addr` may have port 0).
pub async fn serve(metrics: Arc<Metrics>, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot serve metrics on {addr}"))?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let metrics = metrics.clone();
                    async move { Ok::<_, Infallible>(respond(&metrics, &req)) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    Ok(bound)
}

fn respond(metrics: &Metrics, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let (status, body) = match req.uri().path() {
        "/metrics" => (StatusCode::OK, metrics.render()),
        _ => (StatusCode::NOT_FOUND, "see /metrics\n".to_string()),
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_with_the_prefix() {
        let m = Metrics::new();
        m.received.inc();
        m.open_connections.get_or_create(&ServerLabel { server: "127.0.0.1:21".into() }).inc();
        let text = m.render();
        assert!(text.contains("ftphost_jobs_received_total 1"), "{text}");
        assert!(text.contains("ftphost_open_connections{server=\"127.0.0.1:21\"} 1"), "{text}");
    }
}
