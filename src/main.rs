//! The `c360` binary: everything lives in the library.

/// jemalloc rather than glibc's malloc, for Rust and SQLite alike: see the
/// `jemalloc` feature in Cargo.toml and "Allocator" in BENCHMARKS.md.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    c360::cli::run().await
}
