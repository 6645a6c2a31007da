//! [`FaultProxy`]: a TCP proxy on 127.0.0.1 that injects network faults between a client and a
//! server (usually [`LocalS3`](crate::LocalS3)), for tests of how a client copes with them.
//!
//! The mode is read when a connection is accepted, so [`FaultProxy::set_mode`] affects only
//! later connections: cut the first attempt, then let a retry through. Byte counts are per TCP
//! connection and include the HTTP response headers; with keep-alive, a second request on the
//! same connection continues the count.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::background::BackgroundServer;

/// Largest read forwarded at once.
const BUFFER_SIZE: usize = 64 * 1024;
/// A throttled stream is paced in slices of this fraction of a second, so it flows smoothly.
const THROTTLE_SLICES_PER_SEC: u64 = 20;

/// What a [`FaultProxy`] does to each new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// Forward everything unchanged.
    PassThrough,
    /// Forward until `bytes` bytes have gone from the server to the client, then close both
    /// directions: a response cut off mid-body.
    CutAfter {
        /// Server-to-client bytes (headers included) forwarded before the cut.
        bytes: u64,
    },
    /// Forward each direction at no more than `bytes_per_sec` (at least 1).
    Throttle {
        /// The rate limit of each direction.
        bytes_per_sec: u64,
    },
}

/// A running fault-injecting proxy; dropping it closes the listener and every connection.
#[derive(Debug)]
pub struct FaultProxy {
    server: BackgroundServer,
    target: SocketAddr,
    state: Arc<ProxyState>,
}

#[derive(Debug)]
struct ProxyState {
    mode: Mutex<FaultMode>,
    connections: AtomicU64,
}

impl ProxyState {
    fn mode(&self) -> FaultMode {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FaultProxy {
    /// Starts a proxy on an OS-chosen port of 127.0.0.1 in front of `target`.
    ///
    /// # Errors
    ///
    /// The listener or its thread cannot be created.
    pub fn start(target: SocketAddr, mode: FaultMode) -> Result<Self> {
        let state = Arc::new(ProxyState {
            mode: Mutex::new(mode),
            connections: AtomicU64::new(0),
        });
        let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let serve_state = Arc::clone(&state);
        let server = BackgroundServer::start("fault-proxy", bind, 1, move |listener| {
            accept_loop(listener, target, serve_state)
        })?;
        Ok(Self {
            server,
            target,
            state,
        })
    }

    /// The proxy's address; connect here instead of to the target.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://` and the proxy's address, for use as an endpoint URL.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The address the proxy forwards to.
    #[must_use]
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// The mode new connections get.
    #[must_use]
    pub fn mode(&self) -> FaultMode {
        self.state.mode()
    }

    /// Changes the mode for connections accepted from now on; open ones keep theirs.
    pub fn set_mode(&self, mode: FaultMode) {
        *self
            .state
            .mode
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = mode;
    }

    /// How many connections the proxy has accepted so far.
    #[must_use]
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, state: Arc<ProxyState>) {
    loop {
        let client = match listener.accept().await {
            Ok((client, _peer)) => client,
            Err(err) => {
                tracing::warn!(%err, "fault proxy: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        state.connections.fetch_add(1, Ordering::SeqCst);
        let mode = state.mode();
        tokio::spawn(relay(client, target, mode));
    }
}

/// How one direction of a relayed connection ended.
#[derive(Debug, PartialEq, Eq)]
enum PumpEnd {
    /// The sender closed its side cleanly; the close was passed on.
    Eof,
    /// The byte budget ran out.
    Cut,
    /// A read or write failed.
    Failed,
}

async fn relay(client: TcpStream, target: SocketAddr, mode: FaultMode) {
    let server = match TcpStream::connect(target).await {
        Ok(server) => server,
        Err(err) => {
            tracing::debug!(%err, %target, "fault proxy: cannot reach target");
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let (budget, rate) = match mode {
        FaultMode::PassThrough => (None, None),
        FaultMode::CutAfter { bytes } => (Some(bytes), None),
        FaultMode::Throttle { bytes_per_sec } => (None, Some(bytes_per_sec.max(1))),
    };
    let upstream = pump(client_read, server_write, None, rate);
    let downstream = pump(server_read, client_write, budget, rate);
    tokio::pin!(upstream, downstream);
    let mut upstream_open = true;
    loop {
        tokio::select! {
            end = &mut upstream, if upstream_open => {
                // A client that half-closes may still be reading its response.
                if end != PumpEnd::Eof {
                    return;
                }
                upstream_open = false;
            }
            // Returning drops every half, which closes both sockets.
            _ = &mut downstream => return,
        }
    }
}

/// Copies `from` to `to`, stopping after `budget` bytes if given, at `rate` bytes/s if given.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    budget: Option<u64>,
    rate: Option<u64>,
) -> PumpEnd {
    let slice = rate.map_or(BUFFER_SIZE, |rate| {
        usize::try_from(rate / THROTTLE_SLICES_PER_SEC)
            .unwrap_or(BUFFER_SIZE)
            .clamp(1, BUFFER_SIZE)
    });
    let mut buf = vec![0u8; slice];
    let mut remaining = budget;
    let started = Instant::now();
    let mut sent: u64 = 0;
    loop {
        let want = match remaining {
            Some(0) => return PumpEnd::Cut,
            Some(left) => usize::try_from(left).map_or(buf.len(), |left| left.min(buf.len())),
            None => buf.len(),
        };
        let n = match from.read(&mut buf[..want]).await {
            Ok(0) => {
                let _ = to.shutdown().await;
                return PumpEnd::Eof;
            }
            Ok(n) => n,
            Err(_) => return PumpEnd::Failed,
        };
        if to.write_all(&buf[..n]).await.is_err() {
            return PumpEnd::Failed;
        }
        let n = n as u64;
        sent += n;
        if let Some(left) = remaining.as_mut() {
            *left -= n;
        }
        if let Some(rate) = rate {
            let due = started + Duration::from_secs_f64(sent as f64 / rate as f64);
            tokio::time::sleep_until(due).await;
        }
    }
}
