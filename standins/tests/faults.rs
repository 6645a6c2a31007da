//! `FaultProxy` in front of `LocalS3`, seen through the real `aws-sdk-s3` client.

mod support;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use standins::{FaultMode, FaultProxy, LocalS3};
use support::s3_client;

const OBJECT_LEN: usize = 256 * 1024;

async fn s3_with_object() -> anyhow::Result<(LocalS3, Vec<u8>)> {
    let s3 = LocalS3::builder().bucket("lake").start()?;
    let body: Vec<u8> = (0..OBJECT_LEN).map(|i| (i % 97) as u8).collect();
    s3_client(&s3.endpoint())
        .await
        .put_object()
        .bucket("lake")
        .key("object.csv")
        .body(ByteStream::from(body.clone()))
        .send()
        .await?;
    Ok((s3, body))
}

#[tokio::test]
async fn a_cut_body_is_an_error_not_a_short_read() -> anyhow::Result<()> {
    let (s3, body) = s3_with_object().await?;
    let proxy = FaultProxy::start(s3.addr(), FaultMode::CutAfter { bytes: 64 * 1024 })?;
    let client = s3_client(&proxy.endpoint()).await;

    let got = client
        .get_object()
        .bucket("lake")
        .key("object.csv")
        .send()
        .await?;
    // The headers made it through and promise the whole object...
    assert_eq!(got.content_length(), Some(OBJECT_LEN as i64));
    // ...so the client notices when the connection closes early.
    let mut stream = got.body;
    let mut received = 0usize;
    let outcome = loop {
        match stream.try_next().await {
            Ok(Some(chunk)) => received += chunk.len(),
            Ok(None) => break Ok(()),
            Err(err) => break Err(err),
        }
    };
    let err = outcome.expect_err("a body cut short must fail");
    assert!(received < OBJECT_LEN, "received {received} bytes");
    eprintln!("cut after {received} body bytes: {err:?}");

    // New connections get the new mode: a retry goes through.
    proxy.set_mode(FaultMode::PassThrough);
    let fresh = s3_client(&proxy.endpoint()).await;
    let got = fresh
        .get_object()
        .bucket("lake")
        .key("object.csv")
        .send()
        .await?;
    assert_eq!(
        got.body.collect().await?.into_bytes().as_ref(),
        body.as_slice()
    );
    assert!(proxy.connections() >= 2);
    Ok(())
}

#[tokio::test]
async fn pass_through_forwards_everything() -> anyhow::Result<()> {
    let (s3, body) = s3_with_object().await?;
    let proxy = FaultProxy::start(s3.addr(), FaultMode::PassThrough)?;
    assert_eq!(proxy.target(), s3.addr());
    let client = s3_client(&proxy.endpoint()).await;
    let got = client
        .get_object()
        .bucket("lake")
        .key("object.csv")
        .send()
        .await?;
    assert_eq!(
        got.body.collect().await?.into_bytes().as_ref(),
        body.as_slice()
    );
    Ok(())
}

#[tokio::test]
async fn throttle_slows_the_stream() -> anyhow::Result<()> {
    let (s3, body) = s3_with_object().await?;
    // 256 KiB at 512 KiB/s: about half a second.
    let proxy = FaultProxy::start(
        s3.addr(),
        FaultMode::Throttle {
            bytes_per_sec: 512 * 1024,
        },
    )?;
    let client = s3_client(&proxy.endpoint()).await;
    let started = Instant::now();
    let got = client
        .get_object()
        .bucket("lake")
        .key("object.csv")
        .send()
        .await?;
    assert_eq!(
        got.body.collect().await?.into_bytes().as_ref(),
        body.as_slice()
    );
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(400), "took {elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    Ok(())
}

#[test]
fn dropping_the_proxy_closes_it() -> anyhow::Result<()> {
    let target = std::net::TcpListener::bind("127.0.0.1:0")?;
    let proxy = FaultProxy::start(target.local_addr()?, FaultMode::PassThrough)?;
    let addr = proxy.addr();
    assert!(std::net::TcpStream::connect(addr).is_ok());
    drop(proxy);
    assert!(std::net::TcpStream::connect(addr).is_err());
    Ok(())
}
