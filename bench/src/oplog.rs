//! The host logs every FTP operation (`target: "ftp_host::ftp"`, fields
//! `op` and `ms`); this layer keeps them, so a case can report where the
//! time of a plugin run went on the host's side.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// One operation the host performed for a plugin.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpTime {
    pub op: String,
    pub ms: u64,
}

static OPS: Mutex<Vec<OpTime>> = Mutex::new(Vec::new());

const TARGET: &str = "ftp_host::ftp";

struct OpLayer;

impl<S: Subscriber> Layer<S> for OpLayer {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if metadata.target() == TARGET {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        metadata.target() == TARGET
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = Visitor::default();
        event.record(&mut visitor);
        if let Some(op) = visitor.op {
            OPS.lock().unwrap().push(OpTime { op, ms: visitor.ms });
        }
    }
}

#[derive(Default)]
struct Visitor {
    op: Option<String>,
    ms: u64,
}

impl Visit for Visitor {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "ms" {
            self.ms = value;
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "ms" {
            self.ms = value.max(0) as u64;
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "op" {
            self.op = Some(value.to_string());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "op" && self.op.is_none() {
            self.op = Some(format!("{value:?}").trim_matches('"').to_string());
        }
    }
}

/// Start recording the host's operation log (once per process).
pub fn install() {
    let subscriber = tracing_subscriber::registry().with(OpLayer);
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Everything recorded so far, emptying the log.
pub fn take() -> Vec<OpTime> {
    std::mem::take(&mut *OPS.lock().unwrap())
}
