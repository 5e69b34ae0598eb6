//! Kyverno's JMESPath functions (those the policy library uses, and their close relatives).

use jmespath::functions::ArgumentType as A;
use jmespath::{Rcvar, Runtime, Variable};
use serde_json::{Value as Json, json};

use super::quantity::{Number, Quantity, go_duration, parse_go_duration};
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
        let (text, sep) = (s(&a[0])?, s(&a[1])?);
        if sep.is_empty() {
            // Go's `strings.Split` with an empty separator: one element per character.
            return Ok(json!(text.chars().map(String::from).collect::<Vec<_>>()));
        }
        Ok(json!(text.split(sep.as_str()).collect::<Vec<_>>()))
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
    register(rt, "x509_decode", vec![st()], None, |a| {
        super::x509::decode(&s(&a[0])?)
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
                (Json::Array(v), Json::Number(i)) => {
                    let i = i.as_f64().unwrap_or(f64::NAN);
                    if i.fract() != 0.0 {
                        return Err("argument #2: expected an integer".into());
                    }
                    if i < 0.0 {
                        Json::Null
                    } else {
                        v.get(i as usize).cloned().unwrap_or(Json::Null)
                    }
                }
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
                Json::Object(m) => {
                    // Kyverno sorts the keys, so that the output is deterministic.
                    let mut entries: Vec<_> = m.into_iter().collect();
                    entries.sort_by(|x, y| x.0.cmp(&y.0));
                    Json::Array(
                        entries
                            .into_iter()
                            .map(|(k, v)| json!({kn.clone(): k, vn.clone(): v}))
                            .collect(),
                    )
                }
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
    register(rt, "add", vec![any(), any()], None, |a| arith(a, Op::Add));
    register(rt, "sum", vec![A::Array], None, |a| {
        // Kyverno's `sum`: `add` folded over the list (numbers, quantities or durations).
        let items = match &*a[0] {
            Variable::Array(items) => items.clone(),
            _ => return Err("expected an array".into()),
        };
        let Some(first) = items.first() else {
            return Err("at least one element in the array is required".into());
        };
        let mut acc = first.clone();
        for item in &items[1..] {
            acc = super::vars::to_var(&arith(&[acc, item.clone()], Op::Add)?);
        }
        Ok(from_var(&acc))
    });
    register(rt, "subtract", vec![any(), any()], None, |a| {
        arith(a, Op::Subtract)
    });
    register(rt, "multiply", vec![any(), any()], None, |a| {
        arith(a, Op::Multiply)
    });
    register(rt, "divide", vec![any(), any()], None, |a| {
        arith(a, Op::Divide)
    });
    register(rt, "modulo", vec![any(), any()], None, |a| {
        arith(a, Op::Modulo)
    });
    register(rt, "round", vec![A::Number, A::Number], None, |a| {
        let digits = n(&a[1])?;
        if digits.fract() != 0.0 {
            return Err("Non-integer argument(s) passed for round off".into());
        }
        if digits < 0.0 {
            return Err("argument #2 must be non-negative".into());
        }
        let p = 10f64.powi(digits as i32);
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
        let layout = s(&a[0])?;
        // Only RFC 3339 layouts (Kyverno's default) are understood; say so for others.
        let rfc3339 = [
            "2006-01-02T15:04:05Z07:00",
            "2006-01-02T15:04:05.999999999Z07:00",
        ];
        if !layout.is_empty() && !rfc3339.contains(&layout.as_str()) {
            return Err(format!(
                "layout `{layout}` is not supported (only RFC 3339)"
            ));
        }
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
        let (t, offset) = time_arg(&a[0])?;
        let d = parse_go_duration(&s(&a[1])?).ok_or("invalid duration")?;
        Ok(json!(format_rfc3339_at(t + d as f64 / 1e9, offset)))
    });
    register(rt, "time_after", vec![st(), st()], None, |a| {
        Ok(json!(time_arg(&a[0])?.0 > time_arg(&a[1])?.0))
    });
    register(rt, "time_before", vec![st(), st()], None, |a| {
        Ok(json!(time_arg(&a[0])?.0 < time_arg(&a[1])?.0))
    });
    register(rt, "time_between", vec![st(), st(), st()], None, |a| {
        let (t, start, end) = (time_arg(&a[0])?.0, time_arg(&a[1])?.0, time_arg(&a[2])?.0);
        Ok(json!(t > start && t < end))
    });
    register(rt, "time_diff", vec![st(), st()], None, |a| {
        Ok(json!(format_duration(
            time_arg(&a[1])?.0 - time_arg(&a[0])?.0
        )))
    });
    register(rt, "time_utc", vec![st()], None, |a| {
        Ok(json!(format_rfc3339(time_arg(&a[0])?.0)))
    });
    register(rt, "time_truncate", vec![st(), st()], None, |a| {
        // Go's `Time.Truncate`: rounds down to a multiple of the duration since the zero time
        // (for whole seconds dividing a day, the same as since the Unix epoch), zone kept.
        let (t, offset) = time_arg(&a[0])?;
        let d = parse_go_duration(&s(&a[1])?).ok_or("invalid duration")?;
        if d <= 0 {
            return Ok(json!(format_rfc3339_at(t, offset)));
        }
        let step = d as f64 / 1e9;
        Ok(json!(format_rfc3339_at((t / step).floor() * step, offset)))
    });
    register(rt, "time_to_cron", vec![st()], None, |a| {
        let (t, offset) = time_arg(&a[0])?;
        let local = t.floor() as i64 + offset;
        let (_, mo, d, h, mi, _) = civil(local);
        let weekday = ((local.div_euclid(86_400) + 4).rem_euclid(7)) as u32;
        Ok(json!(format!("{mi} {h} {d} {mo} {weekday}")))
    });
    register(rt, "path_canonicalize", vec![st()], None, |a| {
        Ok(json!(clean_path(&s(&a[0])?)))
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

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
}

/// An operand of Kyverno's arithmetic: a JSON number is a scalar; a string is a quantity if
/// it parses as one (`12`, `1.5`, `2Gi`, `5m`), else a duration (`1h`, `30s`).
enum Operand {
    Scalar(f64),
    Quantity(Quantity),
    Duration(i64),
}

fn operand(v: &Rcvar) -> Option<Operand> {
    match &**v {
        Variable::Number(x) => x.as_f64().map(Operand::Scalar),
        Variable::String(t) => Quantity::parse(t)
            .map(Operand::Quantity)
            .or_else(|| parse_go_duration(t).map(Operand::Duration)),
        _ => None,
    }
}

/// Kyverno's arithmetic (pkg/engine/jmespath/arithmetic.go): quantities with quantities
/// give quantity strings (`25Ki`), durations with durations give Go duration strings (`1m30s`),
/// scaling either by a number keeps its kind, dividing two of a kind gives a number; any other
/// mix is an error, as are a zero divisor and a non-integer modulo.
fn arith(a: &[Rcvar], op: Op) -> Result<Json, String> {
    use Operand::*;
    let (Some(x), Some(y)) = (operand(&a[0]), operand(&a[1])) else {
        return Err("invalid operands".into());
    };
    const MISMATCH: &str = "types mismatch";
    const ZERO: &str = "Zero divisor passed";
    const NON_INT: &str = "Non-integer argument(s) passed for modulo";
    let dur = |secs: f64| json!(go_duration((secs * 1e9) as i64));
    Ok(match (op, x, y) {
        (Op::Add, Scalar(p), Scalar(q)) => json!(p + q),
        (Op::Add, Quantity(p), Quantity(q)) => json!(p.add(&q).to_string()),
        (Op::Add, Duration(p), Duration(q)) => json!(go_duration(p + q)),
        (Op::Subtract, Scalar(p), Scalar(q)) => json!(p - q),
        (Op::Subtract, Quantity(p), Quantity(q)) => json!(p.add(&q.negate()).to_string()),
        (Op::Subtract, Duration(p), Duration(q)) => json!(go_duration(p - q)),
        (Op::Multiply, Scalar(p), Scalar(q)) => json!(p * q),
        (Op::Multiply, Quantity(p), Scalar(q)) | (Op::Multiply, Scalar(q), Quantity(p)) => {
            json!(p.times(q).ok_or("invalid operands")?.to_string())
        }
        (Op::Multiply, Duration(p), Scalar(q)) | (Op::Multiply, Scalar(q), Duration(p)) => {
            dur(p as f64 / 1e9 * q)
        }
        (Op::Divide, Scalar(p), Scalar(q)) => {
            if q == 0.0 {
                return Err(ZERO.into());
            }
            json!(p / q)
        }
        (Op::Divide, Quantity(p), Quantity(q)) => {
            if q.to_f64() == 0.0 {
                return Err(ZERO.into());
            }
            json!(p.to_f64() / q.to_f64())
        }
        (Op::Divide, Quantity(p), Scalar(q)) => {
            if q == 0.0 {
                return Err(ZERO.into());
            }
            json!(p.divided_by(q).ok_or("invalid operands")?.to_string())
        }
        (Op::Divide, Duration(p), Duration(q)) => {
            if q == 0 {
                return Err(ZERO.into());
            }
            json!(p as f64 / q as f64)
        }
        (Op::Divide, Duration(p), Scalar(q)) => {
            if q == 0.0 {
                return Err(ZERO.into());
            }
            dur(p as f64 / 1e9 / q)
        }
        (Op::Modulo, Scalar(p), Scalar(q)) => {
            if p.fract() != 0.0 || q.fract() != 0.0 {
                return Err(NON_INT.into());
            }
            if q == 0.0 {
                return Err(ZERO.into());
            }
            json!(((p as i64) % (q as i64)) as f64)
        }
        (Op::Modulo, Quantity(p), Quantity(q)) => {
            let (Some(i), Some(j)) = (p.as_integer(), q.as_integer()) else {
                return Err(NON_INT.into());
            };
            if j == 0 {
                return Err(ZERO.into());
            }
            json!(super::quantity::Quantity::from_int(i % j, p.format).to_string())
        }
        (Op::Modulo, Duration(p), Duration(q)) => {
            if q == 0 {
                return Err(ZERO.into());
            }
            json!(go_duration(p % q))
        }
        _ => return Err(MISMATCH.into()),
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

/// A time argument in RFC 3339 (Go's `time.Parse(time.RFC3339, …)`): Unix seconds and the
/// zone offset in seconds, kept for printing back as Go does.
fn time_arg(v: &Rcvar) -> Result<(f64, i64), String> {
    let text = s(v)?;
    parse_time_zoned(&text).ok_or_else(|| format!("`{text}` is not an RFC 3339 time"))
}

/// Parses RFC 3339 to Unix seconds and the zone offset in seconds.
pub fn parse_time_zoned(s: &str) -> Option<(f64, i64)> {
    let t = parse_time(s)?;
    let s = s.trim();
    let offset = if s.ends_with(['Z', 'z']) {
        0
    } else {
        let tz = &s[s.len() - 6..];
        let sign = if tz.starts_with('-') { -1 } else { 1 };
        sign * (tz[1..3].parse::<i64>().ok()? * 3600 + tz[4..6].parse::<i64>().ok()? * 60)
    };
    Some((t, offset))
}

/// RFC 3339 in a zone (Go's `Format(time.RFC3339)`: `Z` for UTC, else `+hh:mm`).
pub fn format_rfc3339_at(t: f64, offset: i64) -> String {
    if offset == 0 {
        return format_rfc3339(t);
    }
    let (y, m, d, h, mi, s) = civil(t.floor() as i64 + offset);
    let sign = if offset < 0 { '-' } else { '+' };
    let o = offset.abs();
    format!(
        "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}{sign}{:02}:{:02}",
        o / 3600,
        o % 3600 / 60
    )
}

/// Go's `filepath.Join` of one path (`filepath.Clean`, but empty stays empty).
fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return String::new();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

pub fn format_rfc3339(t: f64) -> String {
    let (y, m, d, h, mi, s) = civil(t.floor() as i64);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// A duration written as Go writes it (`1h2m3s`, `1.5s`, `500ms`, `0s`).
pub fn format_duration(secs: f64) -> String {
    go_duration((secs * 1e9).round() as i64)
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
    // Go's `base64.StdEncoding`: the standard alphabet, padded; only `\r` and `\n` skipped.
    let clean: Vec<u8> = s.bytes().filter(|b| !matches!(b, b'\r' | b'\n')).collect();
    if !clean.len().is_multiple_of(4) {
        return None;
    }
    let body = clean.iter().take_while(|&&c| c != b'=').count();
    if clean.len() - body > 2 || clean[body..].iter().any(|&c| c != b'=') {
        return None;
    }
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    let mut buf = 0u32;
    let mut bits = 0;
    for &c in clean.iter().take_while(|&&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
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
    use crate::policy::vars::Context;

    fn ctx() -> Context {
        Context::new(json!({
            "s": "a,b",
            "t": "2024-01-01T00:00:00Z",
            "labels": {"app": "web", "tier": "front"},
        }))
    }

    /// Evaluates a JMESPath expression through the real runtime.
    fn q(expr: &str) -> Json {
        ctx()
            .query(expr)
            .unwrap_or_else(|e| panic!("{expr}: {}", e.0))
    }

    /// The error of an expression that must fail.
    fn err(expr: &str) -> String {
        match ctx().query(expr) {
            Ok(v) => panic!("{expr}: expected an error, got {v}"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(parse_time("1970-01-02T00:00:00Z"), Some(86400.0));
        assert_eq!(format_rfc3339(86400.0 + 3661.0), "1970-01-02T01:01:01Z");
        assert_eq!(format_duration(3723.0), "1h2m3s");
        assert_eq!(format_duration(0.5), "500ms");
        assert_eq!(format_duration(3600.0), "1h0m0s");
        assert!(semver_satisfies("1.24.3", ">=1.20.0 <1.25.0"));
        assert!(!semver_satisfies("v1.19.0", ">1.20.0"));
        assert_eq!(random_from("[a-z]{4}").len(), 4);
    }

    #[test]
    fn functions_through_substitution() {
        let ctx = ctx();
        assert_eq!(
            super::super::vars::substitute_str("{{ to_upper(s) }}!", &ctx).unwrap(),
            json!("A,B!")
        );
        assert_eq!(
            super::super::vars::substitute_str("{{ split(s, ',') }}", &ctx).unwrap(),
            json!(["a", "b"])
        );
    }

    #[test]
    fn regex_match() {
        assert_eq!(
            q("regex_match('^nginx:[0-9.]+$', 'nginx:1.25')"),
            json!(true)
        );
        assert_eq!(
            q("regex_match('^nginx:[0-9.]+$', 'nginx:latest')"),
            json!(false)
        );
        // The second argument may be a number.
        assert_eq!(q("regex_match('^[0-9]+$', `8080`)"), json!(true));
        assert!(err("regex_match('(', 'x')").contains("regex_match"));
    }

    #[test]
    fn regex_replace_all() {
        assert_eq!(
            q(r"regex_replace_all('([a-z]+)-([0-9]+)', 'app-12', '${2}-${1}')"),
            json!("12-app")
        );
        assert_eq!(q("regex_replace_all('[0-9]', 'a1b2', `0`)"), json!("a0b0"));
        assert!(err("regex_replace_all('[', 'x', 'y')").contains("regex_replace_all"));
    }

    #[test]
    fn regex_replace_all_literal() {
        // `$1` is not expanded.
        assert_eq!(
            q("regex_replace_all_literal('([0-9])', 'a1b2', '$1')"),
            json!("a$1b$1")
        );
        assert!(err("regex_replace_all_literal('(', 'x', 'y')").contains("regular expression"));
    }

    #[test]
    fn pattern_match() {
        assert_eq!(q("pattern_match('nginx:*', 'nginx:1.2')"), json!(true));
        assert_eq!(q("pattern_match('nginx:?', 'nginx:12')"), json!(false));
        assert_eq!(q("pattern_match('80*', `8080`)"), json!(true));
    }

    #[test]
    fn split() {
        assert_eq!(q("split('a,b,,c', ',')"), json!(["a", "b", "", "c"]));
        assert_eq!(q("split('abc', '')"), json!(["a", "b", "c"]));
        assert_eq!(q("split('abc', ',')"), json!(["abc"]));
        assert!(err("split(`1`, ',')").contains("split"));
    }

    #[test]
    fn to_upper_and_to_lower() {
        assert_eq!(q("to_upper('Web-1')"), json!("WEB-1"));
        assert_eq!(q("to_lower('Web-1')"), json!("web-1"));
        assert!(ctx().query("to_upper(`{}`)").is_err());
    }

    #[test]
    fn trim_and_trim_prefix() {
        // A cut set of characters, at both ends.
        assert_eq!(q("trim('--a-b--', '-')"), json!("a-b"));
        assert_eq!(q("trim('xyhixy', 'yx')"), json!("hi"));
        assert_eq!(q("trim_prefix('prod-web', 'prod-')"), json!("web"));
        assert_eq!(q("trim_prefix('web', 'prod-')"), json!("web"));
    }

    #[test]
    fn equal_fold() {
        assert_eq!(q("equal_fold('Hello', 'hELLO')"), json!(true));
        assert_eq!(q("equal_fold('Hello', 'help')"), json!(false));
    }

    #[test]
    fn replace_and_replace_all() {
        assert_eq!(q("replace('aaaa', 'a', 'b', `2`)"), json!("bbaa"));
        // A negative count replaces every occurrence, zero none.
        assert_eq!(q("replace('aaaa', 'a', 'b', `-1`)"), json!("bbbb"));
        assert_eq!(q("replace('aaaa', 'a', 'b', `0`)"), json!("aaaa"));
        assert_eq!(q("replace_all('a.b.c', '.', '-')"), json!("a-b-c"));
        assert!(ctx().query("replace('a', 'a', 'b', 'x')").is_err());
    }

    #[test]
    fn truncate() {
        assert_eq!(q("truncate('kubernetes', `4`)"), json!("kube"));
        assert_eq!(q("truncate('kube', `10`)"), json!("kube"));
        assert_eq!(q("truncate('kube', `-1`)"), json!(""));
    }

    #[test]
    fn base64() {
        assert_eq!(q("base64_encode('hello')"), json!("aGVsbG8="));
        assert_eq!(q("base64_decode('aGVsbG8=')"), json!("hello"));
        // Go's standard encoding: padding is required, the URL alphabet is not accepted.
        assert!(err("base64_decode('aGVsbG8')").contains("base64"));
        assert!(err("base64_decode('a-b_')").contains("base64"));
    }

    #[test]
    fn parse_json() {
        assert_eq!(
            q(r#"parse_json('{"a": [1, "x"]}')"#),
            json!({"a": [1, "x"]})
        );
        assert_eq!(q("parse_json('true')"), json!(true));
        assert!(err("parse_json('{')").contains("invalid JSON"));
    }

    #[test]
    fn parse_yaml() {
        assert_eq!(q("parse_yaml('a: 1')"), json!({"a": 1}));
        assert_eq!(
            q("parse_yaml('items:\n- x\n- z')"),
            json!({"items": ["x", "z"]})
        );
        assert!(err("parse_yaml('a: [1')").contains("invalid YAML"));
    }

    #[test]
    fn label_match() {
        assert_eq!(q("label_match(`{\"app\":\"web\"}`, labels)"), json!(true));
        assert_eq!(q("label_match(`{\"app\":\"db\"}`, labels)"), json!(false));
        assert_eq!(q("label_match(`{\"env\":\"prod\"}`, labels)"), json!(false));
        assert!(ctx().query("label_match('app', labels)").is_err());
    }

    #[test]
    fn lookup() {
        assert_eq!(q("lookup(labels, 'app')"), json!("web"));
        assert_eq!(q("lookup(labels, 'nope')"), json!(null));
        assert_eq!(q("lookup(`[10, 20]`, `1`)"), json!(20));
        assert_eq!(q("lookup(`[10, 20]`, `2`)"), json!(null));
        assert!(err("lookup(`[10, 20]`, `0.5`)").contains("integer"));
        assert!(err("lookup(labels, `1`)").contains("lookup"));
    }

    #[test]
    fn items() {
        // Keys in sorted order, as Kyverno returns them.
        assert_eq!(
            q("items(`{\"b\": 1, \"a\": 2}`, 'key', 'value')"),
            json!([{"key": "a", "value": 2}, {"key": "b", "value": 1}])
        );
        assert_eq!(
            q("items(`[\"x\", \"y\"]`, 'i', 'v')"),
            json!([{"i": 0, "v": "x"}, {"i": 1, "v": "y"}])
        );
    }

    #[test]
    fn object_from_lists() {
        assert_eq!(
            q("object_from_lists(`[\"a\", \"b\"]`, `[1]`)"),
            json!({"a": 1, "b": null})
        );
    }

    #[test]
    fn add() {
        assert_eq!(q("add(`12`, `13`)"), json!(25.0));
        assert_eq!(q("add('12Ki', '13Ki')"), json!("25Ki"));
        assert_eq!(q("add('12Ki', '13')"), json!("12301"));
        assert_eq!(q("add('250m', '750m')"), json!("1"));
        assert_eq!(q("add('12s', '13s')"), json!("25s"));
        assert_eq!(q("add('1h', '30m0s')"), json!("1h30m0s"));
        // Scalars, quantities and durations do not mix (`30m` is a quantity: 30 milli).
        assert!(err("add(`12`, '13Ki')").contains("mismatch"));
        assert!(err("add('12Ki', `13`)").contains("mismatch"));
        assert!(err("add('1h', '30m')").contains("mismatch"));
        assert!(err("add('x', `1`)").contains("invalid operands"));
    }

    #[test]
    fn sum() {
        assert_eq!(q("sum([`12`, `13`, `1`, `4`])"), json!(30.0));
        assert_eq!(q("sum(['12Ki', '13Ki', '1Ki', '4Ki'])"), json!("30Ki"));
        assert_eq!(q("sum(['12s', '13s'])"), json!("25s"));
        assert_eq!(q("sum(['1Gi'])"), json!("1Gi"));
        assert!(err("sum(`[]`)").contains("at least one element"));
        assert!(err("sum(['12', '13s'])").contains("mismatch"));
    }

    #[test]
    fn subtract() {
        assert_eq!(q("subtract(`12`, `13`)"), json!(-1.0));
        assert_eq!(q("subtract('12Ki', '13Ki')"), json!("-1Ki"));
        assert_eq!(q("subtract('12Ki', '13')"), json!("12275"));
        assert_eq!(q("subtract('1Gi', '1Gi')"), json!("0"));
        assert_eq!(q("subtract('12s', '13s')"), json!("-1s"));
        assert!(err("subtract('12s', `13`)").contains("mismatch"));
    }

    #[test]
    fn multiply() {
        assert_eq!(q("multiply(`2.5`, `2.5`)"), json!(6.25));
        assert_eq!(q("multiply('12Ki', `2`)"), json!("24Ki"));
        assert_eq!(q("multiply(`2.5`, '12Ki')"), json!("30Ki"));
        assert_eq!(q("multiply(`2.5`, '12')"), json!("30"));
        assert_eq!(q("multiply('500m', `3`)"), json!("1500m"));
        assert_eq!(q("multiply(`2.5`, '40s')"), json!("1m40s"));
        assert!(err("multiply('12Ki', '12Ki')").contains("mismatch"));
        assert!(err("multiply('12s', '12s')").contains("mismatch"));
    }

    #[test]
    fn divide() {
        // Two quantities (or durations) give a number.
        assert_eq!(q("divide('512M', '256M')"), json!(2.0));
        assert_eq!(q("divide('10Gi', '5Gi')"), json!(2.0));
        assert_eq!(q("divide('12Ki', '200')"), json!(61.44));
        assert_eq!(q("divide('12s', '5s')"), json!(2.4));
        assert_eq!(q("divide(`14`, `3`)"), json!(14.0 / 3.0));
        // A quantity (or duration) by a number keeps its kind.
        assert_eq!(q("divide('12Ki', `3`)"), json!("4Ki"));
        assert_eq!(q("divide('12s', `3`)"), json!("4s"));
        assert!(err("divide(`14`, `0`)").contains("Zero divisor"));
        assert!(err("divide('4Ki', '0Ki')").contains("Zero divisor"));
        assert!(err("divide('4s', '0s')").contains("Zero divisor"));
        assert!(err("divide(`14`, '5Ki')").contains("mismatch"));
        assert!(err("divide('12s', '4Ki')").contains("mismatch"));
    }

    #[test]
    fn modulo() {
        assert_eq!(q("modulo(`13`, `5`)"), json!(3.0));
        assert_eq!(q("modulo('12Ki', '5Ki')"), json!("2Ki"));
        assert_eq!(q("modulo('13s', '2s')"), json!("1s"));
        assert!(err("modulo(`14`, `1.5`)").contains("Non-integer"));
        assert!(err("modulo('4.5', '1')").contains("Non-integer"));
        assert!(err("modulo(`14`, `0`)").contains("Zero divisor"));
        assert!(err("modulo('13s', `2`)").contains("mismatch"));
    }

    #[test]
    fn round() {
        assert_eq!(q("round(`2.71828`, `2`)"), json!(2.72));
        assert_eq!(q("round(`2.5`, `0`)"), json!(3.0));
        assert!(err("round(`1.5`, `-1`)").contains("round"));
        assert!(err("round(`1.5`, `0.5`)").contains("Non-integer"));
        assert!(ctx().query("round('1.5', `1`)").is_err());
    }

    #[test]
    fn semver_compare() {
        assert_eq!(
            q("semver_compare('1.24.3', '>=1.20.0 <1.25.0')"),
            json!(true)
        );
        assert_eq!(q("semver_compare('1.19.0', '>1.20.0')"), json!(false));
        assert_eq!(q("semver_compare('1.2.3', '1.2.3')"), json!(true));
        assert_eq!(
            q("semver_compare('2.1.0', '<1.0.0 || >=2.0.0')"),
            json!(true)
        );
        assert_eq!(q("semver_compare('1.5.0', '!=1.5.0')"), json!(false));
    }

    #[test]
    fn compare() {
        assert_eq!(q("compare('a', 'b')"), json!(-1));
        assert_eq!(q("compare('b', 'a')"), json!(1));
        assert_eq!(q("compare('a', 'a')"), json!(0));
    }

    #[test]
    fn to_boolean() {
        assert_eq!(q("to_boolean('TRUE')"), json!(true));
        assert_eq!(q("to_boolean('false')"), json!(false));
        assert!(err("to_boolean('yes')").contains("to_boolean"));
    }

    #[test]
    fn time_now_and_time_now_utc() {
        let shape = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$").unwrap();
        for f in ["time_now_utc()", "time_now()"] {
            let v = q(f);
            assert!(shape.is_match(v.as_str().unwrap()), "{f}: {v}");
        }
    }

    #[test]
    fn time_since() {
        assert_eq!(
            q("time_since('', '2024-01-01T00:00:00Z', '2024-01-01T01:30:00Z')"),
            json!("1h30m0s")
        );
        assert_eq!(
            q("time_since('', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00.5Z')"),
            json!("500ms")
        );
        assert!(err("time_since('', 'yesterday', '')").contains("time_since"));
    }

    #[test]
    fn time_add() {
        assert_eq!(q("time_add(t, '90m')"), json!("2024-01-01T01:30:00Z"));
        assert_eq!(q("time_add(t, '-1s')"), json!("2023-12-31T23:59:59Z"));
        // The zone of the time is kept.
        assert_eq!(
            q("time_add('2024-01-01T00:00:00+02:00', '1h')"),
            json!("2024-01-01T01:00:00+02:00")
        );
        assert!(err("time_add(t, 'soon')").contains("duration"));
        assert!(err("time_add('2024-01-01', '1h')").contains("RFC 3339"));
    }

    #[test]
    fn time_after_and_time_before() {
        assert_eq!(q("time_after('2024-01-02T00:00:00Z', t)"), json!(true));
        assert_eq!(q("time_before('2024-01-02T00:00:00Z', t)"), json!(false));
        // Offsets are compared as instants.
        assert_eq!(
            q("time_before('2024-01-01T01:00:00+02:00', t)"),
            json!(true)
        );
        assert!(err("time_before('never', t)").contains("RFC 3339"));
        assert!(err("time_after(t, 'never')").contains("RFC 3339"));
    }

    #[test]
    fn time_between_diff_utc_truncate() {
        assert_eq!(
            q("time_between('2024-01-01T12:00:00Z', t, '2024-01-02T00:00:00Z')"),
            json!(true)
        );
        assert_eq!(
            q("time_between(t, t, '2024-01-02T00:00:00Z')"),
            json!(false)
        );
        assert_eq!(q("time_diff(t, '2024-01-01T00:00:30Z')"), json!("30s"));
        assert_eq!(
            q("time_utc('2024-01-01T02:00:00+02:00')"),
            json!("2024-01-01T00:00:00Z")
        );
        assert_eq!(
            q("time_truncate('2024-01-01T10:47:13Z', '1h')"),
            json!("2024-01-01T10:00:00Z")
        );
        assert!(err("time_diff('x', t)").contains("RFC 3339"));
    }

    #[test]
    fn time_to_cron() {
        // Minute, hour, day of month, month, day of week (2024-03-15 is a Friday).
        assert_eq!(
            q("time_to_cron('2024-03-15T10:30:00Z')"),
            json!("30 10 15 3 5")
        );
        assert!(err("time_to_cron('noon')").contains("RFC 3339"));
    }

    #[test]
    fn path_canonicalize() {
        assert_eq!(q("path_canonicalize('/a//b/../c/')"), json!("/a/c"));
        assert_eq!(q("path_canonicalize('a/./b')"), json!("a/b"));
        assert_eq!(q("path_canonicalize('//')"), json!("/"));
    }

    #[test]
    fn random() {
        let v = q("random('[a-z0-9]{6}')");
        let v = v.as_str().unwrap();
        assert_eq!(v.len(), 6);
        assert!(
            v.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }
}
