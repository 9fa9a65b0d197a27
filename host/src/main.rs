fn main() -> std::process::ExitCode {
    ftp_host::cli::main()
}
