//! What a run's WebAssembly may allocate inside wasmtime: one byte budget
//! for all its linear memories and tables together, and caps on how many
//! instances, memories, tables and host handles (the store's resource
//! table: sessions, streams, pollables, files) it may create.
//!
//! wasmtime's own `StoreLimits` caps each linear memory on its own, so a
//! module declaring many memories (multi-memory is on) or growing a table
//! (each element is host memory) could take many times the operator's
//! `memory` limit. [`RunLimiter`] sums them instead. Its refusals are typed
//! ([`StoreLimit`]) so the runtime reports them as limits, not plugin bugs.

use wasmtime::component::ResourceTableError;
use wasmtime::ResourceLimiter;

/// Host bytes one table element costs (wasmtime stores a pointer per element).
pub const TABLE_ELEMENT_BYTES: usize = std::mem::size_of::<usize>();

/// A limit of [`RunLimiter`] (or of the resource table) that stopped a run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreLimit {
    /// Growing a linear memory or a table would take the run's memories and
    /// tables together past the budget.
    #[error("the plugin tried to grow its {what} to {requested} bytes in all (its linear memories and tables together), past the operator's memory limit of {budget} bytes")]
    Memory {
        /// `memory` or `table`.
        what: &'static str,
        /// Bytes all memories and tables would have taken.
        requested: usize,
        /// The operator's `memory` limit.
        budget: usize,
    },
    /// Too many core instances.
    #[error("the plugin created more than {0} WebAssembly instances (the operator's `instances` limit)")]
    Instances(usize),
    /// Too many linear memories.
    #[error("the plugin declared more than {0} linear memories (the operator's `memories` limit)")]
    Memories(usize),
    /// Too many tables.
    #[error("the plugin declared more than {0} tables (the operator's `tables` limit)")]
    Tables(usize),
    /// The store's resource table is full.
    #[error("the plugin holds more than {0} host handles (sessions, transfers, streams, pollables, files) at once (the operator's `handles` limit)")]
    Handles(usize),
}

/// The caps of one run, from the policy's limits.
#[derive(Clone, Copy, Debug)]
pub struct StoreCaps {
    /// Bytes of all linear memories and tables together.
    pub memory_bytes: usize,
    /// Core instances.
    pub instances: usize,
    /// Linear memories.
    pub memories: usize,
    /// Tables.
    pub tables: usize,
    /// Entries of the resource table.
    pub handles: usize,
}

impl StoreCaps {
    /// The limit `error` (from instantiating or calling the plugin) reports,
    /// if it reports one of these caps.
    pub fn exceeded(&self, error: &wasmtime::Error) -> Option<StoreLimit> {
        if let Some(limit) = error.downcast_ref::<StoreLimit>() {
            return Some(limit.clone());
        }
        if let Some(ResourceTableError::Full) = error.downcast_ref::<ResourceTableError>() {
            return Some(StoreLimit::Handles(self.handles));
        }
        // wasmtime counts instances, memories and tables itself and reports
        // a plain message (`resource limit exceeded: memory count too high at 9`).
        let text = format!("{error:?}");
        if text.contains("resource limit exceeded: instance count") {
            Some(StoreLimit::Instances(self.instances))
        } else if text.contains("resource limit exceeded: memory count") {
            Some(StoreLimit::Memories(self.memories))
        } else if text.contains("resource limit exceeded: table count") {
            Some(StoreLimit::Tables(self.tables))
        } else {
            None
        }
    }
}

/// The `ResourceLimiter` of one run's store.
#[derive(Debug)]
pub struct RunLimiter {
    caps: StoreCaps,
    /// Bytes granted so far to all memories and tables. Never decreases: a
    /// growth wasmtime then fails to make still counts, which errs on the
    /// side of the host (memories and tables are never freed before the
    /// store is).
    used: usize,
}

impl RunLimiter {
    /// A limiter enforcing `caps`.
    pub fn new(caps: StoreCaps) -> Self {
        RunLimiter { caps, used: 0 }
    }

    /// Bytes granted to memories and tables so far.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used
    }

    fn grow(&mut self, what: &'static str, current: usize, desired: usize) -> wasmtime::Result<bool> {
        if let Some(limit) = self.past_budget(what, current, desired) {
            return Err(limit.into());
        }
        self.used = self.used.saturating_add(desired.saturating_sub(current));
        Ok(true)
    }

    /// The limit growing from `current` to `desired` bytes would break, if any.
    fn past_budget(&self, what: &'static str, current: usize, desired: usize) -> Option<StoreLimit> {
        let requested = self.used.saturating_add(desired.saturating_sub(current));
        (requested > self.caps.memory_bytes).then_some(StoreLimit::Memory {
            what,
            requested,
            budget: self.caps.memory_bytes,
        })
    }
}

impl ResourceLimiter for RunLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Past the memory's own declared maximum: `memory.grow` returns -1,
        // as the spec says, and nothing is counted.
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        self.grow("linear memory", current, desired)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        // The budget first: `maximum` is also the instance pool's table
        // size, so a growth past the operator's budget is named as such.
        let (from, to) = (current.saturating_mul(TABLE_ELEMENT_BYTES), desired.saturating_mul(TABLE_ELEMENT_BYTES));
        if maximum.is_some_and(|max| desired > max) {
            return match self.past_budget("table", from, to) {
                Some(limit) => Err(limit.into()),
                None => Ok(false),
            };
        }
        self.grow("table", from, to)
    }

    fn instances(&self) -> usize {
        self.caps.instances
    }

    fn tables(&self) -> usize {
        self.caps.tables
    }

    fn memories(&self) -> usize {
        self.caps.memories
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(memory_bytes: usize) -> StoreCaps {
        StoreCaps { memory_bytes, instances: 4, memories: 2, tables: 3, handles: 5 }
    }

    #[test]
    fn memories_and_tables_share_one_budget() {
        let mut l = RunLimiter::new(caps(10 << 20));
        assert!(l.memory_growing(0, 4 << 20, None).unwrap());
        // A second memory: counted with the first.
        assert!(l.memory_growing(0, 4 << 20, None).unwrap());
        let e = l.memory_growing(0, 4 << 20, None).unwrap_err();
        assert!(
            matches!(e.downcast_ref::<StoreLimit>(), Some(StoreLimit::Memory { budget, .. }) if *budget == 10 << 20)
        );
        // A table's elements come out of the same budget.
        assert!(l.table_growing(0, (1 << 20) / TABLE_ELEMENT_BYTES, None).unwrap());
        assert_eq!(l.used(), 9 << 20);
        let e = l.table_growing(0, 1 << 28, None).unwrap_err();
        assert!(e.to_string().contains("table"), "{e}");
        // Past a memory's declared maximum: -1, not a trap, nothing counted.
        assert!(!l.memory_growing(0, 2 << 20, Some(1 << 20)).unwrap());
        assert_eq!(l.used(), 9 << 20);
    }

    #[test]
    fn wasmtime_count_errors_are_recognised() {
        let c = caps(1);
        let e = wasmtime::Error::msg("resource limit exceeded: memory count too high at 3");
        assert_eq!(c.exceeded(&e), Some(StoreLimit::Memories(2)));
        let e = wasmtime::Error::from(ResourceTableError::Full);
        assert_eq!(c.exceeded(&e), Some(StoreLimit::Handles(5)));
        assert_eq!(c.exceeded(&wasmtime::Error::msg("unreachable")), None);
    }
}
