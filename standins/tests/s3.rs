//! `LocalS3` through the real `aws-sdk-s3` client.

mod support;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use standins::LocalS3;
use support::{s3_client, s3_client_with};

/// A key with a directory, a space, a `+` and non-ASCII characters.
const AWKWARD_KEY: &str = "incoming/2024 sales+returns/Zürich – 東京 ✓.csv";

fn is_hex_md5(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn put_get_list_keep_awkward_keys_exactly() -> anyhow::Result<()> {
    let s3 = LocalS3::builder().bucket("lake").start()?;
    let client = s3_client(&s3.endpoint()).await;
    let body = b"transaction_id,total_amount\nT1,9.99\n".to_vec();

    let put = client
        .put_object()
        .bucket("lake")
        .key(AWKWARD_KEY)
        .body(ByteStream::from(body.clone()))
        .send()
        .await?;
    let etag = put.e_tag().expect("PutObject returns an ETag");
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && is_hex_md5(etag.trim_matches('"')),
        "simple ETag is a quoted hex MD5: {etag}"
    );

    // Stored byte for byte under ROOT/bucket/key.
    let on_disk = std::fs::read(s3.root().join("lake").join(AWKWARD_KEY))?;
    assert_eq!(on_disk, body);

    let got = client
        .get_object()
        .bucket("lake")
        .key(AWKWARD_KEY)
        .send()
        .await?;
    assert_eq!(got.content_length(), Some(body.len() as i64));
    assert_eq!(got.e_tag(), Some(etag));
    assert_eq!(
        got.body.collect().await?.into_bytes().as_ref(),
        body.as_slice()
    );

    client
        .put_object()
        .bucket("lake")
        .key("incoming/2024 sales returns/other.csv")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await?;
    let listed = client
        .list_objects_v2()
        .bucket("lake")
        .prefix("incoming/2024 sales+")
        .send()
        .await?;
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, [AWKWARD_KEY], "a `+` in the prefix is not a space");
    let object = &listed.contents()[0];
    assert_eq!(object.size(), Some(body.len() as i64));
    // s3s-fs 0.14 leaves the ETag out of listings.
    assert_eq!(object.e_tag(), None);

    let all = client.list_objects_v2().bucket("lake").send().await?;
    let keys: Vec<&str> = all.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(
        keys,
        ["incoming/2024 sales returns/other.csv", AWKWARD_KEY],
        "sorted by key"
    );
    Ok(())
}

#[tokio::test]
async fn multipart_upload_round_trips() -> anyhow::Result<()> {
    const MIB: usize = 1024 * 1024;
    let s3 = LocalS3::start()?;
    s3.create_bucket("lake")?;
    let client = s3_client(&s3.endpoint()).await;
    let key = "big/generated file+1.csv";
    // Every part but the last must be at least 5 MiB.
    let parts: Vec<Vec<u8>> = vec![
        (0..5 * MIB).map(|i| (i % 251) as u8).collect(),
        (0..5 * MIB).map(|i| (i % 13) as u8).collect(),
        b"tail".to_vec(),
    ];

    let upload = client
        .create_multipart_upload()
        .bucket("lake")
        .key(key)
        .send()
        .await?;
    let upload_id = upload.upload_id().expect("an upload id");
    let mut completed = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let number = i32::try_from(index + 1)?;
        let uploaded = client
            .upload_part()
            .bucket("lake")
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(part.clone()))
            .send()
            .await?;
        completed.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(uploaded.e_tag().expect("a part ETag"))
                .build(),
        );
    }
    let done = client
        .complete_multipart_upload()
        .bucket("lake")
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await?;
    let etag = done
        .e_tag()
        .expect("a multipart ETag")
        .trim_matches('"')
        .to_owned();
    let (hash, count) = etag.split_once('-').expect("multipart ETag is HASH-N");
    assert!(is_hex_md5(hash), "{etag}");
    assert_eq!(count, "3");

    let expected: Vec<u8> = parts.concat();
    let got = client.get_object().bucket("lake").key(key).send().await?;
    assert_eq!(
        got.e_tag().map(|e| e.trim_matches('"')),
        Some(etag.as_str())
    );
    let bytes = got.body.collect().await?.into_bytes();
    assert_eq!(bytes.len(), expected.len());
    assert!(bytes.as_ref() == expected.as_slice());

    // No part files are left behind.
    let leftovers: Vec<String> = std::fs::read_dir(s3.root())?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with(".upload"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    Ok(())
}

#[tokio::test]
async fn small_non_final_parts_are_rejected_as_on_aws() -> anyhow::Result<()> {
    let s3 = LocalS3::builder().bucket("lake").start()?;
    let client = s3_client(&s3.endpoint()).await;
    let upload = client
        .create_multipart_upload()
        .bucket("lake")
        .key("k")
        .send()
        .await?;
    let upload_id = upload.upload_id().expect("an upload id");
    let mut completed = Vec::new();
    for number in 1..=2 {
        let uploaded = client
            .upload_part()
            .bucket("lake")
            .key("k")
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from_static(b"too small"))
            .send()
            .await?;
        completed.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(uploaded.e_tag().unwrap_or_default())
                .build(),
        );
    }
    let result = client
        .complete_multipart_upload()
        .bucket("lake")
        .key("k")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await;
    let err = result.expect_err("a 9-byte first part is too small");
    let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&err);
    assert_eq!(code, Some("EntityTooSmall"), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn requests_must_be_signed_with_the_local_credentials() -> anyhow::Result<()> {
    let s3 = LocalS3::builder().bucket("lake").start()?;
    let wrong = s3_client_with(&s3.endpoint(), "not-the-secret", true).await;
    let err = wrong
        .list_objects_v2()
        .bucket("lake")
        .send()
        .await
        .expect_err("a wrong secret is refused");
    let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&err);
    assert_eq!(code, Some("SignatureDoesNotMatch"), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn an_ip_endpoint_needs_no_force_path_style() -> anyhow::Result<()> {
    let s3 = LocalS3::builder().bucket("lake").start()?;
    let client = s3_client_with(&s3.endpoint(), standins::s3::SECRET_ACCESS_KEY, false).await;
    client
        .put_object()
        .bucket("lake")
        .key("a b+c")
        .body(ByteStream::from_static(b"1"))
        .send()
        .await?;
    assert!(s3.root().join("lake/a b+c").is_file());
    Ok(())
}

#[test]
fn env_vars_point_at_the_endpoint_and_drop_removes_the_directory() -> anyhow::Result<()> {
    let s3 = LocalS3::start()?;
    let vars = s3.env_vars();
    let get = |name: &str| {
        vars.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    assert_eq!(get("AWS_ENDPOINT_URL"), Some(s3.endpoint()));
    assert_eq!(get("AWS_ACCESS_KEY_ID").as_deref(), Some("standins"));
    assert_eq!(
        get("AWS_SECRET_ACCESS_KEY").as_deref(),
        Some("standins-secret")
    );
    assert_eq!(get("AWS_REGION").as_deref(), Some("us-east-1"));
    assert!(s3.endpoint().starts_with("http://127.0.0.1:"));
    assert!(s3.create_bucket("Not_A_Bucket").is_err());

    let root = s3.root().to_path_buf();
    let addr = s3.addr();
    assert!(root.is_dir());
    drop(s3);
    assert!(!root.exists(), "temporary directory removed");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "server stopped"
    );
    Ok(())
}

#[test]
fn a_given_directory_and_port_are_used_and_kept() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let s3 = LocalS3::builder()
        .dir(dir.path().join("store"))
        .port(port)
        .bucket("one")
        .bucket("two")
        .start()?;
    assert_eq!(s3.endpoint(), format!("http://127.0.0.1:{port}"));
    assert!(s3.root().join("one").is_dir() && s3.root().join("two").is_dir());
    drop(s3);
    assert!(
        dir.path().join("store/one").is_dir(),
        "a given directory is kept"
    );
    Ok(())
}
