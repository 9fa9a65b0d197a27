#![no_main]
//! `cargo fuzz run config`: see `ftp_host_fuzz::config` for the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ftp_host_fuzz::config(data));
