//! The `alertgate` binary: parse the command line, set up logging, hand over to the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: glibc hands the writer thread's freed SQLite pages back to
/// the kernel (madvise) after each transaction and faults them in again on the next one, and the
/// TLB shootdowns that costs showed as the writer's largest kernel cost under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    alertgate::cli::run(alertgate::cli::Cli::parse())
}
