//! The VM's free-page reporting, paused while the benchmark runs.
//!
//! On a VM whose virtio balloon reports free pages (`/sys/module/page_reporting`),
//! memory the guest kernel frees goes back to the hypervisor (at once where
//! `min_free_ms` is 0), and the next write to it pays the hypervisor's fault.
//! Every 1 GiB transfer frees the previous copy of its file on the tmpfs and
//! writes a new one, so a random round of a random client (or the server)
//! cost 2–5x its CPU: `bench/ANALYSIS-2026-12-04-page-reporting.md`.
//! Raising `page_reporting_order` above the buddy allocator's largest order
//! makes no free block qualify, so nothing is reported; the old order comes
//! back when the guard is dropped, or when the run is interrupted
//! (`crate::interrupt`). Pausing it is like
//! fixing a CPU's frequency for a benchmark: every client gains alike, and
//! the report says so.

use std::fs;

const ORDER: &str = "/sys/module/page_reporting/parameters/page_reporting_order";

/// Above x86-64's largest buddy order (10): no free block is large enough
/// to be reported.
const OFF: &str = "11";

/// What the benchmark did with free-page reporting.
pub enum PageReporting {
    /// No free-page reporting on this machine.
    Absent,
    /// Left as it was: `order` is the parameter's value, `why` the reason.
    Kept { order: String, why: String },
    /// Off for the run; `order` is written back on drop.
    Paused { order: String },
}

impl PageReporting {
    /// Pause reporting unless `keep`; a parameter that cannot be written is
    /// left alone (and the report says so).
    pub fn pause(keep: bool) -> PageReporting {
        let Ok(order) = fs::read_to_string(ORDER).map(|s| s.trim().to_string()) else {
            return PageReporting::Absent;
        };
        if keep {
            return PageReporting::Kept { order, why: "--keep-page-reporting".into() };
        }
        if let Err(e) = fs::write(ORDER, OFF) {
            return PageReporting::Kept { order, why: format!("cannot write {ORDER}: {e}") };
        }
        let restored = order.clone();
        crate::interrupt::on_interrupt(move || restore(&restored));
        PageReporting::Paused { order }
    }

    /// One line for the report's Machine table.
    pub fn describe(&self) -> String {
        match self {
            PageReporting::Absent => "none (no `/sys/module/page_reporting`)".into(),
            PageReporting::Kept { order, why } => format!(
                "**on** (`page_reporting_order` {order}; {why}): memory freed during the run goes back to the hypervisor, and a round that writes into it costs several times its CPU"
            ),
            PageReporting::Paused { order } if order == OFF => {
                format!("off (`page_reporting_order` was already {OFF} before the run)")
            }
            PageReporting::Paused { order } => format!(
                "paused for the run (`page_reporting_order` {order} → {OFF}, restored at the end): memory a transfer frees stays in the VM for the next one, so no round pays the hypervisor's faults (`bench/ANALYSIS-2026-12-04-page-reporting.md`)"
            ),
        }
    }
}

impl Drop for PageReporting {
    fn drop(&mut self) {
        if let PageReporting::Paused { order } = self {
            restore(order);
        }
    }
}

fn restore(order: &str) {
    if let Err(e) = fs::write(ORDER, order) {
        eprintln!("warning: could not restore {ORDER} to {order}: {e}");
    }
}
