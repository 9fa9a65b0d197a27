//! The process allocator's settings for a host that moves files in 1 MiB
//! chunks: [`keep_freed_chunks`], called first thing by the `ftp-host`
//! binary (and the benchmark); embedders call it from their `main`, or use
//! an allocator that keeps freed memory.
//!
//! Why: a guest that writes through its own memory (`output-stream.write`
//! to a granted file or a data connection, the classic driver's `send`)
//! hands the host a `list<u8>` per call, 1 MiB in our guest libraries, which
//! wasmtime lifts into a fresh `Vec`, freed on another thread once the file
//! or the connection took it; a granted file's input stream likewise hands
//! each 1 MiB chunk it read over with its allocation, freed once copied
//! into the guest. glibc's default thresholds give those blocks
//! back to the kernel (munmap, or a trim of the heap's top) and fault them
//! in again, 4 KiB at a time: 50,000-134,000 page faults per GiB moved
//! through guest memory, against 6,500-7,500 with these settings, and about
//! 0.3 s less CPU per GiB (bench/ANALYSIS-2026-12-02-page-faults.md).

/// Blocks up to this size come from the heap, not from their own mmap.
pub const MMAP_THRESHOLD: usize = 4 * 1024 * 1024;

/// Free memory at the top of a heap kept before it is given back: room for
/// the chunks of a few transfers in flight.
pub const TRIM_THRESHOLD: usize = 128 * 1024 * 1024;

/// Make glibc keep freed blocks of up to [`MMAP_THRESHOLD`] for reuse, and
/// up to [`TRIM_THRESHOLD`] of free heap, process-wide. Call it before other
/// threads start. Does nothing where the C library is not glibc.
pub fn keep_freed_chunks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets glibc's allocator parameters; it takes the
    // allocator's own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int);
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// Minor page faults of the calling thread so far.
    fn faults() -> i64 {
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage fills the struct it is given.
        assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) }, 0);
        usage.ru_minflt
    }

    /// Eight 1 MiB chunks in flight, written, freed; again and again.
    fn rounds(n: usize) {
        for _ in 0..n {
            let chunks: Vec<Vec<u8>> = (0..8).map(|i| vec![i as u8 + 1; 1024 * 1024]).collect();
            std::hint::black_box(&chunks);
        }
    }

    #[test]
    fn freed_chunks_are_reused_without_faulting_them_in_again() {
        keep_freed_chunks();
        rounds(2);
        let before = faults();
        rounds(10);
        let faulted = faults() - before;
        // Fresh memory would fault 256 pages per chunk: 20,480 here.
        assert!(faulted < 256, "{faulted} page faults for reused chunks");
    }
}
