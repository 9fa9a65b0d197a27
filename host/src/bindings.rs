//! The one `bindgen!` site: Rust types and traits generated from `wit/`.
//!
//! Every `naas:ftp` import is async (it does network I/O on tokio) and
//! trappable: the outer `wasmtime::Result` is for host bugs, which trap; the
//! inner `Result<_, Error>` is what the guest sees.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    imports: { default: async | trappable | tracing },
    exports: { default: async },
    with: {
        "naas:ftp/client.session": crate::session::Session,
    },
});

pub use naas::ftp::{client, types};
