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

/// How Kubernetes prints a quantity back: the suffix family of the text it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `Ki`, `Mi`, … `Ei`
    BinarySI,
    /// no suffix, or `n`, `u`, `m`, `k`, `M`, … `E`
    DecimalSI,
    /// `1e3`
    DecimalExponent,
}

/// A Kubernetes quantity held exactly, as `resource.Quantity` holds it: `mantissa × 10^exponent`
/// (the exponent as parsed, which decides the precision of a division) and its format. Used by
/// Kyverno's arithmetic functions, whose quantity results are quantity strings (`25Ki`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantity {
    pub mantissa: i128,
    pub exponent: i32,
    pub format: Format,
}

fn pow10(n: u32) -> i128 {
    10i128.pow(n)
}

impl Quantity {
    /// `resource.ParseQuantity`: a signed decimal number and one suffix (binary, decimal or an
    /// exponent). Values finer than a nano are rounded up to one, as Kubernetes does.
    pub fn parse(s: &str) -> Option<Quantity> {
        let (negative, rest) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (num, mut rest) = rest.split_at(int_len);
        let mut denom = "";
        if let Some(r) = rest.strip_prefix('.') {
            let len = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            denom = &r[..len];
            rest = &r[len..];
        }
        if num.is_empty() && denom.is_empty() {
            return None;
        }
        let (format, binary, exp10): (Format, u32, i32) = match rest {
            "" => (Format::DecimalSI, 0, 0),
            "Ki" => (Format::BinarySI, 1, 0),
            "Mi" => (Format::BinarySI, 2, 0),
            "Gi" => (Format::BinarySI, 3, 0),
            "Ti" => (Format::BinarySI, 4, 0),
            "Pi" => (Format::BinarySI, 5, 0),
            "Ei" => (Format::BinarySI, 6, 0),
            "n" => (Format::DecimalSI, 0, -9),
            "u" => (Format::DecimalSI, 0, -6),
            "m" => (Format::DecimalSI, 0, -3),
            "k" => (Format::DecimalSI, 0, 3),
            "M" => (Format::DecimalSI, 0, 6),
            "G" => (Format::DecimalSI, 0, 9),
            "T" => (Format::DecimalSI, 0, 12),
            "P" => (Format::DecimalSI, 0, 15),
            "E" => (Format::DecimalSI, 0, 18),
            e if e.starts_with(['e', 'E']) => {
                let digits = e[1..].strip_prefix('+').unwrap_or(&e[1..]);
                if digits.is_empty() || digits == "-" {
                    return None;
                }
                (Format::DecimalExponent, 0, digits.parse().ok()?)
            }
            _ => return None,
        };
        let digits = format!("{num}{denom}");
        if digits.len() > 30 {
            return None;
        }
        let mut mantissa: i128 = digits.parse().ok()?;
        let mut exponent = exp10 - denom.len() as i32;
        if binary > 0 {
            mantissa *= 1024i128.pow(binary);
            if !denom.is_empty() {
                // Kubernetes' slow path: an exact decimal rounded up to nanos.
                let scale = 9 - denom.len() as i32;
                mantissa *= pow10(scale.max(0) as u32);
                exponent = -9;
            }
        }
        if exponent < -9 {
            // Round up (away from zero) to nanos.
            let d = pow10((-9 - exponent) as u32);
            mantissa = (mantissa + d - 1) / d;
            exponent = -9;
        }
        Some(Quantity {
            mantissa: if negative { -mantissa } else { mantissa },
            exponent,
            format,
        })
    }

    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    pub fn to_f64(&self) -> f64 {
        self.mantissa as f64 * 10f64.powi(self.exponent)
    }

    /// The sum (`Quantity.Add`; the format is the first's unless the first is zero).
    pub fn add(&self, other: &Quantity) -> Quantity {
        let e = self.exponent.min(other.exponent);
        let a = self.mantissa * pow10((self.exponent - e) as u32);
        let b = other.mantissa * pow10((other.exponent - e) as u32);
        Quantity {
            mantissa: a + b,
            exponent: e,
            format: if self.is_zero() {
                other.format
            } else {
                self.format
            },
        }
    }

    pub fn negate(&self) -> Quantity {
        Quantity {
            mantissa: -self.mantissa,
            ..*self
        }
    }

    /// The product with a plain number (Kyverno parses the number, printed as Go prints it,
    /// as a quantity, and multiplies exactly).
    pub fn times(&self, factor: f64) -> Option<Quantity> {
        let f = Quantity::from_f64(factor)?;
        Some(Quantity {
            mantissa: self.mantissa.checked_mul(f.mantissa)?,
            exponent: self.exponent + f.exponent,
            format: self.format,
        })
    }

    /// The quotient by a plain number, rounded toward zero at the finer of the two precisions
    /// (Kyverno's `QuoRound(…, max scale, RoundDown)`). None for zero.
    pub fn divided_by(&self, divisor: f64) -> Option<Quantity> {
        let d = Quantity::from_f64(divisor)?;
        if d.is_zero() {
            return None;
        }
        let scale = (-self.exponent).max(-d.exponent);
        let k = self.exponent - d.exponent + scale;
        let (num, den) = if k >= 0 {
            (self.mantissa.checked_mul(pow10(k as u32))?, d.mantissa)
        } else {
            (self.mantissa, d.mantissa.checked_mul(pow10((-k) as u32))?)
        };
        Some(Quantity {
            mantissa: num / den,
            exponent: -scale,
            format: self.format,
        })
    }

    /// A number as Go's `%v` prints it, parsed as a quantity.
    fn from_f64(v: f64) -> Option<Quantity> {
        if !v.is_finite() {
            return None;
        }
        let text = format!("{v:e}");
        let (mant, exp) = text.split_once('e')?;
        let exp: i32 = exp.parse().ok()?;
        let (negative, mant) = match mant.strip_prefix('-') {
            Some(m) => (true, m),
            None => (false, mant),
        };
        let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
        let m: i128 = format!("{int}{frac}").parse().ok()?;
        Some(Quantity {
            mantissa: if negative { -m } else { m },
            exponent: exp - frac.len() as i32,
            format: Format::DecimalSI,
        })
    }

    /// An integer (`resource.NewQuantity`).
    pub fn from_int(v: i128, format: Format) -> Quantity {
        Quantity {
            mantissa: v,
            exponent: 0,
            format,
        }
    }

    /// The integer value, if the quantity is a whole number.
    pub fn as_integer(&self) -> Option<i128> {
        if self.exponent >= 0 {
            self.mantissa.checked_mul(pow10(self.exponent as u32))
        } else {
            let d = pow10((-self.exponent) as u32);
            (self.mantissa % d == 0).then(|| self.mantissa / d)
        }
    }
}

impl std::fmt::Display for Quantity {
    /// Kubernetes' canonical form: `Quantity.String()` for a computed quantity.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        let mut format = self.format;
        if format == Format::BinarySI {
            // Between -1024 and 1024 (exclusive), Kubernetes prints decimal.
            let small = if self.exponent >= 0 {
                self.mantissa
                    .abs()
                    .checked_mul(pow10(self.exponent as u32))
                    .is_some_and(|v| v < 1024)
            } else {
                self.mantissa.abs() < 1024 * pow10((-self.exponent) as u32)
            };
            match self.as_integer() {
                Some(mut n) if !small => {
                    let mut times = 0;
                    while times < 6 && n % 1024 == 0 {
                        n /= 1024;
                        times += 1;
                    }
                    let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][times];
                    return write!(f, "{n}{suffix}");
                }
                _ => format = Format::DecimalSI,
            }
        }
        let (mut m, mut e) = (self.mantissa, self.exponent);
        while m % 10 == 0 {
            m /= 10;
            e += 1;
        }
        while e % 3 != 0 {
            m *= 10;
            e -= 1;
        }
        let suffix = match (format, e) {
            (_, 0) => String::new(),
            (Format::DecimalSI, -9) => "n".into(),
            (Format::DecimalSI, -6) => "u".into(),
            (Format::DecimalSI, -3) => "m".into(),
            (Format::DecimalSI, 3) => "k".into(),
            (Format::DecimalSI, 6) => "M".into(),
            (Format::DecimalSI, 9) => "G".into(),
            (Format::DecimalSI, 12) => "T".into(),
            (Format::DecimalSI, 15) => "P".into(),
            (Format::DecimalSI, 18) => "E".into(),
            (_, e) => format!("e{e}"),
        };
        write!(f, "{m}{suffix}")
    }
}

/// A Go duration in nanoseconds (`time.ParseDuration`).
pub fn parse_go_duration(s: &str) -> Option<i64> {
    parse_duration(s).map(|secs| (secs * 1e9).round() as i64)
}

/// A duration as Go's `time.Duration.String()` prints it: `1h0m0s`, `1m30.5s`, `1.5µs`, `0s`.
pub fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    let frac = |v: u64, prec: u32| -> String {
        let p = 10u64.pow(prec);
        let (int, rest) = (v / p, v % p);
        if rest == 0 {
            return int.to_string();
        }
        let digits = format!("{rest:0width$}", width = prec as usize);
        format!("{int}.{}", digits.trim_end_matches('0'))
    };
    if u < 1_000_000_000 {
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        return format!("{sign}{}{unit}", frac(u, prec));
    }
    let secs = u / 1_000_000_000;
    let sub = u % 1_000_000_000;
    let s = frac((secs % 60) * 1_000_000_000 + sub, 9);
    let (m, h) = ((secs / 60) % 60, secs / 3600);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}s")
    } else if secs >= 60 {
        format!("{sign}{m}m{s}s")
    } else {
        format!("{sign}{s}s")
    }
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

    #[test]
    fn exact_quantities_print_as_kubernetes_does() {
        let q = |s: &str| Quantity::parse(s).unwrap_or_else(|| panic!("{s}"));
        assert_eq!(q("12Ki").to_string(), "12Ki");
        assert_eq!(q("1024Mi").to_string(), "1Gi");
        assert_eq!(q("1536Mi").to_string(), "1536Mi");
        // Binary quantities below 1024, or fractional, print as decimal.
        assert_eq!(q("0.5Ki").to_string(), "512");
        assert_eq!(q("1.5").to_string(), "1500m");
        assert_eq!(q("2000").to_string(), "2k");
        assert_eq!(q("12301").to_string(), "12301");
        assert_eq!(q("1e3").to_string(), "1e3");
        assert_eq!(q("-1Ki").to_string(), "-1Ki");
        assert_eq!(q("0").to_string(), "0");
        // Finer than a nano rounds up to one.
        assert_eq!(q("0.1n").to_string(), "1n");
        assert_eq!(Quantity::parse("1.2.3"), None);
        assert_eq!(Quantity::parse("1h"), None);
        assert_eq!(Quantity::parse("Ki"), None);
        assert_eq!(q("12Ki").add(&q("13")).to_string(), "12301");
        assert_eq!(q("2k").divided_by(3.0).unwrap().to_string(), "666");
        assert_eq!(q("1").divided_by(3.0).unwrap().to_string(), "0");
        assert_eq!(q("1.0").divided_by(3.0).unwrap().to_string(), "300m");
        assert_eq!(q("100m").times(1.5).unwrap().to_string(), "150m");
    }

    #[test]
    fn go_duration_strings() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(500_000_000), "500ms");
        assert_eq!(go_duration(90_500_000_000), "1m30.5s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(-1_000_000_000), "-1s");
        assert_eq!(parse_go_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("5"), None);
    }
}
