//! The one `bindgen!` site: Rust types and traits generated from `wit/`.
//! Private to the crate: embedders see only what `lib.rs` re-exports.
//!
//! Every `naas:ftp` import is async (it does network I/O on tokio) and
//! trappable. The WIT `error` is a trappable error type: host methods return
//! `Result<T, HostError>`, where a guest-visible error and a trap travel
//! through the same `?` (see `error.rs`).

// Generated code: its documentation is the WIT's own `///` docs.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    // No `tracing` flag: it would trace every argument at TRACE level,
    // passwords in `connect` options included. Operations are traced by
    // `usage::record` instead.
    imports: { default: async | trappable },
    exports: { default: async },
    additional_derives: [PartialEq],
    trappable_error_type: {
        "naas:ftp/types.error" => crate::error::HostError,
    },
    with: {
        "naas:ftp/client.session": crate::client::Session,
        "naas:ftp/client.download": crate::client::Download,
        "naas:ftp/client.upload": crate::client::Upload,
        // The wasi:io streams a download or upload hands out are wasmtime-wasi's own.
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:filesystem": wasmtime_wasi::p2::bindings::filesystem,
    },
});

pub use naas::ftp::{client, types};
