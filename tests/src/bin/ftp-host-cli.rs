//! The `ftp-host` command line, built in this crate so the fleet tests can
//! start real worker processes (and signal them) by path.

fn main() -> std::process::ExitCode {
    ftp_host::cli::main()
}
