//! `s3s-fs` with S3's `encoding-type=url` listings: a listing that asks for URL-encoded keys
//! gets them encoded, as from S3, instead of raw keys under a response that says "url".
//! Raw keys cannot cross XML 1.0 when they hold control characters (the client's parser
//! refuses the whole page), and a carriage return in one comes back as a line feed; S3
//! documents `encoding-type=url` for such keys, and a client asking for it must decode.
//!
//! Every other operation is `s3s-fs`'s own, forwarded unchanged.

use s3s::dto::{CommonPrefix, EncodingType, ListObjectsV2Input, ListObjectsV2Output, Object};
use s3s::{S3Request, S3Response, S3Result, S3};
use s3s_fs::FileSystem;

/// [`FileSystem`] whose ListObjectsV2 honours `encoding-type=url`.
pub(crate) struct UrlEncodedListings(pub(crate) FileSystem);

/// Percent-encodes like S3's listings: unreserved characters and `/` as they are, a space
/// as `+`, every other byte of the UTF-8 key as `%XX`.
fn encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn encode_all(output: &mut ListObjectsV2Output) {
    for object in output.contents.iter_mut().flatten() {
        let Object { key, .. } = object;
        *key = key.as_deref().map(encode);
    }
    for common in output.common_prefixes.iter_mut().flatten() {
        let CommonPrefix { prefix } = common;
        *prefix = prefix.as_deref().map(encode);
    }
    for field in [
        &mut output.prefix,
        &mut output.start_after,
        &mut output.delimiter,
    ] {
        *field = field.as_deref().map(encode);
    }
}

/// The impl: ListObjectsV2 here, the listed operations forwarded to `s3s-fs`. A macro that
/// writes the whole impl, so that `async_trait` sees the forwarded methods too.
macro_rules! impl_s3 {
    ($($op:ident($input:ident) -> $output:ident;)*) => {
        #[async_trait::async_trait]
        impl S3 for UrlEncodedListings {
            async fn list_objects_v2(
                &self,
                req: S3Request<ListObjectsV2Input>,
            ) -> S3Result<S3Response<ListObjectsV2Output>> {
                let url = req.input.encoding_type.as_ref().map(EncodingType::as_str)
                    == Some(EncodingType::URL);
                let mut response = self.0.list_objects_v2(req).await?;
                if url {
                    encode_all(&mut response.output);
                }
                Ok(response)
            }

            $(
                async fn $op(
                    &self,
                    req: S3Request<s3s::dto::$input>,
                ) -> S3Result<S3Response<s3s::dto::$output>> {
                    self.0.$op(req).await
                }
            )*
        }
    };
}

impl_s3! {
    create_bucket(CreateBucketInput) -> CreateBucketOutput;
    copy_object(CopyObjectInput) -> CopyObjectOutput;
    delete_bucket(DeleteBucketInput) -> DeleteBucketOutput;
    delete_object(DeleteObjectInput) -> DeleteObjectOutput;
    delete_objects(DeleteObjectsInput) -> DeleteObjectsOutput;
    get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput;
    get_object(GetObjectInput) -> GetObjectOutput;
    head_bucket(HeadBucketInput) -> HeadBucketOutput;
    head_object(HeadObjectInput) -> HeadObjectOutput;
    list_buckets(ListBucketsInput) -> ListBucketsOutput;
    list_objects(ListObjectsInput) -> ListObjectsOutput;
    put_object(PutObjectInput) -> PutObjectOutput;
    create_multipart_upload(CreateMultipartUploadInput) -> CreateMultipartUploadOutput;
    upload_part(UploadPartInput) -> UploadPartOutput;
    upload_part_copy(UploadPartCopyInput) -> UploadPartCopyOutput;
    list_parts(ListPartsInput) -> ListPartsOutput;
    complete_multipart_upload(CompleteMultipartUploadInput) -> CompleteMultipartUploadOutput;
    abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput;
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn keys_encode_as_s3_lists_them() {
        assert_eq!(encode("in/a b+c%.csv"), "in/a+b%2Bc%25.csv");
        assert_eq!(encode("ctl\u{1}\r.csv"), "ctl%01%0D.csv");
        assert_eq!(encode("ü.csv"), "%C3%BC.csv");
        assert_eq!(encode("A-Z_a.z~0/9"), "A-Z_a.z~0/9");
    }
}
