//! The Lambda. `main` only wires: logs, clients built once, the runtime loop.
//! Configuration: see `loader::lambda`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use tokio::time::Instant;
use tracing::Instrument;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
loader::tune_mimalloc_before_main!();

/// The invocation's deadline as an `Instant`. A deadline already in the
/// past (the local emulator sends a constant) means none.
fn deadline(epoch_ms: u64) -> Option<Instant> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    let left = epoch_ms.checked_sub(now_ms).filter(|&ms| ms > 0)?;
    Some(Instant::now() + Duration::from_millis(left))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> Result<(), lambda_runtime::Error> {
    let started = Instant::now();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(started))
}

async fn run(started: Instant) -> Result<(), lambda_runtime::Error> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new("info"))?;
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_target(false)
        .without_time()
        .init();

    let configured = Instant::now();
    let handler = match loader::lambda::handler_from_env().await {
        Ok(handler) => Arc::new(handler),
        Err(e) => {
            tracing::error!(error = %e, "init failed");
            if let Err(why) =
                loader::init_error::report("Runtime.ConfigError", &e.to_string()).await
            {
                tracing::error!(error = %why, "could not report the init error");
            }
            return Err(e.into());
        }
    };
    let clients = Instant::now();
    handler.warm_up().await;
    tracing::info!(
        setup_ms = ms(configured - started),
        clients_ms = ms(clients - configured),
        connect_ms = ms(clients.elapsed()),
        total_ms = ms(started.elapsed()),
        "init done"
    );

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = handler.clone();
        async move {
            let request_id = event.context.request_id.clone();
            let span = tracing::info_span!("invocation", request_id = %request_id);
            let deadline = deadline(event.context.deadline);
            handler
                .handle(&event.payload, deadline)
                .instrument(span)
                .await
                .map_err(|e| Diagnostic {
                    error_type: e.kind.to_string(),
                    error_message: e.error_message(),
                })
        }
    }))
    .await
}
