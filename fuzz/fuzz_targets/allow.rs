#![no_main]
//! `cargo fuzz run allow`: see `ftp_host_fuzz::allow` for the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ftp_host_fuzz::allow(data));
