//! Encoders that append one CSV field or number to a byte buffer, without allocating.

/// Appends `n` in decimal.
#[inline]
pub(crate) fn push_u64(buf: &mut Vec<u8>, n: u64) {
    push_padded(buf, n, 1);
}

/// Appends `n` in decimal, left-padded with zeros to at least `width` digits (at most 20).
#[inline]
pub(crate) fn push_padded(buf: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    // Two digits per division halves the (slow) divisions on the hot path.
    while n >= 100 {
        let pair = (n % 100) as usize;
        n /= 100;
        start -= 2;
        digits[start..start + 2].copy_from_slice(&PAIRS[pair * 2..pair * 2 + 2]);
    }
    if n >= 10 {
        start -= 2;
        let pair = n as usize;
        digits[start..start + 2].copy_from_slice(&PAIRS[pair * 2..pair * 2 + 2]);
    } else {
        start -= 1;
        digits[start] = b'0' + n as u8;
    }
    // `digits` is pre-filled with zeros, so padding is just starting earlier.
    let start = start.min(digits.len().saturating_sub(width));
    buf.extend_from_slice(&digits[start..]);
}

/// Appends an amount of cents as `units.cc`.
#[inline]
pub(crate) fn push_cents(buf: &mut Vec<u8>, cents: u64) {
    push_u64(buf, cents / 100);
    let pair = (cents % 100) as usize;
    buf.push(b'.');
    buf.extend_from_slice(&PAIRS[pair * 2..pair * 2 + 2]);
}

/// Appends the concatenation of `parts` as one CSV field (no temporary string to join them),
/// quoted per RFC 4180 when it holds a comma, a double quote, CR or LF; embedded double quotes
/// are doubled.
pub(crate) fn push_field(buf: &mut Vec<u8>, parts: &[&[u8]]) {
    let needs_quotes = parts
        .iter()
        .flat_map(|part| part.iter())
        .any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
    if !needs_quotes {
        for part in parts {
            buf.extend_from_slice(part);
        }
        return;
    }
    buf.push(b'"');
    for &b in parts.iter().flat_map(|part| part.iter()) {
        if b == b'"' {
            buf.push(b'"');
        }
        buf.push(b);
    }
    buf.push(b'"');
}

/// "00" to "99", two bytes each.
static PAIRS: [u8; 200] = {
    let mut table = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        table[i * 2] = b'0' + (i / 10) as u8;
        table[i * 2 + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut buf = Vec::new();
        f(&mut buf);
        String::from_utf8(buf).expect("ASCII")
    }

    #[test]
    fn numbers_match_std_formatting() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            101,
            999_999,
            1_000_000,
            123_456_789,
            u64::MAX,
        ] {
            assert_eq!(text(|b| push_u64(b, n)), n.to_string());
            assert_eq!(text(|b| push_padded(b, n, 6)), format!("{n:06}"));
        }
    }

    #[test]
    fn cents_have_two_decimals() {
        assert_eq!(text(|b| push_cents(b, 0)), "0.00");
        assert_eq!(text(|b| push_cents(b, 5)), "0.05");
        assert_eq!(text(|b| push_cents(b, 1299)), "12.99");
        assert_eq!(text(|b| push_cents(b, 999_990)), "9999.90");
    }

    #[test]
    fn fields_are_quoted_only_when_needed() {
        assert_eq!(text(|b| push_field(b, &[b"Plain"])), "Plain");
        assert_eq!(
            text(|b| push_field(b, &[b"Cable, USB-C 2m"])),
            "\"Cable, USB-C 2m\""
        );
        assert_eq!(text(|b| push_field(b, &[b"12\" Pan"])), "\"12\"\" Pan\"");
        let parts: [&[u8]; 3] = [b"Acme", b" ", b"Cable, USB-C 2m"];
        assert_eq!(text(|b| push_field(b, &parts)), "\"Acme Cable, USB-C 2m\"");
    }
}
