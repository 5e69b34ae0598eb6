//! Kyverno's JMESPath functions (those the policy library uses, and their close relatives).

use jmespath::functions::ArgumentType as A;
use jmespath::{Rcvar, Runtime, Variable};
use serde_json::{Value as Json, json};

use super::quantity::{Number, parse_duration};
use super::vars::{from_var, register};

fn s(v: &Rcvar) -> Result<String, String> {
    match &**v {
        Variable::String(s) => Ok(s.clone()),
        Variable::Number(n) => Ok(super::vars::render(&json!(n))),
        Variable::Bool(b) => Ok(b.to_string()),
        other => Err(format!("expected a string, found {}", other.get_type())),
    }
}

fn n(v: &Rcvar) -> Result<f64, String> {
    match &**v {
        Variable::Number(n) => n.as_f64().ok_or_else(|| "not a number".to_string()),
        Variable::String(s) => Number::parse(s)
            .map(Number::value)
            .ok_or_else(|| format!("`{s}` is not a number")),
        other => Err(format!("expected a number, found {}", other.get_type())),
    }
}

/// A compiled regular expression, cached: policies run the same few patterns on every
/// resource and every keystroke, and compiling one costs far more than matching it.
fn re(pattern: &str) -> Result<std::sync::Arc<regex::Regex>, String> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<regex::Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(r) = cache.lock().unwrap().get(pattern) {
        return Ok(r.clone());
    }
    let compiled = Arc::new(
        regex::Regex::new(pattern).map_err(|e| format!("invalid regular expression: {e}"))?,
    );
    let mut c = cache.lock().unwrap();
    if c.len() > 4_096 {
        c.clear();
    }
    c.insert(pattern.to_string(), compiled.clone());
    Ok(compiled)
}

pub fn register_all(rt: &mut Runtime) {
    let any = || A::Any;
    let st = || A::String;
    register(rt, "regex_match", vec![st(), any()], None, |a| {
        Ok(json!(re(&s(&a[0])?)?.is_match(&s(&a[1])?)))
    });
    register(
        rt,
        "regex_replace_all",
        vec![st(), any(), any()],
        None,
        |a| {
            Ok(json!(
                re(&s(&a[0])?)?
                    .replace_all(&s(&a[1])?, s(&a[2])?.as_str())
                    .to_string()
            ))
        },
    );
    register(
        rt,
        "regex_replace_all_literal",
        vec![st(), any(), any()],
        None,
        |a| {
            Ok(json!(
                re(&s(&a[0])?)?
                    .replace_all(&s(&a[1])?, regex::NoExpand(&s(&a[2])?))
                    .to_string()
            ))
        },
    );
    register(rt, "pattern_match", vec![st(), any()], None, |a| {
        Ok(json!(super::pattern::wildcard_match(
            &s(&a[0])?,
            &s(&a[1])?
        )))
    });
    register(rt, "split", vec![st(), st()], None, |a| {
        Ok(json!(
            s(&a[0])?.split(s(&a[1])?.as_str()).collect::<Vec<_>>()
        ))
    });
    register(rt, "to_upper", vec![st()], None, |a| {
        Ok(json!(s(&a[0])?.to_uppercase()))
    });
    register(rt, "to_lower", vec![st()], None, |a| {
        Ok(json!(s(&a[0])?.to_lowercase()))
    });
    register(rt, "trim", vec![st(), st()], None, |a| {
        let cut: Vec<char> = s(&a[1])?.chars().collect();
        Ok(json!(s(&a[0])?.trim_matches(cut.as_slice())))
    });
    register(rt, "trim_prefix", vec![st(), st()], None, |a| {
        let (t, p) = (s(&a[0])?, s(&a[1])?);
        Ok(json!(t.strip_prefix(p.as_str()).unwrap_or(&t)))
    });
    register(rt, "equal_fold", vec![st(), st()], None, |a| {
        Ok(json!(s(&a[0])?.to_lowercase() == s(&a[1])?.to_lowercase()))
    });
    register(
        rt,
        "replace",
        vec![st(), st(), st(), A::Number],
        None,
        |a| {
            let count = n(&a[3])?;
            let (t, old, new) = (s(&a[0])?, s(&a[1])?, s(&a[2])?);
            Ok(json!(if count < 0.0 {
                t.replace(&old, &new)
            } else {
                t.replacen(&old, &new, count as usize)
            }))
        },
    );
    register(rt, "replace_all", vec![st(), st(), st()], None, |a| {
        Ok(json!(s(&a[0])?.replace(&s(&a[1])?, &s(&a[2])?)))
    });
    register(rt, "truncate", vec![st(), A::Number], None, |a| {
        Ok(json!(
            s(&a[0])?
                .chars()
                .take(n(&a[1])?.max(0.0) as usize)
                .collect::<String>()
        ))
    });
    register(rt, "base64_encode", vec![st()], None, |a| {
        Ok(json!(base64_encode(s(&a[0])?.as_bytes())))
    });
    register(rt, "base64_decode", vec![st()], None, |a| {
        let bytes = base64_decode(&s(&a[0])?).ok_or("invalid base64")?;
        Ok(json!(String::from_utf8_lossy(&bytes)))
    });
    register(rt, "parse_json", vec![st()], None, |a| {
        serde_json::from_str(&s(&a[0])?).map_err(|e| format!("invalid JSON: {e}"))
    });
    register(rt, "parse_yaml", vec![st()], None, |a| {
        let text = s(&a[0])?;
        let file = crate::yaml::YamlFile::parse(&text);
        if let Some(issue) = file
            .docs
            .iter()
            .flat_map(|d| d.lowered.issues.iter())
            .find(|i| i.kind.is_error())
        {
            return Err(format!("invalid YAML: {}", issue.message));
        }
        Ok(file
            .docs
            .first()
            .and_then(|d| d.root())
            .map(|r| r.to_json())
            .unwrap_or(Json::Null))
    });
    register(rt, "label_match", vec![A::Object, A::Object], None, |a| {
        let (sel, labels) = (from_var(&a[0]), from_var(&a[1]));
        let (Some(sel), Some(labels)) = (sel.as_object(), labels.as_object()) else {
            return Ok(json!(false));
        };
        Ok(json!(sel.iter().all(|(k, v)| labels.get(k) == Some(v))))
    });
    register(
        rt,
        "lookup",
        vec![A::Union(vec![A::Object, A::Array]), any()],
        None,
        |a| {
            let (c, k) = (from_var(&a[0]), from_var(&a[1]));
            Ok(match (&c, &k) {
                (Json::Object(m), Json::String(key)) => m.get(key).cloned().unwrap_or(Json::Null),
                (Json::Array(v), Json::Number(i)) => i
                    .as_u64()
                    .and_then(|i| v.get(i as usize))
                    .cloned()
                    .unwrap_or(Json::Null),
                _ => {
                    return Err(
                        "lookup needs an object and a string, or an array and an index".into(),
                    );
                }
            })
        },
    );
    register(
        rt,
        "items",
        vec![A::Union(vec![A::Object, A::Array]), st(), st()],
        None,
        |a| {
            let (c, kn, vn) = (from_var(&a[0]), s(&a[1])?, s(&a[2])?);
            Ok(match c {
                Json::Object(m) => Json::Array(
                    m.into_iter()
                        .map(|(k, v)| json!({kn.clone(): k, vn.clone(): v}))
                        .collect(),
                ),
                Json::Array(v) => Json::Array(
                    v.into_iter()
                        .enumerate()
                        .map(|(i, v)| json!({kn.clone(): i, vn.clone(): v}))
                        .collect(),
                ),
                _ => Json::Null,
            })
        },
    );
    register(
        rt,
        "object_from_lists",
        vec![A::Array, A::Array],
        None,
        |a| {
            let (k, v) = (from_var(&a[0]), from_var(&a[1]));
            let mut m = serde_json::Map::new();
            for (i, key) in k.as_array().into_iter().flatten().enumerate() {
                m.insert(
                    super::vars::render(key),
                    v.get(i).cloned().unwrap_or(Json::Null),
                );
            }
            Ok(Json::Object(m))
        },
    );
    register(rt, "add", vec![any(), any()], None, |a| {
        arith(a, |x, y| Some(x + y))
    });
    register(rt, "subtract", vec![any(), any()], None, |a| {
        arith(a, |x, y| Some(x - y))
    });
    register(rt, "multiply", vec![any(), any()], None, |a| {
        arith(a, |x, y| Some(x * y))
    });
    register(rt, "divide", vec![any(), any()], None, |a| {
        arith(a, |x, y| (y != 0.0).then(|| x / y))
    });
    register(rt, "modulo", vec![any(), any()], None, |a| {
        arith(a, |x, y| (y != 0.0).then(|| x % y))
    });
    register(rt, "round", vec![A::Number, A::Number], None, |a| {
        let p = 10f64.powi(n(&a[1])? as i32);
        Ok(json!((n(&a[0])? * p).round() / p))
    });
    register(rt, "semver_compare", vec![st(), st()], None, |a| {
        Ok(json!(semver_satisfies(&s(&a[0])?, &s(&a[1])?)))
    });
    register(rt, "compare", vec![st(), st()], None, |a| {
        Ok(json!(match s(&a[0])?.cmp(&s(&a[1])?) {
            std::cmp::Ordering::Less => -1,
            std::cmp::Ordering::Equal => 0,
            std::cmp::Ordering::Greater => 1,
        }))
    });
    register(rt, "time_now_utc", vec![], None, |_| {
        Ok(json!(format_rfc3339(now())))
    });
    register(rt, "time_now", vec![], None, |_| {
        Ok(json!(format_rfc3339(now())))
    });
    register(rt, "time_since", vec![st(), st(), st()], None, |a| {
        let start = parse_time(&s(&a[1])?).ok_or("invalid start time")?;
        let end_s = s(&a[2])?;
        let end = if end_s.is_empty() {
            now()
        } else {
            parse_time(&end_s).ok_or("invalid end time")?
        };
        Ok(json!(format_duration(end - start)))
    });
    register(rt, "time_add", vec![st(), st()], None, |a| {
        let t = parse_time(&s(&a[0])?).ok_or("invalid time")?;
        let d = parse_duration(&s(&a[1])?).ok_or("invalid duration")?;
        Ok(json!(format_rfc3339(t + d)))
    });
    register(rt, "time_after", vec![st(), st()], None, |a| {
        Ok(json!(parse_time(&s(&a[0])?) > parse_time(&s(&a[1])?)))
    });
    register(rt, "time_before", vec![st(), st()], None, |a| {
        Ok(json!(parse_time(&s(&a[0])?) < parse_time(&s(&a[1])?)))
    });
    register(rt, "time_to_cron", vec![st()], None, |a| {
        let t = parse_time(&s(&a[0])?).ok_or("invalid time")? as i64;
        let (y, mo, d, h, mi, _) = civil(t);
        let _ = y;
        let weekday = ((t.div_euclid(86_400) + 4).rem_euclid(7)) as u32;
        Ok(json!(format!("{mi} {h} {d} {mo} {weekday}")))
    });
    register(rt, "random", vec![st()], None, |a| {
        Ok(json!(random_from(&s(&a[0])?)))
    });
    register(rt, "to_boolean", vec![st()], None, |a| {
        match s(&a[0])?.to_lowercase().as_str() {
            "true" => Ok(json!(true)),
            "false" => Ok(json!(false)),
            other => Err(format!("`{other}` is not a boolean")),
        }
    });
}

/// Arithmetic on numbers, quantities and durations (the result keeps the kind of the first).
fn arith(a: &[Rcvar], f: fn(f64, f64) -> Option<f64>) -> Result<Json, String> {
    let parse = |v: &Rcvar| -> Result<Number, String> {
        match &**v {
            Variable::Number(x) => Ok(Number::Plain(x.as_f64().unwrap_or(0.0))),
            Variable::String(t) => Number::parse(t)
                .ok_or_else(|| format!("`{t}` is not a number, quantity or duration")),
            other => Err(format!("expected a number, found {}", other.get_type())),
        }
    };
    let (x, y) = (parse(&a[0])?, parse(&a[1])?);
    let r = f(x.value(), y.value()).ok_or("division by zero")?;
    Ok(match (x, y) {
        (Number::Duration(_), Number::Duration(_)) if f(6.0, 3.0) == Some(2.0) => json!(r),
        (Number::Duration(_), _) => json!(format_duration(r)),
        _ => json!(r),
    })
}

fn semver_parts(v: &str) -> Option<(u64, u64, u64)> {
    let v = v.trim().trim_start_matches('v');
    let core = v.split(['-', '+']).next()?;
    let mut it = core.split('.');
    let a = it.next()?.parse().ok()?;
    let b = it.next().unwrap_or("0").parse().ok()?;
    let c = it.next().unwrap_or("0").parse().ok()?;
    Some((a, b, c))
}

/// `semver_compare(version, ">1.2.0")`: comparisons joined by spaces (all must hold) or `||`.
pub fn semver_satisfies(version: &str, range: &str) -> bool {
    let Some(v) = semver_parts(version) else {
        return false;
    };
    range.split("||").any(|alt| {
        alt.split_whitespace().all(|c| {
            let (op, rest) = [">=", "<=", "!=", ">", "<", "="]
                .iter()
                .find_map(|op| c.strip_prefix(op).map(|r| (*op, r)))
                .unwrap_or(("=", c));
            let Some(w) = semver_parts(rest) else {
                return false;
            };
            match op {
                ">=" => v >= w,
                "<=" => v <= w,
                "!=" => v != w,
                ">" => v > w,
                "<" => v < w,
                _ => v == w,
            }
        })
    })
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64().floor())
}

/// Days from 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp as i64 + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil(t: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (secs / 3600) as u32,
        (secs % 3600 / 60) as u32,
        (secs % 60) as u32,
    )
}

/// Parses RFC 3339 (`2024-01-02T03:04:05Z`, with fractions or an offset) to Unix seconds.
pub fn parse_time(s: &str) -> Option<f64> {
    let s = s.trim();
    let re =
        re(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
            .ok()?;
    let c = re.captures(s)?;
    let num = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<i64>().ok());
    let days = days_from_civil(num(1)?, num(2)? as u32, num(3)? as u32);
    let mut t = (days * 86_400 + num(4)? * 3600 + num(5)? * 60 + num(6)?) as f64;
    if let Some(f) = c.get(7) {
        t += f.as_str().parse::<f64>().unwrap_or(0.0);
    }
    let tz = c.get(8)?.as_str();
    if tz.len() == 6 {
        let sign = if tz.starts_with('-') { -1.0 } else { 1.0 };
        let h: f64 = tz[1..3].parse().ok()?;
        let m: f64 = tz[4..6].parse().ok()?;
        t -= sign * (h * 3600.0 + m * 60.0);
    }
    Some(t)
}

pub fn format_rfc3339(t: f64) -> String {
    let (y, m, d, h, mi, s) = civil(t.floor() as i64);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// A duration written as Go writes it (`1h2m3s`, `1.5s`, `0s`).
pub fn format_duration(secs: f64) -> String {
    if secs == 0.0 {
        return "0s".into();
    }
    let neg = secs < 0.0;
    let mut rest = secs.abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if rest < 1.0 {
        out.push_str(&format!("{}ms", (rest * 1000.0 * 1000.0).round() / 1000.0));
        return out;
    }
    let h = (rest / 3600.0).floor();
    rest -= h * 3600.0;
    let m = (rest / 60.0).floor();
    rest -= m * 60.0;
    if h > 0.0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0.0 || m > 0.0 {
        out.push_str(&format!("{m}m"));
    }
    let s = (rest * 1e9).round() / 1e9;
    out.push_str(&format!("{s}s"));
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let clean: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    let mut buf = 0u32;
    let mut bits = 0;
    for &c in clean.iter().take_while(|&&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(out)
}

/// A string matching a simple pattern such as `[a-z0-9]{6}` (enough for generated names).
fn random_from(pattern: &str) -> String {
    let re = re(r"\[([^\]]+)\]\{(\d+)\}").ok();
    let mut out = String::new();
    let mut seed = now() as u64 | 1;
    if let Some(re) = re {
        let mut last = 0;
        for c in re.captures_iter(pattern) {
            let m = c.get(0).unwrap();
            out.push_str(&pattern[last..m.start()]);
            let class = expand_class(&c[1]);
            let count: usize = c[2].parse().unwrap_or(1);
            for _ in 0..count {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                if !class.is_empty() {
                    out.push(class[(seed % class.len() as u64) as usize]);
                }
            }
            last = m.end();
        }
        out.push_str(&pattern[last..]);
    }
    out
}

fn expand_class(class: &str) -> Vec<char> {
    let chars: Vec<char> = class.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if i + 2 < chars.len() && chars[i + 1] == '-' {
            for c in chars[i]..=chars[i + 2] {
                out.push(c);
            }
            i += 3;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(parse_time("1970-01-02T00:00:00Z"), Some(86400.0));
        assert_eq!(format_rfc3339(86400.0 + 3661.0), "1970-01-02T01:01:01Z");
        assert_eq!(format_duration(3723.0), "1h2m3s");
        assert!(semver_satisfies("1.24.3", ">=1.20.0 <1.25.0"));
        assert!(!semver_satisfies("v1.19.0", ">1.20.0"));
        assert_eq!(random_from("[a-z]{4}").len(), 4);
    }

    #[test]
    fn functions_through_jmespath() {
        let ctx =
            super::super::vars::Context::new(json!({"s": "a,b", "t": "2024-01-01T00:00:00Z"}));
        assert_eq!(ctx.query("split(s, ',')").unwrap(), json!(["a", "b"]));
        assert_eq!(ctx.query("to_upper('x')").unwrap(), json!("X"));
        assert_eq!(
            ctx.query("base64_decode(base64_encode('hi'))").unwrap(),
            json!("hi")
        );
        assert_eq!(
            ctx.query("time_add(t, '1h')").unwrap(),
            json!("2024-01-01T01:00:00Z")
        );
        assert_eq!(ctx.query("divide('10Gi', '5Gi')").unwrap(), json!(2.0));
        assert_eq!(
            ctx.query("label_match(`{\"a\":\"1\"}`, `{\"a\":\"1\",\"b\":\"2\"}`)")
                .unwrap(),
            json!(true)
        );
        assert_eq!(ctx.query("parse_yaml('a: 1')").unwrap(), json!({"a": 1}));
    }
}
