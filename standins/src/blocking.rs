//! Runs async work to completion from synchronous code, on a helper thread with its own
//! current-thread runtime.
//!
//! A plain `block_on` panics when the caller is already inside a tokio runtime, which is where
//! `Drop` impls and `static` initializers in async tests run. A fresh thread has no runtime, so
//! this works from anywhere; it blocks the calling thread until the work is done.

use std::future::Future;

use anyhow::{anyhow, Context, Result};

/// Runs the future made by `make` on a helper thread and returns its output.
///
/// # Errors
///
/// The future's own error, or the helper thread or runtime could not be created, or the future
/// panicked.
pub(crate) fn block_on_helper<F, Fut, T>(make: F) -> Result<T>
where
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = Result<T>>,
    T: Send,
{
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("standins-helper".to_owned())
            .spawn_scoped(scope, || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot build a helper runtime")?;
                runtime.block_on(make())
            })
            .context("cannot spawn a helper thread")?;
        handle
            .join()
            .map_err(|_| anyhow!("the helper thread panicked"))?
    })
}
