fn main() -> std::process::ExitCode {
    nm_mptcp::main()
}
