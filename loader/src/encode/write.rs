//! Writing one validated field as COPY text or binary.

use bytes::{BufMut, BytesMut};

use crate::columns::ColumnType;
use crate::value::{self, ValueFault};

/// The plausible dates of a load, days since 2000-01-01, both included.
#[derive(Clone, Copy, Debug)]
pub(super) struct DateBounds {
    pub first: i32,
    pub last: i32,
}

impl DateBounds {
    #[inline]
    pub(super) fn check(self, days: i32) -> Result<i32, ValueFault> {
        if days > self.last {
            Err(ValueFault::DateTooLate)
        } else if days < self.first {
            Err(ValueFault::DateTooEarly)
        } else {
            Ok(days)
        }
    }
}

/// Fields up to this long are copied as one fixed-size block.
pub(super) const WIDE_COPY: usize = 32;

/// Appends `field` to `out`; `rest` is the held bytes from the field's start
/// on (`rest` starts with `field`). A short field is copied as a fixed
/// 32-byte block from `rest` and `out` cut back to its end: two vector moves
/// instead of a call to memcpy, for the ten or so short text fields a row
/// has.
#[inline]
fn put_field(out: &mut BytesMut, field: &[u8], rest: &[u8]) {
    debug_assert!(rest.starts_with(field));
    if field.len() <= WIDE_COPY {
        if let Some(block) = rest
            .get(..WIDE_COPY)
            .and_then(|b| <&[u8; WIDE_COPY]>::try_from(b).ok())
        {
            let end = out.len() + field.len();
            out.extend_from_slice(block);
            out.truncate(end);
            return;
        }
    }
    out.extend_from_slice(field);
}

#[inline]
pub(super) fn write_binary(
    ty: ColumnType,
    field: &[u8],
    rest: &[u8],
    plain: bool,
    dates: DateBounds,
    out: &mut BytesMut,
) -> Result<(), ValueFault> {
    match ty {
        ColumnType::Text => {
            if !plain {
                value::check_text(field)?;
            }
            out.put_i32(field.len() as i32);
            put_field(out, field, rest);
        }
        ColumnType::Date => {
            let days = dates.check(value::parse_date(field)?)?;
            out.put_i32(4);
            out.put_i32(days);
        }
        ColumnType::Time => {
            let us = value::parse_time(field)?;
            out.put_i32(8);
            out.put_i64(us);
        }
        ColumnType::Money => put_numeric(out, value::parse_money(field)?),
        ColumnType::Int2 => {
            let v = value::parse_int2(field)?;
            out.put_i32(2);
            out.put_i16(v);
        }
        ColumnType::Int4 => {
            let v = value::parse_int4(field)?;
            out.put_i32(4);
            out.put_i32(v);
        }
    }
    Ok(())
}

/// Writes cents as a binary `numeric` with display scale 2: base-10000
/// digits, most significant first, no leading or trailing zero digits.
#[inline]
fn put_numeric(out: &mut BytesMut, cents: i64) {
    let negative = cents < 0;
    let abs = cents.unsigned_abs();
    let (mut int_part, frac) = (abs / 100, (abs % 100) as i16 * 100);
    // numeric(15,2) has at most 13 integer digits: 4 base-10000 groups.
    let mut groups = [0i16; 4];
    let mut ngroups = 0;
    while int_part > 0 {
        groups[ngroups] = (int_part % 10_000) as i16;
        int_part /= 10_000;
        ngroups += 1;
    }
    let mut digits = [0i16; 5];
    let mut ndigits = 0;
    for g in groups[..ngroups].iter().rev() {
        digits[ndigits] = *g;
        ndigits += 1;
    }
    let weight: i16 = if ngroups > 0 { ngroups as i16 - 1 } else { -1 };
    if frac != 0 {
        digits[ndigits] = frac;
        ndigits += 1;
    }
    // Trailing zero groups of the integer part carry no information.
    while ndigits > 0 && digits[ndigits - 1] == 0 {
        ndigits -= 1;
    }
    out.put_i32(8 + 2 * ndigits as i32);
    out.put_i16(ndigits as i16);
    out.put_i16(if ndigits == 0 { 0 } else { weight });
    out.put_u16(if negative && ndigits > 0 { 0x4000 } else { 0 });
    out.put_i16(2);
    for d in &digits[..ndigits] {
        out.put_i16(*d);
    }
}

#[inline]
pub(super) fn write_text(
    ty: ColumnType,
    field: &[u8],
    rest: &[u8],
    plain: bool,
    dates: DateBounds,
    out: &mut BytesMut,
) -> Result<(), ValueFault> {
    match ty {
        ColumnType::Text => {
            if !plain {
                value::check_text(field)?;
            }
            push_escaped(out, field, rest);
        }
        ColumnType::Date => {
            dates.check(value::parse_date(field)?)?;
            out.extend_from_slice(field.trim_ascii());
        }
        ColumnType::Time => {
            value::parse_time(field)?;
            out.extend_from_slice(field.trim_ascii());
        }
        ColumnType::Money => {
            let cents = value::parse_money(field)?;
            let abs = cents.unsigned_abs();
            push_decimal(out, abs / 100, cents < 0);
            out.put_u8(b'.');
            out.put_u8(b'0' + (abs % 100 / 10) as u8);
            out.put_u8(b'0' + (abs % 10) as u8);
        }
        ColumnType::Int2 => {
            let v = value::parse_int2(field)?;
            push_decimal(out, v.unsigned_abs() as u64, v < 0);
        }
        ColumnType::Int4 => {
            let v = value::parse_int4(field)?;
            push_decimal(out, v.unsigned_abs() as u64, v < 0);
        }
    }
    Ok(())
}

/// COPY TEXT escaping: backslash, tab, newline and carriage return would
/// otherwise end fields or rows (or, as `\.`, the data) early.
#[inline]
fn push_escaped(out: &mut BytesMut, field: &[u8], rest: &[u8]) {
    if !field
        .iter()
        .any(|&b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'))
    {
        put_field(out, field, rest);
        return;
    }
    for &b in field {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            other => out.put_u8(other),
        }
    }
}

#[inline]
pub(super) fn push_decimal(out: &mut BytesMut, mut v: u64, negative: bool) {
    let mut buf = [0u8; 21];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if negative {
        i -= 1;
        buf[i] = b'-';
    }
    out.extend_from_slice(&buf[i..]);
}
