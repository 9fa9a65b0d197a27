//! The one `bindgen!` site: Rust types and traits generated from `wit/`.
//!
//! Every `naas:ftp` import is async (it does network I/O on tokio) and
//! trappable: the outer `wasmtime::Result` is for host bugs, which trap; the
//! inner `Result<_, Error>` is what the guest sees.

// Generated code: its documentation is the WIT's own `///` docs.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    imports: { default: async | trappable | tracing },
    exports: { default: async },
    additional_derives: [PartialEq],
    with: {
        "naas:ftp/client.session": crate::session::Session,
        "naas:ftp/client.download": crate::transfer::Download,
        "naas:ftp/client.upload": crate::transfer::Upload,
        // The wasi:io streams a download or upload hands out are wasmtime-wasi's own.
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:filesystem": wasmtime_wasi::p2::bindings::filesystem,
    },
});

pub use naas::ftp::{client, types};
