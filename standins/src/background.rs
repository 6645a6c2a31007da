//! A TCP server that runs on its own thread with its own tokio runtime.
//!
//! The stand-ins serve from a private runtime rather than the caller's, so they work the same
//! from synchronous code, from a current-thread `#[tokio::test]` runtime (whose only thread may
//! be blocked in a synchronous call while a request is in flight), and from `static`
//! initializers. Dropping the handle stops accepting, cancels every connection task, and joins
//! the thread before returning.

use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// How long a stopping server waits for blocking file operations (`tokio::fs`) that are already
/// running; connection tasks themselves are cancelled at once.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A running background server; dropping it stops the server.
#[derive(Debug)]
pub(crate) struct BackgroundServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundServer {
    /// Binds `bind` (port 0 lets the OS choose), then runs `serve(listener)` on a new thread
    /// named `name` with a runtime of `worker_threads` workers until the handle is dropped.
    ///
    /// # Errors
    ///
    /// Binding fails, or the runtime or thread cannot be created.
    pub(crate) fn start<F, Fut>(
        name: &str,
        bind: SocketAddr,
        worker_threads: usize,
        serve: F,
    ) -> Result<Self>
    where
        F: FnOnce(TcpListener) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let std_listener =
            StdTcpListener::bind(bind).with_context(|| format!("{name}: cannot bind {bind}"))?;
        let addr = std_listener.local_addr()?;
        std_listener.set_nonblocking(true)?;

        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let thread_name = name.to_owned();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(worker_threads.max(1))
                    .thread_name(format!("{thread_name}-worker"))
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = ready_tx.send(Err(anyhow!(err).context("cannot build runtime")));
                        return;
                    }
                };
                let listener = {
                    let _entered = runtime.enter();
                    TcpListener::from_std(std_listener)
                };
                match listener {
                    Ok(listener) => {
                        let _ = ready_tx.send(Ok(()));
                        runtime.block_on(async move {
                            tokio::select! {
                                () = serve(listener) => {}
                                _ = shutdown_rx => {}
                            }
                        });
                    }
                    Err(err) => {
                        let _ =
                            ready_tx.send(Err(anyhow!(err).context("cannot register listener")));
                    }
                }
                runtime.shutdown_timeout(SHUTDOWN_GRACE);
            })
            .with_context(|| format!("{name}: cannot spawn server thread"))?;

        let started = ready_rx
            .recv()
            .map_err(|_| anyhow!("{name}: server thread exited during startup"))
            .and_then(|ready| ready);
        if let Err(err) = started {
            let _ = thread.join();
            return Err(err.context(format!("{name}: cannot start")));
        }
        Ok(Self {
            addr,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// The address the server listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
