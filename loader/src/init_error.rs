//! Reports a failed init to the Lambda Runtime API
//! (`POST /2018-06-01/runtime/init/error`), so that Lambda shows the reason
//! (`Runtime.ConfigError: ...`) instead of a bare exit. `lambda_runtime`
//! reports init errors only for SnapStart; this is the one request it does
//! not make, written by hand over a plain TCP connection.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Posts `{"errorType", "errorMessage"}` to `AWS_LAMBDA_RUNTIME_API`.
/// Best effort, bounded to 2 s: the process exits next anyway.
///
/// # Errors
/// Why the report could not be delivered.
pub async fn report(error_type: &str, message: &str) -> std::io::Result<()> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .map_err(|_| std::io::Error::other("AWS_LAMBDA_RUNTIME_API is not set"))?;
    // Real Lambda gives host:port; a local emulator may give a URL.
    let host = api
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let body = serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string();
    let request = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {host}\r\n\
         Lambda-Runtime-Function-Error-Type: {error_type}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let send = async {
        let mut stream = TcpStream::connect(&host).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut status = [0u8; 12];
        stream.read_exact(&mut status).await?;
        match &status[9..12] {
            b"202" | b"200" => Ok(()),
            other => Err(std::io::Error::other(format!(
                "the Runtime API answered {}",
                String::from_utf8_lossy(other)
            ))),
        }
    };
    tokio::time::timeout(Duration::from_secs(2), send)
        .await
        .map_err(|_| std::io::Error::other("the Runtime API did not answer in 2 s"))?
}
