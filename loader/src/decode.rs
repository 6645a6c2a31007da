//! Reads COPY BINARY rows back into PostgreSQL's text forms. Not on the load
//! path: tests, the fuzz target and debugging use it to check the encoder's
//! output independently of the server.

use crate::columns::{ColumnType, COLUMNS, NCOLUMNS};

/// One decoded row: each staging column's value in PostgreSQL's text output
/// form (`None` for NULL), then the load id if present.
pub type DecodedRow = (Vec<Option<String>>, Option<i64>);

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if buf.len() < n {
        return Err(format!("truncated: wanted {n} bytes, {} left", buf.len()));
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Ok(head)
}

fn be_i16(buf: &mut &[u8]) -> Result<i16, String> {
    Ok(i16::from_be_bytes(
        take(buf, 2)?.try_into().expect("2 bytes"),
    ))
}

fn be_i32(buf: &mut &[u8]) -> Result<i32, String> {
    Ok(i32::from_be_bytes(
        take(buf, 4)?.try_into().expect("4 bytes"),
    ))
}

fn be_i64(buf: &mut &[u8]) -> Result<i64, String> {
    Ok(i64::from_be_bytes(
        take(buf, 8)?.try_into().expect("8 bytes"),
    ))
}

/// Decodes a whole COPY BINARY stream (header, rows, trailer).
///
/// # Errors
/// A description of the first malformed byte sequence.
pub fn decode_binary(mut buf: &[u8]) -> Result<Vec<DecodedRow>, String> {
    let header = take(&mut buf, 19)?;
    if &header[..11] != b"PGCOPY\n\xff\r\n\0" {
        return Err("bad signature".into());
    }
    let mut rows = Vec::new();
    loop {
        let n = be_i16(&mut buf)?;
        if n == -1 {
            if !buf.is_empty() {
                return Err(format!("{} bytes after the trailer", buf.len()));
            }
            return Ok(rows);
        }
        let n = n as usize;
        if n != NCOLUMNS && n != NCOLUMNS + 1 {
            return Err(format!("row with {n} fields"));
        }
        let mut values = Vec::with_capacity(NCOLUMNS);
        for column in &COLUMNS {
            let len = be_i32(&mut buf)?;
            if len < 0 {
                values.push(None);
                continue;
            }
            let mut field = take(&mut buf, len as usize)?;
            values.push(Some(decode_value(column.ty, &mut field)?));
            if !field.is_empty() {
                return Err(format!("{}: {} bytes left over", column.name, field.len()));
            }
        }
        let load_id = if n == NCOLUMNS + 1 {
            let len = be_i32(&mut buf)?;
            if len != 8 {
                return Err(format!("load_id of {len} bytes"));
            }
            Some(be_i64(&mut buf)?)
        } else {
            None
        };
        rows.push((values, load_id));
    }
}

fn decode_value(ty: ColumnType, field: &mut &[u8]) -> Result<String, String> {
    Ok(match ty {
        ColumnType::Text => {
            let text = std::str::from_utf8(field)
                .map_err(|e| e.to_string())?
                .to_string();
            *field = &[];
            text
        }
        ColumnType::Date => {
            let days = be_i32(field)? as i64 + 10_957;
            let (y, m, d) = civil_from_days(days);
            format!("{y:04}-{m:02}-{d:02}")
        }
        ColumnType::Time => {
            let us = be_i64(field)?;
            let (secs, frac) = (us / 1_000_000, us % 1_000_000);
            let hms = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
            if frac == 0 {
                hms
            } else {
                let f = format!("{frac:06}");
                format!("{hms}.{}", f.trim_end_matches('0'))
            }
        }
        ColumnType::Money => {
            let ndigits = be_i16(field)?;
            let weight = be_i16(field)? as i32;
            let sign = be_i16(field)? as u16;
            let dscale = be_i16(field)?;
            if dscale != 2 {
                return Err(format!("dscale {dscale}"));
            }
            let mut digits = Vec::new();
            for _ in 0..ndigits {
                let d = be_i16(field)?;
                if !(0..10_000).contains(&d) {
                    return Err(format!("numeric digit {d}"));
                }
                digits.push(d as i128);
            }
            // value * 100 = sum(d_i * 10000^(weight - i)) * 100
            let mut cents: i128 = 0;
            for (i, d) in digits.iter().enumerate() {
                let power = weight - i as i32;
                let scaled = match power {
                    p if p >= 0 => d * 10_000i128.pow(p as u32) * 100,
                    -1 => {
                        if d % 100 != 0 {
                            return Err("more than 2 decimals".into());
                        }
                        d / 100
                    }
                    _ => return Err(format!("digit at weight {power}")),
                };
                cents += scaled;
            }
            let negative = sign == 0x4000;
            let abs = cents.unsigned_abs();
            format!(
                "{}{}.{:02}",
                if negative { "-" } else { "" },
                abs / 100,
                abs % 100
            )
        }
        ColumnType::Int2 => be_i16(field)?.to_string(),
        ColumnType::Int4 => be_i32(field)?.to_string(),
    })
}

/// Civil date from days since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}
