//! `c360 serve`: the gateway on the configured store, with demo data and a
//! token to try it with when asked, until Ctrl-C or SIGTERM.

use std::time::Duration;

use sea_orm::{EntityTrait, PaginatorTrait};

use super::seed_options;
use crate::auth::Role;
use crate::config::Config;
use crate::db::redact_url;
use crate::error::{AppError, AppResult};
use crate::http::graphiql::DemoSession;
use crate::http::rate_limit::RateLimiter;
use crate::seed::run as seed_store;
use crate::startup::Application;

/// Customers seeded by `serve --seed-demo`.
pub(super) const DEMO_CUSTOMERS: u64 = 1_000;

pub(super) async fn serve(config: Config, seed_demo: bool) -> AppResult<()> {
    let app = Application::build(config).await?;
    let state = app.state().clone();
    let url = format!("http://{}", app.local_addr());
    tracing::info!(store = %redact_url(&state.config.database_url), "listening on {url}");
    if let RateLimiter::Shared(limiter) = &state.rate_limiter {
        // Said at start so a wrong URL shows at once; the limiter works
        // (by C360_REDIS_DOWN) and reconnects either way.
        match limiter.connect().await {
            Ok(()) => tracing::info!("rate limits are shared through Redis"),
            Err(error) => tracing::warn!(
                %error,
                policy = ?state.config.redis_down,
                "Redis does not answer: requests follow C360_REDIS_DOWN until it does"
            ),
        }
    }
    if seed_demo {
        let db = &state.store.conn;
        if c360_entity::customer::Entity::find().count(db).await? == 0 {
            let report = seed_store(db, &seed_options(&state, DEMO_CUSTOMERS, 360)).await?;
            tracing::info!("{report}");
        } else {
            tracing::info!("the store already holds customers; demo data not seeded again");
        }
        let token = state
            .issuer
            .as_ref()
            .ok_or_else(|| {
                AppError::bad_input(
                    "C360_JWT_SECRET",
                    "--seed-demo prints a token: set C360_JWT_SECRET or pass --dev",
                )
            })?
            .mint(
                Role::Staff,
                "demo-staff",
                &[],
                Duration::from_secs(24 * 3600),
            )?;
        let showcase = showcase_customer(db)
            .await?
            .map(|id| crate::domain::ids::gid(crate::domain::ids::Kind::Customer, id));
        println!("\nc360 is serving demo data.\n");
        println!("  GraphiQL:     {url}/graphql");
        println!("  Staff token:  {token}");
        if let Some(id) = &showcase {
            println!("  A customer with every kind of record: {id}");
        }
        if state.config.dev {
            // The page hands the token to whoever loads it: acceptable only
            // for a development server.
            let demo = DemoSession {
                token: token.into(),
                customer: showcase,
            };
            // Set once: `serve` seeds and mints a single time per process.
            let _ = state.graphiql_demo.set(demo);
            println!(
                "\nGraphiQL opens with this token, the README's first query and this customer filled in.\n"
            );
        } else {
            println!("\nIn GraphiQL, add the header {{\"Authorization\": \"Bearer <token>\"}}.\n");
        }
    }
    app.run_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// The customer with the most orders among those who have every kind of
/// record (tickets, reviews, referrals both ways, NPS answers), to show off.
async fn showcase_customer(db: &sea_orm::DatabaseConnection) -> AppResult<Option<i64>> {
    use sea_orm::{ConnectionTrait, Statement};
    const SQL: &str = "SELECT m.customer_id FROM customer_metrics m \
        WHERE m.orders_count > 0 AND m.tickets_count > 0 AND m.reviews_count > 0 \
        AND m.last_nps_score IS NOT NULL \
        AND EXISTS (SELECT 1 FROM referrals r WHERE r.customer_id = m.customer_id) \
        AND EXISTS (SELECT 1 FROM referrals r WHERE r.referee_customer_id = m.customer_id) \
        ORDER BY m.orders_count DESC, m.customer_id ASC LIMIT 1";
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), SQL))
        .await?;
    Ok(row.and_then(|r| r.try_get_by_index::<i64>(0).ok()))
}

/// Resolves on Ctrl-C or SIGTERM; the server then finishes in-flight requests.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
