//! `naas-ftp`: the classic FTP driver API for ftp-host plugins written in Rust.
//!
//! ```ignore
//! use naas_ftp::{connect, Error};
//!
//! struct Plugin;
//! impl naas_ftp::Guest for Plugin {
//!     fn run(_args: Vec<String>) -> Result<String, String> {
//!         let ftp = connect("user", "passwd").host("ftp.example.com").secure(true).open()?;
//!         let names = ftp.list_directory(None)?;           // names in the current directory
//!         ftp.get("/reports/today.csv", None)?;              // into the granted directory, streamed
//!         ftp.send("summary.txt", Some("/outbox/summary.txt"))?; // from the granted directory
//!         Ok(format!("{} entries", names.len()))
//!     }
//! }
//! naas_ftp::export!(Plugin);
//! ```
//!
//! What it owns:
//! * the bindings of the `plugin` world ([`bindings`]), generated once here, and
//!   the [`export!`] macro that makes a type the plugin's entry point;
//! * [`connect`] (a builder with the classic `connect(user, passwd, host, port,
//!   secure, force_prot)` knobs) and [`connect_profile`], both giving an [`Ftp`];
//! * the verbs `get`, `send`, `list_directory` of the classic driver, where
//!   "local" means a directory the operator granted (`ftp-host run --dir`): an
//!   absolute path under one of them, or a relative path in the first one;
//! * [`Reader`] and [`Writer`], `std::io::Read`/`Write` over a transfer's
//!   `wasi:io` streams, and [`Ftp::download_to`]/[`Ftp::upload_from`], which
//!   have the host move the file between the FTP connection and a local file
//!   (`save-to`/`send-from`), so the bytes never enter the plugin's memory;
//! * the file-management calls of `naas:ftp@0.2.0`: [`Ftp::list`] (entries with
//!   kind, size and time), [`Ftp::stat`], [`Ftp::mkdir`], [`Ftp::rmdir`],
//!   [`Ftp::delete`], [`Ftp::rename`], [`Ftp::modified`], [`Ftp::set_modified`],
//!   [`Ftp::features`];
//! * [`Error`], the WIT error cases as a Rust enum (`std::error::Error`), shown
//!   as `KIND: message`.

/// The generated bindings of the `plugin` world (`wit/ftp.wit`), for what the
/// wrappers do not cover.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "plugin",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "naas_ftp::bindings",
    });
}

mod error;
mod ftp;
mod local;
mod stream;
mod time;

/// Make a type implementing [`Guest`] the plugin's entry point: `naas_ftp::export!(Plugin);`.
pub use bindings::export;
pub use bindings::naas::ftp::client::SendMode;
pub use bindings::naas::ftp::types::{ConnectOptions, Datetime, Entry, EntryKind, Security};
/// The plugin's entry point: implement it, then `naas_ftp::export!(YourType)`.
pub use bindings::Guest;
pub use error::{Error, Result};
pub use ftp::{connect, connect_profile, Connect, Downloaded, Ftp, UploadMode, Uploaded, Via};
pub use local::local_dir;
pub use stream::{Reader, Writer};
pub use time::{format_datetime, kind_name};
