//! Progress of streaming transfers on the CLI's stderr: a bar while a
//! transfer of known size runs (when stderr is a terminal), and a final line
//! with bytes, time and rate for every transfer.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::error::{describe, Error};
use crate::observe::{Direction, TransferInfo, TransferObserver, TransferProgress};

/// Draws transfers on stderr.
pub struct StderrProgress {
    bars: bool,
}

impl StderrProgress {
    /// Bars only if stderr is a terminal; final lines always.
    pub fn new() -> Self {
        StderrProgress { bars: std::io::stderr().is_terminal() }
    }
}

impl Default for StderrProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl TransferObserver for StderrProgress {
    fn started(&self, info: &TransferInfo) -> Box<dyn TransferProgress> {
        let bar = match info.size {
            Some(size) if self.bars => {
                let bar = ProgressBar::new(size.saturating_sub(info.offset));
                bar.set_style(
                    ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                        .expect("valid template")
                        .progress_chars("=> "),
                );
                bar.set_message(info.path.clone());
                bar
            }
            _ => ProgressBar::hidden(),
        };
        Box::new(Line { info: info.clone(), bar })
    }
}

struct Line {
    info: TransferInfo,
    bar: ProgressBar,
}

impl TransferProgress for Line {
    fn advanced(&self, total: u64) {
        self.bar.set_position(total);
    }

    fn finished(&self, outcome: Result<u64, &Error>, elapsed: Duration) {
        self.bar.finish_and_clear();
        let (verb, way) = match self.info.direction {
            Direction::Download => ("downloaded", "from"),
            Direction::Upload => ("uploaded", "to"),
        };
        let TransferInfo { path, server, .. } = &self.info;
        match outcome {
            Ok(bytes) => {
                let secs = elapsed.as_secs_f64().max(1e-9);
                eprintln!(
                    "{verb} {path} {way} {server}: {bytes} bytes in {secs:.2} s ({:.1} MB/s)",
                    bytes as f64 / secs / 1e6
                );
            }
            Err(e) => eprintln!("transfer of {path} {way} {server} failed: {}", describe(e)),
        }
    }
}
