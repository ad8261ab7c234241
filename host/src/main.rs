fn main() -> std::process::ExitCode {
    mobieus::cli::run()
}
