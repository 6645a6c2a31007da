//! [`LocalS3`]: an S3 API endpoint on 127.0.0.1, served by `s3s-fs` over a directory.
//!
//! Requests must be signed with SigV4 using [`ACCESS_KEY_ID`] and [`SECRET_ACCESS_KEY`]; the
//! endpoint takes path-style requests only (`http://127.0.0.1:PORT/bucket/key`), which the AWS
//! SDKs use by themselves for an IP-address endpoint (or with `force_path_style(true)`).
//!
//! How `s3s-fs` stores things (checked by this crate's tests):
//! - bucket `b` is the directory `ROOT/b`; key `k` is the file `ROOT/b/k`, stored byte for byte
//!   (spaces, `+`, non-ASCII), with `/` in a key making subdirectories;
//! - ETags are the hex MD5 of the body, or `md5(part md5s)-N` after a multipart upload;
//! - multipart parts wait as `ROOT/.upload_id-*.part-N` files; every part but the last must be
//!   at least 5 MiB, as on AWS;
//! - listings are sorted by key and carry key, size and last-modified, but no ETag;
//!   `encoding-type=url` gets URL-encoded keys as from S3 ([`crate::s3_listing`]: `s3s-fs`
//!   itself ignores it).
//!
//! The server runs on its own thread and tokio runtime (see `background.rs`), so it works from
//! synchronous code and from a current-thread test runtime alike.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s_fs::FileSystem;
use tempfile::TempDir;
use tokio::net::TcpListener;

use crate::background::BackgroundServer;
use crate::s3_listing::UrlEncodedListings;

/// The access key id every request must be signed with.
pub const ACCESS_KEY_ID: &str = "standins";
/// The secret access key every request must be signed with.
pub const SECRET_ACCESS_KEY: &str = "standins-secret";
/// The region to sign requests for (any region is accepted; this is the conventional one).
pub const REGION: &str = "us-east-1";

/// An S3 client for a local endpoint, configured explicitly: path-style addressing, the
/// stand-in's credentials and region, nothing from the process environment (tests run in
/// parallel, and a developer's AWS settings must not leak in).
pub fn client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new(REGION))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "standins",
        ))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Worker threads of the server's runtime: enough to overlap a streaming GET with a PUT.
const WORKER_THREADS: usize = 2;

/// A running S3 API endpoint on 127.0.0.1; dropping it stops the server and, if it made its
/// own temporary directory, removes that directory and everything stored in it.
#[derive(Debug)]
pub struct LocalS3 {
    // Field order matters: the server stops before the directory it serves is removed.
    server: BackgroundServer,
    root: PathBuf,
    _temp_dir: Option<TempDir>,
}

/// Options for [`LocalS3`]; start with [`LocalS3::builder`].
#[derive(Debug, Clone, Default)]
pub struct LocalS3Builder {
    port: u16,
    dir: Option<PathBuf>,
    buckets: Vec<String>,
}

impl LocalS3Builder {
    /// Listens on this port instead of one the OS chooses.
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Serves this directory (created if missing, kept on drop) instead of a fresh temporary one.
    #[must_use]
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Creates this bucket at start (repeatable; an existing bucket is kept as it is).
    #[must_use]
    pub fn bucket(mut self, name: impl Into<String>) -> Self {
        self.buckets.push(name.into());
        self
    }

    /// Starts the endpoint.
    ///
    /// # Errors
    ///
    /// The directory cannot be created, a bucket name is invalid, or the port cannot be bound.
    pub fn start(self) -> Result<LocalS3> {
        let (root, temp_dir) = match self.dir {
            Some(dir) => {
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                (dir, None)
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("standins-s3-")
                    .tempdir()
                    .context("cannot create a temporary directory for LocalS3")?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let root = root
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", root.display()))?;
        for bucket in &self.buckets {
            create_bucket_dir(&root, bucket)?;
        }

        let service = build_service(&root)?;
        let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let server = BackgroundServer::start("local-s3", bind, WORKER_THREADS, move |listener| {
            serve(listener, service)
        })?;
        tracing::debug!(endpoint = %format!("http://{}", server.addr()), root = %root.display(), "LocalS3 started");
        Ok(LocalS3 {
            server,
            root,
            _temp_dir: temp_dir,
        })
    }
}

impl LocalS3 {
    /// Starts an endpoint on an OS-chosen port over a fresh temporary directory.
    ///
    /// # Errors
    ///
    /// See [`LocalS3Builder::start`].
    pub fn start() -> Result<Self> {
        Self::builder().start()
    }

    /// Options: port, directory, buckets to create.
    #[must_use]
    pub fn builder() -> LocalS3Builder {
        LocalS3Builder::default()
    }

    /// The endpoint URL, e.g. `http://127.0.0.1:40123`.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The socket address the endpoint listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The region to sign requests for: [`REGION`].
    #[must_use]
    pub fn region(&self) -> &'static str {
        REGION
    }

    /// The access key id to sign requests with: [`ACCESS_KEY_ID`].
    #[must_use]
    pub fn access_key_id(&self) -> &'static str {
        ACCESS_KEY_ID
    }

    /// The secret access key to sign requests with: [`SECRET_ACCESS_KEY`].
    #[must_use]
    pub fn secret_access_key(&self) -> &'static str {
        SECRET_ACCESS_KEY
    }

    /// The environment that points an AWS SDK (in a child process, say) at this endpoint:
    /// `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`.
    #[must_use]
    pub fn env_vars(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
            ("AWS_REGION", REGION.to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }

    /// The directory being served: bucket `b` is `root()/b`, key `k` in it is `root()/b/k`.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates a bucket by making its directory, as `CreateBucket` would; an existing bucket is
    /// kept as it is.
    ///
    /// # Errors
    ///
    /// The name breaks S3's bucket naming rules, or the directory cannot be created.
    pub fn create_bucket(&self, name: &str) -> Result<()> {
        create_bucket_dir(&self.root, name)
    }
}

fn create_bucket_dir(root: &Path, name: &str) -> Result<()> {
    if !s3s::path::check_bucket_name(name) {
        bail!("invalid S3 bucket name {name:?}");
    }
    let dir = root.join(name);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create bucket directory {}", dir.display()))
}

fn build_service(root: &Path) -> Result<S3Service> {
    let fs = FileSystem::new(root)
        .map_err(|err| anyhow!("s3s-fs cannot serve {}: {err:?}", root.display()))?;
    let mut builder = S3ServiceBuilder::new(UrlEncodedListings(fs));
    builder.set_auth(SimpleAuth::from_single(ACCESS_KEY_ID, SECRET_ACCESS_KEY));
    Ok(builder.build())
}

async fn serve(listener: TcpListener, service: S3Service) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(err) => {
                // Usually EMFILE; back off instead of spinning.
                tracing::warn!(%err, "LocalS3: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(err) = connection.await {
                tracing::debug!(%err, "LocalS3: connection ended with an error");
            }
        });
    }
}
