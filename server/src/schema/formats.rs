//! String formats Kubernetes validates (OpenAPI `format`), and quantities.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use regex::Regex;

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("built-in pattern compiles"))
}

/// Kubernetes resource quantities: `500m`, `1.5Gi`, `1e3`.
pub fn is_quantity(s: &str) -> bool {
    static Q: OnceLock<Regex> = OnceLock::new();
    re(
        &Q,
        r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[munkMGTPE]|[eE][+-]?[0-9]+)?$",
    )
    .is_match(s)
}

/// Checks `value` against `format`; None when it conforms (or the format is not checked).
pub fn check_string_format(format: &str, value: &str) -> Option<&'static str> {
    static DATE_TIME: OnceLock<Regex> = OnceLock::new();
    static DATE: OnceLock<Regex> = OnceLock::new();
    static DURATION: OnceLock<Regex> = OnceLock::new();
    static HOSTNAME: OnceLock<Regex> = OnceLock::new();
    static EMAIL: OnceLock<Regex> = OnceLock::new();
    static UUID: OnceLock<Regex> = OnceLock::new();
    static MAC: OnceLock<Regex> = OnceLock::new();
    static BASE64: OnceLock<Regex> = OnceLock::new();
    static URI: OnceLock<Regex> = OnceLock::new();
    let ok = match format {
        "date-time" => re(
            &DATE_TIME,
            r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$",
        )
        .is_match(value),
        "date" => re(&DATE, r"^\d{4}-\d{2}-\d{2}$").is_match(value),
        "duration" => re(
            &DURATION,
            r"^[-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+$|^0$",
        )
        .is_match(value),
        "hostname" => {
            value.len() <= 253
                && re(
                    &HOSTNAME,
                    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
                )
                .is_match(value)
        }
        "email" => re(&EMAIL, r"^[^@\s]+@[^@\s]+\.[^@\s]+$").is_match(value),
        "uuid" => re(
            &UUID,
            r"^(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
        )
        .is_match(value),
        "ipv4" => value.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => value.parse::<Ipv6Addr>().is_ok(),
        "cidr" => match value.split_once('/') {
            Some((ip, bits)) => {
                let bits: Option<u8> = bits.parse().ok();
                match (ip.parse::<Ipv4Addr>(), ip.parse::<Ipv6Addr>(), bits) {
                    (Ok(_), _, Some(b)) => b <= 32,
                    (_, Ok(_), Some(b)) => b <= 128,
                    _ => false,
                }
            }
            None => false,
        },
        "mac" => re(&MAC, r"^(?i)([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$").is_match(value),
        "byte" => {
            let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
            compact.len().is_multiple_of(4)
                && re(&BASE64, r"^[A-Za-z0-9+/]*={0,2}$").is_match(&compact)
        }
        "uri" => re(&URI, r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$").is_match(value),
        "quantity" => is_quantity(value),
        _ => true,
    };
    if ok { None } else { Some(describe(format)) }
}

fn describe(format: &str) -> &'static str {
    match format {
        "date-time" => "an RFC 3339 date-time such as 2024-01-31T12:00:00Z",
        "date" => "a date such as 2024-01-31",
        "duration" => "a duration such as 30s, 5m or 1h30m",
        "hostname" => "a DNS name (lowercase letters, digits, '-' and '.')",
        "email" => "an email address",
        "uuid" => "a UUID",
        "ipv4" => "an IPv4 address",
        "ipv6" => "an IPv6 address",
        "cidr" => "a CIDR such as 10.0.0.0/16",
        "mac" => "a MAC address",
        "byte" => "base64-encoded data",
        "uri" => "a URI",
        "quantity" => "a quantity such as 500m, 128Mi or 2",
        _ => "the expected format",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        for q in [
            "500m",
            "1.5Gi",
            "2",
            "1e3",
            "0.5",
            "128974848",
            "129M",
            "123Mi",
        ] {
            assert!(is_quantity(q), "{q}");
        }
        for q in ["1.5 Gi", "Gi", "5GB", "abc", ""] {
            assert!(!is_quantity(q), "{q}");
        }
        assert_eq!(check_string_format("byte", "aGVsbG8="), None);
        assert!(check_string_format("byte", "hello world!").is_some());
        assert_eq!(check_string_format("duration", "1h30m"), None);
        assert!(check_string_format("duration", "90 minutes").is_some());
        assert_eq!(check_string_format("cidr", "10.0.0.0/16"), None);
        assert!(check_string_format("cidr", "10.0.0.0/33").is_some());
        assert_eq!(
            check_string_format("date-time", "2024-01-31T12:00:00Z"),
            None
        );
        assert_eq!(check_string_format("unknown-format", "x"), None);
    }
}
