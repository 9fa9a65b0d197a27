#![no_main]
//! `cargo fuzz run paths`: see `ftp_host_fuzz::paths` for the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ftp_host_fuzz::paths(data));
