//! The `c360` binary: everything lives in the library.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    c360::cli::run().await
}
