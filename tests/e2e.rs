//! The end-to-end suites, one module each, in one test binary: a link of the
//! whole host costs tens of seconds, and each suite used to be its own.
//! `cargo test --release -p ftp-host-e2e --test e2e ftps::` runs one suite.
//! `limits.rs` stays a binary of its own: it measures the process's memory.

mod attacks;
mod classic;
mod core;
mod faults;
mod file_ops;
mod fixtures_selftest;
mod fleet;
mod ftps;
mod languages;
mod real_servers;
mod servers_smoke;
mod streaming;
