//! Command line of the migrator: `up`, `down`, `status`, `fresh`... against `DATABASE_URL`.

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(c360_migration::Migrator).await;
}
