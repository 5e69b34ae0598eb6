//! Scalar decoding: plain-scalar line folding, quoted escapes, block scalars, and plain
//! scalars resolved as Kubernetes resolves them.

use super::node::Value;

/// Resolves an untagged plain scalar the way Kubernetes does. kubectl and the API server read
/// YAML with go-yaml v2, which follows YAML 1.1 for plain scalars: `yes`, `on`, `y` (and `no`,
/// `off`, `n`) are booleans, `0755` is octal, `0b101` binary, and `1_000` a thousand. What the
/// API server would see is what usher checks; everything else is the YAML 1.2 core schema.
pub fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "y" | "Y" | "on" | "On" | "ON" => {
            return Value::Bool(true);
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "n" | "N" | "off" | "Off" | "OFF" => {
            return Value::Bool(false);
        }
        _ => {}
    }
    let bytes = s.as_bytes();
    if !(bytes[0].is_ascii_digit() || matches!(bytes[0], b'-' | b'+' | b'.')) {
        return Value::Str(s.to_owned());
    }
    if let Some(i) = parse_int_1_1(s) {
        return Value::Int(i);
    }
    if let Some(f) = parse_float(s) {
        return Value::Float(f);
    }
    Value::Str(s.to_owned())
}

/// Integers as go-yaml v2 reads them: the core schema's (decimal, `0x`, `0o`) plus YAML 1.1's
/// underscores, leading `0` for octal, `0b` binary and upper-case base prefixes.
fn parse_int_1_1(s: &str) -> Option<i64> {
    let plain = s.replace('_', "");
    let (negative, digits) = match plain.as_bytes().first()? {
        b'-' => (true, &plain[1..]),
        b'+' => (false, &plain[1..]),
        _ => (false, plain.as_str()),
    };
    let (radix, body) = if let Some(b) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        (2, b)
    } else if let Some(o) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        (8, o)
    } else if let Some(x) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, x)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    // The sign goes to the parser, so that i64::MIN is read as it is.
    if negative {
        i64::from_str_radix(&format!("-{body}"), radix).ok()
    } else {
        i64::from_str_radix(body, radix).ok()
    }
}

/// Core-schema integers: decimal with optional sign, `0o` octal, `0x` hexadecimal.
pub fn parse_int(s: &str) -> Option<i64> {
    if let Some(hex) = s.strip_prefix("0x") {
        return if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            i64::from_str_radix(hex, 16).ok()
        } else {
            None
        };
    }
    if let Some(oct) = s.strip_prefix("0o") {
        return if !oct.is_empty() && oct.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            i64::from_str_radix(oct, 8).ok()
        } else {
            None
        };
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

/// Core-schema floats, including `.inf`, `-.inf` and `.nan`.
pub fn parse_float(s: &str) -> Option<f64> {
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && matches!(b[i], b'-' | b'+') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - f;
    }
    if int_digits == 0 && frac_digits == 0 {
        return None;
    }
    if i < b.len() && matches!(b[i], b'e' | b'E') {
        i += 1;
        if i < b.len() && matches!(b[i], b'-' | b'+') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Folds the lines of a multi-line flow scalar (plain or quoted): a single line break becomes a
/// space, each empty line a newline; white space around line breaks is dropped.
/// `double` enables double-quoted escapes; `single` turns `''` into `'`.
pub fn fold_flow(raw: &str, double: bool, single: bool) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    // Bytes of `out` that came from escapes and must survive trimming.
    let mut keep = 0;
    let mut chars = raw.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if double => {
                let Some((_, e)) = chars.next() else {
                    return Err("a backslash ends the string".into());
                };
                match e {
                    '\n' | '\r' => {
                        if e == '\r' && chars.peek().map(|p| p.1) == Some('\n') {
                            chars.next();
                        }
                        while let Some(&(_, ' ' | '\t')) = chars.peek() {
                            chars.next();
                        }
                        keep = out.len();
                        continue;
                    }
                    '0' => out.push('\0'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    't' | '\t' => out.push('\t'),
                    'n' => out.push('\n'),
                    'v' => out.push('\x0b'),
                    'f' => out.push('\x0c'),
                    'r' => out.push('\r'),
                    'e' => out.push('\x1b'),
                    ' ' => out.push(' '),
                    '"' => out.push('"'),
                    '/' => out.push('/'),
                    '\\' => out.push('\\'),
                    'N' => out.push('\u{85}'),
                    '_' => out.push('\u{a0}'),
                    'L' => out.push('\u{2028}'),
                    'P' => out.push('\u{2029}'),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut code = 0u32;
                        for _ in 0..n {
                            let d = chars.next().and_then(|(_, h)| h.to_digit(16));
                            let Some(d) = d else {
                                return Err(format!(
                                    "invalid escape \\{e}: expected {n} hex digits"
                                ));
                            };
                            code = code * 16 + d;
                        }
                        match char::from_u32(code) {
                            Some(ch) => out.push(ch),
                            None => {
                                return Err(format!(
                                    "escape \\{e}{code:X} is not a Unicode scalar value"
                                ));
                            }
                        }
                    }
                    other => return Err(format!("unknown escape \\{other}")),
                }
                keep = out.len();
            }
            '\'' if single && raw[i + 1..].starts_with('\'') => {
                chars.next();
                out.push('\'');
                keep = out.len();
            }
            '\r' | '\n' => {
                if c == '\r' && chars.peek().map(|p| p.1) == Some('\n') {
                    chars.next();
                }
                // Trim trailing white space of the line (not what escapes produced).
                while out.len() > keep && out.ends_with([' ', '\t']) {
                    out.pop();
                }
                // Skip leading white space and count empty lines.
                let mut empty = 0;
                loop {
                    while let Some(&(_, ' ' | '\t')) = chars.peek() {
                        chars.next();
                    }
                    match chars.peek().map(|p| p.1) {
                        Some('\n') => {
                            chars.next();
                            empty += 1;
                        }
                        Some('\r') => {
                            chars.next();
                            if chars.peek().map(|p| p.1) == Some('\n') {
                                chars.next();
                            }
                            empty += 1;
                        }
                        _ => break,
                    }
                }
                if empty == 0 {
                    out.push(' ');
                } else {
                    out.extend(std::iter::repeat_n('\n', empty));
                }
                keep = out.len();
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// Decodes a plain scalar's raw text (which may span lines).
pub fn decode_plain(raw: &str) -> String {
    if !raw.contains(['\n', '\r']) {
        return raw.trim_end().to_owned();
    }
    fold_flow(raw.trim(), false, false).unwrap_or_else(|_| raw.to_owned())
}

/// Decodes a block scalar from its full text (header line included, trailing blank lines
/// included so that `+` chomping can keep them). `parent_indent` is the indentation of the
/// collection that holds the scalar (-1 at document level).
pub fn decode_block(text: &str, parent_indent: i64) -> Result<String, String> {
    let header_end = text.find('\n').unwrap_or(text.len());
    let header = &text[..header_end];
    let mut chars = header.chars();
    let style = chars.next().ok_or("empty block scalar")?;
    let folded = match style {
        '|' => false,
        '>' => true,
        other => return Err(format!("block scalar starts with {other:?}")),
    };
    let mut chomp = Chomp::Clip;
    let mut explicit: Option<i64> = None;
    for c in chars {
        match c {
            '-' => chomp = Chomp::Strip,
            '+' => chomp = Chomp::Keep,
            '1'..='9' => explicit = Some(c as i64 - '0' as i64),
            ' ' | '\t' | '\r' => {}
            '#' => break,
            _ => break,
        }
    }
    let body = if header_end < text.len() {
        &text[header_end + 1..]
    } else {
        ""
    };
    let lines: Vec<&str> = body
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    // A final "" after the last newline is not a line.
    let lines: &[&str] = if body.ends_with('\n') || body.is_empty() {
        &lines[..lines.len() - 1]
    } else {
        &lines
    };

    let indent = match explicit {
        Some(m) => (parent_indent.max(-1) + m).max(0) as usize,
        None => {
            let first = lines.iter().find(|l| !l.trim_matches(' ').is_empty());
            match first {
                Some(l) => l.len() - l.trim_start_matches(' ').len(),
                None => 0,
            }
        }
    };

    // Split into content lines (None for empty lines).
    let mut content: Vec<Option<&str>> = Vec::with_capacity(lines.len());
    for l in lines {
        let spaces = l.len() - l.trim_start_matches(' ').len();
        if spaces >= indent && l.len() > indent {
            content.push(Some(&l[indent..]));
        } else if l.trim_matches([' ', '\t']).is_empty() {
            content.push(None);
        } else {
            // Less indented text: the scalar ended (a comment line after it).
            break;
        }
    }
    let trailing_empty = content.iter().rev().take_while(|l| l.is_none()).count();
    let body_lines = &content[..content.len() - trailing_empty];

    let mut out = String::new();
    if folded {
        let mut prev_more = false;
        let mut empties = 0;
        let mut first = true;
        for l in body_lines {
            match l {
                None => empties += 1,
                Some(line) => {
                    let more = line.starts_with([' ', '\t']);
                    if first {
                        out.extend(std::iter::repeat_n('\n', empties));
                    } else if !more && !prev_more {
                        if empties == 0 {
                            out.push(' ');
                        } else {
                            out.extend(std::iter::repeat_n('\n', empties));
                        }
                    } else {
                        out.extend(std::iter::repeat_n('\n', empties + 1));
                    }
                    out.push_str(line);
                    prev_more = more;
                    empties = 0;
                    first = false;
                }
            }
        }
        if first {
            // Only empty lines: they are trailing lines, handled by chomping.
        }
    } else {
        for (i, l) in body_lines.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(l.unwrap_or(""));
        }
    }
    let has_body = !body_lines.is_empty();
    match chomp {
        Chomp::Strip => {}
        Chomp::Clip => {
            if has_body {
                out.push('\n');
            }
        }
        Chomp::Keep => {
            if has_body {
                out.push('\n');
            }
            out.extend(std::iter::repeat_n('\n', trailing_empty));
        }
    }
    Ok(out)
}

#[derive(Clone, Copy)]
enum Chomp {
    Strip,
    Clip,
    Keep,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_schema() {
        assert_eq!(resolve_plain("~"), Value::Null);
        assert_eq!(resolve_plain("True"), Value::Bool(true));
        assert_eq!(resolve_plain("yes"), Value::Bool(true));
        assert_eq!(resolve_plain("0x1F"), Value::Int(31));
        assert_eq!(resolve_plain("0o17"), Value::Int(15));
        assert_eq!(resolve_plain("+5"), Value::Int(5));
        assert_eq!(resolve_plain("-12"), Value::Int(-12));
        assert_eq!(resolve_plain("1e3"), Value::Float(1000.0));
        assert_eq!(resolve_plain(".5"), Value::Float(0.5));
        assert_eq!(resolve_plain("-.Inf"), Value::Float(f64::NEG_INFINITY));
        assert!(matches!(resolve_plain(".nan"), Value::Float(f) if f.is_nan()));
        assert_eq!(resolve_plain("1.2.3"), Value::Str("1.2.3".into()));
        assert_eq!(resolve_plain("0x"), Value::Str("0x".into()));
        assert_eq!(resolve_plain("99999999999999999999"), Value::Float(1e20));
        assert_eq!(resolve_plain("1_000"), Value::Int(1000));
        // Not integers in the YAML 1.2 core schema (saphyr 0.3 accepts them; the spec's
        // regular expressions do not, so they are tested here rather than differentially).
        assert_eq!(resolve_plain("+-5"), Value::Str("+-5".into()));
        assert_eq!(resolve_plain("0x-1"), Value::Str("0x-1".into()));
        assert_eq!(resolve_plain("0o+7"), Value::Str("0o+7".into()));
    }

    #[test]
    fn plain_scalars_read_as_kubernetes_reads_them() {
        // go-yaml v2 (YAML 1.1), behind kubectl and the API server.
        for t in ["yes", "Yes", "YES", "y", "Y", "on", "On", "ON"] {
            assert_eq!(resolve_plain(t), Value::Bool(true), "{t}");
        }
        for f in ["no", "No", "NO", "n", "N", "off", "Off", "OFF"] {
            assert_eq!(resolve_plain(f), Value::Bool(false), "{f}");
        }
        assert_eq!(resolve_plain("0755"), Value::Int(0o755));
        assert_eq!(resolve_plain("0644"), Value::Int(420));
        assert_eq!(resolve_plain("-010"), Value::Int(-8));
        assert_eq!(resolve_plain("0b101"), Value::Int(5));
        assert_eq!(resolve_plain("0X1f"), Value::Int(31));
        assert_eq!(resolve_plain("1_000_000"), Value::Int(1_000_000));
        assert_eq!(resolve_plain("0"), Value::Int(0));
        assert_eq!(resolve_plain("-9223372036854775808"), Value::Int(i64::MIN));
        // Not octal: Go's parser fails, the float pattern matches.
        assert_eq!(resolve_plain("089"), Value::Float(89.0));
        // Still text.
        assert_eq!(resolve_plain("1_"), Value::Int(1));
        for t in ["yess", "onn", "NaN", "0b", "0b2", "_1", "v1", "0x-1", "+-5"] {
            assert!(matches!(resolve_plain(t), Value::Str(_)), "{t}");
        }
    }

    #[test]
    fn double_quoted_escapes_and_folding() {
        assert_eq!(
            fold_flow(r"a\tb\x41\u00e9\U0001F600", true, false).unwrap(),
            "a\tbAé😀"
        );
        assert_eq!(
            fold_flow("one\n  two\n\n  three", true, false).unwrap(),
            "one two\nthree"
        );
        assert_eq!(fold_flow("one \\\n   two", true, false).unwrap(), "one two");
        assert_eq!(fold_flow("one\\\n   two", true, false).unwrap(), "onetwo");
        assert_eq!(fold_flow("tab\\t\n x", true, false).unwrap(), "tab\t x");
        assert!(fold_flow(r"\q", true, false).is_err());
        assert_eq!(fold_flow("it''s", false, true).unwrap(), "it's");
    }

    #[test]
    fn block_scalars() {
        assert_eq!(decode_block("|\n  a\n  b\n\n", 0).unwrap(), "a\nb\n");
        assert_eq!(decode_block("|-\n  a\n  b\n\n", 0).unwrap(), "a\nb");
        assert_eq!(decode_block("|+\n  a\n\n\n", 0).unwrap(), "a\n\n\n");
        assert_eq!(decode_block(">\n  a\n  b\n\n  c\n", 0).unwrap(), "a b\nc\n");
        assert_eq!(
            decode_block(">\n  a\n    more\n  b\n", 0).unwrap(),
            "a\n  more\nb\n"
        );
        assert_eq!(decode_block("|2\n    x\n", 0).unwrap(), "  x\n");
        assert_eq!(decode_block("|\n", 0).unwrap(), "");
        assert_eq!(decode_block("|+\n\n", 0).unwrap(), "\n");
    }
}
