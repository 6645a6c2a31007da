//! Shared by the integration tests: an `aws-sdk-s3` client for a local endpoint.

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::{Credentials, Region};
use standins::s3::{ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY};

/// A client for `endpoint` signed with the local credentials, path-style.
pub async fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    s3_client_with(endpoint, SECRET_ACCESS_KEY, true).await
}

/// A client with a chosen secret key and addressing style.
pub async fn s3_client_with(
    endpoint: &str,
    secret_access_key: &str,
    force_path_style: bool,
) -> aws_sdk_s3::Client {
    let credentials = Credentials::new(ACCESS_KEY_ID, secret_access_key, None, None, "standins");
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .load()
        .await;
    let config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(force_path_style)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}
