#![no_main]
//! `cargo fuzz run listing`: see `listing_property.rs` for the properties checked.

mod listing_property;

libfuzzer_sys::fuzz_target!(|data: &[u8]| listing_property::listing(data));
