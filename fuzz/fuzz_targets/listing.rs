#![no_main]
//! `cargo fuzz run listing`: see `src/listing.rs` for the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ftp_host_fuzz::listing::listing(data));
