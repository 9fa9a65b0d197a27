//! Fixtures shared by the end-to-end tests: FTP servers to run guests
//! against, a NATS server for the fleet, and helpers to run a guest and read
//! its result.

pub mod harness;
pub mod hostile_server;
pub mod iis_server;
pub mod nats;
pub mod scripted_server;
pub mod servers;
