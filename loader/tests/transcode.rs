//! The decoder of declared encodings on its own: a malformed sequence is
//! named by its own bytes, however the reads split. (A test here, not in
//! transcode.rs: the fuzz crate compiles that file without tokio's macros.)

use std::pin::Pin;
use std::task::{Context, Poll};

use encoding_rs::{Encoding, UTF_16LE};
use loader::transcode::{Declared, Transcoded};
use tokio::io::{AsyncRead, ReadBuf};

use tokio::io::AsyncReadExt;

/// A reader handing out its chunks one read at a time.
struct Chunks(Vec<Vec<u8>>);

impl AsyncRead for Chunks {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.0.is_empty() {
            let chunk = self.0.remove(0);
            buf.put_slice(&chunk);
        }
        Poll::Ready(Ok(()))
    }
}

async fn decode_error(chunks: &[&[u8]], encoding: &'static Encoding) -> String {
    let inner = Chunks(chunks.iter().map(|c| c.to_vec()).collect());
    let declared = Declared {
        encoding,
        by: "--encoding",
    };
    let mut reader = Transcoded::new(Box::pin(inner), declared);
    let mut out = Vec::new();
    match reader.read_to_end(&mut out).await {
        Ok(_) => panic!("decoded: {out:?}"),
        Err(e) => e.to_string(),
    }
}

/// The error names the malformed bytes themselves: not the valid ones
/// read after them, not none when they came in an earlier read or are
/// the odd last byte of a UTF-16 object.
#[tokio::test]
async fn a_malformed_sequence_is_named_by_its_own_bytes() {
    let cases: [(&[&[u8]], &'static Encoding, &str); 5] = [
        (
            &[b"a\x00\x00\xd8b\x00"],
            UTF_16LE,
            "line 1: bytes 0x00 0xd8 are",
        ),
        (
            &[b"a\x00", b"\x00\xd8", b"b\x00"],
            UTF_16LE,
            "line 1: bytes 0x00 0xd8 are",
        ),
        (
            &[b"a\x00\n\x00T\x00\x3d\xd8", b"A\x00"],
            UTF_16LE,
            "line 2: bytes 0x3d 0xd8 are",
        ),
        (&[b"a\x00b"], UTF_16LE, "line 1: bytes 0x62 are"),
        (
            &[b"x\n\x82"],
            encoding_rs::SHIFT_JIS,
            "line 2: bytes 0x82 are",
        ),
    ];
    for (chunks, encoding, want) in cases {
        let error = decode_error(chunks, encoding).await;
        assert!(error.contains(want), "{chunks:?}: {error}");
    }
}
