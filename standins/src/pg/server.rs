//! [`LocalPostgres`]: finds a PostgreSQL server to test against, or starts a throwaway one.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio_postgres::{Config, NoTls};

use super::cluster::{ThrowawayCluster, SUPERUSER};
use super::conninfo;
use super::testdb::TestDb;
use crate::blocking::block_on_helper;

/// The port a local server is looked for on.
const LOCAL_PORT: u16 = 5432;
/// The maintenance database every cluster has.
const MAINTENANCE_DB: &str = "postgres";
/// How long a probe of a local server may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// A PostgreSQL server for tests and the demo. If this value started a throwaway cluster,
/// dropping it stops the cluster and removes its files.
///
/// No TLS: the server is local (or `DATABASE_URL` must accept plain connections).
#[derive(Debug)]
pub struct LocalPostgres {
    url: String,
    admin_url: String,
    description: String,
    cluster: Option<ThrowawayCluster>,
}

impl LocalPostgres {
    /// Finds a server, in this order: `DATABASE_URL` if set; a server on 127.0.0.1:5432 that
    /// lets `$PGUSER`, `postgres` or the OS user in without a password and create databases;
    /// a throwaway cluster ([`LocalPostgres::start_throwaway`]) if PostgreSQL's server programs
    /// are installed.
    ///
    /// Blocks (up to a few seconds, longer for `initdb`); callable from sync or async code.
    ///
    /// # Errors
    ///
    /// None of these worked; the message says why each failed and how to install PostgreSQL
    /// or set `DATABASE_URL`.
    pub fn discover_or_start() -> Result<Self> {
        if let Some(url) = std::env::var("DATABASE_URL")
            .ok()
            .filter(|url| !url.trim().is_empty())
        {
            return Self::from_url(&url).context("DATABASE_URL is set but unusable");
        }
        let local = match Self::running_on_localhost() {
            Ok(server) => return Ok(server),
            Err(err) => err,
        };
        tracing::debug!(reason = %format!("{local:#}"), "no usable server on 127.0.0.1:5432");
        Self::start_throwaway().map_err(|err| {
            anyhow!(
                "no PostgreSQL server to use: DATABASE_URL is not set; {local:#}; and no \
                 throwaway cluster: {err:#}"
            )
        })
    }

    /// The process-wide server from [`LocalPostgres::discover_or_start`], found once and shared
    /// by every caller (for test binaries whose tests run in parallel, each with its own
    /// [`TestDb`]). It is never dropped; a throwaway cluster is still stopped and removed when
    /// the process exits (see the cluster's watchdog).
    ///
    /// # Errors
    ///
    /// The first discovery failed; every call reports the same error.
    pub fn shared() -> Result<&'static Self> {
        static SHARED: OnceLock<Result<LocalPostgres, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| Self::discover_or_start().map_err(|err| format!("{err:#}")))
            .as_ref()
            .map_err(|message| anyhow!("{message}"))
    }

    /// Uses the server at `url` (a `postgres://` URL or a key/value string); `admin_url()` is
    /// the same URL. Does not connect.
    ///
    /// # Errors
    ///
    /// `url` is not a valid connection string.
    pub fn from_url(url: &str) -> Result<Self> {
        Config::from_str(url).context("invalid connection string")?;
        Ok(Self {
            url: url.to_owned(),
            admin_url: url.to_owned(),
            description: format!("server from DATABASE_URL ({})", conninfo::describe(url)),
            cluster: None,
        })
    }

    /// Uses a server already running on 127.0.0.1:5432, trying the users `$PGUSER`, `postgres`
    /// and the OS user (password-less, e.g. `trust` auth) with database `postgres`; the first
    /// that connects and may create databases wins.
    ///
    /// # Errors
    ///
    /// Nothing listens there, or no user gets in with the right to create databases.
    pub fn running_on_localhost() -> Result<Self> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, LOCAL_PORT));
        TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)
            .with_context(|| format!("nothing answers on {addr}"))?;
        let mut refusals = Vec::new();
        for user in candidate_users() {
            let url = conninfo::url("127.0.0.1", LOCAL_PORT, &user, MAINTENANCE_DB);
            match probe(&url) {
                Ok(info) if info.can_create_databases => {
                    return Ok(Self {
                        description: format!(
                            "PostgreSQL {} already running on {addr} (user {user})",
                            info.version
                        ),
                        admin_url: url.clone(),
                        url,
                        cluster: None,
                    });
                }
                Ok(_) => refusals.push(format!("user {user} may not create databases")),
                Err(err) => refusals.push(format!("user {user}: {err:#}")),
            }
        }
        bail!(
            "the server on {addr} is not usable: {}",
            refusals.join("; ")
        )
    }

    /// Starts a throwaway cluster: `initdb` into a temporary directory and `pg_ctl start` on a
    /// free port of 127.0.0.1, trust authentication, superuser `postgres`, `fsync=off`. When
    /// this process is root, the server runs as the `postgres` OS user. Dropping the value
    /// stops the server and removes the directory.
    ///
    /// # Errors
    ///
    /// The server programs are missing (the message says how to install them), or `initdb` or
    /// `pg_ctl` fails (the message carries their output).
    pub fn start_throwaway() -> Result<Self> {
        Self::from_cluster(ThrowawayCluster::start()?)
    }

    /// A throwaway cluster that also accepts TLS with this certificate and key (PEM files),
    /// for tests of `sslmode`.
    ///
    /// # Errors
    ///
    /// As [`LocalPostgres::start_throwaway`], or the files cannot be installed.
    pub fn start_throwaway_with_tls(cert: &std::path::Path, key: &std::path::Path) -> Result<Self> {
        Self::from_cluster(ThrowawayCluster::start_with_tls(Some((cert, key)))?)
    }

    /// Restarts a throwaway cluster's server on the same port, cutting every connection.
    ///
    /// # Errors
    ///
    /// This is not a throwaway cluster, or `pg_ctl restart` fails.
    pub fn restart(&self) -> Result<()> {
        match &self.cluster {
            Some(cluster) => cluster.restart(),
            None => anyhow::bail!("only a throwaway cluster can be restarted by the tests"),
        }
    }

    fn from_cluster(cluster: ThrowawayCluster) -> Result<Self> {
        let url = conninfo::url("127.0.0.1", cluster.port(), SUPERUSER, MAINTENANCE_DB);
        let version =
            probe(&url).map_or_else(|_| "(version unknown)".to_owned(), |info| info.version);
        let description = format!(
            "PostgreSQL {version}, throwaway cluster in {} on 127.0.0.1:{} (programs from {})",
            cluster.dir().display(),
            cluster.port(),
            cluster.bindir().display()
        );
        Ok(Self {
            admin_url: url.clone(),
            url,
            description,
            cluster: Some(cluster),
        })
    }

    /// The server's URL: `DATABASE_URL` as given, or a `postgres://` URL with database
    /// `postgres`.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL used to create and drop databases: the server's `postgres` database as a
    /// superuser or database creator, or `DATABASE_URL` as given.
    #[must_use]
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// Which server this is, for logs and test output; never includes a password.
    #[must_use]
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Whether this value started (and will stop) its own cluster.
    #[must_use]
    pub fn is_throwaway(&self) -> bool {
        self.cluster.is_some()
    }

    /// Creates a fresh, uniquely named database whose name starts with `prefix` (sanitized);
    /// see [`TestDb`]. Safe to call concurrently from many tests and processes.
    ///
    /// # Errors
    ///
    /// The server cannot be reached, or refuses `CREATE DATABASE`.
    pub async fn create_database(&self, prefix: &str) -> Result<TestDb> {
        TestDb::create(&self.admin_url, &self.url, prefix).await
    }

    /// [`LocalPostgres::create_database`] for synchronous callers (it blocks; it also works
    /// inside a runtime).
    ///
    /// # Errors
    ///
    /// See [`LocalPostgres::create_database`].
    pub fn create_database_blocking(&self, prefix: &str) -> Result<TestDb> {
        block_on_helper(|| self.create_database(prefix))
    }
}

/// What a probe learned about a server.
struct ServerInfo {
    version: String,
    can_create_databases: bool,
}

fn probe(url: &str) -> Result<ServerInfo> {
    let mut config = Config::from_str(url)?;
    config.connect_timeout(PROBE_TIMEOUT);
    block_on_helper(|| async move {
        let (client, connection) = config.connect(NoTls).await?;
        let connection = tokio::spawn(connection);
        let row = client
            .query_one(
                "SELECT current_setting('server_version'), \
                        (SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user)",
                &[],
            )
            .await?;
        let info = ServerInfo {
            version: row.try_get(0)?,
            can_create_databases: row.try_get::<_, Option<bool>>(1)?.unwrap_or(false),
        };
        drop(client);
        let _ = connection.await;
        Ok(info)
    })
}

/// `$PGUSER`, `postgres`, then the OS user; without repeats.
fn candidate_users() -> Vec<String> {
    let mut users = Vec::new();
    let pguser = std::env::var("PGUSER").ok();
    let os_user = std::env::var("USER").ok().or_else(os_user_name);
    for user in [pguser, Some(SUPERUSER.to_owned()), os_user]
        .into_iter()
        .flatten()
    {
        if !user.is_empty() && !users.contains(&user) {
            users.push(user);
        }
    }
    users
}

fn os_user_name() -> Option<String> {
    let output = std::process::Command::new("id").arg("-un").output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
