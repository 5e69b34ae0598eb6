//! Numbers as Kyverno compares them: plain numbers, Kubernetes quantities (`1Gi`, `500m`)
//! and Go durations (`1h30m`, `500ms`).

use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Plain(f64),
    /// A quantity with a suffix, in base units.
    Quantity(f64),
    /// A duration, in seconds.
    Duration(f64),
}

impl Number {
    pub fn value(self) -> f64 {
        match self {
            Number::Plain(v) | Number::Quantity(v) | Number::Duration(v) => v,
        }
    }

    /// Parses a plain number, a quantity or a duration.
    pub fn parse(s: &str) -> Option<Number> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        if let Ok(v) = s.parse::<f64>()
            && !s.eq_ignore_ascii_case("nan")
            && !s.to_ascii_lowercase().contains("inf")
        {
            return Some(Number::Plain(v));
        }
        if let Some(q) = parse_quantity(s) {
            return Some(Number::Quantity(q));
        }
        parse_duration(s).map(Number::Duration)
    }
}

/// Compares two texts as numbers: as durations when both are durations (`30s`, `1m`), else
/// as quantities or plain numbers.
pub fn compare_text(a: &str, b: &str) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (parse_duration(a.trim()), parse_duration(b.trim())) {
        return x.partial_cmp(&y);
    }
    compare(&Number::parse(a)?, &Number::parse(b)?)
}

/// Compares two numbers of compatible kinds (durations only with durations; zero with
/// anything).
pub fn compare(a: &Number, b: &Number) -> Option<Ordering> {
    use Number::*;
    match (a, b) {
        (Duration(x), Duration(y)) => x.partial_cmp(y),
        (Duration(x), Plain(y)) | (Plain(y), Duration(x)) if *y == 0.0 => {
            if matches!(a, Duration(_)) {
                x.partial_cmp(y)
            } else {
                y.partial_cmp(x)
            }
        }
        (Duration(_), _) | (_, Duration(_)) => None,
        _ => a.value().partial_cmp(&b.value()),
    }
}

/// A Kubernetes quantity: a number with a binary (`Ki`…`Ei`) or decimal (`n`, `u`, `m`, `k`,
/// `M`…`E`) suffix, or an exponent.
pub fn parse_quantity(s: &str) -> Option<f64> {
    let suffixes: [(&str, f64); 16] = [
        ("Ki", 1024f64),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
        ("", 1.0),
    ];
    for (suffix, factor) in suffixes {
        if let Some(num) = s.strip_suffix(suffix) {
            if num.is_empty()
                || !num.chars().next()?.is_ascii_digit() && !num.starts_with(['+', '-', '.'])
            {
                continue;
            }
            if num.contains(['e', 'E']) && !suffix.is_empty() {
                continue;
            }
            if let Ok(v) = num.parse::<f64>()
                && v.is_finite()
            {
                return Some(v * factor);
            }
        }
    }
    None
}

/// A Go duration (`300ms`, `1.5h`, `2h45m`, `-1s`).
pub fn parse_duration(s: &str) -> Option<f64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0.0);
    }
    let mut total = 0.0;
    let mut any = false;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let v: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += v * factor;
        any = true;
    }
    any.then_some(if neg { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_and_durations() {
        assert_eq!(parse_quantity("1Gi"), Some(1073741824.0));
        assert_eq!(parse_quantity("1024Mi"), parse_quantity("1Gi"));
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("abc"), None);
        assert_eq!(parse_duration("1h30m"), Some(5400.0));
        assert_eq!(parse_duration("500ms"), Some(0.5));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(Number::parse("2m"), Some(Number::Quantity(0.002)));
        assert_eq!(
            compare(
                &Number::parse("1Gi").unwrap(),
                &Number::parse("1024Mi").unwrap()
            ),
            Some(Ordering::Equal)
        );
    }
}
