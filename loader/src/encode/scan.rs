//! Finding the bytes that end the fast path's plain fields, eight at a
//! time, and counting line ends.

const LOW_BITS: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGH_BITS: u64 = u64::from_ne_bytes([0x80; 8]);

/// The eight bytes of `bytes` from `at` as a little-endian word; past the
/// end, zero bytes (never special).
#[inline]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    match bytes
        .get(at..at + 8)
        .and_then(|w| <[u8; 8]>::try_from(w).ok())
    {
        Some(word) => u64::from_le_bytes(word),
        None => {
            // Fewer than eight bytes are left (none when `at` is past them).
            let tail = bytes.get(at..).unwrap_or_default();
            let mut word = [0u8; 8];
            word[..tail.len()].copy_from_slice(tail);
            u64::from_le_bytes(word)
        }
    }
}

/// The high bit of each byte of `word` that equals `byte`, exactly (no
/// carries cross bytes: each low-seven-bit sum stays below 0x100).
#[inline]
fn bytes_equal(word: u64, byte: u8) -> u64 {
    let x = word ^ (LOW_BITS * u64::from(byte));
    !((x & !HIGH_BITS).wrapping_add(!HIGH_BITS) | x) & HIGH_BITS
}

/// Bit `i` set when byte `at + i` of `bytes` is a comma, a quote, `\r` or
/// `\n`, for 16 bytes (past the end of `bytes`: clear).
#[inline]
pub(super) fn special_mask(bytes: &[u8], at: usize) -> u32 {
    let (low, high) = (word_at(bytes, at), word_at(bytes, at + 8));
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: SSE2 is part of the x86_64 baseline: every x86_64 CPU has
        // it, and the function touches no memory.
        unsafe { special_mask_sse2(low, high) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        special_mask_swar(low, high)
    }
}

/// `special_mask` with SSE2: one compare per byte value, one movemask.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn special_mask_sse2(low: u64, high: u64) -> u32 {
    use std::arch::x86_64::*;
    let block = _mm_set_epi64x(high as i64, low as i64);
    let is = |byte: u8| _mm_cmpeq_epi8(block, _mm_set1_epi8(byte as i8));
    let any = _mm_or_si128(
        _mm_or_si128(is(b','), is(b'"')),
        _mm_or_si128(is(b'\r'), is(b'\n')),
    );
    _mm_movemask_epi8(any) as u32
}

/// `special_mask` in portable word arithmetic (aarch64 and the rest).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline]
fn special_mask_swar(low: u64, high: u64) -> u32 {
    // The high bit of each special byte, then those eight bits packed into
    // the low byte (bit k from byte k).
    let pack = |word: u64| {
        let marks = bytes_equal(word, b',')
            | bytes_equal(word, b'"')
            | bytes_equal(word, b'\r')
            | bytes_equal(word, b'\n');
        ((marks >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
    };
    pack(low) | pack(high) << 8
}

/// `\n`s, and `\r`s that no `\n` follows (old Mac line ends), in bytes.
pub(super) fn count_line_ends(bytes: &[u8]) -> u64 {
    let newlines = bytes.iter().filter(|&&b| b == b'\n').count();
    let lone_crs = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
        .count();
    (newlines + lone_crs) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_mask_marks_exactly_commas_quotes_and_line_ends() {
        // A small xorshift: the same bytes every run, every byte value.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..2000 {
            let len = round % 40;
            let bytes: Vec<u8> = (0..len)
                .map(|_| match next() % 4 {
                    0 => b",\"\r\n"[(next() % 4) as usize],
                    _ => next() as u8,
                })
                .collect();
            for at in 0..=len {
                let expected = (0..16)
                    .filter(|i| matches!(bytes.get(at + i), Some(b',' | b'"' | b'\r' | b'\n')))
                    .fold(0u32, |mask, i| mask | 1 << i);
                assert_eq!(special_mask(&bytes, at), expected, "{bytes:?} at {at}");
                let swar = special_mask_swar(word_at(&bytes, at), word_at(&bytes, at + 8));
                assert_eq!(swar, expected, "portable: {bytes:?} at {at}");
            }
        }
    }
}
