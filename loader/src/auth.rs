//! Database credentials for the Lambda: a Secrets Manager secret (fetched
//! once at init) or an RDS IAM authentication token (made fresh for every
//! new connection, since a token is valid for 15 minutes).
//!
//! Neither the secret's value nor a token is ever logged or put in an error.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningParams, SigningSettings,
};
use aws_sigv4::sign::v4;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;

use crate::db::DbConfig;
use crate::error::{Error, Result};

/// The fields of an RDS database secret that matter here. RDS-managed
/// secrets carry only `username` and `password`; the others are optional.
#[derive(Deserialize)]
struct DatabaseSecret {
    username: Option<String>,
    password: String,
    host: Option<String>,
    port: Option<serde_json::Value>,
    dbname: Option<String>,
}

/// Applies a secret's JSON (`{"username", "password", "host", "port",
/// "dbname"}`) to the connection settings.
///
/// # Errors
/// [`Error::Config`] naming what is wrong, never the value.
pub fn apply_secret(config: &mut DbConfig, secret_json: &str) -> Result<()> {
    let secret: DatabaseSecret = serde_json::from_str(secret_json).map_err(|e| {
        Error::Config(format!(
            "the database secret is not JSON with a password field (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let port = match &secret.port {
        None => None,
        Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        Some(_) => None,
    };
    config.set_target(secret.host.as_deref(), port, secret.dbname.as_deref());
    config.set_credentials(secret.username.as_deref(), &secret.password);
    Ok(())
}

/// Fetches a secret's string value.
///
/// # Errors
/// [`Error::Config`] with the service's error code (the ARN is the
/// operator's own setting and safe to show; the value is not).
pub async fn fetch_secret(client: &aws_sdk_secretsmanager::Client, arn: &str) -> Result<String> {
    use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            let code = e.code().unwrap_or("no response").to_string();
            Error::Config(format!("reading DATABASE_SECRET_ARN {arn}: {code}"))
        })?;
    out.secret_string()
        .map(str::to_string)
        .ok_or_else(|| Error::Config(format!("secret {arn} has no string value")))
}

/// How IAM tokens are made.
#[derive(Clone, Debug)]
pub struct IamAuth {
    /// The database's region.
    pub region: String,
    /// Credentials of the function's role.
    pub credentials: SharedCredentialsProvider,
}

/// The characters SigV4 leaves unencoded in query strings.
const AWS_QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

const TOKEN_LIFETIME: Duration = Duration::from_secs(900);

impl IamAuth {
    /// A fresh token for `user` at `host:port`, used as the password.
    ///
    /// # Errors
    /// [`Error::Config`] when credentials are unavailable.
    pub async fn token(&self, host: &str, port: u16, user: &str) -> Result<String> {
        let creds = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| Error::Config(format!("AWS credentials for the IAM token: {e}")))?;
        rds_token(host, port, user, &self.region, &creds, SystemTime::now())
    }
}

/// An RDS IAM authentication token: a SigV4 presigned `connect` request,
/// without its scheme.
///
/// # Errors
/// [`Error::Config`] when signing fails.
pub fn rds_token(
    host: &str,
    port: u16,
    user: &str,
    region: &str,
    creds: &Credentials,
    now: SystemTime,
) -> Result<String> {
    let identity = creds.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("rds-db")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| Error::Config(format!("IAM token: {e}")))?;
    let params = SigningParams::V4(params);
    let base = format!(
        "{host}:{port}/?Action=connect&DBUser={}",
        utf8_percent_encode(user, AWS_QUERY)
    );
    let url = format!("https://{base}");
    let request = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| Error::Config(format!("IAM token: {e}")))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| Error::Config(format!("IAM token: {e}")))?
        .into_parts();
    let mut token = base;
    for (name, value) in instructions.params() {
        token.push('&');
        token.push_str(name);
        token.push('=');
        token.push_str(&utf8_percent_encode(value, AWS_QUERY).to_string());
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_fills_credentials_and_target_without_echoing_it() {
        let mut config = DbConfig::from_url("postgres://x@localhost/db").unwrap();
        apply_secret(
            &mut config,
            r#"{"username":"loader_role","password":"s3cr3t","host":"db.example","port":"6432","dbname":"retail"}"#,
        )
        .unwrap();
        assert_eq!(config.target(), "db.example:6432/retail as loader_role");
        assert!(!format!("{config:?}").contains("s3cr3t"));
        let err = apply_secret(&mut config, r#"{"password": s3cr3t}"#).unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }

    #[test]
    fn iam_token_is_a_presigned_connect_url() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", Some("session".into()), None, "t");
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let token = rds_token("db.example", 5432, "loader role", "eu-west-1", &creds, at).unwrap();
        assert!(token.starts_with("db.example:5432/?Action=connect&DBUser=loader%20role&"));
        assert!(token.contains("X-Amz-Algorithm=AWS4-HMAC-SHA256"));
        assert!(token.contains(
            "X-Amz-Credential=AKIDEXAMPLE%2F20231114%2Feu-west-1%2Frds-db%2Faws4_request"
        ));
        assert!(token.contains("X-Amz-Expires=900"));
        assert!(token.contains("X-Amz-Security-Token=session"));
        assert!(token.contains("X-Amz-Signature="));
        assert!(!token.contains("secret"));
    }
}
