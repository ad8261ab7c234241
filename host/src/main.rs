// glibc's malloc showed up at ~10% of a loaded server's samples (many threads, many small
// allocations per request); mimalloc is faster and holds memory better across threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    mobieus::cli::run()
}
