//! Read buffers reused once every chunk split off them is gone: the data
//! connection's read-ahead ([`crate::client`]'s pump) receives up to 1 MiB
//! at a time into them and hands out `Bytes` that may live on in queues or
//! the guest's hands. (The granted files' input streams do not pool: a
//! whole chunk leaves with its allocation, see [`crate::file_streams`].)
//!
//! Fresh MiB-sized blocks cost a page fault per 4 KiB (glibc returns freed
//! ones to the kernel): 15,000-72,000 faults per GiB downloaded were
//! measured, where native clients reusing one buffer take about 1,200
//! (bench/ANALYSIS-2026-12-02-first-touch.md).

use std::collections::VecDeque;

use bytes::BytesMut;

/// Buffers kept for reuse: enough that one is usually free again by the
/// time it is needed, with chunks queued, in the guest's hands and in a
/// write-behind, and a bound on what one stream keeps idle
/// (`SPARE_BUFFERS` x the buffer size).
pub const SPARE_BUFFERS: usize = 16;

/// One stream's buffers of `size` bytes each.
pub struct ReadBuffers {
    size: usize,
    /// Oldest first: the likeliest to be free again.
    spare: VecDeque<BytesMut>,
}

impl ReadBuffers {
    /// No buffers yet; each will hold `size` bytes.
    pub fn new(size: usize) -> Self {
        ReadBuffers { size, spare: VecDeque::new() }
    }

    /// A buffer with room for `size` bytes, in place of `used`. `used` may
    /// have no room left at all: it still holds its allocation and can take
    /// it back whole.
    pub fn next(&mut self, used: BytesMut) -> BytesMut {
        self.spare.push_back(used);
        let size = self.size;
        // `try_reclaim` succeeds only when no chunk of the buffer is alive.
        let free = self.spare.iter_mut().position(|b| b.is_empty() && b.try_reclaim(size));
        if let Some(buf) = free.and_then(|i| self.spare.remove(i)) {
            return buf;
        }
        if self.spare.len() >= SPARE_BUFFERS {
            // Still in use downstream: its memory goes with its last chunk.
            self.spare.pop_front();
        }
        BytesMut::with_capacity(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: usize = 1024 * 1024;

    #[test]
    fn buffers_are_reused_once_their_chunks_are_gone() {
        let mut buffers = ReadBuffers::new(SIZE);
        let mut buf = BytesMut::with_capacity(SIZE);
        let first = buf.as_ptr();
        // Filled to the end: the handle left has no room, and still the buffer.
        buf.resize(buf.capacity(), 1);
        let chunk = buf.split().freeze();
        assert_eq!(buf.capacity(), 0);
        // A chunk of the first buffer is alive: a new one.
        let second = buffers.next(buf);
        assert_ne!(second.as_ptr(), first);
        assert!(second.capacity() >= SIZE);
        drop(chunk);
        // Now the first is free again: it comes back, whole.
        let again = buffers.next(second);
        assert_eq!(again.as_ptr(), first);
        assert!(again.capacity() >= SIZE);
        // Buffers pinned by live chunks are not kept beyond the bound.
        let mut alive = Vec::new();
        let mut buf = again;
        for _ in 0..3 * SPARE_BUFFERS {
            buf.extend_from_slice(&[2; 10]);
            alive.push(buf.split().freeze());
            buf = buffers.next(buf);
            assert!(buffers.spare.len() <= SPARE_BUFFERS);
        }
    }
}
