fn main() -> std::process::ExitCode {
    ftp_host::allocator::keep_freed_chunks();
    ftp_host::cli::main()
}
