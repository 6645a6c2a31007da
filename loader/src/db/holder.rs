//! One connection, opened on first use and replaced when broken; with RDS
//! IAM authentication a fresh token for every new connection.

use std::time::Duration;

use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::DbConfig;
use crate::error::{Error, Result};

/// A connection that is opened on first use and replaced when broken.
pub struct Db {
    config: DbConfig,
    client: Option<Client>,
    iam: Option<crate::auth::IamAuth>,
}

impl Db {
    /// Not connected yet; see [`Db::client`].
    pub fn new(config: DbConfig) -> Self {
        Db {
            config,
            client: None,
            iam: None,
        }
    }

    /// Authenticates every new connection with a fresh RDS IAM token.
    pub fn with_iam_auth(mut self, iam: crate::auth::IamAuth) -> Self {
        self.iam = Some(iam);
        self
    }

    /// The settings.
    pub fn config(&self) -> &DbConfig {
        &self.config
    }

    /// Mutable settings (credentials refreshed); the next use reconnects.
    pub fn config_mut(&mut self) -> &mut DbConfig {
        self.client = None;
        &mut self.config
    }

    /// The open connection, connecting first when there is none or it broke.
    ///
    /// # Errors
    /// [`Error::Connect`].
    pub async fn client(&mut self) -> Result<&mut Client> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            if let Some(iam) = &self.iam {
                let (host, user, port) = self.config.host_user_port();
                let (Some(host), Some(user)) = (host, user) else {
                    return Err(Error::Config(
                        "IAM authentication needs a host name and a user".into(),
                    ));
                };
                let token = iam.token(&host, port, &user).await?;
                self.config.set_credentials(None, &token);
            }
            self.client = Some(self.config.connect().await?);
        }
        Ok(self.client.as_mut().expect("set just above"))
    }

    /// Drops the connection so the next use opens a new one.
    pub fn reset(&mut self) {
        self.client = None;
    }

    /// Asks the server to cancel whatever the connection is running, then
    /// drops it: used when a load is abandoned mid-statement (deadline), so
    /// its transaction rolls back now rather than when the server next
    /// notices the closed socket.
    pub async fn cancel_and_reset(&mut self) {
        if let Some(client) = self.client.take() {
            let token = client.cancel_token();
            drop(client);
            if let Ok(tls) = self.config.tls_client_config() {
                let cancel = token.cancel_query(MakeRustlsConnect::new(tls));
                let _ = tokio::time::timeout(Duration::from_secs(2), cancel).await;
            }
        }
    }
}
