//! A field's value as messages show it: shortened, invisible characters
//! escaped.

/// A field shortened and escaped for an error message: never more than
/// about 60 characters, control characters and invalid UTF-8 made visible.
pub fn show_value(field: &[u8]) -> String {
    const MAX_CHARS: usize = 60;
    let text = String::from_utf8_lossy(field);
    let mut shown = String::with_capacity(MAX_CHARS + 8);
    shown.push('"');
    for (n, c) in text.chars().enumerate() {
        if n == MAX_CHARS {
            shown.push('…');
            break;
        }
        match c {
            '"' => shown.push_str("\\\""),
            '\\' => shown.push_str("\\\\"),
            c if c.is_control() => shown.push_str(&c.escape_default().to_string()),
            // Characters that print as nothing or as a plain space (a BOM
            // inside a name, a no-break space): shown by their code point,
            // so `"\u{feff}Transaction_ID"` does not look like the name.
            c if invisible(c) => shown.push_str(&c.escape_unicode().to_string()),
            c => shown.push(c),
        }
    }
    shown.push('"');
    if field.len() > MAX_CHARS * 4 {
        shown.push_str(&format!(" ({} bytes)", field.len()));
    }
    shown
}

/// Whether a character prints as nothing or as an ordinary space: the
/// other white space, soft hyphen, zero-width and direction marks, word
/// joiners, the BOM.
fn invisible(c: char) -> bool {
    (c.is_whitespace() && c != ' ')
        || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}' | '\u{feff}')
}
