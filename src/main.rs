fn main() -> std::process::ExitCode {
    repoman::cli::main()
}
