//! Declared encodings: which one an object is in, and a streaming decoder
//! to UTF-8 for the ones that are not UTF-8.
//!
//! The encoder reads UTF-8. An object in another encoding (`--encoding`,
//! `SOURCE_ENCODING`, a `charset=` in its S3 Content-Type, or a UTF-16
//! byte-order mark) goes through [`Transcoded`], which decodes chunk by
//! chunk (never the whole object) and maps newlines one to one, so the
//! encoder's line numbers and column names are the object's own. UTF-8
//! input gets no layer at all: it costs nothing.
//!
//! Precedence: a byte-order mark, then the object's Content-Type charset,
//! then the configured label, then UTF-8.

use std::pin::Pin;
use std::task::{Context, Poll};

use encoding_rs::{DecoderResult, Encoding, UTF_16BE, UTF_16LE, UTF_8};
use tokio::io::{AsyncRead, ReadBuf};

use crate::error::{Error, Result};

/// An encoding and where it was declared, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Declared {
    /// The encoding.
    pub encoding: &'static Encoding,
    /// `--encoding`, `the Content-Type charset`, `a byte-order mark`.
    pub by: &'static str,
}

/// The encoding a WHATWG label names (`windows-1252`, `latin1`,
/// `utf-16le`, `shift_jis`, ...).
///
/// # Errors
/// [`Error::Config`] for an unknown label.
pub fn encoding_for_label(label: &str, setting: &str) -> Result<&'static Encoding> {
    match Encoding::for_label(label.trim().as_bytes()) {
        Some(e) if e != encoding_rs::REPLACEMENT => Ok(e),
        _ => Err(Error::Config(format!(
            "{setting} {label:?} is not an encoding label (WHATWG labels: utf-8, windows-1252, \
             latin1, utf-16le, utf-16be, shift_jis, gb18030, ...)"
        ))),
    }
}

/// The `charset` parameter of a Content-Type such as
/// `text/csv; charset="ISO-8859-1"`, if any.
pub fn content_type_charset(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_string())
    })
}

/// The encoding a byte-order mark at the start of `head` announces.
pub fn bom_encoding(head: &[u8]) -> Option<&'static Encoding> {
    Encoding::for_bom(head).map(|(encoding, _)| encoding)
}

/// Whether bytes in `declared` need decoding before the encoder (UTF-8 and
/// ASCII-compatible-as-UTF-8 do not).
pub fn needs_decoding(declared: Option<Declared>) -> bool {
    declared.is_some_and(|d| d.encoding != UTF_8)
}

/// Bytes of undecoded input held at once.
const INPUT_CHUNK: usize = 64 * 1024;

/// A reader's bytes decoded from `declared` to UTF-8, streaming.
pub struct Transcoded {
    inner: Pin<Box<dyn AsyncRead + Send>>,
    decoder: encoding_rs::Decoder,
    declared: Declared,
    input: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    done: bool,
    output: Vec<u8>,
    out_pos: usize,
    /// Newlines handed out so far: the line of a malformed sequence.
    newlines: u64,
    /// The last bytes consumed before `input` was refilled: a malformed
    /// sequence may have begun in an earlier read.
    carry: Vec<u8>,
}

/// Bytes kept in `carry`: more than any malformed sequence plus what
/// encoding_rs reads past it.
const CARRY: usize = 16;

impl Transcoded {
    /// Decodes `inner` from `declared`; a byte-order mark of that encoding
    /// at the start is dropped.
    pub fn new(inner: Pin<Box<dyn AsyncRead + Send>>, declared: Declared) -> Self {
        Transcoded {
            inner,
            decoder: declared.encoding.new_decoder_with_bom_removal(),
            declared,
            input: vec![0; INPUT_CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            done: false,
            output: Vec::new(),
            out_pos: 0,
            newlines: 0,
            carry: Vec::with_capacity(2 * CARRY),
        }
    }

    /// Decodes what input there is into `output`.
    fn decode(&mut self) -> std::io::Result<()> {
        let pending = &self.input[self.start..self.end];
        let room = self
            .decoder
            .max_utf8_buffer_length_without_replacement(pending.len())
            .unwrap_or(pending.len() * 3 + 16)
            .max(16);
        self.output.clear();
        self.output.resize(room, 0);
        self.out_pos = 0;
        let (result, read, written) =
            self.decoder
                .decode_to_utf8_without_replacement(pending, &mut self.output, self.eof);
        self.output.truncate(written);
        self.start += read;
        let newlines = self.output.iter().filter(|&&b| b == b'\n').count() as u64;
        match result {
            DecoderResult::Malformed(bad, extra) => {
                let line = self.newlines + newlines + 1;
                // The malformed bytes end `extra` bytes before where the
                // decoder stopped, possibly in an earlier read.
                let consumed: Vec<u8> = self
                    .carry
                    .iter()
                    .chain(&self.input[..self.start])
                    .copied()
                    .collect();
                let end = consumed.len().saturating_sub(extra as usize);
                let begin = end.saturating_sub(bad as usize);
                let bytes: Vec<String> = consumed[begin..end]
                    .iter()
                    .map(|b| format!("0x{b:02x}"))
                    .collect();
                Err(super::fault::content_fault(format!(
                    "line {line}: bytes {} are not valid {} (declared by {})",
                    bytes.join(" "),
                    self.declared.encoding.name(),
                    self.declared.by
                )))
            }
            DecoderResult::InputEmpty => {
                if self.eof {
                    self.done = true;
                }
                Ok(())
            }
            DecoderResult::OutputFull => Ok(()),
        }
    }
}

impl AsyncRead for Transcoded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.out_pos < this.output.len() {
                let n = buf.remaining().min(this.output.len() - this.out_pos);
                let part = &this.output[this.out_pos..this.out_pos + n];
                this.newlines += part.iter().filter(|&&b| b == b'\n').count() as u64;
                buf.put_slice(part);
                this.out_pos += n;
                return Poll::Ready(Ok(()));
            }
            if this.done {
                return Poll::Ready(Ok(()));
            }
            if this.start == this.end && !this.eof {
                let tail = this.end.saturating_sub(CARRY);
                this.carry.extend_from_slice(&this.input[tail..this.end]);
                let drop = this.carry.len().saturating_sub(CARRY);
                this.carry.drain(..drop);
                this.start = 0;
                this.end = 0;
                let mut read = ReadBuf::new(&mut this.input);
                match this.inner.as_mut().poll_read(cx, &mut read) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(())) => {
                        this.end = read.filled().len();
                        this.eof = this.end == 0;
                    }
                }
            }
            this.decode()?;
        }
    }
}

/// UTF-16 as a byte-order mark announces it: little or big endian.
pub fn is_utf16(encoding: &'static Encoding) -> bool {
    encoding == UTF_16LE || encoding == UTF_16BE
}
